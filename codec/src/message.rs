//! The traits generated types implement, and whole-frame encode/decode.

use crate::error::{DecodeError, FrameError};
use crate::header::{FrameHeader, HEADER_LEN};
use crate::reader::Reader;

/// A struct or message body: a sequence of tagged fields.
pub trait WireStruct: Sized {
    /// The schema name, used in error messages.
    const NAME: &'static str;

    /// Appends the field sequence (keys and values, ascending tags) to `out`.
    fn encode_fields(&self, out: &mut Vec<u8>);

    /// Reads a field sequence that spans all of `r`.
    fn decode_fields(r: Reader<'_>) -> Result<Self, DecodeError>;
}

/// A message: a struct that travels alone in a frame, with a type id and a topic.
pub trait WireMessage: WireStruct {
    /// The `u16` type id written in the frame header.
    const TYPE_ID: u16;
    /// The topic the message is published on.
    const TOPIC: &'static str;

    /// Appends the body (the field sequence) to `out`.
    #[inline]
    fn encode_body(&self, out: &mut Vec<u8>) {
        self.encode_fields(out);
    }

    /// Decodes a body (exactly the bytes after the header).
    #[inline]
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_fields(Reader::new(body))
    }
}

/// Appends one frame (header + body) for `msg` to `out` and returns its length.
///
/// `out` is not cleared, so several frames can be batched into one buffer. Once `out` has
/// the capacity, encoding allocates nothing.
#[inline]
pub fn encode_frame<M: WireMessage>(msg: &M, seq: u64, ts_ns: u64, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let mut header = FrameHeader {
        flags: 0,
        type_id: M::TYPE_ID,
        body_len: 0,
        seq,
        ts_ns,
    };
    header.encode(out);
    msg.encode_body(out);
    let body_len = out.len() - start - HEADER_LEN;
    header.body_len = match u32::try_from(body_len) {
        Ok(n) => n,
        Err(_) => panic!("a frame body of {body_len} bytes exceeds the u32 length limit"),
    };
    out[start + 8..start + 12].copy_from_slice(&header.body_len.to_le_bytes());
    out.len() - start
}

/// Splits the frame at the start of `bytes` into its header and body, checking the header
/// and that `body_len <= max_body` and the whole body is present. Bytes after the frame
/// (the next frame in a stream) are ignored: the frame's length is
/// [`FrameHeader::frame_len`].
#[inline]
pub fn decode_frame(bytes: &[u8], max_body: u32) -> Result<(FrameHeader, &[u8]), FrameError> {
    let header = FrameHeader::decode(bytes, max_body)?;
    let end = header.frame_len();
    match bytes.get(HEADER_LEN..end) {
        Some(body) => Ok((header, body)),
        None => Err(FrameError::Truncated {
            needed: end,
            available: bytes.len(),
        }),
    }
}

/// Decodes a frame that must carry message `M`.
#[inline(always)]
pub fn decode_message<M: WireMessage>(
    bytes: &[u8],
    max_body: u32,
) -> Result<(FrameHeader, M), FrameError> {
    let (header, body) = decode_frame(bytes, max_body)?;
    if header.type_id != M::TYPE_ID {
        return Err(FrameError::UnexpectedType {
            expected: M::TYPE_ID,
            found: header.type_id,
        });
    }
    match M::decode_body(body) {
        Ok(m) => Ok((header, m)),
        Err(e) => Err(FrameError::Body(e)),
    }
}

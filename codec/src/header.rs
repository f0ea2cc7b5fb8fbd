//! The fixed 32-byte frame header.

use crate::error::FrameError;

/// `"MYCL"`.
pub const MAGIC: [u8; 4] = *b"MYCL";
/// The protocol version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 32;
/// Default maximum body length accepted by readers: 1 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 1 << 20;
/// Flag bit 0: the sender has no more frames queued right now.
pub const FLAG_END_OF_BATCH: u8 = 1;

/// The decoded header of one frame (magic and version are implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader {
    /// Flag bits; see [`FLAG_END_OF_BATCH`]. Reserved bits are kept as received.
    pub flags: u8,
    /// The message's type id.
    pub type_id: u16,
    /// Length of the body that follows.
    pub body_len: u32,
    /// Sender's sequence number.
    pub seq: u64,
    /// Sender's timestamp, nanoseconds.
    pub ts_ns: u64,
}

impl FrameHeader {
    /// The 32 header bytes.
    #[inline]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = VERSION;
        b[5] = self.flags;
        b[6..8].copy_from_slice(&self.type_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.body_len.to_le_bytes());
        b[12..20].copy_from_slice(&self.seq.to_le_bytes());
        b[20..28].copy_from_slice(&self.ts_ns.to_le_bytes());
        b
    }

    /// Appends the 32 header bytes to `out`.
    #[inline]
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// Reads a header from the start of `bytes`, checking length, magic, version and that
    /// `body_len <= max_body`. Does not check that the body is present.
    #[inline]
    pub fn decode(bytes: &[u8], max_body: u32) -> Result<FrameHeader, FrameError> {
        let Some(h) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(FrameError::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        };
        let magic = [h[0], h[1], h[2], h[3]];
        if magic != MAGIC {
            return Err(FrameError::BadMagic { found: magic });
        }
        if h[4] != VERSION {
            return Err(FrameError::UnsupportedVersion {
                found: h[4],
                supported: VERSION,
            });
        }
        let body_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if body_len > max_body {
            return Err(FrameError::FrameTooLarge {
                body_len,
                max: max_body,
            });
        }
        Ok(FrameHeader {
            flags: h[5],
            type_id: u16::from_le_bytes([h[6], h[7]]),
            body_len,
            seq: u64::from_le_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]),
            ts_ns: u64::from_le_bytes([h[20], h[21], h[22], h[23], h[24], h[25], h[26], h[27]]),
        })
    }

    /// Header plus body length: how many bytes this frame takes in a stream.
    #[inline]
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len as usize
    }
}

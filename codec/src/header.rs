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
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            u64::from_le_bytes(b)
        };
        // Magic and version checked with one comparison; the slow path says which failed.
        let first = word(0);
        const EXPECTED: u64 = u32::from_le_bytes(MAGIC) as u64 | (VERSION as u64) << 32;
        if first & 0xFF_FFFF_FFFF != EXPECTED {
            let magic = [h[0], h[1], h[2], h[3]];
            if magic != MAGIC {
                return Err(FrameError::BadMagic { found: magic });
            }
            return Err(FrameError::UnsupportedVersion {
                found: h[4],
                supported: VERSION,
            });
        }
        let body_len = word(8) as u32;
        if body_len > max_body {
            return Err(FrameError::FrameTooLarge {
                body_len,
                max: max_body,
            });
        }
        Ok(FrameHeader {
            flags: (first >> 40) as u8,
            type_id: (first >> 48) as u16,
            body_len,
            seq: word(12),
            ts_ns: word(20),
        })
    }

    /// Header plus body length: how many bytes this frame takes in a stream.
    #[inline]
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len as usize
    }
}

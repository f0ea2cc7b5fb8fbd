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

/// The largest body a frame can announce on a target whose `usize::MAX` is `usize_max`: one
/// whose frame length, header included, is still a `usize`. `u32::MAX` where `usize` has 64
/// bits; `u32::MAX - 32` where it has 32.
const fn max_body_for(usize_max: u128) -> u32 {
    let room = usize_max - HEADER_LEN as u128;
    if room < u32::MAX as u128 {
        room as u32
    } else {
        u32::MAX
    }
}

/// [`max_body_for`] this target; `u32::MAX` on 64-bit targets, where the check against it
/// compiles to nothing.
const MAX_BODY_ON_TARGET: u32 = max_body_for(usize::MAX as u128);

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
    ///
    /// On a target whose `usize` has fewer than 64 bits, a `body_len` whose frame length
    /// ([`FrameHeader::frame_len`]) would not fit in a `usize` is refused as
    /// [`FrameError::FrameTooLarge`] whatever `max_body` says (on 32 bits: above
    /// `u32::MAX - 32`).
    #[inline]
    pub fn decode(bytes: &[u8], max_body: u32) -> Result<FrameHeader, FrameError> {
        Self::decode_within(bytes, max_body, MAX_BODY_ON_TARGET)
    }

    /// [`FrameHeader::decode`] on a target where no body above `target_max` fits.
    #[inline(always)]
    fn decode_within(
        bytes: &[u8],
        max_body: u32,
        target_max: u32,
    ) -> Result<FrameHeader, FrameError> {
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
        let max = max_body.min(target_max);
        if body_len > max {
            return Err(FrameError::FrameTooLarge { body_len, max });
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
    ///
    /// Exact for every header [`FrameHeader::decode`] returns. A header built by hand whose
    /// frame length does not fit in a `usize` (only possible where `usize` has fewer than 64
    /// bits) gives `usize::MAX`, more bytes than any buffer holds, instead of overflowing.
    #[inline]
    pub fn frame_len(&self) -> usize {
        usize::try_from(self.body_len).map_or(usize::MAX, |body| HEADER_LEN.saturating_add(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(body_len: u32) -> [u8; HEADER_LEN] {
        FrameHeader {
            body_len,
            ..FrameHeader::default()
        }
        .to_bytes()
    }

    #[test]
    fn the_largest_body_is_the_one_whose_frame_length_fits_a_usize() {
        assert_eq!(max_body_for(u64::MAX as u128), u32::MAX);
        assert_eq!(max_body_for(u32::MAX as u128), u32::MAX - HEADER_LEN as u32);
        assert_eq!(
            max_body_for(u16::MAX as u128),
            u16::MAX as u32 - HEADER_LEN as u32
        );
        assert_eq!(MAX_BODY_ON_TARGET, max_body_for(usize::MAX as u128));
    }

    #[test]
    fn on_a_32_bit_target_a_body_whose_frame_length_overflows_is_refused_whatever_the_maximum() {
        let target_max = max_body_for(u32::MAX as u128);
        let fits = u32::MAX - HEADER_LEN as u32;
        let header = FrameHeader::decode_within(&header_bytes(fits), u32::MAX, target_max);
        assert_eq!(header.map(|h| h.body_len), Ok(fits));
        for body_len in [fits + 1, u32::MAX] {
            assert_eq!(
                FrameHeader::decode_within(&header_bytes(body_len), u32::MAX, target_max),
                Err(FrameError::FrameTooLarge {
                    body_len,
                    max: fits
                })
            );
        }
        // A caller's smaller maximum still rules, and is the one reported.
        assert_eq!(
            FrameHeader::decode_within(&header_bytes(fits), 1 << 20, target_max),
            Err(FrameError::FrameTooLarge {
                body_len: fits,
                max: 1 << 20
            })
        );
    }

    #[test]
    fn frame_len_counts_the_header_and_never_overflows() {
        let len = |body_len| {
            FrameHeader {
                body_len,
                ..FrameHeader::default()
            }
            .frame_len()
        };
        assert_eq!(len(0), HEADER_LEN);
        assert_eq!(len(7), HEADER_LEN + 7);
        let largest = len(u32::MAX);
        if usize::BITS >= 64 {
            assert_eq!(largest as u64, u32::MAX as u64 + HEADER_LEN as u64);
        } else {
            assert_eq!(largest, usize::MAX);
        }
        // A decoded header on this target: the frame length is exact.
        let decoded = FrameHeader::decode(&header_bytes(u32::MAX), u32::MAX);
        if usize::BITS >= 64 {
            assert_eq!(
                decoded.map(|h| h.frame_len() as u64),
                Ok(u32::MAX as u64 + HEADER_LEN as u64)
            );
        } else {
            assert!(decoded.is_err());
        }
    }
}

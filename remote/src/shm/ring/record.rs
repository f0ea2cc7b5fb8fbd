//! The records of a ring: an 8-byte header (tag and payload length) and the payload padded
//! to 8 bytes, or a padding record up to the end of the data area; how a record found at a
//! read position is checked against the ring before anything of it is used, and how payload
//! bytes are stored and copied out word by word with atomic accesses.

use super::super::error::RingError;
use super::super::sync::{AtomicU64, Ordering};

/// Tag of a record that carries a message ("MYC1").
pub(super) const TAG_FRAME: u32 = 0x3143_594D;
/// Tag of a record that fills the space up to the end of the data area ("MYCP").
pub(super) const TAG_PAD: u32 = 0x5043_594D;
/// Bytes of a record header.
pub(super) const RECORD_HEADER: u64 = 8;

#[inline]
pub(super) fn round8(n: u64) -> u64 {
    (n + 7) & !7
}

pub(super) fn corrupt(what: String) -> RingError {
    RingError::Corrupt(what)
}

/// Largest message in a ring of `cap` bytes.
#[inline]
pub(super) fn max_message(cap: u64) -> u64 {
    cap / 2 - RECORD_HEADER
}

/// A record found at a read position.
pub(super) enum Record {
    Frame { word: usize, len: usize, next: u64 },
    Pad { next: u64 },
}

/// Reads and checks the record at `pos`, given that bytes up to `end` are published.
/// `pos` is a private, 8-aligned index and `0 < end - pos <= cap` was checked.
#[inline]
pub(super) fn parse_record(
    data: &[AtomicU64],
    cap: u64,
    pos: u64,
    end: u64,
) -> Result<Record, RingError> {
    let avail = end.wrapping_sub(pos);
    let off = pos % cap;
    let tail = cap - off;
    let header = data
        .get((off / 8) as usize)
        .ok_or_else(|| corrupt(format!("record offset {off} outside the ring")))?
        .load(Ordering::Relaxed);
    let tag = (header >> 32) as u32;
    let len = u64::from(header as u32);
    match tag {
        TAG_PAD => {
            if len + RECORD_HEADER != tail {
                return Err(corrupt(format!(
                    "padding record of {len} bytes at offset {off} does not end at the end of \
                     the ring ({cap} bytes)"
                )));
            }
            if tail > avail {
                return Err(corrupt(format!(
                    "padding record at offset {off} runs past the write index"
                )));
            }
            Ok(Record::Pad {
                next: pos.wrapping_add(tail),
            })
        }
        TAG_FRAME => {
            let need = RECORD_HEADER + round8(len);
            if len > max_message(cap) || need > tail || need > avail {
                return Err(corrupt(format!(
                    "record of {len} bytes at offset {off} does not fit (ring of {cap} bytes, \
                     {tail} bytes to its end, {avail} bytes published)"
                )));
            }
            Ok(Record::Frame {
                word: (off / 8) as usize + 1,
                len: len as usize,
                next: pos.wrapping_add(need),
            })
        }
        other => Err(corrupt(format!(
            "unknown record tag {other:#010x} at offset {off}"
        ))),
    }
}

/// The words of a checked record's payload of `len` bytes starting at `word`.
#[inline]
pub(super) fn record_words(
    data: &[AtomicU64],
    word: usize,
    len: usize,
) -> Result<&[AtomicU64], RingError> {
    data.get(word..word + len.div_ceil(8))
        .ok_or_else(|| corrupt(format!("record at word {word} outside the ring")))
}

/// Copies the first `out.len()` bytes of `words` (at most 8 per word) into `out` with atomic
/// loads; `out` is no longer than the words.
#[inline]
pub(super) fn copy_words(words: &[AtomicU64], out: &mut [u8]) {
    let whole = out.len() / 8;
    let mut chunks = out.chunks_exact_mut(8);
    for (dst, w) in (&mut chunks).zip(words) {
        dst.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let last = words[whole].load(Ordering::Relaxed).to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Stores `msg` into `words` (8 bytes per word, the last word padded with zeros) with atomic
/// stores; `words` holds exactly `msg.len().div_ceil(8)` words. Whole words are taken in one
/// load each (a loop over variable-length chunks cost about 20 instructions a word).
#[inline]
pub(super) fn store_words(words: &[AtomicU64], msg: &[u8]) {
    let mut chunks = msg.chunks_exact(8);
    for (w, chunk) in words.iter().zip(&mut chunks) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        w.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
    let rest = chunks.remainder();
    if let (false, Some(last)) = (rest.is_empty(), words.last()) {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        last.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
}

/// Copies a checked record's payload into `out` with atomic loads.
#[inline]
pub(super) fn copy_out(
    data: &[AtomicU64],
    word: usize,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), RingError> {
    let words = record_words(data, word, len)?;
    out.clear();
    out.resize(len, 0);
    copy_words(words, out);
    Ok(())
}

/// Checks a peer's index against our own: 8-aligned and at most `cap` ahead of `behind`.
#[inline]
pub(super) fn check_distance(
    which: &str,
    ahead: u64,
    behind: u64,
    cap: u64,
) -> Result<(), RingError> {
    if ahead % 8 != 0 || ahead.wrapping_sub(behind) > cap {
        return Err(corrupt(format!(
            "{which} index {ahead} is impossible (other index {behind}, ring of {cap} bytes)"
        )));
    }
    Ok(())
}

//! A segment's time index: a side file of fixed-size entries, each a point in the segment
//! where reading may start, with the latest bus time of the records before it.
//!
//! The index is advisory. An entry that fails its checksum, or points past the segment's
//! last whole record, ends the index (the reader scans from the last good point), so a
//! damaged or missing index costs time, never data.

use std::path::Path;

/// The first bytes of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"MYCJIDX\0";
/// Bytes of one entry.
pub const ENTRY: usize = 32;

/// A point of a segment where reading may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The latest bus time of the segment's records before `offset` (0 when none).
    pub max_time_before: u64,
    /// The sequence number of the record at `offset`.
    pub seq: u64,
    /// A record boundary (the end of the segment's data for the closing entry).
    pub offset: u64,
    /// Set on the entry written when the segment is closed: `offset` is its end.
    pub closing: bool,
}

impl IndexEntry {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.max_time_before.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&u32::from(self.closing).to_le_bytes());
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<IndexEntry> {
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let flags = u32::from_le_bytes(bytes[24..28].try_into().expect("4"));
        let crc = u32::from_le_bytes(bytes[28..32].try_into().expect("4"));
        (crc32fast::hash(&bytes[..28]) == crc && flags <= 1).then(|| IndexEntry {
            max_time_before: u64_at(0),
            seq: u64_at(8),
            offset: u64_at(16),
            closing: flags == 1,
        })
    }
}

/// Whether the index at `path` ends with the closing entry at `data_end`, its segment's end:
/// the writer closed the segment there (a killed writer never wrote it).
pub(crate) fn closes(path: &Path, data_end: u64) -> bool {
    read(path, data_end)
        .last()
        .is_some_and(|e| e.closing && e.offset == data_end)
}

/// The good entries of the index file at `path`, in order (none when it is missing or damaged
/// from the start). Offsets must grow and lie within `data_end` bytes of segment.
pub(crate) fn read(path: &Path, data_end: u64) -> Vec<IndexEntry> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    if bytes.len() < INDEX_MAGIC.len() || bytes[..INDEX_MAGIC.len()] != INDEX_MAGIC {
        return Vec::new();
    }
    let mut entries: Vec<IndexEntry> = Vec::new();
    for chunk in bytes[INDEX_MAGIC.len()..].chunks_exact(ENTRY) {
        let Some(entry) = IndexEntry::decode(chunk) else {
            break;
        };
        let grows = entries.last().is_none_or(|last| {
            entry.offset >= last.offset && entry.max_time_before >= last.max_time_before
        });
        if !grows || entry.offset > data_end {
            break;
        }
        entries.push(entry);
    }
    entries
}

/// The entry to start reading at for records of bus time `from_ns` and later: the last one
/// before which no record is that late. `None`: start at the beginning.
pub(crate) fn start_for(entries: &[IndexEntry], from_ns: u64) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.max_time_before < from_ns);
    n.checked_sub(1).map(|i| entries[i])
}

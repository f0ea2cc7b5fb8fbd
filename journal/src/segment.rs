//! Segment files: their names, listing them in a directory, and reading one's header.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::header::SegmentHeader;

/// The extension of a segment file.
pub const SEGMENT_EXT: &str = "journal";
/// The extension of a segment's index file.
pub const INDEX_EXT: &str = "index";

/// The path of segment `number` in `dir` (`00000000000000000001.journal`).
pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.{SEGMENT_EXT}"))
}

/// The path of segment `number`'s index in `dir`.
pub fn index_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.{INDEX_EXT}"))
}

/// The numbers of the segments in `dir`, ascending. Other files are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list", dir, e))?;
    let mut numbers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(&format!(".{SEGMENT_EXT}")) else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = stem.parse() {
                numbers.push(n);
            }
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Reads only the header of the segment at `path`; also returns the file's length.
pub(crate) fn read_header(path: &Path) -> Result<(SegmentHeader, usize, u64), JournalError> {
    let mut file = fs::File::open(path).map_err(|e| JournalError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| JournalError::io("read", path, e))?
        .len();
    let mut start = vec![0; 4096];
    let n = read_up_to(&mut file, &mut start).map_err(|e| JournalError::io("read", path, e))?;
    start.truncate(n);
    match SegmentHeader::decode(path, &start) {
        Ok((h, len)) => Ok((h, len, file_len)),
        Err(_) if n >= 16 && start[..8] == crate::header::MAGIC => {
            // A header longer than the first read (a large schema text): read it whole.
            let declared = u32::from_le_bytes(start[12..16].try_into().expect("4")) as u64;
            let take = declared.min(file_len) as usize;
            let mut all = start;
            all.resize(take.max(n), 0);
            let more = read_up_to(&mut file, &mut all[n..])
                .map_err(|e| JournalError::io("read", path, e))?;
            all.truncate(n + more);
            let (h, len) = SegmentHeader::decode(path, &all)?;
            Ok((h, len, file_len))
        }
        Err(e) => Err(e),
    }
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

//! The errors of writing and reading a journal.

use std::io;
use std::path::PathBuf;

/// Why a journal could not be written or read.
///
/// Every variant names the file and, for the content of a segment, the byte offset, so a
/// person can find the bytes in question (`xxd -s OFFSET FILE`).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file system refused an operation.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("create", "read", "write", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The directory holds no segment file (`*.journal`).
    #[error("{path} holds no journal segment (no file named like 00000000000000000001.journal)")]
    NoSegments {
        /// The directory.
        path: PathBuf,
    },
    /// A segment does not start with the journal magic.
    #[error("{path} is not a journal segment (it does not start with the bytes MYCJRNL)")]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// A segment of a format version this build does not read.
    #[error(
        "{path} is a journal of format version {version}; this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        version: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// A segment header that fails its checksum or its own rules.
    #[error("the header of segment {path} is damaged: {reason}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A record that fails its checksum or its layout: it is never returned as data.
    #[error("segment {path} is corrupt at byte offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Segments of one directory that belong to different journals, or records out of order.
    #[error("segment {path} does not continue the journal: {reason}")]
    Discontinuous {
        /// The segment file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A record larger than the format allows.
    #[error("a record of {size} bytes is larger than the journal's limit of {max} bytes")]
    RecordTooLarge {
        /// The record's encoded size.
        size: usize,
        /// [`crate::MAX_RECORD`].
        max: usize,
    },
    /// A name or topic longer than the format's 16-bit length field.
    #[error("the {what} {text:?}... is longer than the journal's limit of 65535 bytes")]
    FieldTooLong {
        /// Which field ("name" or "topic").
        what: &'static str,
        /// Its first characters.
        text: String,
    },
    /// [`JournalReader::run`](crate::JournalReader::run) was asked for a run the journal
    /// does not have.
    #[error("{path} holds {runs} run(s), numbered from 0: there is no run {run}")]
    NoSuchRun {
        /// The journal's directory.
        path: PathBuf,
        /// The run asked for.
        run: usize,
        /// How many runs it holds.
        runs: usize,
    },
    /// The writer thread stopped on an error; nothing more is written.
    #[error("the journal writer stopped: {0}")]
    WriterFailed(String),
    /// The journal was closed.
    #[error("the journal is closed")]
    Closed,
}

impl JournalError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

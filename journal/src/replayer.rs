//! The program that replays a journal: the journal tool cannot link a team's actors, so a
//! recording program names, beside its journal, the command that replays it
//! (`mycelium-journal replay DIR` runs it).
//!
//! ```
//! use mycelium_journal::{replayer, set_replayer};
//!
//! let dir = tempfile::tempdir().unwrap();
//! assert_eq!(replayer(dir.path()).unwrap(), None);
//! set_replayer(dir.path(), &["/opt/desk/bin/desk".into(), "replay".into()]).unwrap();
//! assert_eq!(replayer(dir.path()).unwrap().unwrap()[1], "replay");
//! ```
//!
//! The file is `replayer.json` in the journal's directory: a JSON array of strings, the
//! program and its first arguments; the journal's directory is appended as the last
//! argument when it runs.

use std::path::Path;

use crate::error::JournalError;

/// The file, in a journal's directory, that names its replaying command.
pub const REPLAYER_FILE: &str = "replayer.json";

/// Names `command` (the program, then its first arguments) as the replayer of the journal in
/// `dir` (created if missing).
pub fn set_replayer(dir: impl AsRef<Path>, command: &[String]) -> Result<(), JournalError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(REPLAYER_FILE);
    let text = serde_json::to_string(command).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| JournalError::Io {
        action: "write",
        path,
        source,
    })
}

/// The replaying command named for the journal in `dir`, if any.
pub fn replayer(dir: impl AsRef<Path>) -> Result<Option<Vec<String>>, JournalError> {
    let path = dir.as_ref().join(REPLAYER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(JournalError::Io {
                action: "read",
                path,
                source,
            })
        }
    };
    match serde_json::from_str::<Vec<String>>(&text) {
        Ok(command) if !command.is_empty() => Ok(Some(command)),
        _ => Err(JournalError::Io {
            action: "read",
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "it is not a JSON array of strings naming a program",
            ),
        }),
    }
}

//! Reads a schema's YAML and runs every check on it.

use crate::diagnostic::Diagnostic;
use crate::model::Schema;

/// Parses and checks `text`, collecting every problem.
pub fn check(file: &str, text: &str) -> Result<Schema, Vec<Diagnostic>> {
    let _ = text;
    Err(vec![Diagnostic::new(
        file,
        0,
        0,
        "the schema checker is not built yet",
        "wait for the checker",
    )])
}

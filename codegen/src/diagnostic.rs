//! A problem found in a schema, pointing at the place to fix.

use std::fmt;

/// One error in a schema file, with its position and a hint on how to fix it.
///
/// Displays as `file:line:column: error: message` followed by an indented `help:` line,
/// the shape compilers use, so editors can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as given by the caller.
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file (for example it cannot be
    /// read).
    pub line: usize,
    /// 1-based column; 0 with `line == 0`.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// One line saying what to do about it.
    pub hint: String,
}

impl Diagnostic {
    /// Builds a diagnostic.
    pub fn new(
        file: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}\n  help: {}",
            self.file, self.line, self.column, self.message, self.hint
        )
    }
}

impl std::error::Error for Diagnostic {}

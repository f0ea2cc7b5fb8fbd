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
    /// What is wrong; control characters are escaped (`\u{1b}`).
    pub message: String,
    /// One line saying what to do about it; control characters are escaped.
    pub hint: String,
}

impl Diagnostic {
    /// Builds a diagnostic. Messages quote names and lines of the schema, which may be a
    /// peer's ([`crate::model::from_canonical`]): their control characters are escaped, so
    /// that printing a diagnostic can neither forge log lines nor send terminal sequences.
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
            message: escaped(message.into()),
            hint: escaped(hint.into()),
        }
    }
}

fn escaped(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    mycelium_codec::text::escape_controls(text.chars(), &mut out);
    out
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

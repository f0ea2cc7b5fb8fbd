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
    /// What is wrong; control characters, bidirectional formatting characters and line
    /// separators are escaped (`\u{1b}`, `\u{202e}`; see
    /// [`mycelium_codec::text::needs_escape`]).
    pub message: String,
    /// One line saying what to do about it; escaped as `message` is.
    pub hint: String,
}

impl Diagnostic {
    /// Builds a diagnostic. Messages quote names and lines of the schema, which may be a
    /// peer's ([`crate::model::from_canonical`]): their control characters, bidirectional
    /// formatting characters and line separators are escaped, so that printing a diagnostic
    /// can neither forge log lines, send terminal sequences nor show a name reordered.
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
    if !text.chars().any(mycelium_codec::text::needs_escape) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_and_line_separators_are_escaped_without_any_control_character() {
        // No control character in the text: the fast path must not let these through.
        let d = Diagnostic::new(
            "peer.yaml",
            3,
            9,
            "unknown type `Quote\u{202e}txt.exe`",
            "rename `a\u{2066}b\u{2069}`\u{2028}forged: ok",
        );
        assert_eq!(d.message, "unknown type `Quote\\u{202e}txt.exe`");
        assert_eq!(d.hint, "rename `a\\u{2066}b\\u{2069}`\\u{2028}forged: ok");
        let shown = d.to_string();
        assert!(
            !shown.contains(['\u{202e}', '\u{2066}', '\u{2069}', '\u{2028}']),
            "{shown:?}"
        );
    }

    #[test]
    fn plain_text_is_kept_as_it_is() {
        let d = Diagnostic::new("f.yaml", 1, 1, "name `Zoë` taken", "pick another");
        assert_eq!(
            (d.message.as_str(), d.hint.as_str()),
            ("name `Zoë` taken", "pick another")
        );
    }
}

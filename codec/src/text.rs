//! Text from outside the process (a peer's reason, a caller's name), made safe to print.

/// Whether [`escape_controls`] escapes `c`: a control character (`\n`, `\u{1b}`), a
/// bidirectional override, embedding, isolate or mark (U+202A to U+202E, U+2066 to U+2069,
/// U+200E, U+200F, U+061C), or a line or paragraph separator (U+2028, U+2029). The last two
/// groups are not controls to Rust, but they reorder what a person reads on a line or split
/// it in two.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Appends `text` to `out` with its control characters, bidirectional formatting characters
/// and line or paragraph separators escaped (`\n`, `\u{1b}`, `\u{202e}`; see
/// [`needs_escape`]), so that a peer's or a caller's text cannot forge log lines, send
/// terminal sequences or show itself reordered.
///
/// ```
/// let mut out = String::new();
/// mycelium_codec::text::escape_controls("bad\nline\u{1b}[2J \u{202e}txt.exe".chars(), &mut out);
/// assert_eq!(out, "bad\\nline\\u{1b}[2J \\u{202e}txt.exe");
/// ```
pub fn escape_controls(text: impl IntoIterator<Item = char>, out: &mut String) {
    for c in text {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        escape_controls(text.chars(), &mut out);
        out
    }

    #[test]
    fn bidi_formatting_characters_and_separators_are_escaped() {
        let cases = [
            ('\u{202a}', "\\u{202a}"),
            ('\u{202b}', "\\u{202b}"),
            ('\u{202c}', "\\u{202c}"),
            ('\u{202d}', "\\u{202d}"),
            ('\u{202e}', "\\u{202e}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{2067}', "\\u{2067}"),
            ('\u{2068}', "\\u{2068}"),
            ('\u{2069}', "\\u{2069}"),
            ('\u{200e}', "\\u{200e}"),
            ('\u{200f}', "\\u{200f}"),
            ('\u{061c}', "\\u{61c}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
        ];
        for (c, want) in cases {
            assert!(needs_escape(c), "{want}");
            assert_eq!(escaped(&format!("a{c}b")), format!("a{want}b"));
        }
    }

    #[test]
    fn printable_text_is_kept_as_it_is() {
        // Neighbours of the escaped ranges, right-to-left letters and a zero-width joiner
        // are text, not formatting to escape.
        let text = "plain \u{2027}\u{202f}\u{2065}\u{206a}\u{200d}\u{05d0}\u{0627} é 日本";
        assert_eq!(escaped(text), text);
        assert!(text.chars().all(|c| !needs_escape(c)));
    }

    #[test]
    fn control_characters_are_escaped_as_before() {
        assert_eq!(escaped("a\tb\r\n\u{7f}\u{85}"), "a\\tb\\r\\n\\u{7f}\\u{85}");
    }
}

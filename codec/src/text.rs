//! Text from outside the process (a peer's reason, a caller's name), made safe to print.

/// Appends `text` to `out` with its control characters escaped (`\n`, `\u{1b}`, ...), so that
/// a peer's or a caller's text cannot forge log lines or terminal sequences.
///
/// ```
/// let mut out = String::new();
/// mycelium_codec::text::escape_controls("bad\nline\u{1b}[2J".chars(), &mut out);
/// assert_eq!(out, "bad\\nline\\u{1b}[2J");
/// ```
pub fn escape_controls(text: impl IntoIterator<Item = char>, out: &mut String) {
    for c in text {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

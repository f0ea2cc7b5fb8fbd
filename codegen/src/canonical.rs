//! Reading a schema back from its canonical text ([`crate::digest::canonical`]), as a peer
//! sends it during a handshake when the digests differ.
//!
//! ```
//! use mycelium_codegen::{digest, model};
//!
//! let schema = model::parse_str("a.yaml", "package: p\nmessages:\n  Ping:\n    id: 1\n    \
//!     topic: sys.ping\n    fields:\n      - { name: n, type: \"list<u8>\", max_len: 4 }\n")
//!     .expect("valid");
//! let text = digest::canonical(&schema);
//! let back = model::from_canonical(&text).expect("canonical text reads back");
//! assert_eq!(digest::canonical(&back), text);
//! assert_eq!(digest::digest(&back), digest::digest(&schema));
//! ```
//!
//! The text comes from another process, so it is checked exactly like a `contracts.yaml`
//! (every rule of `docs/contracts.md`), and it must be in canonical form: reading it and
//! writing it again gives the same bytes. `doc` texts and `version` are not part of the
//! canonical form, so the schema read back has none.

use std::fmt::Write as _;

use crate::check::MAX_SCHEMA_BYTES;
use crate::diagnostic::Diagnostic;
use crate::model::Schema;

/// Name given to canonical text in diagnostics.
pub const SOURCE_NAME: &str = "<canonical schema>";

/// Parses canonical text back into a checked [`Schema`]; see the module documentation.
///
/// Errors name the canonical line at fault. Text longer than
/// [`MAX_SCHEMA_BYTES`] is refused before anything else.
pub fn from_canonical(text: &str) -> Result<Schema, Vec<Diagnostic>> {
    let err = |line: usize, message: String, hint: &str| {
        vec![Diagnostic::new(SOURCE_NAME, line, 1, message, hint)]
    };
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(err(
            0,
            format!(
                "canonical schema of {} bytes exceeds the limit of {MAX_SCHEMA_BYTES} bytes",
                text.len()
            ),
            "the peer's schema is not one this program can hold; check what it sends",
        ));
    }
    let yaml = to_yaml(text).map_err(|(line, message)| {
        err(
            line,
            message,
            "send exactly the text of `mycelium_codegen::digest::canonical`",
        )
    })?;
    let schema = crate::check::check(SOURCE_NAME, &yaml.text).map_err(|diags| {
        diags
            .into_iter()
            .map(|mut d| {
                d.line = yaml.lines.get(d.line).copied().unwrap_or(0);
                d.column = usize::from(d.line != 0);
                d
            })
            .collect::<Vec<_>>()
    })?;
    let again = crate::digest::canonical(&schema);
    if again != text {
        let line = again
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| again.lines().count().min(text.lines().count()))
            + 1;
        return Err(err(
            line,
            "the text is not in canonical form (order, spacing or spelling differs)".into(),
            "send exactly the text of `mycelium_codegen::digest::canonical`",
        ));
    }
    Ok(schema)
}

/// YAML equivalent of canonical text, and for each YAML line (1-based index) the canonical
/// line it came from.
struct Yaml {
    text: String,
    lines: Vec<usize>,
}

impl Yaml {
    fn line(&mut self, from: usize, s: String) {
        self.text.push_str(&s);
        self.text.push('\n');
        self.lines.push(from);
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Section {
    Start,
    Enums,
    Structs,
    Messages,
}

/// A double-quoted YAML scalar holding `s` exactly, whatever it contains.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number(s: &str, line: usize, what: &str) -> Result<u64, (usize, String)> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 20 {
        if let Ok(v) = s.parse() {
            return Ok(v);
        }
    }
    Err((line, format!("{what} `{s}` is not a whole number")))
}

fn to_yaml(text: &str) -> Result<Yaml, (usize, String)> {
    let mut y = Yaml {
        text: String::with_capacity(text.len() * 2),
        lines: vec![0],
    };
    let mut section = Section::Start;
    // The record or enum currently open, so that members follow their owner.
    let mut open: Option<&str> = None;
    let mut lines = text.split('\n').enumerate().peekable();
    match lines.next() {
        Some((_, "mycelium-schema 1")) => y.line(1, "# mycelium-schema 1".into()),
        _ => {
            return Err((
                1,
                "canonical schema does not start with `mycelium-schema 1`".into(),
            ))
        }
    }
    while let Some((i, line)) = lines.next() {
        let n = i + 1;
        if line.is_empty() {
            if lines.peek().is_none() {
                break;
            }
            return Err((n, "empty line inside the canonical schema".into()));
        }
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["package", name] if section == Section::Start && y.lines.len() == 2 => {
                y.line(n, format!("package: {}", quoted(name)));
            }
            ["enum", name] if section <= Section::Enums => {
                if section != Section::Enums {
                    y.line(n, "enums:".into());
                    section = Section::Enums;
                }
                y.line(n, format!("  {}:", quoted(name)));
                y.line(n, "    variants:".into());
                open = Some("enum");
            }
            ["", "variant", value, name] if open == Some("enum") => {
                let value = number(value, n, "variant value")?;
                y.line(
                    n,
                    format!("      - {{ name: {}, value: {value} }}", quoted(name)),
                );
            }
            ["struct", name] if section <= Section::Structs => {
                if section != Section::Structs {
                    y.line(n, "structs:".into());
                    section = Section::Structs;
                }
                y.line(n, format!("  {}:", quoted(name)));
                y.line(n, "    fields:".into());
                open = Some("record");
            }
            ["message", id, name, "topic", topic] if section <= Section::Messages => {
                if section != Section::Messages {
                    y.line(n, "messages:".into());
                    section = Section::Messages;
                }
                let id = number(id, n, "type id")?;
                y.line(n, format!("  {}:", quoted(name)));
                y.line(n, format!("    id: {id}"));
                y.line(n, format!("    topic: {}", quoted(topic)));
                y.line(n, "    fields:".into());
                open = Some("record");
            }
            ["", "field", tag, name, .., presence] if open == Some("record") => {
                let tag = number(tag, n, "tag")?;
                let optional = match *presence {
                    "required" => false,
                    "optional" => true,
                    other => {
                        return Err((n, format!("`{other}` is neither `required` nor `optional`")))
                    }
                };
                let ty = words[4..words.len() - 1].join(" ");
                let (ty, max_len) = split_max_len(&ty, n)?;
                let mut entry = format!(
                    "      - {{ name: {}, type: {}, tag: {tag}",
                    quoted(name),
                    quoted(&ty)
                );
                if let Some(m) = max_len {
                    let _ = write!(entry, ", max_len: {m}");
                }
                if optional {
                    entry.push_str(", optional: true");
                }
                entry.push_str(" }");
                y.line(n, entry);
            }
            _ => {
                return Err((
                    n,
                    format!(
                        "unexpected line `{}`",
                        line.chars().take(80).collect::<String>()
                    ),
                ))
            }
        }
    }
    Ok(y)
}

/// Splits the outer list's `; max_len=N` off a canonical type: `list<T; max_len=N>` gives
/// `(list<T>, Some(N))`.
fn split_max_len(ty: &str, line: usize) -> Result<(String, Option<u64>), (usize, String)> {
    let mut out = (ty.to_string(), None);
    if let Some(inner) = ty.strip_prefix("list<").and_then(|t| t.strip_suffix('>')) {
        if let Some((elem, max)) = inner.rsplit_once("; max_len=") {
            out = (format!("list<{elem}>"), Some(number(max, line, "max_len")?));
        }
    }
    if out.0.contains("max_len") {
        return Err((
            line,
            format!("`{ty}`: only the outer list of a field can carry a max_len"),
        ));
    }
    Ok(out)
}

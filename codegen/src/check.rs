//! Reads a schema's YAML and runs every check on it, collecting all problems.
//!
//! The checks run in passes (shape of the YAML, then names, then types and tags, then
//! cycles) and each pass goes on after an error, so one run reports everything it can.
//!
//! This file holds the entry point, the checker's state and its readers of YAML values
//! (maps, strings, numbers, names); the passes are in files of their own: `schema.rs` (the
//! top level, and names the generators cannot emit), `declarations.rs` (enums, structs and
//! messages as written) and `types.rs` (types resolved, tags assigned, cycles and sizes).

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::model::Schema;
use crate::names;
use crate::type_expr::TypeExpr;
use crate::yaml::{self, Kind, Node, Pos};

mod declarations;
mod schema;
mod types;

/// Largest schema accepted, in bytes (of a file, of text, of a canonical form): real
/// schemas are a few kilobytes, and a bound keeps checking fast and its memory small.
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// Highest tag a key can carry: 13 bits.
pub const MAX_TAG: u64 = 8191;
/// The type id no message may take: the Python and OCaml bindings mark a plain value (an
/// object passed by reference between actors of one language, never encoded) with it.
pub const RESERVED_TYPE_ID: u16 = u16::MAX;
/// Largest array size accepted (elements); arrays live inline (on the stack while
/// decoding), so large collections are lists.
pub const MAX_ARRAY_LEN: u64 = 4096;
/// Arrays longer than this may only be a field's own type, not nested in a list or array:
/// serde derives stop at 32 elements and the generated Rust handles longer ones only at
/// the top of a field.
pub const MAX_NESTED_ARRAY_LEN: u64 = 32;

/// Largest size, in bytes, a struct or message may have in the generated Rust (as
/// estimated by [`crate::graph::record_size`]): a decoder holds a few copies of the
/// record it builds on its stack.
pub const MAX_INLINE_BYTES: usize = 16 * 1024;

/// Largest size, in bytes, of an array held boxed (more than 32 elements) in the generated
/// Rust, as estimated by [`crate::graph::inline_size`]. A decoder reserves all of it,
/// within the fixed part of its heap budget ([`mycelium_codec::heap_budget`]) when the
/// frame is as small as the element count allows; and cloning the value (or reading it
/// with serde) passes the array through the stack a few times in a debug build, where a
/// 500 KiB array of structs overflows a 2 MiB thread.
pub const MAX_BOXED_ARRAY_BYTES: usize = 128 * 1024;

/// Most errors reported for one schema; past it, one last diagnostic says how many more
/// were found, so a huge broken file cannot flood a terminal or a build log.
pub const MAX_ERRORS: usize = 100;

/// Parses and checks `text`, collecting every problem.
pub fn check(file: &str, text: &str) -> Result<Schema, Vec<Diagnostic>> {
    let mut cx = Cx {
        file,
        diags: Vec::new(),
        suppressed: 0,
    };
    if let Err(d) = text_is_acceptable(file, text) {
        return Err(vec![d]);
    }
    // Editors on Windows start UTF-8 files with a byte order mark, which YAML allows at the
    // start of a stream but the parser would read as part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            cx.err(
                Pos { line: 1, column: 1 },
                "the schema file is empty",
                "start with `package: <name>` and a `messages:` mapping",
            );
            return Err(cx.diags);
        }
        Err(e) => {
            cx.err(e.pos, e.message, e.hint);
            return Err(cx.diags);
        }
    };
    let schema = cx.schema(&root);
    match schema {
        Some(s) if cx.diags.is_empty() => Ok(s),
        _ => {
            cx.diags
                .sort_by_key(|d| (d.line, d.column, d.message.clone()));
            cx.diags.dedup();
            if cx.suppressed > 0 {
                let n = cx.suppressed;
                cx.diags.push(Diagnostic::new(
                    file,
                    0,
                    0,
                    format!("{n} more error{} not shown", if n == 1 { "" } else { "s" }),
                    format!("fix the {MAX_ERRORS} errors above and check again"),
                ));
            }
            Err(cx.diags)
        }
    }
}

/// Refuses text too large to check quickly, or holding characters YAML forbids (a NUL
/// byte, other control characters), pointing at the first one.
fn text_is_acceptable(file: &str, text: &str) -> Result<(), Diagnostic> {
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(Diagnostic::new(
            file,
            0,
            0,
            format!(
                "the schema is {} bytes long, above the limit of {MAX_SCHEMA_BYTES}",
                text.len()
            ),
            "a schema is a few kilobytes; check that this is the right file",
        ));
    }
    let bad = text
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    if let Some((at, c)) = bad {
        let (line, column) = line_column(text.as_bytes(), at);
        let what = if c == '\0' {
            "a NUL byte".to_string()
        } else {
            format!("the control character U+{:04X}", c as u32)
        };
        return Err(Diagnostic::new(
            file,
            line,
            column,
            format!("{what} is not allowed in a schema"),
            "remove it; a schema is plain UTF-8 text",
        ));
    }
    Ok(())
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

struct Cx<'a> {
    file: &'a str,
    diags: Vec<Diagnostic>,
    /// Errors found past [`MAX_ERRORS`].
    suppressed: usize,
}

/// A field as written, before types are resolved and tags assigned.
struct RawField {
    name: String,
    name_pos: Pos,
    pos: Pos,
    tag: Option<(u64, Pos)>,
    ty: Option<(TypeExpr, Pos)>,
    optional: bool,
    max_len: Option<(u64, Pos)>,
    doc: Option<String>,
}

/// A struct or message as written.
struct RawRecord {
    name: String,
    pos: Pos,
    doc: Option<String>,
    id: Option<(u64, Pos)>,
    topic: Option<(String, Pos)>,
    fields: Vec<RawField>,
}

struct RawEnum {
    name: String,
    pos: Pos,
    doc: Option<String>,
    variants: Vec<(String, u32, Pos)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DeclKind {
    Enum,
    Struct,
    Message,
}

impl Cx<'_> {
    /// True once [`MAX_ERRORS`] are collected: callers skip costly hints from then on.
    fn full(&self) -> bool {
        self.diags.len() >= MAX_ERRORS
    }

    fn err(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        if self.full() {
            self.suppressed += 1;
            return;
        }
        self.diags.push(Diagnostic::new(
            self.file, pos.line, pos.column, message, hint,
        ));
    }

    /// The entries of a mapping node, reporting duplicate and unknown keys. Returns the
    /// first value for each known key.
    fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Option<HashMap<String, &'n Node>> {
        let Kind::Map(entries) = &node.kind else {
            self.err(
                node.pos,
                format!("{what} must be a mapping, found {}", node.describe()),
                format!(
                    "write {what} as `key: value` lines; allowed keys: {}",
                    known.join(", ")
                ),
            );
            return None;
        };
        let mut out = HashMap::new();
        for (k, v) in entries {
            let Some(key) = k.scalar() else {
                self.err(
                    k.pos,
                    format!("a key in {what} is not a plain word"),
                    "use simple keys",
                );
                continue;
            };
            if !known.contains(&key) {
                self.err(
                    k.pos,
                    format!("unknown key `{key}` in {what}"),
                    suggest(key, known, "allowed keys"),
                );
                continue;
            }
            if out.insert(key.to_string(), v).is_some() {
                self.err(
                    k.pos,
                    format!("key `{key}` appears twice in {what}"),
                    "keep one of the two",
                );
            }
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.err(
                    node.pos,
                    format!("{what} must be a string, found {}", node.describe()),
                    format!("write {what} as a single word or quoted text"),
                );
                None
            }
        }
    }

    fn doc(&mut self, node: Option<&&Node>, what: &str) -> Option<String> {
        let node = node?;
        if node.is_null() {
            return None;
        }
        self.string(node, &format!("the doc of {what}"))
    }

    fn uint(&mut self, node: &Node, what: &str, max: u64) -> Option<u64> {
        let text = match &node.kind {
            Kind::Scalar { text, plain: true } if !node.is_null() => text.as_str(),
            _ => {
                self.err(
                    node.pos,
                    format!("{what} must be an integer, found {}", node.describe()),
                    format!("write {what} as an unquoted whole number"),
                );
                return None;
            }
        };
        let parsed = if let Some(hex) = text.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u64>().ok()
        } else {
            None
        };
        match parsed {
            Some(v) if v <= max => Some(v),
            Some(v) => {
                self.err(
                    node.pos,
                    format!("{what} {v} is out of range (largest allowed: {max})"),
                    format!("choose a value from the allowed range for {what}"),
                );
                None
            }
            None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                self.err(
                    node.pos,
                    format!("{what} {text} is out of range (largest allowed: {max})"),
                    format!("choose a value from the allowed range for {what}"),
                );
                None
            }
            None if text.starts_with('-') => {
                self.err(
                    node.pos,
                    format!("{what} `{text}` is negative"),
                    format!("{what} is unsigned; use a value from 0 up to {max}"),
                );
                None
            }
            None => {
                self.err(
                    node.pos,
                    format!("{what} `{text}` is not a whole number"),
                    format!("write {what} as a decimal integer up to {max}"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        if let Kind::Scalar { text, plain: true } = &node.kind {
            match text.as_str() {
                "true" | "True" | "TRUE" => return Some(true),
                "false" | "False" | "FALSE" => return Some(false),
                _ => {}
            }
        }
        self.err(
            node.pos,
            format!(
                "{what} must be `true` or `false`, found {}",
                node.describe()
            ),
            format!("write `{what}: true` or leave the key out"),
        );
        None
    }

    /// A name that must be `UpperCamelCase` (types, variants).
    fn type_name(&mut self, name: &str, pos: Pos, what: &str) {
        if name.is_empty() {
            self.err(
                pos,
                format!("{what} has an empty name"),
                "give it an UpperCamelCase name",
            );
            return;
        }
        if !names::is_upper_camel(name) {
            self.err(
                pos,
                format!("{what} name `{name}` is not UpperCamelCase"),
                format!(
                    "use ASCII letters and digits starting with a capital, e.g. `{}`",
                    names::upper_camel(
                        &names::snake_case(name).replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                    )
                ),
            );
            return;
        }
        let owners = names::keyword_owners(name);
        if !owners.is_empty() {
            self.err(
                pos,
                format!("{what} name `{name}` is a keyword in {}", owners.join(", ")),
                "rename it; generated code could not use it",
            );
        }
    }

    /// A name that must be `snake_case` (fields, package).
    fn field_name(&mut self, name: &str, pos: Pos, what: &str) {
        if name.is_empty() {
            self.err(
                pos,
                format!("{what} has an empty name"),
                "give it a snake_case name",
            );
            return;
        }
        if !names::is_snake(name) {
            let fixed = names::snake_case(name)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>();
            self.err(
                pos,
                format!("{what} name `{name}` is not snake_case"),
                format!("use lowercase ASCII letters, digits and `_`, starting with a letter, e.g. `{}`", fixed.trim_start_matches(|c: char| !c.is_ascii_lowercase())),
            );
            return;
        }
        let owners = names::keyword_owners(name);
        if !owners.is_empty() {
            self.err(
                pos,
                format!("{what} name `{name}` is a keyword in {}", owners.join(", ")),
                format!("rename it, e.g. `{name}_`"),
            );
        }
    }
}

fn is_topic(t: &str) -> bool {
    !t.is_empty()
        && t.split('.').all(|w| {
            let mut cs = w.chars();
            matches!(cs.next(), Some(c) if c.is_ascii_lowercase())
                && cs.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// "did you mean" over `known`, by edit distance.
fn suggest(word: &str, known: &[&str], label: &str) -> String {
    let best = known
        .iter()
        .map(|k| (edit_distance(&word.to_lowercase(), &k.to_lowercase()), *k))
        .min();
    match best {
        Some((d, k)) if d <= 1.max(word.len() / 3) => format!("did you mean `{k}`?"),
        _ => {
            let mut sorted: Vec<&str> = known.to_vec();
            sorted.sort_unstable();
            format!("{label}: {}", sorted.join(", "))
        }
    }
}

/// Edit distance counting a swap of two neighbours as one edit (`f46` -> `f64` is 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

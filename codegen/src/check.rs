//! Reads a schema's YAML and runs every check on it, collecting all problems.
//!
//! The checks run in passes (shape of the YAML, then names, then types and tags, then
//! cycles) and each pass goes on after an error, so one run reports everything it can.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::graph::Graph;
use crate::model::{Enum, Field, Message, Schema, Struct, Type};
use crate::names;
use crate::type_expr::{self, TypeExpr};
use crate::yaml::{self, Kind, Node, Pos};

/// Largest schema accepted, in bytes (of a file, of text, of a canonical form): real
/// schemas are a few kilobytes, and a bound keeps checking fast and its memory small.
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// Highest tag a key can carry: 13 bits.
pub const MAX_TAG: u64 = 8191;
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

    fn schema(&mut self, root: &Node) -> Option<Schema> {
        let top = self.map(
            root,
            "the top level",
            &["package", "version", "enums", "structs", "messages"],
        )?;
        let package = match top.get("package") {
            Some(n) => self.string(n, "`package`").inspect(|p| {
                self.field_name(p, n.pos, "package");
            }),
            None => {
                self.err(
                    root.pos,
                    "the schema has no `package`",
                    "add `package: <snake_case_name>` at the top",
                );
                None
            }
        };
        let version = top
            .get("version")
            .and_then(|n| self.uint(n, "`version`", u64::MAX));

        let enums = top
            .get("enums")
            .map(|n| self.raw_enums(n))
            .unwrap_or_default();
        let structs = top
            .get("structs")
            .map(|n| self.raw_records(n, DeclKind::Struct))
            .unwrap_or_default();
        let messages = match top.get("messages") {
            Some(n) => self.raw_records(n, DeclKind::Message),
            None => {
                self.err(
                    root.pos,
                    "the schema has no `messages`",
                    "add a `messages:` mapping with at least one message",
                );
                Vec::new()
            }
        };

        // Names are shared by every declaration: they all become types in one module.
        let mut decls: HashMap<String, (DeclKind, Pos)> = HashMap::new();
        let mut lowered: HashMap<String, (String, Pos)> = HashMap::new();
        let all = enums
            .iter()
            .map(|e| (e.name.as_str(), e.pos, DeclKind::Enum))
            .chain(
                structs
                    .iter()
                    .map(|s| (s.name.as_str(), s.pos, DeclKind::Struct)),
            )
            .chain(
                messages
                    .iter()
                    .map(|m| (m.name.as_str(), m.pos, DeclKind::Message)),
            );
        for (name, pos, kind) in all {
            if let Some((_, first)) = decls.get(name) {
                self.err(
                    pos,
                    format!(
                        "the name `{name}` is declared twice (first at line {})",
                        first.line
                    ),
                    "enums, structs and messages share one namespace; rename one of them",
                );
                continue;
            }
            decls.insert(name.to_string(), (kind, pos));
            if !names::is_upper_camel(name) {
                continue;
            }
            let snake = names::snake_case(name);
            if names::RESERVED_TYPE_NAMES.contains(&name)
                || names::RESERVED_TYPE_NAMES.contains(&snake.as_str())
            {
                self.err(
                    pos,
                    format!("the type name `{name}` is reserved by the generated code"),
                    "choose a more specific name, e.g. prefix it with the domain",
                );
            } else if !names::keyword_owners(&snake).is_empty() {
                self.err(
                    pos,
                    format!(
                        "the type name `{name}` becomes the keyword `{snake}` when written in lowercase (OCaml type names)"
                    ),
                    "choose another name",
                );
            }
            if let Some((other, first)) = lowered.get(&snake) {
                self.err(
                    pos,
                    format!(
                        "`{name}` and `{other}` (line {}) have the same lowercase spelling `{snake}`",
                        first.line
                    ),
                    "rename one of them; OCaml type names are lowercase",
                );
            } else {
                lowered.insert(snake, (name.to_string(), pos));
            }
        }

        let mut out_structs = Vec::new();
        for s in &structs {
            let fields = self.fields(s, &decls);
            out_structs.push(Struct {
                name: s.name.clone(),
                doc: s.doc.clone(),
                fields,
            });
        }
        let mut out_messages = Vec::new();
        let mut ids: HashMap<u64, (String, Pos)> = HashMap::new();
        let mut topics: HashMap<String, (String, Pos)> = HashMap::new();
        for m in &messages {
            let fields = self.fields(m, &decls);
            let id = m.id.map(|(id, pos)| {
                if let Some((other, _)) = ids.get(&id) {
                    self.err(
                        pos,
                        format!("type id {id} of `{}` is already used by `{other}`", m.name),
                        format!("give `{}` an unused id", m.name),
                    );
                } else {
                    ids.insert(id, (m.name.clone(), pos));
                }
                id as u16
            });
            if let Some((topic, pos)) = &m.topic {
                if let Some((other, _)) = topics.get(topic) {
                    self.err(
                        *pos,
                        format!(
                            "topic `{topic}` of `{}` is already used by `{other}`",
                            m.name
                        ),
                        "a topic carries one message type; give this message its own topic",
                    );
                } else {
                    topics.insert(topic.clone(), (m.name.clone(), *pos));
                }
            }
            out_messages.push(Message {
                name: m.name.clone(),
                id: id.unwrap_or(0),
                topic: m.topic.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                doc: m.doc.clone(),
                fields,
            });
        }
        self.cycles(&structs, &messages, &out_structs, &out_messages);
        self.generated_names(&enums, &messages);

        let schema = Schema {
            package: package?,
            version,
            enums: enums
                .into_iter()
                .map(|e| Enum {
                    name: e.name,
                    doc: e.doc,
                    variants: e.variants.into_iter().map(|(n, v, _)| (n, v)).collect(),
                })
                .collect(),
            structs: out_structs,
            messages: out_messages,
        };
        if self.diags.is_empty() {
            // Later passes assume every name resolved and no cycle.
            self.ocaml_functions(&schema, &decls);
            let canonical = crate::digest::canonical(&schema).len();
            if canonical > MAX_SCHEMA_BYTES {
                self.err(
                    root.pos,
                    format!("the schema's canonical form takes {canonical} bytes, above the limit of {MAX_SCHEMA_BYTES} a peer reads back"),
                    "split the schema; peers exchange the canonical form at handshake",
                );
            }
        }
        Some(schema)
    }

    /// Names the generators cannot emit, beyond the keyword and case rules: message
    /// fields named like a generated method, variants named like an OCaml constructor the
    /// generated code uses.
    fn generated_names(&mut self, enums: &[RawEnum], messages: &[RawRecord]) {
        for m in messages {
            for f in &m.fields {
                if names::RESERVED_MESSAGE_FIELD_NAMES.contains(&f.name.as_str()) {
                    self.err(
                        f.name_pos,
                        format!(
                            "field name `{}` of message `{}` is a method of every generated Python message class",
                            f.name, m.name
                        ),
                        format!("rename it, e.g. `{}_`", f.name),
                    );
                }
            }
        }
        for e in enums {
            for (v, _, pos) in &e.variants {
                if names::RESERVED_VARIANT_NAMES.contains(&v.as_str()) {
                    self.err(
                        *pos,
                        format!(
                            "variant `{v}` of enum `{}` would shadow OCaml's option constructor `{v}`",
                            e.name
                        ),
                        "rename the variant",
                    );
                }
            }
        }
    }

    /// Two types whose generated OCaml functions would have the same name.
    fn ocaml_functions(&mut self, schema: &Schema, decls: &HashMap<String, (DeclKind, Pos)>) {
        let mut seen: HashMap<String, Option<String>> = HashMap::new();
        for (function, owner) in crate::ocaml::function_names(schema) {
            match seen.get(&function) {
                None => {
                    seen.insert(function, owner);
                }
                Some(first) => {
                    let pos = owner
                        .as_ref()
                        .and_then(|o| decls.get(o))
                        .map(|d| d.1)
                        .unwrap_or_default();
                    let with = match first {
                        Some(t) => format!("`{t}`"),
                        None => "the module's own".to_string(),
                    };
                    self.err(
                        pos,
                        format!(
                            "`{}` and {with} would both generate the OCaml function `{function}`",
                            owner.as_deref().unwrap_or("the module")
                        ),
                        "rename one of the two types",
                    );
                }
            }
        }
    }

    fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(&'n Node, &'n Node)> {
        if node.is_null() {
            return Vec::new();
        }
        match &node.kind {
            Kind::Map(entries) => entries.iter().map(|(k, v)| (k, v)).collect(),
            _ => {
                self.err(
                    node.pos,
                    format!(
                        "`{what}` must be a mapping from names to declarations, found {}",
                        node.describe()
                    ),
                    format!("write `{what}:` followed by indented `Name:` entries"),
                );
                Vec::new()
            }
        }
    }

    fn raw_enums(&mut self, node: &Node) -> Vec<RawEnum> {
        let mut out = Vec::new();
        for (k, v) in self.entries(node, "enums") {
            let Some(name) = self.string(k, "an enum name") else {
                continue;
            };
            self.type_name(&name, k.pos, "enum");
            let what = format!("enum `{name}`");
            let Some(m) = self.map(v, &what, &["doc", "variants"]) else {
                continue;
            };
            let doc = self.doc(m.get("doc"), &what);
            let mut variants = Vec::new();
            match m.get("variants") {
                None => self.err(
                    k.pos,
                    format!("{what} has no `variants`"),
                    "add `variants:` with items like `- { name: Buy, value: 1 }`",
                ),
                Some(list) => match &list.kind {
                    Kind::Seq(items) if !items.is_empty() => {
                        let mut seen_names: HashMap<String, Pos> = HashMap::new();
                        let mut seen_values: HashMap<u32, String> = HashMap::new();
                        for item in items {
                            let vwhat = format!("a variant of {what}");
                            let Some(vm) = self.map(item, &vwhat, &["name", "value", "doc"]) else {
                                continue;
                            };
                            let vname = match vm.get("name") {
                                Some(n) => self
                                    .string(n, "the variant name")
                                    .inspect(|s| self.type_name(s, n.pos, "variant")),
                                None => {
                                    self.err(
                                        item.pos,
                                        format!("{vwhat} has no `name`"),
                                        "add `name: <UpperCamelCase>`",
                                    );
                                    None
                                }
                            };
                            let value = match vm.get("value") {
                                Some(n) => self.uint(n, "the variant value", u32::MAX as u64),
                                None => {
                                    self.err(item.pos, format!("{vwhat} has no `value`"), "add an explicit `value: <u32>`; values are never assigned implicitly");
                                    None
                                }
                            };
                            if let Some(n) = vm.get("doc") {
                                if !n.is_null() {
                                    self.string(n, "the variant doc");
                                }
                            }
                            if let Some(vname) = &vname {
                                if let Some(first) = seen_names.get(vname) {
                                    self.err(item.pos, format!("variant `{vname}` appears twice in {what} (first at line {})", first.line), "rename or remove one of them");
                                } else {
                                    seen_names.insert(vname.clone(), item.pos);
                                }
                            }
                            if let (Some(vname), Some(value)) = (vname, value) {
                                let value = value as u32;
                                if let Some(other) = seen_values.get(&value) {
                                    self.err(item.pos, format!("value {value} of variant `{vname}` is already used by `{other}` in {what}"), "give each variant its own value");
                                } else {
                                    seen_values.insert(value, vname.clone());
                                }
                                variants.push((vname, value, item.pos));
                            }
                        }
                    }
                    Kind::Seq(_) => self.err(
                        list.pos,
                        format!("{what} has no variants"),
                        "add at least one variant",
                    ),
                    _ => self.err(
                        list.pos,
                        format!(
                            "the `variants` of {what} must be a list, found {}",
                            list.describe()
                        ),
                        "write each variant as `- { name: Buy, value: 1 }`",
                    ),
                },
            }
            out.push(RawEnum {
                name,
                pos: k.pos,
                doc,
                variants,
            });
        }
        out
    }

    fn raw_records(&mut self, node: &Node, kind: DeclKind) -> Vec<RawRecord> {
        let (section, noun) = match kind {
            DeclKind::Message => ("messages", "message"),
            _ => ("structs", "struct"),
        };
        let known: &[&str] = match kind {
            DeclKind::Message => &["id", "topic", "doc", "fields"],
            _ => &["doc", "fields"],
        };
        let mut out = Vec::new();
        for (k, v) in self.entries(node, section) {
            let Some(name) = self.string(k, &format!("a {noun} name")) else {
                continue;
            };
            self.type_name(&name, k.pos, noun);
            let what = format!("{noun} `{name}`");
            let Some(m) = self.map(v, &what, known) else {
                continue;
            };
            let doc = self.doc(m.get("doc"), &what);
            let mut id = None;
            let mut topic = None;
            if kind == DeclKind::Message {
                match m.get("id") {
                    Some(n) => {
                        id = self
                            .uint(n, "the type id", u16::MAX as u64)
                            .map(|v| (v, n.pos))
                    }
                    None => self.err(
                        k.pos,
                        format!("{what} has no `id`"),
                        "add `id: <unused number from 0 to 65535>`",
                    ),
                }
                match m.get("topic") {
                    Some(n) => {
                        if let Some(t) = self.string(n, "the topic") {
                            if is_topic(&t) {
                                topic = Some((t, n.pos));
                            } else {
                                self.err(n.pos, format!("topic `{t}` is not dotted lowercase words"), "write it like `md.quote` or `orders.ack` (a-z, 0-9, `_`, words separated by `.`)");
                            }
                        }
                    }
                    None => self.err(
                        k.pos,
                        format!("{what} has no `topic`"),
                        "add `topic: <dotted.lowercase.words>`",
                    ),
                }
            }
            let fields = match m.get("fields") {
                None => {
                    self.err(
                        k.pos,
                        format!("{what} has no `fields`"),
                        "add `fields:` with at least one field",
                    );
                    Vec::new()
                }
                Some(list) => match &list.kind {
                    Kind::Seq(items) if !items.is_empty() => items
                        .iter()
                        .filter_map(|item| self.raw_field(item, &what))
                        .collect(),
                    Kind::Seq(_) => {
                        self.err(
                            list.pos,
                            format!("{what} has no fields"),
                            "add at least one field (OCaml has no empty records)",
                        );
                        Vec::new()
                    }
                    _ => {
                        self.err(
                            list.pos,
                            format!(
                                "the `fields` of {what} must be a list, found {}",
                                list.describe()
                            ),
                            "write each field as `- { name: price, type: f64, tag: 1 }`",
                        );
                        Vec::new()
                    }
                },
            };
            out.push(RawRecord {
                name,
                pos: k.pos,
                doc,
                id,
                topic,
                fields,
            });
        }
        out
    }

    fn raw_field(&mut self, item: &Node, owner: &str) -> Option<RawField> {
        let what = format!("a field of {owner}");
        let m = self.map(
            item,
            &what,
            &["name", "type", "tag", "optional", "max_len", "doc"],
        )?;
        let (name, name_pos) = match m.get("name") {
            Some(n) => {
                let s = self.string(n, "the field name");
                if let Some(s) = &s {
                    self.field_name(s, n.pos, "field");
                }
                (s, n.pos)
            }
            None => {
                self.err(
                    item.pos,
                    format!("{what} has no `name`"),
                    "add `name: <snake_case>`",
                );
                (None, item.pos)
            }
        };
        let ty = match m.get("type") {
            Some(n) => self
                .string(n, "the field type")
                .and_then(|t| match type_expr::parse(&t) {
                    Ok(t) => Some((t, n.pos)),
                    Err((msg, hint)) => {
                        self.err(n.pos, msg, hint);
                        None
                    }
                }),
            None => {
                self.err(
                    item.pos,
                    format!("{what} has no `type`"),
                    "add `type: <type>`, e.g. `type: u64`",
                );
                None
            }
        };
        let tag = m.get("tag").and_then(|n| {
            let v = self.uint(n, "the tag", MAX_TAG)?;
            if v == 0 {
                self.err(
                    n.pos,
                    format!("tag {v} is out of range"),
                    format!("tags go from 1 to {MAX_TAG} (13 bits of the key)"),
                );
                return None;
            }
            Some((v, n.pos))
        });
        let optional = m
            .get("optional")
            .and_then(|n| self.boolean(n, "optional"))
            .unwrap_or(false);
        let max_len = m.get("max_len").and_then(|n| {
            let v = self.uint(n, "max_len", u32::MAX as u64)?;
            if v == 0 {
                self.err(
                    n.pos,
                    "max_len 0 allows only empty lists",
                    "use a max_len of at least 1, or remove the field",
                );
                return None;
            }
            Some((v, n.pos))
        });
        let doc = self.doc(m.get("doc"), "the field");
        Some(RawField {
            name: name?,
            name_pos,
            pos: item.pos,
            tag,
            ty,
            optional,
            max_len,
            doc,
        })
    }

    /// Resolves types and assigns tags for one record.
    fn fields(&mut self, rec: &RawRecord, decls: &HashMap<String, (DeclKind, Pos)>) -> Vec<Field> {
        let mut out = Vec::new();
        let mut names_seen: HashMap<&str, Pos> = HashMap::new();
        let mut tags_seen: HashMap<u64, &str> = HashMap::new();
        let mut highest = 0u64;
        for f in &rec.fields {
            if let Some(first) = names_seen.get(f.name.as_str()) {
                self.err(
                    f.name_pos,
                    format!(
                        "field `{}` appears twice in `{}` (first at line {})",
                        f.name, rec.name, first.line
                    ),
                    "rename or remove one of them",
                );
            } else {
                names_seen.insert(&f.name, f.name_pos);
            }
            let (tag, tag_pos) = match f.tag {
                Some((t, p)) => (t, p),
                None => (highest + 1, f.pos),
            };
            if tag > MAX_TAG {
                self.err(
                    tag_pos,
                    format!(
                        "the tag assigned to `{}` would be {tag}, above {MAX_TAG}",
                        f.name
                    ),
                    "write explicit, smaller tags",
                );
            }
            highest = highest.max(tag);
            if let Some(other) = tags_seen.get(&tag) {
                self.err(
                    tag_pos,
                    format!(
                        "tag {tag} of `{}` is already used by `{other}` in `{}`",
                        f.name, rec.name
                    ),
                    "give each field its own tag; never reuse a published tag",
                );
            } else {
                tags_seen.insert(tag, &f.name);
            }
            let Some((expr, ty_pos)) = &f.ty else {
                continue;
            };
            let Some(ty) = self.resolve(expr, *ty_pos, decls, 0) else {
                continue;
            };
            let max_len = match (f.max_len, &ty) {
                (Some((m, _)), Type::List(..)) => Some(m as u32),
                (Some((_, pos)), _) => {
                    self.err(
                        pos,
                        format!("max_len is set on `{}`, which is not a list", f.name),
                        "remove max_len, or make the type `list<...>`",
                    );
                    None
                }
                (None, _) => None,
            };
            let ty = match ty {
                Type::List(inner, _) => Type::List(inner, max_len),
                other => other,
            };
            out.push(Field {
                name: f.name.clone(),
                tag: tag.min(MAX_TAG) as u16,
                ty,
                optional: f.optional,
                max_len,
                doc: f.doc.clone(),
            });
        }
        out
    }

    fn resolve(
        &mut self,
        e: &TypeExpr,
        pos: Pos,
        decls: &HashMap<String, (DeclKind, Pos)>,
        depth: usize,
    ) -> Option<Type> {
        Some(match e {
            TypeExpr::Prim(t) => t.clone(),
            TypeExpr::Named(n) => {
                match decls.get(n) {
                    Some((DeclKind::Enum, _)) => Type::Enum(n.clone()),
                    Some((DeclKind::Struct, _)) => Type::Struct(n.clone()),
                    Some((DeclKind::Message, _)) => {
                        self.err(pos, format!("`{n}` is a message and cannot be used as a field type"), format!("move its fields into a struct and use that struct in `{n}` and here"));
                        return None;
                    }
                    None if self.full() => {
                        self.suppressed += 1;
                        return None;
                    }
                    None => {
                        let known: Vec<&str> = decls
                            .iter()
                            .filter(|(_, (kind, _))| *kind != DeclKind::Message)
                            .map(|(k, _)| k.as_str())
                            .chain([
                                "bool", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64",
                                "f32", "f64", "string", "bytes",
                            ])
                            .collect();
                        self.err(
                            pos,
                            format!("unknown type `{n}`"),
                            suggest(n, &known, "declared structs/enums and built-in types"),
                        );
                        return None;
                    }
                }
            }
            TypeExpr::Array(inner, n) => {
                let inner = self.resolve(inner, pos, decls, depth + 1);
                if *n == 0 {
                    self.err(
                        pos,
                        "an array of size 0 holds nothing",
                        "use a size of at least 1, or remove the field",
                    );
                    return None;
                }
                if *n > MAX_ARRAY_LEN {
                    self.err(
                        pos,
                        format!("array size {n} is above the limit of {MAX_ARRAY_LEN}"),
                        "use `list<T>` with a `max_len` for large collections",
                    );
                    return None;
                }
                if depth > 0 && *n > MAX_NESTED_ARRAY_LEN {
                    self.err(pos, format!("an array of {n} elements inside a list or array is not supported (limit {MAX_NESTED_ARRAY_LEN})"), "wrap the array in a struct and use the struct as the element type");
                    return None;
                }
                Type::Array(Box::new(inner?), *n as usize)
            }
            TypeExpr::List(inner) => {
                Type::List(Box::new(self.resolve(inner, pos, decls, depth + 1)?), None)
            }
        })
    }

    /// Reports structs that contain themselves without a list in between, then (when
    /// there are none) structs nested deeper than a decoder accepts and records too large
    /// to be held inline.
    fn cycles(
        &mut self,
        raw: &[RawRecord],
        raw_messages: &[RawRecord],
        structs: &[Struct],
        messages: &[Message],
    ) {
        let record_pos = |name: &str| {
            raw.iter()
                .chain(raw_messages)
                .find(|r| r.name == name)
                .map(|r| r.pos)
                .unwrap_or_default()
        };
        let field_pos: HashMap<(&str, &str), Pos> = raw
            .iter()
            .chain(raw_messages)
            .flat_map(|r| {
                r.fields
                    .iter()
                    .map(move |f| ((r.name.as_str(), f.name.as_str()), f.name_pos))
            })
            .collect();
        let graph = Graph::new(structs);
        let cycles = graph.direct_cycles();
        for steps in &cycles {
            let Some(&(first, _)) = steps.first() else {
                continue;
            };
            let Some(&(node, field)) = steps.last() else {
                continue;
            };
            let start = structs[first].name.as_str();
            let node = structs[node].name.as_str();
            let mut names: Vec<&str> = steps
                .iter()
                .map(|&(i, _)| structs[i].name.as_str())
                .chain([start])
                .collect();
            if names.len() > 8 {
                names.splice(4..names.len() - 3, ["..."]);
            }
            let chain = names.join(" -> ");
            self.err(
                field_pos.get(&(node, field)).copied().unwrap_or_default(),
                format!("struct `{start}` contains itself without indirection ({chain}), so it would be infinitely large"),
                format!("make field `{field}` of `{node}` a `list<{start}>` (with `max_len: 1` if at most one)"),
            );
        }
        if !cycles.is_empty() {
            return;
        }
        let index: HashMap<&str, usize> = structs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let nesting = graph.nesting();
        for (i, &(depth, next)) in nesting.iter().enumerate() {
            if depth as u64 > u64::from(mycelium_codec::MAX_DEPTH) {
                let mut chain = vec![structs[i].name.as_str()];
                let mut at = next;
                while let Some(j) = at {
                    if chain.len() == 4 {
                        chain.push("...");
                        break;
                    }
                    chain.push(structs[j].name.as_str());
                    at = nesting[j].1;
                }
                let pos = record_pos(&structs[i].name);
                self.err(
                    pos,
                    format!(
                        "struct `{}` nests {depth} structs deep ({}), above the {} levels a decoder accepts",
                        structs[i].name,
                        chain.join(" -> "),
                        mycelium_codec::MAX_DEPTH
                    ),
                    "flatten the chain: no message could be decoded",
                );
                // One report is enough: every struct above it on the chain would repeat it.
                break;
            }
        }
        let sizes = graph.inline_sizes();
        let size_of = |name: &str| index.get(name).map_or(0, |&j| sizes[j]);
        let records = structs
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    crate::graph::record_size(&s.fields, &size_of),
                )
            })
            .chain(messages.iter().map(|m| {
                (
                    m.name.as_str(),
                    crate::graph::record_size(&m.fields, &size_of),
                )
            }));
        let mut too_large = Vec::new();
        for (name, size) in records {
            if size > MAX_INLINE_BYTES {
                too_large.push((name, size));
            }
        }
        for (name, size) in too_large {
            let pos = record_pos(name);
            self.err(
                pos,
                format!("`{name}` holds about {size} bytes inline, above the limit of {MAX_INLINE_BYTES}"),
                "large values must be lists or arrays of more than 32 elements (both live on the heap); decoding keeps a few copies of a record on the stack",
            );
        }
        let fields = structs
            .iter()
            .map(|s| (s.name.as_str(), &s.fields))
            .chain(messages.iter().map(|m| (m.name.as_str(), &m.fields)));
        for (owner, fields) in fields {
            for f in fields.iter() {
                let Type::Array(inner, n) = &f.ty else {
                    continue;
                };
                if !crate::rust::is_boxed(*n) {
                    continue;
                }
                let size = crate::graph::inline_size(inner, &size_of).saturating_mul(*n);
                if size > MAX_BOXED_ARRAY_BYTES {
                    let pos = field_pos
                        .get(&(owner, f.name.as_str()))
                        .copied()
                        .unwrap_or_else(|| record_pos(owner));
                    self.err(
                        pos,
                        format!("field `{}` of `{owner}`, a `{}`, holds about {size} bytes, above the limit of {MAX_BOXED_ARRAY_BYTES} for an array", f.name, f.ty.canonical()),
                        "make it a `list<...>`: a decoder reserves every element of an array (a frame too small to justify the memory is refused), and a clone copies it through the stack",
                    );
                }
            }
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

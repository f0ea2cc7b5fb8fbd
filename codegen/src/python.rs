//! Python code generator: one pure-Python module per schema.
//!
//! ```
//! let schema = mycelium_codegen::model::parse_str(
//!     "inline.yaml",
//!     "package: demo\nmessages:\n  Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: nonce, type: u64 }\n",
//! )
//! .expect("valid schema");
//! let files = mycelium_codegen::python::generate(&schema).expect("generates");
//! assert_eq!(files[0].0, "demo.py");
//! assert!(files[0].1.contains("class Ping(Message):"));
//! ```
//!
//! The module needs Python 3.11 and the standard library only (`struct`, `enum`,
//! `dataclasses`). Its fixed part (reader, codecs for each wire type, frame functions) lives
//! in `python/runtime.py` and is copied in verbatim; the generated part declares an
//! `IntEnum` per enum, a dataclass per struct and message, and a field table per class that
//! the runtime walks to encode, decode and print. The type mapping is in
//! `docs/contracts-languages.md`.

use std::fmt::Write as _;

use crate::model::{Field, Message, Schema, Struct, Type};

const RUNTIME: &str = include_str!("python/runtime.py");

/// Names the module defines or uses itself, which a declared type may therefore not take.
const RESERVED_TYPE_NAMES: &[&str] = crate::names::RESERVED_TYPE_NAMES;

/// Method names of every message class, which a message field may therefore not take.
const RESERVED_FIELD_NAMES: &[&str] = crate::names::RESERVED_MESSAGE_FIELD_NAMES;

/// Generates the Python files for `schema`: `(file name relative to the output directory,
/// contents)`. Today that is one file, `<package>.py`. The module does not name the file it
/// was generated from (`SOURCE = None`): see [`generate_from`].
///
/// Fails only on names the Python module cannot hold (a type named like one of the
/// module's own classes, a message field named like one of its methods).
pub fn generate(schema: &Schema) -> Result<Vec<(String, String)>, String> {
    generate_from(schema, None)
}

/// [`generate`], the module naming `source`, the schema file as given to the generator
/// (`SOURCE`): the `mycelium` package's errors about a module generated from another
/// version of the schema show the command that regenerates it from that file.
pub fn generate_from(
    schema: &Schema,
    source: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    check_names(schema)?;
    let mut out = String::with_capacity(RUNTIME.len() + 8192);
    header(&mut out, schema, source);
    out.push_str(RUNTIME);
    let digest = crate::digest::hex(&crate::digest::digest(schema));
    let _ = write!(
        out,
        "\n\nPACKAGE = {}\n\"\"\"The schema's package name.\"\"\"\n\
         SCHEMA_DIGEST = \"{digest}\"\n\
         \"\"\"The schema digest (`mycelium-codegen digest`), which peers compare at handshake.\"\"\"\n\
         SOURCE: str | None = {}\n\
         \"\"\"The schema file this module was generated from, as given to mycelium-codegen.\"\"\"\n\
         SCHEMA_CANONICAL = {}\n\
         \"\"\"The schema's canonical text, whose SHA-256 is `SCHEMA_DIGEST`: a journal's header carries it.\"\"\"\n",
        py_str(&schema.package),
        source.map_or_else(|| "None".to_string(), py_str),
        py_str(&crate::digest::canonical(schema))
    );
    for e in &schema.enums {
        out.push_str("\n\n");
        class_header(
            &mut out,
            &format!("class {}(enum.IntEnum):", e.name),
            e.doc.as_deref(),
        );
        for (name, value) in &e.variants {
            let _ = writeln!(out, "    {name} = {value}");
        }
    }
    for s in &schema.structs {
        out.push_str("\n\n");
        struct_class(&mut out, s);
    }
    for m in &schema.messages {
        out.push_str("\n\n");
        message_class(&mut out, m);
    }
    out.push_str("\n\n");
    for (name, fields) in schema
        .structs
        .iter()
        .map(|s| (&s.name, &s.fields))
        .chain(schema.messages.iter().map(|m| (&m.name, &m.fields)))
    {
        let _ = writeln!(out, "{name}._FIELDS = _Fields(");
        for f in fields {
            let _ = writeln!(
                out,
                "    _Field({}, {}, {}, {}),",
                f.tag,
                py_str(&f.name),
                codec(&f.ty),
                if f.optional { "True" } else { "False" }
            );
        }
        out.push_str(")\n");
    }
    out.push_str("\nREGISTRY: dict[int, type[Message]] = {\n");
    for m in &schema.messages {
        let _ = writeln!(out, "    {}: {},", m.id, m.name);
    }
    out.push_str("}\n\"\"\"Message class by type id.\"\"\"\n");
    Ok(vec![(format!("{}.py", schema.package), out)])
}

fn check_names(schema: &Schema) -> Result<(), String> {
    let types = schema
        .enums
        .iter()
        .map(|e| &e.name)
        .chain(schema.structs.iter().map(|s| &s.name))
        .chain(schema.messages.iter().map(|m| &m.name));
    for name in types {
        if RESERVED_TYPE_NAMES.contains(&name.as_str()) {
            return Err(format!(
                "type `{name}` would shadow the generated Python module's own `{name}`; rename it"
            ));
        }
    }
    for m in &schema.messages {
        for f in &m.fields {
            if RESERVED_FIELD_NAMES.contains(&f.name.as_str()) {
                return Err(format!(
                    "field `{}.{}` would shadow the Python method `{}`; rename it",
                    m.name, f.name, f.name
                ));
            }
        }
    }
    Ok(())
}

fn header(out: &mut String, schema: &Schema, source: Option<&str>) {
    let from = source.map_or_else(|| "its schema file".to_string(), docstring);
    let _ = write!(
        out,
        r#""""Wire types and codecs of the `{package}` contracts.

Generated by mycelium-codegen from {from}; do not edit. Pure Python 3.11, standard
library only. Frames and bodies follow docs/wire.md byte for byte.

    frame = Quote(...).encode_frame(seq=1, ts_ns=now)
    decoded, used = decode_frame(frame)   # raises DecodeError on any malformed input

Type mapping: bool -> bool; u8..u64, i8..i64 -> int (range-checked when encoding);
f32, f64 -> float (f32 rounds to single precision on the wire); string -> str;
bytes -> bytes; list<T> and [T; N] -> list; enum -> IntEnum; struct, message -> dataclass;
optional field -> `T | None`, default None.
"""

from __future__ import annotations

"#,
        package = schema.package,
    );
}

fn class_header(out: &mut String, line: &str, doc: Option<&str>) {
    out.push_str(line);
    out.push('\n');
    if let Some(doc) = doc {
        let _ = writeln!(out, "    \"\"\"{}\"\"\"\n", docstring(doc));
    }
}

fn struct_class(out: &mut String, s: &Struct) {
    out.push_str("@dataclass(kw_only=True, slots=True)\n");
    class_header(out, &format!("class {}:", s.name), s.doc.as_deref());
    if s.fields.is_empty() && s.doc.is_none() {
        out.push_str("    pass\n");
    }
    fields(out, &s.fields);
}

fn message_class(out: &mut String, m: &Message) {
    out.push_str("@dataclass(kw_only=True, slots=True)\n");
    class_header(
        out,
        &format!("class {}(Message):", m.name),
        m.doc.as_deref(),
    );
    let _ = writeln!(out, "    TYPE_ID: ClassVar[int] = {}", m.id);
    let _ = writeln!(out, "    TOPIC: ClassVar[str] = {}\n", py_str(&m.topic));
    fields(out, &m.fields);
}

fn fields(out: &mut String, fields: &[Field]) {
    for f in fields {
        if let Some(doc) = &f.doc {
            for line in doc_lines(doc) {
                let mut shown = String::with_capacity(line.len());
                mycelium_codec::text::escape_controls(line.chars(), &mut shown);
                let _ = writeln!(out, "    # {shown}");
            }
        }
        if f.optional {
            let _ = writeln!(out, "    {}: {} | None = None", f.name, hint(&f.ty));
        } else {
            let _ = writeln!(out, "    {}: {}", f.name, hint(&f.ty));
        }
    }
}

/// The type hint of a field of type `ty`.
fn hint(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64 => "int".into(),
        Type::F32 | Type::F64 => "float".into(),
        Type::String => "str".into(),
        Type::Bytes => "bytes".into(),
        Type::Array(t, _) | Type::List(t, _) => format!("list[{}]", hint(t)),
        Type::Struct(n) | Type::Enum(n) => n.clone(),
    }
}

/// The runtime codec expression for `ty`.
fn codec(ty: &Type) -> String {
    match ty {
        Type::Bool => "_BOOL".into(),
        Type::U8 => "_U8".into(),
        Type::U16 => "_U16".into(),
        Type::U32 => "_U32".into(),
        Type::U64 => "_U64".into(),
        Type::I8 => "_I8".into(),
        Type::I16 => "_I16".into(),
        Type::I32 => "_I32".into(),
        Type::I64 => "_I64".into(),
        Type::F32 => "_F32".into(),
        Type::F64 => "_F64".into(),
        Type::String => "_STRING".into(),
        Type::Bytes => "_BYTES".into(),
        Type::Array(t, n) => format!("_Seq({}, None, {n})", codec(t)),
        Type::List(t, Some(m)) => format!("_Seq({}, {m}, None)", codec(t)),
        Type::List(t, None) => format!("_Seq({}, None, None)", codec(t)),
        Type::Struct(n) => format!("_StructRef({n})"),
        Type::Enum(n) => format!("_Enum({n})"),
    }
}

/// A double-quoted Python string literal holding `s`.
fn py_str(s: &str) -> String {
    let mut lit = String::with_capacity(s.len() + 2);
    lit.push('"');
    for c in s.chars() {
        match c {
            '"' => lit.push_str("\\\""),
            '\\' => lit.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(lit, "\\x{:02x}", c as u32);
            }
            c => lit.push(c),
        }
    }
    lit.push('"');
    lit
}

/// The lines of `doc`, split where Python's tokenizer ends a line: at `\n`, `\r\n` and a
/// lone `\r` (which `str::lines` keeps inside a line, and which would end a `#` comment and
/// let the rest of the doc be read as code).
fn doc_lines(doc: &str) -> Vec<String> {
    doc.trim()
        .replace("\r\n", "\n")
        .split(['\n', '\r'])
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// `doc` made safe inside a triple-quoted docstring: backslashes and every quote escaped
/// (a closing `"` next to the delimiter would end the string early), control characters
/// written as `\xNN` escapes (a NUL byte cannot appear in Python source).
fn docstring(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len() + 8);
    for (i, line) in doc_lines(doc).iter().enumerate() {
        if i > 0 {
            out.push_str("\n    ");
        }
        for c in line.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if c.is_control() && c != '\t' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_str;

    const TINY: &str = r#"
package: tiny
enums:
  Side:
    doc: Book side.
    variants:
      - { name: Buy, value: 1 }
      - { name: Sell, value: 2 }
structs:
  Level:
    fields:
      - { name: price, type: f64, tag: 1 }
      - { name: qty, type: f32, tag: 2, optional: true }
messages:
  Quote:
    id: 100
    topic: md.quote
    doc: Top of "book".
    fields:
      - { name: side, type: Side, tag: 2 }
      - { name: levels, type: "list<Level>", max_len: 4, tag: 1 }
      - { name: key, type: "[u8; 16]", tag: 3 }
      - { name: venue, type: string, tag: 4, optional: true }
"#;

    fn tiny() -> Schema {
        parse_str("tiny.yaml", TINY).expect("tiny schema is valid")
    }

    #[test]
    fn emits_one_module_named_after_the_package() {
        let files = generate(&tiny()).expect("generates");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "tiny.py");
    }

    #[test]
    fn output_shape() {
        let files = generate(&tiny()).expect("generates");
        let src = &files[0].1;
        assert!(src.starts_with("\"\"\"Wire types and codecs of the `tiny` contracts."));
        assert!(src.contains("from its schema file; do not edit."));
        assert!(src.contains("\nSOURCE: str | None = None\n"));
        let named = &generate_from(&tiny(), Some("tiny.yaml")).expect("generates")[0].1;
        assert!(named.contains("from tiny.yaml; do not edit."));
        assert!(named.contains("\nSOURCE: str | None = \"tiny.yaml\"\n"));
        assert!(src.contains("from __future__ import annotations\n"));
        assert!(src.contains(
            "class Side(enum.IntEnum):\n    \"\"\"Book side.\"\"\"\n\n    Buy = 1\n    Sell = 2\n"
        ));
        assert!(src.contains("@dataclass(kw_only=True, slots=True)\nclass Level:\n"));
        assert!(src.contains("    qty: float | None = None\n"));
        assert!(src.contains("class Quote(Message):\n    \"\"\"Top of \\\"book\\\".\"\"\"\n"));
        assert!(src.contains(
            "    TYPE_ID: ClassVar[int] = 100\n    TOPIC: ClassVar[str] = \"md.quote\"\n\n"
        ));
        assert!(src.contains("    levels: list[Level]\n"));
        assert!(src.contains("    key: list[int]\n"));
        assert!(
            src.contains("    _Field(1, \"levels\", _Seq(_StructRef(Level), 4, None), False),\n")
        );
        assert!(src.contains("    _Field(3, \"key\", _Seq(_U8, None, 16), False),\n"));
        assert!(src.contains("    _Field(2, \"side\", _Enum(Side), False),\n"));
        assert!(src.contains("    _Field(4, \"venue\", _STRING, True),\n"));
        assert!(src.contains("REGISTRY: dict[int, type[Message]] = {\n    100: Quote,\n}\n"));
    }

    #[test]
    fn deterministic() {
        let a = generate(&tiny()).expect("generates");
        let b = generate(&tiny()).expect("generates");
        assert_eq!(a, b);
    }

    #[test]
    fn refuses_names_that_shadow_the_module() {
        let mut schema = tiny();
        schema.structs[0].name = "Frame".into();
        assert!(generate(&schema).unwrap_err().contains("`Frame`"));
        let mut schema = tiny();
        schema.messages[0].fields[0].name = "encode".into();
        assert!(generate(&schema).unwrap_err().contains("Quote.encode"));
    }

    #[test]
    fn docs_stay_comments_and_docstrings() {
        let mut schema = tiny();
        schema.messages[0].doc = Some("quoted \"".into());
        schema.messages[0].fields[0].doc = Some("one\r    evil()\r\ntwo\0".into());
        let src = &generate(&schema).expect("generates")[0].1;
        assert!(src.contains("    \"\"\"quoted \\\"\"\"\"\n"), "{src}");
        assert!(
            src.contains("    # one\n    #     evil()\n    # two\\u{0}\n"),
            "{src}"
        );
    }

    #[test]
    fn string_literals_and_docstrings_are_escaped() {
        assert_eq!(py_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\x0a\"");
        assert_eq!(
            docstring(" say \"\"\"hi\"\"\" \\ "),
            "say \\\"\\\"\\\"hi\\\"\\\"\\\" \\\\"
        );
    }
}

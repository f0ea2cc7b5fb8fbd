//! The checked, resolved schema that every generator consumes.
//!
//! [`load`] reads a `contracts.yaml`, runs every check from `docs/contracts.md` and returns a
//! [`Schema`] in which all type names are resolved, every field tag is assigned and every
//! name is known to be a valid identifier in Rust, Python and OCaml. Generators can
//! therefore trust it and never need to report errors of their own.
//!
//! ```
//! let schema = mycelium_codegen::model::parse_str(
//!     "inline.yaml",
//!     r#"
//! package: demo
//! messages:
//!   Ping:
//!     id: 1
//!     topic: sys.ping
//!     fields:
//!       - { name: nonce, type: u64 }
//! "#,
//! )
//! .expect("valid schema");
//! assert_eq!(schema.messages[0].fields[0].tag, 1);
//! ```
//!
//! Order is significant and stable: enums, structs and messages appear in the order the file
//! declares them, fields in declaration order (not necessarily tag order). Anything that
//! needs a canonical order (the digest, the wire) sorts for itself.

use std::path::Path;

pub use crate::canonical::from_canonical;
pub use crate::diagnostic::Diagnostic;

/// A whole, checked `contracts.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The `package` name: a valid `snake_case` identifier naming the generated module.
    pub package: String,
    /// The informative `version` number, if the file gives one. Not part of the digest.
    pub version: Option<u64>,
    /// Enums, in file order.
    pub enums: Vec<Enum>,
    /// Structs, in file order.
    pub structs: Vec<Struct>,
    /// Messages, in file order.
    pub messages: Vec<Message>,
}

/// A message: the unit that travels in one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `UpperCamelCase` name.
    pub name: String,
    /// The `u16` type id written in the frame header; unique in the schema.
    pub id: u16,
    /// The topic it is published on, dotted lowercase words (`md.quote`).
    pub topic: String,
    /// Free-form documentation, if any.
    pub doc: Option<String>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

/// A named struct usable as a field type by messages and other structs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct {
    /// `UpperCamelCase` name.
    pub name: String,
    /// Free-form documentation, if any.
    pub doc: Option<String>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

/// An enum with explicit `u32` values, travelling as wire type `I32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enum {
    /// `UpperCamelCase` name.
    pub name: String,
    /// Free-form documentation, if any.
    pub doc: Option<String>,
    /// `(variant name, value)` in declaration order; names are `UpperCamelCase`, values are
    /// unique.
    pub variants: Vec<(String, u32)>,
}

/// One field of a message or struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `snake_case` name.
    pub name: String,
    /// The stable tag, `1..=8191`, unique within its message or struct.
    pub tag: u16,
    /// The resolved type.
    pub ty: Type,
    /// `optional: true`: the field may be absent from a frame.
    pub optional: bool,
    /// The `max_len` given in the file. Only ever set when `ty` is a [`Type::List`], and
    /// then equal to that list's own bound (kept here too for generators' convenience).
    pub max_len: Option<u32>,
    /// Free-form documentation, if any.
    pub doc: Option<String>,
}

/// A resolved field type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `bool`, one byte 0 or 1.
    Bool,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `string`, UTF-8.
    String,
    /// `bytes`, raw.
    Bytes,
    /// `[T; N]`, exactly `N >= 1` elements.
    Array(Box<Type>, usize),
    /// `list<T>` with an optional maximum element count.
    List(Box<Type>, Option<u32>),
    /// A struct declared in the same schema, by name.
    Struct(String),
    /// An enum declared in the same schema, by name.
    Enum(String),
}

/// How a value is framed on the wire (`docs/wire.md`, the `wire_type` in a field key): the
/// runtime's own definition, so the generator and the decoder cannot disagree.
pub use mycelium_codec::WireType;

impl Type {
    /// The wire type a field of this type is written with.
    pub fn wire_type(&self) -> WireType {
        match self {
            Type::Bool | Type::U8 | Type::I8 => WireType::I8,
            Type::U16 | Type::I16 => WireType::I16,
            Type::U32 | Type::I32 | Type::F32 | Type::Enum(_) => WireType::I32,
            Type::U64 | Type::I64 | Type::F64 => WireType::I64,
            Type::String | Type::Bytes | Type::Array(..) | Type::List(..) | Type::Struct(_) => {
                WireType::Len
            }
        }
    }

    /// Bytes taken by one element of this type packed in a list or array, if it is
    /// fixed-width; `None` for elements written as `u32` length + bytes.
    pub fn fixed_width(&self) -> Option<usize> {
        match self.wire_type() {
            WireType::I8 => Some(1),
            WireType::I16 => Some(2),
            WireType::I32 => Some(4),
            WireType::I64 => Some(8),
            WireType::Len => None,
        }
    }

    /// The canonical spelling used by the digest and in messages: `u8`, `string`,
    /// `[f64; 4]`, `list<Level>`, `list<u8; max_len=16>`.
    pub fn canonical(&self) -> String {
        match self {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::I8 => "i8".into(),
            Type::I16 => "i16".into(),
            Type::I32 => "i32".into(),
            Type::I64 => "i64".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::String => "string".into(),
            Type::Bytes => "bytes".into(),
            Type::Array(t, n) => format!("[{}; {}]", t.canonical(), n),
            Type::List(t, None) => format!("list<{}>", t.canonical()),
            Type::List(t, Some(m)) => format!("list<{}; max_len={}>", t.canonical(), m),
            Type::Struct(n) | Type::Enum(n) => n.clone(),
        }
    }
}

impl Schema {
    /// The struct declared with this name.
    pub fn struct_named(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// The enum declared with this name.
    pub fn enum_named(&self, name: &str) -> Option<&Enum> {
        self.enums.iter().find(|e| e.name == name)
    }

    /// The message with this type id.
    pub fn message_by_id(&self, id: u16) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }
}

/// Reads and checks the schema at `path`.
///
/// On failure returns every problem found (not only the first), each with the file, line,
/// column and a one-line hint.
pub fn load(path: impl AsRef<Path>) -> Result<Schema, Vec<Diagnostic>> {
    use std::io::Read as _;

    let path = path.as_ref();
    let file = path.display().to_string();
    let limit = crate::check::MAX_SCHEMA_BYTES;
    let mut bytes = Vec::new();
    // Never read more than one byte past the limit, however large the file.
    let read =
        std::fs::File::open(path).and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        return Err(vec![Diagnostic::new(
            &file,
            0,
            0,
            format!("cannot read the schema file: {e}"),
            "check the path; it is resolved relative to the current directory",
        )]);
    }
    if bytes.len() > limit {
        return Err(vec![Diagnostic::new(
            &file,
            0,
            0,
            format!("the schema file is larger than the limit of {limit} bytes"),
            "a schema is a few kilobytes; check that this is the right file",
        )]);
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse_str(&file, text),
        Err(e) => {
            let (line, column) = crate::check::line_column(&bytes, e.valid_up_to());
            Err(vec![Diagnostic::new(
                &file,
                line,
                column,
                format!("invalid UTF-8 (byte 0x{:02x})", bytes[e.valid_up_to()]),
                "save the schema as UTF-8",
            )])
        }
    }
}

/// Checks the schema held in `text`; `file` only names it in diagnostics.
pub fn parse_str(file: &str, text: &str) -> Result<Schema, Vec<Diagnostic>> {
    crate::check::check(file, text)
}

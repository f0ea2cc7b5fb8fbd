//! Rust code generator and the build-script helper.
//!
//! In a crate's `build.rs`:
//!
//! ```no_run
//! // build.rs
//! mycelium_codegen::rust::build("../contracts.yaml");
//! ```
//!
//! and in its `lib.rs`:
//!
//! ```ignore
//! include!(concat!(env!("OUT_DIR"), "/contracts.rs"));
//! ```
//!
//! The crate needs `mycelium-codec` as a dependency (it re-exports `serde`). The output is
//! a pure function of the schema and the [`RustOptions`]: the same inputs give
//! byte-identical code.
//!
//! This file holds the options, the build-script helpers, the mapping of schema types to Rust
//! types and the module's outline; `record.rs` writes each struct and message (its type,
//! encoder and decoder) and `strategies.rs` the proptest strategies.
//!
//! To use the generated types as actor replies (`type Reply = Fill;`), generate the impls of
//! `mycelium_actors::Reply` with them: the orphan rule lets only the crate that defines a
//! type implement a foreign trait for it, and that crate is the one including the output.
//!
//! ```no_run
//! // build.rs of a crate that depends on mycelium-actors (or on `mycelium`: then the path is
//! // `::mycelium::actors::Reply`)
//! use mycelium_codegen::rust::{build_with, RustOptions};
//! build_with("../contracts.yaml", &RustOptions::new().reply_trait("::mycelium_actors::Reply"));
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::digest;
use crate::model::{Field, Schema, Type};

mod record;
mod strategies;

use record::record;
pub use strategies::generate_strategies;

/// Name of the generated module file.
pub const FILE_NAME: &str = "contracts.rs";
/// Name of the generated proptest strategies file (see [`generate_strategies`]).
pub const STRATEGIES_FILE_NAME: &str = "contracts_strategies.rs";

const C: &str = "::mycelium_codec";

/// Options of the Rust generator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RustOptions {
    reply_trait: Option<String>,
}

impl RustOptions {
    /// The default: types and codecs only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also emit `impl <path> for T {}` for every generated enum, struct and message, where
    /// `path` names the actors' `Reply` trait as the including crate sees it
    /// (`::mycelium_actors::Reply`, or `::mycelium::actors::Reply`). The trait's methods
    /// all have defaults, so a contract type is a plain reply: an `ask` gets it back and a
    /// `tell` never counts it as a failure.
    pub fn reply_trait(mut self, path: impl Into<String>) -> Self {
        self.reply_trait = Some(path.into());
        self
    }
}

/// Checks the schema at `schema_path` (relative to the crate being built), writes
/// [`FILE_NAME`] and [`STRATEGIES_FILE_NAME`] into `OUT_DIR` and tells cargo to rerun when
/// the schema changes.
///
/// # Panics
///
/// When the schema has errors (after printing every one of them with its position, which
/// makes the build fail with a readable report) or `OUT_DIR` cannot be written. This is
/// meant for `build.rs`, where a panic is how a build fails.
pub fn build(schema_path: impl AsRef<Path>) {
    build_with(schema_path, &RustOptions::default())
}

/// [`build`] with options.
///
/// # Panics
///
/// As [`build`].
pub fn build_with(schema_path: impl AsRef<Path>, options: &RustOptions) {
    if let Err(e) = try_build_with(schema_path, options) {
        panic!("{e}");
    }
}

/// [`build`] without the panic: returns the path of the generated module.
pub fn try_build(schema_path: impl AsRef<Path>) -> Result<PathBuf, String> {
    try_build_with(schema_path, &RustOptions::default())
}

/// [`build_with`] without the panic: returns the path of the generated module.
pub fn try_build_with(
    schema_path: impl AsRef<Path>,
    options: &RustOptions,
) -> Result<PathBuf, String> {
    let path = schema_path.as_ref();
    println!("cargo:rerun-if-changed={}", path.display());
    let schema = crate::model::load(path).map_err(|diags| {
        for d in &diags {
            eprintln!("{d}");
        }
        format!(
            "{}: {} error(s) in the schema; see above. Run `cargo run -p mycelium-codegen -- check {}` for the same report.",
            path.display(),
            diags.len(),
            path.display()
        )
    })?;
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or("OUT_DIR is not set: call this from a build script")?;
    let module = out_dir.join(FILE_NAME);
    write_if_changed(&module, &generate_with(&schema, options))?;
    write_if_changed(
        &out_dir.join(STRATEGIES_FILE_NAME),
        &generate_strategies(&schema),
    )?;
    Ok(module)
}

fn write_if_changed(path: &Path, contents: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The Rust type of a schema type.
pub fn rust_type(t: &Type) -> String {
    match t {
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
        Type::String => "::std::string::String".into(),
        Type::Bytes => "::std::vec::Vec<u8>".into(),
        Type::Array(t, n) if is_boxed(*n) => format!("::std::boxed::Box<[{}; {n}]>", rust_type(t)),
        Type::Array(t, n) => format!("[{}; {n}]", rust_type(t)),
        Type::List(t, _) => format!("::std::vec::Vec<{}>", rust_type(t)),
        Type::Struct(n) | Type::Enum(n) => n.clone(),
    }
}

/// Arrays of more than 32 elements are held boxed (`Box<[T; N]>`): inline, a struct with
/// one would make every element of a list of it, and every stack frame decoding it, as
/// large as the array, whatever the frame holds. The checker allows such arrays only as a
/// field's own type, so boxing happens only there.
pub fn is_boxed(n: usize) -> bool {
    n as u64 > crate::check::MAX_NESTED_ARRAY_LEN
}

fn field_type(f: &Field) -> String {
    if f.optional {
        format!("::std::option::Option<{}>", rust_type(&f.ty))
    } else {
        rust_type(&f.ty)
    }
}

fn is_fixed(t: &Type) -> bool {
    t.fixed_width().is_some()
}

fn wire_type(t: &Type) -> &'static str {
    match t.fixed_width() {
        Some(1) => "I8",
        Some(2) => "I16",
        Some(4) => "I32",
        Some(8) => "I64",
        _ => "Len",
    }
}

fn max_arg(max: &Option<u32>) -> String {
    match max {
        Some(m) => format!("::std::option::Option::Some({m})"),
        None => "::std::option::Option::None".into(),
    }
}

fn doc_lines(out: &mut String, doc: &Option<String>, indent: &str) {
    if let Some(doc) = doc {
        for line in doc.lines() {
            let _ = writeln!(
                out,
                "{indent}#[doc = {:?}]",
                format!(" {}", line.trim_end())
            );
        }
    }
}

/// The item's doc from the schema, or `fallback` when it has none (generated code is
/// documented throughout, so crates that include it can warn on missing docs).
fn doc_or(out: &mut String, doc: &Option<String>, fallback: &str, indent: &str) {
    match doc {
        Some(_) => doc_lines(out, doc, indent),
        None => {
            let _ = writeln!(out, "{indent}#[doc = {:?}]", format!(" {fallback}"));
        }
    }
}

fn serde_attrs(out: &mut String) {
    let _ = writeln!(out, "#[serde(crate = \"{C}::serde\")]");
}

/// Generates the Rust module for `schema`.
pub fn generate(schema: &Schema) -> String {
    generate_with(schema, &RustOptions::default())
}

/// Generates the Rust module for `schema`, with options.
pub fn generate_with(schema: &Schema, options: &RustOptions) -> String {
    let mut out = String::new();
    let d = digest::digest(schema);
    let _ = writeln!(
        out,
        "// @generated by mycelium-codegen from the `{}` schema. Do not edit.\n",
        schema.package
    );
    let _ = writeln!(out, "/// The schema's package name.");
    let _ = writeln!(out, "pub const PACKAGE: &str = {:?};\n", schema.package);
    let _ = writeln!(
        out,
        "/// SHA-256 of the schema's canonical form ({}); peers compare it at handshake.",
        digest::hex(&d)
    );
    let bytes: Vec<String> = d.iter().map(|b| format!("0x{b:02x}")).collect();
    let _ = writeln!(out, "pub const SCHEMA_DIGEST: [u8; 32] = [");
    for chunk in bytes.chunks(8) {
        let _ = writeln!(out, "    {},", chunk.join(", "));
    }
    let _ = writeln!(out, "];\n");
    let _ = writeln!(
        out,
        "/// The schema's canonical text, whose SHA-256 is [`SCHEMA_DIGEST`]: a journal's header\n\
         /// carries it (`mycelium_journal::JournalSchema::from_generated`), so that a reader\n\
         /// decodes the contract payloads without this crate."
    );
    let _ = writeln!(
        out,
        "pub const SCHEMA_CANONICAL: &str = {:?};\n",
        digest::canonical(schema)
    );

    for e in &schema.enums {
        doc_or(
            &mut out,
            &e.doc,
            &format!("`{}`, as the schema declares it.", e.name),
            "",
        );
        let _ = writeln!(
            out,
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, {C}::serde::Serialize, {C}::serde::Deserialize)]"
        );
        serde_attrs(&mut out);
        let _ = writeln!(out, "#[repr(u32)]");
        let _ = writeln!(out, "pub enum {} {{", e.name);
        for (v, value) in &e.variants {
            let _ = writeln!(
                out,
                "    /// `{v}` (wire value {value}).\n    {v} = {value},"
            );
        }
        let _ = writeln!(out, "}}\n");
        let _ = writeln!(out, "impl {} {{", e.name);
        let _ = writeln!(out, "    /// Every variant, in declaration order.");
        let _ = writeln!(
            out,
            "    pub const ALL: [{}; {}] = [{}];\n",
            e.name,
            e.variants.len(),
            e.variants
                .iter()
                .map(|(v, _)| format!("{}::{v}", e.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(out, "    /// The variant's value on the wire.");
        let _ = writeln!(out, "    #[inline]");
        let _ = writeln!(
            out,
            "    pub const fn value(self) -> u32 {{\n        self as u32\n    }}\n"
        );
        let _ = writeln!(out, "    /// The variant with this wire value.");
        let _ = writeln!(out, "    #[inline]");
        let _ = writeln!(
            out,
            "    pub const fn from_value(value: u32) -> ::std::option::Option<Self> {{"
        );
        let _ = writeln!(out, "        match value {{");
        for (v, value) in &e.variants {
            let _ = writeln!(
                out,
                "            {value} => ::std::option::Option::Some({}::{v}),",
                e.name
            );
        }
        let _ = writeln!(out, "            _ => ::std::option::Option::None,");
        let _ = writeln!(out, "        }}\n    }}\n}}\n");
        let _ = writeln!(out, "impl {C}::Fixed for {} {{", e.name);
        let _ = writeln!(out, "    const WIDTH: usize = 4;");
        let _ = writeln!(out, "    const WIRE: {C}::WireType = {C}::WireType::I32;");
        let _ = writeln!(
            out,
            "    const PLACEHOLDER: Self = {}::{};",
            e.name, e.variants[0].0
        );
        let _ = writeln!(out, "    #[inline(always)]");
        let _ = writeln!(
            out,
            "    fn put(self, out: &mut ::std::vec::Vec<u8>) {{\n        {C}::Fixed::put(self.value(), out)\n    }}"
        );
        let _ = writeln!(out, "    #[inline(always)]");
        let _ = writeln!(
            out,
            "    fn take(r: &mut {C}::read::Reader<'_>) -> ::std::result::Result<Self, {C}::DecodeError> {{"
        );
        let _ = writeln!(out, "        let value = r.fixed::<u32>()?;");
        let _ = writeln!(
            out,
            "        Self::from_value(value).ok_or({C}::DecodeError::UnknownEnumValue {{ name: {:?}, value }})",
            e.name
        );
        let _ = writeln!(out, "    }}\n}}\n");
    }

    for s in &schema.structs {
        record(&mut out, &s.name, &s.doc, &s.fields);
    }
    for m in &schema.messages {
        record(&mut out, &m.name, &m.doc, &m.fields);
        let _ = writeln!(out, "impl {C}::WireMessage for {} {{", m.name);
        let _ = writeln!(out, "    const TYPE_ID: u16 = {};", m.id);
        let _ = writeln!(out, "    const TOPIC: &'static str = {:?};", m.topic);
        let _ = writeln!(out, "}}\n");
    }

    if let Some(reply) = &options.reply_trait {
        let names = schema.enums.iter().map(|e| &e.name);
        let names = names.chain(schema.structs.iter().map(|s| &s.name));
        for name in names.chain(schema.messages.iter().map(|m| &m.name)) {
            let _ = writeln!(out, "impl {reply} for {name} {{}}");
        }
        let _ = writeln!(out);
    }

    // One enum over every message, for dispatch on the header's type id.
    let _ = writeln!(
        out,
        "/// `(type id, name, topic)` of every message, in schema order."
    );
    let _ = writeln!(
        out,
        "pub const MESSAGE_TYPES: [(u16, &str, &str); {}] = [",
        schema.messages.len()
    );
    for m in &schema.messages {
        let _ = writeln!(out, "    ({}, {:?}, {:?}),", m.id, m.name, m.topic);
    }
    let _ = writeln!(out, "];\n");
    let _ = writeln!(
        out,
        "/// Any message of the schema, for dispatch on a frame's type id."
    );
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]");
    // Boxing the large variants would cost an allocation per decoded frame.
    let _ = writeln!(out, "#[allow(clippy::large_enum_variant)]");
    let _ = writeln!(out, "pub enum AnyMessage {{");
    for m in &schema.messages {
        let _ = writeln!(
            out,
            "    /// A `{0}` (type id {1}).\n    {0}({0}),",
            m.name, m.id
        );
    }
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "impl AnyMessage {{");
    let _ = writeln!(out, "    /// Decodes `body` as the message with `type_id`; `None` for a type id the schema does not have.");
    let _ = writeln!(
        out,
        "    pub fn decode(type_id: u16, body: &[u8]) -> ::std::option::Option<::std::result::Result<Self, {C}::DecodeError>> {{"
    );
    let _ = writeln!(out, "        ::std::option::Option::Some(match type_id {{");
    for m in &schema.messages {
        let _ = writeln!(
            out,
            "            {id} => <{n} as {C}::WireMessage>::decode_body(body).map(AnyMessage::{n}),",
            id = m.id,
            n = m.name
        );
    }
    let _ = writeln!(out, "            _ => return ::std::option::Option::None,");
    let _ = writeln!(out, "        }})\n    }}\n");
    let _ = writeln!(out, "    /// The message's type id.");
    let _ = writeln!(
        out,
        "    pub fn type_id(&self) -> u16 {{\n        match self {{"
    );
    for m in &schema.messages {
        let _ = writeln!(out, "            AnyMessage::{} (_) => {},", m.name, m.id);
    }
    let _ = writeln!(out, "        }}\n    }}\n");
    let _ = writeln!(out, "    /// Appends one frame carrying this message to `out` (see `mycelium_codec::encode_frame`).");
    let _ = writeln!(
        out,
        "    pub fn encode_frame(&self, seq: u64, ts_ns: u64, out: &mut ::std::vec::Vec<u8>) -> usize {{\n        match self {{"
    );
    for m in &schema.messages {
        let _ = writeln!(
            out,
            "            AnyMessage::{}(m) => {C}::encode_frame(m, seq, ts_ns, out),",
            m.name
        );
    }
    let _ = writeln!(out, "        }}\n    }}\n}}");
    out.replace(" (_) =>", "(_) =>")
}

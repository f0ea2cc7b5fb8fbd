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
use crate::names::snake_case;

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

/// Expression appending the bare value of `e` to `out`. `e` is a reference (`v`, `e0`)
/// when `is_ref`, otherwise a place (`self.x`).
fn enc_value(t: &Type, e: &str, is_ref: bool, depth: usize) -> String {
    let by_ref = if is_ref {
        e.to_string()
    } else {
        format!("&{e}")
    };
    match t {
        _ if is_fixed(t) => {
            let val = if is_ref {
                format!("*{e}")
            } else {
                e.to_string()
            };
            format!("{C}::Fixed::put({val}, out)")
        }
        Type::String => format!("{C}::write::str(out, {by_ref})"),
        Type::Bytes => format!("{C}::write::bytes(out, {by_ref})"),
        Type::Struct(_) => format!("{C}::write::nested(out, {by_ref})"),
        Type::Array(inner, _) | Type::List(inner, _) => {
            if **inner == Type::U8 {
                format!("{C}::write::packed_u8(out, &{e}[..])")
            } else if is_fixed(inner) {
                format!("{C}::write::packed(out, &{e}[..])")
            } else if let Type::Struct(_) = **inner {
                format!("{C}::write::list(out, &{e}[..], {C}::write::nested)")
            } else {
                let v = format!("e{depth}");
                format!(
                    "{C}::write::list(out, &{e}[..], |out, {v}| {})",
                    enc_value(inner, &v, true, depth + 1)
                )
            }
        }
        _ => unreachable!("every non-fixed type is handled above"),
    }
}

/// An expression of type `Result<T, DecodeError>` reading a bare value from reader `r`.
fn dec_value(t: &Type, r: &str, depth: usize) -> String {
    match t {
        _ if is_fixed(t) => format!("{r}.fixed::<{}>()", rust_type(t)),
        Type::String => format!("{r}.string()"),
        Type::Bytes => format!("{r}.bytes()"),
        Type::Struct(n) => format!("{r}.nested::<{n}>()"),
        Type::List(inner, max) => {
            if **inner == Type::U8 {
                format!("{r}.packed_u8_list({})", max_arg(max))
            } else if is_fixed(inner) {
                format!("{r}.packed_list::<{}>({})", rust_type(inner), max_arg(max))
            } else {
                let v = format!("r{depth}");
                format!(
                    "{r}.list({}, |{v}| {})",
                    max_arg(max),
                    dec_value(inner, &v, depth + 1)
                )
            }
        }
        Type::Array(inner, n) => {
            let boxed = if is_boxed(*n) { "boxed_" } else { "" };
            if is_fixed(inner) {
                format!("{r}.packed_{boxed}array::<{}, {n}>()", rust_type(inner))
            } else {
                let v = format!("r{depth}");
                format!(
                    "{r}.{boxed}array::<{}, {n}>(|{v}| {})",
                    rust_type(inner),
                    dec_value(inner, &v, depth + 1)
                )
            }
        }
        _ => unreachable!("every non-fixed type is handled above"),
    }
}

/// Statement writing one field (key and value) of `self`.
fn enc_field(f: &Field) -> String {
    let tag = f.tag;
    let fixed = is_fixed(&f.ty);
    // Fixed-width values are `Copy`: bind them by value; others by reference.
    let val = if f.optional {
        "v".to_string()
    } else {
        format!("self.{}", f.name)
    };
    let stmt = match &f.ty {
        Type::U64 | Type::I64 | Type::F64 | Type::U32 | Type::I32 | Type::F32 | Type::Enum(_) => {
            let (func, bits) = match &f.ty {
                Type::U64 => ("field_u64_bits", val),
                Type::I64 => ("field_u64_bits", format!("{val} as u64")),
                Type::F64 => ("field_u64_bits", format!("{val}.to_bits()")),
                Type::U32 => ("field_u32_bits", val),
                Type::I32 => ("field_u32_bits", format!("{val} as u32")),
                Type::F32 => ("field_u32_bits", format!("{val}.to_bits()")),
                _ => ("field_u32_bits", format!("{val}.value()")),
            };
            format!("{C}::write::{func}(out, {tag}, {bits});")
        }
        _ if fixed => format!("{C}::write::field(out, {tag}, {val});"),
        t => format!(
            "{C}::write::key(out, {tag}, {C}::WireType::Len);\n        {};",
            enc_value(t, &val, f.optional, 0)
        ),
    };
    if f.optional {
        let by = if fixed { "" } else { "&" };
        format!(
            "if let ::std::option::Option::Some(v) = {by}self.{} {{\n            {}\n        }}",
            f.name,
            stmt.replace("\n        ", "\n            ")
        )
    } else {
        stmt
    }
}

/// The fast path of a decoder: the leading run of required fixed-width fields (in tag
/// order) sits at known offsets when the sender wrote fields in ascending tag order, as
/// every encoder does. One bounds check, then a key comparison per field; on any mismatch
/// the general loop reads everything as usual. Duplicates after the prefix are still
/// caught by the loop, which sees these fields as already present.
fn fast_prefix(out: &mut String, sorted: &[&Field]) {
    let prefix: Vec<&&Field> = sorted
        .iter()
        .take_while(|f| !f.optional && is_fixed(&f.ty))
        .collect();
    if prefix.len() < 2 {
        return;
    }
    let mut off = 0usize;
    let mut checks = Vec::new();
    let mut reads = Vec::new();
    for f in &prefix {
        let width = f.ty.fixed_width().unwrap_or(0);
        let key = (f.tag << 3) | wire_code(&f.ty);
        checks.push(format!(
            "{C}::read::key_at(h, {off}) == ::std::option::Option::Some({key})"
        ));
        reads.push(format!(
            "f_{} = ::std::option::Option::Some({C}::read::fixed_at::<{}, PREFIX_LEN>(h, {})?);",
            f.name,
            rust_type(&f.ty),
            off + 2
        ));
        off += 2 + width;
    }
    // Not `N`: a schema may name a type `N`, and a const argument resolves types first.
    let _ = writeln!(out, "        const PREFIX_LEN: usize = {off};");
    let _ = writeln!(
        out,
        "        if let ::std::option::Option::Some(h) = r.peek::<PREFIX_LEN>() {{"
    );
    let _ = writeln!(
        out,
        "            if {} {{",
        checks.join("\n                && ")
    );
    for line in reads {
        let _ = writeln!(out, "                {line}");
    }
    let _ = writeln!(out, "                r.take(PREFIX_LEN)?;");
    let _ = writeln!(out, "            }}");
    let _ = writeln!(out, "        }}");
}

fn wire_code(t: &Type) -> u16 {
    match t.fixed_width() {
        Some(1) => 0,
        Some(2) => 1,
        Some(4) => 2,
        Some(8) => 3,
        _ => 4,
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

fn record(out: &mut String, name: &str, doc: &Option<String>, fields: &[Field]) {
    doc_or(
        out,
        doc,
        &format!("`{name}`, as the schema declares it."),
        "",
    );
    let _ = writeln!(
        out,
        "#[derive(Debug, Clone, PartialEq, {C}::serde::Serialize, {C}::serde::Deserialize)]"
    );
    serde_attrs(out);
    let _ = writeln!(out, "pub struct {name} {{");
    for f in fields {
        doc_or(
            out,
            &f.doc,
            &format!("`{}`: `{}`.", f.name, field_type(f)),
            "    ",
        );
        if let Type::Array(_, n) = &f.ty {
            if is_boxed(*n) {
                let with = if f.optional {
                    "serde_array::boxed_option"
                } else {
                    "serde_array::boxed"
                };
                let _ = writeln!(out, "    #[serde(with = \"{C}::{with}\")]");
            }
        }
        let _ = writeln!(out, "    pub {}: {},", f.name, field_type(f));
    }
    let _ = writeln!(out, "}}\n");

    let mut sorted: Vec<&Field> = fields.iter().collect();
    sorted.sort_by_key(|f| f.tag);
    let _ = writeln!(out, "impl {C}::WireStruct for {name} {{");
    let _ = writeln!(out, "    const NAME: &'static str = {name:?};\n");
    let _ = writeln!(out, "    #[inline]");
    let _ = writeln!(
        out,
        "    fn encode_fields(&self, out: &mut ::std::vec::Vec<u8>) {{"
    );
    for f in &sorted {
        let _ = writeln!(out, "        {}", enc_field(f));
    }
    let _ = writeln!(out, "    }}\n");
    // Small all-fixed records decode in a few instructions: inlining them lets the caller
    // build the value in place instead of copying it out of a returned `Result`.
    let all_fixed = fields.iter().all(|f| is_fixed(&f.ty));
    let inline = if all_fixed && fields.len() <= 8 {
        "#[inline(always)]"
    } else {
        "#[inline]"
    };
    let _ = writeln!(out, "    {inline}");
    let _ = writeln!(
        out,
        "    fn decode_fields(mut r: {C}::read::Reader<'_>) -> ::std::result::Result<Self, {C}::DecodeError> {{"
    );
    for f in &sorted {
        let _ = writeln!(
            out,
            "        let mut f_{}: ::std::option::Option<{}> = ::std::option::Option::None;",
            f.name,
            rust_type(&f.ty)
        );
    }
    fast_prefix(out, &sorted);
    let _ = writeln!(
        out,
        "        while let ::std::option::Option::Some((tag, wire)) = r.key()? {{"
    );
    let _ = writeln!(out, "            match tag {{");
    for f in &sorted {
        let _ = writeln!(out, "                {} => {{", f.tag);
        let _ = writeln!(
            out,
            "                    {C}::read::Reader::expect(wire, {C}::WireType::{}, {:?}, {})?;",
            wire_type(&f.ty),
            f.name,
            f.tag
        );
        let _ = writeln!(out, "                    if f_{}.is_some() {{", f.name);
        let _ = writeln!(
            out,
            "                        return ::std::result::Result::Err({C}::DecodeError::DuplicateField {{ field: {:?}, tag: {} }});",
            f.name, f.tag
        );
        let _ = writeln!(out, "                    }}");
        let _ = writeln!(
            out,
            "                    f_{} = ::std::option::Option::Some({}?);",
            f.name,
            dec_value(&f.ty, "r", 0)
        );
        let _ = writeln!(out, "                }}");
    }
    let _ = writeln!(out, "                _ => r.skip(wire)?,");
    let _ = writeln!(out, "            }}");
    let _ = writeln!(out, "        }}");
    let _ = writeln!(out, "        ::std::result::Result::Ok({name} {{");
    for f in fields {
        if f.optional {
            let _ = writeln!(out, "            {}: f_{},", f.name, f.name);
        } else {
            let _ = writeln!(
                out,
                "            {n}: match f_{n} {{\n                ::std::option::Option::Some(v) => v,\n                ::std::option::Option::None => return ::std::result::Result::Err({C}::DecodeError::MissingField {{ record: {name:?}, field: {n:?}, tag: {t} }}),\n            }},",
                n = f.name,
                t = f.tag
            );
        }
    }
    let _ = writeln!(out, "        }})");
    let _ = writeln!(out, "    }}");
    let _ = writeln!(out, "}}\n");
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

/// Generates proptest strategies for every type of the schema, for tests: one
/// `arb_<snake_name>()` per enum and message and `arb_<snake_name>(depth)` per struct.
/// The file expects the generated types and `proptest` to be in scope where it is
/// `include!`d.
pub fn generate_strategies(schema: &Schema) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by mycelium-codegen: proptest strategies for the `{}` schema.\n",
        schema.package
    );
    for e in &schema.enums {
        let _ = writeln!(
            out,
            "pub fn arb_{}() -> impl ::proptest::strategy::Strategy<Value = {}> {{",
            snake_case(&e.name),
            e.name
        );
        let _ = writeln!(
            out,
            "    ::proptest::sample::select(::std::vec::Vec::from({}::ALL))\n}}\n",
            e.name
        );
    }
    for s in &schema.structs {
        strategy_fn(&mut out, &s.name, &s.fields, true);
    }
    for m in &schema.messages {
        strategy_fn(&mut out, &m.name, &m.fields, false);
    }
    out
}

fn strategy(t: &Type) -> String {
    match t {
        Type::Bool => "::proptest::arbitrary::any::<bool>().boxed()".into(),
        Type::String => "::proptest::collection::vec(::proptest::arbitrary::any::<char>(), 0..8).prop_map(|v| v.into_iter().collect::<::std::string::String>()).boxed()".into(),
        Type::Bytes => "::proptest::collection::vec(::proptest::arbitrary::any::<u8>(), 0..16).boxed()".into(),
        Type::Enum(n) => format!("arb_{}().boxed()", snake_case(n)),
        Type::Struct(n) => format!("arb_{}(depth).boxed()", snake_case(n)),
        Type::Array(inner, n) => format!(
            "::proptest::collection::vec({}, {n}).prop_map(|v| {}<[{}; {n}]>::try_from(v).expect(\"vec of the array's length\"){}).boxed()",
            strategy(inner),
            if is_boxed(*n) { "::std::boxed::Box::new(" } else { "" },
            rust_type(inner),
            if is_boxed(*n) { ")" } else { "" },
        ),
        Type::List(inner, max) => {
            let hi = max.map_or(4, |m| m.min(4));
            if contains_struct(inner) {
                format!(
                    "if depth == 0 {{ ::proptest::strategy::Just(::std::vec::Vec::new()).boxed() }} else {{ let depth = depth - 1; ::proptest::collection::vec({}, 0..={hi}).boxed() }}",
                    strategy(inner)
                )
            } else {
                format!("::proptest::collection::vec({}, 0..={hi}).boxed()", strategy(inner))
            }
        }
        prim => format!("::proptest::arbitrary::any::<{}>().boxed()", rust_type(prim)),
    }
}

fn contains_struct(t: &Type) -> bool {
    match t {
        Type::Struct(_) => true,
        Type::Array(i, _) | Type::List(i, _) => contains_struct(i),
        _ => false,
    }
}

fn strategy_fn(out: &mut String, name: &str, fields: &[Field], takes_depth: bool) {
    let (param, prelude) = if takes_depth {
        ("depth: u32", "")
    } else {
        ("", "    let depth: u32 = 3;\n")
    };
    let _ = writeln!(
        out,
        "#[allow(unused_variables)]\npub fn arb_{}({param}) -> ::proptest::strategy::BoxedStrategy<{name}> {{",
        snake_case(name)
    );
    let _ = write!(out, "{prelude}");
    let _ = writeln!(out, "    use ::proptest::strategy::Strategy as _;");
    let strategies: Vec<String> = fields
        .iter()
        .map(|f| {
            let s = strategy(&f.ty);
            if f.optional {
                format!("::proptest::option::of({s}).boxed()")
            } else {
                s
            }
        })
        .collect();
    // proptest tuples go up to 12 elements: group fields by 8.
    let groups: Vec<String> = strategies
        .chunks(8)
        .map(|c| format!("({},)", c.join(",\n        ")))
        .collect();
    let pats: Vec<String> = fields
        .chunks(8)
        .map(|c| {
            format!(
                "({},)",
                c.iter()
                    .map(|f| format!("f_{}", f.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let _ = writeln!(out, "    ({},)", groups.join(",\n    "));
    let _ = writeln!(out, "        .prop_map(|({},)| {name} {{", pats.join(", "));
    for f in fields {
        let _ = writeln!(out, "            {}: f_{},", f.name, f.name);
    }
    let _ = writeln!(out, "        }})\n        .boxed()\n}}\n");
}

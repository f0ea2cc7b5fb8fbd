//! OCaml code generator: one module and its `dune` file per schema.
//!
//! ```
//! let schema = mycelium_codegen::model::parse_str(
//!     "inline.yaml",
//!     "package: demo\nmessages:\n  Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: nonce, type: u64 }\n",
//! )
//! .expect("valid schema");
//! let files = mycelium_codegen::ocaml::generate(&schema).expect("generates");
//! assert_eq!(files[0].0, "demo.ml");
//! assert_eq!(files[1], ("dune".to_string(), "(library\n (name demo))\n".to_string()));
//! ```
//!
//! The output directory becomes a dune library named after the package, using the OCaml
//! standard library only (>= 4.13, 64-bit). Its fixed part (bounded cursor, range-checked
//! writer, frame header, text helpers) lives in `ocaml/runtime.ml` as module `Wire` and is
//! copied in verbatim; the generated part is one recursive type definition for every enum,
//! struct and message, `read_`/`write_`/`_to_text` functions per enum and struct,
//! `encode_`/`decode_`/`_to_text` per message, and a `Message` module with the sum of all
//! messages and the frame functions, and the functor `Contracts`, which makes every message a
//! contract type of a host library (`module C = Desk.Contracts (Mycelium.Contract)`) carrying
//! the schema it belongs to (package, digest, file) without the module depending on that
//! library. The type mapping is in `docs/contracts-languages.md`.
//!
//! This file holds the module's outline ([`generate`]), the names it must be able to hold
//! ([`function_names`]) and its header comment; `types.rs` writes the type definition and
//! maps schema types to OCaml types, `enums.rs` the functions of every enum, `record.rs`
//! those of every struct and the field-by-field bodies that structs and messages share, and
//! `message.rs` the `Message` and `Frame` modules with the frame functions.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::Schema;
use crate::names::snake_case;

mod enums;
mod message;
mod record;
mod types;

use enums::enums;
use message::message_module;
use record::{read_fields, structs, text_fields, write_fields};
use types::types;

const RUNTIME: &str = include_str!("ocaml/runtime.ml");

/// Constructors of the standard library the generated code uses itself.
const RESERVED_VARIANTS: &[&str] = crate::names::RESERVED_VARIANT_NAMES;

/// Generates the OCaml files for `schema`: `(file name relative to the output directory,
/// contents)`: `<package>.ml` and a `dune` file declaring the library `<package>`. The
/// module names its schema file `<package>.yaml`; [`generate_from`] names the real one.
///
/// Fails only on names the module cannot hold (an enum variant named `Some` or `None`, two
/// generated functions with the same name).
pub fn generate(schema: &Schema) -> Result<Vec<(String, String)>, String> {
    generate_from(schema, &format!("{}.yaml", schema.package))
}

/// As [`generate`], for a schema read from `schema_file` (the name the module gives in
/// `Schema.file`, and a host library in the command that regenerates the module).
pub fn generate_from(schema: &Schema, schema_file: &str) -> Result<Vec<(String, String)>, String> {
    check_names(schema)?;
    let mut out = String::with_capacity(RUNTIME.len() + 16384);
    header(&mut out, schema);
    out.push_str(RUNTIME);
    let _ = write!(
        out,
        "\nlet package = {:?}\n\n\
         (** The schema digest ([mycelium-codegen digest]), which peers compare at handshake. *)\n\
         let schema_digest = \"{}\"\n\n\
         (** The schema file this module was generated from. *)\n\
         let schema_file = {:?}\n\n\
         (** The schema's canonical text, whose SHA-256 is [schema_digest]: a journal's header\n    \
         carries it ([Mycelium.Recorder.create ~schema:(schema_digest, schema_canonical)]). *)\n\
         let schema_canonical = {}\n",
        schema.package,
        crate::digest::hex(&crate::digest::digest(schema)),
        schema_file,
        ocaml_str(&crate::digest::canonical(schema))
    );
    types(&mut out, schema);
    enums(&mut out, schema);
    structs(&mut out, schema);
    for m in &schema.messages {
        let ty = snake_case(&m.name);
        let _ = write!(
            out,
            "\n(** Body (no frame header) of a [{ty}]; raises [Wire.Encode_error]. *)\n\
             let encode_{ty} (v : {ty}) : string =\n  let w = Wire.writer () in\n"
        );
        write_fields(&mut out, &m.name, &m.fields, "  ");
        out.push_str("  Wire.contents w\n");
        let _ = write!(
            out,
            "\n(** Reads a [{ty}] body (no frame header); raises [Wire.Decode_error] only. *)\n\
             let decode_{ty} (body : string) : {ty} =\n  let c = Wire.cursor body in\n"
        );
        read_fields(&mut out, &m.name, &ty, &m.fields, "  ");
        let _ = writeln!(out, "\nlet {ty}_to_text (v : {ty}) : string =");
        text_fields(&mut out, &m.name, &m.fields, "  ");
    }
    message_module(&mut out, schema);
    contracts_functor(&mut out, schema);
    let dune = format!("(library\n (name {}))\n", schema.package);
    Ok(vec![
        (format!("{}.ml", schema.package), out),
        ("dune".into(), dune),
    ])
}

fn check_names(schema: &Schema) -> Result<(), String> {
    for e in &schema.enums {
        for (v, _) in &e.variants {
            if RESERVED_VARIANTS.contains(&v.as_str()) {
                return Err(format!(
                    "variant `{}.{v}` would shadow OCaml's option constructor `{v}`; rename it",
                    e.name
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for (n, _) in function_names(schema) {
        if !seen.insert(n.clone()) {
            return Err(format!(
                "two types would both generate the OCaml function `{n}`; rename one of them"
            ));
        }
    }
    Ok(())
}

/// Every top-level function the generated module defines, with the type it belongs to
/// (`None` for the module's own): two equal names would not compile, so the checker
/// refuses schemas that produce them.
pub fn function_names(schema: &Schema) -> Vec<(String, Option<String>)> {
    let mut names = Vec::new();
    for e in &schema.enums {
        let t = snake_case(&e.name);
        for n in [
            format!("read_{t}"),
            format!("write_{t}"),
            format!("{t}_to_text"),
            format!("{t}_to_u32"),
            format!("{t}_of_u32"),
            format!("all_{t}"),
        ] {
            names.push((n, Some(e.name.clone())));
        }
    }
    for s in &schema.structs {
        let t = snake_case(&s.name);
        for n in [
            format!("read_{t}"),
            format!("write_{t}"),
            format!("{t}_to_text"),
        ] {
            names.push((n, Some(s.name.clone())));
        }
    }
    for m in &schema.messages {
        let t = snake_case(&m.name);
        for n in [
            format!("encode_{t}"),
            format!("decode_{t}"),
            format!("{t}_to_text"),
        ] {
            names.push((n, Some(m.name.clone())));
        }
    }
    for n in [
        "package",
        "schema_digest",
        "schema_file",
        "schema_canonical",
        "encode_frame",
        "decode_frame",
    ] {
        names.push((n.to_string(), None));
    }
    names
}

/// The functor `Contracts`: every message as a contract type of the host library given as
/// its argument (`Mycelium.Contract`), with the schema's package, digest and file. The
/// schema's names are read through the module `Schema_of_module`, which no message value
/// can shadow.
fn contracts_functor(out: &mut String, schema: &Schema) {
    out.push_str(
        "\n(** The schema this module was generated from, as the functor [Contracts] reads it. *)\n\
         module Schema_of_module = struct\n  let package = package\n  let digest = schema_digest\n  \
         let file = schema_file\nend\n\n\
         (** Every message as a contract type of a host library, which checks that a bus speaks\n    \
         this schema: [module C = Contracts (Mycelium.Contract)], then [C.quote] etc. *)\n\
         module Contracts (H : sig\n  type 'a t\n\n  \
         val generated :\n    package:string ->\n    schema_digest:string ->\n    \
         schema_file:string ->\n    name:string ->\n    type_id:int ->\n    \
         encode:('a -> string) ->\n    decode:(string -> 'a) ->\n    'a t\nend) =\nstruct\n",
    );
    if schema.messages.is_empty() {
        out.push_str("  let () = ignore H.generated\n");
    }
    for m in &schema.messages {
        let ty = snake_case(&m.name);
        let _ = write!(
            out,
            "  let {ty} : {ty} H.t =\n    H.generated ~package:Schema_of_module.package \
             ~schema_digest:Schema_of_module.digest\n      ~schema_file:Schema_of_module.file \
             ~name:{:?} ~type_id:{} ~encode:encode_{ty}\n      ~decode:decode_{ty}\n\n",
            m.name, m.id
        );
    }
    out.push_str("end\n");
}

/// `text` as an OCaml string literal: printable ASCII as it is, other bytes escaped.
fn ocaml_str(text: &str) -> String {
    let mut lit = String::with_capacity(text.len() + 2);
    lit.push('"');
    for &b in text.as_bytes() {
        match b {
            b'"' => lit.push_str("\\\""),
            b'\\' => lit.push_str("\\\\"),
            b'\n' => lit.push_str("\\n"),
            0x20..=0x7e => lit.push(char::from(b)),
            _ => {
                let _ = write!(lit, "\\x{b:02x}");
            }
        }
    }
    lit.push('"');
    lit
}

fn header(out: &mut String, schema: &Schema) {
    let _ = write!(
        out,
        r#"(* Wire types and codecs of the `{package}` contracts.

   Generated by mycelium-codegen from contracts.yaml; do not edit. OCaml standard library
   only (>= 4.13, 64-bit). Frames and bodies follow docs/wire.md byte for byte.

     let frame = encode_frame ~seq:1L (Message.Quote q) in
     let (f, used) = decode_frame frame in   (* raises Wire.Decode_error only *)

   Type mapping:
     bool -> bool
     u8 u16 u32 i8 i16 i32 -> int (range-checked when encoding)
     u64 i64 -> int64; a u64 is carried as its bit pattern (values >= 2^63 read as
       negative int64; print them with %Lu)
     f32 -> float, rounded to single precision on the wire (Int32.bits_of_float)
     f64 -> float
     string -> string (UTF-8, checked both ways); bytes -> bytes
     list<T> -> T list; [T; N] -> T array (length checked when encoding)
     enum -> variant type; struct, message -> record; optional field -> T option
     Message.t -> one constructor per message, for frames.
   Record labels are shared by every type in this module: annotate records whose labels
   occur in several types, e.g. ({{ ts_ns = 1L; ... }} : heartbeat). *)

"#,
        package = schema.package
    );
}

#[cfg(test)]
mod tests;

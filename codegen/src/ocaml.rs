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
//! messages and the frame functions. The type mapping is in `docs/contracts-languages.md`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::{Field, Schema, Type};
use crate::names::snake_case;

const RUNTIME: &str = include_str!("ocaml/runtime.ml");

/// Constructors of the standard library the generated code uses itself.
const RESERVED_VARIANTS: &[&str] = crate::names::RESERVED_VARIANT_NAMES;

/// Generates the OCaml files for `schema`: `(file name relative to the output directory,
/// contents)`: `<package>.ml` and a `dune` file declaring the library `<package>`.
///
/// Fails only on names the module cannot hold (an enum variant named `Some` or `None`, two
/// generated functions with the same name).
pub fn generate(schema: &Schema) -> Result<Vec<(String, String)>, String> {
    check_names(schema)?;
    let mut out = String::with_capacity(RUNTIME.len() + 16384);
    header(&mut out, schema);
    out.push_str(RUNTIME);
    let _ = write!(
        out,
        "\nlet package = {:?}\n\n\
         (** The schema digest ([mycelium-codegen digest]), which peers compare at handshake. *)\n\
         let schema_digest = \"{}\"\n",
        schema.package,
        crate::digest::hex(&crate::digest::digest(schema))
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
    for n in ["package", "schema_digest", "encode_frame", "decode_frame"] {
        names.push((n.to_string(), None));
    }
    names
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

/// A plain comment, not a `(** *)` docstring: docstrings between the `and`s of one
/// recursive type definition are ambiguous to the compiler (warning 50).
fn doc_comment(out: &mut String, doc: Option<&str>, indent: &str) {
    if let Some(doc) = doc {
        // Inside a comment the lexer still reads string literals, `"..."` and the quoted
        // `{|...|}`, `{id|...|id}` and `{%ext|...|}`: a brace followed by a space starts none.
        let text = doc
            .trim()
            .replace("(*", "( *")
            .replace("*)", "* )")
            .replace('"', "'");
        let mut spaced = String::with_capacity(text.len() + 8);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            spaced.push(c);
            if c == '{' && chars.peek().is_some_and(|n| !n.is_whitespace()) {
                spaced.push(' ');
            }
        }
        let text = spaced;
        let _ = writeln!(
            out,
            "{indent}(* {} *)",
            text.lines().collect::<Vec<_>>().join(" ")
        );
    }
}

fn types(out: &mut String, schema: &Schema) {
    // One recursive definition, so structs can refer to each other in any order; labels
    // repeated across records (`ts_ns`) are expected, hence warning 30 off for it.
    out.push_str("\n[@@@warning \"-30\"]\n\n");
    let mut first = true;
    let mut intro = |out: &mut String| {
        out.push_str(if first { "type " } else { "and " });
        first = false;
    };
    for e in &schema.enums {
        doc_comment(out, e.doc.as_deref(), "");
        intro(out);
        let _ = write!(out, "{} =", snake_case(&e.name));
        for (v, value) in &e.variants {
            let _ = write!(out, "\n  | {v} (* {value} *)");
        }
        out.push('\n');
    }
    let records = schema
        .structs
        .iter()
        .map(|s| (&s.name, s.doc.as_deref(), &s.fields))
        .chain(
            schema
                .messages
                .iter()
                .map(|m| (&m.name, m.doc.as_deref(), &m.fields)),
        );
    for (name, doc, fields) in records {
        doc_comment(out, doc, "");
        intro(out);
        let ty = snake_case(name);
        if fields.is_empty() {
            let _ = writeln!(out, "{ty} = unit");
            continue;
        }
        let _ = writeln!(out, "{ty} = {{");
        for f in fields {
            doc_comment(out, f.doc.as_deref(), "  ");
            let opt = if f.optional { " option" } else { "" };
            let _ = writeln!(out, "  {} : {}{opt};", f.name, ocaml_type(&f.ty));
        }
        out.push_str("}\n");
    }
    out.push_str("\n[@@@warning \"+30\"]\n");
}

fn enums(out: &mut String, schema: &Schema) {
    for e in &schema.enums {
        let t = snake_case(&e.name);
        let _ = write!(out, "\nlet {t}_to_u32 (v : {t}) : int =\n  match v with");
        for (v, value) in &e.variants {
            let _ = write!(out, "\n  | {v} -> {value}");
        }
        let _ = write!(
            out,
            "\n\nlet {t}_of_u32 (what : string) (n : int) : {t} =\n  match n with"
        );
        for (v, value) in &e.variants {
            let _ = write!(out, "\n  | {value} -> {v}");
        }
        let _ = write!(
            out,
            "\n  | _ ->\n    Wire.fail \"UnknownEnumValue\"\n      (Printf.sprintf \"%s: %d is not a {} value\" what n)\n",
            e.name
        );
        let variants: Vec<&str> = e.variants.iter().map(|(v, _)| v.as_str()).collect();
        let _ = write!(
            out,
            "\n(** Every variant, in declaration order. *)\nlet all_{t} : {t} list = [ {} ]\n",
            variants.join("; ")
        );
        let _ = write!(
            out,
            "\nlet {t}_to_text (v : {t}) : string =\n  match v with"
        );
        for (v, _) in &e.variants {
            let _ = write!(out, "\n  | {v} -> {v:?}");
        }
        let _ = write!(
            out,
            "\n\nlet read_{t} (c : Wire.cursor) (what : string) : {t} =\n  {t}_of_u32 what (Wire.read_u32 c what)\n\
             \nlet write_{t} (w : Wire.writer) (_what : string) (v : {t}) : unit =\n  \
             Wire.add_i32 w (Int32.of_int ({t}_to_u32 v))\n"
        );
    }
}

fn structs(out: &mut String, schema: &Schema) {
    if schema.structs.is_empty() {
        return;
    }
    out.push_str("\n[@@@warning \"-39\"]\n");
    for (i, s) in schema.structs.iter().enumerate() {
        let t = snake_case(&s.name);
        let intro = if i == 0 { "let rec" } else { "and" };
        let _ = write!(
            out,
            "\n{intro} read_{t} (c : Wire.cursor) (what : string) : {t} =\n  let c = Wire.sub_struct c what in\n"
        );
        read_fields(out, &s.name, &t, &s.fields, "  ");
        let _ = write!(
            out,
            "\nand write_{t} (w : Wire.writer) (what : string) (v : {t}) : unit =\n  let mark = Wire.begin_len w in\n"
        );
        write_fields(out, &s.name, &s.fields, "  ");
        out.push_str("  Wire.end_len w what mark\n");
        let _ = writeln!(out, "\nand {t}_to_text (v : {t}) : string =");
        text_fields(out, &s.name, &s.fields, "  ");
    }
    out.push_str("\n[@@@warning \"+39\"]\n");
}

/// Statements writing every field of `v` (a record of type `name`) to `w`, in tag order.
fn write_fields(out: &mut String, name: &str, fields: &[Field], ind: &str) {
    let mut sorted: Vec<&Field> = fields.iter().collect();
    sorted.sort_by_key(|f| f.tag);
    if fields.is_empty() {
        let _ = writeln!(out, "{ind}ignore (v : unit);");
    }
    for f in sorted {
        let what = format!("{name}.{}", f.name);
        let wire = f.ty.wire_type() as u8;
        let writer = writer_expr(&f.ty);
        if f.optional {
            let _ = writeln!(
                out,
                "{ind}(match v.{} with\n{ind} | None -> ()\n{ind} | Some x ->\n{ind}   Wire.write_key w {} {wire};\n{ind}   {writer} w {what:?} x);",
                f.name, f.tag
            );
        } else {
            let _ = writeln!(
                out,
                "{ind}Wire.write_key w {} {wire};\n{ind}{writer} w {what:?} v.{};",
                f.tag, f.name
            );
        }
    }
}

/// Statements reading the fields of a `name` from cursor `c` up to its end, then the record.
fn read_fields(out: &mut String, name: &str, ty: &str, fields: &[Field], ind: &str) {
    for f in fields {
        let _ = writeln!(out, "{ind}let f_{} = ref None in", f.name);
    }
    let _ = writeln!(
        out,
        "{ind}let finished = ref false in\n{ind}while not !finished do"
    );
    let _ = writeln!(out, "{ind}  match Wire.next_key c {name:?} with");
    let _ = writeln!(out, "{ind}  | None -> finished := true");
    if fields.is_empty() {
        let _ = writeln!(out, "{ind}  | Some (tag, wire) ->");
        let _ = writeln!(
            out,
            "{ind}    Wire.skip c wire (Printf.sprintf \"%s unknown tag %d\" {name:?} tag)"
        );
    } else {
        let _ = writeln!(out, "{ind}  | Some (tag, wire) -> (");
        let _ = writeln!(out, "{ind}    match tag with");
        for f in fields {
            let what = format!("{name}.{}", f.name);
            let _ = writeln!(
                out,
                "{ind}    | {} ->\n{ind}      Wire.field {what:?} ~expected:{} wire (Option.is_some !f_{});\n{ind}      f_{} := Some ({} c {what:?})",
                f.tag,
                f.ty.wire_type() as u8,
                f.name,
                f.name,
                reader_expr(&f.ty)
            );
        }
        let _ = writeln!(
            out,
            "{ind}    | _ -> Wire.skip c wire (Printf.sprintf \"%s unknown tag %d\" {name:?} tag))"
        );
    }
    let _ = writeln!(out, "{ind}done;");
    if fields.is_empty() {
        let _ = writeln!(out, "{ind}()");
        return;
    }
    let _ = writeln!(out, "{ind}({{");
    for f in fields {
        if f.optional {
            let _ = writeln!(out, "{ind}   {} = !f_{};", f.name, f.name);
        } else {
            let _ = writeln!(
                out,
                "{ind}   {} = Wire.required \"{name}.{}\" !f_{};",
                f.name, f.name, f.name
            );
        }
    }
    let _ = writeln!(out, "{ind} }} : {ty})");
}

/// The expression printing a `name` record `v` in canonical text.
fn text_fields(out: &mut String, name: &str, fields: &[Field], ind: &str) {
    if fields.is_empty() {
        let _ = writeln!(out, "{ind}ignore (v : unit);\n{ind}\"{name}{{}}\"");
        return;
    }
    let _ = writeln!(
        out,
        "{ind}\"{name}{{\"\n{ind}^ String.concat \", \"\n{ind}    ["
    );
    for f in fields {
        let text = text_expr(&f.ty);
        if f.optional {
            let _ = writeln!(
                out,
                "{ind}      \"{}=\" ^ Wire.text_option {text} v.{};",
                f.name, f.name
            );
        } else {
            let _ = writeln!(out, "{ind}      \"{}=\" ^ {text} v.{};", f.name, f.name);
        }
    }
    let _ = writeln!(out, "{ind}    ]\n{ind}^ \"}}\"");
}

fn message_module(out: &mut String, schema: &Schema) {
    out.push_str(
        "\n(** Every message of the schema, as carried by a frame. *)\nmodule Message = struct\n",
    );
    if schema.messages.is_empty() {
        out.push_str("  type t = |\n\n  let type_id (m : t) : int = match m with _ -> .\n  let topic (m : t) : string = match m with _ -> .\n  let name (m : t) : string = match m with _ -> .\n  let encode (m : t) : string = match m with _ -> .\n  let to_text (m : t) : string = match m with _ -> .\n");
    } else {
        out.push_str("  type t =");
        for m in &schema.messages {
            let _ = write!(out, "\n    | {} of {}", m.name, snake_case(&m.name));
        }
        out.push('\n');
        let arms = |out: &mut String,
                    func: &str,
                    ret: &str,
                    doc: &str,
                    arm: &dyn Fn(&crate::model::Message) -> String| {
            let _ = write!(
                out,
                "\n  (** {doc} *)\n  let {func} (m : t) : {ret} =\n    match m with"
            );
            for m in &schema.messages {
                let body = arm(m);
                let var = if body.ends_with(" v") { "v" } else { "_" };
                let _ = write!(out, "\n    | {} {var} -> {body}", m.name);
            }
            out.push('\n');
        };
        arms(
            out,
            "type_id",
            "int",
            "The [u16] type id written in the frame header.",
            &|m| format!("{}", m.id),
        );
        arms(
            out,
            "topic",
            "string",
            "The topic the message is published on.",
            &|m| format!("{:?}", m.topic),
        );
        arms(
            out,
            "name",
            "string",
            "The message's name in contracts.yaml.",
            &|m| format!("{:?}", m.name),
        );
        arms(
            out,
            "encode",
            "string",
            "The body, without frame header.",
            &|m| format!("encode_{} v", snake_case(&m.name)),
        );
        arms(
            out,
            "to_text",
            "string",
            "Canonical text (docs/contracts-languages.md).",
            &|m| format!("{}_to_text v", snake_case(&m.name)),
        );
    }
    out.push_str(
        "\n  (** Decodes a body whose type id is known; raises [Wire.Decode_error] only. *)\n  \
         let decode (type_id : int) (body : string) : t =\n    match type_id with",
    );
    for m in &schema.messages {
        let _ = write!(
            out,
            "\n    | {} -> {} (decode_{} body)",
            m.id,
            m.name,
            snake_case(&m.name)
        );
    }
    out.push_str(
        "\n    | _ ->\n      Wire.fail \"UnknownType\"\n        \
         (Printf.sprintf \"type id %d is not a message of this schema\" type_id)\n",
    );
    let ids: Vec<String> = schema.messages.iter().map(|m| m.id.to_string()).collect();
    let _ = write!(
        out,
        "\n  (** Every type id, in declaration order. *)\n  let type_ids : int list = [ {} ]\nend\n",
        ids.join("; ")
    );
    out.push_str(
        r#"
(** One decoded frame: the header fields and the message it carries. *)
module Frame = struct
  type t = { flags : int; seq : int64; ts_ns : int64; message : Message.t }
end

(** Header plus body, ready to write to a connection; raises [Wire.Encode_error]. *)
let encode_frame ?(seq = 0L) ?(ts_ns = 0L) ?(flags = 0) (m : Message.t) : string =
  let body = Message.encode m in
  let w = Wire.writer () in
  Wire.write_frame w ~type_id:(Message.type_id m) ~flags ~seq ~ts_ns body;
  Wire.contents w

(** Decodes the frame starting at [pos] (default 0) of [s]. Returns it and the number of
    bytes it took, so a buffer of several frames can be read in a loop. Raises
    [Wire.Decode_error] (and nothing else) on any malformed input. *)
let decode_frame ?(max_frame_size = Wire.default_max_frame_size) ?(pos = 0) (s : string) :
    Frame.t * int =
  let h = Wire.read_header ~max_frame_size s pos in
  let body = String.sub s (pos + Wire.header_len) h.Wire.body_len in
  let message = Message.decode h.Wire.type_id body in
  ( { Frame.flags = h.Wire.flags; seq = h.Wire.seq; ts_ns = h.Wire.ts_ns; message },
    Wire.header_len + h.Wire.body_len )
"#,
    );
}

/// The OCaml type of a (non-optional) field of type `ty`.
fn ocaml_type(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 | Type::U16 | Type::U32 | Type::I8 | Type::I16 | Type::I32 => "int".into(),
        Type::U64 | Type::I64 => "int64".into(),
        Type::F32 | Type::F64 => "float".into(),
        Type::String => "string".into(),
        Type::Bytes => "bytes".into(),
        Type::Array(t, _) => format!("{} array", wrap(&ocaml_type(t))),
        Type::List(t, _) => format!("{} list", wrap(&ocaml_type(t))),
        Type::Struct(n) | Type::Enum(n) => snake_case(n),
    }
}

fn wrap(t: &str) -> String {
    if t.contains(' ') {
        format!("({t})")
    } else {
        t.to_string()
    }
}

/// Bytes one element takes inside a list at least: its packed width, or its 4-byte length.
fn min_width(ty: &Type) -> usize {
    ty.fixed_width().unwrap_or(4)
}

/// A function `Wire.cursor -> string -> value` reading one `ty`.
fn reader_expr(ty: &Type) -> String {
    match ty {
        Type::Bool => "Wire.read_bool".into(),
        Type::U8 => "Wire.read_u8".into(),
        Type::U16 => "Wire.read_u16".into(),
        Type::U32 => "Wire.read_u32".into(),
        Type::U64 => "Wire.read_u64".into(),
        Type::I8 => "Wire.read_i8".into(),
        Type::I16 => "Wire.read_i16".into(),
        Type::I32 => "Wire.read_i32".into(),
        Type::I64 => "Wire.read_i64".into(),
        Type::F32 => "Wire.read_f32".into(),
        Type::F64 => "Wire.read_f64".into(),
        Type::String => "Wire.read_string".into(),
        Type::Bytes => "Wire.read_bytes".into(),
        Type::Array(t, n) => format!(
            "(Wire.read_array ~len:{n} ~width:{} {})",
            min_width(t),
            reader_expr(t)
        ),
        Type::List(t, m) => format!(
            "(Wire.read_list ~max_len:{} ~width:{} {})",
            opt_int(*m),
            min_width(t),
            reader_expr(t)
        ),
        Type::Struct(n) | Type::Enum(n) => format!("read_{}", snake_case(n)),
    }
}

/// A function `Wire.writer -> string -> value -> unit` writing one `ty`.
fn writer_expr(ty: &Type) -> String {
    match ty {
        Type::Bool => "Wire.write_bool".into(),
        Type::U8 => "Wire.write_u8".into(),
        Type::U16 => "Wire.write_u16".into(),
        Type::U32 => "Wire.write_u32".into(),
        Type::U64 => "Wire.write_u64".into(),
        Type::I8 => "Wire.write_i8".into(),
        Type::I16 => "Wire.write_i16".into(),
        Type::I32 => "Wire.write_i32".into(),
        Type::I64 => "Wire.write_i64".into(),
        Type::F32 => "Wire.write_f32".into(),
        Type::F64 => "Wire.write_f64".into(),
        Type::String => "Wire.write_string".into(),
        Type::Bytes => "Wire.write_bytes".into(),
        Type::Array(t, n) => format!("(Wire.write_array ~len:{n} {})", writer_expr(t)),
        Type::List(t, m) => {
            format!(
                "(Wire.write_list ~max_len:{} {})",
                opt_int(*m),
                writer_expr(t)
            )
        }
        Type::Struct(n) | Type::Enum(n) => format!("write_{}", snake_case(n)),
    }
}

/// A function `value -> string` printing one `ty` in canonical text.
fn text_expr(ty: &Type) -> String {
    match ty {
        Type::Bool => "Wire.text_bool".into(),
        Type::U8 | Type::U16 | Type::U32 | Type::I8 | Type::I16 | Type::I32 => {
            "Wire.text_int".into()
        }
        Type::U64 => "Wire.text_u64".into(),
        Type::I64 => "Wire.text_i64".into(),
        Type::F32 => "Wire.text_f32".into(),
        Type::F64 => "Wire.text_f64".into(),
        Type::String => "Wire.text_string".into(),
        Type::Bytes => "Wire.text_bytes".into(),
        Type::Array(t, _) => format!("(Wire.text_array {})", text_expr(t)),
        Type::List(t, _) => format!("(Wire.text_list {})", text_expr(t)),
        Type::Struct(n) | Type::Enum(n) => format!("{}_to_text", snake_case(n)),
    }
}

fn opt_int(v: Option<u32>) -> String {
    match v {
        Some(n) => format!("(Some {n})"),
        None => "None".into(),
    }
}

#[cfg(test)]
mod tests;

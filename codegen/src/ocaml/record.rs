//! Every struct's reader, writer and printer, and the field-by-field bodies that structs and
//! messages share: fields written in tag order, read up to the record's end, printed in
//! canonical text, each through the `Wire` function for its type.

use std::fmt::Write as _;

use crate::model::{Field, Schema, Type};
use crate::names::snake_case;

pub(super) fn structs(out: &mut String, schema: &Schema) {
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
pub(super) fn write_fields(out: &mut String, name: &str, fields: &[Field], ind: &str) {
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

/// Statements reading the fields of a `name` from cursor `c` up to its end, then the record:
/// first in the canonical layout every encoder writes (each field in tag order, an optional
/// one present or not), with no field table; at the first key that departs from it, again
/// from the start field by field ([`read_any_order`]), whose checks and errors are the
/// codec's. Both read the same bytes in the same order up to the departure, so a body fails
/// with the same error either way.
pub(super) fn read_fields(out: &mut String, name: &str, ty: &str, fields: &[Field], ind: &str) {
    if fields.is_empty() {
        read_any_order(out, name, ty, fields, ind);
        return;
    }
    let mut sorted: Vec<&Field> = fields.iter().collect();
    sorted.sort_by_key(|f| f.tag);
    let _ = writeln!(
        out,
        "{ind}let start = c.pos in
{ind}match"
    );
    for f in sorted {
        let what = format!("{name}.{}", f.name);
        let key = (u32::from(f.tag) << 3) | f.ty.wire_type() as u32;
        let reader = reader_expr(&f.ty);
        if f.optional {
            let _ = writeln!(
                out,
                "{ind}  let f_{} = if Wire.has_key c {key} then Some ({reader} c {what:?}) else None in",
                f.name
            );
        } else {
            let _ = writeln!(
                out,
                "{ind}  Wire.expect_key c {key};\n{ind}  let f_{} = {reader} c {what:?} in",
                f.name
            );
        }
    }
    let _ = writeln!(out, "{ind}  Wire.expect_end c;\n{ind}  ({{");
    for f in fields {
        let _ = writeln!(out, "{ind}     {} = f_{};", f.name, f.name);
    }
    let _ = writeln!(
        out,
        "{ind}   }} : {ty})\n{ind}with\n{ind}| v -> v\n{ind}| exception Wire.Off_canonical ->\n{ind}  c.pos <- start;"
    );
    read_any_order(out, name, ty, fields, &format!("{ind}  "));
}

/// Statements reading the fields of a `name` from cursor `c` up to its end, in any order,
/// then the record.
fn read_any_order(out: &mut String, name: &str, ty: &str, fields: &[Field], ind: &str) {
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
pub(super) fn text_fields(out: &mut String, name: &str, fields: &[Field], ind: &str) {
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

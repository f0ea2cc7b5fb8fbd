//! One struct or message: its type, its encoder and its decoder, field by field.

use std::fmt::Write as _;

use super::{
    doc_or, field_type, is_boxed, is_fixed, max_arg, rust_type, serde_attrs, wire_type, C,
};
use crate::model::{Field, Type};

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

pub(super) fn record(out: &mut String, name: &str, doc: &Option<String>, fields: &[Field]) {
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

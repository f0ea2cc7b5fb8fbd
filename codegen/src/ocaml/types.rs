//! The one recursive type definition of every enum, struct and message, and the OCaml type
//! of a field.

use std::fmt::Write as _;

use crate::model::{Schema, Type};
use crate::names::snake_case;

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

pub(super) fn types(out: &mut String, schema: &Schema) {
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

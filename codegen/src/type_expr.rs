//! The grammar of a field's `type:` string, before names are resolved.
//!
//! ```text
//! type  := prim | Name | "[" type ";" N "]" | "list<" type ">"
//! prim  := bool | u8 | u16 | u32 | u64 | i8 | i16 | i32 | i64 | f32 | f64 | string | bytes
//! ```
//! Spaces are allowed around the punctuation.

use crate::model::Type;

/// A parsed, unresolved type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeExpr {
    /// A built-in scalar type.
    Prim(Type),
    /// A name to look up among the declared structs and enums.
    Named(String),
    /// `[T; N]`.
    Array(Box<TypeExpr>, u64),
    /// `list<T>`.
    List(Box<TypeExpr>),
}

/// Most lists and arrays one type may nest (`list<list<u8>>` nests 2): the parser, the
/// checker and every generator walk a type recursively, and no contract needs more.
pub const MAX_TYPE_NESTING: usize = 8;

/// Parses a type string; the error is a message and a hint.
pub fn parse(text: &str) -> Result<TypeExpr, (String, String)> {
    let mut p = P {
        s: text,
        i: 0,
        depth: 0,
    };
    let t = p.ty()?;
    p.ws();
    if p.i != p.s.len() {
        return Err((
            format!("unexpected `{}` after the type in `{text}`", &p.s[p.i..]),
            "write one type such as `u64`, `[u8; 16]`, `list<Level>` or a declared name".into(),
        ));
    }
    Ok(t)
}

struct P<'a> {
    s: &'a str,
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with([' ', '\t']) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.ws();
        let start = self.i;
        while let Some(c) = self.s[self.i..].chars().next() {
            if c.is_alphanumeric() || c == '_' {
                self.i += c.len_utf8();
            } else {
                break;
            }
        }
        &self.s[start..self.i]
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), (String, String)> {
        if self.eat(c) {
            Ok(())
        } else {
            Err((
                format!("expected `{c}` {what} in type `{}`", self.s),
                "arrays are written `[T; N]` and lists `list<T>`".into(),
            ))
        }
    }

    fn ty(&mut self) -> Result<TypeExpr, (String, String)> {
        self.depth += 1;
        let t = self.ty_inner();
        self.depth -= 1;
        t
    }

    fn nest(&self) -> Result<(), (String, String)> {
        if self.depth > MAX_TYPE_NESTING {
            let shown: String = self.s.chars().take(40).collect();
            return Err((
                format!(
                    "type `{shown}...` nests lists and arrays more than {MAX_TYPE_NESTING} deep"
                ),
                "wrap the inner part in a struct and use the struct as the element type".into(),
            ));
        }
        Ok(())
    }

    fn ty_inner(&mut self) -> Result<TypeExpr, (String, String)> {
        if self.eat('[') {
            self.nest()?;
            let inner = self.ty()?;
            self.expect(';', "after the array element type")?;
            let n = self.word().to_string();
            let n: u64 = n.parse().map_err(|_| {
                (
                    format!("array size `{n}` in `{}` is not a whole number", self.s),
                    "write the size as a positive integer, e.g. `[u8; 16]`".to_string(),
                )
            })?;
            self.expect(']', "to close the array")?;
            return Ok(TypeExpr::Array(Box::new(inner), n));
        }
        let w = self.word().to_string();
        let prim = match w.as_str() {
            "bool" => Some(Type::Bool),
            "u8" => Some(Type::U8),
            "u16" => Some(Type::U16),
            "u32" => Some(Type::U32),
            "u64" => Some(Type::U64),
            "i8" => Some(Type::I8),
            "i16" => Some(Type::I16),
            "i32" => Some(Type::I32),
            "i64" => Some(Type::I64),
            "f32" => Some(Type::F32),
            "f64" => Some(Type::F64),
            "string" => Some(Type::String),
            "bytes" => Some(Type::Bytes),
            _ => None,
        };
        if let Some(p) = prim {
            return Ok(TypeExpr::Prim(p));
        }
        match w.as_str() {
            "" => Err((
                format!("missing type in `{}`", self.s),
                "write a type such as `u64`, `string`, `[u8; 16]` or `list<Level>`".into(),
            )),
            "list" => {
                self.expect('<', "after `list`")?;
                self.nest()?;
                let inner = self.ty()?;
                self.expect('>', "to close `list<...>`")?;
                Ok(TypeExpr::List(Box::new(inner)))
            }
            "optional" | "option" | "Option" => Err((
                format!(
                    "`{}` is not a type: optional is a property of the field",
                    self.s
                ),
                "write the inner type and add `optional: true` to the field".into(),
            )),
            "Vec" | "vec" | "array" | "List" => Err((
                format!("`{w}` is not a schema type"),
                "lists are written `list<T>` and fixed arrays `[T; N]`".into(),
            )),
            "str" | "String" => Err((format!("`{w}` is not a schema type"), "use `string`".into())),
            "f16" | "u128" | "i128" | "usize" | "isize" | "int" | "float" | "double" | "char" => {
                Err((
                    format!("`{w}` is not a schema type"),
                    "use one of bool, u8..u64, i8..i64, f32, f64, string, bytes".into(),
                ))
            }
            _ => Ok(TypeExpr::Named(w)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_types() {
        assert_eq!(
            parse("list< [ u8 ; 4 ] >").unwrap(),
            TypeExpr::List(Box::new(TypeExpr::Array(
                Box::new(TypeExpr::Prim(Type::U8)),
                4
            )))
        );
        assert_eq!(parse("Level").unwrap(), TypeExpr::Named("Level".into()));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let ok = format!(
            "{}u8{}",
            "list<".repeat(MAX_TYPE_NESTING),
            ">".repeat(MAX_TYPE_NESTING)
        );
        assert!(parse(&ok).is_ok());
        for n in [MAX_TYPE_NESTING + 1, 5000, 200_000] {
            let deep = format!("{}u8{}", "list<".repeat(n), ">".repeat(n));
            let (msg, _) = parse(&deep).unwrap_err();
            assert!(msg.contains("more than 8 deep"), "{msg}");
            let arrays = format!("{}u8{}", "[".repeat(n), "; 2]".repeat(n));
            assert!(parse(&arrays).is_err());
        }
    }

    #[test]
    fn rejects_malformed_types() {
        for bad in [
            "",
            "list<u8",
            "[u8; ]",
            "[u8 4]",
            "u8 u8",
            "optional<u8>",
            "[u8; -1]",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

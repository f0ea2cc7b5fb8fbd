//! Which names a schema may use: the identifier rules and keyword lists of Rust, Python and
//! OCaml, and the case conventions generators rely on.
//!
//! Types, enum variants: `UpperCamelCase` (`^[A-Z][A-Za-z0-9]*$`), which is also how OCaml
//! spells constructors and modules. Fields and the package: `snake_case`
//! (`^[a-z][a-z0-9_]*$`), which is how OCaml spells record fields and values. Generators
//! that need a lowercase spelling of a type name (OCaml type names, Python modules) use
//! [`snake_case`], and the checker makes sure those spellings are distinct and not keywords
//! either.

/// Rust strict, reserved and weak keywords (2015-2024 editions).
pub const RUST_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "union",
    "macro_rules",
    "raw",
    "safe",
];

/// Python 3 keywords and soft keywords (`match`, `case`, `type`, `_`).
pub const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case", "type", "_",
];

/// OCaml keywords (OCaml 5), including the infix-operator keywords.
pub const OCAML_KEYWORDS: &[&str] = &[
    "and",
    "as",
    "assert",
    "asr",
    "begin",
    "class",
    "constraint",
    "do",
    "done",
    "downto",
    "effect",
    "else",
    "end",
    "exception",
    "external",
    "false",
    "for",
    "fun",
    "function",
    "functor",
    "if",
    "in",
    "include",
    "inherit",
    "initializer",
    "land",
    "lazy",
    "let",
    "lor",
    "lsl",
    "lsr",
    "lxor",
    "match",
    "method",
    "mod",
    "module",
    "mutable",
    "new",
    "nonrec",
    "object",
    "of",
    "open",
    "or",
    "private",
    "rec",
    "sig",
    "struct",
    "then",
    "to",
    "true",
    "try",
    "type",
    "val",
    "virtual",
    "when",
    "while",
    "with",
];

/// Type names the generated code itself relies on, so a declared struct, enum or message
/// may not take them (in their `UpperCamelCase` or [`snake_case`] spelling): Rust prelude
/// types, Python `typing`/`enum`/`dataclasses` names and OCaml's predefined types.
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    // Rust
    "Self",
    "String",
    "Vec",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Box",
    "AnyMessage",
    // Python: the generated module's own names, and the built-ins its runtime uses
    "Message",
    "Frame",
    "DecodeError",
    "EncodeError",
    "ClassVar",
    "MAGIC",
    "VERSION",
    "PACKAGE",
    "REGISTRY",
    "Exception",
    "ValueError",
    "OverflowError",
    "NotImplementedError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "List",
    "Optional",
    "Dict",
    "Tuple",
    "Any",
    "Enum",
    "IntEnum",
    "Self",
    "Bytes",
    // OCaml predefined types (compared with the snake_case spelling)
    "int",
    "int32",
    "int64",
    "float",
    "string",
    "bytes",
    "bool",
    "char",
    "unit",
    "list",
    "array",
    "option",
    "result",
    "exn",
    "ref",
    "format",
    "lazy_t",
    "nativeint",
    "t",
];

/// Field names a message may not take: the methods of every generated Python message
/// class (`encode`, `decode`, `encode_frame`).
pub const RESERVED_MESSAGE_FIELD_NAMES: &[&str] = &["encode", "decode", "encode_frame"];

/// Enum variant names no enum may take: OCaml's option constructors, which the generated
/// code uses unqualified.
pub const RESERVED_VARIANT_NAMES: &[&str] = &["Some", "None"];

/// Which language(s) reserve `name`, for an error message; empty when none does.
pub fn keyword_owners(name: &str) -> Vec<&'static str> {
    let mut owners = Vec::new();
    if RUST_KEYWORDS.contains(&name) {
        owners.push("Rust");
    }
    if PYTHON_KEYWORDS.contains(&name) {
        owners.push("Python");
    }
    if OCAML_KEYWORDS.contains(&name) {
        owners.push("OCaml");
    }
    owners
}

/// `^[A-Z][A-Za-z0-9]*$`.
pub fn is_upper_camel(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// `^[a-z][a-z0-9_]*$`.
pub fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `UpperCamelCase` to `snake_case`: an underscore goes before an uppercase letter that
/// follows a lowercase letter or digit, or that starts a new word after an acronym
/// (`OrderAck` -> `order_ack`, `HTTPServer` -> `http_server`, `Level2` -> `level2`).
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let after_lower = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            let acronym_end = prev.is_some_and(|p| p.is_ascii_uppercase())
                && next.is_some_and(|n| n.is_ascii_lowercase());
            if after_lower || acronym_end {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `snake_case` to `UpperCamelCase` (`order_ack` -> `OrderAck`).
pub fn upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_examples() {
        assert_eq!(snake_case("OrderAck"), "order_ack");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("Level2Book"), "level2_book");
        assert_eq!(snake_case("Quote"), "quote");
        assert_eq!(snake_case("ABC"), "abc");
    }

    #[test]
    fn case_rules() {
        assert!(is_upper_camel("Quote"));
        assert!(!is_upper_camel("quote"));
        assert!(!is_upper_camel("Quo_te"));
        assert!(is_snake("ts_ns"));
        assert!(!is_snake("TsNs"));
        assert!(!is_snake("_x"));
        assert!(!is_snake(""));
        assert_eq!(upper_camel("order_ack"), "OrderAck");
    }

    #[test]
    fn keyword_lists_cover_each_language() {
        assert_eq!(keyword_owners("type"), vec!["Rust", "Python", "OCaml"]);
        assert_eq!(keyword_owners("def"), vec!["Python"]);
        assert_eq!(keyword_owners("method"), vec!["OCaml"]);
        assert_eq!(keyword_owners("None"), vec!["Python"]);
        assert!(keyword_owners("price").is_empty());
    }
}

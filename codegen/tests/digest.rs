//! The digest ignores presentation and changes with meaning.

use mycelium_codegen::{digest, model};

const BASE: &str = r#"
package: p
enums:
  Side:
    doc: A side.
    variants:
      - { name: Buy, value: 1 }
      - { name: Sell, value: 2 }
structs:
  Level:
    fields:
      - { name: price, type: f64, tag: 1 }
      - { name: qty, type: f64, tag: 2 }
messages:
  Quote:
    id: 100
    topic: md.quote
    doc: Top of book.
    fields:
      - { name: ts_ns, type: u64, tag: 1 }
      - { name: side, type: Side, tag: 2 }
      - { name: levels, type: "list<Level>", max_len: 10, tag: 3 }
      - { name: key, type: "[u8; 16]", tag: 4 }
      - { name: venue, type: string, tag: 5, optional: true }
  Ping:
    id: 1
    topic: sys.ping
    fields:
      - { name: n, type: u32, tag: 1 }
"#;

fn digest_of(text: &str) -> [u8; 32] {
    let schema = model::parse_str("t.yaml", text).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    digest::digest(&schema)
}

#[test]
fn presentation_does_not_change_the_digest() {
    let base = digest_of(BASE);
    let same = [
        // comments and blank lines
        BASE.replace("package: p", "# the package\npackage: p   # trailing\n\n"),
        // docs changed, removed, added
        BASE.replace("doc: Top of book.", "doc: Best bid and offer.")
            .replace("    doc: A side.\n", "")
            .replace("    topic: sys.ping\n", "    topic: sys.ping\n    doc: New doc.\n"),
        // key order inside mappings, flow vs block style
        BASE.replace(
            "{ name: ts_ns, type: u64, tag: 1 }",
            "{ tag: 1, type: u64, name: ts_ns }",
        )
        .replace(
            "      - { name: n, type: u32, tag: 1 }",
            "      - name: n\n        tag: 1\n        type: u32",
        ),
        // declaration order of messages, fields and variants
        BASE.replace(
            "      - { name: ts_ns, type: u64, tag: 1 }\n      - { name: side, type: Side, tag: 2 }",
            "      - { name: side, type: Side, tag: 2 }\n      - { name: ts_ns, type: u64, tag: 1 }",
        )
        .replace(
            "      - { name: Buy, value: 1 }\n      - { name: Sell, value: 2 }",
            "      - { name: Sell, value: 2 }\n      - { name: Buy, value: 1 }",
        ),
        // spelling of types and quoting
        BASE.replace("\"list<Level>\"", "'list< Level >'")
            .replace("\"[u8; 16]\"", "\"[ u8 ;16 ]\""),
        // an informative version number, and `optional: false` spelled out
        BASE.replace("package: p", "package: p\nversion: 7")
            .replace("{ name: n, type: u32, tag: 1 }", "{ name: n, type: u32, tag: 1, optional: false }"),
        // implicit tags equal to the explicit ones
        BASE.replace("{ name: n, type: u32, tag: 1 }", "{ name: n, type: u32 }"),
    ];
    for (i, text) in same.iter().enumerate() {
        assert_eq!(
            digest_of(text),
            base,
            "variant {i} changed the digest:\n{text}"
        );
    }
}

#[test]
fn meaning_changes_the_digest() {
    let base = digest_of(BASE);
    let changed = [
        ("package name", BASE.replace("package: p", "package: q")),
        ("message name", BASE.replace("  Ping:", "  Pong:")),
        ("type id", BASE.replace("id: 1\n", "id: 2\n")),
        ("topic", BASE.replace("topic: md.quote", "topic: md.bbo")),
        ("field name", BASE.replace("name: ts_ns", "name: ts")),
        ("tag", BASE.replace("{ name: venue, type: string, tag: 5", "{ name: venue, type: string, tag: 6")),
        ("type", BASE.replace("{ name: n, type: u32", "{ name: n, type: u64")),
        ("optionality", BASE.replace("tag: 5, optional: true", "tag: 5")),
        ("max_len", BASE.replace("max_len: 10", "max_len: 11")),
        ("max_len removed", BASE.replace(", max_len: 10", "")),
        ("array size", BASE.replace("[u8; 16]", "[u8; 15]")),
        ("enum variant name", BASE.replace("name: Sell", "name: Ask")),
        ("enum variant value", BASE.replace("value: 2", "value: 3")),
        ("struct field type", BASE.replace("{ name: qty, type: f64", "{ name: qty, type: f32")),
        ("struct name", BASE.replace("  Level:", "  Lvl:").replace("list<Level>", "list<Lvl>")),
        (
            "added optional field",
            BASE.replace(
                "      - { name: n, type: u32, tag: 1 }",
                "      - { name: n, type: u32, tag: 1 }\n      - { name: m, type: u8, tag: 2, optional: true }",
            ),
        ),
    ];
    for (what, text) in &changed {
        assert_ne!(digest_of(text), base, "changing the {what} kept the digest");
    }
}

#[test]
fn digest_is_lowercase_hex_of_sha256_over_the_canonical_form() {
    let schema = model::parse_str("t.yaml", BASE).expect("valid");
    let canonical = digest::canonical(&schema);
    assert!(canonical.starts_with("mycelium-schema 1\npackage p\nenum Side\n variant 1 Buy\n"));
    assert!(canonical.contains(
        "message 1 Ping topic sys.ping\n field 1 n u32 required\nmessage 100 Quote topic md.quote\n"
    ));
    assert!(canonical.contains(" field 3 levels list<Level; max_len=10> required\n"));
    let hex = digest::hex(&digest::digest(&schema));
    assert_eq!(hex.len(), 64);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

//! `RustOptions::reply_trait`: the generated types can be actor replies.

use mycelium_codegen::{model, rust};

const SCHEMA: &str = "package: t
version: 1
enums:
  Side:
    variants:
      - { name: Buy, value: 1 }
structs:
  Level:
    fields:
      - { name: px, type: f64, tag: 1 }
messages:
  Fill:
    id: 7
    topic: fills
    fields:
      - { name: qty, type: u32, tag: 1 }
";

#[test]
fn reply_impls_are_emitted_only_when_asked_for() {
    let schema = model::parse_str("t.yaml", SCHEMA).expect("valid");
    let plain = rust::generate(&schema);
    assert!(!plain.contains("Reply"), "{plain}");
    assert_eq!(
        plain,
        rust::generate_with(&schema, &rust::RustOptions::new())
    );

    let options = rust::RustOptions::new().reply_trait("::mycelium_actors::Reply");
    let code = rust::generate_with(&schema, &options);
    for name in ["Side", "Level", "Fill"] {
        let line = format!("impl ::mycelium_actors::Reply for {name} {{}}");
        assert_eq!(code.matches(&line).count(), 1, "{line} in:\n{code}");
    }
    assert_eq!(code, rust::generate_with(&schema, &options));
}

//! The Rust generator is deterministic and carries the digest.

use mycelium_codegen::{digest, model, rust};

fn repo_schema() -> model::Schema {
    model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts.yaml")).expect("valid")
}

#[test]
fn same_schema_gives_byte_identical_code() {
    let a = rust::generate(&repo_schema());
    let b = rust::generate(&repo_schema());
    assert_eq!(a, b);
    assert_eq!(
        rust::generate_strategies(&repo_schema()),
        rust::generate_strategies(&repo_schema())
    );
}

#[test]
fn reformatted_schema_gives_the_same_code() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts.yaml"))
        .expect("readable");
    let reformatted = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}   # note"))
        .collect::<Vec<_>>()
        .join("\n");
    let a = rust::generate(&repo_schema());
    let b = rust::generate(&model::parse_str("x.yaml", &reformatted).expect("valid"));
    assert_eq!(a, b);
}

#[test]
fn generated_code_carries_the_digest() {
    let schema = repo_schema();
    let code = rust::generate(&schema);
    let d = digest::digest(&schema);
    let first = format!("0x{:02x}, 0x{:02x}", d[0], d[1]);
    assert!(code.contains("pub const SCHEMA_DIGEST: [u8; 32] = ["));
    assert!(code.contains(&first));
    assert!(code.contains(&digest::hex(&d)));
}

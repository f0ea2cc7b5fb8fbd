//! Generates the Rust codec of the hostile test schema (`contracts/tests/schemas/`), so the
//! fuzz target decodes frames of types built to exhaust memory and stack.

use std::path::PathBuf;

fn main() {
    let path = "../contracts/tests/schemas/hostile.yaml";
    println!("cargo:rerun-if-changed={path}");
    let schema = mycelium_codegen::model::load(path).unwrap_or_else(|diags| {
        for d in &diags {
            eprintln!("{d}");
        }
        panic!("{path}: invalid schema");
    });
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("hostile.rs"),
        mycelium_codegen::rust::generate(&schema),
    )
    .expect("OUT_DIR is writable");
}

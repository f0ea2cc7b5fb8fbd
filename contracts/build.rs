use std::path::PathBuf;

use mycelium_codegen::rust::{build_with, RustOptions};

fn main() {
    let mut options = RustOptions::new();
    // With the `actors` feature the generated types can be handler replies; see the crate docs.
    if std::env::var_os("CARGO_FEATURE_ACTORS").is_some() {
        options = options.reply_trait("::mycelium_actors::Reply");
    }
    build_with("../contracts.yaml", &options);

    // A schema only the tests use (`tests/hostile.rs`), generated next to the module.
    let path = "tests/schemas/hostile.yaml";
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

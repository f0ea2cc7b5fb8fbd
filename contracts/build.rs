use mycelium_codegen::rust::{build_with, RustOptions};

fn main() {
    let mut options = RustOptions::new();
    // With the `actors` feature the generated types can be handler replies; see the crate docs.
    if std::env::var_os("CARGO_FEATURE_ACTORS").is_some() {
        options = options.reply_trait("::mycelium_actors::Reply");
    }
    build_with("../contracts.yaml", &options);
}

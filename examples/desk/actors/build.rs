use mycelium_codegen::rust::{build_with, RustOptions};

fn main() {
    // The desk's own schema; its messages are handler replies (`mycelium_actors::Reply`).
    build_with(
        "../desk.yaml",
        &RustOptions::new().reply_trait("::mycelium_actors::Reply"),
    );
}

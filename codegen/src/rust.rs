//! Rust code generator (placeholder until the generator lands).

/// Name of the generated file.
pub const FILE_NAME: &str = "contracts.rs";

/// Generates the Rust module for `schema`.
pub fn generate(schema: &crate::model::Schema) -> String {
    let _ = schema;
    String::new()
}

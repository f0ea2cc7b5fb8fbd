//! `contracts.yaml` checker, schema digest and Rust/Python/OCaml code generator.
//!
//! ```no_run
//! let schema = mycelium_codegen::model::load("contracts.yaml").expect("valid schema");
//! println!("{} messages", schema.messages.len());
//! ```

pub mod check;
pub mod diagnostic;
pub mod digest;
pub mod model;
pub mod names;
pub mod ocaml;
pub mod python;
pub mod rust;
pub mod type_expr;
pub mod yaml;

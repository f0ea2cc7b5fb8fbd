//! `contracts.yaml` checker, schema digest and Rust/Python/OCaml code generator.
//!
//! ```
//! use mycelium_codegen::{digest, model, rust};
//!
//! let schema = model::parse_str(
//!     "inline.yaml",
//!     "package: demo\n\
//!      messages:\n  \
//!        Ping:\n    \
//!          id: 1\n    \
//!          topic: sys.ping\n    \
//!          fields:\n      \
//!            - { name: nonce, type: u64, tag: 1 }\n",
//! )
//! .map_err(|diags| diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))?;
//! assert_eq!(digest::hex(&digest::digest(&schema)).len(), 64);
//! assert!(rust::generate(&schema).contains("pub struct Ping"));
//!
//! // A broken schema yields every error, each with its position and a hint.
//! let errors = model::parse_str("bad.yaml", "package: demo\nmessages:\n  ping: {}\n").unwrap_err();
//! assert!(errors[0].to_string().starts_with("bad.yaml:3:3: error:"));
//! # Ok::<(), String>(())
//! ```
//!
//! Modules: [`model`] (the checked schema every generator consumes, and [`model::load`]),
//! [`check`] (the rules), [`digest`], [`canonical`] (the digest's text read back, for a
//! handshake), [`compat`] (whether two schemas can talk), [`rust`] (generator and
//! `build.rs` helper), [`python`], [`ocaml`]. The `mycelium-codegen` binary wraps them:
//! `check`, `digest`, `compat`, `rust`, `python` and `ocaml` subcommands.

#![warn(missing_docs)]

pub mod canonical;
pub mod check;
pub mod compat;
pub mod diagnostic;
pub mod digest;
pub mod graph;
pub mod model;
pub mod names;
pub mod ocaml;
pub mod python;
pub mod rust;
pub mod type_expr;
pub mod yaml;

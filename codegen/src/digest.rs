//! The schema digest: SHA-256 over a canonical text form of the schema.
//!
//! Peers compare digests at handshake. The canonical form keeps everything that changes
//! what a frame means and nothing else:
//!
//! - kept: the package name; every enum (sorted by name) with its variants (sorted by
//!   value) and their names; every struct (sorted by name) and message (sorted by type id)
//!   with its name, topic and fields sorted by tag, each field's name, canonical type
//!   spelling ([`crate::model::Type::canonical`], which carries `max_len` and array sizes)
//!   and optionality;
//! - dropped: comments, whitespace, key order, declaration order, `doc` texts and the
//!   informative `version`.
//!
//! ```
//! let schema = mycelium_codegen::model::parse_str("a.yaml", "package: p\nmessages:\n  \
//!     Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: n, type: u64 }\n")
//!     .expect("valid");
//! let hex = mycelium_codegen::digest::hex(&mycelium_codegen::digest::digest(&schema));
//! assert_eq!(hex.len(), 64);
//! ```

use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

use crate::model::{Field, Schema};

/// The canonical text the digest is computed over. One item per line; its exact shape is
/// part of the protocol (changing it changes every digest).
pub fn canonical(schema: &Schema) -> String {
    let mut out = String::new();
    // `writeln!` into a String cannot fail.
    let _ = writeln!(out, "mycelium-schema 1");
    let _ = writeln!(out, "package {}", schema.package);
    let mut enums: Vec<_> = schema.enums.iter().collect();
    enums.sort_by(|a, b| a.name.cmp(&b.name));
    for e in enums {
        let _ = writeln!(out, "enum {}", e.name);
        let mut variants: Vec<_> = e.variants.iter().collect();
        variants.sort_by_key(|(_, v)| *v);
        for (name, value) in variants {
            let _ = writeln!(out, " variant {value} {name}");
        }
    }
    let mut structs: Vec<_> = schema.structs.iter().collect();
    structs.sort_by(|a, b| a.name.cmp(&b.name));
    for s in structs {
        let _ = writeln!(out, "struct {}", s.name);
        fields(&mut out, &s.fields);
    }
    let mut messages: Vec<_> = schema.messages.iter().collect();
    messages.sort_by_key(|m| m.id);
    for m in messages {
        let _ = writeln!(out, "message {} {} topic {}", m.id, m.name, m.topic);
        fields(&mut out, &m.fields);
    }
    out
}

fn fields(out: &mut String, fields: &[Field]) {
    let mut sorted: Vec<_> = fields.iter().collect();
    sorted.sort_by_key(|f| f.tag);
    for f in sorted {
        let _ = writeln!(
            out,
            " field {} {} {} {}",
            f.tag,
            f.name,
            f.ty.canonical(),
            if f.optional { "optional" } else { "required" }
        );
    }
}

/// SHA-256 of [`canonical`].
pub fn digest(schema: &Schema) -> [u8; 32] {
    Sha256::digest(canonical(schema).as_bytes()).into()
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

//! Feeds arbitrary text to `mycelium_codegen::canonical::from_canonical`, which reads the
//! canonical schema a peer sends in its handshake when the two digests differ, and compares
//! what reads back with `contracts.yaml` both ways (`compat::check`), as the handshake does.
//! Nothing may panic; text that reads back is canonical (written again, it is the same text),
//! and its digest is that of the text.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mycelium_codegen::model::Schema;
use mycelium_codegen::{canonical, compat, digest, model};

/// This repository's schema: the local side of the comparison.
fn local() -> &'static Schema {
    static LOCAL: OnceLock<Schema> = OnceLock::new();
    LOCAL.get_or_init(|| {
        model::parse_str("contracts.yaml", include_str!("../../contracts.yaml"))
            .expect("contracts.yaml is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    // The handshake refuses text that is not UTF-8 before it gets here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(theirs) = canonical::from_canonical(text) else {
        return;
    };
    assert_eq!(digest::canonical(&theirs), text, "read back, the text is canonical");
    let _ = compat::check(local(), &theirs);
    let _ = compat::check(&theirs, local());
});

//! `include/mycelium.h` is generated from the source by cbindgen; this test regenerates it
//! and fails when the checked-in copy differs. `MYCELIUM_BLESS=1` rewrites it instead.

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = dir.join("include/mycelium.h");
    if std::env::var_os("MYCELIUM_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "include/mycelium.h is stale: run `MYCELIUM_BLESS=1 cargo test -p mycelium-ffi --test header` and commit it"
    );
}

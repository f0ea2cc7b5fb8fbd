//! Compiles `tests/c/lifecycle.c` against the header and the static library with the system
//! C compiler, runs it, and checks it passed and what it logged.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/deps`, where cargo put the static library this test was built with
/// (the copy one level up is refreshed only by `cargo build`).
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/c_program-<hash>
    exe.parent().expect("target/<profile>/deps").to_path_buf()
}

#[test]
fn the_c_program_runs_against_the_static_library() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = deps_dir().join("libmycelium_ffi.a");
    assert!(lib.exists(), "{} was not built", lib.display());
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let exe = out_dir.join("mycelium_c_lifecycle");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let compiled = Command::new(&compiler)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(dir.join("tests/c/lifecycle.c"))
        .arg("-I")
        .arg(dir.join("include"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .expect("run the C compiler");
    assert!(
        compiled.status.success(),
        "the C program did not compile:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let ran = Command::new(&exe).output().expect("run the C program");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success() && stdout.trim() == "ok",
        "the C program failed ({}):\n{stdout}\n{}",
        ran.status,
        String::from_utf8_lossy(&ran.stderr)
    );
    // Its warnings (a failed callback, dead letters) name a C actor and the message, never
    // the foreign layer's Rust types.
    let log = String::from_utf8_lossy(&ran.stderr);
    assert!(log.contains("actor_type=\"CActor\""), "{log}");
    assert!(
        !log.contains("ForeignActor") && !log.contains("ForeignCall"),
        "{log}"
    );
}

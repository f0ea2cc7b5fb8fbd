//! The command line: asked for, the usage goes to stdout with exit status 0; a wrong
//! command line gets it on stderr with a failing status.

use std::process::{Command, Output};

fn codegen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mycelium-codegen"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn help_prints_the_usage_on_stdout_and_succeeds() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["compat", "--help"],
        &["rust", "contracts.yaml", "-h"],
        &["check", "--help", "contracts.yaml"],
    ] {
        let out = codegen(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("usage: mycelium-codegen"),
            "{args:?}: {stdout}"
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_wrong_command_line_prints_the_usage_on_stderr_and_fails() {
    for (args, first_line) in [
        (&[][..], "usage: mycelium-codegen"),
        (&["check"], "usage: mycelium-codegen"),
        (&["compat", "old.yaml"], "usage: mycelium-codegen"),
        (&["--bogus"], "unknown option `--bogus`"),
        (&["check", "--bogus"], "unknown option `--bogus`"),
        (&["compat", "-x", "new.yaml"], "unknown option `-x`"),
        (&["rust", "contracts.yaml", "-o"], "`-o` needs a directory"),
    ] {
        let out = codegen(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(first_line), "{args:?}: {stderr}");
        assert!(
            stderr.contains("usage: mycelium-codegen"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_directory_named_like_the_help_flag_is_not_a_request_for_help() {
    let out = codegen(&["rust", "missing.yaml", "-o", "--help"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.yaml"), "{stderr}");
}

#[test]
fn canonical_prints_the_text_a_peer_is_sent() {
    let out = codegen(&["canonical", "../contracts.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let schema = mycelium_codegen::model::load("../contracts.yaml").expect("valid");
    assert_eq!(text, mycelium_codegen::digest::canonical(&schema));
    // It reads back to the same schema, by digest.
    let back = mycelium_codegen::canonical::from_canonical(&text).expect("reads back");
    assert_eq!(
        mycelium_codegen::digest::digest(&back),
        mycelium_codegen::digest::digest(&schema)
    );
    let digest = codegen(&["digest", "../contracts.yaml"]);
    assert_eq!(
        String::from_utf8_lossy(&digest.stdout).trim(),
        mycelium_codegen::digest::hex(&mycelium_codegen::digest::digest(&back))
    );
}

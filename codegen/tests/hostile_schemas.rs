//! The checker survives what users feed it: deep nesting, bad bytes, huge files, long
//! chains of structs, names a generator cannot emit. Each gives positioned errors, in
//! bounded time and memory, never a crash.

use mycelium_codegen::check::{
    MAX_BOXED_ARRAY_BYTES, MAX_ERRORS, MAX_INLINE_BYTES, MAX_SCHEMA_BYTES,
};
use mycelium_codegen::model;

fn errors(text: &str) -> Vec<String> {
    match model::parse_str("t.yaml", text) {
        Ok(_) => Vec::new(),
        Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
    }
}

fn assert_error(text: &str, needle: &str) {
    let errs = errors(text);
    assert!(
        errs.iter().any(|e| e.contains(needle)),
        "no error containing {needle:?} in:\n{}",
        errs.join("\n")
    );
}

fn message_with_field(field: &str) -> String {
    format!(
        "package: p\nmessages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - {field}\n"
    )
}

/// A file `name` holding `bytes`, in a directory of its own removed with it on drop (also
/// when the test fails).
fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let dir = std::env::temp_dir().join(format!(
        "mycelium-hostile-schemas-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    TempFile(path)
}

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn a_type_nested_thousands_deep_is_an_error() {
    for n in [9, 5_000, 100_000] {
        let ty = format!("{}u8{}", "list<".repeat(n), ">".repeat(n));
        assert_error(
            &message_with_field(&format!("{{ name: x, type: \"{ty}\" }}")),
            "t.yaml:7:26: error: type `list<list<",
        );
        let ty = format!("{}u8{}", "[".repeat(n), "; 2]".repeat(n));
        assert_error(
            &message_with_field(&format!("{{ name: x, type: \"{ty}\" }}")),
            "more than 8 deep",
        );
    }
    // YAML nesting thousands deep: the parser's own limit answers.
    let deep = format!(
        "package: p\nmessages: {}{}\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    assert_error(&deep, "t.yaml:2:");
}

#[test]
fn invalid_utf8_is_reported_at_its_line() {
    let mut bytes = b"package: p\nmessages:\n  M:\n    id: 1\n    topic: a.b # caf".to_vec();
    bytes.extend_from_slice(&[0xC3, 0x28]);
    bytes.extend_from_slice(b"\n");
    let path = temp_file("utf8.yaml", &bytes);
    let errs = model::load(&path.0).unwrap_err();
    assert_eq!(
        (errs.len(), errs[0].line, errs[0].column),
        (1, 5, 21),
        "{}",
        errs[0]
    );
    assert!(
        errs[0].message.contains("invalid UTF-8 (byte 0xc3)"),
        "{}",
        errs[0]
    );
}

#[test]
fn nul_and_control_bytes_are_reported_at_their_line() {
    assert_error(
        "package: p\nmessages:\n  M:\0\n",
        "t.yaml:3:5: error: a NUL byte is not allowed",
    );
    assert_error(
        "package: p\n\u{1b}[31m\n",
        "t.yaml:2:1: error: the control character U+001B",
    );
    let path = temp_file("nul.yaml", b"package: p\n\0");
    let errs = model::load(&path.0).unwrap_err();
    assert_eq!((errs[0].line, errs[0].column), (2, 1), "{}", errs[0]);
}

#[test]
fn a_fifty_megabyte_schema_is_refused_without_reading_it_all() {
    let line = "      - { name: f, type: u64 }\n";
    let mut big = message_with_field("{ name: f0, type: u64 }");
    while big.len() < 50 * 1024 * 1024 {
        big.push_str(line);
    }
    let errs = errors(&big);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains(&format!("above the limit of {MAX_SCHEMA_BYTES}")),
        "{}",
        errs[0]
    );
    let path = temp_file("big.yaml", big.as_bytes());
    let errs = model::load(&path.0).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].message.contains("larger than the limit"),
        "{}",
        errs[0]
    );
}

#[test]
fn a_schema_full_of_errors_prints_a_bounded_number() {
    let mut text = message_with_field("{ name: f0, type: Nope0 }");
    let mut i = 1;
    while text.len() < MAX_SCHEMA_BYTES - 100 {
        text.push_str(&format!("      - {{ name: f{i}, type: Nope{i} }}\n"));
        i += 1;
    }
    let errs = errors(&text);
    assert_eq!(errs.len(), MAX_ERRORS + 1);
    let last = errs.last().expect("summary");
    assert!(last.contains("more errors not shown"), "{last}");
}

fn chain(n: usize, through_list: bool, ring: bool) -> String {
    let mut t = String::from("package: p\nstructs:\n");
    for i in 0..n {
        let next = if i + 1 < n {
            format!("S{}", i + 1)
        } else if ring {
            "S0".to_string()
        } else {
            "u8".to_string()
        };
        let ty = if through_list && next != "u8" {
            format!("list<{next}>")
        } else {
            next
        };
        t.push_str(&format!(
            "  S{i}:\n    fields:\n      - {{ name: a, type: \"{ty}\" }}\n"
        ));
    }
    t + "messages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - { name: a, type: S0 }\n"
}

#[test]
fn long_chains_of_structs_are_checked_quickly_and_refused() {
    assert_error(
        &chain(10_000, false, false),
        "struct `S0` nests 10000 structs deep (S0 -> S1 -> S2 -> S3 -> ...), above the 64 levels",
    );
    assert_error(&chain(10_000, true, false), "nests 10000 structs deep");
    assert_error(&chain(10_000, false, true), "struct `S0` contains itself without indirection (S0 -> S1 -> S2 -> S3 -> ... -> S9998 -> S9999 -> S0)");
    // Recursion through a list is fine however long the ring, as long as it is not
    // deeper than a decoder goes.
    assert!(errors(&chain(64, true, true)).is_empty());
    assert_error(&chain(65, true, true), "nests 65 structs deep");
}

#[test]
fn records_too_large_to_hold_inline_are_refused() {
    // 64 optional [u64; 32]: 64 * 264 bytes.
    let mut t =
        String::from("package: p\nmessages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n");
    for i in 0..64 {
        t.push_str(&format!(
            "      - {{ name: f{i}, type: \"[u64; 32]\", optional: true }}\n"
        ));
    }
    assert_error(&t, &format!("t.yaml:3:3: error: `M` holds about 16896 bytes inline, above the limit of {MAX_INLINE_BYTES}"));
    // The same data as large arrays is boxed, so it is fine.
    assert!(errors(&t.replace("[u64; 32]", "[u64; 4096]")).is_empty());
    // Nested arrays multiply.
    assert_error(
        &message_with_field("{ name: x, type: \"[[[u64; 32]; 32]; 32]\" }"),
        "holds about 262144 bytes inline",
    );
}

#[test]
fn arrays_too_large_to_reserve_are_refused() {
    // A struct of 60 optional [u64; 32] holds 15,840 bytes: 4096 of them take 62 MiB, which
    // a decoder would reserve for a frame of 16 KiB and refuse (MemoryLimit), every time,
    // and 33 of them (the fewest held boxed) 510 KiB, which a clone in a debug build copies
    // through the stack, overflowing a thread of 2 MiB.
    let mut t = String::from("package: p\nstructs:\n  Wide:\n    fields:\n");
    for i in 0..60 {
        t.push_str(&format!(
            "      - {{ name: f{i}, type: \"[u64; 32]\", optional: true }}\n"
        ));
    }
    t.push_str("messages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - { name: x, type: \"[Wide; 4096]\" }\n");
    assert_error(
        &t,
        &format!("t.yaml:70:17: error: field `x` of `M`, a `[Wide; 4096]`, holds about 64880640 bytes, above the limit of {MAX_BOXED_ARRAY_BYTES}"),
    );
    // In a struct too; the largest arrays of scalars and strings stay allowed.
    let in_struct = t.replace(
        "messages:\n  M:",
        "  Holder:\n    fields:\n      - { name: y, type: \"[Wide; 33]\" }\nmessages:\n  M:",
    );
    assert_error(&in_struct, "t.yaml:67:17: error: field `y` of `Holder`");
    assert_error(
        &t.replace("[Wide; 4096]", "[[u64; 32]; 4096]"),
        "holds about 1048576 bytes",
    );
    for fine in ["[f64; 4096]", "[string; 4096]", "[[u64; 32]; 512]"] {
        let text = t.replace("[Wide; 4096]", fine);
        assert!(errors(&text).is_empty(), "{fine}: {:?}", errors(&text));
    }
}

#[test]
fn names_the_generators_cannot_emit_are_refused_with_their_line() {
    for (name, line) in [
        ("Frame", 3),
        ("Message", 3),
        ("DecodeError", 3),
        ("REGISTRY", 3),
        ("ValueError", 3),
        ("AnyMessage", 3),
        ("Option", 3),
        ("Unit", 3),
    ] {
        let text = format!("package: p\nstructs:\n  {name}:\n    fields:\n      - {{ name: a, type: u8 }}\nmessages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - {{ name: x, type: {name} }}\n");
        assert_error(
            &text,
            &format!("t.yaml:{line}:3: error: the type name `{name}`"),
        );
    }
    for field in ["encode", "decode", "encode_frame"] {
        assert_error(
            &message_with_field(&format!("{{ name: {field}, type: u8 }}")),
            &format!("t.yaml:7:17: error: field name `{field}` of message `M` is a method"),
        );
    }
    for keyword in [
        "type", "match", "fn", "lambda", "def", "method", "end", "virtual", "async",
    ] {
        assert_error(
            &message_with_field(&format!("{{ name: {keyword}, type: u8 }}")),
            &format!("t.yaml:7:17: error: field name `{keyword}` is a keyword"),
        );
    }
    assert_error(
        "package: p\nenums:\n  E:\n    variants:\n      - { name: Some, value: 1 }\nmessages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - { name: e, type: E }\n",
        "t.yaml:5:9: error: variant `Some` of enum `E` would shadow OCaml's option constructor",
    );
    // Two types whose OCaml functions collide: `read_z_to_text`.
    assert_error(
        "package: p\nstructs:\n  ReadZ:\n    fields:\n      - { name: a, type: u8 }\n  ZToText:\n    fields:\n      - { name: a, type: u8 }\nmessages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - { name: b, type: ReadZ }\n",
        "t.yaml:6:3: error: `ZToText` and `ReadZ` would both generate the OCaml function `read_z_to_text`",
    );
}

/// Everything `check` accepts, every generator emits.
#[test]
fn accepted_names_generate_in_every_language() {
    let text = "package: p\nstructs:\n  N:\n    fields:\n      - { name: a, type: u64 }\n      - { name: b, type: u32 }\nmessages:\n  M:\n    id: 1\n    topic: a.b\n    fields:\n      - { name: encoded, type: N }\n      - { name: frame, type: u8 }\n";
    let schema = model::parse_str("t.yaml", text).expect("valid");
    mycelium_codegen::python::generate(&schema).expect("python");
    mycelium_codegen::ocaml::generate(&schema).expect("ocaml");
    assert!(mycelium_codegen::rust::generate(&schema).contains("PREFIX_LEN"));
}

/// The canonical form is what peers exchange; one that would be refused when read back
/// is refused at the source.
#[test]
fn a_schema_whose_canonical_form_is_too_large_is_refused() {
    let mut t = String::from("package: p\nstructs:\n");
    let mut s = 0;
    while t.len() < MAX_SCHEMA_BYTES - 30_000 {
        let fields: Vec<String> = (0..1500)
            .map(|i| format!("{{name: a{i}, type: u8}}"))
            .collect();
        t.push_str(&format!("  S{s}: {{fields: [{}]}}\n", fields.join(", ")));
        s += 1;
    }
    t.push_str("messages: {M: {id: 1, topic: a.b, fields: [{name: a, type: S0}]}}\n");
    assert!(t.len() <= MAX_SCHEMA_BYTES);
    assert_error(&t, "the schema's canonical form takes");
}

/// `mycelium-codegen check` on a file with thousands of errors prints a bounded report.
#[test]
fn the_cli_prints_a_bounded_report() {
    let mut text = message_with_field("{ name: f0, type: Nope0 }");
    for i in 1..3000 {
        text.push_str(&format!("      - {{ name: f{i}, type: Nope{i} }}\n"));
    }
    let path = temp_file("many.yaml", text.as_bytes());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mycelium-codegen"))
        .arg("check")
        .arg(&path.0)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Two lines per error, the summary diagnostic, the last line.
    assert_eq!(stderr.lines().count(), 2 * (MAX_ERRORS + 1) + 1, "{stderr}");
    assert!(stderr.contains("2900 more errors not shown"), "{stderr}");
    assert!(
        stderr.ends_with(&format!("more than {MAX_ERRORS} errors found\n")),
        "{stderr}"
    );
}

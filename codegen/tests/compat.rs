//! `compat::check`: which schema changes peers accept, and the answer it gives.

use mycelium_codegen::compat::{self, Incompatibility};
use mycelium_codegen::model::{self, Schema};

const BASE: &str = "\
package: p
enums:
  Side:
    variants:
      - { name: Buy, value: 1 }
      - { name: Sell, value: 2 }
structs:
  Level:
    fields:
      - { name: px, type: f64, tag: 1 }
      - { name: qty, type: f64, tag: 2, optional: true }
  Tree:
    fields:
      - { name: kids, type: \"list<Tree>\", tag: 1 }
messages:
  Quote:
    id: 100
    topic: md.quote
    fields:
      - { name: ts, type: u64, tag: 1 }
      - { name: side, type: Side, tag: 2 }
      - { name: levels, type: \"list<Level>\", max_len: 8, tag: 3 }
      - { name: venue, type: string, tag: 4, optional: true }
  Ping:
    id: 7
    topic: sys.ping
    fields:
      - { name: tree, type: Tree, tag: 1 }
      - { name: key, type: \"[u8; 4]\", tag: 2 }
";

fn schema(text: &str) -> Schema {
    model::parse_str("t.yaml", text).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn changed(from: &str, to: &str) -> Schema {
    assert!(BASE.contains(from), "{from}");
    schema(&BASE.replacen(from, to, 1))
}

/// Checks both directions and returns the answer for old = BASE.
fn both(new: &Schema) -> Result<compat::CompatReport, Incompatibility> {
    let base = schema(BASE);
    let forward = compat::check(&base, new);
    let backward = compat::check(new, &base);
    assert_eq!(
        forward.is_ok(),
        backward.is_ok(),
        "{forward:?} / {backward:?}"
    );
    forward
}

fn refused(new: Schema) -> Incompatibility {
    both(&new).expect_err("must be refused")
}

#[test]
fn identical_schemas_are_compatible_without_differences() {
    let report = both(&schema(BASE)).expect("identical");
    assert!(report.identical());
    assert!(report.differences.is_empty());
    // Declaration order and docs do not matter: same digest.
    let reordered = schema(&BASE.replace("    id: 100\n", "    doc: Top of book.\n    id: 100\n"));
    assert!(both(&reordered).expect("same digest").identical());
}

#[test]
fn adding_or_removing_an_optional_field_is_compatible() {
    let added = changed(
        "      - { name: venue, type: string, tag: 4, optional: true }\n",
        "      - { name: venue, type: string, tag: 4, optional: true }\n      - { name: note, type: bytes, tag: 9, optional: true }\n",
    );
    let report = both(&added).expect("compatible");
    assert!(!report.identical());
    assert_eq!(report.differences.len(), 1);
    assert_eq!(
        report.differences[0].to_string(),
        "message Quote (id 100) field note (tag 9): optional field added"
    );
    let removed = changed(
        "      - { name: venue, type: string, tag: 4, optional: true }\n",
        "",
    );
    let report = both(&removed).expect("compatible");
    assert_eq!(report.differences[0].change, "optional field removed");
    // Inside a struct too.
    let nested = changed(
        "      - { name: qty, type: f64, tag: 2, optional: true }\n",
        "",
    );
    let report = both(&nested).expect("compatible");
    assert!(
        report.differences[0].place.contains("struct Level"),
        "{report}"
    );
}

#[test]
fn messages_on_one_side_only_are_not_compared() {
    let extra = changed(
        "messages:\n",
        "messages:\n  Extra:\n    id: 5\n    topic: sys.extra\n    fields:\n      - { name: n, type: u8, tag: 1 }\n",
    );
    let report = both(&extra).expect("compatible");
    assert_eq!(report.differences[0].change, "only in the new schema");
    // The package name does not travel; it is reported, not refused.
    let renamed = changed("package: p\n", "package: q\n");
    assert_eq!(
        both(&renamed).expect("compatible").differences[0].place,
        "package"
    );
}

#[test]
fn required_field_added_or_removed_is_refused() {
    let e = refused(changed(
        "      - { name: venue, type: string, tag: 4, optional: true }\n",
        "      - { name: venue, type: string, tag: 4, optional: true }\n      - { name: seq, type: u64, tag: 5 }\n",
    ));
    assert_eq!((e.message.as_str(), e.type_id), ("Quote", 100));
    assert_eq!((e.field.as_deref(), e.tag), (Some("seq"), Some(5)));
    assert!(e.reason.contains("required field added"), "{e}");

    let e = refused(changed("      - { name: ts, type: u64, tag: 1 }\n", ""));
    assert_eq!(e.field.as_deref(), Some("ts"));
    assert!(e.reason.contains("required field removed"), "{e}");
}

#[test]
fn optionality_type_name_and_bounds_changes_are_refused() {
    for (from, to, field, reason) in [
        (
            "name: ts, type: u64, tag: 1 }",
            "name: ts, type: u64, tag: 1, optional: true }",
            "ts",
            "required in the old schema",
        ),
        (
            "name: ts, type: u64, tag: 1 }",
            "name: ts, type: i64, tag: 1 }",
            "ts",
            "type changed from `u64` to `i64`",
        ),
        (
            "name: ts, type: u64, tag: 1 }",
            "name: time, type: u64, tag: 1 }",
            "ts",
            "renamed to `time`",
        ),
        (
            "max_len: 8, tag: 3 }",
            "max_len: 9, tag: 3 }",
            "levels",
            "type changed",
        ),
        ("max_len: 8, tag: 3 }", "tag: 3 }", "levels", "type changed"),
        (
            "type: \"[u8; 4]\"",
            "type: \"[u8; 5]\"",
            "key",
            "type changed from `[u8; 4]` to `[u8; 5]`",
        ),
        (
            "- { name: Sell, value: 2 }",
            "- { name: Sell, value: 2 }\n      - { name: Cross, value: 3 }",
            "side",
            "enum `Side` has other variants",
        ),
        (
            "- { name: Sell, value: 2 }",
            "- { name: Sell, value: 3 }",
            "side",
            "enum `Side` has other variants",
        ),
        (
            "name: px, type: f64, tag: 1 }",
            "name: px, type: f32, tag: 1 }",
            "levels",
            "in struct `Level`, field `px` (tag 1): type changed",
        ),
        (
            "name: qty, type: f64, tag: 2, optional: true }",
            "name: qty, type: f64, tag: 2 }",
            "levels",
            "in struct `Level`, field `qty` (tag 2): optional in the old schema",
        ),
    ] {
        let e = refused(changed(from, to));
        assert_eq!(e.field.as_deref(), Some(field), "{from} -> {to}: {e}");
        assert!(e.to_string().contains(reason), "{from} -> {to}: {e}");
    }
}

#[test]
fn message_identity_changes_are_refused() {
    let e = refused(changed("    id: 100\n", "    id: 101\n"));
    assert_eq!((e.message.as_str(), e.field.as_deref()), ("Quote", None));
    assert!(e.reason.contains("type id changed"), "{e}");

    let e = refused(changed("  Quote:\n", "  Quotation:\n"));
    assert!(
        e.reason
            .contains("type id 100 is `Quote` in the old schema and `Quotation`"),
        "{e}"
    );

    let e = refused(changed("topic: md.quote", "topic: md.quotes"));
    assert!(e.reason.contains("topic changed"), "{e}");

    // A struct renamed under a field is a type change.
    let e = refused(schema(
        &BASE
            .replace("  Level:\n", "  Lvl:\n")
            .replace("list<Level>", "list<Lvl>"),
    ));
    assert!(
        e.reason
            .contains("type changed from `list<Level; max_len=8>` to `list<Lvl; max_len=8>`"),
        "{e}"
    );
}

#[test]
fn the_first_incompatibility_in_type_id_order_is_reported() {
    // Ping (id 7) and Quote (id 100) both break: Ping comes first, whatever the file order.
    let new = schema(
        &BASE
            .replace(
                "name: ts, type: u64, tag: 1 }",
                "name: ts, type: u32, tag: 1 }",
            )
            .replace(
                "name: key, type: \"[u8; 4]\"",
                "name: key, type: \"[u8; 2]\"",
            ),
    );
    let e = refused(new);
    assert_eq!(
        (e.message.as_str(), e.field.as_deref()),
        ("Ping", Some("key"))
    );
    let text = e.to_string();
    assert!(
        text.starts_with("message `Ping` (type id 7), field `key` (tag 2): type changed"),
        "{text}"
    );
    // Both digests are named, so each side can print what the other runs.
    let base = schema(BASE);
    assert!(text.contains(&mycelium_codegen::digest::hex(
        &mycelium_codegen::digest::digest(&base)
    )));
}

#[test]
fn recursive_structs_compare_without_looping() {
    let new = changed(
        "      - { name: kids, type: \"list<Tree>\", tag: 1 }\n",
        "      - { name: kids, type: \"list<Tree>\", tag: 1 }\n      - { name: label, type: string, tag: 2, optional: true }\n",
    );
    assert!(both(&new).is_ok());
    let new = changed(
        "      - { name: kids, type: \"list<Tree>\", tag: 1 }\n",
        "      - { name: kids, type: \"list<Tree>\", tag: 1 }\n      - { name: label, type: string, tag: 2 }\n",
    );
    let e = refused(new);
    assert!(e.reason.contains("in struct `Tree`, field `label`"), "{e}");
}

/// `mycelium-codegen compat OLD NEW`: status 0 and the differences, or status 1 and the
/// first incompatible message and field.
#[test]
fn cli_compat_answers_with_status_and_reason() {
    let dir = std::env::temp_dir().join(format!("mycelium-compat-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let old = dir.join("old.yaml");
    let ok = dir.join("ok.yaml");
    let bad = dir.join("bad.yaml");
    std::fs::write(&old, BASE).expect("write");
    std::fs::write(
        &ok,
        BASE.replace(
            "      - { name: venue, type: string, tag: 4, optional: true }\n",
            "",
        ),
    )
    .expect("write");
    std::fs::write(
        &bad,
        BASE.replace("name: ts, type: u64", "name: ts, type: u32"),
    )
    .expect("write");
    let run = |a: &std::path::Path, b: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mycelium-codegen"))
            .arg("compat")
            .arg(a)
            .arg(b)
            .output()
            .expect("runs")
    };
    let out = run(&old, &ok);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("field venue (tag 4): optional field removed"),
        "{stdout}"
    );

    let out = run(&bad, &old);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("incompatible: message `Quote` (type id 100), field `ts` (tag 1): type changed from `u32` to `u64`"),
        "{stderr}"
    );
    let out = run(&old, &dir.join("missing.yaml"));
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

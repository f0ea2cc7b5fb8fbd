//! The canonical text reads back into the same schema; anything else is refused.

use mycelium_codegen::{check::MAX_SCHEMA_BYTES, digest, model};

fn repo_schemas() -> Vec<(&'static str, &'static str)> {
    vec![
        ("contracts.yaml", include_str!("../../contracts.yaml")),
        (
            "nested.yaml",
            include_str!("../../tests/contracts/schemas/nested.yaml"),
        ),
        (
            "names.yaml",
            include_str!("../../tests/contracts/schemas/names.yaml"),
        ),
    ]
}

#[test]
fn canonical_text_round_trips() {
    for (name, text) in repo_schemas() {
        let schema = model::parse_str(name, text).expect("valid");
        let canonical = digest::canonical(&schema);
        let back = model::from_canonical(&canonical).unwrap_or_else(|d| panic!("{name}: {}", d[0]));
        assert_eq!(digest::canonical(&back), canonical, "{name}");
        assert_eq!(digest::digest(&back), digest::digest(&schema), "{name}");
        // Everything but docs and version survives.
        assert_eq!(back.messages.len(), schema.messages.len());
        assert_eq!(back.structs.len(), schema.structs.len());
    }
}

#[test]
fn canonical_text_of_the_repository_schema_is_small() {
    let schema = model::parse_str("c.yaml", include_str!("../../contracts.yaml")).expect("valid");
    let canonical = digest::canonical(&schema);
    // docs/contracts.md: never larger than the YAML it comes from minus comments and docs,
    // a few kilobytes for a real schema.
    assert!(
        canonical.len() < include_str!("../../contracts.yaml").len(),
        "{}",
        canonical.len()
    );
    assert!(canonical.len() < 8 * 1024, "{}", canonical.len());
}

fn refused(text: &str) -> String {
    match model::from_canonical(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(d) => d
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

const GOOD: &str = "mycelium-schema 1\npackage p\nenum Side\n variant 1 Buy\nstruct Level\n field 1 px f64 required\n field 2 tags list<string; max_len=3> optional\nmessage 5 Ping topic sys.ping\n field 1 level Level required\n field 2 side Side optional\n";

#[test]
fn a_hand_written_canonical_text_reads_back() {
    let schema = model::from_canonical(GOOD).unwrap_or_else(|d| panic!("{}", d[0]));
    assert_eq!(digest::canonical(&schema), GOOD);
    assert_eq!(schema.structs[0].fields[1].max_len, Some(3));
}

#[test]
fn malformed_or_non_canonical_text_is_refused_with_its_line() {
    assert!(refused("").contains("does not start with `mycelium-schema 1`"));
    assert!(refused("mycelium-schema 2\npackage p\n").contains(":1:1: error"));
    // Not in canonical order: fields must be sorted by tag.
    let swapped = GOOD.replace(
        " field 1 px f64 required\n field 2 tags list<string; max_len=3> optional\n",
        " field 2 tags list<string; max_len=3> optional\n field 1 px f64 required\n",
    );
    assert!(refused(&swapped).contains("not in canonical form"));
    // Extra spaces.
    assert!(refused(&GOOD.replace("field 1 px f64", "field 1 px  f64")).contains("error"));
    // A rule of the checker: a keyword as a name, reported at the canonical line.
    let e = refused(&GOOD.replace(" field 1 px f64", " field 1 type f64"));
    assert!(
        e.contains("<canonical schema>:6:1: error: field name `type` is a keyword"),
        "{e}"
    );
    // An inner max_len cannot come from a schema file.
    assert!(
        refused(&GOOD.replace("list<string; max_len=3>", "list<list<u8; max_len=2>>"))
            .contains(":7:1: error")
    );
    // YAML cannot be smuggled in through a name.
    let e = refused(&GOOD.replace("package p", "package p\"\nmessages: {}"));
    assert!(e.contains("error"), "{e}");
    assert!(refused(&GOOD.replace("message 5", "message x")).contains("type id `x`"));
    assert!(refused(&GOOD.replace("optional\nmessage", "sometimes\nmessage")).contains(":7:1:"));
    assert!(refused(&GOOD.replace("\nenum", "\n\nenum")).contains("empty line"));
    assert!(
        refused(&GOOD.replace(" variant 1 Buy", " variant 99999999999 Buy"))
            .contains("out of range")
    );
}

#[test]
fn oversized_canonical_text_is_refused_before_parsing() {
    let big = format!("mycelium-schema 1\n{}", "x".repeat(MAX_SCHEMA_BYTES));
    assert!(refused(&big).contains("exceeds the limit"));
}

#[test]
fn only_the_outer_list_carries_a_max_len() {
    let e = refused(&GOOD.replace(
        "list<string; max_len=3>",
        "list<list<u8; max_len=2>; max_len=3>",
    ));
    assert!(e.contains("only the outer list"), "{e}");
}

#[test]
fn a_peers_control_characters_are_escaped_in_diagnostics() {
    // A name carrying a terminal sequence, and a line that is not canonical at all.
    for text in [
        GOOD.replace("message 5 Ping", "message 5 Pi\u{1b}[2Jng"),
        GOOD.replace("package p", "package p\r\u{1b}[1Aforged"),
        GOOD.replace("enum Side", "bogus\u{1b}]0;title\u{7}"),
    ] {
        let Err(diags) = model::from_canonical(&text) else {
            panic!("accepted:\n{text}");
        };
        for d in &diags {
            let shown = d.to_string();
            assert!(
                !shown.contains(['\u{1b}', '\r', '\u{7}']),
                "a control character reaches the diagnostic: {shown:?}"
            );
        }
        let shown = diags[0].to_string();
        assert!(shown.contains("\\u{1b}"), "{shown}");
    }
}

#[test]
fn a_peers_bidi_overrides_and_line_separators_are_escaped_in_diagnostics() {
    // A name that would show reversed, and a line split in two for whoever reads the log.
    for (text, want) in [
        (
            GOOD.replace("message 5 Ping", "message 5 Pi\u{202e}gn"),
            "\\u{202e}",
        ),
        (
            GOOD.replace("enum Side", "bogus\u{2028}forged"),
            "\\u{2028}",
        ),
    ] {
        let Err(diags) = model::from_canonical(&text) else {
            panic!("accepted:\n{text}");
        };
        for d in &diags {
            let shown = d.to_string();
            assert!(
                !shown.contains(['\u{202e}', '\u{2028}']),
                "a bidi override or line separator reaches the diagnostic: {shown:?}"
            );
        }
        let shown = diags[0].to_string();
        assert!(shown.contains(want), "{shown}");
    }
}

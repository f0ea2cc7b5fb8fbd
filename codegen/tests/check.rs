//! The checker reports every error of a broken schema, each with its position.

use mycelium_codegen::model::{self, Type};

fn errors(yaml: &str) -> Vec<String> {
    match model::parse_str("t.yaml", yaml) {
        Ok(_) => Vec::new(),
        Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
    }
}

fn assert_has(errs: &[String], needle: &str) {
    assert!(
        errs.iter().any(|e| e.contains(needle)),
        "no error containing {needle:?} in:\n{}",
        errs.join("\n")
    );
}

#[test]
fn repository_schema_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts.yaml");
    let schema = model::load(path).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(schema.messages.len() >= 6);
}

#[test]
fn broken_schema_reports_every_error_with_position() {
    let text = include_str!("schemas/broken.yaml");
    let errs = errors(text);
    for needle in [
        "t.yaml:1:10: error: package name `Trading` is not snake_case",
        "t.yaml:2:1: error: unknown key `versoin`",
        "did you mean `version`?",
        "variant `Buy` appears twice",
        "value 1 of variant `Buy` is already used",
        "variant value `-1` is negative",
        "enum name `None` is a keyword in Python",
        "enum `None` has no variants",
        "t.yaml:14:17: error: struct `Node` contains itself without indirection (Node -> Node)",
        "(A -> B -> A)",
        "struct `Empty` has no fields",
        "t.yaml:29:37: error: tag 0 is out of range",
        "field `ts` appears twice",
        "tag 1 of `px` is already used by `ts`",
        "unknown type `f46`",
        "did you mean `f64`?",
        "field name `type` is a keyword in Rust, Python, OCaml",
        "tag 9000 is out of range",
        "an array of size 0",
        "max_len is set on `n`, which is not a list",
        "`Quote` is a message and cannot be used as a field type",
        "optional is a property of the field",
        "optional must be `true` or `false`",
        "unknown key `colour`",
        "type id 100 of `Trade` is already used by `Quote`",
        "topic `md.quote` of `Trade` is already used",
        "an array of 64 elements inside a list",
        "the type id 70000 is out of range",
        "topic `Md-Quote` is not dotted lowercase words",
        "the `fields` of message `Bad` must be a list",
        "t.yaml:47:3: error: message `NoId` has no `id`",
        "message `NoId` has no `topic`",
        "has no `name`",
        "message has an empty name",
        "the type id must be an integer, found a quoted string",
        "field name `method` is a keyword in OCaml",
        "`Object` becomes the keyword `object`",
        "expected `>` to close `list<...>`",
        "t.yaml:61:9: error: the type id 65535 of message `Plain` is reserved",
    ] {
        assert_has(&errs, needle);
    }
    // Every diagnostic carries a hint line.
    assert!(errs.iter().all(|e| e.contains("\n  help: ")));
}

#[test]
fn malformed_yaml_is_positioned() {
    let errs = errors("package: p\nmessages:\n  Q: [1, 2\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_has(&errs, "malformed YAML");
    assert!(errs[0].starts_with("t.yaml:"), "{}", errs[0]);
}

#[test]
fn empty_and_non_mapping_files_are_rejected() {
    assert_has(&errors(""), "the schema file is empty");
    assert_has(&errors("- 1\n- 2\n"), "the top level must be a mapping");
    assert_has(&errors("package: p\n"), "the schema has no `messages`");
    assert_has(
        &errors("messages:\n  Q:\n    id: 1\n    topic: a\n    fields: [{name: a, type: u8}]\n"),
        "no `package`",
    );
}

#[test]
fn duplicate_yaml_keys_and_names_are_errors() {
    let errs = errors(
        "package: p\npackage: q\nstructs:\n  Q:\n    fields: [{name: a, type: u8}]\nmessages:\n  Q:\n    id: 1\n    topic: a\n    fields: [{name: a, type: u8, type: u16}]\n",
    );
    assert_has(&errs, "t.yaml:2:1: error: key `package` appears twice");
    assert_has(&errs, "the name `Q` is declared twice");
    assert_has(&errs, "key `type` appears twice");
}

#[test]
fn reserved_and_colliding_type_names() {
    let errs = errors(
        "package: p\nstructs:\n  String:\n    fields: [{name: a, type: u8}]\n  FooBar:\n    fields: [{name: a, type: u8}]\n  Foo_bar:\n    fields: [{name: a, type: u8}]\nmessages:\n  List:\n    id: 1\n    topic: a\n    fields: [{name: a, type: u8}]\n",
    );
    assert_has(&errs, "the type name `String` is reserved");
    assert_has(&errs, "the type name `List` is reserved");
    assert_has(&errs, "struct name `Foo_bar` is not UpperCamelCase");
}

#[test]
fn recursion_through_a_list_is_allowed_but_not_through_optional() {
    let ok = model::parse_str(
        "t.yaml",
        "package: p\nstructs:\n  Tree:\n    fields:\n      - { name: kids, type: \"list<Tree>\" }\nmessages:\n  M:\n    id: 1\n    topic: a\n    fields: [{name: t, type: Tree}]\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
    let errs = errors(
        "package: p\nstructs:\n  Tree:\n    fields:\n      - { name: kid, type: Tree, optional: true }\nmessages:\n  M:\n    id: 1\n    topic: a\n    fields: [{name: t, type: Tree}]\n",
    );
    assert_has(&errs, "contains itself without indirection");
}

#[test]
fn tags_are_assigned_after_the_highest_above() {
    let s = model::parse_str(
        "t.yaml",
        "package: p\nmessages:\n  M:\n    id: 1\n    topic: a\n    fields:\n      - { name: a, type: u8 }\n      - { name: b, type: u8, tag: 10 }\n      - { name: c, type: \"list<u8>\", max_len: 4 }\n      - { name: d, type: \"[i16; 3]\", tag: 5 }\n      - { name: e, type: bytes }\n",
    )
    .expect("valid");
    let tags: Vec<u16> = s.messages[0].fields.iter().map(|f| f.tag).collect();
    assert_eq!(tags, vec![1, 10, 11, 5, 12]);
    assert_eq!(
        s.messages[0].fields[2].ty,
        Type::List(Box::new(Type::U8), Some(4))
    );
    assert_eq!(s.messages[0].fields[2].max_len, Some(4));
    assert_eq!(
        s.messages[0].fields[3].ty,
        Type::Array(Box::new(Type::I16), 3)
    );
}

#[test]
fn assigned_tag_overflow_and_wrong_value_types() {
    let errs = errors(
        "package: p\nmessages:\n  M:\n    id: -1\n    topic: [a]\n    doc: {x: 1}\n    fields:\n      - { name: a, type: u8, tag: 8191 }\n      - { name: b, type: u8 }\n      - { name: c, type: [u8], max_len: 0 }\n      - 7\n",
    );
    assert_has(&errs, "would be 8192");
    assert_has(&errs, "the type id `-1` is negative");
    assert_has(&errs, "the topic must be a string, found a list");
    assert_has(&errs, "the doc of message `M` must be a string");
    assert_has(&errs, "the field type must be a string, found a list");
    assert_has(&errs, "max_len 0");
    assert_has(&errs, "a field of message `M` must be a mapping");
}

#[test]
fn aliases_and_multiple_documents_are_rejected() {
    assert_has(&errors("package: &a p\nx: *a\n"), "anchors");
    assert_has(
        &errors("package: p\n---\npackage: q\n"),
        "more than one YAML document",
    );
}

#[test]
fn a_byte_order_mark_at_the_start_is_allowed() {
    let text = "package: p\nmessages:\n  Q:\n    id: 1\n    topic: a.b\n    fields: [{name: a, type: u8}]\n";
    let plain = model::parse_str("t.yaml", text).expect("valid");
    let marked = model::parse_str("t.yaml", &format!("\u{feff}{text}"))
        .unwrap_or_else(|d| panic!("{}", d[0]));
    assert_eq!(marked, plain);
    // Only at the start: elsewhere it is part of the text, and reported with its line.
    let errs = errors(&format!("{text}\u{feff}version: 1\n"));
    assert_has(&errs, "t.yaml:7:1: error: unknown key");
}

#[test]
fn a_tag_out_of_range_names_the_largest_tag() {
    for tag in ["9000", "18446744073709551616", "0x2000"] {
        let errs = errors(&format!(
            "package: p\nmessages:\n  Q:\n    id: 1\n    topic: a.b\n    fields: [{{name: a, type: u8, tag: {tag}}}]\n"
        ));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_has(
            &errs,
            &format!("the tag {tag} is out of range (largest allowed: 8191)")
                .replace("0x2000", "8192"),
        );
    }
}

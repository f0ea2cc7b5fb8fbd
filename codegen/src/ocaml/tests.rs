//! Unit tests of the OCaml generator: output shape, determinism, refused names.

use super::*;
use crate::model::parse_str;

const TINY: &str = r#"
package: tiny
enums:
  Side:
    doc: Book side.
    variants:
      - { name: Buy, value: 1 }
      - { name: Sell, value: 2 }
structs:
  Level:
    fields:
      - { name: price, type: f64, tag: 1 }
      - { name: qty, type: f32, tag: 2, optional: true }
messages:
  Quote:
    id: 100
    topic: md.quote
    doc: Top of "book" (* best *).
    fields:
      - { name: side, type: Side, tag: 2 }
      - { name: levels, type: "list<Level>", max_len: 4, tag: 1 }
      - { name: key, type: "[u8; 16]", tag: 3 }
      - { name: ts_ns, type: u64, tag: 4, optional: true }
"#;

fn tiny() -> Schema {
    parse_str("tiny.yaml", TINY).expect("tiny schema is valid")
}

#[test]
fn emits_the_module_and_its_dune_library() {
    let files = generate(&tiny()).expect("generates");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["tiny.ml", "dune"]);
    assert_eq!(files[1].1, "(library\n (name tiny))\n");
}

#[test]
fn output_shape() {
    let files = generate(&tiny()).expect("generates");
    let src = &files[0].1;
    assert!(src.starts_with("(* Wire types and codecs of the `tiny` contracts."));
    assert!(src.contains("module Wire = struct\n"));
    assert!(src.contains("let package = \"tiny\"\n"));
    assert!(src.contains("(* Book side. *)\ntype side =\n  | Buy (* 1 *)\n  | Sell (* 2 *)\n"));
    assert!(src.contains("and level = {\n  price : float;\n  qty : float option;\n}\n"));
    assert!(src.contains("(* Top of 'book' ( * best * ). *)\nand quote = {\n"));
    assert!(src.contains("  levels : level list;\n  key : int array;\n  ts_ns : int64 option;\n"));
    assert!(src.contains("let side_of_u32 (what : string) (n : int) : side =\n  match n with\n  | 1 -> Buy\n  | 2 -> Sell\n"));
    assert!(src.contains("let all_side : side list = [ Buy; Sell ]\n"));
    assert!(src.contains("let rec read_level (c : Wire.cursor) (what : string) : level =\n"));
    assert!(src.contains("f_levels := Some ((Wire.read_list ~max_len:(Some 4) ~width:4 read_level) c \"Quote.levels\")"));
    assert!(src.contains(
        "f_key := Some ((Wire.read_array ~len:16 ~width:1 Wire.read_u8) c \"Quote.key\")"
    ));
    assert!(src.contains("let encode_quote (v : quote) : string =\n"));
    assert!(src.contains("let decode_quote (body : string) : quote =\n"));
    // The canonical layout first (keys `tag << 3 | wire type`, in tag order), then any order.
    assert!(src.contains("    Wire.expect_key c 12;\n    let f_levels = (Wire.read_list"));
    assert!(src.contains(
        "    let f_ts_ns = if Wire.has_key c 35 then Some (Wire.read_u64 c \"Quote.ts_ns\") else None in\n    Wire.expect_end c;\n"
    ));
    assert!(src.contains("  | exception Wire.Off_canonical ->\n    c.pos <- start;\n"));
    assert!(src.contains("    | Quote of quote\n"));
    assert!(src.contains("    | 100 -> Quote (decode_quote body)\n"));
    assert!(src.contains("let decode_frame ?(max_frame_size = Wire.default_max_frame_size)"));
}

#[test]
fn fields_are_written_in_tag_order() {
    let files = generate(&tiny()).expect("generates");
    let src = &files[0].1;
    let encode = &src[src.find("let encode_quote").expect("encoder")..];
    let levels = encode.find("Wire.write_key w 1 4").expect("levels key");
    let side = encode.find("Wire.write_key w 2 2").expect("side key");
    let key = encode.find("Wire.write_key w 3 4").expect("key key");
    assert!(levels < side && side < key);
}

#[test]
fn deterministic() {
    assert_eq!(generate(&tiny()), generate(&tiny()));
}

#[test]
fn refuses_names_the_module_cannot_hold() {
    let mut schema = tiny();
    schema.enums[0].variants[0].0 = "Some".into();
    assert!(generate(&schema).unwrap_err().contains("Side.Some"));
    // Struct `ReadLevel` prints with `read_level_to_text`, which is also how struct
    // `LevelToText` is read.
    let mut clash = tiny();
    clash.structs[0].name = "ReadLevel".into();
    let mut other = clash.structs[0].clone();
    other.name = "LevelToText".into();
    clash.structs.push(other);
    assert!(generate(&clash)
        .unwrap_err()
        .contains("`read_level_to_text`"));
}

#[test]
fn docs_cannot_open_a_string_inside_a_comment() {
    // The lexer reads `{id|`, `{|` and `{%ext|` as the start of a quoted string even in a
    // comment; left open, the module does not compile.
    let mut schema = tiny();
    schema.messages[0].doc = Some("quoted {id|a, {|b, {%ext|c, {  d".into());
    let files = generate(&schema).expect("generates");
    assert!(
        files[0]
            .1
            .contains("(* quoted { id|a, { |b, { %ext|c, {  d *)\nand quote = {\n"),
        "{}",
        files[0].1
    );
}

#[test]
fn the_contracts_functor_gives_every_message_with_its_schema() {
    let files = generate_from(&tiny(), "tiny.yaml").expect("generates");
    let src = &files[0].1;
    assert!(src.contains("let schema_file = \"tiny.yaml\"\n"));
    assert!(src.contains("module Contracts (H : sig\n  type 'a t\n"));
    assert!(src.contains(
        "  let quote : quote H.t =\n    H.generated ~package:Schema_of_module.package \
         ~schema_digest:Schema_of_module.digest\n      ~schema_file:Schema_of_module.file \
         ~name:\"Quote\" ~type_id:100 ~encode:encode_quote\n      ~decode:decode_quote\n"
    ));
}

//! The `Message` module (the sum of all messages: type ids, topics, names, bodies, text and
//! decoding by type id), the `Frame` module and the frame functions.

use std::fmt::Write as _;

use crate::model::Schema;
use crate::names::snake_case;

pub(super) fn message_module(out: &mut String, schema: &Schema) {
    out.push_str(
        "\n(** Every message of the schema, as carried by a frame. *)\nmodule Message = struct\n",
    );
    if schema.messages.is_empty() {
        out.push_str("  type t = |\n\n  let type_id (m : t) : int = match m with _ -> .\n  let topic (m : t) : string = match m with _ -> .\n  let name (m : t) : string = match m with _ -> .\n  let encode (m : t) : string = match m with _ -> .\n  let to_text (m : t) : string = match m with _ -> .\n");
    } else {
        out.push_str("  type t =");
        for m in &schema.messages {
            let _ = write!(out, "\n    | {} of {}", m.name, snake_case(&m.name));
        }
        out.push('\n');
        let arms = |out: &mut String,
                    func: &str,
                    ret: &str,
                    doc: &str,
                    arm: &dyn Fn(&crate::model::Message) -> String| {
            let _ = write!(
                out,
                "\n  (** {doc} *)\n  let {func} (m : t) : {ret} =\n    match m with"
            );
            for m in &schema.messages {
                let body = arm(m);
                let var = if body.ends_with(" v") { "v" } else { "_" };
                let _ = write!(out, "\n    | {} {var} -> {body}", m.name);
            }
            out.push('\n');
        };
        arms(
            out,
            "type_id",
            "int",
            "The [u16] type id written in the frame header.",
            &|m| format!("{}", m.id),
        );
        arms(
            out,
            "topic",
            "string",
            "The topic the message is published on.",
            &|m| format!("{:?}", m.topic),
        );
        arms(
            out,
            "name",
            "string",
            "The message's name in contracts.yaml.",
            &|m| format!("{:?}", m.name),
        );
        arms(
            out,
            "encode",
            "string",
            "The body, without frame header.",
            &|m| format!("encode_{} v", snake_case(&m.name)),
        );
        arms(
            out,
            "to_text",
            "string",
            "Canonical text (docs/contracts-languages.md).",
            &|m| format!("{}_to_text v", snake_case(&m.name)),
        );
    }
    out.push_str(
        "\n  (** Decodes a body whose type id is known; raises [Wire.Decode_error] only. *)\n  \
         let decode (type_id : int) (body : string) : t =\n    match type_id with",
    );
    for m in &schema.messages {
        let _ = write!(
            out,
            "\n    | {} -> {} (decode_{} body)",
            m.id,
            m.name,
            snake_case(&m.name)
        );
    }
    out.push_str(
        "\n    | _ ->\n      Wire.fail \"UnknownType\"\n        \
         (Printf.sprintf \"type id %d is not a message of this schema\" type_id)\n",
    );
    let ids: Vec<String> = schema.messages.iter().map(|m| m.id.to_string()).collect();
    let _ = write!(
        out,
        "\n  (** Every type id, in declaration order. *)\n  let type_ids : int list = [ {} ]\nend\n",
        ids.join("; ")
    );
    out.push_str(
        r#"
(** One decoded frame: the header fields and the message it carries. *)
module Frame = struct
  type t = { flags : int; seq : int64; ts_ns : int64; message : Message.t }
end

(** Header plus body, ready to write to a connection; raises [Wire.Encode_error]. *)
let encode_frame ?(seq = 0L) ?(ts_ns = 0L) ?(flags = 0) (m : Message.t) : string =
  let body = Message.encode m in
  let w = Wire.writer () in
  Wire.write_frame w ~type_id:(Message.type_id m) ~flags ~seq ~ts_ns body;
  Wire.contents w

(** Decodes the frame starting at [pos] (default 0) of [s]. Returns it and the number of
    bytes it took, so a buffer of several frames can be read in a loop. Raises
    [Wire.Decode_error] (and nothing else) on any malformed input. *)
let decode_frame ?(max_frame_size = Wire.default_max_frame_size) ?(pos = 0) (s : string) :
    Frame.t * int =
  let h = Wire.read_header ~max_frame_size s pos in
  let body = String.sub s (pos + Wire.header_len) h.Wire.body_len in
  let message = Message.decode h.Wire.type_id body in
  ( { Frame.flags = h.Wire.flags; seq = h.Wire.seq; ts_ns = h.Wire.ts_ns; message },
    Wire.header_len + h.Wire.body_len )
"#,
    );
}

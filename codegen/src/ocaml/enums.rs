//! The functions of every enum: its number both ways, every variant, its text, its reader
//! and its writer.

use std::fmt::Write as _;

use crate::model::Schema;
use crate::names::snake_case;

pub(super) fn enums(out: &mut String, schema: &Schema) {
    for e in &schema.enums {
        let t = snake_case(&e.name);
        let _ = write!(out, "\nlet {t}_to_u32 (v : {t}) : int =\n  match v with");
        for (v, value) in &e.variants {
            let _ = write!(out, "\n  | {v} -> {value}");
        }
        let _ = write!(
            out,
            "\n\nlet {t}_of_u32 (what : string) (n : int) : {t} =\n  match n with"
        );
        for (v, value) in &e.variants {
            let _ = write!(out, "\n  | {value} -> {v}");
        }
        let _ = write!(
            out,
            "\n  | _ ->\n    Wire.fail \"UnknownEnumValue\"\n      (Printf.sprintf \"%s: %d is not a {} value\" what n)\n",
            e.name
        );
        let variants: Vec<&str> = e.variants.iter().map(|(v, _)| v.as_str()).collect();
        let _ = write!(
            out,
            "\n(** Every variant, in declaration order. *)\nlet all_{t} : {t} list = [ {} ]\n",
            variants.join("; ")
        );
        let _ = write!(
            out,
            "\nlet {t}_to_text (v : {t}) : string =\n  match v with"
        );
        for (v, _) in &e.variants {
            let _ = write!(out, "\n  | {v} -> {v:?}");
        }
        let _ = write!(
            out,
            "\n\nlet read_{t} (c : Wire.cursor) (what : string) : {t} =\n  {t}_of_u32 what (Wire.read_u32 c what)\n\
             \nlet write_{t} (w : Wire.writer) (_what : string) (v : {t}) : unit =\n  \
             Wire.add_i32 w (Int32.of_int ({t}_to_u32 v))\n"
        );
    }
}

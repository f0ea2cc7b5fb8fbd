//! Contract payloads as JSON for a person reading a journal: a body decoded field by field
//! by the schema the journal's header carries (`docs/wire.md` gives the layout), fields
//! named as the schema names them, in the order the body carries them (tag order, as every
//! encoder writes it; the crate's `serde_json` keeps a map's order). A body the schema
//! cannot decode gives `None` (the caller shows its bytes instead); nothing in a body,
//! however damaged, makes this panic or read outside it.

use mycelium_codegen::model::{Field, Schema, Type};
use serde_json::{Map, Value};

/// How deep structs may nest inside one body (as the codec's readers refuse deeper ones).
const MAX_DEPTH: usize = mycelium_codec::MAX_DEPTH as usize;

/// The body of the message `type_id` of `schema` as a JSON object of its fields; a field the
/// schema does not know is kept as `"#TAG"` with its bytes in hex. `None` when the schema
/// has no such message or the body does not follow it.
pub fn to_json(schema: &Schema, type_id: u16, body: &[u8]) -> Option<Value> {
    let message = schema.message_by_id(type_id)?;
    fields(schema, &message.fields, body, 0)
}

/// A field sequence: a 2-byte key (`tag << 3 | wire type`) and a value, to the body's end.
fn fields(schema: &Schema, known: &[Field], mut body: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Map::new();
    while !body.is_empty() {
        let key = u16::from_le_bytes(take::<2>(&mut body)?);
        let (tag, wire) = (key >> 3, key & 7);
        let len = match wire {
            0 => 1,
            1 => 2,
            2 => 4,
            3 => 8,
            4 => usize::try_from(u32::from_le_bytes(take::<4>(&mut body)?)).ok()?,
            _ => return None,
        };
        let value = body.get(..len)?;
        body = &body[len..];
        match known.iter().find(|f| f.tag == tag) {
            Some(field) => {
                if field.ty.wire_type() as u16 != wire {
                    return None;
                }
                out.insert(
                    field.name.clone(),
                    value_of(schema, &field.ty, value, depth)?,
                );
            }
            None => {
                out.insert(format!("#{tag}"), Value::String(hex(value)));
            }
        }
    }
    Some(Value::Object(out))
}

/// One value of type `ty`, `bytes` exactly its encoding.
fn value_of(schema: &Schema, ty: &Type, bytes: &[u8], depth: usize) -> Option<Value> {
    let fixed = |n: usize| (bytes.len() == n).then_some(bytes);
    Some(match ty {
        Type::Bool => match fixed(1)?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return None,
        },
        Type::U8 => Value::from(fixed(1)?[0]),
        Type::I8 => Value::from(fixed(1)?[0] as i8),
        Type::U16 => Value::from(u16::from_le_bytes(array(bytes)?)),
        Type::I16 => Value::from(i16::from_le_bytes(array(bytes)?)),
        Type::U32 => Value::from(u32::from_le_bytes(array(bytes)?)),
        Type::I32 => Value::from(i32::from_le_bytes(array(bytes)?)),
        Type::U64 => Value::from(u64::from_le_bytes(array(bytes)?)),
        Type::I64 => Value::from(i64::from_le_bytes(array(bytes)?)),
        // A NaN or an infinity has no JSON number: `null`.
        Type::F32 => Value::from(f64::from(f32::from_le_bytes(array(bytes)?))),
        Type::F64 => Value::from(f64::from_le_bytes(array(bytes)?)),
        Type::String => Value::String(std::str::from_utf8(bytes).ok()?.to_owned()),
        Type::Bytes => Value::String(hex(bytes)),
        Type::Enum(name) => {
            let value = u32::from_le_bytes(array(bytes)?);
            let variants = &schema.enum_named(name)?.variants;
            match variants.iter().find(|(_, v)| *v == value) {
                Some((variant, _)) => Value::String(variant.clone()),
                None => Value::from(value),
            }
        }
        Type::Struct(name) => {
            let fields_of = &schema.struct_named(name)?.fields;
            fields(schema, fields_of, bytes, depth + 1)?
        }
        Type::List(element, _) | Type::Array(element, _) => {
            elements(schema, element, bytes, depth)?
        }
    })
}

/// A list or an array: a `u32` count, then the elements (fixed-width ones packed, the others
/// each a `u32` length and its bytes), and nothing after them.
fn elements(schema: &Schema, element: &Type, mut bytes: &[u8], depth: usize) -> Option<Value> {
    let count = usize::try_from(u32::from_le_bytes(take::<4>(&mut bytes)?)).ok()?;
    // Each element takes at least a byte (or its 4-byte length): a count the bytes cannot
    // hold is refused before anything is reserved for it.
    let least = element.fixed_width().unwrap_or(4);
    if count > bytes.len() / least {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = match element.fixed_width() {
            Some(width) => width,
            None => usize::try_from(u32::from_le_bytes(take::<4>(&mut bytes)?)).ok()?,
        };
        let value = bytes.get(..len)?;
        bytes = &bytes[len..];
        out.push(value_of(schema, element, value, depth)?);
    }
    bytes.is_empty().then_some(Value::Array(out))
}

/// The first `N` bytes of `bytes`, which move past them.
fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

/// `bytes` as a fixed-width value's array, if it is exactly that long.
fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

/// Bytes in lower-case hex (how a payload no schema decodes is shown).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::to_json;
    use proptest::prelude::*;

    const SCHEMA: &str = r#"
package: lab
version: 1
enums:
  Side:
    variants:
      - { name: Buy, value: 1 }
      - { name: Sell, value: 2 }
structs:
  Leg:
    fields:
      - { name: px, tag: 1, type: f64 }
      - { name: qty, tag: 2, type: i32 }
messages:
  Fill:
    id: 300
    topic: lab.fill
    fields:
      - { name: order, tag: 1, type: u64 }
      - { name: side, tag: 2, type: Side }
      - { name: venue, tag: 3, type: string }
      - { name: legs, tag: 4, type: "list<Leg>" }
      - { name: marks, tag: 5, type: "list<u16>" }
      - { name: live, tag: 6, type: bool, optional: true }
"#;

    fn schema() -> mycelium_codegen::model::Schema {
        mycelium_codegen::model::parse_str("lab.yaml", SCHEMA).expect("the test schema")
    }

    fn key(out: &mut Vec<u8>, tag: u16, wire: u16) {
        out.extend_from_slice(&(tag << 3 | wire).to_le_bytes());
    }

    fn len(out: &mut Vec<u8>, tag: u16, body: &[u8]) {
        key(out, tag, 4);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
    }

    /// A `Fill` as the codec writes it (`docs/wire.md`).
    fn fill() -> Vec<u8> {
        let mut out = Vec::new();
        key(&mut out, 1, 3);
        out.extend_from_slice(&42u64.to_le_bytes());
        key(&mut out, 2, 2);
        out.extend_from_slice(&2u32.to_le_bytes());
        len(&mut out, 3, b"XNAS");
        let mut leg = Vec::new();
        key(&mut leg, 1, 3);
        leg.extend_from_slice(&101.5f64.to_le_bytes());
        key(&mut leg, 2, 2);
        leg.extend_from_slice(&(-3i32).to_le_bytes());
        let mut legs = 1u32.to_le_bytes().to_vec();
        legs.extend_from_slice(&(leg.len() as u32).to_le_bytes());
        legs.extend_from_slice(&leg);
        len(&mut out, 4, &legs);
        let mut marks = 2u32.to_le_bytes().to_vec();
        marks.extend_from_slice(&7u16.to_le_bytes());
        marks.extend_from_slice(&9u16.to_le_bytes());
        len(&mut out, 5, &marks);
        // A field of a later version of the schema: kept by its tag.
        key(&mut out, 9, 0);
        out.push(0xab);
        out
    }

    #[test]
    fn a_contract_body_reads_as_its_fields_by_name() {
        let value = to_json(&schema(), 300, &fill()).expect("decodes");
        assert_eq!(
            value,
            serde_json::json!({
                "order": 42,
                "side": "Sell",
                "venue": "XNAS",
                "legs": [{"px": 101.5, "qty": -3}],
                "marks": [7, 9],
                "#9": "ab",
            })
        );
    }

    #[test]
    fn a_body_that_does_not_follow_the_schema_is_not_decoded() {
        let schema = schema();
        let body = fill();
        // Unknown message, cut short, a wrong wire type, a count beyond the bytes.
        assert_eq!(to_json(&schema, 301, &body), None);
        assert_eq!(to_json(&schema, 300, &body[..body.len() - 1]), None);
        let mut wrong = body.clone();
        wrong[0] = (1 << 3 | 2) as u8;
        assert_eq!(to_json(&schema, 300, &wrong), None);
        let mut counted = Vec::new();
        len(&mut counted, 5, &u32::MAX.to_le_bytes());
        assert_eq!(to_json(&schema, 300, &counted), None);
    }

    proptest! {
        /// Any bytes, and any damage to a good body: an answer or `None`, never a panic.
        #[test]
        fn hostile_bodies_never_panic(noise in proptest::collection::vec(any::<u8>(), 0..96),
                                      at in any::<usize>(), flip in any::<u8>()) {
            let schema = schema();
            let _ = to_json(&schema, 300, &noise);
            let mut body = fill();
            let i = at % body.len();
            body[i] ^= flip;
            let _ = to_json(&schema, 300, &body);
        }
    }
}

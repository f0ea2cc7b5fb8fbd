//! `compat::check` against real decoders. First a schema-driven codec (`dynamic`) is held
//! to the generated Rust codec byte for byte on the repository's contracts; then pairs of
//! schemas (mutations of the repository's) that `compat::check` calls compatible must
//! exchange every shared message both ways through that codec.

mod dynamic;

use dynamic::{decode_record, encode_record, Gen, Value};
use mycelium_codec::WireMessage;
use mycelium_codegen::model::{self, Field, Schema, Type};
use mycelium_codegen::{compat, digest};
use mycelium_contracts::*;
use proptest::prelude::*;

mod strategies {
    #![allow(dead_code, clippy::all)]
    use mycelium_contracts::*;
    include!(concat!(env!("OUT_DIR"), "/contracts_strategies.rs"));
}
use strategies::*;

fn repo() -> Schema {
    model::parse_str("contracts.yaml", include_str!("../../contracts.yaml")).expect("valid")
}

fn any_message() -> impl Strategy<Value = AnyMessage> {
    prop_oneof![
        arb_quote().prop_map(AnyMessage::Quote),
        arb_book_snapshot().prop_map(AnyMessage::BookSnapshot),
        arb_trade().prop_map(AnyMessage::Trade),
        arb_new_order().prop_map(AnyMessage::NewOrder),
        arb_cancel_order().prop_map(AnyMessage::CancelOrder),
        arb_order_ack().prop_map(AnyMessage::OrderAck),
        arb_order_fill().prop_map(AnyMessage::OrderFill),
        arb_order_reject().prop_map(AnyMessage::OrderReject),
        arb_heartbeat().prop_map(AnyMessage::Heartbeat),
        arb_telemetry().prop_map(AnyMessage::Telemetry),
    ]
}

fn body(m: &AnyMessage) -> Vec<u8> {
    let mut frame = Vec::new();
    m.encode_frame(0, 0, &mut frame);
    frame.split_off(mycelium_codec::HEADER_LEN)
}

#[test]
fn the_repository_schema_covers_every_generated_message() {
    assert_eq!(repo().messages.len(), MESSAGE_TYPES.len());
    assert_eq!(digest::digest(&repo()), SCHEMA_DIGEST);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Generated encoder -> dynamic decoder -> dynamic encoder gives the same bytes.
    #[test]
    fn dynamic_codec_reads_what_generated_code_writes(m in any_message()) {
        let schema = repo();
        let msg = schema.message_by_id(m.type_id()).expect("known id");
        let bytes = body(&m);
        let v = decode_record(&schema, &msg.fields, &bytes, 0)
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let mut again = Vec::new();
        encode_record(&schema, &msg.fields, &v, &mut again);
        prop_assert_eq!(again, bytes);
    }

    /// Dynamic encoder -> generated decoder -> generated encoder gives the same bytes.
    #[test]
    fn generated_code_reads_what_the_dynamic_codec_writes(seed in 1u64.., which in 0usize..10) {
        let schema = repo();
        let msg = &schema.messages[which % schema.messages.len()];
        let v = Gen(seed).record(&schema, &msg.fields, 0);
        let mut bytes = Vec::new();
        encode_record(&schema, &msg.fields, &v, &mut bytes);
        let decoded = AnyMessage::decode(msg.id, &bytes).expect("known id");
        let decoded = decoded.map_err(|e| TestCaseError::fail(format!("{}: {e}", msg.name)))?;
        prop_assert_eq!(body(&decoded), bytes);
    }
}

/// One change to a schema; `seed` picks where.
fn mutate(s: &mut Schema, kind: u8, seed: u64) {
    let pick = |n: usize, salt: u64| {
        ((seed.rotate_left(salt as u32 * 7) ^ salt) % n.max(1) as u64) as usize
    };
    let mi = pick(s.messages.len(), 1);
    let si = pick(s.structs.len(), 2);
    let prims = [
        Type::U8,
        Type::U32,
        Type::U64,
        Type::I64,
        Type::F64,
        Type::String,
        Type::Bytes,
        Type::Bool,
    ];
    let prim = prims[pick(prims.len(), 3)].clone();
    let fresh_tag =
        |fields: &[Field]| fields.iter().map(|f| f.tag).max().unwrap_or(0) + 1 + pick(5, 4) as u16;
    let new_field = |fields: &[Field], optional: bool| Field {
        name: format!("added_{}", pick(1000, 5)),
        tag: fresh_tag(fields),
        ty: prim.clone(),
        optional,
        max_len: None,
        doc: None,
    };
    match kind % 12 {
        0 => {
            let f = new_field(&s.messages[mi].fields, true);
            s.messages[mi].fields.push(f);
        }
        1 => {
            let f = new_field(&s.messages[mi].fields, false);
            s.messages[mi].fields.push(f);
        }
        2 => {
            let fields = &mut s.messages[mi].fields;
            if fields.len() > 1 {
                let i = pick(fields.len(), 6);
                fields.remove(i);
            }
        }
        3 => {
            let fields = &mut s.messages[mi].fields;
            let i = pick(fields.len(), 6);
            fields[i].optional = !fields[i].optional;
        }
        4 => {
            let fields = &mut s.messages[mi].fields;
            let i = pick(fields.len(), 6);
            fields[i].ty = prim;
            fields[i].max_len = None;
        }
        5 => {
            if let Some(f) = s.messages[mi]
                .fields
                .iter_mut()
                .find(|f| matches!(f.ty, Type::List(..)))
            {
                let m = f.max_len.map_or(2, |m| m + 1);
                if let Type::List(_, max) = &mut f.ty {
                    *max = Some(m);
                }
                f.max_len = Some(m);
            }
        }
        6 => {
            let ei = pick(s.enums.len(), 7);
            let top = s.enums[ei].variants.iter().map(|v| v.1).max().unwrap_or(0);
            s.enums[ei]
                .variants
                .push((format!("Added{}", pick(100, 8)), top + 1));
        }
        7 => s.messages[mi].id = s.messages[mi].id.wrapping_add(1 + pick(3, 9) as u16),
        8 => {
            let fields = &mut s.messages[mi].fields;
            let i = pick(fields.len(), 6);
            fields[i].name = format!("renamed_{}", pick(100, 10));
        }
        9 => {
            let f = new_field(&s.structs[si].fields, true);
            s.structs[si].fields.push(f);
        }
        10 => {
            let f = new_field(&s.structs[si].fields, false);
            s.structs[si].fields.push(f);
        }
        _ => {
            let fields = &mut s.structs[si].fields;
            if fields.len() > 1 {
                let i = pick(fields.len(), 6);
                fields.remove(i);
            }
        }
    }
}

/// The value with only the fields (tags) `to` declares, recursively.
fn project(
    from: &Schema,
    to: &Schema,
    fields_to: &[Field],
    v: &std::collections::BTreeMap<u16, Value>,
) -> std::collections::BTreeMap<u16, Value> {
    let mut out = std::collections::BTreeMap::new();
    for f in fields_to {
        if let Some(x) = v.get(&f.tag) {
            out.insert(f.tag, project_value(from, to, &f.ty, x));
        }
    }
    out
}

fn project_value(from: &Schema, to: &Schema, t: &Type, v: &Value) -> Value {
    match (t, v) {
        (Type::Struct(name), Value::Record(r)) => {
            let s = to.struct_named(name).expect("declared");
            Value::Record(project(from, to, &s.fields, r))
        }
        (Type::Array(inner, _) | Type::List(inner, _), Value::Seq(items)) => Value::Seq(
            items
                .iter()
                .map(|x| project_value(from, to, inner, x))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Sends `count` random messages of every message both schemas declare from `a` to `b`.
fn exchange(a: &Schema, b: &Schema, seed: u64, count: u64) -> Result<(), String> {
    for ma in &a.messages {
        let Some(mb) = b.message_by_id(ma.id) else {
            continue;
        };
        for k in 0..count {
            let v = Gen(seed.wrapping_add(k).max(1)).record(a, &ma.fields, 0);
            let mut bytes = Vec::new();
            encode_record(a, &ma.fields, &v, &mut bytes);
            let got = decode_record(b, &mb.fields, &bytes, 0).map_err(|e| {
                format!(
                    "{} sent by the first, refused by the second: {e:?}",
                    ma.name
                )
            })?;
            if got != project(a, b, &mb.fields, &v) {
                return Err(format!("{}: the second read other values", ma.name));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever pair of schemas `compat::check` accepts exchanges messages both ways.
    #[test]
    fn schemas_called_compatible_exchange_messages_both_ways(
        kinds in proptest::collection::vec(any::<u8>(), 1..3),
        seed in 1u64..,
    ) {
        let old = repo();
        let mut new = old.clone();
        for (i, k) in kinds.iter().enumerate() {
            mutate(&mut new, *k, seed.wrapping_mul(i as u64 + 1));
        }
        // Keep only valid schemas: the canonical text must read back.
        let Ok(new) = model::from_canonical(&digest::canonical(&new)) else {
            return Ok(());
        };
        let old = model::from_canonical(&digest::canonical(&old)).expect("valid");
        match compat::check(&old, &new) {
            Ok(_) => {
                prop_assert!(exchange(&old, &new, seed, 8).is_ok(), "{:?}", exchange(&old, &new, seed, 8));
                prop_assert!(exchange(&new, &old, seed, 8).is_ok(), "{:?}", exchange(&new, &old, seed, 8));
            }
            Err(e) => {
                // Refusals name a message of the old schema (or one the new renumbered).
                prop_assert!(old.messages.iter().any(|m| m.name == e.message), "{e}");
            }
        }
    }
}

/// The refusals that decoders would hit: for each, a message that fails.
#[test]
fn refused_changes_do_break_a_decoder() {
    let old = repo();
    for kind in [1u8, 3, 4, 10] {
        let mut found = false;
        for seed in 1..200u64 {
            let mut new = old.clone();
            mutate(&mut new, kind, seed);
            let Ok(new) = model::from_canonical(&digest::canonical(&new)) else {
                continue;
            };
            if compat::check(&old, &new).is_ok() {
                continue;
            }
            if exchange(&old, &new, seed, 16).is_err() || exchange(&new, &old, seed, 16).is_err() {
                found = true;
                break;
            }
        }
        assert!(found, "mutation {kind}: no refused pair broke a decoder");
    }
    let _ = Quote::TYPE_ID;
}

//! Every generated type survives encode -> decode unchanged, for arbitrary values
//! (including NaN, infinities and -0.0: equality is checked on the `Debug` text, which is
//! exact for floats and treats NaN as equal to itself, and on the re-encoded bytes).

use mycelium_codec::{
    decode_message, encode_frame, read::Reader, write, Fixed, WireMessage, WireStruct,
    DEFAULT_MAX_FRAME,
};
use mycelium_contracts::*;
use proptest::prelude::*;

mod strategies {
    #![allow(dead_code, clippy::all)]
    use mycelium_contracts::*;
    include!(concat!(env!("OUT_DIR"), "/contracts_strategies.rs"));
}
use strategies::*;

fn message_round_trip<M: WireMessage + std::fmt::Debug>(msg: &M) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    let n = encode_frame(msg, 5, 6, &mut buf);
    prop_assert_eq!(n, buf.len());
    let (header, back) = decode_message::<M>(&buf, DEFAULT_MAX_FRAME)
        .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
    prop_assert_eq!(header.type_id, M::TYPE_ID);
    prop_assert_eq!((header.seq, header.ts_ns), (5, 6));
    prop_assert_eq!(format!("{back:?}"), format!("{msg:?}"));
    let mut again = Vec::new();
    encode_frame(&back, 5, 6, &mut again);
    prop_assert_eq!(again, buf);
    Ok(())
}

fn struct_round_trip<S: WireStruct + std::fmt::Debug>(s: &S) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    write::nested(&mut buf, s);
    let back: S = Reader::new(&buf)
        .nested()
        .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
    prop_assert_eq!(format!("{back:?}"), format!("{s:?}"));
    Ok(())
}

fn enum_round_trip<E: Fixed + std::fmt::Debug + PartialEq>(e: E) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    e.put(&mut buf);
    prop_assert_eq!(buf.len(), 4);
    prop_assert_eq!(Reader::new(&buf).fixed::<E>().ok(), Some(e));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test] fn quote(m in arb_quote()) { message_round_trip(&m)?; }
    #[test] fn book_snapshot(m in arb_book_snapshot()) { message_round_trip(&m)?; }
    #[test] fn trade(m in arb_trade()) { message_round_trip(&m)?; }
    #[test] fn new_order(m in arb_new_order()) { message_round_trip(&m)?; }
    #[test] fn cancel_order(m in arb_cancel_order()) { message_round_trip(&m)?; }
    #[test] fn order_ack(m in arb_order_ack()) { message_round_trip(&m)?; }
    #[test] fn order_fill(m in arb_order_fill()) { message_round_trip(&m)?; }
    #[test] fn order_reject(m in arb_order_reject()) { message_round_trip(&m)?; }
    #[test] fn heartbeat(m in arb_heartbeat()) { message_round_trip(&m)?; }
    #[test] fn telemetry(m in arb_telemetry()) { message_round_trip(&m)?; }

    #[test] fn level(s in arb_level(2)) { struct_round_trip(&s)?; }
    #[test] fn instrument(s in arb_instrument(2)) { struct_round_trip(&s)?; }
    #[test] fn fee(s in arb_fee(2)) { struct_round_trip(&s)?; }
    #[test] fn counter(s in arb_counter(2)) { struct_round_trip(&s)?; }

    #[test] fn side(e in arb_side()) { enum_round_trip(e)?; }
    #[test] fn order_type(e in arb_order_type()) { enum_round_trip(e)?; }
    #[test] fn time_in_force(e in arb_time_in_force()) { enum_round_trip(e)?; }
    #[test] fn reject_reason(e in arb_reject_reason()) { enum_round_trip(e)?; }
    #[test] fn liquidity(e in arb_liquidity()) { enum_round_trip(e)?; }
    #[test] fn health(e in arb_health()) { enum_round_trip(e)?; }

    /// Any message through the `AnyMessage` dispatcher.
    #[test]
    fn any_message_dispatch(m in arb_telemetry()) {
        let any = AnyMessage::Telemetry(m);
        let mut buf = Vec::new();
        any.encode_frame(1, 2, &mut buf);
        let (h, body) = mycelium_codec::decode_frame(&buf, DEFAULT_MAX_FRAME).unwrap();
        let back = AnyMessage::decode(h.type_id, body).expect("known type id").unwrap();
        prop_assert_eq!(back.type_id(), any.type_id());
        prop_assert_eq!(format!("{back:?}"), format!("{any:?}"));
    }
}

/// The tests above cover every message of the schema: adding a message without a test
/// fails here.
#[test]
fn every_message_has_a_round_trip_test() {
    let tested = [
        Quote::TYPE_ID,
        BookSnapshot::TYPE_ID,
        Trade::TYPE_ID,
        NewOrder::TYPE_ID,
        CancelOrder::TYPE_ID,
        OrderAck::TYPE_ID,
        OrderFill::TYPE_ID,
        OrderReject::TYPE_ID,
        Heartbeat::TYPE_ID,
        Telemetry::TYPE_ID,
    ];
    let all: Vec<u16> = MESSAGE_TYPES.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(tested.to_vec(), all);
}

#[test]
fn serde_derives_are_usable() {
    fn assert_serde<T: serde::Serialize + for<'de> serde::Deserialize<'de>>() {}
    assert_serde::<Telemetry>();
    assert_serde::<Side>();
    assert_serde::<Level>();
}

//! Generated decoders follow docs/wire.md on malformed and evolved bodies.

use mycelium_codec::{write, DecodeError, WireMessage, WireType};
use mycelium_contracts::{Heartbeat, NewOrder, OrderFill, OrderReject, Quote, Telemetry, Trade};

fn heartbeat_body() -> Vec<u8> {
    let mut b = Vec::new();
    write::field(&mut b, 1, 10u64);
    write::field(&mut b, 2, 11u64);
    write::key(&mut b, 3, WireType::Len);
    write::str(&mut b, "svc");
    b
}

#[test]
fn fields_in_any_order_and_unknown_tags_are_accepted() {
    let mut b = Vec::new();
    write::key(&mut b, 3, WireType::Len);
    write::str(&mut b, "svc");
    write::field(&mut b, 99, 1u8);
    write::field(&mut b, 2, 11u64);
    write::key(&mut b, 100, WireType::Len);
    write::bytes(&mut b, b"a newer field");
    write::field(&mut b, 101, 7u16);
    write::field(&mut b, 102, 7u32);
    write::field(&mut b, 1, 10u64);
    write::field(&mut b, 103, 7u64);
    let hb = Heartbeat::decode_body(&b).expect("valid");
    assert_eq!((hb.ts_ns, hb.seq, hb.sender.as_str()), (10, 11, "svc"));
}

#[test]
fn missing_required_field() {
    let mut b = heartbeat_body();
    b.truncate(10 + 10); // drop `sender`
    assert_eq!(
        Heartbeat::decode_body(&b),
        Err(DecodeError::MissingField {
            record: "Heartbeat",
            field: "sender",
            tag: 3
        })
    );
}

#[test]
fn duplicate_field() {
    let mut b = heartbeat_body();
    write::field(&mut b, 2, 12u64);
    assert_eq!(
        Heartbeat::decode_body(&b),
        Err(DecodeError::DuplicateField {
            field: "seq",
            tag: 2
        })
    );
}

#[test]
fn wrong_wire_type_for_a_known_tag() {
    let mut b = Vec::new();
    write::field(&mut b, 1, 10u32);
    assert!(matches!(
        Heartbeat::decode_body(&b),
        Err(DecodeError::WrongWireType {
            field: "ts_ns",
            tag: 1,
            expected: WireType::I64,
            found: WireType::I32
        })
    ));
}

#[test]
fn optional_fields_may_be_absent() {
    let mut b = Vec::new();
    write::field(&mut b, 1, 5u64);
    write::field_u32_bits(&mut b, 2, 1); // RiskLimit
    write::field(&mut b, 4, 6u64);
    let r = OrderReject::decode_body(&b).expect("valid");
    assert_eq!(r.text, None);
}

#[test]
fn unknown_enum_value() {
    let mut b = Vec::new();
    write::field(&mut b, 1, 5u64);
    write::field_u32_bits(&mut b, 2, 77);
    write::field(&mut b, 4, 6u64);
    assert_eq!(
        OrderReject::decode_body(&b),
        Err(DecodeError::UnknownEnumValue {
            name: "RejectReason",
            value: 77
        })
    );
}

#[test]
fn invalid_bool_and_utf8() {
    let order = NewOrder {
        client_order_id: 1,
        instrument: 2,
        side: mycelium_contracts::Side::Sell,
        order_type: mycelium_contracts::OrderType::Market,
        tif: mycelium_contracts::TimeInForce::Day,
        price: None,
        stop_price: None,
        qty: 1.0,
        account: "abc".into(),
        post_only: true,
        strategy_tag: [0; 8],
        ts_ns: 3,
    };
    let mut b = Vec::new();
    order.encode_body(&mut b);
    let mut bad_bool = b.clone();
    let pos = find_key(&bad_bool, 10, WireType::I8);
    bad_bool[pos + 2] = 2;
    assert!(matches!(
        NewOrder::decode_body(&bad_bool),
        Err(DecodeError::InvalidValue {
            what: "bool",
            value: 2
        })
    ));
    let mut bad_utf8 = b.clone();
    let pos = find_key(&bad_utf8, 9, WireType::Len);
    bad_utf8[pos + 6] = 0xFF;
    assert!(matches!(
        NewOrder::decode_body(&bad_utf8),
        Err(DecodeError::InvalidUtf8(_))
    ));
}

/// Offset of the key `(tag, wire)` in an encoded body that has no LEN values before it
/// containing that byte pair.
fn find_key(b: &[u8], tag: u16, wire: WireType) -> usize {
    let key = wire.key(tag).to_le_bytes();
    b.windows(2).position(|w| w == key).expect("key present")
}

#[test]
fn list_over_max_len_and_array_of_wrong_size() {
    let fill = OrderFill {
        client_order_id: 1,
        venue_order_id: "v".into(),
        fill_px: 1.0,
        fill_qty: 1.0,
        leaves_qty: 0.0,
        liquidity: mycelium_contracts::Liquidity::Maker,
        fees: vec![
            mycelium_contracts::Fee {
                currency: *b"USD",
                amount: 0.1
            };
            5 // max_len is 4
        ],
        ts_ns: 1,
        exec_id: [7; 16],
    };
    let mut b = Vec::new();
    fill.encode_body(&mut b);
    assert!(matches!(
        OrderFill::decode_body(&b),
        Err(DecodeError::LengthMismatch { found: 5, .. })
    ));

    let mut b = Vec::new();
    write::field(&mut b, 1, 1u64);
    write::key(&mut b, 9, WireType::Len);
    write::packed_u8(&mut b, &[1, 2, 3]); // exec_id is [u8; 16]
    assert!(matches!(
        OrderFill::decode_body(&b),
        Err(DecodeError::LengthMismatch { found: 3, .. })
    ));
}

#[test]
fn truncated_values_are_errors() {
    let mut b = Vec::new();
    Quote {
        ts_ns: 1,
        instrument: 2,
        bid_px: 3.0,
        bid_qty: 4.0,
        ask_px: 5.0,
        ask_qty: 6.0,
    }
    .encode_body(&mut b);
    for cut in 1..b.len() {
        assert!(Quote::decode_body(&b[..cut]).is_err(), "cut at {cut}");
    }
    let mut t = Vec::new();
    write::key(&mut t, 6, WireType::Len);
    write::str(&mut t, "abcdef");
    t.truncate(t.len() - 1);
    assert!(matches!(
        Trade::decode_body(&t),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn hostile_list_count_does_not_allocate_first() {
    // `samples: list<f64>` announcing 500 million elements in a 4-byte value.
    let mut b = Vec::new();
    write::key(&mut b, 17, WireType::Len);
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&500_000_000u32.to_le_bytes());
    assert!(matches!(
        Telemetry::decode_body(&b),
        Err(DecodeError::Truncated { .. })
    ));
}

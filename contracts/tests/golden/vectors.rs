//! The vectors: the messages of the golden frames, in file order, with every message type
//! and enum variant among them.

use mycelium_codec::WireMessage;
use mycelium_contracts::*;

use crate::text::Text;

/// A quiet NaN with a payload and a signalling NaN: f64 bit patterns must survive exactly.
const NAN_PAYLOAD: u64 = 0x7ff8_dead_beef_0001;
const SNAN: u64 = 0x7ff0_0000_0000_0001;
const NEG_NAN: u64 = 0xfff8_0000_0000_0000;

fn level(price: f64, qty: f64, orders: Option<u32>) -> Level {
    Level { price, qty, orders }
}

fn instrument(id: u32, symbol: &str, venue: &str) -> Instrument {
    Instrument {
        id,
        symbol: symbol.into(),
        venue: venue.into(),
        tick_size: 0.01,
    }
}

fn fee(code: &[u8; 3], amount: f64) -> Fee {
    Fee {
        currency: *code,
        amount,
    }
}

fn new_order(n: u64, order_type: OrderType, tif: TimeInForce, side: Side) -> NewOrder {
    NewOrder {
        client_order_id: n,
        instrument: 7,
        side,
        order_type,
        tif,
        price: (order_type != OrderType::Market).then_some(100.25),
        stop_price: (order_type == OrderType::StopLimit).then_some(99.5),
        qty: 10.0,
        account: "acct-1".into(),
        post_only: tif == TimeInForce::Gtc,
        strategy_tag: *b"mm-alpha",
        ts_ns: 1_700_000_000_000_000_000u64.wrapping_add(n),
    }
}

fn telemetry_min() -> Telemetry {
    Telemetry {
        ts_ns: 0,
        service: String::new(),
        health: Health::Healthy,
        up: false,
        cpu_pct: f32::MIN,
        core_id: 0,
        restarts: 0,
        queue_depth: 0,
        temperature_delta: i8::MIN,
        skew_us: i16::MIN,
        drift_ns: i32::MIN,
        pnl_cents: i64::MIN,
        latency_hist: [0; 8],
        counters: vec![],
        labels: vec![],
        blob: None,
        samples: vec![],
        peers: vec![],
        flags: vec![],
        sides: None,
        chunks: vec![],
        matrix: vec![],
        instrument: None,
        fee_grid: [fee(b"\0\0\0", 0.0), fee(b"\0\0\0", -0.0)],
    }
}

fn telemetry_max() -> Telemetry {
    Telemetry {
        ts_ns: u64::MAX,
        service: "s".repeat(300),
        health: Health::Degraded,
        up: true,
        cpu_pct: f32::MAX,
        core_id: u8::MAX,
        restarts: u16::MAX,
        queue_depth: u32::MAX,
        temperature_delta: i8::MAX,
        skew_us: i16::MAX,
        drift_ns: i32::MAX,
        pnl_cents: i64::MAX,
        latency_hist: [u32::MAX, 0, 1, 2, 3, 4, 5, u32::MAX - 1],
        counters: (0..256)
            .map(|i| Counter {
                name: format!("c{i}"),
                value: u64::MAX - i,
                delta: i as i64 - 128,
            })
            .collect(),
        labels: (0..16).map(|i| format!("label-{i}")).collect(),
        blob: Some((0..=255).collect()),
        samples: vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(NAN_PAYLOAD),
            f64::from_bits(SNAN),
            f64::from_bits(NEG_NAN),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::EPSILON,
            -1.5,
        ],
        peers: (0..32).map(|i| [10, 0, i, 255]).collect(),
        flags: vec![true, false, true, true],
        sides: Some(Side::ALL.to_vec()),
        chunks: vec![
            vec![],
            vec![0],
            b"chunk".to_vec(),
            vec![0xff; 3],
            vec![],
            vec![1, 2],
            vec![0x80],
            vec![7; 100],
        ],
        matrix: vec![vec![i32::MIN, -1, 0, 1, i32::MAX], vec![], vec![42]],
        instrument: Some(instrument(u32::MAX, "BTC-USD", "")),
        fee_grid: [fee(b"USD", 0.5), fee(b"\xff\xfe\x00", f64::INFINITY)],
    }
}

fn telemetry_special(health: Health, cpu_pct: f32) -> Telemetry {
    Telemetry {
        health,
        cpu_pct,
        service: "caf\u{e9} \u{20ac} \u{1f600} \"quoted\" back\\slash\n\ttab\u{7f}".into(),
        blob: Some(vec![]),
        sides: Some(vec![]),
        labels: vec![String::new(), "\u{0}".into()],
        samples: vec![f64::NAN],
        instrument: Some(instrument(0, "", "")),
        ..telemetry_min()
    }
}

/// Every vector, in file order.
pub(crate) fn vectors() -> Vec<AnyMessage> {
    use AnyMessage as M;
    let mut v = vec![
        M::Quote(Quote {
            ts_ns: 0,
            instrument: 0,
            bid_px: 0.0,
            bid_qty: 0.0,
            ask_px: 0.0,
            ask_qty: 0.0,
        }),
        M::Quote(Quote {
            ts_ns: u64::MAX,
            instrument: u32::MAX,
            bid_px: f64::NAN,
            bid_qty: f64::INFINITY,
            ask_px: f64::NEG_INFINITY,
            ask_qty: -0.0,
        }),
        M::Quote(Quote {
            ts_ns: 1_700_000_000_123_456_789,
            instrument: 42,
            bid_px: f64::from_bits(SNAN),
            bid_qty: f64::from_bits(1),
            ask_px: f64::from_bits(NAN_PAYLOAD),
            ask_qty: f64::from_bits(NEG_NAN),
        }),
        M::BookSnapshot(BookSnapshot {
            ts_ns: 1,
            instrument: instrument(1, "", ""),
            bids: vec![],
            asks: vec![],
            venue_seq: None,
        }),
        M::BookSnapshot(BookSnapshot {
            ts_ns: 2,
            instrument: instrument(2, "ETH-USD", "XNAS"),
            bids: (0..64)
                .map(|i| {
                    level(
                        100.0 - f64::from(i) * 0.25,
                        f64::from(i) + 1.0,
                        Some(i as u32),
                    )
                })
                .collect(),
            asks: vec![
                level(100.25, 3.0, None),
                level(f64::NAN, -0.0, Some(u32::MAX)),
            ],
            venue_seq: Some(u64::MAX),
        }),
        M::Trade(Trade {
            ts_ns: 3,
            instrument: 9,
            price: 101.5,
            qty: 0.001,
            aggressor: Side::Buy,
            trade_id: None,
        }),
        M::Trade(Trade {
            ts_ns: 4,
            instrument: 9,
            price: -1.0,
            qty: 1e300,
            aggressor: Side::Sell,
            trade_id: Some(String::new()),
        }),
        M::Trade(Trade {
            ts_ns: 5,
            instrument: 9,
            price: 1e-300,
            qty: 2.0,
            aggressor: Side::Sell,
            trade_id: Some("T-\u{e9}\u{20ac}\u{1f600}".into()),
        }),
    ];
    let mut n = 0;
    for order_type in OrderType::ALL {
        for tif in TimeInForce::ALL {
            n += 1;
            let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
            v.push(M::NewOrder(new_order(n, order_type, tif, side)));
        }
    }
    v.push(M::NewOrder(NewOrder {
        account: String::new(),
        strategy_tag: [0xff; 8],
        qty: f64::NAN,
        ..new_order(u64::MAX, OrderType::Limit, TimeInForce::Day, Side::Buy)
    }));
    v.extend([
        M::CancelOrder(CancelOrder {
            client_order_id: 0,
            instrument: 0,
            ts_ns: 0,
        }),
        M::CancelOrder(CancelOrder {
            client_order_id: u64::MAX,
            instrument: u32::MAX,
            ts_ns: u64::MAX,
        }),
        M::OrderAck(OrderAck {
            client_order_id: 1,
            venue_order_id: "V1".into(),
            ts_ns: 10,
            venue_ts_ns: None,
        }),
        M::OrderAck(OrderAck {
            client_order_id: 2,
            venue_order_id: String::new(),
            ts_ns: 11,
            venue_ts_ns: Some(0),
        }),
        M::OrderFill(OrderFill {
            client_order_id: 1,
            venue_order_id: "V1".into(),
            fill_px: 100.25,
            fill_qty: 5.0,
            leaves_qty: 5.0,
            liquidity: Liquidity::Maker,
            fees: vec![],
            ts_ns: 12,
            exec_id: [0; 16],
        }),
        M::OrderFill(OrderFill {
            client_order_id: 1,
            venue_order_id: "V1".into(),
            fill_px: 100.5,
            fill_qty: 5.0,
            leaves_qty: 0.0,
            liquidity: Liquidity::Taker,
            fees: vec![
                fee(b"USD", 0.01),
                fee(b"EUR", -0.02),
                fee(b"BTC", 1e-8),
                fee(b"\0\0\0", f64::NAN),
            ],
            ts_ns: 13,
            exec_id: [0xab; 16],
        }),
    ]);
    for (i, reason) in RejectReason::ALL.into_iter().enumerate() {
        let text = match i {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!("rejected: {}", reason.text())),
        };
        v.push(M::OrderReject(OrderReject {
            client_order_id: i as u64,
            reason,
            text,
            ts_ns: 20 + i as u64,
        }));
    }
    v.extend([
        M::Heartbeat(Heartbeat {
            ts_ns: 0,
            seq: 0,
            sender: String::new(),
        }),
        M::Heartbeat(Heartbeat {
            ts_ns: u64::MAX,
            seq: u64::MAX,
            sender: "gateway-1".into(),
        }),
        M::Telemetry(telemetry_min()),
        M::Telemetry(telemetry_max()),
        M::Telemetry(telemetry_special(Health::Failing, f32::NAN)),
        M::Telemetry(telemetry_special(Health::Healthy, f32::INFINITY)),
        M::Telemetry(telemetry_special(Health::Degraded, f32::NEG_INFINITY)),
        M::Telemetry(telemetry_special(Health::Failing, -0.0)),
        M::Telemetry(telemetry_special(Health::Failing, f32::from_bits(1))),
        M::Telemetry(telemetry_special(Health::Failing, -f32::NAN)),
        // Signalling and payload-carrying f32 NaNs: readers must not quiet them.
        M::Telemetry(telemetry_special(
            Health::Degraded,
            f32::from_bits(0x7f80_0001),
        )),
        M::Telemetry(telemetry_special(
            Health::Healthy,
            f32::from_bits(0xff80_1234),
        )),
        M::Telemetry(telemetry_special(
            Health::Healthy,
            f32::from_bits(0x7fc0_abcd),
        )),
    ]);
    v
}

#[test]
fn vectors_cover_every_message_and_enum_variant() {
    let vectors = vectors();
    let ids: std::collections::BTreeSet<u16> = vectors.iter().map(AnyMessage::type_id).collect();
    let all = [
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
    assert_eq!(ids, all.into_iter().collect());
    let text: String = vectors.iter().map(|m| m.text() + "\n").collect();
    let variants = Side::ALL
        .iter()
        .map(Text::text)
        .chain(OrderType::ALL.iter().map(Text::text))
        .chain(TimeInForce::ALL.iter().map(Text::text))
        .chain(RejectReason::ALL.iter().map(Text::text))
        .chain(Liquidity::ALL.iter().map(Text::text))
        .chain(Health::ALL.iter().map(Text::text));
    for variant in variants {
        let used = ["=", "[", " ", "("].iter().any(|before| {
            [",", "]", "}", ")"]
                .iter()
                .any(|after| text.contains(&format!("{before}{variant}{after}")))
        });
        assert!(used, "no vector uses the enum variant {variant}");
    }
}

//! Canonical text: how a decoded value prints, the same in Rust, Python and OCaml.

use mycelium_contracts::*;

/// The canonical text of a value, identical to what the Python `to_text` and the OCaml
/// `*_to_text` functions print.
pub(crate) trait Text {
    fn text(&self) -> String;
}

macro_rules! text_display {
    ($($t:ty),*) => {$(
        impl Text for $t {
            fn text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
text_display!(u8, u16, u32, u64, i8, i16, i32, i64);

impl Text for bool {
    fn text(&self) -> String {
        (if *self { "true" } else { "false" }).to_string()
    }
}

impl Text for f32 {
    fn text(&self) -> String {
        format!("f32:{:08x}", self.to_bits())
    }
}

impl Text for f64 {
    fn text(&self) -> String {
        format!("f64:{:016x}", self.to_bits())
    }
}

fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'"' | b'\\' => format!("\\x{b:02x}"),
            0x20..=0x7e => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

impl Text for String {
    fn text(&self) -> String {
        format!("\"{}\"", escape(self.as_bytes()))
    }
}

impl<T: Text> Text for Vec<T> {
    fn text(&self) -> String {
        list(self)
    }
}

impl<T: Text, const N: usize> Text for [T; N] {
    fn text(&self) -> String {
        list(self)
    }
}

/// An optional field: `none` or `some(value)`.
impl<T: Text> Text for Option<T> {
    fn text(&self) -> String {
        match self {
            None => "none".to_string(),
            Some(v) => format!("some({})", v.text()),
        }
    }
}

fn list<T: Text>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(Text::text).collect();
    format!("[{}]", parts.join(", "))
}

/// `bytes` travels as `Vec<u8>`, like `list<u8>`, so its fields name this printer.
fn bytes(b: &[u8]) -> String {
    format!("b\"{}\"", escape(b))
}

/// Destructures every field (so a field added to the schema fails to compile here until it
/// is listed) and prints them in declaration order; `field as printer` overrides the
/// printer of one field.
macro_rules! text_struct {
    ($ty:ident { $($field:ident $(as $printer:expr)?),* $(,)? }) => {
        impl Text for $ty {
            fn text(&self) -> String {
                let $ty { $($field),* } = self;
                let parts: Vec<String> = vec![$(
                    format!("{}={}", stringify!($field), text_struct!(@print $field $($printer)?))
                ),*];
                format!("{}{{{}}}", stringify!($ty), parts.join(", "))
            }
        }
    };
    (@print $field:ident) => { Text::text($field) };
    (@print $field:ident $printer:expr) => { ($printer)($field) };
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident),* $(,)? }) => {
        impl Text for $ty {
            fn text(&self) -> String {
                match self {
                    $($ty::$variant => stringify!($variant).to_string()),*
                }
            }
        }
    };
}

text_enum!(Side { Buy, Sell });
text_enum!(OrderType {
    Limit,
    Market,
    StopLimit
});
text_enum!(TimeInForce { Day, Gtc, Ioc, Fok });
text_enum!(RejectReason {
    Unknown,
    RiskLimit,
    InvalidPrice,
    InvalidQty,
    MarketClosed,
    DuplicateClientId
});
text_enum!(Liquidity { Maker, Taker });
text_enum!(Health {
    Healthy,
    Degraded,
    Failing
});

text_struct!(Level { price, qty, orders });
text_struct!(Instrument {
    id,
    symbol,
    venue,
    tick_size
});
text_struct!(Fee { currency, amount });
text_struct!(Counter { name, value, delta });
text_struct!(Quote {
    ts_ns,
    instrument,
    bid_px,
    bid_qty,
    ask_px,
    ask_qty
});
text_struct!(BookSnapshot {
    ts_ns,
    instrument,
    bids,
    asks,
    venue_seq
});
text_struct!(Trade {
    ts_ns,
    instrument,
    price,
    qty,
    aggressor,
    trade_id
});
text_struct!(NewOrder {
    client_order_id,
    instrument,
    side,
    order_type,
    tif,
    price,
    stop_price,
    qty,
    account,
    post_only,
    strategy_tag,
    ts_ns,
});
text_struct!(CancelOrder {
    client_order_id,
    instrument,
    ts_ns
});
text_struct!(OrderAck {
    client_order_id,
    venue_order_id,
    ts_ns,
    venue_ts_ns
});
text_struct!(OrderFill {
    client_order_id,
    venue_order_id,
    fill_px,
    fill_qty,
    leaves_qty,
    liquidity,
    fees,
    ts_ns,
    exec_id,
});
text_struct!(OrderReject {
    client_order_id,
    reason,
    text,
    ts_ns
});
text_struct!(Heartbeat { ts_ns, seq, sender });
text_struct!(Telemetry {
    ts_ns, service, health, up, cpu_pct, core_id, restarts, queue_depth, temperature_delta,
    skew_us, drift_ns, pnl_cents, latency_hist, counters, labels,
    blob as |b: &Option<Vec<u8>>| match b {
        None => "none".to_string(),
        Some(b) => format!("some({})", bytes(b)),
    },
    samples, peers, flags, sides,
    chunks as |c: &Vec<Vec<u8>>| format!("[{}]", c.iter().map(|b| bytes(b)).collect::<Vec<_>>().join(", ")),
    matrix, instrument, fee_grid,
});

impl Text for AnyMessage {
    fn text(&self) -> String {
        match self {
            AnyMessage::Quote(m) => m.text(),
            AnyMessage::BookSnapshot(m) => m.text(),
            AnyMessage::Trade(m) => m.text(),
            AnyMessage::NewOrder(m) => m.text(),
            AnyMessage::CancelOrder(m) => m.text(),
            AnyMessage::OrderAck(m) => m.text(),
            AnyMessage::OrderFill(m) => m.text(),
            AnyMessage::OrderReject(m) => m.text(),
            AnyMessage::Heartbeat(m) => m.text(),
            AnyMessage::Telemetry(m) => m.text(),
        }
    }
}

#[test]
fn canonical_text_examples() {
    assert_eq!(f64::NAN.text(), "f64:7ff8000000000000");
    assert_eq!((-0.0f32).text(), "f32:80000000");
    assert_eq!(
        "a\"\\\n\u{e9}".to_string().text(),
        "\"a\\x22\\x5c\\x0a\\xc3\\xa9\""
    );
    assert_eq!(bytes(&[0, b'A', 0xff]), "b\"\\x00A\\xff\"");
    assert_eq!(Some(vec![1u8, 2]).text(), "some([1, 2])");
    assert_eq!(None::<u8>.text(), "none");
    assert_eq!(i64::MIN.text(), "-9223372036854775808");
}

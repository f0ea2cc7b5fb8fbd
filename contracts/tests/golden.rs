//! Golden vectors: frames written by the Rust encoder that the Python and OCaml codecs must
//! decode to the same values and re-encode to the same bytes.
//!
//! `tests/contracts/golden/frames.bin` holds the frames back to back (frame `i` has
//! `seq = i`); `expected.txt` holds, per frame, the message in canonical text
//! (`docs/contracts-languages.md`: floats as IEEE-754 bits, so NaN compares exactly). This
//! test rebuilds both from the values below and fails if they differ from the committed
//! files. After a deliberate change, rewrite them and review the diff:
//!
//! ```text
//! MYCELIUM_BLESS=1 cargo test -p mycelium-contracts --test golden
//! ```

use std::path::PathBuf;

use mycelium_codec::{decode_frame, FrameError, WireMessage, DEFAULT_MAX_FRAME, FLAG_END_OF_BATCH};
use mycelium_contracts::*;

// Canonical text ---------------------------------------------------------------------------

/// The canonical text of a value, identical to what the Python `to_text` and the OCaml
/// `*_to_text` functions print.
trait Text {
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

// The vectors ------------------------------------------------------------------------------

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
fn vectors() -> Vec<AnyMessage> {
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

/// The golden files, as built from [`vectors`].
struct Golden {
    /// `frames.bin`.
    frames: Vec<u8>,
    /// `expected.txt`.
    expected: String,
    /// `mutations.txt`.
    mutations: String,
}

/// Frame `i` has `seq = i`, `ts_ns = 1_700_000_000_000_000_000 + i`, and every fifth frame
/// (and the last) carries the end-of-batch flag, so readers see a flag set too.
fn build() -> Golden {
    let vectors = vectors();
    let mut frames = Vec::new();
    let mut each = Vec::new();
    let digest: String = SCHEMA_DIGEST.iter().map(|b| format!("{b:02x}")).collect();
    let mut expected = format!(
        "# One line per frame of frames.bin: the message in canonical text\n\
         # (docs/contracts-languages.md). Written by contracts/tests/golden.rs; do not edit.\n\
         # schema_digest {digest}\n"
    );
    for (i, msg) in vectors.iter().enumerate() {
        let start = frames.len();
        msg.encode_frame(i as u64, 1_700_000_000_000_000_000 + i as u64, &mut frames);
        if i % 5 == 4 || i + 1 == vectors.len() {
            frames[start + 5] |= FLAG_END_OF_BATCH;
        }
        each.push(frames[start..].to_vec());
        expected.push_str(&msg.text());
        expected.push('\n');
    }
    let mutations = mutations(&each);
    Golden {
        frames,
        expected,
        mutations,
    }
}

// Mutated frames ---------------------------------------------------------------------------

/// How many mutated frames `mutations.txt` describes.
const MUTATIONS: usize = 4000;

/// SplitMix64: a fixed, dependency-free generator, so the mutations never change.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// FNV-1a, 64 bits: short enough to write in every language of the suite.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The variant name of an error, which the Python and OCaml codecs use as their error kind.
fn variant(e: &impl std::fmt::Debug) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// What a reader makes of `frame`: `err <kind>`, or `ok <hash>` with the FNV-1a hash of the
/// frame re-encoded from the decoded message (same seq, ts_ns and flags).
fn outcome(frame: &[u8]) -> String {
    let (header, body) = match decode_frame(frame, DEFAULT_MAX_FRAME) {
        Ok(split) => split,
        Err(FrameError::Body(e)) => return format!("err {}", variant(&e)),
        Err(e) => return format!("err {}", variant(&e)),
    };
    match AnyMessage::decode(header.type_id, body) {
        None => "err UnknownType".to_string(),
        Some(Err(e)) => format!("err {}", variant(&e)),
        Some(Ok(msg)) => {
            let mut again = Vec::new();
            msg.encode_frame(header.seq, header.ts_ns, &mut again);
            again[5] = header.flags;
            format!("ok {:016x}", fnv1a64(&again))
        }
    }
}

fn set_body_len(frame: &mut [u8]) {
    let body_len = u32::try_from(frame.len() - 32).expect("small frame");
    frame[8..12].copy_from_slice(&body_len.to_le_bytes());
}

/// `mutations.txt`: golden frames with a few bytes changed, cut or inserted, each with the
/// Rust reader's outcome, which the other readers must reproduce exactly.
fn mutations(frames: &[Vec<u8>]) -> String {
    let mut rng = SplitMix(0x4d59_434c);
    let mut out = String::from(
        "# <golden frame index> <edits> -> <outcome>, one mutated frame per line. Edits, in\n\
         # order: sOFFSET:XX sets a byte; cLEN cuts the frame to LEN bytes; iOFFSET:HEX inserts\n\
         # bytes; after a cut or an insert, body_len (bytes 8..12) is rewritten to match.\n\
         # Outcome: `err <kind>`, or `ok <FNV-1a 64 of the re-encoded frame>`.\n\
         # Written by contracts/tests/golden.rs; do not edit.\n",
    );
    for _ in 0..MUTATIONS {
        let index = rng.below(frames.len());
        let mut frame = frames[index].clone();
        let mut edits = Vec::new();
        for _ in 0..1 + rng.below(3) {
            match rng.below(10) {
                0..=5 => {
                    let at = if rng.below(6) == 0 || frame.len() == 32 {
                        rng.below(32)
                    } else {
                        32 + rng.below(frame.len() - 32)
                    };
                    let byte = rng.below(256) as u8;
                    frame[at] = byte;
                    edits.push(format!("s{at}:{byte:02x}"));
                }
                6 | 7 => {
                    let len = 32 + rng.below(frame.len() - 32 + 1);
                    frame.truncate(len);
                    set_body_len(&mut frame);
                    edits.push(format!("c{len}"));
                }
                _ => {
                    let at = 32 + rng.below(frame.len() - 32 + 1);
                    let bytes: Vec<u8> = (0..1 + rng.below(6))
                        .map(|_| rng.below(256) as u8)
                        .collect();
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    frame.splice(at..at, bytes);
                    set_body_len(&mut frame);
                    edits.push(format!("i{at}:{hex}"));
                }
            }
        }
        out.push_str(&format!(
            "{index} {} -> {}\n",
            edits.join(" "),
            outcome(&frame)
        ));
    }
    out
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/golden")
}

#[test]
fn golden_vectors_match_the_committed_files() {
    let golden = build();
    let dir = golden_dir();
    let files = [
        ("frames.bin", golden.frames),
        ("expected.txt", golden.expected.into_bytes()),
        ("mutations.txt", golden.mutations.into_bytes()),
    ];
    if std::env::var_os("MYCELIUM_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).expect("create the golden directory");
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).expect("write a golden file");
        }
        return;
    }
    let hint = "rerun with MYCELIUM_BLESS=1 to rewrite the golden files after a deliberate \
                wire change, then review the diff";
    for (name, bytes) in &files {
        let path = dir.join(name);
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}; {hint}", path.display()));
        if let Some(at) = bytes.iter().zip(&committed).position(|(a, b)| a != b) {
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            panic!("{name} differs first at byte {at} (line {line}); {hint}");
        }
        assert_eq!(
            bytes.len(),
            committed.len(),
            "{name} differs in length; {hint}"
        );
    }
}

#[test]
fn the_rust_decoder_reads_every_vector_back() {
    let Golden {
        frames, expected, ..
    } = build();
    let mut lines = expected.lines().filter(|l| !l.starts_with('#'));
    let mut rest = &frames[..];
    let mut seq = 0;
    while !rest.is_empty() {
        let (header, body) = decode_frame(rest, DEFAULT_MAX_FRAME).expect("valid frame");
        assert_eq!(header.seq, seq);
        let msg = AnyMessage::decode(header.type_id, body)
            .expect("known type id")
            .expect("valid body");
        assert_eq!(Some(msg.text().as_str()), lines.next(), "frame {seq}");
        rest = &rest[header.frame_len()..];
        seq += 1;
    }
    assert_eq!(lines.next(), None);
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

//! Types for the wire benchmark: the same messages as `mycelium_contracts::Quote` and
//! `NewOrder`, written as plain Rust structs for rkyv and bitcode, and sample values.
//! The benchmark itself is `benches/wire.rs`; results are in `docs/perf/wire.md`.
//!
//! ```
//! let q = mycelium_wire_bench::sample_quote();
//! assert_eq!(mycelium_wire_bench::PeerQuote::from(&q).instrument, q.instrument);
//! ```

#![warn(missing_docs)]

use mycelium_contracts::{NewOrder, OrderType, Quote, Side, TimeInForce};

/// `Quote` for rkyv and bitcode.
#[derive(
    Debug,
    Clone,
    PartialEq,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    bitcode::Encode,
    bitcode::Decode,
)]
pub struct PeerQuote {
    /// `Quote::ts_ns`.
    pub ts_ns: u64,
    /// `Quote::instrument`.
    pub instrument: u32,
    /// `Quote::bid_px`.
    pub bid_px: f64,
    /// `Quote::bid_qty`.
    pub bid_qty: f64,
    /// `Quote::ask_px`.
    pub ask_px: f64,
    /// `Quote::ask_qty`.
    pub ask_qty: f64,
}

/// `Side` for rkyv and bitcode.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    bitcode::Encode,
    bitcode::Decode,
)]
pub enum PeerSide {
    /// `Side::Buy`.
    Buy,
    /// `Side::Sell`.
    Sell,
}

/// `OrderType` for rkyv and bitcode.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    bitcode::Encode,
    bitcode::Decode,
)]
pub enum PeerOrderType {
    /// `OrderType::Limit`.
    Limit,
    /// `OrderType::Market`.
    Market,
    /// `OrderType::StopLimit`.
    StopLimit,
}

/// `TimeInForce` for rkyv and bitcode.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    bitcode::Encode,
    bitcode::Decode,
)]
pub enum PeerTif {
    /// `TimeInForce::Day`.
    Day,
    /// `TimeInForce::Gtc`.
    Gtc,
    /// `TimeInForce::Ioc`.
    Ioc,
    /// `TimeInForce::Fok`.
    Fok,
}

/// `NewOrder` for rkyv and bitcode.
#[derive(
    Debug,
    Clone,
    PartialEq,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    bitcode::Encode,
    bitcode::Decode,
)]
pub struct PeerNewOrder {
    /// `NewOrder::client_order_id`.
    pub client_order_id: u64,
    /// `NewOrder::instrument`.
    pub instrument: u32,
    /// `NewOrder::side`.
    pub side: PeerSide,
    /// `NewOrder::order_type`.
    pub order_type: PeerOrderType,
    /// `NewOrder::tif`.
    pub tif: PeerTif,
    /// `NewOrder::price`.
    pub price: Option<f64>,
    /// `NewOrder::stop_price`.
    pub stop_price: Option<f64>,
    /// `NewOrder::qty`.
    pub qty: f64,
    /// `NewOrder::account`.
    pub account: String,
    /// `NewOrder::post_only`.
    pub post_only: bool,
    /// `NewOrder::strategy_tag`.
    pub strategy_tag: [u8; 8],
    /// `NewOrder::ts_ns`.
    pub ts_ns: u64,
}

impl From<&Quote> for PeerQuote {
    fn from(q: &Quote) -> Self {
        PeerQuote {
            ts_ns: q.ts_ns,
            instrument: q.instrument,
            bid_px: q.bid_px,
            bid_qty: q.bid_qty,
            ask_px: q.ask_px,
            ask_qty: q.ask_qty,
        }
    }
}

impl From<&NewOrder> for PeerNewOrder {
    fn from(o: &NewOrder) -> Self {
        PeerNewOrder {
            client_order_id: o.client_order_id,
            instrument: o.instrument,
            side: match o.side {
                Side::Buy => PeerSide::Buy,
                Side::Sell => PeerSide::Sell,
            },
            order_type: match o.order_type {
                OrderType::Limit => PeerOrderType::Limit,
                OrderType::Market => PeerOrderType::Market,
                OrderType::StopLimit => PeerOrderType::StopLimit,
            },
            tif: match o.tif {
                TimeInForce::Day => PeerTif::Day,
                TimeInForce::Gtc => PeerTif::Gtc,
                TimeInForce::Ioc => PeerTif::Ioc,
                TimeInForce::Fok => PeerTif::Fok,
            },
            price: o.price,
            stop_price: o.stop_price,
            qty: o.qty,
            account: o.account.clone(),
            post_only: o.post_only,
            strategy_tag: o.strategy_tag,
            ts_ns: o.ts_ns,
        }
    }
}

/// A typical quote.
pub fn sample_quote() -> Quote {
    Quote {
        ts_ns: 1_700_000_000_123_456_789,
        instrument: 4_201,
        bid_px: 101.25,
        bid_qty: 12.0,
        ask_px: 101.5,
        ask_qty: 7.0,
    }
}

/// A typical limit order.
pub fn sample_order() -> NewOrder {
    NewOrder {
        client_order_id: 88_001_234,
        instrument: 4_201,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Ioc,
        price: Some(101.25),
        stop_price: None,
        qty: 3.0,
        account: "ACME-PROP-01".to_string(),
        post_only: true,
        strategy_tag: *b"mm-v2\0\0\0",
        ts_ns: 1_700_000_000_123_456_789,
    }
}

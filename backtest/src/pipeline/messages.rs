//! The messages of the reference pipeline. Every message carries the `epoch` (the
//! incarnation of the pipeline that produced it): after a one_for_all restart, messages the
//! previous incarnation left queued are recognised and dropped, so a restarted run replays
//! from a clean slate.

use std::ops::Range;
use std::sync::Arc;

use crate::Series;

/// A batch of consecutive ticks: a range of the shared series, not a copy.
#[derive(Clone, Debug)]
pub struct TickBatch {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
    /// The shared series.
    pub series: Arc<Series>,
    /// The ticks of this batch.
    pub range: Range<usize>,
    /// True for the last batch of the series.
    pub last: bool,
}

/// An order: after seeing tick `tick`, the strategy wants to be long (`target` 1), short
/// (-1) or flat (0). The account decides how many units that is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    /// Index of the tick (bar) the decision was made on, after its close.
    pub tick: usize,
    /// Wanted direction: 1, -1 or 0.
    pub target: i64,
}

/// The orders the strategy sent for one tick batch (possibly none).
#[derive(Clone, Debug)]
pub struct OrderBatch {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
    /// The tick batch they answer.
    pub range: Range<usize>,
    /// Orders in tick order.
    pub orders: Vec<Order>,
    /// True for the answer to the last tick batch.
    pub last: bool,
}

/// An order priced by the exchange: where and when it executes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Execution {
    /// The bar the order was decided on.
    pub decided: usize,
    /// The bar it executes on (entry or exit bar of a round trip).
    pub bar: usize,
    /// The bar at which the account books it, before marking that bar.
    pub book_at: usize,
    /// Execution price.
    pub price: f64,
    /// Wanted direction: 1, -1 or 0.
    pub target: i64,
}

/// A booked execution: what the account traded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    /// Index of the bar (tick) it executed on.
    pub tick: usize,
    /// Execution price.
    pub price: f64,
    /// Signed quantity.
    pub qty: i64,
    /// Commission paid (always ≥ 0).
    pub fee: f64,
}

/// The executions of one order batch.
#[derive(Clone, Debug)]
pub struct FillBatch {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
    /// The tick batch they belong to.
    pub range: Range<usize>,
    /// Executions in order.
    pub executions: Vec<Execution>,
    /// True for the last batch of the series.
    pub last: bool,
}

/// The account stopped trading (risk limit or bankruptcy): the strategy may stop deciding.
#[derive(Clone, Copy, Debug)]
pub struct Halt {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
}

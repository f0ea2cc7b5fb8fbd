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

/// An order: buy (`qty > 0`) or sell (`qty < 0`) after seeing tick `tick`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    /// Index of the tick the decision was made on; the fill happens on the next tick.
    pub tick: usize,
    /// Signed quantity.
    pub qty: i64,
}

/// The orders the strategy sent for one tick batch (possibly none).
#[derive(Clone, Debug)]
pub struct OrderBatch {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
    /// The tick batch they answer (empty for an out-of-band order, e.g. a flatten on halt).
    pub range: Range<usize>,
    /// Orders in tick order.
    pub orders: Vec<Order>,
    /// True for the answer to the last tick batch.
    pub last: bool,
}

/// An execution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    /// Index of the tick it executed on.
    pub tick: usize,
    /// Execution price.
    pub price: f64,
    /// Signed quantity.
    pub qty: i64,
    /// Fee paid (always ≥ 0).
    pub fee: f64,
}

/// The fills of one order batch.
#[derive(Clone, Debug)]
pub struct FillBatch {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
    /// The tick batch they belong to.
    pub range: Range<usize>,
    /// Fills in tick order.
    pub fills: Vec<Fill>,
    /// True for the last batch of the series.
    pub last: bool,
}

/// The risk limit was breached: go flat and stop trading.
#[derive(Clone, Copy, Debug)]
pub struct Halt {
    /// Incarnation of the pipeline that sent it.
    pub epoch: u32,
}

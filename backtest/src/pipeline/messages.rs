//! The messages of the reference pipeline. Every message carries the `epoch` (the
//! incarnation of the pipeline that produced it): after a one_for_all restart, messages the
//! previous incarnation left queued are recognised and dropped, so a restarted run replays
//! from a clean slate.

use std::ops::Range;
use std::sync::Arc;

use super::Sizing;
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
/// (-1) or flat (0). An order to be long while long (or short while short) trades nothing;
/// one to reverse closes the position and opens the other way. The account sizes the entry
/// ([`Config::size`](super::Config::size), or the order's own `size`).
///
/// A market order (no `limit`, no `stop`) fills by the fill rule
/// ([`FillAt`](super::FillAt)). A stop or limit order works from the next bar on, with
/// backtesting.py's conventions: a buy stop triggers on the first bar whose high reaches
/// `stop` (a sell stop: whose low does) and fills at the worse of the open and the stop; a
/// buy limit fills on the first bar whose low reaches `limit` (a sell limit: whose high
/// does), at the better of the open (or the triggered stop) and the limit; with both, the
/// stop turns the order into a limit order, and when the limit is also within that bar but
/// on the far side of the stop the fill waits for a later bar. A working order is replaced
/// by the strategy's next order (any kind), and dropped when trading stops.
///
/// `sl` and `tp` (stop loss, take profit) are exits attached to the position the order
/// opens: the stop loss is a stop order and the take profit a limit order in the other
/// direction, working from the entry bar (a market entry) or the bar after it (a stop or
/// limit entry, whose intra-bar path is unknown); when both trigger on one bar the stop
/// loss fills. An exit ends with its position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    /// Index of the tick (bar) the decision was made on, after its close.
    pub tick: usize,
    /// Wanted direction: 1, -1 or 0.
    pub target: i64,
    /// Units or fraction of the cash of the entry (`None`: [`Config::size`](super::Config::size)).
    pub size: Option<Sizing>,
    /// Limit price: buy at or below it, sell at or above it.
    pub limit: Option<f64>,
    /// Stop price: the order works once the price reaches it.
    pub stop: Option<f64>,
    /// Stop-loss price of the position the order opens.
    pub sl: Option<f64>,
    /// Take-profit price of the position the order opens.
    pub tp: Option<f64>,
}

/// Why an [`Order`] cannot be placed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OrderError {
    /// The target is not a direction.
    #[error("target {0}: a target is a direction, 1 (long), -1 (short) or 0 (flat)")]
    Target(i64),
    /// A price is not finite and positive.
    #[error("{what} {price}: a price must be a finite number > 0")]
    Price {
        /// Which price.
        what: &'static str,
        /// The price given.
        price: f64,
    },
    /// A flat order with prices or a size.
    #[error("an order to go flat takes no size, limit, stop, stop loss or take profit")]
    FlatWithPrices,
    /// Stop loss and take profit on the wrong sides.
    #[error("a {side} order needs {need}: got stop loss {sl}, take profit {tp}")]
    Bracket {
        /// "long" or "short".
        side: &'static str,
        /// The order the prices need.
        need: &'static str,
        /// The stop loss.
        sl: f64,
        /// The take profit.
        tp: f64,
    },
    /// A size out of range.
    #[error("size {0}: give a whole number of units >= 1 or a fraction of the cash in (0, 1)")]
    Size(String),
}

impl Order {
    /// A market order: be `target` (1 long, -1 short, 0 flat) after tick `tick`, sized by
    /// the account's setting.
    pub fn market(tick: usize, target: i64) -> Order {
        Order {
            tick,
            target,
            size: None,
            limit: None,
            stop: None,
            sl: None,
            tp: None,
        }
    }

    /// Checks the order on its own: a direction, finite positive prices, nothing but the
    /// direction on a flat order, and for a long `sl < tp` (a short: `tp < sl`).
    pub fn validate(&self) -> Result<(), OrderError> {
        if !(-1..=1).contains(&self.target) {
            return Err(OrderError::Target(self.target));
        }
        for (what, p) in [
            ("limit", self.limit),
            ("stop", self.stop),
            ("stop loss", self.sl),
            ("take profit", self.tp),
        ] {
            if let Some(price) = p {
                if !(price.is_finite() && price > 0.0) {
                    return Err(OrderError::Price { what, price });
                }
            }
        }
        match self.size {
            Some(Sizing::Units(0)) => return Err(OrderError::Size("0 units".into())),
            Some(Sizing::Units(n)) if n > i64::MAX as u64 => {
                return Err(OrderError::Size(format!("{n} units")))
            }
            Some(Sizing::Equity(f)) if !(f > 0.0 && f <= 1.0) => {
                return Err(OrderError::Size(format!("fraction {f}")))
            }
            _ => {}
        }
        if self.target == 0 {
            if self.size.is_some()
                || self.limit.is_some()
                || self.stop.is_some()
                || self.sl.is_some()
                || self.tp.is_some()
            {
                return Err(OrderError::FlatWithPrices);
            }
            return Ok(());
        }
        if let (Some(sl), Some(tp)) = (self.sl, self.tp) {
            let (ok, side, need) = if self.target > 0 {
                (sl < tp, "long", "stop loss < take profit")
            } else {
                (tp < sl, "short", "take profit < stop loss")
            };
            if !ok {
                return Err(OrderError::Bracket { side, need, sl, tp });
            }
        }
        Ok(())
    }

    /// Whether it works until a price is reached (a stop or limit order).
    pub fn is_working(&self) -> bool {
        self.limit.is_some() || self.stop.is_some()
    }
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

/// What an [`Execution`] is, for the account's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutionKind {
    /// A market order: it executes whatever comes after it.
    Market,
    /// A stop or limit order, priced where it triggers: the strategy's next order decided
    /// before that bar replaces it.
    Working,
    /// The stop loss or take profit of the position opened by round trip number `trade`
    /// (counting from 0): void once that position is closed.
    Exit {
        /// The round trip it closes.
        trade: u64,
    },
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
    /// The entry's size (`None`: the account's setting).
    pub size: Option<Sizing>,
    /// Stop loss of the position it opens.
    pub sl: Option<f64>,
    /// Take profit of the position it opens.
    pub tp: Option<f64>,
    /// Market, working or exit.
    pub kind: ExecutionKind,
}

impl Execution {
    /// A market execution of `target` at `price` on `bar`, booked at `book_at`.
    pub fn market(
        decided: usize,
        price: f64,
        bar: usize,
        book_at: usize,
        target: i64,
    ) -> Execution {
        Execution {
            decided,
            bar,
            book_at,
            price,
            target,
            size: None,
            sl: None,
            tp: None,
            kind: ExecutionKind::Market,
        }
    }
}

/// A booked execution: what the account traded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    /// Index of the bar (tick) it executed on.
    pub tick: usize,
    /// The bar at which the account booked it (the next one for a fill at the deciding
    /// bar's close, [`FillAt::SameClose`](super::FillAt::SameClose)).
    pub booked: usize,
    /// Execution price.
    pub price: f64,
    /// Signed quantity.
    pub qty: i64,
    /// Commission paid (always ≥ 0).
    pub fee: f64,
}

/// A closed round trip, as backtesting.py's `stats._trades` rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trade {
    /// Signed size in units (> 0 long).
    pub size: i64,
    /// Bar of the entry.
    pub entry_bar: usize,
    /// Bar of the exit.
    pub exit_bar: usize,
    /// Entry price.
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Profit or loss, net of the commissions of both fills.
    pub pnl: f64,
    /// Commissions of both fills.
    pub fees: f64,
}

impl Trade {
    /// The return of the round trip, net of commissions, in percent of the entry's value.
    pub fn return_pct(&self) -> f64 {
        self.pnl / (self.size.abs() as f64 * self.entry_price) * 100.0
    }
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

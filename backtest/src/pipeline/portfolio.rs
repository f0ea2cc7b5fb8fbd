//! The portfolio: the account of a run. Sizes and books executions against its cash, marks
//! to market at every bar, stops at bankruptcy or at the risk limit, and reports the result.
//! Marking to market, bankruptcy and the risk limit are in `portfolio/marking.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, SubscribeOptions};
use tokio::sync::mpsc;

use super::exchange::exit_trigger;
use super::{
    topics, Config, Execution, ExecutionKind, Fill, FillAt, FillBatch, Halt, RunResult, Sizing,
    Trade,
};
use crate::metrics::{ratios, PeriodCurve, Stats};
use crate::{Series, Trace};
pub use ledger::{AccountView, Ledger};
pub use marking::marks;
use marking::Stop;

/// Takes [`FillBatch`]es from [`topics::FILLS`] and keeps the account, bar by bar, whatever
/// the batch size:
///
/// 1. At bar `j`, books the executions due at `j` ([`Execution::book_at`]): an order to
///    reverse or flatten closes the whole open position first; an entry is sized by its
///    own size or [`Config::size`] against the cash then available and cancelled if the cash cannot pay
///    for one unit (or the fixed quantity) with its commission, as backtesting.py's broker
///    does. An entry with a stop loss or take profit schedules its exit where the price
///    first reaches one ([`exit_trigger`](super::exit_trigger)); a stop or limit order
///    not yet filled is replaced by the strategy's next order. Commission = `commission_per_trade + |qty| * price * commission_bps / 10_000`
///    on every fill, entry and exit.
/// 2. Every [`Config::mark_every`] bars (every bar by default) and at the last bar, marks to
///    market at the close: `equity = cash + position * (close - entry price)`, where cash
///    has paid every commission and received every closed round trip's PnL (leverage 1: a
///    short needs the same cash as a long).
/// 3. At each mark: equity ≤ 0 is bankruptcy — the position is closed at that close, equity
///    is 0 from there on, no further order fills (backtesting.py's "out of money"); then a
///    drawdown `1 - equity / peak` above [`Config::risk_limit`] halts trading: pending
///    orders are dropped, the position is closed as an order decided on that bar would fill,
///    and [`Halt`] goes to the strategy on [`topics::HALT`].
///
/// After the last batch it computes the [`Stats`] and sends the [`RunResult`].
pub struct Portfolio {
    series: Arc<Series>,
    config: Config,
    account: Account,
    pending: Pending,
    next_bar: usize,
    warmup: usize,
    done: bool,
    report: mpsc::UnboundedSender<RunResult>,
}

/// Arguments of the [`Portfolio`].
#[derive(Clone)]
pub struct PortfolioArgs {
    /// The shared series (read by index to mark to market).
    pub series: Arc<Series>,
    /// Run settings.
    pub config: Config,
    /// Where the result goes.
    pub report: mpsc::UnboundedSender<RunResult>,
    /// The first bar at which the strategy's indicators all exist: where the buy-and-hold
    /// return starts, as in backtesting.py (bar 0 if it is past the end).
    pub warmup: usize,
}

/// The open round trip.
#[derive(Clone, Copy, Debug)]
struct Open {
    bar: usize,
    price: f64,
    fee: f64,
}

/// The executions not yet booked, in the order they book: by bar, and within a bar the
/// market orders to go flat first (they fill at the bar's open, or at a close before it),
/// then a position's exits (stop loss, take profit), then the other orders, as
/// backtesting.py's broker orders them.
#[derive(Default)]
pub(crate) struct Pending(VecDeque<Execution>);

/// Where an execution books among those of its bar.
fn rank(x: &Execution) -> (usize, u8) {
    let within = match x.kind {
        ExecutionKind::Market if x.target == 0 => 0,
        ExecutionKind::Exit { .. } => 1,
        _ => 2,
    };
    (x.book_at, within)
}

impl Pending {
    /// Adds `x`: an order replaces the stop and limit orders not filled by the bar it was
    /// decided on.
    pub(crate) fn add(&mut self, x: Execution) {
        if !matches!(x.kind, ExecutionKind::Exit { .. }) {
            self.0
                .retain(|p| !(p.kind == ExecutionKind::Working && p.bar > x.decided));
        }
        let at = self.0.partition_point(|p| rank(p) <= rank(&x));
        self.0.insert(at, x);
    }

    /// The next execution if it books at or before bar `j`, taken out.
    fn due(&mut self, j: usize) -> Option<Execution> {
        if self.0.front()?.book_at <= j {
            self.0.pop_front()
        } else {
            None
        }
    }

    fn next_at(&self) -> Option<usize> {
        self.0.front().map(|x| x.book_at)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

pub(crate) struct Account {
    cash: f64,
    position: i64,
    open: Option<Open>,
    fixed: f64,
    rel: f64,
    size: Sizing,
    peak: f64,
    worst_dd: f64,
    curve: PeriodCurve,
    trades: u64,
    wins: u64,
    fills_count: u64,
    fees: f64,
    exposed_bars: u64,
    exposed_until: Option<usize>,
    canceled: u64,
    halted_at: Option<usize>,
    bankrupt_at: Option<usize>,
    trace: Trace,
    keep_fills: bool,
    fills: Vec<Fill>,
    closed: Vec<Trade>,
    fill: FillAt,
}

impl Account {
    /// A flat account with `c`'s cash and commissions, at its peak, recording its equity in
    /// `curve` and its events in `trace`.
    fn new(c: &Config, curve: PeriodCurve, trace: Trace) -> Account {
        Account {
            cash: c.cash,
            position: 0,
            open: None,
            fixed: c.commission_per_trade,
            rel: c.commission_bps / 10_000.0,
            size: c.size,
            peak: c.cash,
            worst_dd: 0.0,
            curve,
            trades: 0,
            wins: 0,
            fills_count: 0,
            fees: 0.0,
            exposed_bars: 0,
            exposed_until: None,
            canceled: 0,
            halted_at: None,
            bankrupt_at: None,
            trace,
            keep_fills: c.keep_fills,
            fills: Vec::new(),
            closed: Vec::new(),
            fill: c.fill,
        }
    }

    fn commission(&self, qty: f64, price: f64) -> f64 {
        self.fixed + qty.abs() * price * self.rel
    }

    fn stopped(&self) -> bool {
        self.halted_at.is_some() || self.bankrupt_at.is_some()
    }

    fn record_fill(&mut self, bar: usize, booked: usize, price: f64, qty: i64, fee: f64) {
        self.fills_count += 1;
        self.fees += fee;
        if self.keep_fills {
            self.fills.push(Fill {
                tick: bar,
                booked,
                price,
                qty,
                fee,
            });
        }
        self.trace.record(
            "fill",
            &[
                (bar as u64).to_le_bytes(),
                price.to_bits().to_le_bytes(),
                qty.to_le_bytes(),
                fee.to_bits().to_le_bytes(),
            ],
        );
    }

    /// Closes the whole position at `price` on `bar`, booked at `booked`.
    fn close(&mut self, bar: usize, booked: usize, price: f64) {
        let Some(open) = self.open.take() else {
            return;
        };
        let size = self.position as f64;
        let fee = self.commission(size, price);
        let gross = size * (price - open.price);
        self.cash += gross - fee;
        let pl = gross - (fee + open.fee);
        self.trades += 1;
        if pl > 0.0 {
            self.wins += 1;
        }
        let from = match self.exposed_until {
            Some(u) if u >= open.bar => u + 1,
            _ => open.bar,
        };
        if bar >= from {
            self.exposed_bars += (bar - from + 1) as u64;
        }
        self.exposed_until = Some(bar);
        if self.keep_fills {
            self.closed.push(Trade {
                size: self.position,
                entry_bar: open.bar,
                exit_bar: bar,
                entry_price: open.price,
                exit_price: price,
                pnl: pl,
                fees: fee + open.fee,
            });
        }
        let qty = -self.position;
        self.position = 0;
        self.record_fill(bar, booked, price, qty, fee);
    }

    /// Books `x`; returns the exit it schedules (the stop loss or take profit of the
    /// position it opens) if it does.
    fn book(&mut self, x: Execution, series: &Series) -> Option<Execution> {
        if let ExecutionKind::Exit { trade } = x.kind {
            // An exit of a position already closed is void.
            if self.open.is_some() && self.trades == trade {
                self.close(x.bar, x.book_at, x.price);
            }
            return None;
        }
        if self.position != 0 && x.target != self.position.signum() {
            self.close(x.bar, x.book_at, x.price);
        }
        if x.target == 0 || self.position != 0 {
            return None;
        }
        let price = x.price;
        let margin = self.cash.max(0.0);
        let units = match x.size.unwrap_or(self.size) {
            Sizing::Units(n) => {
                let n_f = n as f64;
                let per_unit = price + self.commission(n_f, price) / n_f;
                if n_f * per_unit > margin {
                    0
                } else {
                    n
                }
            }
            Sizing::Equity(f) => {
                let f = if f >= 1.0 { 1.0 - f64::EPSILON } else { f };
                let per_unit = price + self.commission(f, price) / f;
                let units = py_floordiv(margin * f, per_unit);
                if units >= 1.0 && units.is_finite() {
                    units as u64
                } else {
                    0
                }
            }
        };
        if units == 0 {
            self.canceled += 1;
            return None;
        }
        // A position holds at most `i64::MAX` units (a fraction of a huge cash at a tiny
        // price asks for more): capped, never wrapped into a position of the other sign.
        let units = units.min(i64::MAX as u64) as i64;
        let qty = x.target * units;
        let fee = self.commission(qty as f64, price);
        self.cash -= fee;
        self.position = qty;
        self.open = Some(Open {
            bar: x.bar,
            price,
            fee,
        });
        self.record_fill(x.bar, x.book_at, price, qty, fee);
        // Exits watch the bars after the entry's price was set: from the entry bar for an
        // entry at its open (or the bar after a fill at the close), from the next bar for a
        // stop or limit entry, whose path within its bar is unknown.
        let from = match (x.kind, self.fill) {
            (ExecutionKind::Market, FillAt::NextOpen | FillAt::SameClose) => x.book_at,
            _ => x.bar + 1,
        };
        let (bar, price) = exit_trigger(series, from, qty > 0, x.sl, x.tp)?;
        Some(Execution {
            kind: ExecutionKind::Exit { trade: self.trades },
            ..Execution::market(x.bar, price, bar, bar, 0)
        })
    }
}

/// Python's float floor division `a // b` (`math.floor` of the exact quotient, as CPython
/// computes it), so that share counts agree with backtesting.py at the boundaries.
fn py_floordiv(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return f64::NAN;
    }
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(b);
    }
    let _ = m;
    if div != 0.0 {
        let mut floor = div.floor();
        if div - floor > 0.5 {
            floor += 1.0;
        }
        floor
    } else {
        0.0f64.copysign(a / b)
    }
}

impl Actor for Portfolio {
    type Args = PortfolioArgs;
    async fn on_start(args: PortfolioArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        args.config.validate()?;
        ctx.subscribe::<FillBatch>(topics::FILLS, SubscribeOptions::new())?;
        let epoch = ctx.incarnation();
        let mut trace = Trace::new();
        trace.record("start", &[u64::from(epoch).to_le_bytes()]);
        let annual = args.series.annualisation();
        let c = &args.config;
        let curve = PeriodCurve::with_offset(annual.period, args.series.utc_offset_ns());
        let account = Account::new(c, curve, trace);
        Ok(Portfolio {
            account,
            pending: Pending::default(),
            next_bar: 0,
            warmup: args.warmup,
            done: false,
            report: args.report,
            series: args.series,
            config: args.config,
        })
    }
}

impl Portfolio {
    /// Processes bars `next_bar..end`: book, mark, check. Returns true if trading stopped
    /// on one of them.
    fn advance(&mut self, end: usize) -> bool {
        let series = self.series.clone();
        let (ts, px) = (series.timestamps(), series.prices());
        let last = series.len() - 1;
        let every = self.config.mark_every.max(1);
        let risk = self.config.risk_limit;
        let mut stopped_now = false;
        let mut j = self.next_bar;
        while j < end {
            while let Some(x) = self.pending.due(j) {
                if let Some(exit) = self.account.book(x, &series) {
                    self.pending.add(exit);
                }
            }
            // The bars up to the next execution need only marks: a tight loop.
            let until = self.pending.next_at().map_or(end, |b| b.clamp(j + 1, end));
            while j < until {
                let stop = if every == 1 {
                    let (next, stop) = self.account.mark_run(&series, j, until, risk);
                    j = next;
                    stop
                } else {
                    let due = (j + 1) % every == 0 || j == last;
                    let stop = if due {
                        self.account.mark(j, ts[j], px[j], risk)
                    } else {
                        Stop::No
                    };
                    j += 1;
                    stop
                };
                match stop {
                    Stop::No => {}
                    Stop::Bankrupt => {
                        self.pending.clear();
                        stopped_now = true;
                    }
                    Stop::Halted => {
                        // Orders not yet filled are dropped; the position closes as an
                        // order decided on this bar would fill.
                        self.pending.clear();
                        stopped_now = true;
                        if self.account.position != 0 {
                            if let Some((price, bar, book_at)) =
                                self.config.fill.execution(&series, j - 1)
                            {
                                self.pending
                                    .add(Execution::market(j - 1, price, bar, book_at, 0));
                            }
                        }
                        break;
                    }
                }
            }
        }
        self.next_bar = j;
        stopped_now
    }

    fn finish(&mut self) -> RunResult {
        let series = &self.series;
        let px = series.prices();
        let a = &mut self.account;
        let curve = std::mem::replace(&mut a.curve, PeriodCurve::new(crate::metrics::Period::Day));
        let points = curve.into_points();
        let equity: Vec<f64> = points.iter().map(|p| p.1).collect();
        let annual = series.annualisation();
        let r = ratios(&equity, annual.per_year);
        let final_equity = equity.last().copied().unwrap_or(self.config.cash);
        let c0 = px[if self.warmup < px.len() {
            self.warmup
        } else {
            0
        }];
        let stats = Stats {
            cash: self.config.cash,
            equity_final: final_equity,
            return_pct: (final_equity - self.config.cash) / self.config.cash * 100.0,
            buy_hold_return_pct: (px[px.len() - 1] - c0) / c0 * 100.0,
            max_drawdown_pct: -a.worst_dd * 100.0,
            return_ann_pct: r.return_ann_pct,
            volatility_ann_pct: r.volatility_ann_pct,
            sharpe: r.sharpe,
            sortino: r.sortino,
            trades: a.trades,
            fills: a.fills_count,
            win_rate_pct: if a.trades == 0 {
                f64::NAN
            } else {
                a.wins as f64 / a.trades as f64 * 100.0
            },
            exposure_pct: a.exposed_bars as f64 / series.len() as f64 * 100.0,
            fees: a.fees,
        };
        a.trace
            .record("end", &stats.values().map(|v| v.to_bits().to_le_bytes()));
        let marks = if a.keep_fills {
            marks(series, &self.config, &a.fills, a.bankrupt_at)
        } else {
            Vec::new()
        };
        RunResult {
            stats,
            position: a.position,
            halted_at: a.halted_at,
            bankrupt_at: a.bankrupt_at,
            canceled: a.canceled,
            ticks: series.len() as u64,
            trace_hash: a.trace.hash(),
            trace_events: a.trace.events(),
            restarts: 0,
            equity: points,
            fills: std::mem::take(&mut a.fills),
            trades: std::mem::take(&mut a.closed),
            marks,
        }
    }
}

impl Handler<Published<FillBatch>> for Portfolio {
    type Reply = Result<(), BoxError>;
    async fn handle(
        &mut self,
        b: Published<FillBatch>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if b.epoch != ctx.incarnation() || self.done {
            return Ok(());
        }
        if !self.account.stopped() {
            for &x in &b.executions {
                self.pending.add(x);
            }
        }
        if self.advance(b.range.end) {
            ctx.publish(topics::HALT, Halt { epoch: b.epoch }).await?;
        }
        if b.last {
            self.done = true;
            let mut result = self.finish();
            result.restarts = ctx.incarnation();
            let _ = self.report.send(result);
        }
        Ok(())
    }
}

mod ledger;
mod marking;
#[cfg(test)]
mod tests;

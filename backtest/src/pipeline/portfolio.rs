//! The portfolio: the account of a run. Sizes and books executions against its cash, marks
//! to market at every bar, stops at bankruptcy or at the risk limit, and reports the result.
//! Marking to market, bankruptcy and the risk limit are in `portfolio/marking.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, SubscribeOptions};
use tokio::sync::mpsc;

use super::{topics, Config, Execution, Fill, FillBatch, Halt, RunResult, Sizing};
use crate::metrics::{ratios, PeriodCurve, Stats};
use crate::{Series, Trace};
use marking::Stop;

/// Takes [`FillBatch`]es from [`topics::FILLS`] and keeps the account, bar by bar, whatever
/// the batch size:
///
/// 1. At bar `j`, books the executions due at `j` ([`Execution::book_at`]): an order to
///    reverse or flatten closes the whole open position first; an entry is sized by
///    [`Config::size`] against the cash then available and cancelled if the cash cannot pay
///    for one unit (or the fixed quantity) with its commission, as backtesting.py's broker
///    does. Commission = `commission_per_trade + |qty| * price * commission_bps / 10_000`
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
    pending: VecDeque<Execution>,
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

struct Account {
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
        }
    }

    fn commission(&self, qty: f64, price: f64) -> f64 {
        self.fixed + qty.abs() * price * self.rel
    }

    fn stopped(&self) -> bool {
        self.halted_at.is_some() || self.bankrupt_at.is_some()
    }

    fn record_fill(&mut self, bar: usize, price: f64, qty: i64, fee: f64) {
        self.fills_count += 1;
        self.fees += fee;
        if self.keep_fills {
            self.fills.push(Fill {
                tick: bar,
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

    /// Closes the whole position at `price` on `bar`.
    fn close(&mut self, bar: usize, price: f64) {
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
        let qty = -self.position;
        self.position = 0;
        self.record_fill(bar, price, qty, fee);
    }

    fn book(&mut self, x: Execution) {
        if self.position != 0 && x.target != self.position.signum() {
            self.close(x.bar, x.price);
        }
        if x.target == 0 || self.position != 0 {
            return;
        }
        let price = x.price;
        let margin = self.cash.max(0.0);
        let units = match self.size {
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
            return;
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
        self.record_fill(x.bar, price, qty, fee);
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
            pending: VecDeque::new(),
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
            while let Some(x) = self.pending.front().copied() {
                if x.book_at > j {
                    break;
                }
                self.pending.pop_front();
                self.account.book(x);
            }
            // The bars up to the next execution need only marks: a tight loop.
            let until = self
                .pending
                .front()
                .map_or(end, |x| x.book_at.clamp(j + 1, end));
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
                                self.pending.push_back(Execution {
                                    decided: j - 1,
                                    bar,
                                    book_at,
                                    price,
                                    target: 0,
                                });
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
            self.pending.extend(b.executions.iter().copied());
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

mod marking;
#[cfg(test)]
mod tests;

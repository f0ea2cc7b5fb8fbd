//! The portfolio and risk actor: books fills, marks to market per bar, enforces a drawdown
//! limit on a timer, and reports the run's result.

use std::collections::VecDeque;
use std::sync::Arc;

use mycelium_actors::{
    Actor, BoxError, Context, Handler, Published, SubscribeOptions, TimerHandle,
};
use tokio::sync::mpsc;

use super::{topics, Config, Fill, FillBatch, Halt, RunResult};
use crate::metrics::{max_drawdown, returns, sharpe, YEAR_NS};
use crate::{Series, Trace};

/// Takes [`FillBatch`]es from [`topics::FILLS`] and books them into cash and position, marks the book to market at the close of every bar
/// (`bar_ticks` ticks, independent of the batch size) for the equity curve, and every
/// `risk_every` of bus time checks the drawdown: past `risk_limit` it publishes [`Halt`] on
/// [`topics::HALT`].
/// After the last batch it computes the metrics and sends the [`RunResult`].
pub struct Portfolio {
    series: Arc<Series>,
    config: Config,
    capital: f64,
    cash: f64,
    position: i64,
    trades: u64,
    fees: f64,
    pending: VecDeque<Fill>,
    next_mark: usize,
    last_marked: Option<usize>,
    equity: Vec<f64>,
    peak: f64,
    halted_at: Option<usize>,
    trace: Trace,
    fills: Vec<Fill>,
    risk_timer: Option<TimerHandle>,
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
}

/// The portfolio's risk timer.
#[derive(Clone, Copy, Debug)]
pub struct RiskCheck {
    epoch: u32,
}

impl Actor for Portfolio {
    type Args = PortfolioArgs;
    async fn on_start(args: PortfolioArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let capital = args.series.prices()[0] * args.config.qty.unsigned_abs().max(1) as f64;
        ctx.subscribe::<FillBatch>(topics::FILLS, SubscribeOptions::new())?;
        let epoch = ctx.incarnation();
        let risk_timer = ctx.send_interval(RiskCheck { epoch }, args.config.risk_every);
        let mut trace = Trace::new();
        trace.record("start", &[u64::from(epoch).to_le_bytes()]);
        let bar = args.config.bar_ticks.max(1);
        Ok(Portfolio {
            capital,
            cash: capital,
            position: 0,
            trades: 0,
            fees: 0.0,
            pending: VecDeque::new(),
            next_mark: bar - 1,
            last_marked: None,
            equity: vec![capital],
            peak: capital,
            halted_at: None,
            trace,
            fills: Vec::new(),
            risk_timer: Some(risk_timer),
            done: false,
            report: args.report,
            series: args.series,
            config: args.config,
        })
    }
}

impl Portfolio {
    fn book(&mut self, f: Fill) {
        self.cash -= f.qty as f64 * f.price + f.fee;
        self.position += f.qty;
        self.trades += 1;
        self.fees += f.fee;
        if self.config.keep_fills {
            self.fills.push(f);
        }
        self.trace.record(
            "fill",
            &[
                (f.tick as u64).to_le_bytes(),
                f.price.to_bits().to_le_bytes(),
                f.qty.to_le_bytes(),
                f.fee.to_bits().to_le_bytes(),
            ],
        );
    }

    /// Books the pending fills up to tick `at` and records the equity at its close.
    fn mark(&mut self, at: usize) {
        while self.pending.front().is_some_and(|f| f.tick <= at) {
            if let Some(f) = self.pending.pop_front() {
                self.book(f);
            }
        }
        let e = self.cash + self.position as f64 * self.series.prices()[at];
        self.peak = self.peak.max(e);
        self.equity.push(e);
        self.last_marked = Some(at);
    }

    fn finish(&mut self) -> RunResult {
        let last = self.series.len() - 1;
        if self.last_marked != Some(last) {
            self.mark(last);
        }
        // Fills past the last tick cannot exist (the exchange drops them); anything left
        // would be a bug worth seeing in the trace.
        while let Some(f) = self.pending.pop_front() {
            self.book(f);
        }
        let final_equity = *self.equity.last().unwrap_or(&self.capital);
        let bar_ns = self.series.mean_spacing_ns() * self.config.bar_ticks.max(1) as f64;
        let r = returns(&self.equity, self.capital);
        let result = RunResult {
            pnl: final_equity - self.capital,
            sharpe: sharpe(&r, YEAR_NS / bar_ns.max(1.0)),
            max_drawdown: max_drawdown(&self.equity),
            trades: self.trades,
            fees: self.fees,
            position: self.position,
            halted_at: self.halted_at,
            ticks: self.series.len() as u64,
            trace_hash: 0,
            trace_events: 0,
            restarts: 0,
            equity: std::mem::take(&mut self.equity),
            fills: std::mem::take(&mut self.fills),
        };
        self.trace.record(
            "end",
            &[
                result.pnl.to_bits().to_le_bytes(),
                result.sharpe.to_bits().to_le_bytes(),
                result.max_drawdown.to_bits().to_le_bytes(),
                result.trades.to_le_bytes(),
                result.position.to_le_bytes(),
            ],
        );
        RunResult {
            trace_hash: self.trace.hash(),
            trace_events: self.trace.events(),
            ..result
        }
    }
}

impl Handler<Published<FillBatch>> for Portfolio {
    type Reply = ();
    async fn handle(&mut self, b: Published<FillBatch>, ctx: &mut Context<Self>) {
        if b.epoch != ctx.incarnation() || self.done {
            return;
        }
        self.pending.extend(b.fills.iter().copied());
        let bar = self.config.bar_ticks.max(1);
        while self.next_mark < b.range.end {
            self.mark(self.next_mark);
            self.next_mark += bar;
        }
        if b.last {
            self.done = true;
            if let Some(t) = self.risk_timer.take() {
                t.cancel();
            }
            let mut result = self.finish();
            result.restarts = ctx.incarnation();
            let _ = self.report.send(result);
        }
    }
}

impl Handler<RiskCheck> for Portfolio {
    type Reply = Result<(), BoxError>;
    async fn handle(&mut self, r: RiskCheck, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if r.epoch != ctx.incarnation() || self.done || self.halted_at.is_some() {
            return Ok(());
        }
        let e = *self.equity.last().unwrap_or(&self.capital);
        let drawdown = (self.peak - e) / self.peak.max(f64::MIN_POSITIVE);
        if drawdown <= self.config.risk_limit {
            return Ok(());
        }
        let at = self.last_marked.unwrap_or(0);
        self.halted_at = Some(at);
        self.trace.record(
            "halt",
            &[(at as u64).to_le_bytes(), drawdown.to_bits().to_le_bytes()],
        );
        ctx.publish(topics::HALT, Halt { epoch: r.epoch }).await?;
        Ok(())
    }
}

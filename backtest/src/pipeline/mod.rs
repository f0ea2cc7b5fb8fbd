//! The reference pipeline: a moving-average crossover backtest written as four actors.
//!
//! ```text
//! Replayer --md.ticks--> Crossover --orders--> Exchange --fills--> Portfolio
//!                            ^                                         |
//!                            +--------------- risk.halt ---------------+
//! ```
//!
//! The actors are wired by typed topics ([`topics`]): each subscribes in `on_start`, so a
//! restarted actor subscribes again, and none holds a reference to another.
//!
//! - [`Replayer`] publishes the shared [`Series`] in batches of `batch` ticks, each when the
//!   bus clock reaches its first tick's time.
//! - [`Crossover`] runs the strategy over each batch and sends its orders (one message per
//!   batch, possibly empty).
//! - [`Exchange`] fills each order at the next tick's price, charging a fee.
//! - [`Portfolio`] books fills, marks to market at every bar close, checks the drawdown
//!   limit on a timer of bus time, and sends the result after the last batch.
//!
//! The four run under one `one_for_all` supervisor: if any of them fails, all restart and the
//! replay starts again from the first tick, so a run's result does not depend on a transient
//! fault (see [`Config::crash_once_at`]).

mod crossover;
mod exchange;
mod messages;
mod portfolio;
mod replayer;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{BoxError, Bus};
use mycelium_supervisor::{Backoff, ChildSpec, Strategy, Supervisor};
use tokio::sync::mpsc;

pub use crossover::{Crossover, CrossoverArgs};
pub use exchange::{Exchange, ExchangeArgs};
pub use messages::{Fill, FillBatch, Halt, Order, OrderBatch, TickBatch};
pub use portfolio::{Portfolio, PortfolioArgs, RiskCheck};
pub use replayer::{Publish, Replayer, ReplayerArgs};

use crate::Series;

const STRATEGY: &str = "strategy";

/// The name the strategy child of [`run_with`] must have.
pub const STRATEGY_CHILD: &str = STRATEGY;
const EXCHANGE: &str = "exchange";
const PORTFOLIO: &str = "portfolio";
const REPLAYER: &str = "replayer";

/// The topics the pipeline is wired with. Each has one publisher and one subscriber, so
/// delivery order is the publish order.
pub mod topics {
    /// [`TickBatch`](super::TickBatch): replayer -> strategy.
    pub const TICKS: &str = "md.ticks";
    /// [`OrderBatch`](super::OrderBatch): strategy -> exchange.
    pub const ORDERS: &str = "orders";
    /// [`FillBatch`](super::FillBatch): exchange -> portfolio.
    pub const FILLS: &str = "fills";
    /// [`Halt`](super::Halt): portfolio -> strategy.
    pub const HALT: &str = "risk.halt";
}

/// One grid point: the strategy's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Params {
    /// Fast moving-average window, in ticks (≥ 1).
    pub fast: u32,
    /// Slow moving-average window, in ticks (> fast).
    pub slow: u32,
    /// Band around the slow average, in basis points, inside which the position is kept.
    pub band_bps: u32,
}

impl Params {
    /// Checks the windows: `1 <= fast < slow`.
    pub fn validate(&self) -> Result<(), BoxError> {
        if self.fast == 0 || self.fast >= self.slow {
            return Err(format!(
                "invalid windows fast={} slow={}: need 1 <= fast < slow",
                self.fast, self.slow
            )
            .into());
        }
        Ok(())
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fast={} slow={} band={}bp",
            self.fast, self.slow, self.band_bps
        )
    }
}

/// Settings shared by every run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Ticks per [`TickBatch`] (default 4096). The clock advances per batch.
    pub batch: usize,
    /// Ticks per bar: the portfolio marks to market at every bar close (default 1000).
    pub bar_ticks: usize,
    /// Position size in units (default 1).
    pub qty: i64,
    /// Fee in basis points of traded notional (default 1).
    pub fee_bps: f64,
    /// Drawdown (fraction of the peak equity) past which the strategy is halted (default 0.5).
    pub risk_limit: f64,
    /// How often, in bus time, the portfolio checks the drawdown (default 1 week). A check
    /// can only act between batches, and each costs a clock jump (~1 us), so a period much
    /// shorter than a batch's span (2.8 days with the synthetic data) buys nothing.
    pub risk_every: Duration,
    /// Fault injection: the strategy's first incarnation panics on the batch holding this
    /// tick; the supervisor restarts the pipeline and the run completes as if nothing had
    /// happened (its trace records the restart).
    pub crash_once_at: Option<usize>,
    /// Keep every fill in [`RunResult::fills`] (default false: a sweep keeps only the trace
    /// hash; rerun the points you want to look at with this on, see `Sweep::rerun`).
    pub keep_fills: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch: 4096,
            bar_ticks: 1000,
            qty: 1,
            fee_bps: 1.0,
            risk_limit: 0.5,
            risk_every: Duration::from_secs(7 * 86_400),
            crash_once_at: None,
            keep_fills: false,
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Final equity minus starting capital (the price of `qty` units at the first tick).
    pub pnl: f64,
    /// Annualised Sharpe ratio of per-bar returns.
    pub sharpe: f64,
    /// Maximum drawdown, as a fraction of the peak equity.
    pub max_drawdown: f64,
    /// Number of fills.
    pub trades: u64,
    /// Total fees paid.
    pub fees: f64,
    /// Position at the end.
    pub position: i64,
    /// The bar close at which the risk limit halted the strategy, if it did.
    pub halted_at: Option<usize>,
    /// Ticks replayed (the events of the run).
    pub ticks: u64,
    /// FNV-1a hash of the run's trace (start, fills, halt, final metrics).
    pub trace_hash: u64,
    /// Events in the trace.
    pub trace_events: u64,
    /// How many times the pipeline was restarted.
    pub restarts: u32,
    /// Equity at the start and at every bar close.
    pub equity: Vec<f64>,
    /// Every fill, in order, when [`Config::keep_fills`] is set; empty otherwise.
    pub fills: Vec<Fill>,
}

/// Runs one backtest of `params` over `series` on `bus` (which should be on virtual time):
/// spawns the four actors under a one_for_all supervisor, waits for the result and returns
/// it. Fails if the parameters are invalid, if the supervisor gives up, or if no result
/// arrives within twice the series' span plus a day of bus time.
pub async fn run(
    bus: &Bus,
    series: Arc<Series>,
    params: Params,
    config: Config,
) -> Result<RunResult, BoxError> {
    params.validate()?;
    let strategy = ChildSpec::new::<Crossover>(
        STRATEGY,
        CrossoverArgs {
            params,
            config: config.clone(),
        },
    );
    run_with(bus, series, strategy, config).await
}

/// Like [`run`], with another strategy in the crossover's place: `strategy` is a child spec
/// named [`STRATEGY_CHILD`] whose actor subscribes in `on_start` to [`TickBatch`]es on
/// [`topics::TICKS`] (and [`Halt`] on [`topics::HALT`]) and publishes one [`OrderBatch`] on
/// [`topics::ORDERS`] per tick batch, with the batch's epoch, range and `last` flag. A
/// strategy hosted in another language (a Python class) plugs in here.
pub async fn run_with(
    bus: &Bus,
    series: Arc<Series>,
    strategy: ChildSpec,
    config: Config,
) -> Result<RunResult, BoxError> {
    if strategy.name() != STRATEGY {
        return Err(format!(
            "the strategy child must be named `{STRATEGY}`, not `{}`",
            strategy.name()
        )
        .into());
    }
    let (report, mut results) = mpsc::unbounded_channel();
    let span = Duration::from_nanos(series.offset_ns(series.len() - 1));
    let _tree = Supervisor::builder(Strategy::OneForAll)
        .intensity(3, Duration::from_secs(3600))
        .backoff(Backoff::exponential(
            Duration::from_millis(10),
            2.0,
            Duration::from_secs(1),
        ))
        // Downstream first: each subscribes in `on_start`, before anything upstream publishes.
        .child(ChildSpec::new::<Portfolio>(
            PORTFOLIO,
            PortfolioArgs {
                series: series.clone(),
                config: config.clone(),
                report,
            },
        ))
        .child(ChildSpec::new::<Exchange>(
            EXCHANGE,
            ExchangeArgs {
                series: series.clone(),
                config: config.clone(),
            },
        ))
        .child(strategy)
        .child(ChildSpec::new::<Replayer>(
            REPLAYER,
            ReplayerArgs { series, config },
        ))
        .spawn(bus)
        .await?;
    let limit = span * 2 + Duration::from_secs(86_400);
    let outcome = bus
        .clock()
        .timeout(limit, async {
            tokio::select! {
                biased;
                r = results.recv() => r.ok_or_else(|| BoxError::from("the pipeline stopped without a result")),
                exit = bus.wait_stopped() => Err(exit.to_string().into()),
            }
        })
        .await;
    match outcome {
        Ok(r) => r,
        Err(_) => Err(format!("no result after {limit:?} of bus time").into()),
    }
}

/// The default grid: 10 fast windows x 10 slow windows x 10 bands = 1,000 points.
pub fn default_grid() -> Vec<Params> {
    grid(
        &[5, 10, 20, 30, 50, 75, 100, 150, 200, 300],
        &[400, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000],
        &[0, 2, 5, 10, 15, 20, 30, 40, 60, 100],
    )
}

/// A quick grid: 3 x 3 x 2 = 18 points.
pub fn small_grid() -> Vec<Params> {
    grid(&[10, 50, 200], &[500, 1000, 4000], &[0, 10])
}

/// Every combination of the given windows and bands, in that nesting order.
pub fn grid(fast: &[u32], slow: &[u32], bands: &[u32]) -> Vec<Params> {
    let mut out = Vec::with_capacity(fast.len() * slow.len() * bands.len());
    for &f in fast {
        for &s in slow {
            for &b in bands {
                out.push(Params {
                    fast: f,
                    slow: s,
                    band_bps: b,
                });
            }
        }
    }
    out
}

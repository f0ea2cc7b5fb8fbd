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
//! - [`Exchange`] prices each order: a market order by the fill rule ([`FillAt`]: the next
//!   bar's open by default, the next tick for ticks), a stop or limit order on the first bar
//!   whose range reaches its price ([`Order`], [`execute`]).
//! - [`Portfolio`] is the account: sizes and books fills against its cash, pays commissions,
//!   schedules each position's stop loss and take profit ([`exit_trigger`]),
//!   marks to market at every bar (or tick), checks bankruptcy and the drawdown limit at each
//!   mark, computes the statistics and sends the result after the last batch. Every check is
//!   made at a bar index, never between batches, so results do not depend on the batch size.
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
use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
use tokio::sync::mpsc;

pub use crossover::{Crossover, CrossoverArgs, InjectedFault};
pub use exchange::{execute, exit_trigger, Exchange, ExchangeArgs};
pub use messages::{
    Execution, ExecutionKind, Fill, FillBatch, Halt, Order, OrderBatch, OrderError, TickBatch,
    Trade,
};
pub use portfolio::{marks, AccountView, Ledger, Portfolio, PortfolioArgs};
pub use replayer::{Publish, Replayer, ReplayerArgs};

use crate::metrics::Stats;
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

/// Where a market order decided on bar (or tick) `i` executes; the decision is taken after
/// bar `i` closes. (Stop and limit orders fill where their price is reached: [`Order`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FillAt {
    /// At the open of bar `i + 1` (backtesting.py's default). For ticks, a tick's open is
    /// its price: the next tick's price.
    #[default]
    NextOpen,
    /// At the close of bar `i + 1`.
    NextClose,
    /// At the close of bar `i` itself (backtesting.py's `trade_on_close=True`); the fill is
    /// booked, as there, when bar `i + 1` is processed, so bar `i`'s equity does not see its
    /// commission.
    SameClose,
}

impl FillAt {
    /// For an order decided on `decided`: `(price, bar it executes on, bar it is booked
    /// at)`, or `None` when the series ends first (an order decided on the last bar never
    /// fills).
    pub fn execution(self, series: &Series, decided: usize) -> Option<(f64, usize, usize)> {
        let next = decided + 1;
        if next >= series.len() {
            return None;
        }
        Some(match self {
            FillAt::NextOpen => (series.opens()[next], next, next),
            FillAt::NextClose => (series.prices()[next], next, next),
            FillAt::SameClose => (series.prices()[decided], decided, next),
        })
    }
}

impl fmt::Display for FillAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FillAt::NextOpen => "next-open",
            FillAt::NextClose => "next-close",
            FillAt::SameClose => "same-close",
        })
    }
}

/// How many units an entry buys or sells short.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sizing {
    /// A fixed number of units. An entry the available cash cannot pay for, commission
    /// included, is cancelled (counted in [`RunResult::canceled`]).
    Units(u64),
    /// A fraction in (0, 1] of the available cash: `floor(cash * f / (price + commission
    /// per unit))` whole units, as backtesting.py's `buy(size=f)`; 1 means all of it
    /// (backtesting.py's default, `1 - epsilon`). Zero units cancels the entry; more than
    /// `i64::MAX` (a huge cash at a tiny price) is capped there.
    Equity(f64),
}

/// A run setting that cannot work, and what to give instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The starting cash is not a positive number.
    #[error("cash {0} is not a positive amount: give the starting cash, e.g. 10000")]
    Cash(f64),
    /// The position size is zero or out of range.
    #[error("size {0}: give a whole number of units >= 1 or a fraction of equity in (0, 1]")]
    Size(String),
    /// A commission is negative or absurd.
    #[error("commission {0}: give basis points in [0, 1000) and a per-trade amount >= 0")]
    Commission(String),
    /// The risk limit is not a fraction.
    #[error("risk limit {0}: give the drawdown that halts trading as a fraction in (0, 1]")]
    RiskLimit(f64),
}

/// Settings shared by every run of a sweep. The defaults are backtesting.py's: 10,000 of
/// cash, all of it in each entry, no commission, fills at the next bar's open, no risk limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Ticks (rows) per [`TickBatch`] (default 4096). Results do not depend on it: it only
    /// sets how many rows each message carries.
    pub batch: usize,
    /// The portfolio marks to market, checks bankruptcy and the risk limit every
    /// `mark_every` rows (default 1: every bar of bar data, every tick of tick data).
    pub mark_every: usize,
    /// Starting cash (default 10,000).
    pub cash: f64,
    /// Units per entry (default: all the available cash).
    pub size: Sizing,
    /// Commission in basis points of each fill's notional (default 0).
    pub commission_bps: f64,
    /// Fixed commission per fill, in cash (default 0).
    pub commission_per_trade: f64,
    /// Fill price rule (default: the next bar's open).
    pub fill: FillAt,
    /// Drawdown from the running peak of equity (a fraction: 0.2 = 20%) past which trading
    /// stops: checked at every mark; at the first mark past it the open position is closed
    /// as an order decided on that bar would be, and no further order fills. Default none.
    pub risk_limit: Option<f64>,
    /// Fault injection: the strategy's first incarnation panics on the batch holding this
    /// tick; the supervisor restarts the pipeline and the run completes as if nothing had
    /// happened (its trace records the restart).
    pub crash_once_at: Option<usize>,
    /// Keep every fill, closed trade and mark in [`RunResult::fills`], [`RunResult::trades`]
    /// and [`RunResult::marks`] (default false: a sweep keeps only the trace hash; rerun the points you want to look at with this on, see `Sweep::rerun`).
    pub keep_fills: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch: 4096,
            mark_every: 1,
            cash: 10_000.0,
            size: Sizing::Equity(1.0),
            commission_bps: 0.0,
            commission_per_trade: 0.0,
            fill: FillAt::NextOpen,
            risk_limit: None,
            crash_once_at: None,
            keep_fills: false,
        }
    }
}

impl Config {
    /// Checks the money settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.cash.is_finite() && self.cash > 0.0) {
            return Err(ConfigError::Cash(self.cash));
        }
        match self.size {
            Sizing::Units(0) => return Err(ConfigError::Size("0 units".into())),
            Sizing::Units(n) if n > i64::MAX as u64 => {
                return Err(ConfigError::Size(format!(
                    "{n} units (a position holds at most {} units)",
                    i64::MAX
                )))
            }
            Sizing::Equity(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(ConfigError::Size(format!("fraction {f}")))
            }
            _ => {}
        }
        let (bps, fixed) = (self.commission_bps, self.commission_per_trade);
        if !(bps.is_finite() && (0.0..1000.0).contains(&bps) && fixed.is_finite() && fixed >= 0.0) {
            return Err(ConfigError::Commission(format!(
                "{bps} bps + {fixed} per trade"
            )));
        }
        if let Some(l) = self.risk_limit {
            if !(l > 0.0 && l <= 1.0) {
                return Err(ConfigError::RiskLimit(l));
            }
        }
        Ok(())
    }
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// The statistics (definitions in [`metrics`](crate::metrics)).
    pub stats: Stats,
    /// Position at the end, in units (signed).
    pub position: i64,
    /// The bar at whose mark the risk limit halted trading, if it did.
    pub halted_at: Option<usize>,
    /// The bar at whose mark equity reached zero, if it did: the position was closed at that
    /// bar's close and the run stopped trading with an equity of 0.
    pub bankrupt_at: Option<usize>,
    /// Entries cancelled because the cash could not pay for them.
    pub canceled: u64,
    /// Ticks replayed (the events of the run).
    pub ticks: u64,
    /// FNV-1a hash of the run's trace (start, fills, halt, final metrics).
    pub trace_hash: u64,
    /// Events in the trace.
    pub trace_events: u64,
    /// How many times the pipeline was restarted.
    pub restarts: u32,
    /// `(timestamp_ns, equity)` at the last mark of each period of the returns (days for
    /// daily or finer data), the curve the ratios are computed from.
    pub equity: Vec<(u64, f64)>,
    /// Every fill, in order, when [`Config::keep_fills`] is set; empty otherwise.
    pub fills: Vec<Fill>,
    /// Every closed round trip, in order, when [`Config::keep_fills`] is set; empty
    /// otherwise. A position still open at the end is not among them ([`RunResult::position`]).
    pub trades: Vec<Trade>,
    /// `(timestamp_ns, equity)` at every mark ([`Config::mark_every`]), when
    /// [`Config::keep_fills`] is set; empty otherwise. The max. drawdown is measured on it.
    pub marks: Vec<(u64, f64)>,
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
    let warmup = params.slow.saturating_sub(1) as usize;
    let strategy = ChildSpec::new::<Crossover>(
        STRATEGY,
        CrossoverArgs {
            params,
            config: config.clone(),
        },
    );
    run_with(bus, series, strategy, warmup, config).await
}

/// Like [`run`], with another strategy in the crossover's place: `strategy` is a child spec
/// named [`STRATEGY_CHILD`] whose actor subscribes in `on_start` to [`TickBatch`]es on
/// [`topics::TICKS`] (and [`Halt`] on [`topics::HALT`]) and publishes one [`OrderBatch`] on
/// [`topics::ORDERS`] per tick batch, with the batch's epoch, range and `last` flag. A
/// strategy hosted in another language (a Python class) plugs in here. `warmup` is the
/// number of bars the strategy needs before it can first decide (the crossover's is
/// `slow - 1`); Buy & Hold is measured from there, as backtesting.py does.
pub async fn run_with(
    bus: &Bus,
    series: Arc<Series>,
    strategy: ChildSpec,
    warmup: usize,
    config: Config,
) -> Result<RunResult, BoxError> {
    config.validate()?;
    if strategy.name() != STRATEGY {
        return Err(format!(
            "the strategy child must be named `{STRATEGY}`, not `{}`",
            strategy.name()
        )
        .into());
    }
    let (report, mut results) = mpsc::unbounded_channel();
    let span = Duration::from_nanos(series.offset_ns(series.len() - 1));
    let _tree = Supervisor::builder(RestartStrategy::OneForAll)
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
                warmup,
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
                r = results.recv() => match r {
                    Some(r) => Ok(r),
                    // The tree let go of the portfolio's spec: it gave up (a child kept
                    // failing) and fails the bus, whose reason says why.
                    None => Err(bus.wait_stopped().await.to_string().into()),
                },
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

//! Parallel, deterministic backtests and parameter sweeps on isolated Mycelium buses.
//!
//! A [`Sweep`] runs a function over a parameter grid: one fresh [`Bus`](mycelium_actors::Bus)
//! on virtual time per grid point, alone on its own current-thread runtime with a paused
//! clock, over a pool of worker threads. Read-only data such as a price [`Series`] is shared
//! between runs by `Arc`. The same seed, data and parameters give the same results and the
//! same [`Trace`] hash whatever the number of workers; a grid point that panics or fails is
//! reported with its parameters and the others complete.
//!
//! ```
//! use std::sync::Arc;
//! use mycelium_backtest::{pipeline, Series, Sweep};
//!
//! let series = Arc::new(Series::synthetic(42, 20_000));
//! let grid = pipeline::grid(&[10, 20], &[100, 400], &[0, 5]);
//! let sweep = |workers| {
//!     Sweep::new(grid.clone()).workers(workers).seed(7).run(|&params, run| {
//!         let series = series.clone();
//!         async move { pipeline::run(&run.bus, series, params, pipeline::Config::default()).await }
//!     })
//! };
//! let (one, two) = (sweep(1), sweep(2));
//! assert_eq!(one.failures().count(), 0);
//! let hashes = |r: &mycelium_backtest::SweepReport<_, pipeline::RunResult>| {
//!     r.successes().map(|(_, res)| res.trace_hash).collect::<Vec<_>>()
//! };
//! assert_eq!(hashes(&one), hashes(&two)); // same traces on 1 and on 2 workers
//! let (best, result) = one
//!     .successes()
//!     .max_by(|a, b| a.1.stats.return_pct.total_cmp(&b.1.stats.return_pct))
//!     .unwrap();
//! println!("best {best}: {:.2}% return, {} trades", result.stats.return_pct, result.stats.trades);
//! ```
//!
//! A sweep also runs any subset of its grid ([`Sweep::run_shard`] with a [`Shard`]) with the
//! same per-point seeds, and [`SweepReport::merge`] puts shards run anywhere back in grid
//! order: the basis of sweeps on a cluster (the Python package's `mycelium.distributed`).
//!
//! The [`pipeline`] module holds the reference backtest written as actors (replayer,
//! moving-average crossover strategy, simulated exchange, portfolio with a risk limit) under
//! a supervisor; `examples/backtest` runs it over a grid of 1,000 points and a million ticks.

#![warn(missing_docs)]

pub mod data;
pub mod metrics;
pub mod pipeline;
pub mod plot;
pub mod report;
pub mod results;
mod series;
mod shard;
mod sweep;
mod trace;

pub use data::{
    load, load_csv, parse, parse_csv, DataError, DataFormat, EpochUnit, LoadOptions, Loaded,
};
pub use series::{Series, SeriesError};
pub use shard::{decode_series, encode_series, DecodeError, MergeError, Shard, ShardError};
pub use sweep::{run_seed, Run, RunFailure, RunOutcome, Sweep, SweepReport};
pub use trace::{fnv1a, Trace};

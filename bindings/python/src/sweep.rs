//! The built-in backtest sweep, run from Python: rows of results, with the columns of the
//! backtest's `results.csv`.
//!
//! This file holds the runs: `run_sweep` over a whole grid, `run_shard` and
//! `run_strategy_shard` over a shard of one. The rest lives beside it, one concept a file:
//! `settings.rs` (the run settings from the Python keywords), `market_data.rs` (the series a
//! sweep runs on: `MarketData`, and the data file or synthetic ticks of `run_sweep`),
//! `rows.rs` (the rows returned: their columns, and the header of `results.csv`) and
//! `grid.rs` (the built-in grids, the check of a shard against its grid, `ShardError`).

use std::sync::Arc;

use mycelium_backtest::pipeline::{self, Config, Params};
use mycelium_backtest::{results, Sweep};
use mycelium_supervisor::ChildSpec;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::strategy::{PyStrategy, PyStrategyArgs};

mod grid;
mod market_data;
mod rows;
mod settings;

use grid::shard;
pub(crate) use grid::{builtin_grid, ShardError};
pub(crate) use market_data::{series, MarketData};
pub(crate) use rows::{csv_header, put_details, put_result};
pub(crate) use settings::Settings;

/// Runs the reference crossover pipeline over the grid `fast x slow x bands` (one
/// virtual-time bus per point, on `workers` threads, the GIL released) and returns one dict
/// per grid point, in grid order.
#[pyfunction]
#[pyo3(signature = (
    fast, slow, bands, ticks=100_000, seed=42, workers=None, data=None, batch=4096,
    mark_every=1, cash=10_000.0, size=None, commission_bps=0.0, commission_per_trade=0.0,
    fill="next-open", risk_limit=None, details=false,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_sweep<'py>(
    py: Python<'py>,
    fast: Vec<u32>,
    slow: Vec<u32>,
    bands: Vec<u32>,
    ticks: usize,
    seed: u64,
    workers: Option<usize>,
    data: Option<String>,
    batch: usize,
    mark_every: usize,
    cash: f64,
    size: Option<Bound<'py, PyAny>>,
    commission_bps: f64,
    commission_per_trade: f64,
    fill: &str,
    risk_limit: Option<f64>,
    details: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let grid = pipeline::grid(&fast, &slow, &bands);
    if grid.is_empty() {
        return Err(PyValueError::new_err(
            "the grid is empty: give at least one fast window, one slow window and one band",
        ));
    }
    let all = PyString::new(py, "all").into_any();
    let mut config = Settings {
        batch,
        mark_every,
        cash,
        size: size.as_ref().unwrap_or(&all),
        commission_bps,
        commission_per_trade,
        fill,
        risk_limit,
    }
    .config()?;
    config.keep_fills = details;
    let series = series(py, data, ticks, seed)?;
    let too_long = grid
        .iter()
        .filter(|p| p.slow as usize >= series.len())
        .count();
    if too_long > 0 {
        warn(
            py,
            &format!(
                "{too_long} grid point(s) have a slow window of {} rows or more, as long as the data: they cannot trade",
                series.len()
            ),
        )?;
    }
    let mut sweep = Sweep::new(grid).seed(seed);
    if let Some(w) = workers {
        sweep = sweep.workers(w.max(1));
    }
    let report = py.detach(|| {
        sweep.run(|params: &Params, run| {
            let (series, config, params) = (series.clone(), config.clone(), *params);
            async move { pipeline::run(&run.bus, series, params, config).await }
        })
    });
    let mut rows = Vec::with_capacity(report.runs.len());
    for run in &report.runs {
        let row = PyDict::new(py);
        row.set_item("index", run.index)?;
        row.set_item("fast", run.params.fast)?;
        row.set_item("slow", run.params.slow)?;
        row.set_item("band_bps", run.params.band_bps)?;
        row.set_item("seed", run.seed)?;
        put_result(py, &row, &run.result)?;
        if details {
            put_details(py, &row, &run.result, &series)?;
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(PyRuntimeError::new_err("the sweep returned no runs"));
    }
    Ok(rows)
}

/// Gives `text` to Python as a `UserWarning` from the caller's line, as the backtest
/// command line prints its warnings.
pub(crate) fn warn(py: Python<'_>, text: &str) -> PyResult<()> {
    let text = std::ffi::CString::new(text.replace('\0', " "))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    PyErr::warn(
        py,
        &py.get_type::<pyo3::exceptions::PyUserWarning>(),
        &text,
        1,
    )
}

/// Runs the grid points `indices` of `grid` (`(fast, slow, band_bps)` tuples) of a sweep
/// seeded with `seed` on `data`, the GIL released, and returns `(row, csv_line)` per point
/// in the shard's order: the row as `run_sweep` gives it, the line as the backtest writes
/// it in `results.csv` (with its line end).
#[pyfunction]
#[pyo3(signature = (
    data, grid, indices, seed, workers=None, batch=4096, mark_every=1, cash=10_000.0,
    size=None, commission_bps=0.0, commission_per_trade=0.0, fill="next-open",
    risk_limit=None, crash_at=None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_shard<'py>(
    py: Python<'py>,
    data: &MarketData,
    grid: Vec<(u32, u32, u32)>,
    indices: Vec<usize>,
    seed: u64,
    workers: Option<usize>,
    batch: usize,
    mark_every: usize,
    cash: f64,
    size: Option<Bound<'py, PyAny>>,
    commission_bps: f64,
    commission_per_trade: f64,
    fill: &str,
    risk_limit: Option<f64>,
    crash_at: Option<usize>,
) -> PyResult<Vec<(Bound<'py, PyDict>, String)>> {
    let shard = shard(indices, grid.len())?;
    let all = PyString::new(py, "all").into_any();
    let config = Config {
        crash_once_at: crash_at,
        ..Settings {
            batch,
            mark_every,
            cash,
            size: size.as_ref().unwrap_or(&all),
            commission_bps,
            commission_per_trade,
            fill,
            risk_limit,
        }
        .config()?
    };
    let grid: Vec<Params> = grid
        .into_iter()
        .map(|(fast, slow, band_bps)| Params {
            fast,
            slow,
            band_bps,
        })
        .collect();
    let series = data.series();
    let mut sweep = Sweep::new(grid).seed(seed).progress(false);
    if let Some(w) = workers {
        sweep = sweep.workers(w.max(1));
    }
    let report = py
        .detach(|| {
            sweep.run_shard(&shard, |params: &Params, run| {
                let (series, config, params) = (series.clone(), config.clone(), *params);
                async move { pipeline::run(&run.bus, series, params, config).await }
            })
        })
        .map_err(|e| ShardError::new_err(e.to_string()))?;
    let mut out = Vec::with_capacity(report.runs.len());
    for run in &report.runs {
        let row = PyDict::new(py);
        row.set_item("index", run.index)?;
        row.set_item("fast", run.params.fast)?;
        row.set_item("slow", run.params.slow)?;
        row.set_item("band_bps", run.params.band_bps)?;
        row.set_item("seed", run.seed)?;
        put_result(py, &row, &run.result)?;
        let mut line = Vec::new();
        results::write_row(run, &mut line)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot format a results row: {e}")))?;
        let line = String::from_utf8(line)
            .map_err(|e| PyRuntimeError::new_err(format!("a results row is not text: {e}")))?;
        out.push((row, line));
    }
    Ok(out)
}

/// Runs the grid points `indices` of `grid` (each the `args` of the Python strategy class
/// `strategy`) of a sweep seeded with `seed` on `data`, and returns their rows as
/// `run_strategy` gives them, in the shard's order.
#[pyfunction]
#[pyo3(signature = (
    strategy, data, grid, indices, seed, workers=None, batch=4096, mark_every=1,
    cash=10_000.0, size=None, commission_bps=0.0, commission_per_trade=0.0,
    fill="next-open", risk_limit=None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_strategy_shard<'py>(
    py: Python<'py>,
    strategy: Py<PyAny>,
    data: &MarketData,
    grid: Vec<Py<PyAny>>,
    indices: Vec<usize>,
    seed: u64,
    workers: Option<usize>,
    batch: usize,
    mark_every: usize,
    cash: f64,
    size: Option<Bound<'py, PyAny>>,
    commission_bps: f64,
    commission_per_trade: f64,
    fill: &str,
    risk_limit: Option<f64>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let shard = shard(indices, grid.len())?;
    let all = PyString::new(py, "all").into_any();
    let config = Settings {
        batch,
        mark_every,
        cash,
        size: size.as_ref().unwrap_or(&all),
        commission_bps,
        commission_per_trade,
        fill,
        risk_limit,
    }
    .config()?;
    // The bars each point needs before its first decision (for the points of this shard).
    let mut warmups = vec![0usize; grid.len()];
    for &i in shard.indices() {
        warmups[i] = crate::strategy::warmup(py, &strategy, &grid[i], i)?;
    }
    let class = Arc::new(strategy);
    let points: Vec<usize> = (0..grid.len()).collect();
    let grid: Arc<Vec<Arc<Py<PyAny>>>> = Arc::new(grid.into_iter().map(Arc::new).collect());
    let series = data.series();
    let mut sweep = Sweep::new(points).seed(seed).progress(false);
    if let Some(w) = workers {
        sweep = sweep.workers(w.max(1));
    }
    let report = py
        .detach(|| {
            sweep.run_shard(&shard, |i: &usize, run| {
                let spec = ChildSpec::new::<PyStrategy>(
                    pipeline::STRATEGY_CHILD,
                    PyStrategyArgs::new(class.clone(), grid[*i].clone(), config.clone()),
                );
                let (series, config, warmup) = (series.clone(), config.clone(), warmups[*i]);
                async move { pipeline::run_with(&run.bus, series, spec, warmup, config).await }
            })
        })
        .map_err(|e| ShardError::new_err(e.to_string()))?;
    let mut rows = Vec::with_capacity(report.runs.len());
    for run in &report.runs {
        let row = PyDict::new(py);
        row.set_item("index", run.index)?;
        row.set_item("args", grid[run.index].clone_ref(py))?;
        row.set_item("seed", run.seed)?;
        put_result(py, &row, &run.result)?;
        rows.push(row);
    }
    Ok(rows)
}

//! The built-in backtest sweep, run from Python: rows of results.

use std::sync::Arc;

use mycelium_backtest::pipeline::{self, Config, Params};
use mycelium_backtest::{load_csv, Series, Sweep};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Runs the reference crossover pipeline over the grid `fast x slow x bands` (one
/// virtual-time bus per point, on `workers` threads, the GIL released) and returns one dict
/// per grid point, in grid order.
#[pyfunction]
#[pyo3(signature = (fast, slow, bands, ticks=100_000, seed=7, workers=None, data=None, batch=4096))]
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
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let grid = pipeline::grid(&fast, &slow, &bands);
    if grid.is_empty() {
        return Err(PyValueError::new_err(
            "the grid is empty: give at least one fast window, one slow window and one band",
        ));
    }
    if batch == 0 {
        return Err(PyValueError::new_err("batch must be at least 1"));
    }
    let series = match data {
        Some(path) => {
            load_csv(&path)
                .map_err(|e| PyValueError::new_err(e.to_string()))?
                .0
        }
        None => {
            if ticks < 2 {
                return Err(PyValueError::new_err("ticks must be at least 2"));
            }
            Series::synthetic(seed, ticks)
        }
    };
    let series = Arc::new(series);
    let config = Config {
        batch,
        ..Config::default()
    };
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
        match &run.result {
            Ok(r) => {
                row.set_item("pnl", r.pnl)?;
                row.set_item("sharpe", r.sharpe)?;
                row.set_item("max_drawdown", r.max_drawdown)?;
                row.set_item("trades", r.trades)?;
                row.set_item("fees", r.fees)?;
                row.set_item("ticks", r.ticks)?;
                row.set_item("trace_hash", format!("{:016x}", r.trace_hash))?;
                row.set_item("error", py.None())?;
            }
            Err(e) => row.set_item("error", e.to_string())?,
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(PyRuntimeError::new_err("the sweep returned no runs"));
    }
    Ok(rows)
}

//! The built-in backtest sweep, run from Python: rows of results, with the columns of the
//! backtest's `results.csv`.

use std::sync::Arc;

use mycelium_backtest::pipeline::{self, Config, FillAt, Params, RunResult, Sizing};
use mycelium_backtest::{load_csv, RunFailure, Series, Sweep};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

/// The statistics of a row, named as the columns of the backtest's `results.csv`
/// (`mycelium_backtest::results::CSV_HEADER`); `None` in a failed row.
pub(crate) const STAT_COLUMNS: [&str; 19] = [
    "return_pct",
    "buy_hold_return_pct",
    "max_drawdown_pct",
    "sharpe",
    "sortino",
    "return_ann_pct",
    "volatility_ann_pct",
    "trades",
    "fills",
    "win_rate_pct",
    "exposure_pct",
    "equity_final",
    "fees",
    "position",
    "canceled",
    "halted_at",
    "bankrupt_at",
    "restarts",
    "trace_hash",
];

/// The run settings shared by every point of a sweep, from the Python keywords.
pub(crate) struct Settings<'a, 'py> {
    pub(crate) batch: usize,
    pub(crate) mark_every: usize,
    pub(crate) cash: f64,
    pub(crate) size: &'a Bound<'py, PyAny>,
    pub(crate) commission_bps: f64,
    pub(crate) commission_per_trade: f64,
    pub(crate) fill: &'a str,
    pub(crate) risk_limit: Option<f64>,
}

impl Settings<'_, '_> {
    /// The pipeline's [`Config`], checked: a `ValueError` (or `TypeError` for a size of the
    /// wrong type) says what to give instead.
    pub(crate) fn config(&self) -> PyResult<Config> {
        if self.batch == 0 {
            return Err(PyValueError::new_err("batch must be at least 1"));
        }
        if self.mark_every == 0 {
            return Err(PyValueError::new_err("mark_every must be at least 1"));
        }
        let fill = match self.fill {
            "next-open" => FillAt::NextOpen,
            "next-close" => FillAt::NextClose,
            "same-close" => FillAt::SameClose,
            other => {
                return Err(PyValueError::new_err(format!(
                    "fill must be next-open, next-close or same-close; got `{other}`"
                )))
            }
        };
        let config = Config {
            batch: self.batch,
            mark_every: self.mark_every,
            cash: self.cash,
            size: sizing(self.size)?,
            commission_bps: self.commission_bps,
            commission_per_trade: self.commission_per_trade,
            fill,
            risk_limit: self.risk_limit,
            ..Config::default()
        };
        config
            .validate()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(config)
    }
}

/// `"all"` (all the available cash), a fraction of it in (0, 1) (a float), or a whole
/// number of units (an int >= 1), as the backtest's `--size`.
fn sizing(size: &Bound<'_, PyAny>) -> PyResult<Sizing> {
    if size.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "size must be \"all\", a float fraction in (0, 1) or an int number of units, not a bool",
        ));
    }
    if size.is_instance_of::<PyString>() {
        let text: String = size.extract()?;
        return match text.as_str() {
            "all" => Ok(Sizing::Equity(1.0)),
            other => Err(PyValueError::new_err(format!(
                "size `{other}`: give \"all\", a fraction in (0, 1) or a whole number of units"
            ))),
        };
    }
    if size.is_instance_of::<PyInt>() {
        let units: i64 = size.extract()?;
        return match u64::try_from(units) {
            Ok(u) if u >= 1 => Ok(Sizing::Units(u)),
            _ => Err(PyValueError::new_err(format!(
                "size {units}: give a whole number of units >= 1"
            ))),
        };
    }
    if size.is_instance_of::<PyFloat>() {
        let f: f64 = size.extract()?;
        return if f > 0.0 && f < 1.0 {
            Ok(Sizing::Equity(f))
        } else {
            Err(PyValueError::new_err(format!(
                "size {f}: a float is a fraction of the cash in (0, 1); give an int for units \
                 or \"all\""
            )))
        };
    }
    Err(PyTypeError::new_err(
        "size must be \"all\", a float fraction in (0, 1) or an int number of units",
    ))
}

/// The series: the CSV file `data`, or `ticks` synthetic ticks from `seed`.
pub(crate) fn series(data: Option<String>, ticks: usize, seed: u64) -> PyResult<Arc<Series>> {
    let series = match data {
        Some(path) => {
            load_csv(&path)
                .map_err(|e| PyValueError::new_err(e.to_string()))?
                .0
        }
        None if ticks < 2 => return Err(PyValueError::new_err("ticks must be at least 2")),
        None => Series::synthetic(seed, ticks),
    };
    Ok(Arc::new(series))
}

/// Fills `row` with the run's status (`"ok"`, or why it failed), its statistics (the
/// columns of `results.csv`, [`STAT_COLUMNS`]; `None` when it failed) and its tick count.
pub(crate) fn put_result(
    py: Python<'_>,
    row: &Bound<'_, PyDict>,
    result: &Result<RunResult, RunFailure>,
) -> PyResult<()> {
    match result {
        Ok(r) => {
            let s = &r.stats;
            row.set_item("status", "ok")?;
            row.set_item("return_pct", s.return_pct)?;
            row.set_item("buy_hold_return_pct", s.buy_hold_return_pct)?;
            row.set_item("max_drawdown_pct", s.max_drawdown_pct)?;
            row.set_item("sharpe", s.sharpe)?;
            row.set_item("sortino", s.sortino)?;
            row.set_item("return_ann_pct", s.return_ann_pct)?;
            row.set_item("volatility_ann_pct", s.volatility_ann_pct)?;
            row.set_item("trades", s.trades)?;
            row.set_item("fills", s.fills)?;
            row.set_item("win_rate_pct", s.win_rate_pct)?;
            row.set_item("exposure_pct", s.exposure_pct)?;
            row.set_item("equity_final", s.equity_final)?;
            row.set_item("fees", s.fees)?;
            row.set_item("position", r.position)?;
            row.set_item("canceled", r.canceled)?;
            row.set_item("halted_at", r.halted_at)?;
            row.set_item("bankrupt_at", r.bankrupt_at)?;
            row.set_item("restarts", r.restarts)?;
            row.set_item("trace_hash", format!("{:016x}", r.trace_hash))?;
            row.set_item("ticks", r.ticks)?;
        }
        Err(e) => {
            row.set_item("status", e.to_string())?;
            for column in STAT_COLUMNS {
                row.set_item(column, py.None())?;
            }
            row.set_item("ticks", py.None())?;
        }
    }
    Ok(())
}

/// Runs the reference crossover pipeline over the grid `fast x slow x bands` (one
/// virtual-time bus per point, on `workers` threads, the GIL released) and returns one dict
/// per grid point, in grid order.
#[pyfunction]
#[pyo3(signature = (
    fast, slow, bands, ticks=100_000, seed=7, workers=None, data=None, batch=4096,
    mark_every=1, cash=10_000.0, size=None, commission_bps=0.0, commission_per_trade=0.0,
    fill="next-open", risk_limit=None,
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
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let grid = pipeline::grid(&fast, &slow, &bands);
    if grid.is_empty() {
        return Err(PyValueError::new_err(
            "the grid is empty: give at least one fast window, one slow window and one band",
        ));
    }
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
    let series = series(data, ticks, seed)?;
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
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(PyRuntimeError::new_err("the sweep returned no runs"));
    }
    Ok(rows)
}

//! The built-in backtest sweep, run from Python: rows of results, with the columns of the
//! backtest's `results.csv`.

use std::ffi::CString;
use std::sync::Arc;

use mycelium_backtest::data::{self, DataFormat, LoadOptions};
use mycelium_backtest::pipeline::{self, Config, FillAt, Params, RunResult, Sizing};
use mycelium_backtest::{
    decode_series, encode_series, results, EpochUnit, RunFailure, Series, Shard, Sweep,
};
use mycelium_supervisor::ChildSpec;
use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyRuntimeError, PyTypeError, PyUserWarning, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple};

use crate::strategy::{PyStrategy, PyStrategyArgs};

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

/// The series: the CSV file `data`, or `ticks` synthetic ticks from `seed`. What the
/// loader noticed without stopping (rows skipped, a last line perhaps cut) is given as a
/// Python `UserWarning` each, as the backtest prints it.
pub(crate) fn series(
    py: Python<'_>,
    data: Option<String>,
    ticks: usize,
    seed: u64,
) -> PyResult<Arc<Series>> {
    let series = match data {
        Some(path) => {
            data_file_exists(std::path::Path::new(&path))?;
            let loaded = py
                .detach(|| mycelium_backtest::load(&path, &LoadOptions::default()))
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            let category = py.get_type::<PyUserWarning>();
            for warning in &loaded.warnings {
                let text = CString::new(warning.replace('\0', " "))
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                PyErr::warn(py, &category, &text, 1)?;
            }
            loaded.series
        }
        None if ticks < 2 => return Err(PyValueError::new_err("ticks must be at least 2")),
        None => Series::synthetic(seed, ticks),
    };
    Ok(Arc::new(series))
}

/// `Ok` when the data file at `path` is there to be read; else `FileNotFoundError` naming
/// it (`OSError` when it cannot be looked at for another reason), as Python's own `open`
/// would raise, rather than the `ValueError` of a file that does not parse.
fn data_file_exists(path: &std::path::Path) -> PyResult<()> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = format!("cannot read the data file {}: {e}", path.display());
            Err(if e.kind() == std::io::ErrorKind::NotFound {
                PyFileNotFoundError::new_err(text)
            } else {
                PyOSError::new_err(text)
            })
        }
    }
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
    let series = series(py, data, ticks, seed)?;
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

pyo3::create_exception!(
    _native,
    ShardError,
    PyValueError,
    "A shard that cannot run on its grid (empty, an unknown or a repeated grid index), or a grid that cannot be sharded (empty)."
);

/// Market data for sweeps that run anywhere: a price series held once per process and
/// shared by reference between the shards that run there. It pickles as its recipe (a
/// synthetic series: seed and length) or as its values bit for bit (a loaded file), so a
/// worker that receives it has the very series the client had.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct MarketData {
    series: Arc<Series>,
    /// `Some((seed, ticks))` for a synthetic series, rebuilt from that on a worker.
    synthetic: Option<(u64, usize)>,
    bars: bool,
    warnings: Vec<String>,
}

#[pymethods]
impl MarketData {
    /// `ticks` synthetic ticks from `seed` (the backtest's synthetic series).
    #[staticmethod]
    fn synthetic(seed: u64, ticks: usize) -> PyResult<MarketData> {
        if ticks < 2 {
            return Err(PyValueError::new_err("ticks must be at least 2"));
        }
        Ok(MarketData {
            series: Arc::new(Series::synthetic(seed, ticks)),
            synthetic: Some((seed, ticks)),
            bars: false,
            warnings: Vec::new(),
        })
    }

    /// The CSV file of ticks or bars at `path`, read as the backtest's `--data` reads it
    /// (`epoch_unit`: s, ms, us or ns for numeric timestamps; default: detected). A file
    /// that is not there raises `FileNotFoundError` naming it; one that does not parse,
    /// `ValueError`.
    #[staticmethod]
    #[pyo3(signature = (path, epoch_unit=None))]
    fn load(
        py: Python<'_>,
        path: std::path::PathBuf,
        epoch_unit: Option<&str>,
    ) -> PyResult<MarketData> {
        let epoch_unit = match epoch_unit {
            None => None,
            Some(u) => Some(EpochUnit::parse(u).ok_or_else(|| {
                PyValueError::new_err(format!("epoch_unit `{u}`: expected s, ms, us or ns"))
            })?),
        };
        data_file_exists(&path)?;
        let loaded = py
            .detach(|| data::load(&path, &LoadOptions { epoch_unit }))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(MarketData {
            bars: loaded.format == DataFormat::Bars,
            series: Arc::new(loaded.series),
            synthetic: None,
            warnings: loaded.warnings,
        })
    }

    /// A series from the bytes of `to_bytes`.
    #[staticmethod]
    #[pyo3(signature = (data, bars=false))]
    fn from_bytes(py: Python<'_>, data: &[u8], bars: bool) -> PyResult<MarketData> {
        let series = py
            .detach(|| decode_series(data))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(MarketData {
            series: Arc::new(series),
            synthetic: None,
            bars,
            warnings: Vec::new(),
        })
    }

    /// The series as bytes: every value bit for bit.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = py.detach(|| encode_series(&self.series));
        PyBytes::new(py, &bytes)
    }

    /// Rows (ticks or bars) in the series.
    fn __len__(&self) -> usize {
        self.series.len()
    }

    /// True for OHLC bars (orders may fill at a bar's open), false for ticks.
    #[getter]
    fn bars(&self) -> bool {
        self.bars
    }

    /// `(seed, ticks)` of a synthetic series, None for loaded data.
    #[getter]
    fn synthetic_recipe(&self) -> Option<(u64, usize)> {
        self.synthetic
    }

    /// What the loader noticed without stopping (each with its line).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// First and last timestamps, in ns since the Unix epoch.
    #[getter]
    fn span_ns(&self) -> (u64, u64) {
        let ts = self.series.timestamps();
        (ts[0], ts[ts.len() - 1])
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let class = py.get_type::<MarketData>();
        match me.synthetic {
            Some((seed, ticks)) => {
                let make = class.getattr("synthetic")?;
                PyTuple::new(py, [make, (seed, ticks).into_pyobject(py)?.into_any()])
            }
            None => {
                let make = class.getattr("from_bytes")?;
                let args = (me.to_bytes(py), me.bars).into_pyobject(py)?.into_any();
                PyTuple::new(py, [make, args])
            }
        }
    }

    fn __repr__(&self) -> String {
        match self.synthetic {
            Some((seed, ticks)) => format!("MarketData.synthetic(seed={seed}, ticks={ticks})"),
            None => format!(
                "<MarketData: {} {}>",
                self.series.len(),
                if self.bars { "bars" } else { "ticks" }
            ),
        }
    }
}

impl MarketData {
    pub(crate) fn series(&self) -> Arc<Series> {
        self.series.clone()
    }
}

/// The header of the backtest's `results.csv`.
#[pyfunction]
pub(crate) fn csv_header() -> &'static str {
    results::CSV_HEADER
}

/// A built-in grid of the backtest (`"default"`: 1,000 points, `"small"`: 18), as
/// `(fast, slow, band_bps)` tuples in grid order.
#[pyfunction]
pub(crate) fn builtin_grid(name: &str) -> PyResult<Vec<(u32, u32, u32)>> {
    let grid = match name {
        "default" => pipeline::default_grid(),
        "small" => pipeline::small_grid(),
        other => {
            return Err(PyValueError::new_err(format!(
                "no built-in grid `{other}`: give default or small"
            )))
        }
    };
    Ok(grid.iter().map(|p| (p.fast, p.slow, p.band_bps)).collect())
}

/// Checks `indices` against a grid of `len` points as the sweep does.
fn shard(indices: Vec<usize>, len: usize) -> PyResult<Shard> {
    if len == 0 {
        return Err(ShardError::new_err(
            "the grid is empty: give at least one grid point",
        ));
    }
    let shard = Shard::new(indices);
    shard
        .check(len)
        .map_err(|e| ShardError::new_err(e.to_string()))?;
    Ok(shard)
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
                    PyStrategyArgs::new(class.clone(), grid[*i].clone()),
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

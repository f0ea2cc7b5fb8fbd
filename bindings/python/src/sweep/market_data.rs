//! The market data a sweep runs on: the series of `run_sweep` (a data file or synthetic
//! ticks) and `MarketData`, the series that sweeps running anywhere share and pickle.

use std::ffi::CString;
use std::sync::Arc;

use mycelium_backtest::data::{self, DataFormat, LoadOptions};
use mycelium_backtest::{decode_series, encode_series, EpochUnit, Series};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

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

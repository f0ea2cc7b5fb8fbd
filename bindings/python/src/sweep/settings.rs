//! The run settings shared by every point of a sweep, from the Python keywords, checked
//! into the pipeline's `Config`.

use mycelium_backtest::pipeline::{Config, FillAt, Sizing};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

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

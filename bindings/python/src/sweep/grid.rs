//! The grids of a sweep: the built-in ones, and the check of a shard (the grid points that
//! run in one place) against its grid, `ShardError` when it cannot run.

use mycelium_backtest::{pipeline, Shard};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    _native,
    ShardError,
    PyValueError,
    "A shard that cannot run on its grid (empty, an unknown or a repeated grid index), or a grid that cannot be sharded (empty)."
);

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
pub(super) fn shard(indices: Vec<usize>, len: usize) -> PyResult<Shard> {
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

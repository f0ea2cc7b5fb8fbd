"""Backtests from Python: the built-in sweep of the reference crossover pipeline."""

from __future__ import annotations

from typing import Any, Sequence

from . import _native


def sweep(
    fast: Sequence[int],
    slow: Sequence[int],
    bands: Sequence[int],
    *,
    ticks: int = 100_000,
    seed: int = 7,
    workers: int | None = None,
    data: str | None = None,
    batch: int = 4096,
    output: str = "rows",
) -> Any:
    """Runs the reference crossover backtest over every (fast, slow, band) combination, one
    virtual-time bus per grid point on `workers` threads (default: all cores), with the GIL
    released. `data` is a CSV price file; without it, `ticks` synthetic ticks from `seed`.

    Returns one dict per grid point, in grid order: index, fast, slow, band_bps, seed, pnl,
    sharpe, max_drawdown, trades, fees, ticks, trace_hash, error (None, or why the point
    failed). `output="pandas"` or `"arrow"` returns a pandas DataFrame or a pyarrow Table
    instead (that library must be installed)."""
    rows = _native.run_sweep(list(fast), list(slow), list(bands), ticks, seed, workers, data, batch)
    if output == "rows":
        return rows
    if output == "pandas":
        import pandas

        return pandas.DataFrame(rows)
    if output == "arrow":
        import pyarrow

        return pyarrow.Table.from_pylist(rows)
    raise ValueError(f"output must be rows, pandas or arrow; got {output!r}")

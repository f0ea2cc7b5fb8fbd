"""Backtests from Python: the built-in sweep of the reference crossover pipeline."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

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
    if output not in ("rows", "pandas", "arrow"):
        raise ValueError(f"output must be rows, pandas or arrow; got {output!r}")
    rows = _native.run_sweep(list(fast), list(slow), list(bands), ticks, seed, workers, data, batch)
    return _shape(rows, output)


class Strategy:
    """A trading strategy written in Python, run in the reference backtest pipeline in the
    crossover's place: the replayer hands it every batch of ticks (on virtual time), the
    exchange fills its orders at the next tick's price, the portfolio books them.

    Subclasses are constructed with no arguments; `on_start(args)` runs at the start of
    every run (and again if the pipeline restarts after an exception, with the same args).
    An exception is a failure like a Rust panic: the pipeline's supervisor restarts it and
    the replay starts over; a run that keeps failing is reported in its row's `error`."""

    def on_start(self, args: Any) -> None:
        """Sets the strategy up for a run."""

    def on_ticks(
        self, start: int, prices: list[float], timestamps: list[int]
    ) -> Iterable[tuple[int, int]] | None:
        """Handles ticks `start .. start + len(prices)` of the series and returns the
        orders to place: `(tick index, signed quantity)`, each filled at the next tick."""
        raise NotImplementedError


def run_strategy(
    strategy: type[Strategy],
    grid: Sequence[Any],
    *,
    ticks: int = 100_000,
    seed: int = 7,
    workers: int | None = None,
    data: str | None = None,
    batch: int = 4096,
    output: str = "rows",
) -> Any:
    """Backtests `strategy` once per element of `grid` (each the `args` of `on_start`), one
    virtual-time bus per point, in grid order: dicts with index, args, seed, pnl, sharpe,
    max_drawdown, trades, fees, ticks, restarts, trace_hash, error. Python code runs under
    the GIL, so points run one at a time however many workers there are."""
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise TypeError(f"strategy must be a subclass of mycelium.backtest.Strategy, got {strategy!r}")
    rows = _native.run_strategy(strategy, list(grid), ticks, seed, workers, data, batch)
    return _shape(rows, output)


def _shape(rows: list[dict[str, Any]], output: str) -> Any:
    if output == "rows":
        return rows
    if output == "pandas":
        import pandas

        return pandas.DataFrame(rows)
    if output == "arrow":
        import pyarrow

        return pyarrow.Table.from_pylist(rows)
    raise ValueError(f"output must be rows, pandas or arrow; got {output!r}")

"""Backtests from Python: the built-in sweep of the reference crossover pipeline."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Iterable, Iterator, Sequence

from . import _native


#: The statistics of a row, as the columns of the backtest's results.csv (None in a row
#: whose run failed). Definitions: backtesting.py's statistics of the same names.
STAT_COLUMNS = (
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
)


def sweep(
    fast: Sequence[int],
    slow: Sequence[int],
    bands: Sequence[int],
    *,
    ticks: int = 100_000,
    seed: int = 42,
    workers: int | None = None,
    data: str | os.PathLike[str] | Any = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    output: str = "rows",
) -> Any:
    """Runs the reference crossover backtest over every (fast, slow, band) combination, one
    virtual-time bus per grid point on `workers` threads (default: all cores), with the GIL
    released. `data` is a CSV price file, as a str or a path (ticks or OHLC bars; what the
    loader notices without stopping, such as skipped rows, is given as a `UserWarning`
    each); without it, `ticks` synthetic ticks from `seed` (default 42, as for the backtest
    command line and the distributed sweep; it also seeds every run's bus).

    The account (the defaults are backtesting.py's): `cash` to start with; `size` per entry,
    "all" the available cash, a fraction of it in (0, 1) (a float) or a whole number of
    units (an int); `commission_bps` of each fill's notional plus `commission_per_trade`;
    `fill` next-open, next-close or same-close; `risk_limit`, a drawdown (a fraction) past
    which trading stops; marks every `mark_every` rows. A setting that cannot work raises
    `ValueError` before anything runs, and a `data` file that is not there
    `FileNotFoundError`. `data` may also be a pandas DataFrame shaped as backtesting.py's:
    a DatetimeIndex and Open/High/Low/Close(/Volume) columns in any case, or a `price` column
    for ticks; it is written to a temporary CSV file that the loader reads, then removed.

    Returns one dict per grid point, in grid order, with the columns of the backtest's
    results.csv: index, fast, slow, band_bps, status ("ok", or why the point failed), then
    `STAT_COLUMNS` (None when it failed), plus seed and ticks. `output="pandas"` or `"arrow"`
    returns a pandas DataFrame or a pyarrow Table instead (that library must be installed)."""
    if output not in ("rows", "pandas", "arrow"):
        raise ValueError(f"output must be rows, pandas or arrow; got {output!r}")
    with _data_file(data) as path:
        rows = _native.run_sweep(
            list(fast),
            list(slow),
            list(bands),
            ticks,
            seed,
            workers,
            path,
            batch,
            mark_every,
            cash,
            size,
            commission_bps,
            commission_per_trade,
            fill,
            risk_limit,
        )
    return _shape(rows, output)


class Strategy:
    """A trading strategy written in Python, run in the reference backtest pipeline in the
    crossover's place: the replayer hands it every batch of ticks (on virtual time), it
    answers with the direction it wants to hold, the exchange fills the orders by the fill
    rule and the account sizes and books them.

    Subclasses are constructed with no arguments; `on_start(args)` runs at the start of
    every run (and again if the pipeline restarts after an exception, with the same args).
    An exception is a failure like a Rust panic: the pipeline's supervisor restarts it and
    the replay starts over; a run that keeps failing, or whose first `on_start` raises, is
    reported in its row's `status`."""

    @classmethod
    def warmup(cls, args: Any) -> int:
        """How many bars the strategy needs (with these args) before it can first decide:
        Buy & Hold is measured from there (a moving average of `n` bars needs `n - 1`).
        Default 0. It is called for every grid point before any runs: an exception it
        raises stops the sweep there and propagates as raised, with a note (`add_note`)
        naming the args and the grid point."""
        return 0

    def on_start(self, args: Any) -> None:
        """Sets the strategy up for a run."""

    def on_ticks(
        self, start: int, prices: list[float], timestamps: list[int]
    ) -> Iterable[tuple[int, int]] | None:
        """Handles ticks `start .. start + len(prices)` of the series (`timestamps` in ns)
        and returns the orders to place, in tick order: `(tick index, target)`, the target
        the direction wanted after that tick's close, 1 (long), -1 (short) or 0 (flat). The
        account decides how many units that is (`size`); a target equal to the position
        held trades nothing."""
        raise NotImplementedError


def run_strategy(
    strategy: type[Strategy],
    grid: Sequence[Any],
    *,
    ticks: int = 100_000,
    seed: int = 42,
    workers: int | None = None,
    data: str | os.PathLike[str] | Any = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    output: str = "rows",
) -> Any:
    """Backtests `strategy` once per element of `grid` (each the `args` of `on_start` and
    `warmup`), one virtual-time bus per point, with the account settings of `sweep`. Rows in
    grid order: index, args, seed, status, `STAT_COLUMNS` (None when the run failed), ticks.
    Python code runs under the GIL, so points run one at a time however many workers there
    are. An exception `warmup` raises propagates, before anything runs, with a note naming the
    grid point."""
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise TypeError(f"strategy must be a subclass of mycelium.backtest.Strategy, got {strategy!r}")
    if output not in ("rows", "pandas", "arrow"):
        raise ValueError(f"output must be rows, pandas or arrow; got {output!r}")
    with _data_file(data) as path:
        rows = _native.run_strategy(
            strategy,
            list(grid),
            ticks,
            seed,
            workers,
            path,
            batch,
            mark_every,
            cash,
            size,
            commission_bps,
            commission_per_trade,
            fill,
            risk_limit,
        )
    return _shape(rows, output)


@contextlib.contextmanager
def _data_file(data: Any) -> Iterator[str | None]:
    """The path of the CSV file `data` names, or of a temporary one holding the DataFrame."""
    if data is None or isinstance(data, (str, os.PathLike)):
        yield None if data is None else os.fspath(data)
        return
    if not (hasattr(data, "columns") and hasattr(data, "index") and hasattr(data, "to_csv")):
        raise TypeError(
            f"data must be a CSV file's path or a pandas DataFrame, got {type(data).__name__}"
        )
    import pandas

    if not isinstance(data.index, pandas.DatetimeIndex):
        raise ValueError(
            "a DataFrame given as data needs a DatetimeIndex (the bar or tick times), as "
            "backtesting.py's; got a " + type(data.index).__name__
        )
    columns = {str(c).lower(): c for c in data.columns}
    if "close" in columns:
        wanted = ["open", "high", "low", "close", "volume"]
        missing = [c.capitalize() for c in wanted[:4] if c not in columns]
        if missing:
            raise ValueError(f"a DataFrame of bars needs the columns {', '.join(missing)} too")
        names = [w.capitalize() for w in wanted if w in columns]
        frame = data[[columns[w] for w in wanted if w in columns]].set_axis(names, axis=1)
    elif "price" in columns:
        frame = data[[columns["price"]]].set_axis(["price"], axis=1)
    else:
        raise ValueError(
            "a DataFrame given as data needs Open, High, Low and Close columns (bars) or a "
            f"price column (ticks); it has {', '.join(map(str, data.columns)) or 'none'}"
        )
    if frame.index.tz is not None:
        frame = frame.tz_convert("UTC").tz_localize(None)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.csv")
        frame.to_csv(path, index_label="Date" if "Close" in frame.columns else "time",
                     date_format="%Y-%m-%dT%H:%M:%S.%f")
        yield path


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

"""Backtests from Python: the built-in sweep of the reference crossover pipeline, and
strategies written in Python run in its place."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import os
import tempfile
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

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


#: The columns of a row of `trade_list` (`details=True`), as backtesting.py's `stats._trades`: the
#: signed size in units, the entry and exit bars, their times (ns since the epoch, UTC),
#: prices, the profit net of both commissions, its return in percent of the entry's value,
#: and the commissions.
TRADE_COLUMNS = (
    "size",
    "entry_bar",
    "exit_bar",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "pnl",
    "return_pct",
    "fees",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    """One bar (or tick: its open, high, low and close are its price) of the data, as
    `Strategy.on_bar` sees it after its close."""

    index: int
    """Its index in the data, from 0."""
    time: int
    """Its time, in ns since the epoch (UTC)."""
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    """None when the data has no volume."""


@dataclasses.dataclass(frozen=True, slots=True)
class Bars:
    """The bars of a batch as columns, for an `on_ticks` that takes a `bars` argument: element
    `k` of each is bar `start + k` (a tick's open, high and low are its price)."""

    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float] | None
    """None when the data has no volume."""


class Account(NamedTuple):
    """The account after a bar's close, as the pipeline's portfolio books it (backtesting.py's
    `self.position.size`, `self.trades[-1].entry_price`, `self._broker._cash` and
    `self.equity`)."""

    position: int
    """Units held, signed: > 0 long, < 0 short, 0 flat."""
    entry_price: float | None
    """The open position's entry price, None when flat."""
    cash: float
    """The starting cash less every commission, plus every closed trade's profit (the
    position's value is not taken out of it: leverage 1)."""
    equity: float
    """Cash plus the open position's profit at this close."""


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
    details: bool = False,
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
    returns a pandas DataFrame or a pyarrow Table instead (that library must be installed).

    `details=True` adds each run's `equity_curve` (its equity at every mark) and
    `trade_list` (its closed trades), as `run_strategy` does; they take memory in proportion to the data for
    every grid point, so ask for them on a small grid (or the few points you look at)."""
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
            details,
        )
    return _shape(rows, output)


_Placed = tuple[int, int | float | None, float | None, float | None, float | None, float | None]


class Strategy:
    """A trading strategy written in Python, run in the reference backtest pipeline in the
    crossover's place: the replayer hands it the data (on virtual time), it places orders,
    the exchange fills them and the account sizes and books them.

    A subclass defines one of two methods:

    - `on_bar(bar, account)`, called at every bar with the `Bar` (open, high, low, close,
      volume) and the `Account` after its close (position, entry price, cash, equity), as
      backtesting.py's `next()`; it places orders with `buy`, `sell` and `close`, with a
      size, stop and limit prices, stop loss and take profit.
    - `on_ticks(start, prices, timestamps)`, called once per batch of ticks with their
      closes and times, returning target directions (no account: faster, for signals that
      need only prices). Declaring a `bars` parameter (`bars: Bars | None = None`) gives it
      the batch's open, high, low, close and volume columns too.

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

    def on_bar(self, bar: Bar, account: Account) -> None:
        """Called after each bar's close with the bar and the account then (the fills of
        earlier orders booked, marked at this close). Orders placed here (`buy`, `sell`,
        `close`) are decided on this bar: a market order fills at the next bar's open (by
        the `fill` rule), a stop or limit order from the next bar on. One order per bar: a
        later call in the same bar replaces the earlier one. Not called once trading has
        stopped (bankruptcy or the risk limit)."""
        raise NotImplementedError

    def buy(
        self,
        *,
        size: int | float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
    ) -> None:
        """Be long: from flat, buy; from short, close the short and buy; while long,
        nothing (one position at a time, as `exclusive_orders=True` in backtesting.py).

        `size`: a whole number of units (>= 1), or a fraction of the available cash in
        (0, 1); default the run's `size`. `limit`: buy at or below this price (on the first
        bar whose low reaches it, at the better of its open and the limit). `stop`: wait for
        the price to rise to this (the first bar whose high reaches it), then buy at the
        worse of its open and the stop, or at `limit` if given. `sl` and `tp`: the stop loss
        and take profit of the position it opens, which must be below and above the entry
        (`limit`, else `stop`, else this bar's close). A stop or limit order works until it
        fills or the strategy places another order. Raises `ValueError` on a bad price or
        size, as backtesting.py's `buy` does."""
        self._place(1, size, limit, stop, sl, tp)

    def sell(
        self,
        *,
        size: int | float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
    ) -> None:
        """Be short: from flat, sell short; from long, close the long and sell short; while
        short, nothing. The arguments are `buy`'s, mirrored: `limit` at or above, `stop` a
        fall to that price, `sl` above and `tp` below the entry."""
        self._place(-1, size, limit, stop, sl, tp)

    def close(self) -> None:
        """Be flat: close the position at the next fill (a market order)."""
        self._place(0, None, None, None, None, None)

    def _place(
        self,
        target: int,
        size: int | float | None,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
    ) -> None:
        if not hasattr(self, "_close_price"):
            raise RuntimeError("orders are placed from on_bar, during a run")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, (int, float)):
                raise TypeError(f"size must be a number, got {type(size).__name__}")
            if 0 < size < 1:
                size = float(size)
            elif size >= 1 and float(size).is_integer():
                size = int(size)
            else:
                raise ValueError(
                    f"size={size!r}: give a fraction of the cash in (0, 1) or a whole number "
                    "of units >= 1"
                )
        for name, price in (("limit", limit), ("stop", stop), ("sl", sl), ("tp", tp)):
            if price is not None and not (
                isinstance(price, (int, float)) and not isinstance(price, bool)
                and math.isfinite(price) and price > 0
            ):
                raise ValueError(f"{name}={price!r}: a price must be a finite number > 0")
        entry = limit or stop or self._close_price
        if target > 0 and not ((sl or -math.inf) < entry < (tp or math.inf)):
            raise ValueError(
                f"a long order needs sl < entry < tp: got sl={sl}, entry={entry}, tp={tp} "
                "(entry: the limit, else the stop, else this bar's close)"
            )
        if target < 0 and not ((tp or -math.inf) < entry < (sl or math.inf)):
            raise ValueError(
                f"a short order needs tp < entry < sl: got tp={tp}, entry={entry}, sl={sl} "
                "(entry: the limit, else the stop, else this bar's close)"
            )
        self._order: _Placed | None = (
            target,
            size,
            None if limit is None else float(limit),
            None if stop is None else float(stop),
            None if sl is None else float(sl),
            None if tp is None else float(tp),
        )

    def _next(self, bar: Bar, account: Account) -> _Placed | None:
        """Runs `on_bar` and returns the order it placed (the pipeline's side of it)."""
        self._order = None
        self._close_price = bar.close
        self.on_bar(bar, account)
        order, self._order = self._order, None
        return order

    @classmethod
    def _ticks_with_bars(cls) -> bool:
        """Whether the class's `on_ticks` takes a `bars` argument."""
        return "bars" in inspect.signature(cls.on_ticks).parameters

    @classmethod
    def _per_bar(cls) -> bool:
        """Whether the class defines `on_bar` (else `on_ticks`)."""
        return cls.on_bar is not Strategy.on_bar

    def on_ticks(
        self, start: int, prices: list[float], timestamps: list[int]
    ) -> Iterable[tuple[int, int]] | None:
        """Handles ticks `start .. start + len(prices)` of the series (`timestamps` in ns)
        and returns the orders to place, in tick order: `(tick index, target)`, the target
        the direction wanted after that tick's close, 1 (long), -1 (short) or 0 (flat). The
        account decides how many units that is (`size`); a target equal to the position
        held trades nothing. A subclass whose `on_ticks` declares a `bars` parameter
        (`bars: Bars | None = None`) is also given the batch's bars as columns (`Bars`)."""
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
    details: bool = False,
) -> Any:
    """Backtests `strategy` once per element of `grid` (each the `args` of `on_start` and
    `warmup`), one virtual-time bus per point, with the account settings of `sweep`. Rows in
    grid order: index, args, seed, status, `STAT_COLUMNS` (None when the run failed), ticks.
    Python code runs under the GIL, so points run one at a time however many workers there
    are. An exception `warmup` raises propagates, before anything runs, with a note naming the
    grid point.

    `details=True` adds to each row the run's `equity_curve`, its equity at every mark (a
    list of `{"time": ns, "equity": e}`, backtesting.py's `stats._equity_curve`), and its
    `trade_list`, its closed trades (a list of dicts with the columns `TRADE_COLUMNS`, backtesting.py's
    `stats._trades`); with `output="pandas"` each is a DataFrame indexed by time.
    A position still open at the end is not a trade (the row's `position` says it)."""
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise TypeError(f"strategy must be a subclass of mycelium.backtest.Strategy, got {strategy!r}")
    per_bar = strategy.on_bar is not Strategy.on_bar
    per_batch = strategy.on_ticks is not Strategy.on_ticks
    if per_bar == per_batch:
        raise TypeError(
            f"{strategy.__name__} must define on_bar (called at every bar with the account) "
            "or on_ticks (called per batch of ticks), "
            + ("not both" if per_bar else "and defines neither")
        )
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
            details,
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

        for row in rows:
            if row.get("equity_curve") is not None:
                row["equity_curve"] = _frame(pandas, row["equity_curve"], ("time", "equity"))
                row["trade_list"] = _frame(pandas, row["trade_list"], TRADE_COLUMNS)
        return pandas.DataFrame(rows)
    if output == "arrow":
        import pyarrow

        return pyarrow.Table.from_pylist(rows)
    raise ValueError(f"output must be rows, pandas or arrow; got {output!r}")


def _frame(pandas: Any, rows: list[dict[str, Any]], columns: Sequence[str]) -> Any:
    """`rows` as a DataFrame with `columns`, its times as UTC datetimes (`time` the index)."""
    frame = pandas.DataFrame(rows, columns=list(columns))
    for c in ("time", "entry_time", "exit_time"):
        if c in frame.columns:
            frame[c] = pandas.to_datetime(frame[c], unit="ns", utc=True)
    return frame.set_index("time") if "time" in frame.columns else frame

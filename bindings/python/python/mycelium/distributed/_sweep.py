"""The client side: the grid, cut into shards, run on an engine and merged in grid order."""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any, Callable, Iterable, Sequence

from .. import _native
from .._native import MarketData, ShardError
from ..backtest import Strategy
from ._dask import _on_dask
from ._errors import DistributedError
from ._progress import Progress, _Tracker
from ._ray import _on_ray, _ray_slots
from ._result import SweepResult
from ._shard import _SameData, _shard_task


def grid(fast: Iterable[int], slow: Iterable[int], bands: Iterable[int] = (0,)) -> list[tuple[int, int, int]]:
    """Every (fast, slow, band_bps) combination, in the backtest's order (fast, then slow,
    then band). Points with fast >= slow stay in (they fail as rows); filter them out if you
    do not want them."""
    return [(f, s, b) for f in fast for s in slow for b in bands]


def builtin_grid(name: str) -> list[tuple[int, int, int]]:
    """The backtest's built-in grids: "default" (1,000 points) or "small" (18)."""
    return _native.builtin_grid(name)


def sweep(
    grid: Sequence[tuple[int, int, int]],
    *,
    client: Any = None,
    data: MarketData | str | os.PathLike[str] | None = None,
    ticks: int = 100_000,
    seed: int = 42,
    epoch_unit: str | None = None,
    read_on_workers: bool = False,
    shard_size: int | None = None,
    workers: int | None = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    crash_at: int | None = None,
    retries: int = 2,
    progress: Callable[[Progress], None] | None = None,
) -> SweepResult:
    """Runs the reference crossover backtest over `grid` ((fast, slow, band_bps) tuples, see
    `grid()`), split into shards of `shard_size` points (default: four shards per worker
    thread of the cluster), on `client`: a `dask.distributed.Client`, the string "ray" (Ray,
    already `ray.init`-ed), or None to run in this process. Rows and CSV are those of one
    process running the whole grid with the same seed, data and settings.

    `data`: a `MarketData`, a CSV file (read on the client and shared, or by each worker
    with `read_on_workers=True`; what the loader noticed is given as a `UserWarning` each),
    or None for `ticks` synthetic ticks from `seed`. The
    account settings are those of `mycelium.sweep`; `workers` is the threads of one shard
    (default: the worker's cores per task slot); `crash_at` injects a fault as the backtest's
    `--crash-at`. Raises `ValueError` for a bad setting and `ShardError` for an empty grid,
    before anything is submitted."""
    points = [_point(p) for p in grid]
    settings = dict(
        workers=workers,
        batch=batch,
        mark_every=mark_every,
        cash=cash,
        size=size,
        commission_bps=commission_bps,
        commission_per_trade=commission_per_trade,
        fill=fill,
        risk_limit=risk_limit,
        crash_at=crash_at,
    )
    return _run(points, settings, client, data, ticks, seed, epoch_unit, read_on_workers,
                shard_size, retries, progress, csv=True)


def sweep_strategy(
    strategy: type[Strategy],
    grid: Sequence[Any],
    *,
    client: Any = None,
    data: MarketData | str | os.PathLike[str] | None = None,
    ticks: int = 100_000,
    seed: int = 42,
    epoch_unit: str | None = None,
    read_on_workers: bool = False,
    shard_size: int | None = None,
    workers: int | None = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    retries: int = 2,
    progress: Callable[[Progress], None] | None = None,
) -> SweepResult:
    """`mycelium.backtest.run_strategy` on a cluster: backtests the Python `strategy` class
    once per element of `grid` (its `on_start` args), sharded as `sweep` shards. The class
    must be importable on the workers, or defined in `__main__` (cloudpickle then ships it by
    value). Rows as `run_strategy`'s, in grid order; the result has no CSV."""
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise TypeError(f"strategy must be a subclass of mycelium.backtest.Strategy, got {strategy!r}")
    settings = dict(
        strategy=strategy,
        workers=workers,
        batch=batch,
        mark_every=mark_every,
        cash=cash,
        size=size,
        commission_bps=commission_bps,
        commission_per_trade=commission_per_trade,
        fill=fill,
        risk_limit=risk_limit,
    )
    return _run(list(grid), settings, client, data, ticks, seed, epoch_unit, read_on_workers,
                shard_size, retries, progress, csv=False)


def _point(p: Any) -> tuple[int, int, int]:
    try:
        fast, slow, band = p
        return (int(fast), int(slow), int(band))
    except (TypeError, ValueError):
        raise TypeError(f"a grid point is a (fast, slow, band_bps) tuple of ints, got {p!r}") from None


def _run(
    points: list[Any],
    settings: dict[str, Any],
    client: Any,
    data: Any,
    ticks: int,
    seed: int,
    epoch_unit: str | None,
    read_on_workers: bool,
    shard_size: int | None,
    retries: int,
    progress: Callable[[Progress], None] | None,
    csv: bool,
) -> SweepResult:
    if not points:
        raise ShardError("the grid is empty: give at least one grid point")
    if shard_size is not None and shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    settings = dict(settings, seed=seed)
    # Settings that cannot work fail here, on one point, before anything is shipped.
    _check_settings(settings)
    if data is None:
        data = MarketData.synthetic(seed, ticks)
    elif not isinstance(data, MarketData):
        if read_on_workers:
            data = ("file", os.fspath(data), epoch_unit)
        else:
            data = MarketData.load(os.fspath(data), epoch_unit)
            for w in data.warnings:
                warnings.warn(w, UserWarning, stacklevel=3)
    started = time.monotonic()
    if client is None:
        engine, slots = "this process", 1
    elif isinstance(client, str) and client == "ray":
        engine, slots = "ray", _ray_slots()
    elif hasattr(client, "scatter") and hasattr(client, "submit"):
        engine, slots = "dask", max(1, sum(client.nthreads().values()))
    else:
        raise TypeError(f"client must be a dask.distributed.Client, \"ray\" or None, got {client!r}")
    size = shard_size or max(1, math.ceil(len(points) / (4 * slots)))
    shards = [list(range(a, min(a + size, len(points)))) for a in range(0, len(points), size)]
    tracker = _Tracker(len(shards), len(points), started, progress)
    same = _SameData(data)
    if engine == "dask":
        parts = _on_dask(client, data, points, shards, settings, retries, tracker, same)
    elif engine == "ray":
        parts = _on_ray(data, points, shards, settings, retries, tracker, same)
    else:
        parts = {}
        for k, shard in enumerate(shards):
            parts[k] = same.part(_shard_task(data, points, shard, settings))
            tracker.done(parts[k])
    for w in same.warnings:
        warnings.warn(f"{w} (as read by {same.first[1] if same.first else 'a worker'})", UserWarning,
                      stacklevel=3)
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for k in range(len(shards)):
        part = parts.get(k)
        if part is None or [row["index"] for row, _ in part] != shards[k]:
            raise DistributedError(f"shard {k} (grid indices {shards[k][0]}..{shards[k][-1]}) came back incomplete")
        for row, line in part:
            rows.append(row)
            if line is not None:
                lines.append(line)
    return SweepResult(rows, lines if csv else None, len(shards), time.monotonic() - started, engine)


def _check_settings(settings: dict[str, Any]) -> None:
    probe = dict(settings)
    strategy = probe.pop("strategy", None)
    probe.pop("workers", None)
    crash_at = probe.pop("crash_at", None)
    del strategy  # a Python strategy's account settings are the same as the crossover's
    # A crossover point on two ticks returns at once: running it checks the settings.
    tiny = MarketData.synthetic(0, 2)
    _native.run_shard(tiny, [(1, 2, 0)], [0], workers=1, crash_at=crash_at, **probe)

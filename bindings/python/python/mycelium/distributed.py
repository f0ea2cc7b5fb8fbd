"""Sweeps beyond one machine: the backtest's sweep split into shards that run on a Dask
cluster (the default) or on Ray, with results identical, row for row and byte for byte, to
one process running the whole grid.

    from dask.distributed import Client
    from mycelium import distributed

    grid = distributed.grid([5, 10, 20], [50, 100, 200], [0, 10])
    with Client("tcp://scheduler:8786") as client:
        result = distributed.sweep(grid, client=client, ticks=200_000, seed=42)
    result.write_csv("results.csv")     # the bytes `cargo run --example backtest` writes
    best = max(result.ok_rows(), key=lambda r: r["sharpe"])

A grid point's result depends only on its parameters, the data, the run settings and its
bus seed, which is derived from the sweep seed and the point's index in the grid: a shard
gives the same rows wherever it runs. The grid is cut into shards of contiguous indices; each
shard is one task of the engine, which calls into the Rust extension (the GIL released, the
worker's cores busy) and returns its rows; the client merges them in grid order.

- Market data is shared by reference: the series is loaded once (on the client), scattered
  to the Dask workers (`Client.scatter(broadcast=True)`) or put in Ray's object store, and
  every shard on a worker uses that copy. With `read_on_workers=True` each worker process
  reads the file itself, once, from a path every worker can read (shared storage); each
  shard reports the SHA-256 of the bytes its worker read, and a sweep whose workers read
  different contents (a file changed during the sweep, or different on another host) fails
  with `DistributedError` naming both workers.
- Progress: `progress(Progress)` is called as each shard completes.
- A shard whose worker dies is run again by the engine (Dask reschedules the tasks of a lost
  worker; Ray's `max_retries`). A shard that raises is run `retries` more times: on Dask for
  any exception, on Ray only for a data file a worker could not find (`DataFileMissing`;
  Ray retries just the exception types it is given, and the others are deterministic: a
  bad argument raises again). A grid point that
  fails (a bad window, a strategy that keeps raising) is a row whose status says why, as in
  a local sweep, and the other points complete.

Run `python -m mycelium.distributed --help` for the command line, which writes the
backtest's `results.csv` from a Dask scheduler (`--scheduler ADDRESS`) or a Ray cluster
(`--ray`).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from . import _native
from ._native import MarketData, ShardError
from .backtest import Strategy

__all__ = [
    "DataFileMissing",
    "DistributedError",
    "MarketData",
    "Progress",
    "ShardError",
    "SweepResult",
    "builtin_grid",
    "grid",
    "main",
    "run_shard",
    "sweep",
    "sweep_strategy",
]

#: The header of the backtest's results.csv.
CSV_HEADER: str = _native.csv_header()


class DistributedError(RuntimeError):
    """A distributed sweep could not run: no engine, an engine that failed, shards lost."""


class DataFileMissing(FileNotFoundError):
    """A worker cannot read the data file it was told to read (`read_on_workers=True`): put
    the file at the same path on every worker (shared storage), or let the client read it
    and share it (`read_on_workers=False`)."""


@dataclass(frozen=True)
class Progress:
    """Where a distributed sweep stands, given as each shard completes."""

    #: Shards completed, of `shards`.
    shards_done: int
    shards: int
    #: Grid points completed, of `points`.
    points_done: int
    points: int
    #: Points completed whose status is not "ok".
    failed: int
    #: Seconds since the sweep started.
    elapsed: float


class SweepResult:
    """The rows of a sweep, in grid order, with the shards they came from.

    `rows` are the dicts `mycelium.sweep` returns (for `sweep_strategy`, those of
    `mycelium.backtest.run_strategy`). `csv` is the backtest's results.csv as text (None
    for a Python strategy, whose rows have no such file)."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        lines: list[str] | None,
        shards: int,
        elapsed: float,
        engine: str,
    ) -> None:
        self.rows = rows
        self.csv = None if lines is None else CSV_HEADER + "\n" + "".join(lines)
        self.shards = shards
        self.elapsed = elapsed
        self.engine = engine

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"<SweepResult {len(self.rows)} points, {len(self.failures())} failed, "
            f"{self.shards} shard(s) on {self.engine} in {self.elapsed:.2f} s>"
        )

    def ok_rows(self) -> list[dict[str, Any]]:
        """The rows of the points that completed."""
        return [r for r in self.rows if r["status"] == "ok"]

    def failures(self) -> list[dict[str, Any]]:
        """The rows of the points that failed; their status says why."""
        return [r for r in self.rows if r["status"] != "ok"]

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Writes results.csv: the bytes the backtest example writes for the same sweep."""
        if self.csv is None:
            raise ValueError("a Python strategy's sweep has no results.csv: use its rows")
        with open(path, "wb") as out:
            out.write(self.csv.encode())


def grid(fast: Iterable[int], slow: Iterable[int], bands: Iterable[int] = (0,)) -> list[tuple[int, int, int]]:
    """Every (fast, slow, band_bps) combination, in the backtest's order (fast, then slow,
    then band). Points with fast >= slow stay in (they fail as rows); filter them out if you
    do not want them."""
    return [(f, s, b) for f in fast for s in slow for b in bands]


def builtin_grid(name: str) -> list[tuple[int, int, int]]:
    """The backtest's built-in grids: "default" (1,000 points) or "small" (18)."""
    return _native.builtin_grid(name)


# ---------------------------------------------------------------------------------------
# The task: one shard, on whatever process runs it.

_loaded_lock = threading.Lock()
_loaded: dict[tuple[Any, ...], tuple[MarketData, str]] = {}


def _data_on_worker(data: Any) -> MarketData:
    """The market data of a task: the shared object itself, or, for `("file", path,
    epoch_unit)`, the file read once per process (again only if it changed)."""
    return _data_and_digest(data)[0]


def _file_digest(path: str) -> str:
    """The SHA-256 of a data file's bytes (hex), to tell whether workers read the same."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _data_and_digest(data: Any) -> tuple[MarketData, str | None]:
    """As `_data_on_worker`, with the digest of the file read (None for shared data)."""
    if isinstance(data, MarketData):
        return data, None
    _, path, epoch_unit = data
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataFileMissing(
            f"worker {_where()} cannot read the data file {path}: {e.strerror or e}; put it at "
            "that path on every worker (shared storage), or let the client read and share it "
            "(read_on_workers=False)"
        ) from None
    key = (os.fspath(path), epoch_unit, st.st_mtime_ns, st.st_size)
    with _loaded_lock:
        found = _loaded.get(key)
        if found is None:
            try:
                found = (MarketData.load(os.fspath(path), epoch_unit), _file_digest(os.fspath(path)))
            except FileNotFoundError as e:
                raise DataFileMissing(f"worker {_where()}: {e}") from None
            # The digest is of a second read: a file replaced or rewritten since the stat
            # above may have been loaded in one version and digested in another.
            try:
                after = os.stat(path)
            except OSError:
                after = None
            if after is None or (after.st_mtime_ns, after.st_size) != (st.st_mtime_ns, st.st_size):
                raise DistributedError(
                    f"the data file {path} changed while worker {_where()} read it: leave it "
                    "unchanged during the sweep, or let the client read and share it "
                    "(read_on_workers=False)"
                )
            _loaded.clear()  # one file at a time per process
            _loaded[key] = found
        return found


def _where() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except Exception:  # not on a Dask worker
        import socket

        return f"{socket.gethostname()} (pid {os.getpid()})"


def _threads(workers: int | None) -> int | None:
    """Threads for a shard: as asked, or on a Dask worker the cores left per task slot."""
    if workers is not None:
        return workers
    try:
        from distributed import get_worker

        slots = get_worker().state.nthreads
    except Exception:
        return None
    return max(1, (os.cpu_count() or 1) // max(1, slots))


def run_shard(
    data: Any, points: Sequence[Any], indices: Sequence[int], settings: dict[str, Any]
) -> list[tuple[dict[str, Any], str | None]]:
    """Runs one shard where it is called: the grid points `indices` of `points`. Returns
    `(row, csv_line)` per point in the shard's order (the line None for a Python strategy).
    This is the engines' task; call it yourself to run a shard by hand."""
    data = _data_on_worker(data)
    settings = dict(settings)
    strategy = settings.pop("strategy", None)
    settings["workers"] = _threads(settings.get("workers"))
    if strategy is None:
        return [
            (row, line)
            for row, line in _native.run_shard(data, list(points), list(indices), **settings)
        ]
    settings.pop("crash_at", None)
    rows = _native.run_strategy_shard(strategy, data, list(points), list(indices), **settings)
    return [(row, None) for row in rows]


def _shard_task(
    data: Any, points: Sequence[Any], indices: Sequence[int], settings: dict[str, Any]
) -> tuple[str | None, str, list[tuple[dict[str, Any], str | None]], list[str]]:
    """The engines' task: `run_shard`, with the digest of the data file the worker read (None
    for shared data) and where it ran, so the client can check every shard read the same,
    and what the loader noticed in that file (rows skipped, ...), for the client to warn."""
    loaded, digest = _data_and_digest(data)
    if digest is None:
        return None, "", run_shard(data, points, indices, settings), []
    return digest, _where(), run_shard(data, points, indices, settings), list(loaded.warnings)


class _SameData:
    """Checks that every shard of a sweep whose workers read the data file themselves read the
    same bytes: a file that changed during the sweep, or differs between hosts, would give
    shards different data and the results no warning. Keeps the loader's warnings of the
    first shard that read the file (the same for every shard that read the same bytes)."""

    def __init__(self, data: Any):
        self.path = data[1] if isinstance(data, tuple) else None
        self.first: tuple[str, str] | None = None
        self.warnings: list[str] = []

    def part(self, result: tuple[Any, ...]) -> Any:
        digest, where, part, *rest = result
        if digest is not None:
            if self.first is None:
                self.first = (digest, where)
                self.warnings = list(rest[0]) if rest else []
            elif digest != self.first[0]:
                raise DistributedError(
                    f"the workers read different contents of the data file {self.path}: "
                    f"sha256 {self.first[0][:16]}... on {self.first[1]}, {digest[:16]}... on "
                    f"{where}; put the same file on every worker and leave it unchanged during "
                    "the sweep, or let the client read and share it (read_on_workers=False)"
                )
        return part


# ---------------------------------------------------------------------------------------
# The client side.


def sweep(
    grid: Sequence[tuple[int, int, int]],
    *,
    client: Any = None,
    data: MarketData | str | os.PathLike[str] | None = None,
    ticks: int = 100_000,
    seed: int = 7,
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
    seed: int = 7,
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


class _Tracker:
    def __init__(self, shards: int, points: int, started: float, callback: Callable[[Progress], None] | None):
        self.shards, self.points, self.started, self.callback = shards, points, started, callback
        self.shards_done = self.points_done = self.failed = 0

    def done(self, part: list[tuple[dict[str, Any], str | None]]) -> None:
        self.shards_done += 1
        self.points_done += len(part)
        self.failed += sum(1 for row, _ in part if row["status"] != "ok")
        if self.callback is not None:
            self.callback(Progress(self.shards_done, self.shards, self.points_done, self.points,
                                   self.failed, time.monotonic() - self.started))


def _described(e: BaseException) -> str:
    """The exception's type and message, then its notes (a raising `warmup`'s names the grid
    point), which `str(e)` leaves out."""
    notes = "".join(f"; {note}" for note in getattr(e, "__notes__", ()))
    return f"{type(e).__name__}: {e}{notes}"


def _unwrap(e: BaseException) -> BaseException:
    """The exception a shard raised, out of the engine's wrapper (Ray's RayTaskError)."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def _on_dask(client: Any, data: Any, points: list[Any], shards: list[list[int]],
             settings: dict[str, Any], retries: int, tracker: _Tracker,
             same: _SameData) -> dict[int, Any]:
    from distributed import as_completed

    # Shared by reference: one copy per worker, and every shard there uses it.
    shared_data, shared_points = client.scatter([data, points], broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    futures = {
        client.submit(_shard_task, shared_data, shared_points, shard, settings, retries=retries,
                      pure=False, key=f"mycelium-shard-{token}-{k}"): k
        for k, shard in enumerate(shards)
    }
    parts: dict[int, Any] = {}
    try:
        for future in as_completed(list(futures)):
            k = futures[future]
            try:
                result = future.result()
            except (ShardError, DataFileMissing, ValueError, TypeError):
                raise
            except Exception as e:
                raise DistributedError(f"shard {k} failed on the Dask cluster: {_described(e)}") from e
            parts[k] = same.part(result)
            tracker.done(parts[k])
    finally:
        client.cancel(list(futures))
        client.cancel([shared_data, shared_points])
    return parts


def _ray_slots() -> int:
    import ray

    if not ray.is_initialized():
        raise DistributedError("Ray is not initialised: call ray.init(...) first (or pass a Dask client)")
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _on_ray(data: Any, points: list[Any], shards: list[list[int]],
            settings: dict[str, Any], retries: int, tracker: _Tracker,
            same: _SameData) -> dict[int, Any]:
    import ray

    threads = settings.get("workers") or 1
    task = ray.remote(_shard_task).options(
        num_cpus=threads,
        max_retries=retries,
        retry_exceptions=[DataFileMissing],
    )
    # Shared by reference: one copy in the object store, read by every shard.
    data_ref, points_ref = ray.put(data), ray.put(points)
    settings = dict(settings, workers=threads)
    pending = {task.remote(data_ref, points_ref, shard, settings): k for k, shard in enumerate(shards)}
    parts: dict[int, Any] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                k = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:
                    cause = _unwrap(e)
                    if isinstance(cause, (ShardError, DataFileMissing, ValueError, TypeError)):
                        raise cause from None
                    raise DistributedError(f"shard {k} failed on Ray: {type(e).__name__}: {e}") from e
                parts[k] = same.part(result)
                tracker.done(parts[k])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return parts


# ---------------------------------------------------------------------------------------
# The command line: the backtest example's options, on a cluster.

_USAGE = """\
python -m mycelium.distributed (--scheduler ADDRESS | --ray [ADDRESS]) [--out DIR] [OPTIONS]

Runs the backtest example's sweep (`cargo run --release --example backtest -- --help` for
the options) on a running Dask scheduler or Ray cluster and writes DIR/results.csv, the
bytes the example writes with the same options. Only results.csv is written.

CLUSTER:
    --scheduler ADDRESS  a Dask scheduler, e.g. tcp://10.0.0.5:8786
    --ray [ADDRESS]      a Ray cluster instead (default address: auto)
    --shard-size N       grid points per task (default: 4 tasks per worker thread)
    --retries N          runs again of a shard that raised (default 2; on Ray only for a
                         data file a worker could not find; a lost worker's shards are
                         always rescheduled)
    --read-on-workers    each worker reads --data itself (a path every worker can read)
                         instead of the client reading it and sharing it
    --workers N          threads per shard (default: the worker's cores per task slot)
    --top N, --metric M  accepted for the example's sake; results.csv does not depend on them
"""


class _UsageError(Exception):
    pass


def _whole(name: str, v: str, lo: int) -> int:
    t = v.replace("_", "")
    if not re.fullmatch(r"\+?[0-9]+", t):
        raise _UsageError(f"{name} {v}: expected a whole number")
    n = int(t)
    if n < lo:
        raise _UsageError(f"{name} {v}: must be at least {lo}")
    return n


def _number(name: str, v: str) -> float:
    try:
        x = float(v.replace("_", ""))
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x >= 0.0):
        raise _UsageError(f"{name} {v}: expected a number >= 0")
    return x


def _u32(s: str) -> int | None:
    s = s.strip()
    if not re.fullmatch(r"\+?[0-9]+", s):
        return None
    n = int(s)
    return n if n < 2**32 else None


def _range(name: str, v: str, lo: int) -> list[int]:
    def one(s: str) -> int:
        n = _u32(s)
        if n is None:
            raise _UsageError(f"{name} {v}: `{s}` is not a whole number (A:B:S, A,B,C or A)")
        if n < lo:
            raise _UsageError(f"{name} {v}: {n} is below the minimum {lo}")
        return n

    if ":" in v:
        parts = v.split(":")
        if len(parts) == 2:
            a, b, s = one(parts[0]), one(parts[1]), 1
        elif len(parts) == 3:
            a, b = one(parts[0]), one(parts[1])
            s = _u32(parts[2])
            if s is None:
                raise _UsageError(f"{name} {v}: bad step")
        else:
            raise _UsageError(f"{name} {v}: expected A:B:S")
        if s == 0 or a > b:
            raise _UsageError(f"{name} {v}: need a step >= 1 and a start <= the end")
        out = list(range(a, b + 1, s))
    else:
        out = [one(x) for x in v.split(",")]
    if not out or len(out) > 100_000:
        raise _UsageError(f"{name} {v}: gives {len(out)} values")
    return out


def _size(v: str) -> str | float | int:
    if v == "all":
        return "all"
    x = _number("--size", v)
    if 0.0 < x < 1.0:
        return x
    if x >= 1.0 and x == int(x) and x < 1e15:
        return int(x)
    raise _UsageError(f"--size {v}: expected `all`, a fraction in (0, 1) or a whole number of units")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # an exit code of 2 from main(), not SystemExit
        raise _UsageError(f"{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mycelium.distributed", usage=_USAGE, add_help=True, allow_abbrev=False)
    p.add_argument("--scheduler")
    p.add_argument("--ray", nargs="?", const="auto")
    p.add_argument("--shard-size")
    p.add_argument("--retries", default="2")
    p.add_argument("--read-on-workers", action="store_true")
    for flag in ("--data", "--epoch-unit", "--ticks", "--grid", "--fast", "--slow", "--band",
                 "--workers", "--seed", "--out", "--top", "--batch", "--bar", "--cash", "--size",
                 "--commission-bps", "--commission-per-trade", "--commission", "--fill",
                 "--risk-limit", "--metric", "--crash-at"):
        p.add_argument(flag)
    p.add_argument("--no-progress", action="store_true")
    return p


def _options(argv: Sequence[str]) -> dict[str, Any]:
    """The backtest example's options, checked as it checks them."""
    a = _parser().parse_args(argv)
    if a.scheduler is None and a.ray is None:
        raise _UsageError("give --scheduler ADDRESS (a Dask scheduler) or --ray [ADDRESS]")
    if a.scheduler is not None and a.ray is not None:
        raise _UsageError("give --scheduler or --ray, not both")
    if a.commission is not None:
        raise _UsageError("--commission is ambiguous: give --commission-bps (a share of the notional, in "
                          "basis points) or --commission-per-trade (cash per fill)")
    o: dict[str, Any] = {
        "scheduler": a.scheduler,
        "ray": a.ray,
        "data": a.data,
        "epoch_unit": a.epoch_unit,
        "ticks": _whole("--ticks", a.ticks, 2) if a.ticks else 1_000_000,
        "seed": _whole("--seed", a.seed, 0) if a.seed else 42,
        "out": a.out or "results",
        "workers": _whole("--workers", a.workers, 1) if a.workers else None,
        "batch": _whole("--batch", a.batch, 1) if a.batch else 4096,
        "mark_every": _whole("--bar", a.bar, 1) if a.bar else 1,
        "cash": _number("--cash", a.cash) if a.cash else 10_000.0,
        "size": _size(a.size) if a.size else "all",
        "commission_bps": _number("--commission-bps", a.commission_bps) if a.commission_bps else 0.0,
        "commission_per_trade": (_number("--commission-per-trade", a.commission_per_trade)
                                 if a.commission_per_trade else 0.0),
        "fill": a.fill or "next-open",
        "risk_limit": None,
        "crash_at": _whole("--crash-at", a.crash_at, 0) if a.crash_at else None,
        "shard_size": _whole("--shard-size", a.shard_size, 1) if a.shard_size else None,
        "retries": _whole("--retries", a.retries, 0),
        "read_on_workers": a.read_on_workers,
        "progress": not a.no_progress,
    }
    if a.epoch_unit is not None and a.epoch_unit not in ("s", "ms", "us", "ns"):
        raise _UsageError(f"--epoch-unit {a.epoch_unit}: expected s, ms, us or ns")
    if a.cash is not None and o["cash"] <= 0.0:
        raise _UsageError("--cash must be greater than 0")
    if o["fill"] not in ("next-open", "next-close", "same-close"):
        raise _UsageError(f"--fill {o['fill']}: expected next-open, next-close or same-close")
    if a.risk_limit is not None:
        v = _number("--risk-limit", a.risk_limit)
        if not (0.0 < v <= 1.0):
            raise _UsageError(f"--risk-limit {v}: give a fraction in (0, 1], e.g. 0.2 for 20%")
        o["risk_limit"] = v
    metrics = ("sharpe", "sortino", "return", "drawdown", "win-rate", "exposure", "trades")
    if a.metric is not None and a.metric not in metrics:
        raise _UsageError(f"--metric {a.metric}: expected one of {', '.join(metrics)}")
    if a.top is not None:
        _whole("--top", a.top, 0)
    fast = _range("--fast", a.fast, 1) if a.fast else None
    slow = _range("--slow", a.slow, 2) if a.slow else None
    band = _range("--band", a.band, 0) if a.band else None
    if (fast is None) != (slow is None):
        raise _UsageError("give both --fast and --slow (and optionally --band)")
    if band is not None and fast is None:
        raise _UsageError("--band needs --fast and --slow")
    o["fast"], o["slow"], o["band"], o["grid"] = fast, slow, band, a.grid or "default"
    return o


def _grid_of(o: dict[str, Any]) -> list[tuple[int, int, int]]:
    """The grid as the backtest example builds it."""
    if o["fast"] is not None:
        return [p for p in grid(o["fast"], o["slow"], o["band"] or [0]) if p[0] < p[1]]
    name = o["grid"]
    if name in ("small", "default"):
        return builtin_grid(name)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise RuntimeError(f"--grid {name}: not `default` or `small`, and cannot read it as a file: {e}") from None
    out: list[tuple[int, int, int]] = []
    for i, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [x.strip() for x in line.split(",")]
        nums = [_u32(x) for x in fields]
        if len(fields) in (2, 3) and all(n is not None for n in nums):
            fast, slow = nums[0], nums[1]
            band = nums[2] if len(nums) == 3 else 0
            if fast == 0 or fast >= slow:
                raise RuntimeError(f"{name}:{i + 1}: invalid windows fast={fast} slow={slow}: need 1 <= fast < slow")
            out.append((fast, slow, band))
        elif not out and i == 0:
            continue  # a header
        else:
            raise RuntimeError(f"{name}:{i + 1}: expected `fast,slow` or `fast,slow,band_bps` (whole numbers)")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see `python -m mycelium.distributed --help`). Returns the exit
    code: 0 when at least one point completed, 1 for an error or when every point failed,
    2 for bad options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        o = _options(argv)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return _main(o)
    except (RuntimeError, ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _main(o: dict[str, Any]) -> int:
    points = _grid_of(o)
    if not points:
        raise RuntimeError("the grid is empty: every point has fast >= slow")
    # Before the sweep, not after: a folder that cannot be made would throw its results away.
    try:
        os.makedirs(o["out"], exist_ok=True)
    except OSError as e:
        raise RuntimeError(f"cannot create the output folder {o['out']}: {e.strerror or e}") from None
    if o["data"] is not None and not o["read_on_workers"]:
        data: Any = MarketData.load(o["data"], o["epoch_unit"])
        for w in data.warnings:
            print(f"warning: {w}")
        print(f"data: {o['data']}, {len(data):,} rows")
    elif o["data"] is not None:
        data = o["data"]
        print(f"data: {o['data']}, read by each worker")
    else:
        data = MarketData.synthetic(o["seed"], o["ticks"])
        print(f"data: synthetic, {o['ticks']:,} ticks (seed {o['seed']})")

    def report(p: Progress) -> None:
        if o["progress"]:
            print(f"  {p.shards_done}/{p.shards} shards, {p.points_done}/{p.points} points, "
                  f"{p.failed} failed, {p.elapsed:.1f} s", file=sys.stderr, flush=True)

    kwargs = dict(
        data=data, seed=o["seed"], epoch_unit=o["epoch_unit"], read_on_workers=o["read_on_workers"],
        shard_size=o["shard_size"], workers=o["workers"], batch=o["batch"], mark_every=o["mark_every"],
        cash=o["cash"], size=o["size"], commission_bps=o["commission_bps"],
        commission_per_trade=o["commission_per_trade"], fill=o["fill"], risk_limit=o["risk_limit"],
        crash_at=o["crash_at"], retries=o["retries"], progress=report,
    )
    if o["scheduler"] is not None:
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError("Dask is not installed: pip install 'dask[distributed]'") from None
        with Client(o["scheduler"], timeout="30s") as client:
            n = len(client.nthreads())
            print(f"grid: {len(points)} points on the Dask scheduler {o['scheduler']} ({n} worker(s))")
            result = sweep(points, client=client, **kwargs)
    else:
        try:
            import ray
        except ImportError:
            raise RuntimeError("Ray is not installed: pip install 'mycelium-actors[ray]'") from None
        # In a program that has already joined a Ray cluster, use that one.
        joined = not ray.is_initialized()
        if joined:
            ray.init(address=o["ray"], include_dashboard=False, log_to_driver=False)
        try:
            print(f"grid: {len(points)} points on the Ray cluster at {o['ray']}")
            result = sweep(points, client="ray", **kwargs)
        finally:
            if joined:
                ray.shutdown()
    failures = result.failures()
    for row in failures[:10]:
        print(f"failed: fast={row['fast']} slow={row['slow']} band={row['band_bps']}bp: {row['status']}")
    if len(failures) > 10:
        print(f"... and {len(failures) - 10} more failed point(s)")
    path = os.path.join(o["out"], "results.csv")
    result.write_csv(path)
    print(f"results: {path} ({len(result)} rows, {result.shards} shards, {result.elapsed:.2f} s)")
    return 0 if result.ok_rows() else 1


if __name__ == "__main__":
    # Run as `python -m mycelium.distributed`: use the package's module (not this __main__
    # copy) so that the tasks the engines ship name `mycelium.distributed.run_shard`.
    from mycelium.distributed import main as _package_main

    sys.exit(_package_main())

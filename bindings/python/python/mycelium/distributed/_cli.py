"""The command line: the backtest example's options, on a cluster."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from typing import Any, Sequence

from .._native import MarketData
from ._progress import Progress
from ._sweep import builtin_grid, grid, sweep


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
            step = _u32(parts[2])
            if step is None:
                raise _UsageError(f"{name} {v}: bad step")
            s = step
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
        read = [_u32(x) for x in fields]
        nums = [n for n in read if n is not None]
        if len(fields) in (2, 3) and len(nums) == len(read):
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

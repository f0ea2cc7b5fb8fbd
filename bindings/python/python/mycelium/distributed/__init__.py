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

from .._native import MarketData, ShardError
from ._cli import main
from ._errors import DataFileMissing, DistributedError
from ._progress import Progress
from ._result import CSV_HEADER, SweepResult
from ._shard import run_shard
from ._sweep import builtin_grid, grid, sweep, sweep_strategy

# Private helpers the tests reach as `mycelium.distributed._options` and so on, as they did
# before the module became a package. To patch one, patch it in its own module (`_shard`):
# the name here is a second binding that the code does not look up.
from ._cli import _grid_of, _options
from ._shard import _file_digest, _SameData

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

"""What the distributed sweep tests on Dask (test_distributed.py) and on Ray (test_ray.py)
share: the grid and its settings, the sweep in this process that results are compared with,
the backtest example's CSV, and the `Trend` strategy. Dask pickles a strategy class by
reference when it can, and a local cluster's workers (which inherit this process's module
path) then import this module: it has no side effects on import, unlike conftest.py, which
makes a scratch directory."""

import pathlib
import subprocess

from mycelium import distributed as dist
from mycelium.backtest import Strategy

ROOT = pathlib.Path(__file__).resolve().parents[3]

# Small and quick, with a failing point (fast >= slow) in the middle.
GRID = dist.grid([5, 20, 300], [50, 200], [0, 10])
TICKS = 20_000
SEED = 5


def local(grid=GRID, **kw):
    kw.setdefault("ticks", TICKS)
    kw.setdefault("seed", SEED)
    return dist.sweep(grid, client=None, **kw)


def cargo_csv(backtest_bin, out: pathlib.Path, *options: str) -> bytes:
    subprocess.run(
        [str(backtest_bin), "--out", str(out), "--no-progress", *options],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return (out / "results.csv").read_bytes()


class Trend(Strategy):
    """Long after `n` rising ticks in a row, short after `n` falling ones."""

    @classmethod
    def warmup(cls, args):
        return max(args["n"], 0)

    def on_start(self, args):
        if args["n"] < 1:
            raise ValueError(f"n must be at least 1, got {args['n']}")
        self.n = args["n"]
        self.up = self.down = 0
        self.last = None

    def on_ticks(self, start, prices, timestamps):
        orders = []
        for i, p in enumerate(prices):
            if self.last is not None:
                self.up = self.up + 1 if p > self.last else 0
                self.down = self.down + 1 if p < self.last else 0
                if self.up == self.n:
                    orders.append((start + i, 1))
                elif self.down == self.n:
                    orders.append((start + i, -1))
            self.last = p
        return orders


def write_ticks(path: pathlib.Path, series: dist.MarketData) -> None:
    raw = series.to_bytes()
    n = len(series)
    import struct

    ts = struct.unpack_from(f"<{n}Q", raw, 25)
    px = struct.unpack_from(f"<{n}d", raw, 25 + 8 * n)
    path.write_text("timestamp_ns,price\n" + "".join(f"{t},{p!r}\n" for t, p in zip(ts, px)))

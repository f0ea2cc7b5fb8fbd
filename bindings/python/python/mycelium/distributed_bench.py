"""Measures a distributed sweep against one process (docs/perf/distributed.md):

    python -m mycelium.distributed_bench [--grid default] [--ticks 1000000] [--no-ray]

Prints, for the same sweep: the wall time in one process, on a Dask LocalCluster of two
worker processes and on a local Ray of two CPUs (each shard one thread, so every engine has
two cores), checks that the three CSVs are identical, then the cost of a shard that does
almost nothing (one grid point on two ticks) on each engine, and the shard size that keeps
that overhead under 5% of the run. Dask's and Ray's scratch files go to a temporary
directory removed at the end (left to their defaults, they stay in `/tmp/dask-scratch-space`
and `/tmp/ray`).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from typing import Callable, TypeVar

from . import distributed as dist

_T = TypeVar("_T")


def _timed(f: Callable[[], _T]) -> tuple[_T, float]:
    started = time.perf_counter()
    out = f()
    return out, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m mycelium.distributed_bench")
    p.add_argument("--grid", default="default")
    p.add_argument("--ticks", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tiny-shards", type=int, default=200)
    p.add_argument("--no-ray", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="myc-") as scratch:
        _run(a, scratch)


def _run(a: argparse.Namespace, scratch: str) -> None:
    grid = dist.builtin_grid(a.grid)
    data = dist.MarketData.synthetic(a.seed, a.ticks)
    tiny_grid = [(1, 2, 0)] * a.tiny_shards
    tiny_data = dist.MarketData.synthetic(a.seed, 2)
    kw = dict(data=data, seed=a.seed)
    print(f"sweep: {len(grid)} points x {a.ticks} ticks; tiny shards: {a.tiny_shards} of one point on 2 ticks")

    one, t_one = _timed(lambda: dist.sweep(grid, client=None, shard_size=len(grid), workers=2, **kw))
    per_point = t_one * 2 / len(grid)
    print(f"one process, 2 threads: {t_one:.3f} s, {per_point * 1e3:.3f} ms per point per core")
    rows = [("one process (2 threads)", t_one, None)]

    import dask
    from distributed import Client, LocalCluster

    # The scheduler's and the workers' scratch space (`local_directory` reaches the workers only).
    with dask.config.set({"temporary-directory": os.path.join(scratch, "dask")}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        dist.sweep(tiny_grid[:4], client=client, data=tiny_data, shard_size=1, workers=1)  # warm up
        res, t = _timed(lambda: dist.sweep(grid, client=client, workers=1, **kw))
        assert res.csv == one.csv, "Dask's CSV differs from one process's"
        _, t_tiny = _timed(lambda: dist.sweep(tiny_grid, client=client, data=tiny_data, shard_size=1, workers=1))
        rows.append((f"Dask LocalCluster, 2 workers ({res.shards} shards)", t, t_tiny / a.tiny_shards))

    if not a.no_ray:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 _temp_dir=os.path.join(scratch, "ray"))
        try:
            dist.sweep(tiny_grid[:4], client="ray", data=tiny_data, shard_size=1, workers=1)  # warm up
            res, t = _timed(lambda: dist.sweep(grid, client="ray", workers=1, **kw))
            assert res.csv == one.csv, "Ray's CSV differs from one process's"
            _, t_tiny = _timed(lambda: dist.sweep(tiny_grid, client="ray", data=tiny_data, shard_size=1, workers=1))
            rows.append((f"Ray, num_cpus=2 ({res.shards} shards)", t, t_tiny / a.tiny_shards))
        finally:
            ray.shutdown()

    print("| engine | wall time | vs one process | wall time per tiny shard | shard size for < 5% overhead |")
    print("| --- | --- | --- | --- | --- |")
    for name, t, shard in rows:
        if shard is None:
            print(f"| {name} | {t:.3f} s | 1.00 | - | - |")
        else:
            # A shard's overhead occupies the cluster's 2 slots for `shard` of wall time each.
            size = math.ceil(20 * shard * 2 / per_point)
            print(f"| {name} | {t:.3f} s | {t / t_one:.2f} | {shard * 1e3:.2f} ms | {size} points |")
    print("results.csv identical on every engine")


if __name__ == "__main__":
    main()

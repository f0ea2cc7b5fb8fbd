"""Distributed sweeps on Ray: shards on a local Ray instance of two CPUs, a Python strategy,
errors, and the command line's `--ray`; every result compared byte for byte with one process
running the whole grid."""

import sys

import pytest

from mycelium import distributed as dist
from mycelium.backtest import run_strategy
from sweeps import GRID, SEED, TICKS, Trend, cargo_csv, write_ticks


@pytest.fixture(scope="module")
def ray_local():
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed (pip could not install it on this machine): the Ray tests are skipped")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_must_be_initialised_first(monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed: its tests are skipped")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(dist.DistributedError, match=r"Ray is not initialised: call ray.init"):
        dist.sweep(GRID, client="ray", ticks=TICKS)


def test_ray_gives_the_bytes_of_one_process(ray_local, reference):
    seen = []
    result = dist.sweep(GRID, client="ray", ticks=TICKS, seed=SEED, shard_size=5, progress=seen.append)
    assert result.engine == "ray" and result.shards == 3
    assert result.csv == reference.csv
    assert repr(result.rows) == repr(reference.rows)
    assert [p.shards_done for p in seen] == [1, 2, 3]


def test_a_python_strategy_on_ray(ray_local, tmp_path):
    from ray import cloudpickle

    path = tmp_path / "ticks.csv"
    write_ticks(path, dist.MarketData.synthetic(4, 3_000))
    grid = [{"n": 2}, {"n": 4}, {"n": 0}]
    cloudpickle.register_pickle_by_value(sys.modules[Trend.__module__])
    try:
        result = dist.sweep_strategy(Trend, grid, client="ray", data=path, seed=9, shard_size=2)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[Trend.__module__])
    assert repr(result.rows) == repr(run_strategy(Trend, grid, data=str(path), seed=9, workers=1))
    assert [r["status"] == "ok" for r in result.rows] == [True, True, False]


def test_ray_reports_a_missing_data_file_and_a_bad_shard(ray_local, tmp_path):
    with pytest.raises(dist.DataFileMissing, match="cannot read the data file"):
        dist.sweep(GRID, client="ray", data=tmp_path / "nope.csv", read_on_workers=True, retries=0)
    with pytest.raises(dist.ShardError, match="the grid is empty"):
        dist.sweep([], client="ray")


def test_cli_on_ray_writes_the_examples_bytes(ray_local, backtest_bin, tmp_path, capsys):
    options = ["--grid", "small", "--ticks", str(TICKS), "--seed", str(SEED), "--commission-bps", "2"]
    assert dist.main(["--ray", "--out", str(tmp_path / "ray"), "--no-progress", *options]) == 0
    assert "results:" in capsys.readouterr().out
    assert (tmp_path / "ray" / "results.csv").read_bytes() == cargo_csv(backtest_bin, tmp_path / "cargo", *options)

"""Distributed sweeps: shards on a Dask LocalCluster of two worker processes, and through the
command line against a scheduler and workers started as separate processes; every result
compared byte for byte with one process running the whole grid."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import pytest

import mycelium
from mycelium import distributed as dist
from mycelium.backtest import run_strategy
from sweeps import GRID, ROOT, SEED, TICKS, Trend, cargo_csv, local, write_ticks

PY = sys.executable


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


# --- in process -----------------------------------------------------------------------


def test_shards_in_process_give_the_rows_of_the_local_sweep(reference):
    rows = mycelium.sweep([5, 20, 300], [50, 200], [0, 10], ticks=TICKS, seed=SEED, workers=2)
    # NaN (a win rate without trades) is not equal to itself: compare the text.
    assert repr(reference.rows) == repr(rows)
    sharded = local(shard_size=3)
    assert sharded.shards == 4
    assert sharded.csv == reference.csv
    assert [r["index"] for r in sharded.rows] == list(range(len(GRID)))
    # The failed points are rows, as in a local sweep.
    failed = reference.failures()
    assert [(r["fast"], r["slow"]) for r in failed] == [(300, 50), (300, 50), (300, 200), (300, 200)]
    assert all("fast" in r["status"] for r in failed)
    assert reference.csv.startswith(dist.CSV_HEADER + "\n")
    assert reference.csv.count("\n") == len(GRID) + 1


def test_the_csv_is_the_backtest_examples(reference, backtest_bin, tmp_path):
    grid_file = tmp_path / "grid.csv"
    grid_file.write_text("fast,slow,band_bps\n" + "".join(f"{f},{s},{b}\n" for f, s, b in GRID if f < s))
    ok = [p for p in GRID if p[0] < p[1]]
    ours = local(ok, shard_size=2).csv.encode()
    theirs = cargo_csv(backtest_bin, tmp_path / "cargo", "--grid", str(grid_file),
                       "--ticks", str(TICKS), "--seed", str(SEED))
    assert ours == theirs
    # The same from a data file, through the command line's parsing of the example's options.
    data = tmp_path / "ticks.csv"
    write_ticks(data, dist.MarketData.synthetic(8, 30_000))
    options = ["--data", str(data), "--fast", "5:20:5", "--slow", "10,100", "--band", "0,5",
               "--commission-per-trade", "1.5", "--size", "0.5", "--seed", "3"]
    o = dist._options(["--scheduler", "unused", *options])
    ours = local(dist._grid_of(o), data=data, seed=3, commission_per_trade=1.5, size=0.5).csv.encode()
    assert ours == cargo_csv(backtest_bin, tmp_path / "cargo-data", *options)


def test_a_series_pickles_bit_for_bit(tmp_path):
    import pickle

    synthetic = dist.MarketData.synthetic(3, 1_000)
    back = pickle.loads(pickle.dumps(synthetic))
    assert back.to_bytes() == synthetic.to_bytes()
    assert len(pickle.dumps(synthetic)) < 200, "a synthetic series travels as its recipe"
    path = tmp_path / "ticks.csv"
    path.write_text("timestamp_ns,price\n" + "".join(f"{i * 10**9 + 1},{100 + (i % 7) * 0.25}\n" for i in range(500)))
    loaded = dist.MarketData.load(path)
    back = pickle.loads(pickle.dumps(loaded))
    assert back.to_bytes() == loaded.to_bytes() and len(back) == 500


# --- bad input ------------------------------------------------------------------------


def test_an_empty_grid_is_refused():
    with pytest.raises(dist.ShardError, match="the grid is empty"):
        local([])
    with pytest.raises(dist.ShardError, match="the grid is empty"):
        dist.sweep_strategy(Trend, [], ticks=TICKS)


def test_a_shard_of_unknown_or_repeated_indices_is_refused():
    data = dist.MarketData.synthetic(1, 1_000)
    settings = {"seed": 1}
    with pytest.raises(dist.ShardError, match="grid index 7 is unknown: the grid has 3 point"):
        dist.run_shard(data, GRID[:3], [0, 7], settings)
    with pytest.raises(dist.ShardError, match="index 1 is in the shard twice"):
        dist.run_shard(data, GRID[:3], [1, 1], settings)
    with pytest.raises(dist.ShardError, match="shard is empty"):
        dist.run_shard(data, GRID[:3], [], settings)
    assert isinstance(dist.ShardError("x"), ValueError)


def test_bad_settings_and_points_fail_before_anything_runs():
    with pytest.raises(ValueError, match="fill must be"):
        local(fill="sideways")
    with pytest.raises(ValueError, match="shard_size"):
        local(shard_size=0)
    with pytest.raises(TypeError, match="grid point"):
        local([(5, 50)])
    with pytest.raises(TypeError, match="client must be"):
        dist.sweep(GRID, client=object())
    with pytest.raises(FileNotFoundError, match="cannot read the data file"):
        local(data="/nonexistent/mycelium/ticks.csv")


def test_what_the_loader_notices_on_the_client_is_a_warning(tmp_path):
    rows = [f"2024-01-{d:02},{100 + d}" for d in range(1, 29)] + ["2024-01-29,"]
    path = tmp_path / "ticks.csv"
    path.write_text("Date,Price\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match=r"ticks\.csv:30: skipped 1 row"):
        result = local([(2, 3, 0)], data=path)
    assert result.ok_rows()[0]["ticks"] == 28
    # Read where the shards run: the first shard's warnings come back, once, with where.
    with pytest.warns(UserWarning, match=r"ticks\.csv:30: skipped 1 row.* \(as read by .+\)$") as seen:
        result = local([(2, 3, 0), (2, 4, 0)], data=path, read_on_workers=True, shard_size=1)
    assert result.shards == 2 and [r["ticks"] for r in result.ok_rows()] == [28, 28]
    assert len([w for w in seen if "skipped" in str(w.message)]) == 1


def test_a_data_file_missing_on_a_worker_is_a_clear_error(dask_client, tmp_path):
    missing = tmp_path / "only-here.csv"
    with pytest.raises(dist.DataFileMissing, match=r"worker tcp://127\.0\.0\.1:\d+ cannot read the data file .*only-here\.csv") as e:
        dist.sweep(GRID, client=dask_client, data=missing, read_on_workers=True, retries=0)
    assert isinstance(e.value, FileNotFoundError)
    assert "shared storage" in str(e.value)


def test_workers_that_read_different_data_files_are_refused():
    """With read_on_workers, each shard reports the digest of the file its worker read; a
    second digest (a file changed during the sweep, or different on another host) is an
    error naming both workers, never a silent mix of data."""
    same = dist._SameData(("file", "ticks.csv", None))
    assert same.part(("a" * 64, "tcp://w1", [1])) == [1]
    assert same.part(("a" * 64, "tcp://w2", [2])) == [2]
    with pytest.raises(dist.DistributedError,
                       match=r"different contents of the data file ticks\.csv: sha256 a{16}\.\.\. on tcp://w1, "
                             r"b{16}\.\.\. on tcp://w3; put the same file on every worker"):
        same.part(("b" * 64, "tcp://w3", [3]))
    # Shared data carries no digest.
    assert dist._SameData(dist.MarketData.synthetic(1, 10)).part((None, "", [4])) == [4]


def test_a_data_file_changed_while_a_worker_reads_it_is_refused(tmp_path, monkeypatch):
    """Loaded in one version and digested in another, a worker's copy would pass the check
    that all workers read the same bytes."""
    path = tmp_path / "ticks.csv"
    path.write_text("Date,Price\n" + "\n".join(f"2024-01-{d:02},{100 + d}" for d in range(1, 29)) + "\n")
    digest = dist._file_digest

    def rewritten_first(p):
        with open(p, "a") as f:
            f.write("2024-01-29,1\n")
        return digest(p)

    # Where the loader looks them up: `dist._file_digest` is a re-export.
    monkeypatch.setattr(dist._shard, "_file_digest", rewritten_first)
    monkeypatch.setattr(dist._shard, "_loaded", {})
    with pytest.raises(dist.DistributedError, match=r"ticks\.csv changed while worker .+ read it"):
        local([(2, 3, 0)], data=path, read_on_workers=True)


# --- Dask -----------------------------------------------------------------------------


def test_dask_two_worker_processes_give_the_bytes_of_one_process(dask_client, reference):
    seen = []
    result = dist.sweep(GRID, client=dask_client, ticks=TICKS, seed=SEED, shard_size=3, progress=seen.append)
    assert result.engine == "dask" and result.shards == 4
    assert result.csv == reference.csv
    assert repr(result.rows) == repr(reference.rows)
    # Progress as each shard completes: one report per shard, counting up to the whole.
    assert [p.shards_done for p in seen] == [1, 2, 3, 4]
    assert all(p.shards == 4 and p.points == len(GRID) for p in seen)
    assert seen[-1].points_done == len(GRID) and seen[-1].failed == 4
    # Two worker processes, not threads of one.
    assert len({pid for pid in dask_client.run(os.getpid).values()}) == 2


def test_dask_shares_a_loaded_file_by_reference(dask_client, tmp_path, reference):
    path = tmp_path / "ticks.csv"
    series = dist.MarketData.synthetic(SEED, TICKS)
    write_ticks(path, series)
    on_client = dist.sweep(GRID, client=dask_client, data=path, seed=SEED, shard_size=4)
    on_workers = dist.sweep(GRID, client=dask_client, data=path, seed=SEED, shard_size=4, read_on_workers=True)
    in_process = local(data=path)
    assert on_client.csv == in_process.csv == on_workers.csv


def test_what_a_dask_worker_loader_notices_is_a_warning_on_the_client(dask_client, tmp_path):
    rows = [f"2024-01-{d:02},{100 + d}" for d in range(1, 29)] + ["2024-01-29,"]
    path = tmp_path / "ticks.csv"
    path.write_text("Date,Price\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match=r"ticks\.csv:30: skipped 1 row.* \(as read by tcp://"):
        result = dist.sweep([(2, 3, 0)], client=dask_client, data=path, read_on_workers=True)
    assert result.ok_rows()[0]["ticks"] == 28


def test_a_python_strategy_on_dask_with_a_file_every_worker_reads(dask_client, tmp_path):
    import cloudpickle

    # Shipped by value, as for workers that cannot import the test modules (a remote
    # cluster's; a local cluster's could).
    cloudpickle.register_pickle_by_value(sys.modules[Trend.__module__])
    path = tmp_path / "ticks.csv"
    write_ticks(path, dist.MarketData.synthetic(2, 3_000))
    grid = [{"n": 3}, {"n": 5}, {"n": 8}, {"n": -1}]
    try:
        result = dist.sweep_strategy(Trend, grid, client=dask_client, data=path, seed=9,
                                     shard_size=1, read_on_workers=True)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[Trend.__module__])
    expected = run_strategy(Trend, grid, data=str(path), seed=9, workers=1)
    assert repr(result.rows) == repr(expected)
    assert result.csv is None
    assert [r["status"] == "ok" for r in result.rows] == [True, True, True, False]
    assert all(r["trades"] > 0 for r in result.rows[:3])


class Broken(Trend):
    @classmethod
    def warmup(cls, args):
        raise RuntimeError("warmup is broken")


def test_a_shard_that_raises_is_a_distributed_error_naming_it(dask_client):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(sys.modules[Trend.__module__])
    try:
        # The message names the grid point too (the note `warmup` added to the exception).
        with pytest.raises(dist.DistributedError, match=r"shard \d failed on the Dask cluster: RuntimeError: .*warmup is broken; while computing warmup\(\{'n': [34]\}\) for grid point [01]"):
            dist.sweep_strategy(Broken, [{"n": 3}, {"n": 4}], client=dask_client, ticks=2_000,
                                shard_size=1, retries=0)
        # In process, the strategy's own exception.
        with pytest.raises(RuntimeError, match="warmup is broken"):
            dist.sweep_strategy(Broken, [{"n": 3}], ticks=2_000)
        # A bad setting fails on the client, before anything is submitted.
        with pytest.raises(ValueError, match="fill must be"):
            dist.sweep_strategy(Trend, [{"n": 3}], client=dask_client, fill="sideways")
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        cloudpickle.unregister_pickle_by_value(sys.modules[Trend.__module__])


def test_a_raising_warmup_in_a_shard_propagates_as_raised_naming_the_grid_point():
    class NoSuchWindow(Exception):
        pass

    class Picky(Trend):
        @classmethod
        def warmup(cls, args):
            if args["n"] < 0:
                raise NoSuchWindow(f"no window of {args['n']} bars")
            return args["n"]

    with pytest.raises(NoSuchWindow) as raised:
        dist.sweep_strategy(Picky, [{"n": 3}, {"n": 4}, {"n": -1}], ticks=2_000, shard_size=2)
    assert raised.value.__notes__ == ["while computing warmup({'n': -1}) for grid point 2"]


class HeldBack(Trend):
    """Trend whose points, all but the first to start, wait on the worker (in `warmup`) for
    the Dask event their args name (`hold`): the sweep cannot end before the test sets it."""

    @classmethod
    def warmup(cls, args):
        import distributed

        # The first point to take the lock runs at once (it never gives the lock back).
        if not distributed.Lock(f"{args['hold']}-first").acquire(blocking=False):
            if not distributed.Event(args["hold"]).wait(timeout=120):
                raise RuntimeError(f"event {args['hold']} never set")
        return super().warmup(args)


def test_a_worker_killed_mid_sweep_still_gives_the_whole_result():
    import uuid

    distributed = pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")  # Dask's own dependency
    # Sixteen shards of one point; all but the first wait until a worker is killed, so the
    # kill always finds shards running, whatever the machine's load.
    hold = f"mycelium-held-back-{uuid.uuid4().hex}"
    grid = [{"n": n, "hold": hold} for n in range(1, 17)]
    killed = []
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(sys.modules[Trend.__module__])
    try:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0"
        ) as cluster, distributed.Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)
            release = distributed.Event(hold, client=client)

            def kill_one_busy_worker(p: dist.Progress) -> None:
                if killed:
                    return
                try:
                    busy = [addr for addr, keys in client.processing().items() if keys]
                    if busy:
                        pids = client.run(os.getpid)
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        killed.append((p.shards_done, p.shards))
                finally:
                    release.set()

            result = dist.sweep_strategy(HeldBack, grid, client=client, ticks=TICKS, seed=SEED,
                                         shard_size=1, progress=kill_one_busy_worker)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        cloudpickle.unregister_pickle_by_value(sys.modules[Trend.__module__])
    assert killed == [(1, 16)], "a worker with shards to run was killed at the first completion"
    whole = dist.sweep_strategy(Trend, grid, ticks=TICKS, seed=SEED)
    assert repr(result.rows) == repr(whole.rows)
    assert len(result.rows) == len(grid)


def test_the_readme_cluster_example_runs(dask_client, tmp_path, monkeypatch, capsys):
    import re

    section = (ROOT / "README.md").read_text().split("## Sweeps on a cluster", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    assert '"tcp://10.0.0.5:8786"' in block
    block = block.replace('"tcp://10.0.0.5:8786"', repr(dask_client.scheduler.address))
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert "best: " in capsys.readouterr().out
    assert (tmp_path / "results.csv").read_text().startswith(dist.CSV_HEADER + "\n")


def test_cli_refuses_an_output_folder_it_cannot_make_before_the_sweep(dask_client, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "out"
    code = dist.main(["--scheduler", dask_client.scheduler.address, "--grid", "small",
                      "--ticks", "1000", "--no-progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert f"error: cannot create the output folder {out}: Not a directory" in captured.err
    assert "grid:" not in captured.out, "the sweep ran first"


# --- the command line -----------------------------------------------------------------


def test_cli_refuses_bad_options(capsys):
    assert dist.main(["--out", "x"]) == 2
    assert "--scheduler ADDRESS" in capsys.readouterr().err
    assert dist.main(["--scheduler", "tcp://127.0.0.1:1", "--ticks", "many"]) == 2
    assert "--ticks many: expected a whole number" in capsys.readouterr().err
    assert dist.main(["--scheduler", "tcp://127.0.0.1:1", "--fast", "5:50:5"]) == 2
    assert "give both --fast and --slow" in capsys.readouterr().err
    assert dist.main(["--scheduler", "tcp://127.0.0.1:1", "--commission", "1"]) == 2
    assert "--commission is ambiguous" in capsys.readouterr().err
    assert dist.main(["--scheduler", "tcp://127.0.0.1:1", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert dist.main(["--sched", "tcp://127.0.0.1:1"]) == 2, "no abbreviations, as the example"
    capsys.readouterr()
    assert dist.main(["--scheduler", "tcp://127.0.0.1:1", "--fast", "50", "--slow", "10"]) == 1
    assert "the grid is empty" in capsys.readouterr().err


@pytest.fixture
def dask_processes(tmp_path):
    """`dask scheduler` and two `dask worker` processes on loopback, each in its own process
    group, as on a real cluster; yields the scheduler's address and the workers' processes.
    Every process is ended at teardown."""
    dask = pathlib.Path(PY).with_name("dask")
    if not dask.exists():
        pytest.skip("the `dask` command is not installed")
    scheduler_file = tmp_path / "scheduler.json"
    procs = []

    def start(*args: str) -> subprocess.Popen:
        log = open(tmp_path / f"proc-{len(procs)}.log", "wb")
        proc = subprocess.Popen([str(dask), *args], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        procs.append(proc)
        return proc

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file))
        workers = [
            start("worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
                  "--nthreads", "1", "--no-dashboard")
            for _ in range(2)
        ]
        from distributed import Client
        from distributed.utils import json_load_robust

        # The scheduler creates its file, then fills it: read it until it parses, as `dask
        # worker` does (Client(scheduler_file=...) gives up after ten reads 10 ms apart,
        # which a loaded machine can outlast).
        address = json_load_robust(str(scheduler_file), timeout=60)["address"]
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def cli(address: str, out: pathlib.Path, *options: str) -> list[str]:
    return [PY, "-m", "mycelium.distributed", "--scheduler", address, "--out", str(out), *options]


def test_cli_against_a_scheduler_and_two_worker_processes(dask_processes, backtest_bin, tmp_path):
    """The command line's results.csv against the example's, byte for byte."""
    address, _ = dask_processes
    options = ["--grid", "small", "--ticks", str(TICKS), "--seed", str(SEED), "--risk-limit", "0.05"]
    run = subprocess.run(cli(address, tmp_path / "dask", "--shard-size", "4", *options),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "5/5 shards" in run.stderr, "progress as shards complete"
    ours = (tmp_path / "dask" / "results.csv").read_bytes()
    assert ours == cargo_csv(backtest_bin, tmp_path / "cargo", *options)


def kill_like_a_crash(pid: int):
    """SIGKILLs process `pid` and its descendants, as a crash of a node would, except
    multiprocessing's resource tracker, which a crash of the processes it serves leaves
    alive: it then unlinks the semaphores they held (killed with them, it would leave them in
    /dev/shm). Returns the trackers, to wait for."""
    import psutil

    root = psutil.Process(pid)
    descendants = root.children(recursive=True)
    trackers = [p for p in descendants if "resource_tracker" in " ".join(p.cmdline())]
    for p in [root, *descendants]:
        if p not in trackers:
            p.send_signal(signal.SIGKILL)
    return trackers


def test_cli_survives_a_worker_process_killed_mid_run(dask_processes, backtest_bin, tmp_path):
    """One `dask worker` (its nanny and its worker process) killed with SIGKILL after the
    first shard completes: the other finishes the sweep, and the bytes are the same. The
    killed processes leave nothing in /dev/shm."""
    import psutil

    trackers = []
    address, workers = dask_processes
    options = ["--fast", "5:40:5", "--slow", "100:400:100", "--band", "0,10", "--ticks", "50000",
               "--seed", str(SEED)]
    proc = subprocess.Popen(cli(address, tmp_path / "dask", "--shard-size", "2", *options),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        killed_at = None
        for line in proc.stderr:  # ends when the command line exits
            if killed_at is None and " shards, " in line:
                killed_at = line.split()[0]
                trackers = kill_like_a_crash(workers[0].pid)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert killed_at is not None, "no progress line came before the command line exited"
    done, total = map(int, killed_at.split("/"))
    assert done < total, "the worker was killed before the last shard came back"
    assert workers[0].wait(timeout=30) == -signal.SIGKILL
    # The killed processes' trackers end once they have unlinked what was left.
    _, alive = psutil.wait_procs(trackers, timeout=30)
    assert not alive, f"resource trackers still running: {alive}"
    ours = (tmp_path / "dask" / "results.csv").read_bytes()
    assert ours == cargo_csv(backtest_bin, tmp_path / "cargo", *options)

import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import mycelium
from mycelium.trading import Heartbeat
from sweeps import GRID, ROOT, local

# The cluster tests' scratch files (Dask's worker directories, Ray's session directory), in a
# directory of this run removed when it ends: left to their defaults, Dask and Ray keep them
# in /tmp/dask-scratch-space and /tmp/ray for good. Made when pytest starts (before any test
# module imports Dask or Ray), not when this module is imported: worker processes import it
# too, for the actor classes defined here, and would each leave a directory behind.
SCRATCH = None


def pytest_configure(config):
    global SCRATCH
    SCRATCH = tempfile.mkdtemp(prefix="myc-")
    # Inherited by the worker processes the tests start.
    os.environ["DASK_TEMPORARY_DIRECTORY"] = os.path.join(SCRATCH, "dask")
    os.environ["RAY_TMPDIR"] = SCRATCH


def pytest_unconfigure(config):
    """Removes the scratch directory when pytest ends, whatever ran (`--collect-only` too);
    every cluster fixture is module-scoped or narrower, so their clusters are shut down."""
    if SCRATCH is not None:
        shutil.rmtree(SCRATCH, ignore_errors=True)


def hb(seq: int = 0, sender: str = "test", ts_ns: int = 0) -> Heartbeat:
    return Heartbeat(ts_ns=ts_ns, seq=seq, sender=sender)


class Echo(mycelium.Actor):
    """Answers a heartbeat with seq + 1; `sender="boom"` raises; counts what it handled."""

    def on_start(self, args):
        self.handled = 0
        self.args = args
        if isinstance(args, dict) and "starts" in args:
            args["starts"].append(self.ref.id)

    @mycelium.handler(Heartbeat)
    def ping(self, msg: Heartbeat) -> Heartbeat:
        if msg.sender == "boom":
            raise ValueError("boom on request")
        self.handled += 1
        return Heartbeat(ts_ns=msg.ts_ns, seq=msg.seq + 1, sender=f"handled {self.handled}")


@pytest.fixture
def bus():
    with mycelium.Bus() as b:
        yield b


@pytest.fixture
def vbus():
    with mycelium.Bus(virtual_time=True) as b:
        yield b


@pytest.fixture(scope="module")
def reference():
    """The whole grid in this process, as one shard."""
    return local(shard_size=len(GRID))


@pytest.fixture(scope="module")
def backtest_bin():
    """The backtest example, release build (as the README's cargo command runs it), from
    the target directory cargo builds into (`CARGO_TARGET_DIR` or the configuration's)."""
    subprocess.run(
        ["cargo", "build", "-q", "--release", "--example", "backtest"], cwd=ROOT, check=True
    )
    metadata = subprocess.run(
        ["cargo", "metadata", "-q", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True,
    )
    target = pathlib.Path(json.loads(metadata.stdout)["target_directory"])
    return target / "release" / "examples" / "backtest"

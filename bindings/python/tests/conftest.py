import os
import shutil
import subprocess
import tempfile

import pytest

# The cluster tests' scratch files (Dask's worker directories, Ray's session directory), in a
# directory of this run removed when it ends: left to their defaults, Dask and Ray keep them
# in /tmp/dask-scratch-space and /tmp/ray for good. Set before either is imported, and
# inherited by the worker processes the tests start.
SCRATCH = tempfile.mkdtemp(prefix="myc-")
os.environ["DASK_TEMPORARY_DIRECTORY"] = os.path.join(SCRATCH, "dask")
os.environ["RAY_TMPDIR"] = SCRATCH

import mycelium  # noqa: E402
from mycelium.trading import Heartbeat  # noqa: E402
from sweeps import GRID, ROOT, local  # noqa: E402


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


@pytest.fixture(scope="session", autouse=True)
def scratch_removed():
    """Removes the cluster tests' scratch directory once every test has run (their clusters
    are shut down by then: every cluster fixture is module-scoped or narrower)."""
    yield
    shutil.rmtree(SCRATCH, ignore_errors=True)


@pytest.fixture(scope="module")
def reference():
    """The whole grid in this process, as one shard."""
    return local(shard_size=len(GRID))


@pytest.fixture(scope="module")
def backtest_bin():
    """The backtest example, release build (as the README's cargo command runs it)."""
    subprocess.run(
        ["cargo", "build", "-q", "--release", "--example", "backtest"], cwd=ROOT, check=True
    )
    return ROOT / "target" / "release" / "examples" / "backtest"

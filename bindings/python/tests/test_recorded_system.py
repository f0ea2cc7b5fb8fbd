"""A user's system recorded live and killed with SIGKILL: a schema of its own, a supervision
tree with a timer and restarts, asks to an actor on another node (`market_system.py`). Its
journal replays as a set with every output as recorded, and a changed pricer is reported at
the first price it treats otherwise."""

import csv
import io
import os
import signal
import subprocess
import sys
import threading

import pytest

import mycelium
from mycelium import journal
import market_system
from market_system import MARKET_YAML, READY, SECRET_ENV
from schemas import generate


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    d = tmp_path_factory.mktemp("market")
    (d / "market.yaml").write_text(MARKET_YAML)
    generate(d / "market.yaml", d / "out", "market")
    return str(d / "out")


def record_killed(module_dir, run_dir):
    """Runs the desk node in a child process beside a venue node in this one, kills the
    child with SIGKILL once `READY` prices are on file, and returns the journal's path."""
    m = market_system.load(module_dir)
    a = market_system.actors(m)
    os.chmod(run_dir, 0o700)
    with open(f"{run_dir}/topology.toml", "w") as f:
        f.write(market_system.topology(run_dir))
    here = os.path.dirname(__file__)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here] + sys.path))
    with mycelium.Bus(schema=m) as bus:
        bus.spawn(a.Venue, None, service="venue")
        joined = []
        joining = threading.Thread(
            target=lambda: joined.append(bus.join(f"{run_dir}/topology.toml", "venue"))
        )
        joining.start()
        child = subprocess.Popen(
            [sys.executable, os.path.join(here, "market_system.py"), module_dir, run_dir],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "ready"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
            joining.join(timeout=60)
        assert joined, "the venue node did not join"
        joined[0].close()
    return f"{run_dir}/journal"


def test_a_killed_system_with_timers_restarts_and_another_node_replays_as_a_set(
    market, tmp_path, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, "market-system-secret-0123456789")
    path = record_killed(market, str(tmp_path))
    m = market_system.load(market)
    a = market_system.actors(m)

    j = journal.Journal(path, schema=m)
    assert not j.closed
    kinds = {}
    for row in j.rows():
        kinds[row.kind] = kinds.get(row.kind, 0) + 1
    # The classes are made in a function: the journal names them by their qualified names.
    number = {r.type.rsplit(".", 1)[-1]: r.actor for r in j.rows(kind="started")}
    assert set(number) == {"Sink", "Trader", "Pricer"}
    prices = [r for r in j.rows(kind="handled", actor=number["Pricer"]) if r.origin[0] != "timer"]
    assert len(prices) >= READY, kinds
    # The last failure before `ready` may have its restart still to come.
    assert kinds["restarted"] >= READY // market_system.FAIL_EVERY - 1, kinds
    assert kinds["timer-fired"] > 0 and kinds["answered"] > 0, kinds

    def replay(pricer):
        with journal.ReplaySet(path, schema=m, services=["venue"]) as rs:
            rs.spawn(a.Sink, None, service="sink")
            # The node in the Trader's arguments: a stand-in, whose `ref("venue")` reaches the
            # stand-in for the venue, answering each ask as it was answered live.
            rs.spawn(a.Trader, journal.StandInNode("desk"), service="trader")
            rs.spawn(pricer, 0.3, actor=number["Pricer"])
            return rs.run(mode="compare")

    same = replay(a.Pricer)
    assert same.ok, str(same)
    for report in same.actors:
        handled = j.rows(kind="handled", actor=report.actor[1])
        assert report.inputs == len(handled), (report.actor_type, report.inputs, len(handled))
        assert "not closed" in report.stopped, report.stopped

    # The first price above 101.5 is the 16th (100 + 15 * 0.1 = 101.5 is not above it).
    changed = replay(a.ClampedPricer)
    assert not changed.ok
    actor, first = changed.first
    assert actor == number["Pricer"], str(changed)
    assert '"seq":16' in first.message and '"sym":"ABC"' in first.message, first.message
    rows = list(csv.DictReader(io.StringIO(changed.to_csv())))
    assert rows and {int(r["actor"]) for r in rows} >= {number["Pricer"]}
    assert str(changed).startswith("first difference in journal order: actors.<locals>.Pricer")

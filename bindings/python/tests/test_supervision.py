import pytest

import mycelium
from mycelium.trading import Heartbeat
from conftest import Echo, hb


def test_an_exception_is_a_failure_then_a_restart_in_place(bus):
    starts = []
    sup = bus.supervise(
        [mycelium.python_child("model", Echo, {"starts": starts}, service="model")],
        backoff=mycelium.Backoff(initial=0.001, cap=0.01),
    )
    model = sup.child("model")
    assert model.ask(hb(1)).sender == "handled 1"
    assert model.ask(hb(1)).sender == "handled 2"
    # The ask fails at once with the exception's text...
    with pytest.raises(mycelium.ActorFailed, match="ValueError: boom on request"):
        model.ask(hb(sender="boom"))
    # ...the same ref reaches the restarted actor, whose on_start ran again with the same args.
    assert model.ask(hb(1)).sender == "handled 1"
    assert len(starts) == 2 and starts[0] == starts[1]
    sup.wait_restarts(1, "model")
    assert sup.restarts("model") == 1
    assert bus.ref("model").ask(hb(5)).seq == 6
    letters = bus.dead_letters()
    assert any("boom on request" in d["reason"] for d in letters)


def test_messages_queued_behind_a_failure_survive_the_restart(bus):
    sup = bus.supervise([mycelium.python_child("model", Echo)], backoff=mycelium.Backoff(0.001, 2, 0.01))
    model = sup.child("model")
    model.tell(hb(sender="boom"))
    model.tell(hb(1))
    model.tell(hb(1))
    assert model.ask(hb(1)).sender == "handled 3"


def test_backoff_runs_on_virtual_time(vbus):
    sup = vbus.supervise(
        [mycelium.python_child("model", Echo)],
        backoff=mycelium.Backoff(initial=3600.0, factor=2.0, cap=7200.0),
        max_restarts=5,
        within=86_400.0,
    )
    model = sup.child("model")
    before = vbus.now()
    with pytest.raises(mycelium.ActorFailed):
        model.ask(hb(sender="boom"))
    # Answered only after the one-hour backoff of bus time, which takes no wall time.
    assert model.ask(hb(1)).seq == 2
    assert vbus.now() - before >= 3600.0
    sup.wait_restarts(1)
    restarted = [e for e in sup.events() if e[1] == "restarted"]
    assert len(restarted) == 1 and restarted[0][0] >= 3600.0


def test_mixed_tree_one_for_all_restarts_rust_and_python_children(bus):
    sup = bus.supervise(
        [
            mycelium.rust_child("counter", "counter", service="counter"),
            mycelium.python_child("model", Echo, service="model"),
        ],
        strategy="one_for_all",
        backoff=mycelium.Backoff(0.001, 2.0, 0.01),
    )
    counter = sup.child("counter")
    for _ in range(5):
        counter.tell(hb(1))
    assert counter.ask(hb(0)).seq == 5
    with pytest.raises(mycelium.ActorFailed):
        sup.child("model").ask(hb(sender="boom"))
    # The Python failure restarted the Rust sibling too: its count starts again.
    assert sup.child("model").ask(hb(1)).seq == 2
    assert counter.ask(hb(0)).seq == 0
    sup.wait_restarts(2)
    assert sup.restarts("counter") == 1 and sup.restarts("model") == 1
    assert sup.children() == ["counter", "model"]


def test_a_tree_that_gives_up_fails_the_bus():
    with mycelium.Bus(virtual_time=True) as b:
        sup = b.supervise(
            [mycelium.python_child("model", Echo)],
            max_restarts=1,
            within=60.0,
            backoff=mycelium.Backoff(0.001, 1.0, 0.001),
        )
        model = sup.child("model")
        for _ in range(2):
            with pytest.raises(mycelium.ActorFailed):
                model.ask(hb(sender="boom"))
        exit_reason = b.run_forever()
        assert "failed" in exit_reason.lower() or "gave up" in exit_reason.lower()
        assert any(kind == "gave_up" for _, kind, _ in sup.events())


def test_an_exception_in_on_start_of_a_child_is_restarted_then_reported():
    class FlakyStart(mycelium.Actor):
        def on_start(self, attempts):
            attempts.append(1)
            if len(attempts) < 3:
                raise OSError("feed not ready")

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            return msg

    attempts = []
    with mycelium.Bus(virtual_time=True) as b:
        sup = b.supervise(
            [mycelium.python_child("flaky", FlakyStart, attempts)],
            max_restarts=5,
            within=60.0,
            backoff=mycelium.Backoff(1.0, 1.0, 1.0),
        )
        assert sup.child("flaky").ask(hb(3)).seq == 3
        assert len(attempts) == 3
        sup.wait_restarts(2, "flaky")
        assert sup.restarts("flaky") == 2

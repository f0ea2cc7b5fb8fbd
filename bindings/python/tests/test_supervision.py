import logging
import threading

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


class _Caught(logging.Handler):
    """Keeps the records of one logger and says when the first has come."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []
        self.came = threading.Event()

    def emit(self, record):
        self.records.append(record)
        self.came.set()


def test_a_tree_that_gives_up_fails_the_bus_and_says_so_on_the_supervisor_logger():
    caught = _Caught()
    logger = logging.getLogger("mycelium.supervisor")
    logger.addHandler(caught)
    try:
        _a_tree_gives_up()
        # Logged as the tree gives up, on a thread of its own: awaited, not slept for.
        assert caught.came.wait(60), "no record on mycelium.supervisor"
    finally:
        logger.removeHandler(caught)
    [record] = caught.records
    assert record.levelno == logging.ERROR
    text = record.getMessage()
    assert text.startswith("the supervision tree (one_for_one: model) gave up: more than 1 restarts")
    assert "ValueError: boom on request" in text
    assert text.endswith("its children are stopped and the bus fails")


def _a_tree_gives_up():
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


def test_a_child_whose_first_start_fails_fails_the_tree_naming_it():
    stops = []

    class Feed(mycelium.Actor):
        def on_start(self, args):
            pass

        def on_stop(self, reason):
            stops.append(reason)

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            return msg

    class NoModel(mycelium.Actor):
        def on_start(self, args):
            raise OSError("model file missing")

    later = []

    class Later(Feed):
        def on_start(self, args):
            later.append(1)

    with mycelium.Bus(virtual_time=True) as b:
        with pytest.raises(mycelium.StartFailed, match="child `model` could not start") as caught:
            b.supervise(
                [
                    mycelium.python_child("feed", Feed),
                    mycelium.python_child("model", NoModel),
                    mycelium.python_child("later", Later),
                ],
                max_restarts=5,
            )
        assert caught.value.child == "model"
        assert "OSError: model file missing" in str(caught.value)
        # No restart was tried: the child started before it was stopped, the later one never
        # started, and the bus carries on.
        assert len(stops) == 1 and later == []
        assert not b._native.is_stopped()
        assert b.spawn(Feed).ask(hb(4)).seq == 4


def test_a_spawn_failure_alone_has_no_child_name(bus):
    class NoModel(mycelium.Actor):
        def on_start(self, args):
            raise OSError("model file missing")

    with pytest.raises(mycelium.StartFailed, match="OSError: model file missing") as caught:
        bus.spawn(NoModel)
    assert caught.value.child is None


def test_duplicate_child_names_are_refused_before_anything_starts(bus):
    starts = []
    with pytest.raises(ValueError, match="two children are named `model`"):
        bus.supervise(
            [
                mycelium.python_child("model", Echo, {"starts": starts}),
                mycelium.python_child("model", Echo, {"starts": starts}),
            ]
        )
    assert starts == []


def test_a_restart_whose_start_fails_is_retried():
    class FlakyRestart(mycelium.Actor):
        def on_start(self, attempts):
            attempts.append(1)
            # The first start succeeds; the restarts after it fail twice, then succeed.
            if 2 <= len(attempts) <= 3:
                raise OSError("feed not ready")

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            if msg.sender == "boom":
                raise ValueError("boom")
            return msg

    attempts = []
    with mycelium.Bus(virtual_time=True) as b:
        sup = b.supervise(
            [mycelium.python_child("flaky", FlakyRestart, attempts)],
            max_restarts=5,
            within=60.0,
            backoff=mycelium.Backoff(1.0, 1.0, 1.0),
        )
        flaky = sup.child("flaky")
        with pytest.raises(mycelium.ActorFailed):
            flaky.ask(hb(sender="boom"))
        assert flaky.ask(hb(3)).seq == 3
        assert len(attempts) == 4
        sup.wait_restarts(1, "flaky")
        kinds = [kind for _, kind, child in sup.events() if child == "flaky"]
        assert kinds.count("restart_failed") == 2
        assert kinds.count("restarted") == 1
        assert sup.which_children() == [("flaky", "running")]


def test_stop_returns_once_the_tree_is_down_and_children_lists_running_ones(bus):
    stops = []

    class Quiet(mycelium.Actor):
        def on_start(self, args):
            pass

        def on_stop(self, reason):
            stops.append(reason)

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            return msg

    sup = bus.supervise([mycelium.python_child("a", Quiet), mycelium.python_child("b", Quiet)])
    assert sup.children() == ["a", "b"]
    assert sup.which_children() == [("a", "running"), ("b", "running")]
    assert sup.stop() == "shut down"
    # Everything is down by the time stop returns: every child's on_stop ran.
    assert len(stops) == 2
    assert sup.children() == []
    with pytest.raises(mycelium.ActorStopped):
        sup.which_children()


def test_an_exception_in_a_handler_run_on_the_calling_thread_is_a_failure_and_a_restart(bus):
    threads = []
    starts = []

    class Fragile(mycelium.Actor):
        def on_start(self, args):
            starts.append(1)

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            threads.append(threading.get_ident())
            if msg.sender == "boom":
                raise ValueError("boom on the caller's thread")
            return msg

    sup = bus.supervise(
        [mycelium.python_child("fragile", Fragile)],
        backoff=mycelium.Backoff(initial=0.001, cap=0.01),
    )
    fragile = sup.child("fragile")
    with pytest.raises(mycelium.ActorFailed, match="boom on the caller's thread"):
        fragile.ask(hb(sender="boom"))
    # It ran here (the actor was idle), and failed the actor as on a host thread.
    assert threads == [threading.get_ident()]
    assert fragile.ask(hb(3)).seq == 3
    sup.wait_restarts(1, "fragile")
    assert sup.restarts("fragile") == 1 and len(starts) == 2
    assert any("boom on the caller's thread" in d["reason"] for d in bus.dead_letters())


def test_ctrl_c_in_a_handler_run_on_the_calling_thread_reaches_the_caller_and_fails_the_actor(bus):
    class Interrupted(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            if msg.sender == "interrupt":
                raise KeyboardInterrupt  # what Ctrl-C raises in the running handler
            return msg

    sup = bus.supervise(
        [mycelium.python_child("model", Interrupted)],
        backoff=mycelium.Backoff(initial=0.001, cap=0.01),
    )
    model = sup.child("model")
    with pytest.raises(KeyboardInterrupt):
        model.ask(hb(sender="interrupt"))
    # The interrupted handler failed the actor, which restarted.
    assert model.ask(hb(2)).seq == 2
    sup.wait_restarts(1, "model")
    assert sup.restarts("model") == 1


class Logged(mycelium.Actor):
    """Logs `start <name>` and `stop <name>` to the list `args["log"]`."""

    def on_start(self, args):
        self.args = args
        args["log"].append(f"start {args['name']}")

    @mycelium.handler(Heartbeat)
    def ping(self, msg):
        return msg

    def on_stop(self, reason):
        self.args["log"].append(f"stop {self.args['name']}")


def test_a_spawn_whose_service_is_taken_leaves_nothing_running(bus):
    log = []
    bus.spawn(Logged, {"log": log, "name": "first"}, service="svc")
    with pytest.raises(ValueError, match="`svc` already takes"):
        bus.spawn(Logged, {"log": log, "name": "second"}, service="svc")
    # Stopped before the error: its on_stop has run, and the service is still the first's.
    assert log == ["start first", "start second", "stop second"]
    assert bus.services() == ["svc"]
    assert bus.ref("svc").ask(hb(3)).seq == 3
    assert bus.shutdown() == {"stopped": 1, "killed": 0}
    assert log[-1] == "stop first"


def test_a_tree_whose_child_service_is_taken_leaves_nothing_running(bus):
    log = []
    bus.spawn(Logged, {"log": log, "name": "owner"}, service="svc")
    children = [
        mycelium.python_child("a", Logged, {"log": log, "name": "a"}, service="free"),
        mycelium.rust_child("c", "counter", service="counter"),
        mycelium.python_child("b", Logged, {"log": log, "name": "b"}, service="svc"),
    ]
    with pytest.raises(ValueError, match="`svc` already takes"):
        bus.supervise(children)
    # A Python child's service is exported before the tree starts: the taken name is
    # refused before any child starts, and the services exported before it are gone.
    assert log == ["start owner"]
    assert bus.services() == ["svc"]
    # So the same tree starts once the name is free.
    children[2] = mycelium.python_child("b", Logged, {"log": log, "name": "b"}, service="svc2")
    sup = bus.supervise(children)
    assert sorted(bus.services()) == ["counter", "free", "svc", "svc2"]
    assert sup.child("b").ask(hb(4)).seq == 4
    # A Rust child's service is exported once the tree runs: a taken one stops the tree
    # (its children in reverse start order) before the error.
    log.clear()
    children = [
        mycelium.python_child("a2", Logged, {"log": log, "name": "a2"}, service="free2"),
        mycelium.rust_child("c2", "counter", service="svc"),
    ]
    with pytest.raises(ValueError, match="`svc` is taken"):
        bus.supervise(children)
    assert log == ["start a2", "stop a2"]
    assert "free2" not in bus.services()


def test_a_later_childs_start_reaches_an_earlier_childs_service_by_name(bus):
    class Reader(mycelium.Actor):
        def on_start(self, args):
            self.seen = self.bus.ref("counter-a").ask(hb(41), timeout=5.0).seq

        @mycelium.handler(Heartbeat)
        def answer(self, h):
            return hb(self.seen)

    sup = bus.supervise(
        [
            mycelium.python_child("a", Logged, {"log": [], "name": "a"}, service="counter-a"),
            mycelium.python_child("b", Reader, None),
        ]
    )
    assert sup.child("b").ask(hb(0)).seq == 41


def test_a_handler_on_virtual_time_that_asks_a_restarting_actor_waits_out_its_backoff_in_bus_time():
    """The clock stands still while a Python handler runs, and moves while it waits on the bus:
    a handler that asks an actor during its restart backoff hears from it once the backoff has
    passed in bus time, and an ask's timeout passes in bus time too."""

    class Venue(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def fill(self, order):
            if order.sender == "boom":
                raise ValueError("venue refuses")
            return order

    class Trader(mycelium.Actor):
        def on_start(self, args):
            self.venue, self.home = args

        @mycelium.handler(Heartbeat)
        def quote(self, q):
            asked = self.home.now()
            with pytest.raises(mycelium.ActorFailed, match="venue refuses"):
                self.venue.ask(hb(sender="boom"))
            failed = self.home.now()
            # Restarting after a half-second backoff: a quarter-second timeout passes first...
            with pytest.raises(mycelium.AskTimeout):
                self.venue.ask(hb(9), timeout=0.25)
            timed_out = self.home.now()
            # ...and the next ask is answered by the restarted venue.
            assert self.venue.ask(hb(8)).seq == 8
            answered = self.home.now()
            return Heartbeat(
                ts_ns=round((timed_out - asked) * 1e9),
                seq=round((answered - asked) * 1e9),
                sender=f"{failed - asked}",
            )

    with mycelium.Bus(virtual_time=True) as b:
        sup = b.supervise(
            [mycelium.python_child("venue", Venue)],
            backoff=mycelium.Backoff(0.5, 1.0, 0.5),
        )
        trader = b.spawn(Trader, (sup.child("venue"), b))
        answer = trader.ask(hb(1), timeout=30.0)
    assert answer.sender == "0.0", "bus time moved while the handler ran"
    assert answer.ts_ns == 250_000_000, answer
    assert answer.seq == 500_000_000, answer


def test_a_service_name_comes_free_once_its_actor_has_stopped(bus):
    class Svc(mycelium.Actor):
        def on_start(self, args):
            pass

        @mycelium.handler(Heartbeat)
        def echo(self, msg: Heartbeat) -> Heartbeat:
            if msg.sender == "boom":
                raise ValueError("boom")
            return msg

    tree = bus.supervise([mycelium.python_child("svc", Svc, service="svc")])
    tree.stop()
    assert "svc" not in bus.services()
    # A second tree takes the name, and then an unsupervised actor that fails gives it up.
    tree = bus.supervise([mycelium.python_child("svc", Svc, service="svc")])
    assert bus.ref("svc").ask(Heartbeat(ts_ns=0, seq=1, sender="")).seq == 1
    tree.stop()
    failing = bus.spawn(Svc, service="svc")
    held = bus.ref("svc")
    failing.tell(Heartbeat(ts_ns=0, seq=2, sender="boom"))
    failing.wait_for_stop()
    assert bus.services() == []
    for ref in (held, bus.ref("svc")):
        assert not ref.is_alive()
        with pytest.raises(mycelium.ActorStopped, match="service `svc` .*has stopped"):
            ref.tell(Heartbeat(ts_ns=0, seq=3, sender=""))
    with pytest.raises(mycelium.UnknownService):
        bus.ref("never")
    again = bus.spawn(Svc, service="svc")
    assert bus.ref("svc").ask(Heartbeat(ts_ns=0, seq=4, sender="")).seq == 4
    again.stop()

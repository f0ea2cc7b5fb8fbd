"""A Python actor's mail handled in batches: order, a failure in the middle of a batch (the
rest handled by the restarted actor, in order), virtual time held still while a batch runs,
and a virtual-time run with a failing subscriber that repeats exactly."""

import threading
import time

import mycelium
from mycelium.trading import Heartbeat, Quote


class Log(mycelium.Actor):
    """Logs `(incarnation, message)`; -1 raises; "wait" blocks until the event is set; "log"
    answers the log; "slow" takes a millisecond and logs the bus time."""

    def on_start(self, args):
        self.shared = args
        args["starts"] += 1
        self.incarnation = args["starts"]

    @mycelium.handler(int)
    def number(self, x: int) -> None:
        if x == -1:
            raise ValueError("boom in a batch")
        self.shared["log"].append((self.incarnation, x))

    @mycelium.handler(str)
    def word(self, w: str):
        if w == "log":
            return list(self.shared["log"])
        if w == "wait":
            self.shared["entered"].set()
            self.shared["release"].wait(30)
        if w == "slow":
            time.sleep(0.001)
            self.shared["times"].append(self.bus.now())
        self.shared["log"].append((self.incarnation, w))
        return None


def shared():
    return {
        "starts": 0,
        "log": [],
        "times": [],
        "entered": threading.Event(),
        "release": threading.Event(),
    }


def test_tells_are_handled_in_the_order_sent(bus):
    state = shared()
    actor = bus.spawn(Log, state)
    for i in range(2000):
        actor.tell(i)
    log = actor.ask("log", 30.0)
    assert log == [(1, i) for i in range(2000)]


def test_a_failure_in_the_middle_of_a_batch_leaves_the_rest_to_the_restarted_actor(bus):
    state = shared()
    sup = bus.supervise(
        [mycelium.python_child("log", Log, state)],
        backoff=mycelium.Backoff(initial=0.001, cap=0.01),
    )
    actor = sup.child("log")
    actor.tell("wait")
    assert state["entered"].wait(30)
    # Queued while the first handler runs: handled in one batch once it returns.
    for x in (1, 2, 3, -1, 4, 5, 6):
        actor.tell(x)
    state["release"].set()
    log = actor.ask("log", 30.0)
    assert log == [(1, "wait"), (1, 1), (1, 2), (1, 3), (2, 4), (2, 5), (2, 6)]
    assert state["starts"] == 2
    assert any("boom in a batch" in d["reason"] for d in bus.dead_letters())


def test_virtual_time_stands_still_while_the_mail_is_handled(vbus):
    state = shared()
    actor = vbus.spawn(Log, state)
    for _ in range(30):
        actor.tell("slow")
    actor.ask("log", 30.0)
    # Thirty milliseconds of wall time in handlers, no bus time.
    assert len(state["times"]) == 30
    assert len(set(state["times"])) == 1


class FailingSubscriber(mycelium.Actor):
    """Logs each quote with the bus time; raises on quote 700."""

    def on_start(self, log):
        self.log = log
        self.subscribe(Quote, "md.quote.*")
        log.append(("start", self.bus.now()))

    @mycelium.handler(Quote)
    def quote(self, q: Quote) -> None:
        if q.ts_ns == 700:
            raise ValueError("poison quote")
        self.log.append((q.ts_ns, self.bus.now()))

    @mycelium.handler(str)
    def log_so_far(self, _: str):
        return list(self.log)


class Feed(mycelium.Actor):
    """Has the Rust source publish 4,000 quotes three times, logging in the subscriber's log
    when each round is published (so the log shows how the two actors interleave), then asks
    the subscriber (through its ref: a plain `str` does not cross the bus's service table)
    for its log and sets the event."""

    def on_start(self, args):
        self.done = args
        self.ref.tell("go")

    @mycelium.handler(str)
    def go(self, _: str) -> None:
        source = self.bus.ref("source")
        for _ in range(3):
            source.ask(Heartbeat(ts_ns=0, seq=4000, sender="feed"), timeout=60.0)
            self.done["log"].append(("published", self.bus.now()))
        self.done["log"] = self.done["sub"].ask("log", timeout=60.0)
        self.done["event"].set()


def failing_subscriber_run():
    log = []
    done = {"event": threading.Event(), "log": log}
    with mycelium.Bus(schema=mycelium.trading, virtual_time=True, seed=3) as bus:
        tree = bus.supervise(
            [mycelium.python_child("sub", FailingSubscriber, log)],
            backoff=mycelium.Backoff(initial=0.02, factor=2.0, cap=1.0),
        )
        done["sub"] = tree.child("sub")
        bus.spawn_rust("quote_source", "source", "md.quote.x")
        bus.spawn(Feed, done)
        assert done["event"].wait(120), "the feed did not finish"
    return done["log"]


def test_a_rust_publisher_and_a_failing_python_subscriber_repeat_on_virtual_time():
    # The Rust publisher and the Python handlers take turns: the publisher, blocked by the
    # failed subscriber's full mailbox, waits for its restart (bus time passes: the backoff),
    # the restarted subscriber has every quote but the poisoned ones, in order, and the
    # feed's handler and the subscriber's interleave the same way in every run. With them
    # racing, a run lost quotes to a restart, or logged a round's end elsewhere.
    first = failing_subscriber_run()
    starts = [when for what, when in first if what == "start"]
    quotes = [what for what, _ in first if isinstance(what, int)]
    assert len(starts) == 4, starts
    assert len([what for what, _ in first if what == "published"]) == 3
    assert starts == sorted(starts) and starts[-1] > 0, starts
    assert quotes == [i for _ in range(3) for i in range(4000) if i != 700]
    for _ in range(3):
        assert failing_subscriber_run() == first

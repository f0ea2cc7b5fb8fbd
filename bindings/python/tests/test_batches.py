"""A Python actor's mail handled in batches: order, a failure in the middle of a batch (the
rest handled by the restarted actor, in order), and virtual time held still while a batch
runs."""

import threading
import time

import mycelium


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

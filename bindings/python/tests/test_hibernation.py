"""Hibernating Python actors: no task while their mailbox is empty, otherwise the same
actors (order, state across naps, failures and restarts, `on_stop`)."""

import time

import pytest

import mycelium
from mycelium.trading import Heartbeat
from conftest import Echo, hb


def settle(bus: mycelium.Bus, at_most: int) -> int:
    """The bus's task count once it is `at_most` or less: an actor that just answered may
    still be on its way back to sleep. Bounded; reached only when the test fails."""
    deadline = time.monotonic() + 20.0
    while bus.runtime_tasks() > at_most and time.monotonic() < deadline:
        time.sleep(0)  # lets the runtime's threads take the interpreter
    return bus.runtime_tasks()


def become(bus: mycelium.Bus, count: int) -> int:
    """The bus's task count once it is `count`: an actor that has served its first mail moves
    into a task of its own just after. Bounded; reached only when the test fails."""
    deadline = time.monotonic() + 20.0
    while bus.runtime_tasks() != count and time.monotonic() < deadline:
        time.sleep(0)  # lets the runtime's threads take the interpreter
    return bus.runtime_tasks()


def test_idle_hibernating_actors_hold_no_task(bus):
    base = bus.runtime_tasks()
    sleepers = [bus.spawn(Echo, hibernate=True) for _ in range(20)]
    for i, actor in enumerate(sleepers):
        assert actor.ask(hb(i)).seq == i + 1
    # The bus's hibernation driver is the one task more.
    assert settle(bus, base + 1) == base + 1, "no task per idle hibernating actor"
    plain = [bus.spawn(Echo) for _ in range(20)]
    for actor in plain:
        actor.ask(hb(1))
    # A Python thread's ask runs through the actor's gate: it is no mail, and a plain actor
    # has no task until its first mail.
    assert settle(bus, base + 1) == base + 1, "no task before a plain actor's first mail"
    for actor in plain:
        actor.tell(hb(1))
    # Answered after the tell, which the ask waits for.
    for actor in plain:
        assert actor.ask(hb(1)).sender == "handled 3"
    assert become(bus, base + 21) == base + 21, "a task per plain actor from its first mail"


def test_a_hibernating_actor_keeps_its_state_and_order_across_naps(bus):
    actor = bus.spawn(Echo, hibernate=True)
    for _ in range(5):
        actor.tell(hb(1))
    assert actor.ask(hb(1)).sender == "handled 6"
    # One message at a time, each finding it asleep.
    for n in range(7, 10):
        assert actor.ask(hb(1)).sender == f"handled {n}"


def test_a_hibernating_child_fails_and_restarts_in_place(bus):
    starts = []
    sup = bus.supervise(
        [
            mycelium.python_child("model", Echo, {"starts": starts}, service="model", hibernate=True),
            mycelium.rust_child("count", "counter", service="count", hibernate=True),
        ],
        backoff=mycelium.Backoff(initial=0.001, cap=0.01),
    )
    model = sup.child("model")
    assert model.ask(hb(1)).sender == "handled 1"
    with pytest.raises(mycelium.ActorFailed, match="ValueError: boom on request"):
        model.ask(hb(sender="boom"))
    assert model.ask(hb(1)).sender == "handled 1"
    assert len(starts) == 2
    sup.wait_restarts(1, "model")
    assert bus.ref("count").ask(hb(5)).seq == 5
    assert bus.ref("count").ask(hb(2)).seq == 7


def test_a_sleeping_actor_runs_on_stop_at_shutdown():
    stopped = []

    class Stopping(mycelium.Actor):
        def on_stop(self, reason):
            stopped.append(reason)

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            return msg

    with mycelium.Bus() as bus:
        actor = bus.spawn(Stopping, hibernate=True)
        assert actor.ask(hb(3)).seq == 3
    assert len(stopped) == 1

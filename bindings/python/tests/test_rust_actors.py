"""Rust actors started by name: the registry as Python sees it, and its refusals."""

from __future__ import annotations

import threading

import pytest

import mycelium
from mycelium.trading import Heartbeat


def test_the_registered_rust_actors_are_listed_with_their_arguments_and_schema():
    actors = {name: (arg, package, ids) for name, arg, package, ids in mycelium.rust_actors()}
    assert actors["counter"] == (None, "trading", [Heartbeat.TYPE_ID])
    assert actors["relay"][0] == "the service to ask"
    assert actors["quote_recorder"][0] == "a topic pattern"


def test_an_unknown_name_is_refused_with_the_names_there_are():
    with mycelium.Bus() as bus:
        with pytest.raises(ValueError) as raised:
            bus.spawn_rust("execution", "execution")
        text = str(raised.value)
        assert "no built-in Rust actor `execution`, and no crate of this process registered one" in text
        assert (
            "ask_probe (arg: the service to ask), counter, quote_recorder (arg: a topic pattern), "
            "quote_source (arg: the topic to publish on), relay (arg: the service to ask)"
        ) in text
        with pytest.raises(ValueError, match="no built-in Rust actor `execution`"):
            bus.supervise([mycelium.rust_child("engine", "execution")])
        assert bus.services() == []


def test_an_argument_the_actor_does_not_take_is_refused_before_anything_starts():
    with mycelium.Bus() as bus:
        with pytest.raises(ValueError, match="the built-in Rust actor `counter` takes no arg"):
            bus.spawn_rust("counter", "counter", arg="10")
        with pytest.raises(ValueError, match="`relay` needs an arg: the service to ask"):
            bus.supervise([mycelium.rust_child("relay", "relay")])
        assert bus.services() == []
        bus.spawn_rust("counter", "counter")
        assert bus.ref("counter").ask(Heartbeat(ts_ns=0, seq=4, sender="")).seq == 4


def test_a_rust_actor_asking_an_idle_python_actor_gets_every_answer_in_order() -> None:
    # The Rust actor's task runs the idle actor's handler on its own thread (stepping out of
    # the runtime's workers), which keeps its Python thread state between calls and ends
    # it with the thread: three buses in a row, each thread gone with its bus. A kept thread
    # state keeps the thread's `threading.local` values from one call to the next.
    seen: list[tuple[int, int]] = []
    local = threading.local()

    class Adder(mycelium.Actor):
        def on_start(self, args: object) -> None:
            self.total = 0

        @mycelium.handler(Heartbeat)
        def add(self, hb: Heartbeat) -> Heartbeat:
            self.total += 1
            local.calls = getattr(local, "calls", 0) + 1
            seen.append((threading.get_ident(), local.calls))
            return Heartbeat(ts_ns=0, seq=self.total, sender="adder")

    for _ in range(3):
        seen.clear()
        with mycelium.Bus() as bus:
            adder = bus.spawn(Adder, service="adder")
            probe = bus.spawn_rust("ask_probe", "probe", "adder")
            # 200 asks after 20 of warm-up, one at a time.
            answer = probe.ask(Heartbeat(ts_ns=0, seq=200, sender=""), 60.0)
            assert answer.sender == "ask_probe", answer.sender
            assert adder.ask(Heartbeat(ts_ns=0, seq=0, sender="")).seq == 221
        assert len(seen) == 221
        asked_by_rust = seen[:220]
        assert threading.get_ident() not in [t for t, _ in asked_by_rust], "never on this thread"
        # Each thread's calls count on from its last: one thread state per thread, kept.
        calls: dict[int, int] = {}
        for thread, count in asked_by_rust:
            calls[thread] = calls.get(thread, 0) + 1
            assert count == calls[thread], (thread, count, calls[thread])

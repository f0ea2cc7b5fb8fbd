import asyncio

import pytest

import mycelium
from mycelium.trading import Heartbeat
from conftest import Echo, hb


class Recording(mycelium.Actor):
    def on_start(self, log):
        self.log = log
        log.append("start")

    @mycelium.handler(Heartbeat)
    def ping(self, msg):
        self.log.append(f"got {msg.seq}")
        return msg

    def on_stop(self, reason):
        self.log.append(f"stop: {reason}")


def test_spawn_ask_and_tell_in_order(bus):
    echo = bus.spawn(Echo)
    assert echo.ask(hb(41)).seq == 42
    echo.tell(hb(1))
    echo.tell(hb(2))
    # Handled in order, one at a time: the third message sees two before it.
    assert echo.ask(hb(0)).sender == "handled 4"


def test_on_start_and_on_stop_run_around_the_life(bus):
    log = []
    actor = bus.spawn(Recording, log)
    actor.tell(hb(7))
    actor.ask(hb(8))  # handled in order: 7 has been handled too
    actor.stop()
    reason = actor.wait_for_stop()
    assert not actor.is_alive()
    assert log[:3] == ["start", "got 7", "got 8"]
    assert log[3].startswith("stop: ")
    assert "stopped" in reason or "normal" in reason.lower()


def test_shutdown_stops_every_actor_and_calls_on_stop():
    log = []
    with mycelium.Bus() as b:
        b.spawn(Recording, log)
        report = b.shutdown()
    assert report["stopped"] == 1 and report["killed"] == 0
    assert log[0] == "start" and log[-1].startswith("stop: ")


@pytest.mark.parametrize("ended", ["shutdown", "fail"])
def test_every_call_that_starts_or_sends_on_a_closed_bus_raises_bus_closed(ended):
    b = mycelium.Bus()
    b.spawn_rust("counter", "counter")
    if ended == "shutdown":
        b.shutdown()
    else:
        b.fail("the model diverged")
        b.run_forever()
    calls = {
        "spawn": lambda: b.spawn(Echo),
        "spawn_rust": lambda: b.spawn_rust("counter", "another"),
        "supervise": lambda: b.supervise([mycelium.python_child("a", Echo)]),
        "publish": lambda: b.publish(hb()),
        "ref": lambda: b.ref("counter"),
        "join": lambda: b.join("topology.toml", "node"),
    }
    for name, call in calls.items():
        with pytest.raises(mycelium.BusClosed, match=f"Bus.{name} needs a running bus") as raised:
            call()
        if ended == "fail":
            assert "the model diverged" in str(raised.value)
    # Closing again is no error: there is nothing left to stop.
    assert b.shutdown() == {"stopped": 0, "killed": 0}


def test_exception_in_on_start_is_a_clear_start_failed(bus):
    class Broken(mycelium.Actor):
        def on_start(self, args):
            raise RuntimeError("no model file")

    with pytest.raises(mycelium.StartFailed, match="RuntimeError: no model file"):
        bus.spawn(Broken)


def test_async_handlers_and_async_on_start(bus):
    class Slow(mycelium.Actor):
        async def on_start(self, args):
            await asyncio.sleep(0)
            self.base = args

        @mycelium.handler(Heartbeat)
        async def ping(self, msg):
            await asyncio.sleep(0)
            return hb(msg.seq + self.base)

    slow = bus.spawn(Slow, 100)
    assert slow.ask(hb(1)).seq == 101


def test_async_handlers_share_their_threads_event_loops_which_close_with_the_threads():
    import gc
    import threading
    import time

    seen = []

    class Async(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        async def ping(self, msg):
            await asyncio.sleep(0)
            seen.append((threading.get_ident(), asyncio.get_running_loop()))
            return msg

    b = mycelium.Bus()
    b.spawn(Async, service="async")
    # By service name: through the mailbox, so the handlers run on the pool's threads.
    actor = b.ref("async")
    for i in range(50):
        actor.ask(hb(i), timeout=10)
    b.shutdown()
    threads = {t for t, _ in seen}
    loops = {id(lp): lp for _, lp in seen}
    # One loop per thread for its life (held here, so no id is reused), not one per call.
    assert len(seen) == 50 and len(loops) <= len(threads), (len(loops), len(threads))
    # The runtime goes with the bus; each pool thread closes its loop as it ends.
    del b
    gc.collect()
    deadline = time.monotonic() + 20
    while not all(lp.is_closed() for lp in loops.values()):
        assert time.monotonic() < deadline, "an event loop outlived its thread"
        time.sleep(0.01)


def test_an_ask_of_an_idle_actor_runs_its_async_handler_here_unless_a_loop_runs_here(bus):
    import threading

    ran_on = []

    class Async(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        async def ping(self, msg):
            await asyncio.sleep(0)
            ran_on.append(threading.get_ident())
            return hb(msg.seq + 1)

    actor = bus.spawn(Async)
    # No loop runs on this thread: the handler runs here, on this thread's own loop.
    assert actor.ask(hb(1)).seq == 2
    assert ran_on == [threading.get_ident()]

    async def inside_a_loop():
        # This thread runs a loop: no other can run here, so the mailbox takes the ask.
        return actor.ask(hb(2))

    assert asyncio.run(inside_a_loop()).seq == 3
    assert ran_on[1] != threading.get_ident()
    # A failure there is the actor's failure, raised here.
    class Failing(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        async def ping(self, msg):
            await asyncio.sleep(0)
            raise ValueError("async boom")

    failing = bus.spawn(Failing)
    with pytest.raises(mycelium.ActorFailed, match="async boom"):
        failing.ask(hb(1))


def test_an_interrupted_async_handler_leaves_nothing_in_its_threads_loop(bus):
    import signal

    log = []

    class Sleeper(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        async def ping(self, msg):
            if msg.seq == 1:
                # Ctrl-C while the handler awaits, on this (the main) thread.
                asyncio.get_running_loop().call_later(0.01, signal.raise_signal, signal.SIGINT)
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                log.append(f"cancelled {msg.seq}")
                raise
            log.append(f"finished {msg.seq}")
            return msg

    # Ctrl-C raises KeyboardInterrupt even where pytest was started with SIGINT ignored (as a
    # shell does for a command it runs in the background).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            bus.spawn(Sleeper).ask(hb(1))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert log == ["cancelled 1"]
    # The next handler on this thread's loop runs alone: the first does not come back.
    assert bus.spawn(Sleeper).ask(hb(2)).seq == 2
    assert log == ["cancelled 1", "finished 2"]


def test_awaitable_tell_and_ask_from_asyncio(bus):
    echo = bus.spawn(Echo)

    async def main():
        await echo.tell_async(hb(0))
        replies = await asyncio.gather(*(echo.ask_async(hb(i)) for i in range(20)))
        return sorted(r.seq for r in replies)

    assert asyncio.run(main()) == list(range(1, 21))


class Gate(mycelium.Actor):
    """Holds its first message until released; answers how many it has handled."""

    def on_start(self, args):
        self.entered, self.release = args
        self.count = 0

    @mycelium.handler(Heartbeat)
    def beat(self, _: Heartbeat) -> Heartbeat:
        if self.count == 0:
            self.entered.set()
            assert self.release.wait(60)
        self.count += 1
        return hb(self.count)


def test_tell_async_queues_at_once_with_room_and_waits_for_room_when_full(bus):
    import threading

    entered, release = threading.Event(), threading.Event()
    gate = bus.spawn(Gate, (entered, release))
    gate.tell(hb(0))
    assert entered.wait(60)

    async def main():
        # With room the coroutine is done at its first step: nothing awaited, no hand-off.
        first = gate.tell_async(hb(1))
        with pytest.raises(StopIteration):
            first.send(None)
        told = 2
        while True:
            try:
                gate.try_tell(hb(told))
            except mycelium.MailboxFull:
                break
            told += 1
        # Full: it waits for room, without blocking the loop, until the handler lets go.
        waiting = asyncio.ensure_future(gate.tell_async(hb(told)))
        await asyncio.sleep(0)
        assert not waiting.done()
        release.set()
        await asyncio.wait_for(waiting, 60)
        return told

    told = asyncio.run(main())
    # Every message was handled, the waited one last: 0 to `told`, then this ask.
    assert gate.ask(hb(0), timeout=60.0).seq == told + 2


class Tally(mycelium.Actor):
    """Notes each heartbeat's seq, and what it had noted when it stopped."""

    def on_start(self, args):
        self.seen, self.at_stop = args

    @mycelium.handler(Heartbeat)
    def beat(self, h: Heartbeat) -> None:
        self.seen.append(h.seq)

    def on_stop(self, reason):
        self.at_stop.append((len(self.seen), reason))


def test_drain_and_stop_handles_everything_sent_before_it(bus):
    seen, at_stop = [], []
    tally = bus.spawn(Tally, (seen, at_stop))
    for i in range(500):
        tally.tell(hb(i))
    tally.drain_and_stop()
    assert tally.wait_for_stop() == "stopped normally"
    assert seen == list(range(500))
    assert at_stop == [(500, "stopped normally")]
    assert bus.dead_letters() == []
    with pytest.raises(mycelium.ActorStopped):
        tally.drain_and_stop()
    # A drain behind a stop stops nothing: only the tells it was behind are letters.
    other = bus.spawn(Tally, ([], []))
    for i in range(50):
        other.tell(hb(i))
    other.stop()
    try:
        other.drain_and_stop()
    except mycelium.ActorStopped:
        pass  # the stop took effect first
    assert other.wait_for_stop() == "stopped normally"
    assert {letter["message_type"] for letter in bus.dead_letters()} <= {"Heartbeat"}
    bus.spawn_rust("counter", "counter")
    with pytest.raises(ValueError, match="`counter` is a service ref; stop the actor"):
        bus.ref("counter").drain_and_stop()


def test_awaitable_ask_raises_the_failure(bus):
    echo = bus.spawn(Echo)

    async def main():
        await echo.ask_async(hb(sender="boom"))

    with pytest.raises(mycelium.ActorFailed, match="boom on request"):
        asyncio.run(main())


def test_awaitables_settle_once_the_bus_is_gone():
    import gc

    b = mycelium.Bus()
    b.spawn_rust("counter", "c")
    ref = b.ref("c")
    assert ref.ask(hb(1)).seq >= 0
    # The last reference: the native bus and its runtime go with it.
    with pytest.warns(ResourceWarning, match="dropped without shutdown"):
        del b
        gc.collect()
    with pytest.raises(mycelium.ActorStopped):
        ref.ask(hb(1))

    async def main():
        # Bounded: without an answer the future would wait for good.
        with pytest.raises(mycelium.ActorStopped):
            await asyncio.wait_for(ref.ask_async(hb(1)), 10)
        with pytest.raises(mycelium.ActorStopped):
            await asyncio.wait_for(ref.tell_async(hb(2)), 10)

    asyncio.run(main())


def test_a_bus_dropped_while_python_actors_run_is_collected():
    import gc
    import time
    import weakref

    log = []
    b = mycelium.Bus()
    actor = b.spawn(Recording, log)
    inside = b.spawn(Echo)
    # Every path from an actor back to its bus: `self.bus`, and a subscription of its own.
    assert actor.ask(hb(1)).seq == 1
    sub = b.spawn(Subscriber)
    assert sub.ask(hb(0)).seq == 0
    alive = weakref.ref(b)
    with pytest.warns(ResourceWarning, match="dropped without shutdown"):
        del b
        gc.collect()
    assert alive() is None, "the actors' hosts still hold the bus"
    # The runtime ends with it, in the background, and the actors with the runtime (without
    # their on_stop); once one counts as stopped, nothing reaches its handler.
    deadline = time.monotonic() + 20
    for ref in (actor, inside, sub):
        while ref.is_alive():
            assert time.monotonic() < deadline, f"{ref!r} outlived its runtime"
            time.sleep(0.001)
        with pytest.raises(mycelium.ActorStopped):
            ref.ask(hb(2, sender="after"))
    assert log == ["start", "got 1"]


class Subscriber(mycelium.Actor):
    """Holds a subscription and publishes through `self.bus` when asked."""

    def on_start(self, args):
        self.subscribe(Heartbeat, "test.*")

    @mycelium.handler(Heartbeat)
    def ping(self, msg):
        if msg.sender == "test":
            self.publish(hb(msg.seq, sender="published"), "test.echo")
        return msg


def test_an_actor_whose_bus_is_gone_is_told_so():
    import gc

    class Keeper(mycelium.Actor):
        """Keeps itself reachable after its bus is dropped."""

        def on_start(self, kept):
            kept.append(self)

    kept = []
    b = mycelium.Bus()
    b.spawn(Keeper, kept)
    assert kept[0].bus is b
    with pytest.warns(ResourceWarning):
        del b
        gc.collect()
    with pytest.raises(mycelium.BusClosed, match="Keeper has been dropped"):
        kept[0].bus


def test_named_service_reaches_a_python_actor(bus):
    bus.spawn(Echo, service="echo")
    assert "echo" in bus.services()
    assert bus.ref("echo").ask(hb(1)).seq == 2


# A script whose actor is killed by a shutdown while its handler runs: the handler goes on (a
# kill cannot preempt Python code) until the script's own atexit hook, which runs before the
# package's (hooks run last registered first), releases it; it then keeps running for a while
# into the exit, sleeping and waiting on the bus. The exit must wait for it to return.
KILLED_HANDLER = r"""
import atexit, sys, threading, time
import mycelium
from mycelium.trading import Heartbeat

MODE = sys.argv[1]
running = threading.Event()
release = threading.Event()
atexit.register(release.set)


class Slow(mycelium.Actor):
    @mycelium.handler(Heartbeat)
    def ping(self, msg):
        running.set()
        if MODE == "relay":
            # Asks a relay that asks this busy actor back: a cycle the kill ends.
            try:
                self.bus.ref("relay").ask(msg)
            except mycelium.MyceliumError as e:
                # On stderr: the main thread may be writing on stdout now.
                sys.stderr.write(f"ask ended: {type(e).__name__}\n")
        while not release.is_set():
            time.sleep(0.01)
        if MODE == "wait":
            # A wait that never ends by itself (a relay that asks itself), started during the
            # exit: it raises, so the handler can return.
            try:
                loop.ask(msg)
            except mycelium.BusClosed:
                print("wait ended: BusClosed", flush=True)
        for _ in range(20):
            time.sleep(0.01)
        print("handler returned", flush=True)


other = mycelium.Bus()
other.spawn_rust("relay", "loop", "loop")
loop = other.ref("loop")


with mycelium.Bus() as bus:
    slow = bus.spawn(Slow, service="slow")
    if MODE == "relay":
        bus.spawn_rust("relay", "relay", "slow")
    slow.tell(Heartbeat(ts_ns=0, seq=1, sender="main"))
    running.wait()
    sys.stdout.write(f"killed {bus.shutdown(0.2)['killed']}\n")
    sys.stdout.flush()
"""


@pytest.mark.parametrize("mode", ["sleep", "relay", "wait"])
def test_exit_waits_for_the_handler_of_a_killed_actor(tmp_path, mode):
    import subprocess
    import sys

    script = tmp_path / "killed_handler.py"
    script.write_text(KILLED_HANDLER)
    done = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    killed = [int(line.split()[1]) for line in lines if line.startswith("killed ")]
    assert killed and killed[0] >= 1, done.stdout
    assert lines[-1] == "handler returned", done.stdout
    assert ("wait ended: BusClosed" in lines) == (mode == "wait"), done.stdout

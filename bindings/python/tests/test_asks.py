"""Asks with a timeout and `ask_async`: an idle actor answers on the asker's thread (no
thread hand-off); a busy one through its mailbox, where the timeout holds."""

import asyncio
import threading

import pytest

import mycelium
from mycelium.trading import Heartbeat
from conftest import hb


class Where(mycelium.Actor):
    """Answers seq + 1, noting the thread each handler ran on; `sender="hold"` waits for
    the event given as args before it returns."""

    def on_start(self, args):
        self.gate = args
        self.threads = []
        self.seen = []

    @mycelium.handler(Heartbeat)
    def ping(self, msg: Heartbeat) -> Heartbeat:
        self.threads.append(threading.get_ident())
        self.seen.append(msg.seq)
        if msg.sender == "hold":
            self.gate.wait()
        return Heartbeat(ts_ns=0, seq=msg.seq + 1, sender=str(threading.get_ident()))


def test_an_ask_with_a_timeout_to_an_idle_actor_runs_on_the_calling_thread(bus):
    actor = bus.spawn(Where, threading.Event())
    reply = actor.ask(hb(1), timeout=30.0)
    assert reply.seq == 2
    assert reply.sender == str(threading.get_ident())


def test_an_ask_with_a_timeout_to_a_busy_actor_waits_in_the_mailbox_and_times_out(bus):
    release = threading.Event()
    actor = bus.spawn(Where, release)
    actor.tell(hb(1, sender="hold"))  # its handler holds the actor on a pool thread
    with pytest.raises(mycelium.AskTimeout, match="no reply within 0.05 s"):
        actor.ask(hb(2), timeout=0.05)
    release.set()
    # The timed-out ask was still handled, in order, and the actor goes on.
    assert actor.ask(hb(3), timeout=30.0).seq == 4


def test_a_handler_on_the_calling_thread_that_outlasts_the_timeout_raises_ask_timeout(bus):
    actor = bus.spawn(Where, threading.Event())
    # A timeout of zero has always passed by the time the handler returns: it ran here (it
    # cannot be cut short), and its reply is dropped, as a late reply through the mailbox is.
    with pytest.raises(mycelium.AskTimeout, match="ran on this thread"):
        actor.ask(hb(7), timeout=0.0)
    # The message was handled, once.
    assert actor.ask(hb(8)).seq == 9
    assert actor.ask(hb(0), timeout=30.0).seq == 1


def test_ask_async_to_an_idle_actor_answers_inside_the_event_loop(bus):
    actor = bus.spawn(Where, threading.Event())

    async def main():
        return threading.get_ident(), await actor.ask_async(hb(1), timeout=30.0)

    loop_thread, reply = asyncio.run(main())
    assert reply.seq == 2
    assert reply.sender == str(loop_thread)


def test_ask_async_to_a_busy_actor_goes_through_the_mailbox_without_blocking_the_loop(bus):
    release = threading.Event()
    actor = bus.spawn(Where, release)

    async def main():
        actor.tell(hb(1, sender="hold"))
        asking = asyncio.ensure_future(actor.ask_async(hb(2), timeout=30.0))
        await asyncio.sleep(0)  # let the ask start: it finds the actor busy
        assert not asking.done()
        release.set()  # the loop runs on while the ask waits
        return await asking

    reply = asyncio.run(main())
    assert reply.seq == 3
    assert reply.sender != str(threading.get_ident())


def test_ask_async_with_a_timeout_to_a_busy_actor_times_out(bus):
    release = threading.Event()
    actor = bus.spawn(Where, release)

    async def main():
        actor.tell(hb(1, sender="hold"))
        with pytest.raises(mycelium.AskTimeout):
            await actor.ask_async(hb(2), timeout=0.05)
        release.set()
        return await actor.ask_async(hb(3), timeout=30.0)

    assert asyncio.run(main()).seq == 4


class Log(mycelium.Actor):
    """Answers with how many messages it has handled, and their seqs in order."""

    def on_start(self, args):
        self.seen = []

    @mycelium.handler(Heartbeat)
    def ping(self, msg: Heartbeat) -> Heartbeat:
        self.seen.append(msg.seq)
        return Heartbeat(ts_ns=0, seq=len(self.seen), sender=",".join(map(str, self.seen)))


def test_gathered_ask_async_keep_their_order_behind_tells(bus):
    actor = bus.spawn(Log)

    async def main():
        for i in range(100):
            actor.tell(hb(i))
        # Fewer than the mailbox holds: senders that wait for room are not ordered.
        return await asyncio.gather(*(actor.ask_async(hb(1000 + i)) for i in range(500)))

    replies = asyncio.run(main())
    # Each ask was handled after the 100 tells and the asks gathered before it.
    assert [r.seq for r in replies] == [101 + i for i in range(500)]
    assert replies[-1].sender.split(",") == [str(i) for i in range(100)] + [
        str(1000 + i) for i in range(500)
    ]


def test_every_ask_is_handled_once_and_in_order_whatever_the_path(bus):
    actor = bus.spawn(Log)

    async def main():
        actor.tell(hb(1))
        a = await actor.ask_async(hb(2), timeout=30.0)
        b = actor.ask(hb(3), timeout=30.0)
        c = await actor.ask_async(hb(4))
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a.sender == "1,2"
    assert b.sender == "1,2,3"
    assert c.sender == "1,2,3,4"


def test_a_plain_object_asked_with_a_timeout_or_async_runs_on_the_calling_thread(bus):
    class Plain(mycelium.Actor):
        def on_start(self, args):
            pass

        @mycelium.handler(dict)
        def on_dict(self, msg: dict) -> dict:
            return {"thread": threading.get_ident(), "same": msg}

    actor = bus.spawn(Plain)
    sent = {"x": 1}
    reply = actor.ask(sent, timeout=30.0)
    assert reply["same"] is sent
    assert reply["thread"] == threading.get_ident()

    async def main():
        return threading.get_ident(), await actor.ask_async(sent, timeout=30.0)

    loop_thread, reply = asyncio.run(main())
    assert reply["same"] is sent
    assert reply["thread"] == loop_thread


def test_asks_with_a_timeout_on_virtual_time_go_through_the_mailbox(vbus):
    actor = vbus.spawn(Where, threading.Event())
    reply = actor.ask(hb(1), timeout=30.0)
    assert reply.seq == 2
    assert reply.sender != str(threading.get_ident())

    async def main():
        return await actor.ask_async(hb(5), timeout=30.0)

    assert asyncio.run(main()).seq == 6


class AsyncAsker(mycelium.Actor):
    """An `async def` handler that awaits two asks at once (the Rust counter and a Python
    actor) and a `tell_async`, and notes the bus time it resumed at."""

    def on_start(self, args):
        self.done, self.peer = args

    @mycelium.handler(str)
    async def go(self, _: str) -> None:
        counter = self.bus.ref("counter")
        started = self.bus.now()
        both = await asyncio.gather(
            counter.ask_async(hb(3), timeout=1.0),
            self.peer.ask_async(hb(10), timeout=1.0),
        )
        await counter.tell_async(hb(4))
        after = await counter.ask_async(hb(0), timeout=1.0)
        self.done["result"] = ([r.seq for r in both], after.seq, self.bus.now() - started)
        self.done["event"].set()


def test_an_async_handler_awaits_asks_on_a_virtual_time_bus():
    # The handler's event loop gives its turn back to the bus while it waits: the bus then
    # answers (before, the loop waited holding the turn, and the bus with it, for ever).
    for _ in range(2):
        done = {"event": threading.Event()}
        with mycelium.Bus(schema=mycelium.trading, virtual_time=True) as bus:
            bus.spawn_rust("counter", "counter")
            peer = bus.spawn(Where, threading.Event())
            asker = bus.spawn(AsyncAsker, (done, peer))
            asker.tell("go")
            assert done["event"].wait(30), "the async handler never resumed"
        counted, total, waited = done["result"]
        assert counted[1] == 11
        assert total == counted[0] + 4
        assert waited == 0.0

"""Rust and Python actors talking in both directions in one process."""

import mycelium
from mycelium.trading import Heartbeat, Quote
from conftest import Echo, hb


def test_rust_asks_python(bus):
    bus.spawn(Echo, service="model")
    relay = bus.spawn_rust("relay", "relay", "model")
    # relay adds 1 and asks the Python model, which adds 1.
    assert relay.ask(hb(1)).seq == 3


def test_python_asks_rust_which_asks_python_back_without_deadlock(bus):
    class Front(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            # A synchronous ask from inside a handler, to a Rust actor that asks a Python
            # actor back: the wait releases the GIL and this callback thread.
            return self.bus.ref("relay").ask(msg)

    class AsyncFront(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        async def ping(self, msg):
            return await self.bus.ref("relay").ask_async(msg)

    bus.spawn(Echo, service="back")
    bus.spawn_rust("relay", "relay", "back")
    front = bus.spawn(Front)
    async_front = bus.spawn(AsyncFront)
    for i in range(20):
        assert front.ask(hb(i)).seq == i + 2
        assert async_front.ask(hb(i)).seq == i + 2


def test_a_python_failure_behind_a_rust_actor(bus):
    bus.spawn(Echo, service="model")
    relay = bus.spawn_rust("relay", "relay", "model")
    reply = relay.ask(hb(sender="boom"))
    assert reply.seq == 0 and "boom on request" in reply.sender


def test_python_publishes_a_rust_actor_receives(bus):
    recorder = bus.spawn_rust("quote_recorder", "recorder", "md.quote.*")
    for i in range(10):
        q = Quote(ts_ns=i, instrument=1, bid_px=99.0, bid_qty=1.0, ask_px=101.0, ask_qty=1.0)
        assert bus.publish(q, "md.quote.AAPL", key=1) == 1
    seen = recorder.ask(hb())
    assert seen.seq == 10 and seen.ts_ns == 9


def test_python_subscribes_and_publishes(bus):
    class Book(mycelium.Actor):
        def on_start(self, args):
            self.mids = []
            self.sub = self.subscribe(Quote, "md.quote.*")

        @mycelium.handler(Quote)
        def quote(self, q):
            self.mids.append((q.bid_px + q.ask_px) / 2)

        @mycelium.handler(Heartbeat)
        def count(self, msg):
            return hb(len(self.mids), sender=",".join(f"{m:g}" for m in self.mids))

    class Feed(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def publish_some(self, msg):
            for i in range(msg.seq):
                self.publish(
                    Quote(ts_ns=i, instrument=2, bid_px=float(i), bid_qty=1.0, ask_px=i + 2.0, ask_qty=1.0),
                    "md.quote.MSFT",
                )
            return msg

    book = bus.spawn(Book)
    feed = bus.spawn(Feed)
    feed.ask(hb(3))
    # Publish waits for delivery into the subscriber's mailbox, so the count is complete.
    reply = book.ask(hb())
    assert reply.seq == 3 and reply.sender == "1,2,3"


def test_a_subscription_belongs_to_the_incarnation(bus):
    class Sub(mycelium.Actor):
        def on_start(self, args):
            self.n = 0
            self.subscribe(Quote, "md.quote.X")

        @mycelium.handler(Quote)
        def quote(self, q):
            self.n += 1

        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            if msg.sender == "boom":
                raise RuntimeError("crash")
            return hb(self.n)

    sup = bus.supervise([mycelium.python_child("sub", Sub)], backoff=mycelium.Backoff(0.001, 1, 0.001))
    q = Quote(ts_ns=0, instrument=3, bid_px=1.0, bid_qty=1.0, ask_px=1.0, ask_qty=1.0)
    assert bus.publish(q, "md.quote.X") == 1
    try:
        sup.child("sub").ask(hb(sender="boom"))
    except mycelium.ActorFailed:
        pass
    sup.child("sub").ask(hb())  # restarted: subscribed again, once
    assert bus.publish(q, "md.quote.X") == 1
    assert sup.child("sub").ask(hb()).seq == 1


def test_publish_errors(bus):
    import pytest

    with pytest.raises(mycelium.MessageTypeError):
        bus.publish("not a message")
    q = Quote(ts_ns=0, instrument=3, bid_px=1.0, bid_qty=1.0, ask_px=1.0, ask_qty=1.0)
    # A topic name that breaks the grammar is a bad argument, not a type error.
    with pytest.raises(ValueError, match="`bad topic!` is not a topic name: it contains whitespace"):
        bus.publish(q, "bad topic!")


def test_every_generated_message_can_cross_to_rust_topics():
    from mycelium import _native, trading

    assert sorted(_native.Bus.contract_type_ids()) == sorted(trading.REGISTRY)

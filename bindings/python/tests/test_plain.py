"""Plain Python objects between the Python actors of one bus: passed by reference, no
schema, handlers chosen by class; refused, with a message that says so, where they would
leave Python."""

import dataclasses

import pytest

import mycelium
from mycelium.trading import Heartbeat


@dataclasses.dataclass
class Move:
    dx: int


class Base:
    pass


class Derived(Base):
    pass


class Keeper(mycelium.Actor):
    def on_start(self, args):
        self.items = []

    @mycelium.handler(dict)
    def put(self, d):
        self.items.append(d)
        d["seen"] = True  # the sender's object: passed by reference
        return len(self.items)

    @mycelium.handler(Move)
    def move(self, m):
        return Move(m.dx * 2)

    @mycelium.handler(Base)
    def base(self, b):
        return ("base", type(b).__name__)

    @mycelium.handler(list)
    def silent(self, items):
        return None

    @mycelium.handler(Heartbeat)
    def ping(self, hb):
        return Heartbeat(ts_ns=0, seq=hb.seq + 1, sender="keeper")


def test_plain_objects_by_reference_with_handlers_by_class():
    with mycelium.Bus() as bus:
        keeper = bus.spawn(Keeper)
        d = {"a": 1}
        assert keeper.ask(d) == 1
        assert d["seen"] is True
        keeper.tell({"b": 2})
        keeper.try_tell({"c": 3})
        # Through the mailbox too (a timeout skips the direct call); the reply is the object
        # the handler made.
        assert keeper.ask(Move(3), timeout=5.0) == Move(6)
        assert keeper.ask(Move(1)) == Move(2)
        # The nearest class in the MRO.
        assert keeper.ask(Derived()) == ("base", "Derived")
        assert keeper.ask({"d": 4}, timeout=5.0) == 4
        # Schema messages still go by their schema.
        assert keeper.ask(Heartbeat(ts_ns=0, seq=1, sender="")).seq == 2


def test_a_plain_object_without_a_handler_is_refused_before_sending():
    with mycelium.Bus() as bus:
        keeper = bus.spawn(Keeper)
        with pytest.raises(mycelium.MessageTypeError, match="Keeper has no handler for int"):
            keeper.tell(5)
        with pytest.raises(mycelium.MessageTypeError, match="Keeper has no handler for str"):
            keeper.ask("x")
        with pytest.raises(mycelium.MessageTypeError, match="returned None to an ask of list"):
            keeper.ask([1])
        assert keeper.ask({}) == 1  # nothing was queued by the refused calls


def test_python_actors_ask_each_other_with_plain_objects():
    class Front(mycelium.Actor):
        def on_start(self, back):
            self.back = back

        @mycelium.handler(tuple)
        def relay(self, t):
            return self.back.ask({"from": t})

    with mycelium.Bus() as bus:
        back = bus.spawn(Keeper)
        front = bus.spawn(Front, back)
        assert front.ask((1, 2)) == 1
        assert front.ask((3,), timeout=5.0) == 2


def test_a_plain_object_cannot_leave_python():
    with mycelium.Bus() as bus:
        bus.spawn(Keeper, service="keeper")
        counter = bus.spawn_rust("counter", "counter")
        for send in (bus.ref("keeper").tell, bus.ref("keeper").ask, counter.tell, counter.ask):
            with pytest.raises(mycelium.MessageTypeError, match="`dict` cannot leave Python"):
                send({"a": 1})
        with pytest.raises(mycelium.MessageTypeError, match="`dict` cannot leave Python"):
            bus.publish({"a": 1})


def test_a_plain_reply_to_a_schema_message_fails_the_handler():
    class Loose(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, hb):
            return {"seq": hb.seq}

    with mycelium.Bus() as bus:
        loose = bus.spawn(Loose)
        with pytest.raises(mycelium.ActorFailed, match="Loose.ping returned `dict`"):
            loose.ask(Heartbeat(ts_ns=0, seq=1, sender=""))


def test_a_failing_plain_handler_fails_the_actor_and_its_supervisor_restarts_it():
    class Fragile(mycelium.Actor):
        @mycelium.handler(str)
        def text(self, s):
            if s == "boom":
                raise ValueError("boom")
            return s.upper()

    with mycelium.Bus() as bus:
        sup = bus.supervise([mycelium.python_child("fragile", Fragile)])
        fragile = sup.child("fragile")
        with pytest.raises(mycelium.ActorFailed, match="ValueError: boom"):
            fragile.ask("boom")
        sup.wait_restarts(1)
        assert fragile.ask("ok") == "OK"


def test_plain_objects_from_asyncio_code():
    import asyncio

    async def main(keeper):
        await keeper.tell_async({"x": 1})
        assert await keeper.ask_async(Move(5)) == Move(10)
        assert await keeper.ask_async({"y": 2}, timeout=5.0) == 2
        with pytest.raises(mycelium.MessageTypeError, match="Keeper has no handler for float"):
            await keeper.ask_async(1.5)

    with mycelium.Bus() as bus:
        asyncio.run(main(bus.spawn(Keeper)))

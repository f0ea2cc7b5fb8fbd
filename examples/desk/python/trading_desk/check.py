"""Checks of the desk's wheel as a Python user meets it: the engine listed, started supervised,
its fills on the schema's topic reaching a Python subscriber, orders published from Python
reaching the engine as a Rust subscriber, and its refusals (another
schema's bus, an argument it does not take). run.sh runs it in the wheel's virtualenv; it
exits non-zero with the failed check's text."""

from __future__ import annotations

from trading_desk import desk
import mycelium
import mycelium.trading


def order(order_id: int, side: desk.Side, qty: int) -> desk.NewOrder:
    return desk.NewOrder(order_id=order_id, side=side, qty=qty, mark=100.0)


class FillBook(mycelium.Actor):
    """Keeps the fills the engine publishes on `desk.fills`; asked with any Python object
    (a plain message between Python actors), answers with the fills seen so far."""

    def on_start(self, _args: object) -> None:
        self.fills: list[desk.Fill] = []
        self.subscribe(desk.Fill, "desk.fills")

    @mycelium.handler(desk.Fill)
    def fill(self, fill: desk.Fill) -> None:
        self.fills.append(fill)

    @mycelium.handler(str)
    def seen(self, _query: str) -> list[desk.Fill]:
        return list(self.fills)


def main() -> None:
    listed = {name: (arg, package) for name, arg, package, _ in mycelium.rust_actors()}
    assert listed["execution"] == ("optional: the spread in ticks (default 2)", "desk"), listed
    assert "counter" in listed, listed

    # A bus of no schema yet adopts the engine's, from the module its registration names.
    with mycelium.Bus() as bus:
        bus.spawn_rust("execution", "execution", arg="4")
        assert bus.schema is desk
        fill = bus.ref("execution").ask(order(1, desk.Side.Buy, 5))
        assert (fill.price, fill.position) == (100.02, 5), fill

    # Supervised, as a child of a tree started from Python, reached by its service name.
    with mycelium.Bus(schema=desk) as bus:
        tree = bus.supervise([mycelium.rust_child("engine", "execution", service="execution")])
        assert tree.children() == ["engine"]
        assert bus.ref("execution").ask(order(1, desk.Side.Sell, 3)).position == -3
        assert bus.ref("execution").ask(order(2, desk.Side.Sell, 3)).position == -6

    # A topic of the desk's schema between the Rust engine and a Python actor: each fill the
    # engine publishes (before it answers the order) is in the book's mailbox before the
    # question that follows.
    with mycelium.Bus(schema=desk) as bus:
        book = bus.spawn(FillBook, None)
        bus.spawn_rust("execution", "execution")
        engine = bus.ref("execution")
        answered = [engine.ask(order(i, desk.Side.Buy, 2)) for i in (1, 2, 3)]
        seen = book.ask("fills so far")
        assert [f.order_id for f in seen] == [1, 2, 3], seen
        assert seen == answered, (seen, answered)
        assert seen[-1].position == 6, seen

    # The other way: orders that Python code publishes on `desk.orders` reach the engine, a
    # Rust subscriber, as the Rust type `NewOrder`; it fills each and publishes the fill.
    with mycelium.Bus(schema=desk) as bus:
        book = bus.spawn(FillBook, None)
        bus.spawn_rust("execution", "execution")
        assert bus.publish(order(7, desk.Side.Sell, 4)) == 1
        # An ask sent after the publication is handled after it: that fill is out by then.
        last = bus.ref("execution").ask(order(8, desk.Side.Sell, 1))
        seen = book.ask("fills so far")
        assert [(f.order_id, f.position) for f in seen] == [(7, -4), (8, -5)], seen
        assert seen[-1] == last, (seen, last)

    # Refusals: the engine's own argument check, and a bus of another schema.
    with mycelium.Bus(schema=desk) as bus:
        try:
            bus.spawn_rust("execution", "execution", arg="wide")
        except ValueError as e:
            assert "the spread is a whole number of ticks, not \"wide\"" in str(e), e
        else:
            raise AssertionError("an argument the engine refuses was accepted")
        assert bus.services() == []
    with mycelium.Bus(schema=mycelium.trading) as bus:
        try:
            bus.spawn_rust("execution", "execution")
        except mycelium.SchemaMismatch as e:
            assert "the Rust actor `execution` speaks schema `desk`" in str(e), e
            assert "this bus speaks schema `trading`" in str(e), e
        else:
            raise AssertionError("the engine started on a bus of another schema")
    print(
        "the desk's wheel: the engine listed, supervised, its fills received on desk.fills, "
        "orders published on desk.orders filled, refused as documented"
    )


if __name__ == "__main__":
    main()

"""A user's own schema: `desk.yaml`, generated with the codegen binary and imported, used for
handlers, tell/ask, publish/subscribe and supervision; a bus speaks one schema, and refuses
a class of another schema or a module generated from an older version of the file."""

import asyncio

import pytest

import mycelium
from mycelium.trading import Heartbeat
from schemas import DESK_YAML, codegen, generate


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    return generate(DESK_YAML, tmp_path_factory.mktemp("desk"), "desk")


@pytest.fixture(scope="module")
def desk_old(tmp_path_factory):
    """The module of an older version of desk.yaml: `Fill` had no price yet."""
    d = tmp_path_factory.mktemp("desk_old")
    old = d / "desk.yaml"
    old.write_text(DESK_YAML.read_text().replace("      - { name: price, type: f64 }\n", ""))
    return generate(old, d / "out", "desk_old")


def make_trader(desk):
    class Trader(mycelium.Actor):
        def on_start(self, args):
            self.filled = 0

        @mycelium.handler(desk.NewOrder)
        def order(self, o):
            self.filled += o.qty
            return desk.Fill(order_id=o.order_id, qty=self.filled, price=101.5)

    return Trader


def order(desk, n=1, qty=10):
    return desk.NewOrder(order_id=n, side=desk.Side.Buy, qty=qty, symbol="ESZ6")


def test_the_generated_module_carries_the_digest_codegen_prints(desk):
    assert desk.SCHEMA_DIGEST == codegen("digest", str(DESK_YAML)).strip()
    assert desk.SOURCE == str(DESK_YAML)


def test_tell_and_ask_with_the_users_schema(desk):
    with mycelium.Bus(schema=desk) as bus:
        assert bus.schema is desk
        trader = bus.spawn(make_trader(desk))
        trader.tell(order(desk, 1, qty=5))
        trader.try_tell(order(desk, 2, qty=5))
        fill = trader.ask(order(desk, 3, qty=1))
        assert isinstance(fill, desk.Fill)
        assert (fill.order_id, fill.qty, fill.price) == (3, 11, 101.5)
        # Through the mailbox too (a timeout skips the direct call).
        assert trader.ask(order(desk, 4, qty=1), timeout=5.0).qty == 12
        assert asyncio.run(trader.ask_async(order(desk, 5, qty=1))).qty == 13


def test_a_bus_without_a_schema_takes_the_first_one_used(desk):
    with mycelium.Bus() as bus:
        assert bus.schema is None
        trader = bus.spawn(make_trader(desk))
        assert bus.schema is desk
        assert trader.ask(order(desk)).qty == 10
        with pytest.raises(mycelium.SchemaMismatch):
            bus.spawn_rust("counter", "counter")


def test_a_class_of_another_schema_is_refused_naming_both_digests(desk):
    trading = mycelium.trading
    with mycelium.Bus(schema=desk) as bus:
        trader = bus.spawn(make_trader(desk), service="trader")
        for send in (trader.tell, trader.ask, bus.ref("trader").ask, bus.publish):
            with pytest.raises(mycelium.SchemaMismatch) as e:
                send(Heartbeat(ts_ns=0, seq=1, sender="x"))
            text = str(e.value)
            assert "Heartbeat" in text
            assert trading.SCHEMA_DIGEST in text and desk.SCHEMA_DIGEST in text
            assert "mycelium-codegen python" in text and "desk.yaml" in text

        class Other(mycelium.Actor):
            @mycelium.handler(Heartbeat)
            def ping(self, hb):
                return hb

        with pytest.raises(mycelium.SchemaMismatch, match="Heartbeat is from schema `trading`"):
            bus.spawn(Other)
        with pytest.raises(mycelium.SchemaMismatch, match="Heartbeat"):
            bus.supervise([mycelium.python_child("other", Other)])
        # The bus goes on.
        assert trader.ask(order(desk)).qty == 10


def test_a_module_of_an_older_version_of_the_file_is_refused(desk, desk_old):
    assert desk_old.SCHEMA_DIGEST != desk.SCHEMA_DIGEST
    with mycelium.Bus(schema=desk) as bus:
        trader = bus.spawn(make_trader(desk))
        stale = order(desk_old)
        with pytest.raises(mycelium.SchemaMismatch) as e:
            trader.ask(stale)
        text = str(e.value)
        assert "desk_old.NewOrder was generated from another version of schema `desk`" in text
        assert desk_old.SCHEMA_DIGEST in text and desk.SCHEMA_DIGEST in text
        assert f"mycelium-codegen python {desk_old.SOURCE} -o" in text
        with pytest.raises(mycelium.SchemaMismatch, match="another version"):
            bus.spawn(make_trader(desk_old))


def test_a_reply_of_another_schema_fails_the_handler(desk):
    class Confused(mycelium.Actor):
        @mycelium.handler(desk.NewOrder)
        def order(self, o):
            return Heartbeat(ts_ns=0, seq=1, sender="wrong schema")

    with mycelium.Bus(schema=desk) as bus:
        confused = bus.spawn(Confused)
        with pytest.raises(mycelium.ActorFailed, match="SchemaMismatch"):
            confused.ask(order(desk))


def test_publish_and_subscribe_with_the_users_schema(desk):
    class Book(mycelium.Actor):
        def on_start(self, pattern):
            self.seen = []
            self.subscribe(desk.NewOrder, pattern)
            self.subscribe(desk.Fill)

        @mycelium.handler(desk.NewOrder)
        def order(self, o):
            self.seen.append(("order", o.order_id))

        @mycelium.handler(desk.Fill)
        def fill(self, f):
            self.seen.append(("fill", f.order_id))
            # Asked: what it has seen, as a fill whose qty counts the messages.
            return desk.Fill(order_id=f.order_id, qty=len(self.seen), price=0.0)

    with mycelium.Bus(schema=desk) as bus:
        book = bus.spawn(Book, "desk.*")
        assert bus.publish(order(desk, 1)) == 1
        assert bus.publish(order(desk, 2), "desk.other", key=9) == 1
        assert bus.publish(desk.Fill(order_id=3, qty=1, price=1.0)) >= 1
        # Nobody subscribed there.
        assert bus.publish(order(desk, 4), "elsewhere") == 0
        # Publications are told in order; the ask queues behind them.
        assert book.ask(desk.Fill(order_id=5, qty=0, price=0.0), timeout=10.0).qty == 4
        with pytest.raises(mycelium.MessageTypeError, match="`dict` cannot leave Python"):
            bus.publish({"order_id": 1})
        with pytest.raises(mycelium.SchemaMismatch):
            bus.publish(Heartbeat(ts_ns=0, seq=1, sender="x"))


def test_supervised_children_of_the_users_schema(desk):
    with mycelium.Bus(schema=desk) as bus:
        sup = bus.supervise([mycelium.python_child("trader", make_trader(desk), service="trader")])
        assert sup.child("trader").ask(order(desk, qty=2)).qty == 2
        assert bus.ref("trader").ask(order(desk, qty=3)).qty == 5


def test_builtin_rust_actors_speak_the_example_schema_only(desk):
    with mycelium.Bus(schema=desk) as bus:
        with pytest.raises(mycelium.SchemaMismatch, match="built-in Rust actor `counter`"):
            bus.spawn_rust("counter", "counter")
        with pytest.raises(mycelium.SchemaMismatch, match="built-in Rust actor `relay`"):
            bus.supervise([mycelium.rust_child("relay", "relay", "x", service="relay")])
        assert bus.services() == []
    with mycelium.Bus() as bus:
        counter = bus.spawn_rust("counter", "counter")
        assert bus.schema is mycelium.trading
        assert counter.ask(Heartbeat(ts_ns=0, seq=4, sender="")).seq == 4


def test_join_needs_the_bus_schema(desk, tmp_path):
    with mycelium.Bus() as bus:
        with pytest.raises(mycelium.SchemaMismatch, match="Bus.join needs to know the schema"):
            bus.join(str(tmp_path / "topology.toml"), "a")


NODE_B = """
import sys
sys.path.insert(0, sys.argv[2])
import desk
import mycelium

class Trader(mycelium.Actor):
    @mycelium.handler(desk.NewOrder)
    def order(self, o):
        return desk.Fill(order_id=o.order_id, qty=o.qty * 10, price=99.0)

with mycelium.Bus(schema=desk) as bus:
    bus.spawn(Trader, service="trader")
    with bus.join(sys.argv[1], "b") as node:
        # Node a's clerk, over the link: the link is up both ways.
        fill = node.ref("clerk").ask(
            desk.NewOrder(order_id=1, side=desk.Side.Sell, qty=2, symbol="b"), timeout=60.0
        )
        print("ready", fill.qty, node.schema_digest == desk.SCHEMA_DIGEST, flush=True)
        sys.stdin.read()
"""


def test_nodes_speak_the_users_schema(desk, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    monkeypatch.setenv("MYCELIUM_PY_DESK_TEST_SECRET", "a secret of at least sixteen bytes")
    topology = tmp_path / "topology.toml"
    topology.write_text(
        'secret_env = "MYCELIUM_PY_DESK_TEST_SECRET"\n'
        '[[node]]\nname = "a"\nendpoint = "unix:a.sock"\nservices = ["clerk"]\n'
        '[[node]]\nname = "b"\nendpoint = "unix:b.sock"\nservices = ["trader"]\n'
    )
    script = tmp_path / "node_b.py"
    script.write_text(NODE_B)
    with mycelium.Bus(schema=desk) as bus:
        bus.spawn(make_trader(desk), service="clerk")
        with bus.join(str(topology), "a") as node:
            assert node.schema_digest == desk.SCHEMA_DIGEST
            child = subprocess.Popen(
                [sys.executable, str(script), str(topology), os.path.dirname(desk.__file__)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                line = child.stdout.readline()
                assert line.split() == ["ready", "2", "True"], child.stderr.read() if not line else line
                fill = node.ref("trader").ask(order(desk, 5, qty=3), timeout=60.0)
                assert isinstance(fill, desk.Fill) and (fill.order_id, fill.qty) == (5, 30)
                node.ref("trader").tell(order(desk, 6))
                with pytest.raises(mycelium.MessageTypeError, match="`dict` cannot leave Python"):
                    node.ref("trader").tell({"order_id": 1})
                with pytest.raises(mycelium.SchemaMismatch, match="Heartbeat"):
                    node.ref("trader").ask(Heartbeat(ts_ns=0, seq=1, sender=""), timeout=60.0)
                with pytest.raises(mycelium.MessageTypeError, match="topics across nodes"):
                    node.forward_topic(desk.NewOrder)
            finally:
                child.stdin.close()
                try:
                    child.wait(timeout=60)
                finally:
                    if child.poll() is None:
                        child.kill()
                        child.wait()
                    child.stdout.close()
                    child.stderr.close()


def test_a_bus_schema_must_be_a_generated_module():
    import os

    with pytest.raises(TypeError, match="module `os` is not a module generated by mycelium-codegen"):
        mycelium.Bus(schema=os)
    with pytest.raises(TypeError, match="takes the module mycelium-codegen generated"):
        mycelium.Bus(schema="desk")  # type: ignore[arg-type]


def test_a_journal_recorded_anywhere_carries_the_schema_text_of_its_module(tmp_path, monkeypatch):
    """The generated module carries its schema's canonical text (`SCHEMA_CANONICAL`), so a
    journal recorded where the schema file it was generated from cannot be found (another
    working directory) still has the text in its header."""
    from mycelium import journal

    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "journal")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec):
        pass
    rec.close()
    j = journal.Journal(path)
    assert j.schema_digest == mycelium.trading.SCHEMA_DIGEST
    assert "Quote" in j.schema_text and "NewOrder" in j.schema_text


def test_a_journal_recorded_with_the_users_schema_carries_its_text(desk, tmp_path):
    """The schema file the module was generated from (its `SOURCE`) goes in the journal's
    header, so a reader decodes the contract messages without the module."""
    from mycelium import journal

    path = str(tmp_path / "journal")
    rec = journal.Recorder(path, schema=desk)
    with mycelium.Bus(schema=desk, record=rec) as bus:
        assert bus.spawn(make_trader(desk)).ask(order(desk, 1, qty=5)).qty == 5
    rec.close()
    j = journal.Journal(path)
    assert j.schema_digest == desk.SCHEMA_DIGEST
    assert "NewOrder" in j.schema_text and "Fill" in j.schema_text
    handled = j.rows(kind="handled")
    assert [r.type for r in handled] == ["NewOrder"]

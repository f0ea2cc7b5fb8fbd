"""What Python users read: exception names, error texts and reprs, in the package's words
rather than the Rust crates' (no panics, Rust type paths or Rust method names)."""

import pickle

import pytest

import mycelium
import mycelium.distributed
from mycelium.backtest import Strategy, run_strategy
from mycelium.trading import Heartbeat, Quote
from conftest import Echo, hb

RUST_WORDS = (
    "panicked",
    "ForeignCall",
    "ForeignMessage",
    "ForeignActor",
    "Exports::",
    "Published<",
    "::",
    "incoming publication",
)


def assert_python_words(text):
    for word in RUST_WORDS:
        assert word not in text, f"{word!r} in {text!r}"


EXCEPTIONS = [n for n in mycelium.__all__ if isinstance(getattr(mycelium, n), type) and issubclass(getattr(mycelium, n), Exception)]


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_exceptions_print_and_pickle_as_the_packages(name):
    cls = getattr(mycelium, name)
    assert cls.__module__ == "mycelium" and repr(cls) == f"<class 'mycelium.{name}'>"
    assert type(pickle.loads(pickle.dumps(cls("x")))) is cls
    assert mycelium.distributed.ShardError.__module__ == "mycelium.distributed"


def test_failure_texts_name_no_rust_internals(bus):
    class Boom(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            raise ValueError("the model diverged")

    boom = bus.spawn(Boom, service="boom")
    texts = []
    for call in (lambda: bus.ref("boom").ask(hb()), lambda: boom.ask(hb()), lambda: boom.tell(hb())):
        with pytest.raises(mycelium.MyceliumError) as raised:
            call()
        texts.append(str(raised.value))
    texts.append(boom.wait_for_stop())
    for letter in bus.dead_letters():
        texts.extend(letter.values())
    assert texts[0].startswith("service `boom` failed on this request: it raised in a handler: ValueError: the model diverged")
    assert "the actor has stopped (failed: it raised in a handler: ValueError: the model diverged)" in texts[2]
    for text in texts:
        assert_python_words(text)
    with pytest.raises(ValueError) as raised:
        bus.publish(hb(), "bad..topic")
    assert_python_words(str(raised.value))
    bus.spawn_rust("counter", "counter")
    with pytest.raises(mycelium.MessageTypeError) as raised:
        bus._native.service("counter").ask(Quote.TYPE_ID, b"", None)
    assert "service `counter` does not handle Quote (type id" in str(raised.value)


def test_a_start_failure_says_on_start_raised(bus):
    class Broken(mycelium.Actor):
        def on_start(self, args):
            raise RuntimeError("no model file")

    with pytest.raises(mycelium.StartFailed) as raised:
        bus.supervise([mycelium.python_child("model", Broken)])
    assert str(raised.value).startswith(
        "child `model` could not start: it failed in on_start: RuntimeError: no model file"
    )
    assert_python_words(str(raised.value))


def test_a_failed_backtest_rows_status_names_no_rust_internals():
    class Raises(Strategy):
        def on_ticks(self, start, prices, timestamps):
            raise ValueError("bad strategy")

    (row,) = run_strategy(Raises, [1], ticks=2000, workers=1)
    assert "failed handling a published TickBatch: ValueError: bad strategy" in row["status"]
    assert_python_words(row["status"])


def test_a_bus_and_a_tree_say_what_they_are():
    bus = mycelium.Bus(virtual_time=True)
    assert repr(bus) == "<mycelium.Bus open, 0 actors, 0 services, virtual time>"
    tree = bus.supervise(
        [mycelium.python_child("model", Echo), mycelium.rust_child("count", "counter", service="count")],
        strategy="one_for_all",
    )
    # The supervisor is an actor too.
    assert repr(bus) == "<mycelium.Bus open, 3 actors, 1 service, virtual time>"
    assert repr(tree) == "<mycelium.Supervisor one_for_all, running: model, count (of 2 children), 0 restarts>"
    tree.stop()
    assert repr(tree) == "<mycelium.Supervisor one_for_all, stopped (shut down), 0 restarts>"
    bus.shutdown()
    assert repr(bus) == "<mycelium.Bus shut down, virtual time>"
    failed = mycelium.Bus()
    failed.fail("the feed is gone")
    failed.run_forever()
    assert repr(failed) == "<mycelium.Bus failed (the feed is gone), real time>"

import asyncio
import threading

import pytest

import mycelium
from mycelium.trading import Heartbeat, Quote
from conftest import Echo, hb


def quote():
    return Quote(ts_ns=1, instrument=7, bid_px=1.0, bid_qty=1.0, ask_px=1.1, ask_qty=2.0)


def test_a_message_type_the_actor_does_not_handle(bus):
    echo = bus.spawn(Echo)
    # Named by its class, with what it handles and what to do.
    refused = rf"Echo \(actor {echo.id}\) has no handler for Quote; it handles \['Heartbeat'\]: give it a @handler\(Quote\)"
    with pytest.raises(mycelium.MessageTypeError, match=refused):
        echo.tell(quote())
    with pytest.raises(mycelium.MessageTypeError, match=refused):
        echo.ask(quote())


def test_a_plain_object_the_actor_has_no_handler_for(bus):
    echo = bus.spawn(Echo)
    with pytest.raises(mycelium.MessageTypeError, match="Echo has no handler for int"):
        echo.tell(42)
    with pytest.raises(TypeError, match="Echo has no handler for dict"):
        echo.ask({"seq": 1})


def test_a_service_that_does_not_take_the_type(bus):
    bus.spawn_rust("counter", "counter")
    with pytest.raises(mycelium.MessageTypeError):
        bus._native.service("counter").ask(Quote.TYPE_ID, quote().encode(), None)


def test_a_handler_returning_a_wrong_type_fails_the_ask_clearly(bus):
    class Wrong(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            return msg.seq + 1

    wrong = bus.spawn(Wrong)
    with pytest.raises(mycelium.ActorFailed, match="Wrong.ping returned `int`"):
        wrong.ask(hb(1))


def test_a_handler_returning_nothing_to_an_ask(bus):
    class Silent(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            return None

    silent = bus.spawn(Silent, service="silent")
    silent.tell(hb(1))  # fine for a tell
    named = r"Silent\.ping returned None to an ask of Heartbeat: a handler that is asked must return"
    # On the calling thread (an idle actor, no timeout), through the mailbox (a timeout), and
    # by service name: the same error, naming the class, the handler and the message class.
    with pytest.raises(mycelium.MessageTypeError, match=named):
        silent.ask(hb(1))
    with pytest.raises(mycelium.MessageTypeError, match=named):
        silent.ask(hb(1), timeout=5.0)
    with pytest.raises(mycelium.MessageTypeError, match=named):
        bus.ref("silent").ask(hb(1))
    sup = bus.supervise([mycelium.python_child("quiet", Silent, service="quiet")])
    with pytest.raises(mycelium.MessageTypeError, match=named):
        bus.ref("quiet").ask(hb(1))
    with pytest.raises(mycelium.MessageTypeError, match=named):
        sup.child("quiet").ask(hb(1), timeout=5.0)
    assert silent.is_alive()  # not a failure of the actor


def test_unknown_service(bus):
    with pytest.raises(mycelium.UnknownService, match="nobody"):
        bus.ref("nobody")


def test_handler_decorator_takes_only_classes():
    with pytest.raises(TypeError, match="@handler takes a class, got 5"):
        mycelium.handler(5)  # type: ignore[arg-type]


def test_two_handlers_of_one_message_class_are_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="Twice has two handlers of Heartbeat: ping and pong"):

        class Twice(mycelium.Actor):
            @mycelium.handler(Heartbeat)
            def ping(self, msg):
                return msg

            @mycelium.handler(Heartbeat)
            def pong(self, msg):
                return None


def test_a_subclass_handler_replaces_the_inherited_one(bus):
    class Louder(Echo):
        @mycelium.handler(Heartbeat)
        def shout(self, msg):
            return Heartbeat(ts_ns=0, seq=msg.seq * 10, sender="louder")

    assert bus.spawn(Louder).ask(hb(4)).seq == 40


def test_spawn_takes_only_actor_classes(bus):
    with pytest.raises(TypeError, match="subclass of mycelium.Actor"):
        bus.spawn(object)


def test_ask_timeout(bus):
    release = threading.Event()

    class Stuck(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            release.wait()
            return msg

    stuck = bus.spawn(Stuck)
    # Busy with a tell (its handler waits on a pool thread), so the ask waits in the mailbox;
    # to an idle actor the handler would run on this thread, which no timeout can cut short.
    stuck.tell(hb(0))
    try:
        with pytest.raises(mycelium.AskTimeout):
            stuck.ask(hb(1), timeout=0.05)
    finally:
        release.set()
    with pytest.raises(ValueError, match="non-negative"):
        stuck.ask(hb(1), timeout=-1)


def test_asking_a_stopped_actor(bus):
    echo = bus.spawn(Echo)
    echo.stop()
    echo.wait_for_stop()
    with pytest.raises(mycelium.ActorStopped):
        echo.ask(hb(1))
    with pytest.raises(mycelium.ActorStopped):
        echo.tell(hb(1))


def test_a_stopped_actor_keeps_saying_why_it_stopped(bus):
    class Boom(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            raise ValueError("the model diverged")

    boom = bus.spawn(Boom)
    with pytest.raises(mycelium.ActorFailed, match="ValueError: the model diverged"):
        boom.ask(hb(1))
    assert "the model diverged" in boom.wait_for_stop()
    # Long after the failure, every call still says why, not only that it stopped.
    calls = [
        lambda: boom.ask(hb(2)),
        lambda: boom.ask(hb(3), timeout=5.0),
        lambda: boom.tell(hb(4)),
        lambda: boom.try_tell(hb(5)),
        lambda: asyncio.run(boom.ask_async(hb(6))),
        lambda: asyncio.run(boom.tell_async(hb(7))),
    ]
    for call in calls:
        with pytest.raises(mycelium.ActorStopped, match=r"has stopped \(failed: .*ValueError: the model diverged\)"):
            call()
    echo = bus.spawn(Echo)
    echo.stop()
    echo.wait_for_stop()
    with pytest.raises(mycelium.ActorStopped, match=r"has stopped \(stopped normally\)"):
        echo.ask(hb(1))


def test_bad_supervisor_options(bus):
    with pytest.raises(ValueError, match="strategy"):
        bus.supervise([mycelium.python_child("a", Echo)], strategy="all_at_once")
    with pytest.raises(ValueError, match="restart"):
        bus.supervise([mycelium.python_child("a", Echo, restart="sometimes")])
    with pytest.raises(ValueError, match="no built-in Rust actor"):
        bus.spawn_rust("teapot", "t")
    with pytest.raises(ValueError, match="needs an arg"):
        bus.spawn_rust("relay", "r")


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"initial": -1.0}, "Backoff(initial=-1.0): initial must be a non-negative number of seconds"),
        ({"cap": -0.5}, "Backoff(cap=-0.5): cap must be a non-negative number of seconds"),
        ({"initial": float("nan")}, "Backoff(initial=nan): initial must be"),
        ({"cap": "1s"}, "Backoff(cap='1s'): cap must be a non-negative number of seconds"),
        ({"factor": 0.5}, "Backoff(factor=0.5): factor must be a number >= 1"),
    ],
)
def test_a_backoff_that_cannot_work_is_refused_when_made_naming_the_parameter(kwargs, text):
    with pytest.raises(ValueError) as raised:
        mycelium.Backoff(**kwargs)
    assert str(raised.value).startswith(text), str(raised.value)


def test_supervise_names_a_bad_within_or_max_restarts_before_anything_starts(bus):
    started = []
    children = [mycelium.python_child("a", Echo, {"starts": started})]
    with pytest.raises(ValueError, match=r"supervise\(within=-1.0\): within must be a non-negative number of seconds"):
        bus.supervise(children, within=-1.0)
    with pytest.raises(ValueError, match=r"supervise\(max_restarts=-1\): max_restarts must be a whole number"):
        bus.supervise(children, max_restarts=-1)
    assert started == []
    # Too large for a duration: an error, not a crash of the extension.
    with pytest.raises(ValueError, match="within is too large"):
        bus._native.supervise("one_for_one", [], 3, 1e300)
    with pytest.raises(ValueError, match="timeout is too large"):
        bus.spawn(Echo).ask(hb(1), timeout=1e300)


def test_a_built_in_actor_that_cannot_start_is_a_value_error_and_not_exported(bus):
    with pytest.raises(ValueError, match="could not start"):
        bus.spawn_rust("quote_recorder", "rec", arg="bad pattern!")
    assert "rec" not in bus.services()
    # The name is still free for one that starts.
    bus.spawn_rust("quote_recorder", "rec", arg="md.*")
    assert "rec" in bus.services()


def test_a_topic_or_pattern_that_breaks_the_grammar_is_a_value_error(bus):
    with pytest.raises(ValueError, match="`bad..topic` is not a topic name"):
        bus.publish(hb(), "bad..topic")
    started = []

    class Subscriber(mycelium.Actor):
        def on_start(self, args):
            for pattern in ("sys.*.x", "sys.>"):
                try:
                    self.subscribe(Heartbeat, pattern)
                except ValueError as e:
                    started.append(str(e))

        @mycelium.handler(Heartbeat)
        def seen(self, msg):
            return None

    bus.spawn(Subscriber)
    assert len(started) == 2 and "may only stand alone as the last segment" in started[0], started
    # Another system's wildcard is refused with a pointer to this one.
    assert "`prefix.*` matches every topic" in started[1], started
    # The bus is unharmed: a valid publish still reaches nobody (no subscriber), no error.
    assert bus.publish(hb(), "sys.heartbeat") == 0


@pytest.mark.parametrize("workers", [0, -1, 1025, 10**6, 2.0, True])
def test_a_worker_count_that_cannot_work_is_refused_before_any_thread_starts(workers):
    with pytest.raises(ValueError, match=rf"Bus\(workers={workers!r}\): workers must be a whole number from 1 to 1024"):
        mycelium.Bus(workers=workers)
    assert mycelium.Bus.MAX_WORKERS == 1024


def test_the_stubs_import_only_what_exists():
    """A stub's import of a name that does not exist makes type checkers take anything."""
    import ast
    import importlib
    import importlib.util
    import pathlib

    root = pathlib.Path(mycelium.__file__).parent
    stubs = sorted(root.rglob("*.pyi"))
    assert stubs
    for stub in stubs:
        package = ".".join(("mycelium",) + stub.relative_to(root).parent.parts)
        for node in ast.walk(ast.parse(stub.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            module = importlib.import_module("." * node.level + (node.module or ""), package)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{module.__name__}.{alias.name}"
                ), f"{stub.relative_to(root)}: {module.__name__} has no {alias.name}"


class PlainOnly(mycelium.Actor):
    @mycelium.handler(dict)
    def got(self, d):
        return d


def test_a_service_of_a_class_without_a_schema_handler_is_refused_before_it_starts(bus):
    for start in (
        lambda: bus.spawn(PlainOnly, service="plain"),
        lambda: bus.supervise([mycelium.python_child("p", PlainOnly, None, service="plain")]),
    ):
        with pytest.raises(ValueError, match="PlainOnly has no handler of a message class"):
            start()
    # Without a service it runs, reached through its ref.
    assert bus.spawn(PlainOnly).ask({"a": 1}) == {"a": 1}


class QuoteSink(mycelium.Actor):
    def on_start(self, args):
        overflow, capacity = args
        self.subscribe(Quote, "md.quote.*", overflow=overflow, capacity=capacity)

    @mycelium.handler(Quote)
    def quote(self, q):
        pass


def test_a_capacity_only_drop_oldest_takes_is_refused(bus):
    for overflow in ("block", "drop_newest", "latest_per_key"):
        with pytest.raises(mycelium.StartFailed, match="applies only to overflow=\"drop_oldest\""):
            bus.spawn(QuoteSink, (overflow, 4))
    bus.spawn(QuoteSink, ("drop_oldest", 4))


def test_a_handler_asking_its_own_actor_is_refused_at_once(bus):
    """The ask would wait for the very handler that makes it: refused, by ref and by name,
    whether the handler runs on the asker's thread or on a pool thread."""

    class Selfish(mycelium.Actor):
        def on_start(self, args):
            self.refused = []

        @mycelium.handler(Heartbeat)
        def beat(self, msg: Heartbeat) -> Heartbeat:
            if msg.sender == "outer":
                for ref in (self.ref, self.bus.ref("selfish")):
                    try:
                        ref.ask(hb(2))
                    except mycelium.MyceliumError as e:
                        self.refused.append(str(e))
                    except RuntimeError as e:
                        self.refused.append(str(e))
                return hb(len(self.refused), sender=" | ".join(self.refused))
            return msg

    selfish = bus.spawn(Selfish, service="selfish")
    answers = [selfish.ask(hb(1, sender="outer"))]  # on this thread
    selfish.tell(hb(1, sender="other"))  # busy or not: the next ask may go through the mailbox
    answers.append(selfish.ask(hb(1, sender="outer"), timeout=30.0))
    assert [a.seq for a in answers] == [2, 4]
    assert answers[1].sender.count("asked from its own handler") == 4, answers[1].sender

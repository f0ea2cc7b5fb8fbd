"""A handler's exception reaches the asker as itself, every failure is logged with its
traceback, and dead letters name the Python actor's class and the message's."""

import asyncio
import logging
import threading
import traceback

import pytest

import mycelium
from mycelium.trading import Heartbeat
from conftest import hb


class Rejected(Exception):
    """An exception of the user's own, with a field."""

    def __init__(self, code: int):
        super().__init__(f"rejected with code {code}")
        self.code = code


class Risky(mycelium.Actor):
    """`sender="value"` raises ValueError, `"rejected"` Rejected(7), `"key"` KeyError;
    otherwise answers seq + 1."""

    def on_start(self, args):
        pass

    @mycelium.handler(Heartbeat)
    def check_limits(self, msg: Heartbeat) -> Heartbeat:
        if msg.sender == "value":
            raise ValueError("the model diverged")
        if msg.sender == "rejected":
            raise Rejected(7)
        if msg.sender == "key":
            return {}["missing"]
        return Heartbeat(ts_ns=0, seq=msg.seq + 1, sender="")


def supervised(bus):
    sup = bus.supervise([mycelium.python_child("risky", Risky)])
    return sup, sup.child("risky")


def test_the_handlers_exception_reaches_the_asker_as_itself(bus):
    sup, risky = supervised(bus)
    with pytest.raises(ValueError, match="the model diverged") as caught:
        risky.ask(hb(sender="value"))
    e = caught.value
    # Also an ActorFailed (the actor failed and restarts), with the handler's exception as
    # its cause, and the handler's frames in the cause's traceback.
    assert isinstance(e, mycelium.ActorFailed)
    assert type(e.__cause__) is ValueError
    assert str(e.__cause__) == "the model diverged"
    assert "check_limits" in "".join(traceback.format_exception(e.__cause__))
    sup.wait_restarts(1)
    assert risky.ask(hb(1)).seq == 2


def test_an_exception_class_of_your_own_keeps_its_fields(bus):
    sup, risky = supervised(bus)
    with pytest.raises(Rejected) as caught:
        risky.ask(hb(sender="rejected"))
    assert caught.value.code == 7
    assert isinstance(caught.value, mycelium.ActorFailed)
    assert isinstance(caught.value.__cause__, Rejected)
    with pytest.raises(KeyError):
        risky.ask(hb(sender="key"))


def test_through_the_mailbox_the_exception_comes_with_its_traceback_text(vbus):
    # On a virtual-time bus every ask goes through the mailbox (the handler runs on a pool
    # thread): the exception is the same, its traceback attached as text.
    sup, risky = supervised(vbus)
    with pytest.raises(ValueError, match="the model diverged") as caught:
        risky.ask(hb(sender="value"), timeout=30.0)
    cause = caught.value.__cause__
    assert isinstance(caught.value, mycelium.ActorFailed)
    assert type(cause) is ValueError
    notes = "\n".join(getattr(cause, "__notes__", []))
    assert "Traceback of the handler" in notes
    assert "check_limits" in notes
    with pytest.raises(Rejected) as caught:
        risky.ask(hb(sender="rejected"), timeout=30.0)
    assert caught.value.code == 7


def test_ask_async_raises_the_handlers_exception_on_either_path(bus):
    sup, risky = supervised(bus)
    release = threading.Event()

    class Holding(mycelium.Actor):
        def on_start(self, args):
            pass

        @mycelium.handler(Heartbeat)
        def hold(self, msg: Heartbeat) -> Heartbeat:
            if msg.sender == "hold":
                release.wait()
            if msg.sender == "value":
                raise ValueError("failed behind a tell")
            return Heartbeat(ts_ns=0, seq=msg.seq + 1, sender="")

    holding = bus.spawn(Holding)

    async def main():
        with pytest.raises(ValueError, match="the model diverged") as direct:
            await risky.ask_async(hb(sender="value"))
        assert isinstance(direct.value, mycelium.ActorFailed)
        holding.tell(hb(sender="hold"))
        asking = asyncio.ensure_future(holding.ask_async(hb(sender="value")))
        await asyncio.sleep(0)
        release.set()
        # The actor stops on the failure (it has no supervisor) and lets its callbacks go,
        # before the asker reads the answer: the exception is still the handler's.
        assert "failed behind a tell" in holding.wait_for_stop()
        with pytest.raises(ValueError, match="failed behind a tell") as mailbox:
            await asking
        assert isinstance(mailbox.value, mycelium.ActorFailed)
        assert "hold" in "\n".join(mailbox.value.__cause__.__notes__)

    asyncio.run(main())


def test_an_ask_by_service_name_raises_the_handlers_exception(bus):
    # A Python actor exported by name, unsupervised and as a supervised child: an ask through
    # `bus.ref(name)` (the export table, as Rust actors and other nodes reach it) raises what
    # an ask through the actor's own ref raises.
    bus.spawn(Risky, service="risky-alone")
    sup = bus.supervise([mycelium.python_child("risky", Risky, service="risky")])
    for name in ("risky", "risky-alone"):
        with pytest.raises(ValueError, match="the model diverged") as caught:
            bus.ref(name).ask(hb(sender="value"))
        assert isinstance(caught.value, mycelium.ActorFailed)
        assert type(caught.value.__cause__) is ValueError
        assert f"service `{name}` failed on this request" in str(caught.value)
    sup.wait_restarts(1)
    risky = bus.ref("risky")
    assert risky.ask(hb(1)).seq == 2
    with pytest.raises(Rejected) as caught:
        risky.ask(hb(sender="rejected"))
    assert caught.value.code == 7
    sup.wait_restarts(2)

    async def main():
        with pytest.raises(KeyError) as caught:
            await risky.ask_async(hb(sender="key"))
        assert isinstance(caught.value, mycelium.ActorFailed)

    asyncio.run(main())


def test_an_ask_by_service_name_on_virtual_time_raises_the_handlers_exception(vbus):
    sup = vbus.supervise([mycelium.python_child("risky", Risky, service="risky")])
    with pytest.raises(ValueError, match="the model diverged") as caught:
        vbus.ref("risky").ask(hb(sender="value"), timeout=30.0)
    assert isinstance(caught.value, mycelium.ActorFailed)
    notes = "\n".join(getattr(caught.value.__cause__, "__notes__", []))
    assert "check_limits" in notes


def test_a_failing_tell_is_logged_with_its_traceback(bus, caplog):
    caplog.set_level(logging.ERROR, logger="mycelium.actor")
    risky = bus.spawn(Risky)
    risky.tell(hb(sender="value"))
    assert "the model diverged" in risky.wait_for_stop()
    [record] = [r for r in caplog.records if r.name == "mycelium.actor"]
    assert record.levelno == logging.ERROR
    assert "Risky failed handling Heartbeat" in record.getMessage()
    assert "ValueError: the model diverged" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert "check_limits" in caplog.text  # the traceback


def test_dead_letters_name_the_actor_class_and_the_message_class(bus):
    release = threading.Event()

    class Fragile(mycelium.Actor):
        def on_start(self, args):
            pass

        @mycelium.handler(Heartbeat)
        def on_heartbeat(self, msg: Heartbeat) -> None:
            release.wait()
            raise ValueError("the model diverged")

    fragile = bus.spawn(Fragile)
    fragile.tell(hb(1))
    fragile.tell(hb(2))  # queued behind the failure: the actor stops (unsupervised) first
    release.set()
    fragile.wait_for_stop()
    letters = bus.dead_letters()
    failed = [d for d in letters if "the model diverged" in d["reason"]]
    queued = [d for d in letters if "still queued" in d["reason"]]
    assert failed and queued
    for letter in failed + queued:
        assert letter["actor"] == fragile.id
        assert letter["actor_type"] == "Fragile"
        assert letter["message_type"] == "Heartbeat"
    assert not any(
        name in str(letter) for letter in letters for name in ("ForeignActor", "ForeignCall")
    )


class Exiting(mycelium.Actor):
    """`sender="exit"` calls `sys.exit(3)`; otherwise answers seq + 1."""

    def on_start(self, args):
        pass

    @mycelium.handler(Heartbeat)
    def on_heartbeat(self, msg: Heartbeat) -> Heartbeat:
        if msg.sender == "exit":
            import sys

            sys.exit(3)
        return Heartbeat(ts_ns=0, seq=msg.seq + 1, sender="")


# On real time an ask of an idle actor runs on the asker's thread; on virtual time every ask
# goes through the mailbox (a pool thread).
@pytest.mark.parametrize("which", ["bus", "vbus"])
def test_a_handlers_sys_exit_fails_the_actor_not_the_asker(request, which):
    bus = request.getfixturevalue(which)
    sup = bus.supervise([mycelium.python_child("exiting", Exiting)])
    exiting = sup.child("exiting")
    with pytest.raises(mycelium.ActorFailed) as caught:
        exiting.ask(hb(sender="exit"), timeout=30.0)
    # A plain ActorFailed (SystemExit cannot be combined with it), its cause the SystemExit.
    assert not isinstance(caught.value, SystemExit)
    assert type(caught.value.__cause__) is SystemExit
    assert caught.value.__cause__.code == 3
    sup.wait_restarts(1)
    assert exiting.ask(hb(1), timeout=30.0).seq == 2


def test_a_restart_whose_on_start_raises_is_logged(bus, caplog):
    caplog.set_level(logging.ERROR, logger="mycelium.actor")
    starts = []

    class Reconnecting(mycelium.Actor):
        def on_start(self, args):
            starts.append(1)
            if len(starts) == 2:
                raise RuntimeError("cannot reconnect to the venue")

        def on_stop(self, reason):
            raise KeyError("on_stop broke")

        @mycelium.handler(Heartbeat)
        def on_heartbeat(self, msg: Heartbeat) -> None:
            raise ValueError("the model diverged")

    sup = bus.supervise(
        [mycelium.python_child("r", Reconnecting)], backoff=mycelium.Backoff(initial=0.001)
    )
    sup.child("r").tell(hb(1))
    sup.wait_restarts(1, "r")
    assert len(starts) == 3
    texts = [r.getMessage() for r in caplog.records if r.name == "mycelium.actor"]
    started = [t for t in texts if t.startswith("Reconnecting.on_start raised (the start failed)")]
    assert len(started) == 1 and "RuntimeError: cannot reconnect to the venue" in started[0]
    stopped = [t for t in texts if t.startswith("Reconnecting.on_stop raised (ignored")]
    assert stopped and "KeyError" in stopped[0]
    assert "in on_start" in caplog.text  # the traceback


class Plain(mycelium.Actor):
    """Fails on a dict."""

    def on_start(self, args):
        pass

    @mycelium.handler(dict)
    def on_dict(self, msg: dict) -> None:
        raise ValueError("bad dict")


@pytest.mark.parametrize("which", ["bus", "vbus"])
def test_a_failure_on_a_plain_object_names_its_class_on_either_path(request, which):
    bus = request.getfixturevalue(which)
    plain = bus.spawn(Plain)
    with pytest.raises(ValueError, match="bad dict"):
        plain.ask({"k": 1}, timeout=30.0)
    plain.wait_for_stop()
    [letter] = [d for d in bus.dead_letters() if "bad dict" in d["reason"]]
    assert (letter["actor_type"], letter["message_type"]) == ("Plain", "dict")

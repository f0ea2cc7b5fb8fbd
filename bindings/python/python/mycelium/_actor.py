"""Python actors: a class with `on_start`, one handler per contract message, `on_stop`."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from . import _native
from .trading import Message

if TYPE_CHECKING:
    from ._bus import ActorRef, Bus

_HANDLES = "_mycelium_handles"
F = TypeVar("F", bound=Callable[..., Any])


def handler(message_type: type[Message]) -> Callable[[F], F]:
    """Marks a method as the handler of `message_type`, a generated contract class
    (`mycelium.trading`). The method takes the decoded message and returns a contract message
    (the reply to an ask) or None; it may be `async def`. One handler per message class: a
    class body with two raises `TypeError` when it is defined; a subclass's handler replaces
    the one it inherits."""
    if not (isinstance(message_type, type) and issubclass(message_type, Message)):
        raise TypeError(
            f"@handler takes a contract message class from mycelium.trading, got {message_type!r}"
        )

    def mark(fn: F) -> F:
        setattr(fn, _HANDLES, message_type)
        return fn

    return mark


class Actor:
    """Base class of Python actors.

    Subclasses are constructed with no arguments; `on_start(args)` sets them up (and runs
    again, on a fresh instance, at every restart). Handlers are methods marked with
    `@handler(MessageClass)`. An exception in `on_start` or a handler is a failure of the
    actor, exactly like a Rust panic: the message goes to the dead letters, an `ask` raises
    `ActorFailed` at once, and a supervisor restarts the actor in place after its backoff.

    While running, `self.ref` is the actor's own ref and `self.bus` its bus.
    """

    ref: "ActorRef"
    _mycelium_bus: "weakref.ref[Bus]"
    _mycelium_subscriptions: "list[_native.Subscription]"
    _mycelium_handlers: ClassVar[dict[int, tuple[type[Message], str]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuses a class body with two handlers of one message class: which would run is
        not for the order of definition to decide. (A subclass's handler does replace an
        inherited one.)"""
        super().__init_subclass__(**kwargs)
        seen: dict[type[Message], str] = {}
        for name, fn in vars(cls).items():
            message_type = getattr(fn, _HANDLES, None)
            if message_type is None:
                continue
            if message_type in seen:
                raise TypeError(
                    f"{cls.__qualname__} has two handlers of {message_type.__name__}: "
                    f"{seen[message_type]} and {name}; an actor has one @handler per message class"
                )
            seen[message_type] = name

    @property
    def bus(self) -> "Bus":
        """This actor's bus. An actor holds its bus weakly, so that a bus the program no
        longer holds is collected, and its runtime ends, even while its actors run; from then
        on this raises `BusClosed`."""
        bus = self._mycelium_bus()
        if bus is None:
            raise _native.BusClosed(
                f"the bus of {type(self).__name__} has been dropped: keep a reference to the "
                "Bus (or use it as a context manager) for as long as its actors work"
            )
        return bus

    def on_start(self, args: Any) -> Any:
        """Called at the start of every incarnation with the spawn arguments."""

    def on_stop(self, reason: str) -> Any:
        """Called at the end of every incarnation (a stop, a failure, a shutdown)."""

    def subscribe(
        self,
        message_type: type[Message],
        pattern: str | None = None,
        *,
        key: int | None = None,
        overflow: str = "block",
        capacity: int | None = None,
    ) -> "_native.Subscription":
        """Delivers every `message_type` published under `pattern` (default: the message's
        contract topic) to this actor's handler, until this incarnation ends. `overflow` is
        block, drop_newest, drop_oldest or latest_per_key."""
        if not (isinstance(message_type, type) and issubclass(message_type, Message)):
            raise TypeError(f"subscribe takes a contract message class, got {message_type!r}")
        if message_type.TYPE_ID not in type(self)._mycelium_table():
            raise _native.MessageTypeError(
                f"{type(self).__name__} has no @handler({message_type.__name__}) to receive it"
            )
        sub = self.ref._native.subscribe(
            self.bus._native,
            message_type.TYPE_ID,
            pattern if pattern is not None else message_type.TOPIC,
            key,
            overflow,
            capacity,
        )
        self._mycelium_subscriptions.append(sub)
        return sub

    def publish(self, message: Message, topic: str | None = None, *, key: int | None = None) -> int:
        """Publishes `message` on this actor's bus; see `Bus.publish`."""
        return self.bus.publish(message, topic, key=key)

    @classmethod
    def _mycelium_table(cls) -> dict[int, tuple[type[Message], str]]:
        table: dict[int, tuple[type[Message], str]] | None = cls.__dict__.get("_mycelium_handlers")
        if table is None:
            table = {}
            for klass in reversed(cls.__mro__):
                for name, fn in vars(klass).items():
                    message_type = getattr(fn, _HANDLES, None)
                    if message_type is not None:
                        table[message_type.TYPE_ID] = (message_type, name)
            cls._mycelium_handlers = table
        return table


def _run(awaitable: Any) -> Any:
    """Runs an `async def` handler to completion on this thread's own event loop (one per
    thread, for the thread's life: see `_native.thread_loop`).

    The loop outlives the call, so nothing of it may be left in the loop: if the wait is
    interrupted (Ctrl-C while it awaits, on the main thread), the handler's task is
    cancelled and run to its end before the interruption goes on, as `asyncio.run` does."""
    loop = _native.thread_loop()
    task = asyncio.ensure_future(awaitable, loop=loop)
    try:
        return loop.run_until_complete(task)
    finally:
        if not task.done():
            task.cancel()
            try:
                loop.run_until_complete(task)
            except BaseException:
                pass  # the cancellation, or the handler's own error while cancelled


class _Host:
    """The callbacks the extension calls for every actor of one class (it calls the handlers
    itself, decoding and encoding messages natively)."""

    __slots__ = ("cls", "bus", "table")

    # `bus` is a weak reference: the extension holds every host, so a strong one would keep
    # the bus, and with it its runtime and actors, alive after the program dropped it.

    def __init__(self, cls: type[Actor], bus: "Bus") -> None:
        if not (isinstance(cls, type) and issubclass(cls, Actor)):
            raise TypeError(f"an actor is a subclass of mycelium.Actor, got {cls!r}")
        self.cls = cls
        self.bus = weakref.ref(bus)
        self.table = cls._mycelium_table()

    def start(self, args: Any, native_ref: "_native.ActorRef") -> Actor:
        from ._bus import ActorRef

        actor = self.cls()
        actor._mycelium_bus = self.bus
        actor.ref = ActorRef(native_ref, self.table)
        actor._mycelium_subscriptions = []
        started = actor.on_start(args)
        if inspect.isawaitable(started):
            _run(started)
        return actor

    def finish(self, actor: Actor, name: str, reply: Any) -> Message | None:
        """Completes a handler's reply that is not a contract message: runs an awaitable to
        its end, and raises `MessageTypeError` for anything else that is not None."""
        if inspect.isawaitable(reply):
            reply = _run(reply)
        if reply is None:
            return None
        if not isinstance(reply, Message):
            raise _native.MessageTypeError(
                f"{self.cls.__name__}.{name} returned {type(reply).__name__}; a handler returns "
                "a contract message (a class from mycelium.trading) or None"
            )
        return reply

    def stop(self, actor: Actor, reason: str) -> None:
        try:
            stopped = actor.on_stop(reason)
            if inspect.isawaitable(stopped):
                _run(stopped)
        finally:
            for sub in getattr(actor, "_mycelium_subscriptions", ()):
                sub.cancel()

"""Buses, refs and supervision trees."""

from __future__ import annotations

import asyncio
import atexit
import math
import os
import sys
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable, NoReturn

from . import _native
from ._actor import Actor, _Host, is_message_class

if TYPE_CHECKING:
    from ._native import Recorder


def _close_callbacks() -> None:
    """At exit, while the interpreter is still whole: no handler, `on_start`, `on_stop` or
    async completion starts on a bus runtime's threads any more (a handler or `on_start` that
    would have run fails, like any failing handler, saying the interpreter is exiting), and
    the exit waits for those still running, such as the handler of an actor a shutdown killed
    (a kill cannot preempt Python code), to return. A wait on the bus inside such a handler
    raises `BusClosed`. Ctrl-C during that wait ends the process at once (exit status 130)."""
    try:
        _native.close_callbacks()
    except KeyboardInterrupt:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(130)


# atexit runs its hooks last registered first: those a program registers after importing
# mycelium still run with callbacks allowed.
atexit.register(_close_callbacks)


def _check_service(service: str, host: "_Host") -> None:
    """Refuses to export under `service` a class with no handler of a schema message: a
    service is reached with schema messages only."""
    if not host.table:
        raise ValueError(
            f"service `{service}`: {host.cls.__name__} has no handler of a message class of the "
            "bus's schema, and a service is reached with schema messages only (by Rust actors, "
            "other nodes and Bus.ref); add a @handler for one, or leave `service` out and pass "
            "the actor's ref, which carries plain objects too"
        )


def _settler(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any]) -> Callable[[bool, Any], None]:
    """A callback the extension calls from its thread, resolving `fut` on its loop."""

    def apply(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def settle(ok: bool, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(apply, ok, value)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    return settle


class ActorRef:
    """A handle on an actor: a Python actor, or a service (Rust or Python) exported on a bus.

    `tell` and `ask` are synchronous (they release the GIL while waiting); `tell_async` and
    `ask_async` are their awaitable forms for asyncio code. Messages are instances of the
    message classes of the bus's schema (the module `mycelium-codegen python` generated from
    your schema file); a message type the target does not handle raises `MessageTypeError`
    before anything is sent, a class of another schema `SchemaMismatch`. Between Python
    actors of one bus, through their own refs, any Python object can be a message or a reply,
    passed by reference (not copied)."""

    __slots__ = ("_native", "_accepts")

    def __init__(self, native: "_native.ActorRef", accepts: Iterable[int] | None) -> None:
        self._native = native
        self._accepts = None if accepts is None else frozenset(accepts)

    @property
    def id(self) -> str:
        """The actor's id (`#5`), or the service name of a service ref."""
        return self._native.id

    def is_alive(self) -> bool:
        """False once the actor has stopped for good."""
        return self._native.is_alive()

    def _check(self, message: Any) -> None:
        if not is_message_class(type(message)):
            raise _native.MessageTypeError(
                f"expected a message of the bus's schema (a class of the module mycelium-codegen "
                f"generated from your schema file), got {type(message).__name__}: plain objects "
                "go through tell, try_tell and ask"
            )
        if self._accepts is not None and message.TYPE_ID not in self._accepts:
            # A class of another schema says so first (`SchemaMismatch`).
            self._native.admit(type(message))
            module = sys.modules.get(type(message).__module__)
            registry: dict[int, type] = getattr(module, "REGISTRY", {})
            names = sorted(
                registry[t].__name__ if t in registry else f"type id {t}" for t in self._accepts
            )
            what = type(message).__name__
            cls = self._native.class_name
            if cls is None or cls == "?":
                raise _native.MessageTypeError(f"{self!r} does not handle {what}; it handles {names}")
            raise _native.MessageTypeError(
                f"{cls} (actor {self.id}) has no handler for {what}; it handles {names}: give it "
                f"a @handler({what}), or send it a message it handles"
            )

    def _refused(self, message: Any) -> NoReturn:
        """Raises the `MessageTypeError` of a message the extension refused to send."""
        self._check(message)
        raise _native.MessageTypeError(f"{type(message).__name__} is not a contract message")

    def _encode(self, message: Any) -> tuple[int, bytes]:
        if is_message_class(type(message)):
            self._check(message)
        return self._native.encode(message)

    def tell(self, message: Any) -> None:
        """Sends `message` without waiting for it to be handled (waits for room if full)."""
        if not self._native.tell_msg(message, self._accepts):
            self._refused(message)

    def try_tell(self, message: Any) -> None:
        """Sends `message` or raises `MailboxFull` at once."""
        if not self._native.try_tell_msg(message, self._accepts):
            self._refused(message)

    def ask(self, message: Any, timeout: float | None = None) -> Any:
        """Sends `message` and returns the handler's reply; `timeout` in seconds of bus time.

        When the target is a Python actor with nothing queued and nothing running (on a
        real-time bus), its handler runs right here, on the calling thread, with no thread
        hand-off (an `async def` one on this thread's own event loop, unless an event loop is
        running on this thread); otherwise the ask goes through its mailbox and this thread
        waits without the GIL. A timeout does not change that: it bounds the wait for the
        reply. A handler that has started on this thread cannot be cut short (Python code
        cannot be preempted), so one that returns after the timeout raises `AskTimeout`, its
        reply dropped as a late reply through the mailbox is (the message was handled).

        Raises, if the handler raised, that exception as an `ActorFailed` that is also an
        instance of the handler's exception class, with the handler's exception (and its
        traceback) as `__cause__`: `except ValueError` and `except ActorFailed` both catch
        it. The actor fails with it (a restart if supervised), and the failure is logged on
        the `mycelium.actor` logger. Raises `AskTimeout`, `ActorStopped`."""
        if is_message_class(type(message)):
            self._check(message)
        return self._native.ask_msg(message, timeout)

    async def tell_async(self, message: Any) -> None:
        """`tell`, awaitable: waits for room without blocking the event loop (with room, it
        queues the message at once, as `try_tell` does). Raises as `tell` does,
        `ActorStopped` too once the bus is gone."""
        try:
            # Room in the mailbox: queued at once, as `tell` queues it, with no future and no
            # thread hand-off.
            if not self._native.try_tell_msg(message, self._accepts):
                self._refused(message)
            return
        except _native.MailboxFull:
            pass
        type_id, body = self._encode(message)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._native.tell_callback(type_id, body, _settler(loop, fut))
        await fut

    async def ask_async(self, message: Any, timeout: float | None = None) -> Any:
        """`ask`, awaitable. When the target is a Python actor that is idle, its handler (a
        plain `def` one) runs at once on this thread, inside the event loop, as `ask` runs it,
        and nothing crosses a thread; otherwise the ask goes through the mailbox and the event
        loop runs on while it waits. Raises as `ask` does, `ActorStopped` too once the bus is
        gone."""
        if is_message_class(type(message)):
            self._check(message)
        answered, value = self._native.ask_direct(message, timeout)
        if answered:
            return value
        type_id, body = value
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._native.ask_callback(type_id, body, timeout, _settler(loop, fut))
        reply_type, reply = await fut
        return self._native.decode_reply(reply_type, reply)

    def stop(self) -> None:
        """Asks a Python actor to stop after the message it is handling. The messages still
        queued when the stop takes effect are not handled: each goes to the dead letters. To
        stop once everything sent so far is handled, use `drain_and_stop`."""
        self._native.stop()

    def drain_and_stop(self) -> None:
        """Asks a Python actor to stop once it has handled everything sent to it before this
        call: the stop is queued behind those messages (waiting for room in a full mailbox),
        and the actor then stops normally. Returns once it is queued (`wait_for_stop` waits
        for the stop)."""
        self._native.drain_and_stop()

    def wait_for_stop(self) -> str:
        """Waits until the actor has stopped for good; returns why."""
        return self._native.wait_for_stop()

    def __repr__(self) -> str:
        return repr(self._native)


def _check_seconds(call: str, name: str, value: Any) -> None:
    """`ValueError` naming `call` and its parameter `name` unless `value` is a finite,
    non-negative number of seconds."""
    if not (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        raise ValueError(f"{call}({name}={value!r}): {name} must be a non-negative number of seconds")


@dataclass(frozen=True)
class Backoff:
    """Delay before a restart: `min(initial * factor**n, cap)` seconds of bus time.

    Checked when it is made: `initial` and `cap` must be non-negative numbers of seconds and
    `factor` a number >= 1, or `ValueError` names the one that is not."""

    initial: float = 0.01
    factor: float = 2.0
    cap: float = 1.0

    def __post_init__(self) -> None:
        _check_seconds("Backoff", "initial", self.initial)
        _check_seconds("Backoff", "cap", self.cap)
        factor = self.factor
        if not (
            isinstance(factor, (int, float))
            and not isinstance(factor, bool)
            and math.isfinite(factor)
            and factor >= 1
        ):
            raise ValueError(f"Backoff(factor={factor!r}): factor must be a number >= 1")


@dataclass(frozen=True)
class PythonChild:
    """A Python actor in a supervision tree; see `python_child`."""

    name: str
    actor: type[Actor]
    args: Any = None
    service: str | None = None
    restart: str = "permanent"
    hibernate: bool = False
    record: "Recorder | None" = None


@dataclass(frozen=True)
class RustChild:
    """A registered Rust actor in a supervision tree; see `rust_child`."""

    name: str
    kind: str
    arg: str | None = None
    service: str | None = None
    restart: str = "permanent"
    hibernate: bool = False


def python_child(
    name: str,
    actor: type[Actor],
    args: Any = None,
    *,
    service: str | None = None,
    restart: str = "permanent",
    hibernate: bool = False,
    record: "Recorder | None" = None,
) -> PythonChild:
    """A Python actor child. Every restart builds a fresh instance and calls
    `on_start(args)` with the same `args`. `service` exports it under that name.
    `restart`: permanent, transient or temporary. `hibernate`: the child holds no task while
    its mailbox is empty (see `Bus.spawn`). `record`: a `mycelium.journal.Recorder` the child
    is recorded into, its restarts included (default: the bus's `record`)."""
    return PythonChild(name, actor, args, service, restart, hibernate, record)


def rust_child(
    name: str,
    kind: str,
    arg: str | None = None,
    *,
    service: str | None = None,
    restart: str = "permanent",
    hibernate: bool = False,
) -> RustChild:
    """A Rust actor child, by the name its crate registered it under (`rust_actors()` lists
    them; the example ones are `counter`, `relay` (arg: the service it asks) and
    `quote_recorder` (arg: a topic pattern)). `service` exports it under that name.
    `hibernate`: the child holds no task while its mailbox is empty (see `Bus.spawn`)."""
    return RustChild(name, kind, arg, service, restart, hibernate)


class Supervisor:
    """A running supervision tree."""

    __slots__ = ("_native", "_accepts")

    def __init__(self, native: "_native.Supervisor", accepts: dict[str, frozenset[int] | None]):
        self._native = native
        self._accepts = accepts

    def child(self, name: str) -> ActorRef:
        """The child `name`: a Python child's own ref (valid across restarts), or a Rust
        child's service ref."""
        return ActorRef(self._native.child(name), self._accepts.get(name))

    def children(self) -> list[str]:
        """The names of the children running now, in start order (a child waiting for its
        restart, or stopped for good, is not listed: see `which_children`)."""
        return self._native.children()

    def which_children(self) -> list[tuple[str, str]]:
        """Every child in start order with its state: running, restarting (a restart is
        planned) or stopped (not restarted, by its restart type). Raises `ActorStopped` once
        the tree has stopped."""
        return self._native.which_children()

    def events(self) -> list[tuple[float, str, str]]:
        """`(bus seconds, kind, child)` for every supervision event so far; kind: started,
        failed, exited, restarted, restart_failed (a restart whose `on_start` raised: it counts
        as a failure), stopped, gave_up, escalated."""
        return self._native.events()

    def restarts(self, child: str | None = None) -> int:
        """How many restarts the tree has finished (of `child`, or of any child). A restart
        is recorded once the supervisor is done with it, which can be just after the
        restarted child answered its first message: see `wait_restarts`."""
        return sum(1 for _, kind, c in self.events() if kind == "restarted" and child in (None, c))

    def wait_restarts(self, n: int, child: str | None = None) -> None:
        """Waits until the tree has finished `n` restarts (of `child`, or of any child);
        raises `ActorStopped` if the tree stops first."""
        self._native.wait_restarts(n, child)

    def stop(self) -> str:
        """Stops the tree, children in reverse start order, and returns once the whole tree
        is down, with the supervisor's final reason."""
        return self._native.stop()

    def wait_for_stop(self) -> str:
        """Waits until the tree has stopped; returns why."""
        return self._native.wait_for_stop()

    def __repr__(self) -> str:
        return repr(self._native)


class Bus:
    """An isolated bus of actors with its own runtime.

    `Bus()` runs in real time on `workers` threads (1 to `MAX_WORKERS`, all started at once);
    `Bus(virtual_time=True)` on a paused clock that jumps to the
    next timer whenever every actor waits (backtests, tests of timeouts and backoffs). Use it
    as a context manager, or call `shutdown()`; Ctrl-C during `run_forever()` or any wait
    shuts it down cleanly. A bus the program drops without `shutdown()` is collected even
    while its actors run (they hold it weakly): its runtime ends in the background, its actors
    end without their `on_stop`, and a `ResourceWarning` says so. Once the bus has shut down
    or failed, `spawn`, `spawn_rust`, `supervise`, `publish`, `ref` and `join` raise
    `BusClosed`; `shutdown()` again stops nothing and returns zeros."""

    #: The most worker threads a bus runtime may have: they are all started at once.
    MAX_WORKERS = 1024

    def __init__(
        self,
        *,
        virtual_time: bool = False,
        seed: int = 0,
        workers: int = 2,
        schema: ModuleType | None = None,
        record: "Recorder | None" = None,
    ) -> None:
        if record is not None and not isinstance(record, _native.Recorder):
            raise TypeError(
                f"Bus(record=...) takes a mycelium.journal.Recorder, got {record!r}"
            )
        self._record = record
        if not (
            isinstance(workers, int)
            and not isinstance(workers, bool)
            and 1 <= workers <= self.MAX_WORKERS
        ):
            raise ValueError(
                f"Bus(workers={workers!r}): workers must be a whole number from 1 to "
                f"{self.MAX_WORKERS} (Bus.MAX_WORKERS), the runtime's worker threads"
            )
        if schema is not None and not isinstance(schema, ModuleType):
            raise TypeError(
                f"Bus(schema=...) takes the module mycelium-codegen generated from your schema "
                f"file (import desk; Bus(schema=desk)), got {schema!r}"
            )
        self._native = _native.Bus(virtual_time, seed, workers, schema)
        self._owned = True
        # The hosts of the Python actors exported by service name: `ref` hands them to the
        # native ref, whose errors then name the actor's class and handlers.
        self._hosts: dict[str, _Host] = {}

    @classmethod
    def _embedded(cls, native: "_native.Bus") -> "Bus":
        """The bus of a Rust program that hosts Python actors (the Rust `PythonHost`): the
        program owns it, and shuts it down."""
        bus = cls.__new__(cls)
        bus._native = native
        bus._hosts = {}
        bus._owned = False
        bus._record = None
        return bus

    def __enter__(self) -> "Bus":
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._native.is_stopped():
            self._native.shutdown(5.0)

    def __del__(self) -> None:
        # Collected while running: the runtime ends with the native bus, and its actors with
        # it, without their `on_stop`. Said as Python says it of an unclosed file.
        native = getattr(self, "_native", None)
        try:
            if native is not None and getattr(self, "_owned", True) and not native.is_stopped():
                warnings.warn(
                    "a Bus was dropped without shutdown(): its actors ended without on_stop; "
                    "use the Bus as a context manager or call shutdown()",
                    ResourceWarning,
                )
        except Exception:
            pass  # the interpreter is exiting: nothing left to tell

    def __repr__(self) -> str:
        return repr(self._native)

    @property
    def virtual_time(self) -> bool:
        """True on a virtual-time bus."""
        return self._native.virtual_time

    @property
    def schema(self) -> ModuleType | None:
        """The generated module of the schema this bus speaks: the one it was made with, or
        else the first one used on it (fixed from then on); None until then."""
        return self._native.schema

    def now(self) -> float:
        """Seconds of bus time since the bus was created."""
        return self._native.now()

    def runtime_tasks(self) -> int:
        """Tasks alive on the bus's runtime: one per actor that is not asleep, and those of
        its supervisors, links and hibernation driver. A diagnostic: an actor sleeps until
        its first mail (an ask from a Python thread through its gate is none), and a
        hibernating one whenever it has no mail."""
        return self._native.runtime_tasks()

    def spawn(
        self,
        actor: type[Actor],
        args: Any = None,
        *,
        name: str | None = None,
        service: str | None = None,
        hibernate: bool = False,
        record: "Recorder | None" = None,
    ) -> ActorRef:
        """Starts a Python actor (unsupervised) and waits for its `on_start`; raises
        `StartFailed` if it raises. `service` exports it under that name, reachable from
        Rust actors and from `Bus.ref`; if that is refused (`ValueError`: the service already
        takes one of its message types), the actor is stopped, its `on_stop` run, before the
        error is raised. A `hibernate` actor gives up its task whenever its mailbox is empty
        and is woken by its next message: for many mostly idle actors, at the price of a
        wake-up per message that finds it asleep. `record`: a `mycelium.journal.Recorder` the
        actor is recorded into from its start (default: the bus's `record`); `ValueError` if
        the class handles plain objects and the recorder may not pickle them."""
        host = _Host(actor, self)
        if service is not None:
            _check_service(service, host)
        native = self._native.spawn(host, args, name, hibernate, self._recorder(record))
        if service is not None:
            try:
                native.export(self._native, service, list(host.table))
            except BaseException:
                # Not left running without a handle: stopped (its `on_stop` runs) first.
                native.stop()
                native.wait_for_stop()
                raise
            self._hosts[service] = host
        return ActorRef(native, host.table)

    def _recorder(self, record: "Recorder | None") -> "Recorder | None":
        """The recorder of a spawn: its own, or the bus's."""
        if record is None:
            return getattr(self, "_record", None)
        if not isinstance(record, _native.Recorder):
            raise TypeError(f"record= takes a mycelium.journal.Recorder, got {record!r}")
        return record

    def ref(self, service: str) -> ActorRef:
        """A ref to the actor exported under `service` (raises `UnknownService`)."""
        native = self._native.service(service, self._hosts.get(service))
        return ActorRef(native, self._native.service_type_ids(service))

    def services(self) -> list[str]:
        """The exported service names."""
        return self._native.services()

    def spawn_rust(self, kind: str, service: str, arg: str | None = None) -> ActorRef:
        """Starts the Rust actor registered as `kind` (see `rust_child`), exported under
        `service`, once it has started. Raises `ValueError`, with nothing left running, for an
        unknown kind (the text lists the registered ones), an arg it refuses, a start that
        fails (a `quote_recorder` pattern that breaks the topic grammar) or a service name
        already taken; `SchemaMismatch` on a bus of another schema than the actor's."""
        self._native.spawn_rust(kind, service, arg)
        return self.ref(service)

    def publish(self, message: Any, topic: str | None = None, *, key: int | None = None) -> int:
        """Publishes a message of the bus's schema under `topic` (default: its schema topic)
        with an optional key; its subscribers receive it (Rust ones too: on a bus of the
        example schema, whose messages have Rust types in this package; on a bus of another
        schema, those of a message type that Rust code exports as a topic type). Returns how
        many subscribers it was delivered to. Topics carry schema messages only: a plain object
        raises `MessageTypeError`, a class of another schema `SchemaMismatch`."""
        return self._native.publish(message, topic, key)

    def supervise(
        self,
        children: list[PythonChild | RustChild],
        *,
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        within: float = 5.0,
        backoff: Backoff = Backoff(),
    ) -> Supervisor:
        """Starts a supervision tree (children in order) and waits until all have started.
        `strategy`: one_for_one, one_for_all or rest_for_one; more than `max_restarts`
        restarts `within` seconds make it give up and fail the bus. If a child's first
        `on_start` raises, the tree does not start: the children started before it are
        stopped and `StartFailed` is raised, its `child` attribute naming that child. Two
        children with one name raise `ValueError`. A child's `service` that is refused (it
        already takes one of the child's message types) raises `ValueError` once the tree is
        stopped and the services it exported are removed. A negative or non-numeric
        `within` or `max_restarts` raises `ValueError` naming it, before anything starts."""
        _check_seconds("supervise", "within", within)
        if not (
            isinstance(max_restarts, int)
            and not isinstance(max_restarts, bool)
            and 0 <= max_restarts <= 0xFFFF_FFFF
        ):
            raise ValueError(
                f"supervise(max_restarts={max_restarts!r}): max_restarts must be a whole number "
                "from 0 to 4294967295"
            )
        if not isinstance(backoff, Backoff):
            raise TypeError(f"supervise(backoff=...) takes a mycelium.Backoff, got {backoff!r}")
        defs = []
        accepts: dict[str, frozenset[int] | None] = {}
        hosts: dict[str, _Host] = {}
        for child in children:
            if isinstance(child, PythonChild):
                host = _Host(child.actor, self)
                if child.service is not None:
                    _check_service(child.service, host)
                    hosts[child.service] = host
                defs.append(
                    _native.ChildDef.python(
                        child.name,
                        host,
                        child.args,
                        list(host.table),
                        child.service,
                        child.restart,
                        child.hibernate,
                        self._recorder(child.record),
                    )
                )
                accepts[child.name] = frozenset(host.table)
            elif isinstance(child, RustChild):
                defs.append(
                    _native.ChildDef.rust(
                        child.name, child.kind, child.arg, child.service, child.restart, child.hibernate
                    )
                )
                accepts[child.name] = None
            else:
                raise TypeError(f"a child is python_child(...) or rust_child(...), got {child!r}")
        native = self._native.supervise(
            strategy,
            defs,
            max_restarts,
            within,
            backoff.initial,
            backoff.factor,
            backoff.cap,
        )
        self._hosts.update(hosts)
        return Supervisor(native, accepts)

    def dead_letters(self) -> list[dict[str, str]]:
        """Takes the dead letters held so far (actor, actor_type, message_type, reason): a
        second call returns only those since."""
        return self._native.dead_letters()

    def shutdown(self, timeout: float = 5.0) -> dict[str, int]:
        """Stops every actor (each `on_stop` runs), killing what is alive after `timeout`
        seconds; returns `{"stopped": n, "killed": n}`. A killed Python actor's `on_stop` does
        not run, and a handler it was running goes on until it returns (Python code cannot be
        preempted): its result is discarded, and the interpreter's exit waits for it."""
        return self._native.shutdown(timeout)

    def fail(self, reason: str) -> None:
        """Fails the bus with `reason`: it shuts down."""
        self._native.fail(reason)

    def join(self, topology: str, node: str) -> "Node":
        """Starts this bus as node `node` of the topology file `topology` (the format of
        `mycelium-remote`: nodes, their endpoints and the services each hosts; the secret is
        read from the environment variable the file names). Services exported on this bus
        (`spawn(..., service=...)`) become reachable from the other nodes; `Node.ref` reaches
        a service on whichever node hosts it. The node's handshake gives the digest of the
        bus's schema (`Bus(schema=...)`; `SchemaMismatch` if none is set yet), and a peer of
        another schema is refused. Returns once the node listens; links come up in
        the background (a tell or ask to a peer waits for its link). Raises `ValueError` for a
        topology that cannot be used (a missing file, an unknown node, no secret)."""
        return Node(self._native.join(str(topology), node))

    def run_forever(self) -> str:
        """Waits until the bus stops (a root supervisor gave up, `fail`, `shutdown` from
        another thread). Ctrl-C shuts the bus down cleanly and returns `"interrupted"`."""
        try:
            return self._native.wait_stopped()
        except KeyboardInterrupt:
            self.shutdown()
            return "interrupted"


class Node:
    """This bus as one node of a topology (`Bus.join`). Use as a context manager, or `close`."""

    __slots__ = ("_native",)

    def __init__(self, native: "_native.Node") -> None:
        self._native = native

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def name(self) -> str:
        """This node's name in the topology."""
        return self._native.name

    @property
    def schema_digest(self) -> str:
        """The digest of the bus's schema, which this node gives at handshake (hex)."""
        return self._native.schema_digest

    def is_remote(self, service: str) -> bool:
        """True if another node of the topology hosts `service`."""
        return self._native.is_remote(service)

    def ref(self, service: str) -> "NodeRef":
        """A ref to `service` wherever the topology puts it (this bus's export table for a
        service no other node hosts)."""
        return NodeRef(self, service)

    def forward_topic(self, message_type: type) -> None:
        """Lets the other nodes subscribe (`subscribe_remote`) to publications of
        `message_type` on this bus, Python's and Rust's alike: each publication travels once
        per link that asked for it."""
        self._native.forward_topic(_contract_type(message_type, "forward_topic"))

    def subscribe_remote(
        self,
        message_type: type,
        pattern: str | None = None,
        *,
        overflow: str | None = None,
        capacity: int | None = None,
    ) -> None:
        """Subscribes this node to publications of `message_type` on topics matching
        `pattern` (default: the message's contract topic) on every other node that forwards
        them (`forward_topic` there): they are published on this bus, where its subscribers
        receive them.

        `overflow` is what each publishing node does with them while its link to this node is
        full (this node slow, stopped or away), with the names of `Actor.subscribe`: `block`
        (the publisher waits), `drop_newest`, `drop_oldest` (a buffer of `capacity`
        publications, default 1024, the oldest dropped), `latest_per_key` (the newest of each
        key kept). Left out: the policy the topology file gives `pattern` (a
        `[[node.subscription]]` entry of this node), else `block`. What a policy drops is
        counted on the publishing node and told here as a `TopicGap` (see `on_gap`). Raises
        `ValueError` for a pattern that breaks the topic grammar, an unknown policy or a
        `capacity` with another policy than `drop_oldest`."""
        self._native.subscribe_remote(
            _contract_type(message_type, "subscribe_remote"),
            pattern if pattern is not None else getattr(message_type, "TOPIC"),
            overflow,
            capacity,
        )

    def on_gap(self, handler: "ActorRef | Callable[[_native.TopicGap], Any]") -> "_native.GapWatch":
        """Delivers each `TopicGap` this node is told of (publications of a topic it
        subscribed to on another node that will never arrive: dropped by the subscription's
        overflow policy, lost when this process restarted, too large) to `handler`: a Python
        actor's ref (told the gap: give the actor `@handler(mycelium.TopicGap)`) or a callable
        (called on a thread of the bus's pool, one gap at a time, in order). A callable's
        exception, or a tell to an actor that has stopped, goes to `sys.unraisablehook`; the
        next gap is delivered all the same. Gaps are also published on this bus under
        `mycelium.GAP_TOPIC`, for Rust subscribers. Returns a watch whose `cancel()` ends the
        deliveries."""
        if isinstance(handler, ActorRef):
            call: Callable[[Any], Any] = handler.tell
        elif callable(handler):
            call = handler
        else:
            raise TypeError(f"on_gap takes an ActorRef or a callable, got {handler!r}")
        return self._native.on_gap(call)

    def unsubscribe_remote(self, message_type: type, pattern: str | None = None) -> None:
        """Ends what `subscribe_remote` started for `message_type` on `pattern`: the other
        nodes stop forwarding it here (this bus's subscribers stay, and see only local
        publications)."""
        self._native.unsubscribe_remote(
            _contract_type(message_type, "unsubscribe_remote"),
            pattern if pattern is not None else getattr(message_type, "TOPIC"),
        )

    def close(self) -> None:
        """Sends what is queued and waits up to the links' `close_timeout` (5 s by default;
        `close_timeout_ms` in the topology's `[link]`) for the peers to acknowledge it as
        handled, reports what is still unacknowledged as lost, then stops the node's listener
        and links. The bus keeps running."""
        self._native.close()

    def close_now(self) -> None:
        """The abrupt close: stops the node's listener and links at once, without waiting
        for acknowledgements; what is unacknowledged is reported lost. The bus keeps
        running."""
        self._native.close_now()


def _contract_type(message_type: Any, call: str) -> int:
    """The type id of a generated message class, or `TypeError` naming `call`."""
    if not is_message_class(message_type):
        raise TypeError(f"{call} takes a contract message class, got {message_type!r}")
    type_id: int = message_type.TYPE_ID
    return type_id


class NodeRef:
    """A service reached through a `Node`: over a link to the node that hosts it, or locally."""

    __slots__ = ("_node", "service")

    def __init__(self, node: Node, service: str) -> None:
        self._node = node
        self.service = service

    def tell(self, message: Any) -> None:
        """Sends `message`, a message of the bus's schema, without waiting for it to be
        handled (waits for room). A plain object raises `MessageTypeError`: it cannot leave
        Python."""
        type_id, body = self._node._native.encode(message)
        self._node._native.tell(self.service, type_id, body)

    def ask(self, message: Any, timeout: float | None = None) -> Any:
        """Sends `message` and returns the reply; `timeout` in seconds of bus time. Raises
        `ActorFailed` (the handler failed, or the link dropped before the reply),
        `AskTimeout`, `ActorStopped` (not sent), `UnknownService` (a local service that is not
        exported)."""
        type_id, body = self._node._native.encode(message)
        reply_type, reply = self._node._native.ask(self.service, type_id, body, timeout)
        return self._node._native.decode_reply(reply_type, reply)

    def __repr__(self) -> str:
        return f"NodeRef({self.service!r} via node {self._node.name!r})"

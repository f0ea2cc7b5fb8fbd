"""Mycelium for Python: actors hosted in process next to Rust actors.

Messages are the classes of a module generated from your schema file
(`mycelium-codegen python desk.yaml -o .` writes `desk.py`); between the Python actors of
one bus, any Python object can be a message too.

    import mycelium
    import desk   # generated from desk.yaml

    class Trader(mycelium.Actor):
        def on_start(self, args: int) -> None:
            self.step = args

        @mycelium.handler(desk.NewOrder)
        def order(self, o: desk.NewOrder) -> desk.Fill:
            return desk.Fill(order_id=o.order_id, qty=o.qty * self.step, price=1.0)

    with mycelium.Bus(schema=desk) as bus:
        trader = bus.spawn(Trader, 1, service="trader")
        fill = trader.ask(desk.NewOrder(order_id=1, side=desk.Side.Buy, qty=2, symbol="X"))
        assert fill.qty == 2

`mycelium.trading` is the repository's example schema (the one the built-in Rust actors
speak).
"""

import os
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from . import backtest as backtest
from . import journal as journal
from types import ModuleType

from . import trading as trading

_F = TypeVar("_F", bound=Callable[..., Any])

# Errors. Every error of the package is a MyceliumError, except MessageTypeError (a
# TypeError) and bad arguments (ValueError). They are `mycelium.ActorStopped` and so on
# (their `__module__` is "mycelium"), and their texts speak of Python actors, handlers and
# contract classes, not of the Rust types underneath.
class MyceliumError(Exception): ...
class ActorFailed(MyceliumError):
    """The actor failed (an exception, a panic) handling the message; it restarts if
    supervised. The text carries the exception's type and message.

    When a Python actor's handler raised, an ask to its ref (`ask`, `ask_async`; direct or
    through the mailbox) raises that exception as itself: an `ActorFailed` that is also an
    instance of the handler's exception class (its class is `ActorFailed(ValueError)`),
    `__cause__` being the handler's exception with its traceback (through the mailbox, the
    traceback as text in its `__notes__`). `except ValueError` and `except ActorFailed` both
    catch it; attributes of the handler's exception read through. An ask by service name
    (`bus.ref(name)`) of a Python actor of the same bus raises it the same way; one of a
    Rust actor, or of an actor on another node, raises a plain `ActorFailed` with the
    failure's text. Every handler failure is also logged, with its traceback,
    on the logger `mycelium.actor` (level ERROR), so that a failing tell is never silent."""

class ActorStopped(MyceliumError):
    """The actor has stopped for good; the message was not handled. The text says why it
    stopped (`the actor has stopped (failed: ...)`), however long after the stop the ref is
    used."""

class AskTimeout(MyceliumError):
    """No reply within the timeout (seconds of bus time)."""

class UnknownService(MyceliumError):
    """No service of that name is exported on the bus."""

class MailboxFull(MyceliumError):
    """`try_tell` found the mailbox full; nothing was queued."""

class StartFailed(MyceliumError):
    """`on_start` raised: the actor (or the tree) did not start. A tree whose child failed
    its first start stops the children it had started; `child` names that child (None for
    an actor spawned alone) and the message carries the exception's type and text."""

    child: str | None

class BusClosed(MyceliumError):
    """The bus has shut down or failed: `spawn`, `spawn_rust`, `supervise`, `publish`, `ref`
    and `join` on it raise this, with how it ended. `shutdown()` again returns
    `{"stopped": 0, "killed": 0}`; `now`, `services`, `dead_letters` and `run_forever` still
    answer."""

class MessageTypeError(TypeError):
    """A type the target does not handle, a plain object where it would leave Python
    ("`dict` cannot leave Python: ... Declare it as a message in your schema file"), or a
    handler of a schema message that returned something other than a schema message (or
    None). A handler that returns None to an ask raises it in the asker (`Echo.ping returned
    None to an ask of Heartbeat`), through the actor's ref or its service alike; the actor
    goes on."""

class SchemaMismatch(MessageTypeError):
    """A message class of another schema than the bus's, or of a module generated from
    another version of the schema file. The text names the class, both digests and the
    `mycelium-codegen python FILE -o DIR` command that regenerates the module."""

def handler(message_type: type) -> Callable[[_F], _F]:
    """Marks a method as the handler of `message_type`: a message class of your schema's
    generated module, or any other class (`dict`, a class of your own) for plain objects
    between the Python actors of one bus (the handler of the nearest class in the object's
    MRO runs). It takes the message and returns the reply or None; a reply to a schema
    message is a schema message, a reply to a plain object any object. It may be `async
    def`. A class body with two handlers of one class raises `TypeError` when it is
    defined; a subclass's handler replaces the one it inherits."""

class Subscription:
    """A topic subscription; cancelled when the actor's incarnation ends."""

    def cancel(self) -> None: ...
    def is_active(self) -> bool: ...
    @property
    def pattern(self) -> str: ...
    @property
    def dropped(self) -> int: ...

class Actor:
    """Base class of Python actors: constructed with no arguments, then `on_start(args)`
    at every incarnation. An exception anywhere is a failure, exactly like a Rust panic:
    the message goes to the dead letters, an `ask` raises `ActorFailed` at once (an
    exception of the handler: as itself, see `ActorFailed`), it is logged on the logger
    `mycelium.actor`, and a
    supervisor restarts the actor in place (a fresh instance, the same args) after its
    backoff; refs stay valid."""

    ref: ActorRef
    @property
    def bus(self) -> Bus:
        """This actor's bus, held weakly: `BusClosed` once the program has dropped it."""
    def on_start(self, args: Any) -> Any: ...
    def on_stop(self, reason: str) -> Any: ...
    def subscribe(
        self,
        message_type: type,
        pattern: str | None = None,
        *,
        key: int | None = None,
        overflow: str = "block",
        capacity: int | None = None,
    ) -> Subscription:
        """Receive `message_type` (a message class of the bus's schema) publications under
        `pattern` (default: its schema topic) in this actor's handler until the incarnation
        ends. `overflow`: block, drop_newest (bounded by the mailbox), drop_oldest (a buffer of
        `capacity`, default 1024), latest_per_key; `ValueError` for `capacity` with a policy
        other than drop_oldest."""
    def publish(self, message: Any, topic: str | None = None, *, key: int | None = None) -> int: ...
    def send_after(self, message: Any, delay: float) -> Timer:
        """Sends this actor `message` (one it has a handler of) after `delay` seconds of bus
        time, through its mailbox. Cancelled by `Timer.cancel()` and by the end of this
        incarnation (a stop, a failure, a kill)."""
    def send_interval(self, message: Any, period: float) -> Timer:
        """Sends this actor `message` every `period` seconds of bus time, the first a period
        from now, on a fixed grid; firings missed while the mailbox was full are skipped."""

class Timer:
    """A timer an actor set (`Actor.send_after`, `Actor.send_interval`)."""

    def cancel(self) -> None:
        """Nothing more is sent (a firing already in the mailbox is handled)."""
    def is_active(self) -> bool: ...
    @property
    def number(self) -> int:
        """From 0 in each incarnation, in the order its timers were set (`timer N` in a
        journal)."""

class ActorRef:
    """A Python actor, or a service (Rust or Python) exported on a bus. Sync calls release
    the GIL while they wait."""

    @property
    def id(self) -> str: ...
    def is_alive(self) -> bool: ...
    def tell(self, message: Any) -> None:
        """A message of the bus's schema; or, to a Python actor's own ref, any Python object
        (passed by reference: the handler gets the very object)."""
    def try_tell(self, message: Any) -> None: ...
    def ask(self, message: Any, timeout: float | None = None) -> Any:
        """The handler's reply (a plain object asked: the handler's very return value,
        not a copy). An idle Python actor (nothing queued, nothing running, a real-time bus)
        runs its handler on the calling thread (an `async def` one only if no event loop runs
        on that thread), with or without a timeout; otherwise the ask goes through its
        mailbox and the caller waits without the GIL. `timeout` (seconds of bus time) bounds
        the wait for the reply: a handler already running on the calling thread cannot be
        cut short, and if it returns after the timeout, `AskTimeout` is raised and its reply
        dropped (the message was handled). Raises the handler's exception as an
        `ActorFailed` (see `ActorFailed`), `AskTimeout`, `ActorStopped`."""
    def tell_async(self, message: Any) -> Awaitable[None]:
        """`tell` of a schema message, awaitable."""
    def ask_async(self, message: Any, timeout: float | None = None) -> Awaitable[Any]:
        """`ask`, awaitable. An idle Python actor's plain `def` handler runs at once, inside
        the event loop, with no thread hand-off (as `ask` runs it); otherwise (a busy actor,
        an `async def` handler, a service) the ask goes through the mailbox and the loop
        runs on meanwhile. Raises as `ask` does."""
    def stop(self) -> None: ...
    def wait_for_stop(self) -> str: ...

class Backoff:
    """Delay before a restart: min(initial * factor**n, cap) seconds of bus time. Checked
    when made: a negative or non-numeric `initial` or `cap`, or a `factor` below 1, raises
    `ValueError` naming it (`Backoff(initial=-1.0): initial must be a non-negative number of
    seconds`)."""

    initial: float
    factor: float
    cap: float
    def __init__(self, initial: float = 0.01, factor: float = 2.0, cap: float = 1.0) -> None: ...

class PythonChild:
    name: str
    actor: type[Actor]
    args: Any
    service: str | None
    restart: str
    hibernate: bool
    record: journal.Recorder | None

class RustChild:
    name: str
    kind: str
    arg: str | None
    service: str | None
    restart: str
    hibernate: bool

def python_child(
    name: str,
    actor: type[Actor],
    args: Any = None,
    *,
    service: str | None = None,
    restart: str = "permanent",
    hibernate: bool = False,
    record: journal.Recorder | None = None,
) -> PythonChild:
    """A Python child of a tree; `restart`: permanent, transient or temporary;
    `hibernate`: no task while its mailbox is empty; `record`: the journal recorder it is
    recorded into, restarts included (default: the bus's)."""

def rust_child(
    name: str,
    kind: str,
    arg: str | None = None,
    *,
    service: str | None = None,
    restart: str = "permanent",
    hibernate: bool = False,
) -> RustChild:
    """A Rust child started by the name its crate registered it under (see `rust_actors`).
    The example ones: `counter` (each Heartbeat adds its seq; replies with the total),
    `relay` (arg: a service it asks with seq + 1, replying with that answer) or
    `quote_recorder` (arg: a topic pattern; counts Quotes; a Heartbeat ask answers with the
    count in seq and the last quote's ts_ns). A team's own extension registers its own
    (docs/python.md, "Your own Rust actors"). `ValueError` for an unknown name (the text
    lists the registered ones) or an arg the actor refuses."""

def rust_actors() -> list[tuple[str, str | None, str, list[int]]]:
    """The Rust actors `Bus.spawn_rust` and `rust_child` can start in this process: `(name,
    arg, schema package, type ids)`, `arg` being None or what the argument is (`"optional:
    ..."` when it may be left out). A team's own `mycelium` extension adds its actors to the
    example ones."""

class Supervisor:
    """A running supervision tree; its repr is
    `<mycelium.Supervisor one_for_one, running: a, b (of 2 children), 0 restarts>`, or says
    why it stopped."""

    def child(self, name: str) -> ActorRef: ...
    def children(self) -> list[str]:
        """The names of the children running now, in start order."""
    def which_children(self) -> list[tuple[str, str]]:
        """Every child in start order with its state: running, restarting or stopped."""
    def events(self) -> list[tuple[float, str, str]]:
        """(bus seconds, kind, child); kind: started, failed, exited, restarted,
        restart_failed, stopped, gave_up, escalated."""
    def restarts(self, child: str | None = None) -> int: ...
    def wait_restarts(self, n: int, child: str | None = None) -> None: ...
    def stop(self) -> str:
        """Stops the tree and returns once it is all down, with the supervisor's reason."""
    def wait_for_stop(self) -> str: ...

class Bus:
    """An isolated bus with its own runtime; real time, or virtual time (a paused clock
    that jumps to the next timer whenever every actor waits). On virtual time the clock
    stands still while a Python handler runs, so no timeout or shutdown deadline passes
    during one: a handler must not wait for something only a deadline would end. A bus
    dropped without `shutdown()` is collected even while its actors run: they end without
    `on_stop`, and a `ResourceWarning` says so. Once it has shut down or failed, every call
    that would start or send something raises `BusClosed`."""

    def __init__(
        self,
        *,
        virtual_time: bool = False,
        seed: int = 0,
        workers: int = 2,
        schema: ModuleType | None = None,
        record: journal.Recorder | None = None,
    ) -> None:
        """`record`: a `mycelium.journal.Recorder` every Python actor spawned on the bus is
        recorded into (unless its spawn names another). `workers`: the runtime's worker threads on real time, 1 to `MAX_WORKERS` (1024),
        started at once; anything else raises `ValueError` naming it. `schema`: the module
        generated from your schema file, which the bus speaks (its digest is what a node of
        this bus gives at handshake); without it, the first schema used on the bus (a
        handler's class, a message sent or published, a built-in Rust actor's example
        schema) is fixed as the bus's. A class of another schema raises `SchemaMismatch`."""
    @property
    def schema(self) -> ModuleType | None:
        """The generated module of the schema the bus speaks, or None while none is set."""
    MAX_WORKERS: int
    def __repr__(self) -> str:
        """`<mycelium.Bus open, 3 actors, 1 service, real time>` (supervisors count as
        actors), `<mycelium.Bus shut down, ...>` or `<mycelium.Bus failed (why), ...>`."""
    def __enter__(self) -> Bus: ...
    def __exit__(self, *exc: Any) -> None: ...
    @property
    def virtual_time(self) -> bool: ...
    def now(self) -> float: ...
    def runtime_tasks(self) -> int: ...
    def spawn(
        self,
        actor: type[Actor],
        args: Any = None,
        *,
        name: str | None = None,
        service: str | None = None,
        hibernate: bool = False,
        record: journal.Recorder | None = None,
    ) -> ActorRef:
        """`record`: the journal recorder the actor is recorded into (default: the bus's);
        `ValueError` if its class handles plain objects and the recorder may not pickle them."""
    def ref(self, service: str) -> ActorRef: ...
    def services(self) -> list[str]: ...
    def spawn_rust(self, kind: str, service: str, arg: str | None = None) -> ActorRef:
        """Starts the Rust actor registered as `kind` (see `rust_actors`), exported under
        `service` for the messages it takes. `ValueError`, with nothing left running, for an
        unknown kind, an arg it refuses, a start that fails or a service name already taken;
        `SchemaMismatch` on a bus of another schema than the actor's."""
    def publish(self, message: Any, topic: str | None = None, *, key: int | None = None) -> int:
        """Publishes a message of the bus's schema (default topic: its schema topic) to its
        Python subscribers and to Rust ones (on a bus of another schema than the example's:
        of a message type that Rust code exports as a topic type); returns how many it was
        delivered to. A plain object raises `MessageTypeError` (topics carry schema
        messages)."""
    def supervise(
        self,
        children: list[PythonChild | RustChild],
        *,
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        within: float = 5.0,
        backoff: Backoff = ...,
    ) -> Supervisor:
        """Starts a tree and waits until every child has started. More than `max_restarts`
        restarts `within` seconds make it give up and fail the bus. A negative `within` or
        `max_restarts` raises `ValueError` naming it before anything starts; a child whose
        first `on_start` raises, `StartFailed` (its `child` names it)."""
    def dead_letters(self) -> list[dict[str, str]]:
        """Takes the dead letters held so far (actor, actor_type, message_type, reason): a
        second call returns only those since."""
    def shutdown(self, timeout: float = 5.0) -> dict[str, int]:
        """Stops every actor (each `on_stop` runs), killing what is alive after `timeout`
        seconds; returns `{"stopped": n, "killed": n}`. A killed Python actor's `on_stop` does
        not run, and a handler it was running goes on until it returns (Python code cannot be
        preempted): its result is discarded, and the interpreter's exit waits for it."""
    def fail(self, reason: str) -> None: ...
    def run_forever(self) -> str: ...
    def join(self, topology: str, node: str) -> Node:
        """Starts this bus as node `node` of the topology file `topology`: its exported
        services become reachable from the other nodes, and `Node.ref` reaches a service on
        whichever node hosts it. Raises `ValueError` for a topology that cannot be used. The
        node's handshake gives the digest of the bus's schema, which must be set (`Bus(schema=
        ...)`, or a schema already used on the bus): `SchemaMismatch` otherwise; a peer of
        another digest is refused."""

class Node:
    """This bus as one node of a topology (`Bus.join`); a context manager."""

    @property
    def name(self) -> str: ...
    @property
    def schema_digest(self) -> str:
        """The digest of the bus's schema, which this node gives at handshake (hex)."""
    def __enter__(self) -> Node: ...
    def __exit__(self, *exc: Any) -> None: ...
    def is_remote(self, service: str) -> bool: ...
    def ref(self, service: str) -> NodeRef: ...
    def forward_topic(self, message_type: type) -> None:
        """Topics across nodes: on a bus of the example schema only (its messages have Rust
        types here); `MessageTypeError` otherwise."""
    def subscribe_remote(
        self,
        message_type: type,
        pattern: str | None = None,
        *,
        overflow: str | None = None,
        capacity: int | None = None,
    ) -> None:
        """Publications of `message_type` under `pattern` on the other nodes, published on
        this bus. `overflow`, what each publishing node does while its link to this node is
        full: `block` (the publisher waits; nothing dropped), `drop_newest`, `drop_oldest`
        (a buffer of `capacity` publications, default 1024), `latest_per_key`; left out: the
        topology file's `[[node.subscription]]` policy for `pattern`, else `block`. What is
        dropped arrives as a `TopicGap` (`on_gap`). `ValueError` for a bad pattern, an unknown
        policy, or `capacity` with a policy other than `drop_oldest`."""
    def unsubscribe_remote(self, message_type: type, pattern: str | None = None) -> None: ...
    def on_gap(self, handler: ActorRef | Callable[[TopicGap], Any]) -> GapWatch:
        """Each `TopicGap` this node is told of, in order: told to a Python actor (its
        `@handler(mycelium.TopicGap)`) or passed to a callable (on a thread of the bus's
        pool, one at a time). An exception (or a tell to a stopped actor) goes to
        `sys.unraisablehook`, and later gaps still come. Until `GapWatch.cancel()`."""
    def close(self) -> None:
        """Sends what is queued and waits up to the links' `close_timeout` (5 s by default;
        `close_timeout_ms` in the topology's `[link]`) for the peers to acknowledge it,
        reports what is still unacknowledged as lost, then stops the node's listener and
        links. The bus keeps running."""
    def close_now(self) -> None:
        """The abrupt close: stops the node's listener and links at once, without waiting
        for acknowledgements; what is unacknowledged is reported lost. The bus keeps
        running."""

GAP_TOPIC: str
"""`mycelium.remote.gap`: the topic on which a node publishes each gap on its own bus."""

class TopicGap:
    """Publications of a topic a node subscribed to on another node that will never arrive.
    `str(gap)` says it in a sentence."""

    source: str
    """The node that published them."""
    topic: str
    """Their topic (for `dropped`: the subscription's pattern)."""
    type_id: int
    message: str
    """Their message class's name (`Quote`)."""
    first: int
    """The first lost one's sequence number on the link (0 for `dropped`)."""
    last: int
    """The last lost one's (0 for `dropped`)."""
    count: int
    """How many."""
    reason: str
    """`dropped` (the subscription's overflow policy, while the link was full), `restarted`
    (this process restarted: what its predecessor had not handled), `forgot` (the publisher
    took this node for another process of its name), `too_large` (too large for a frame),
    `closed` (the publisher's link to this node was closed when they were published),
    `other` (a newer peer's reason)."""
    text: str
    """The whole story in a sentence, as `str(gap)`."""

class GapWatch:
    """What `Node.on_gap` returns."""

    def cancel(self) -> None:
        """No more deliveries once it returns (one under way finishes)."""
    def is_active(self) -> bool: ...

class NodeRef:
    """A service reached through a `Node`: over the link to its node, or locally."""

    service: str
    def tell(self, message: Any) -> None: ...
    def ask(self, message: Any, timeout: float | None = None) -> Any:
        """Raises `ActorFailed` (the handler failed, or the link dropped before the reply),
        `AskTimeout`, `ActorStopped` (not sent), `UnknownService`, and `MessageTypeError`
        for a message type the service does not take, on this node or another alike."""

def sweep(
    fast: Sequence[int],
    slow: Sequence[int],
    bands: Sequence[int],
    *,
    ticks: int = 100_000,
    seed: int = 42,
    workers: int | None = None,
    data: str | os.PathLike[str] | Any = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    output: str = "rows",
    details: bool = False,
) -> Any:
    """The built-in crossover backtest over a grid, in grid order: a list of dicts with the
    columns of the backtest's results.csv (status, return_pct, sharpe, max_drawdown_pct,
    trades, win_rate_pct, ...; see mycelium.backtest.STAT_COLUMNS), or a pandas DataFrame /
    pyarrow Table with output="pandas" / "arrow". `details=True` adds each run's
    `equity_curve` and `trade_list` (see mycelium.backtest.run_strategy)."""

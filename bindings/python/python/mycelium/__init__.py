"""Mycelium: typed actors, supervision trees and isolated buses, with Python actors hosted in
process next to Rust ones.

    import mycelium
    from mycelium.trading import Heartbeat

    class Echo(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, hb: Heartbeat) -> Heartbeat:
            return Heartbeat(ts_ns=hb.ts_ns, seq=hb.seq + 1, sender="echo")

    with mycelium.Bus() as bus:
        echo = bus.spawn(Echo)
        assert echo.ask(Heartbeat(ts_ns=0, seq=1, sender="me")).seq == 2
"""

from . import backtest, journal, trading
from ._actor import Actor, handler
from ._bus import (
    ActorRef,
    Backoff,
    Bus,
    Node,
    NodeRef,
    PythonChild,
    RustChild,
    Supervisor,
    python_child,
    rust_child,
)
from ._native import (
    ActorFailed,
    ActorStopped,
    GAP_TOPIC,
    AskTimeout,
    BusClosed,
    GapWatch,
    MailboxFull,
    MessageTypeError,
    MyceliumError,
    SchemaMismatch,
    StartFailed,
    Subscription,
    Timer,
    TopicGap,
    UnknownService,
    rust_actors,
)
from .backtest import sweep

__all__ = [
    "Actor",
    "ActorFailed",
    "ActorRef",
    "ActorStopped",
    "AskTimeout",
    "Backoff",
    "Bus",
    "BusClosed",
    "GAP_TOPIC",
    "GapWatch",
    "MailboxFull",
    "MessageTypeError",
    "MyceliumError",
    "Node",
    "NodeRef",
    "PythonChild",
    "RustChild",
    "SchemaMismatch",
    "StartFailed",
    "Subscription",
    "Supervisor",
    "Timer",
    "TopicGap",
    "UnknownService",
    "handler",
    "python_child",
    "rust_actors",
    "rust_child",
    "backtest",
    "journal",
    "sweep",
    "trading",
]

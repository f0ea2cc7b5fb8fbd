import pytest

import mycelium
from mycelium.trading import Heartbeat


def hb(seq: int = 0, sender: str = "test", ts_ns: int = 0) -> Heartbeat:
    return Heartbeat(ts_ns=ts_ns, seq=seq, sender=sender)


class Echo(mycelium.Actor):
    """Answers a heartbeat with seq + 1; `sender="boom"` raises; counts what it handled."""

    def on_start(self, args):
        self.handled = 0
        self.args = args
        if isinstance(args, dict) and "starts" in args:
            args["starts"].append(self.ref.id)

    @mycelium.handler(Heartbeat)
    def ping(self, msg: Heartbeat) -> Heartbeat:
        if msg.sender == "boom":
            raise ValueError("boom on request")
        self.handled += 1
        return Heartbeat(ts_ns=msg.ts_ns, seq=msg.seq + 1, sender=f"handled {self.handled}")


@pytest.fixture
def bus():
    with mycelium.Bus() as b:
        yield b


@pytest.fixture
def vbus():
    with mycelium.Bus(virtual_time=True) as b:
        yield b

"""A user's recorded system, for `test_recorded_system.py`: a schema of its own (`MARKET_YAML`),
and on the `desk` node a supervision tree of three Python actors: a `Pricer` that keeps an
average of the prices it is told, fails on a negative one and tells the `Trader` its average
from a timer; a `Trader` that asks the `Venue` on the other node for a fill when the average
moves, and tells the `Sink` each fill. Run as a program (`python market_system.py MODULE_DIR
RUN_DIR`) it is the desk node, recorded into RUN_DIR/journal, telling and asking the pricer
prices until it is killed; it prints `ready` once `READY` prices are recorded."""

import importlib.util
import pathlib
import sys
import time
from types import ModuleType, SimpleNamespace

import mycelium
from mycelium import journal

MARKET_YAML = """\
package: market
messages:
  Px:
    id: 11
    topic: market.px
    fields:
      - { name: seq, type: u64, tag: 1 }
      - { name: px, type: f64, tag: 2 }
      - { name: sym, type: string, tag: 3 }
  Order:
    id: 12
    topic: market.order
    fields:
      - { name: id, type: u64, tag: 1 }
      - { name: qty, type: i64, tag: 2 }
      - { name: px, type: f64, tag: 3 }
  Fill:
    id: 13
    topic: market.fill
    fields:
      - { name: id, type: u64, tag: 1 }
      - { name: qty, type: i64, tag: 2 }
      - { name: px, type: f64, tag: 3 }
"""

#: The prices recorded before the desk says `ready`; every `FAIL_EVERY`-th is negative.
READY = 400
FAIL_EVERY = 100
SECRET_ENV = "MYCELIUM_PY_MARKET_SECRET"


def price(i: int) -> float:
    """The `i`-th price told to the pricer (from 1)."""
    return -1.0 if i % FAIL_EVERY == 0 else 100 + (i % 23) * 0.1


def load(module_dir: str) -> ModuleType:
    """The module generated from `MARKET_YAML` into `module_dir`, imported as `market`."""
    spec = importlib.util.spec_from_file_location("market", pathlib.Path(module_dir) / "market.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["market"] = module
    spec.loader.exec_module(module)
    return module


def topology(run_dir: str) -> str:
    return (
        f'secret_env = "{SECRET_ENV}"\n'
        f'[[node]]\nname = "desk"\nendpoint = "unix:{run_dir}/desk.sock"\n'
        'services = ["trader", "sink"]\n'
        f'[[node]]\nname = "venue"\nendpoint = "unix:{run_dir}/venue.sock"\n'
        'services = ["venue"]\n'
    )


def actors(m: ModuleType) -> SimpleNamespace:
    """The system's actor classes for the schema module `m`."""

    class Venue(mycelium.Actor):
        """Fills every order, every fourth one by half, a cent above its price."""

        def on_start(self, _):
            self.n = 0

        @mycelium.handler(m.Order)
        def order(self, o):
            self.n += 1
            qty = o.qty if self.n % 4 else o.qty // 2
            return m.Fill(id=o.id, qty=qty, px=o.px + 0.01)

    class Sink(mycelium.Actor):
        def on_start(self, _):
            self.qty = 0

        @mycelium.handler(m.Fill)
        def fill(self, f):
            self.qty += f.qty

    class Pricer(mycelium.Actor):
        def on_start(self, alpha):
            self.alpha = alpha
            self.avg = None
            self.ticks = 0
            self.send_interval(m.Px(seq=0, px=0.0, sym="timer"), 0.003)

        @mycelium.handler(m.Px)
        def px(self, p):
            if p.sym == "timer":
                self.ticks += 1
                told = m.Px(seq=self.ticks, px=self.avg or 0.0, sym="avg")
                self.bus.ref("trader").tell(told)
                return None
            if p.px < 0:
                raise ValueError(f"negative price {p.px}")
            self.avg = self.seen(p.px)
            return m.Px(seq=p.seq, px=self.avg, sym=p.sym)

        def seen(self, px):
            return px if self.avg is None else self.alpha * px + (1 - self.alpha) * self.avg

    class ClampedPricer(Pricer):
        """A new version: prices above 101.5 count as 101.5."""

        def seen(self, px):
            return super().seen(min(px, 101.5))

    class Trader(mycelium.Actor):
        def on_start(self, node):
            self.node = node
            self.last = None
            self.next_id = 1

        @mycelium.handler(m.Px)
        def avg(self, p):
            if self.last is not None and abs(p.px - self.last) > 0.05:
                order = m.Order(id=self.next_id, qty=10 if p.px > self.last else -10, px=p.px)
                fill = self.node.ref("venue").ask(order, timeout=30.0)
                self.next_id += 1
                self.bus.ref("sink").tell(fill)
            self.last = p.px

    return SimpleNamespace(
        Venue=Venue, Sink=Sink, Pricer=Pricer, ClampedPricer=ClampedPricer, Trader=Trader
    )


def desk(module_dir: str, run_dir: str) -> None:
    """The desk node, recorded; runs until it is killed."""
    m = load(module_dir)
    a = actors(m)
    rec = journal.Recorder(f"{run_dir}/journal", schema=m)
    with mycelium.Bus(schema=m, record=rec) as bus:
        with bus.join(f"{run_dir}/topology.toml", "desk") as node:
            tree = bus.supervise(
                [
                    mycelium.python_child("sink", a.Sink, None, service="sink"),
                    mycelium.python_child("trader", a.Trader, node, service="trader"),
                    mycelium.python_child("pricer", a.Pricer, 0.3),
                ],
                backoff=mycelium.Backoff(0.001, 1.0, 0.001),
                max_restarts=1000,
            )
            pricer = tree.child("pricer")
            i = 0
            while True:  # until killed
                i += 1
                px = m.Px(seq=i, px=price(i), sym="ABC")
                try:
                    if i % 4:
                        pricer.tell(px)
                    else:
                        pricer.ask(px, timeout=30.0)
                except ValueError:
                    pass  # the negative price's ask
                if i == READY:
                    rec.flush()
                    print("ready", flush=True)
                time.sleep(0.0002)


if __name__ == "__main__":
    desk(sys.argv[1], sys.argv[2])

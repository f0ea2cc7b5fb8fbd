"""The desk as a Python program hosting the team's Rust execution engine.

Needs the desk's own wheel (examples/desk/build.sh): its `mycelium` has the engine registered
as `"execution"`. Prints the same line as the Rust program `desk-host` (`python -m trading_desk.run`).
"""

from __future__ import annotations

import sys

from trading_desk import desk
import mycelium
from trading_desk.strategy import Momentum


def main(ticks: int = 500, seed: int = 7) -> str:
    with mycelium.Bus(schema=desk) as bus:
        bus.spawn_rust("execution", "execution")
        strategy = bus.spawn(Momentum, "execution")
        summary = strategy.ask(desk.Run(ticks=ticks, seed=seed))
        return f"orders {summary.orders} position {summary.position} digest {summary.digest:016x}"


if __name__ == "__main__":
    print(main(*(int(a) for a in sys.argv[1:3])))

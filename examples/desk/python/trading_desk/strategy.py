"""The desk's momentum strategy: a Python actor that trades through the execution service.

The same class runs in a Python program (`trading_desk.run`, the engine started with
`bus.spawn_rust("execution", ...)`) and in the Rust program `desk-host`, which hosts it as a
child of its supervision tree.
"""

from __future__ import annotations

import struct

from trading_desk import desk
import mycelium

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def fnv1a(digest: int, data: bytes) -> int:
    """Folds `data` into a 64-bit FNV-1a digest."""
    for byte in data:
        digest = ((digest ^ byte) * _FNV_PRIME) & _MASK
    return digest


class Momentum(mycelium.Actor):
    """Buys when the last three marks rise, sells when they fall, 10 at a time; answers a
    `Run` with its `Summary`, also published on `desk.summary`."""

    def on_start(self, execution: str) -> None:
        self.execution = execution

    @mycelium.handler(desk.Run)
    def run(self, run: desk.Run) -> desk.Summary:
        engine = self.bus.ref(self.execution)
        state, mark, window = run.seed, 100.0, []
        orders, position, digest = 0, 0, _FNV_OFFSET
        for tick in range(run.ticks):
            # A deterministic walk of the mark (a 64-bit LCG), in whole cents.
            state = (state * 6364136223846793005 + 1442695040888963407) & _MASK
            mark = round(mark + ((state >> 33) % 21 - 10) / 100, 2)
            window = (window + [mark])[-3:]
            if len(window) < 3 or window[0] == window[-1]:
                continue
            side = desk.Side.Buy if window[-1] > window[0] else desk.Side.Sell
            fill = engine.ask(desk.NewOrder(order_id=tick + 1, side=side, qty=10, mark=mark))
            orders += 1
            position = fill.position
            digest = fnv1a(
                digest,
                struct.pack("<QIqq", fill.order_id, fill.qty, round(fill.price * 100), fill.position),
            )
        summary = desk.Summary(orders=orders, position=position, digest=digest)
        # On the schema's topic `desk.summary`, for whoever subscribes: a Rust actor receives
        # it as the Rust type `Summary` in a Rust program that exports that topic type.
        self.publish(summary)
        return summary

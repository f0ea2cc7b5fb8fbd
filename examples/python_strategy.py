"""A strategy written in Python, backtested in the Rust pipeline on virtual time.

    pip install ./bindings/python
    python examples/python_strategy.py

The replayer, exchange and portfolio are the reference pipeline's Rust actors; the strategy
is this Python class, hosted in the strategy's place. Each grid point runs on a bus of its
own with a paused clock: a year of ticks takes no wall time beyond the computation.
"""

from collections import deque
from typing import Any

from mycelium.backtest import Strategy, run_strategy


class Breakout(Strategy):
    """Long when the price breaks above its recent mean by `band`, short below, flat in
    between. It decides the direction; the account sizes the position (all the cash by
    default, as backtesting.py)."""

    @classmethod
    def warmup(cls, args: Any) -> int:
        window: int = args[0]
        return window - 1  # the first bar with a full window's mean

    def on_start(self, args: Any) -> None:
        self.window: int = args[0]
        self.band: float = args[1]
        self.recent: deque[float] = deque(maxlen=self.window)
        self.total = 0.0
        self.target = 0

    def on_ticks(
        self, start: int, prices: list[float], timestamps: list[int]
    ) -> list[tuple[int, int]]:
        orders: list[tuple[int, int]] = []
        for i, price in enumerate(prices, start):
            if len(self.recent) == self.window:
                self.total -= self.recent[0]
            self.recent.append(price)
            self.total += price
            if len(self.recent) < self.window:
                continue
            mean = self.total / self.window
            want = 1 if price > mean * (1 + self.band) else -1 if price < mean * (1 - self.band) else 0
            if want != self.target:
                orders.append((i, want))
                self.target = want
        return orders


if __name__ == "__main__":
    grid = [(window, band) for window in (50, 200) for band in (0.0005, 0.002)]
    rows = run_strategy(Breakout, grid, ticks=50_000, seed=7, commission_bps=1.0)
    for row in rows:
        if row["status"] != "ok":
            print(f"{row['args']}: failed: {row['status']}")
        else:
            print(
                f"window={row['args'][0]:>4} band={row['args'][1]:.4f}  "
                f"return={row['return_pct']:>7.2f}%  buy&hold={row['buy_hold_return_pct']:>7.2f}%  "
                f"sharpe={row['sharpe']:>6.2f}  max_dd={row['max_drawdown_pct']:>7.2f}%  "
                f"trades={row['trades']:>5}  win={row['win_rate_pct']:>5.1f}%  trace={row['trace_hash']}"
            )

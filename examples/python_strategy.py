"""Strategies written in Python, backtested in the Rust pipeline on virtual time.

    pip install ./bindings/python
    python examples/python_strategy.py

The replayer, exchange and portfolio are the reference pipeline's Rust actors; the strategy
is a Python class, hosted in the strategy's place. Each grid point runs on a bus of its own
with a paused clock: a year of ticks takes no wall time beyond the computation.

Two kinds of strategy: `Breakout` defines `on_ticks` and returns target directions for each
batch of ticks (the account sizes them); `Pullback` defines `on_bar`, sees every bar and the
account, and places limit orders with a stop loss and a take profit, as a backtesting.py
strategy's `next()` would.

The statistics are backtesting.py's: the Sharpe ratio is the annualised geometric return
over the annualised volatility of the daily returns (not of the per-tick ones). That
volatility compounds the daily moments over a year, so on a curve that loses a percent or
more a day it shrinks towards zero and the ratio reaches the thousands (a few weeks of such
a rule, 50,000 ticks, give -4961; backtesting.py gives the same on the same curve). Hence a
year of ticks here, and rules that trade less.
"""

from collections import deque
from typing import Any

from mycelium.backtest import Account, Bar, Strategy, run_strategy


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


class Pullback(Strategy):
    """In an uptrend (price above its `window` mean), when flat, bids `dip` below the close
    with half the cash, a stop loss `risk` below the bid and a take profit twice as far
    above. The bid works until it fills or the next bid replaces it."""

    @classmethod
    def warmup(cls, args: Any) -> int:
        window: int = args[0]
        return window - 1

    def on_start(self, args: Any) -> None:
        self.window: int = args[0]
        self.dip: float = args[1]
        self.risk: float = args[2]
        self.recent: deque[float] = deque(maxlen=self.window)
        self.total = 0.0

    def on_bar(self, bar: Bar, account: Account) -> None:
        if len(self.recent) == self.window:
            self.total -= self.recent[0]
        self.recent.append(bar.close)
        self.total += bar.close
        if len(self.recent) < self.window or account.position != 0:
            return
        if bar.index % 100 == 0 and bar.close > self.total / self.window:
            bid = bar.close * (1 - self.dip)
            self.buy(size=0.5, limit=bid, sl=bid * (1 - self.risk), tp=bid * (1 + 2 * self.risk))


def show(row: dict[str, Any]) -> None:
    if row["status"] != "ok":
        print(f"{row['args']}: failed: {row['status']}")
        return
    print(
        f"{str(row['args']):>22}  return={row['return_pct']:>7.2f}%  "
        f"buy&hold={row['buy_hold_return_pct']:>7.2f}%  sharpe={row['sharpe']:>6.2f}  "
        f"max_dd={row['max_drawdown_pct']:>7.2f}%  trades={row['trades']:>5}  "
        f"win={row['win_rate_pct']:>5.1f}%  trace={row['trace_hash']}"
    )


if __name__ == "__main__":
    grid = [(window, band) for window in (500, 2000) for band in (0.002, 0.005)]
    for row in run_strategy(Breakout, grid, ticks=400_000, commission_bps=1.0):
        show(row)

    pullbacks = [(window, 0.002, risk) for window in (1000, 4000) for risk in (0.005, 0.01)]
    rows = run_strategy(Pullback, pullbacks, ticks=200_000, commission_bps=1.0, details=True)
    for row in rows:
        show(row)
    best = max((r for r in rows if r["status"] == "ok"), key=lambda r: float(r["return_pct"]))
    print(f"the first trades of {best['args']}:")
    for trade in best["trade_list"][:3]:
        print(
            f"  {trade['size']:>4} units  bar {trade['entry_bar']} at {trade['entry_price']:.2f}"
            f" -> bar {trade['exit_bar']} at {trade['exit_price']:.2f}  pnl={trade['pnl']:.2f}"
        )
    curve = best["equity_curve"]
    print(f"  equity at {len(curve)} marks, lowest {min(p['equity'] for p in curve):.2f}")

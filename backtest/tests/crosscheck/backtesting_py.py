"""Cross-checks the statistics of the backtest example against backtesting.py.

For series this script generates (daily bars on business days and on every day, hourly
bars, weekly bars, daily and hourly bars with a UTC offset in their times, ticks, and a series
whose price spikes so that a short position goes bankrupt),
it writes each as a pandas export (`,Open,High,Low,Close,Volume`), runs the example over a
grid with several account settings, runs backtesting.py with the same strategy and settings
on every grid point, and compares every statistic to 1e-9 relative.

    python3 backtest/tests/crosscheck/backtesting_py.py BACKTEST_BINARY OUT_DIR

Exits 1 and prints each mismatch if any statistic differs.
"""

import csv
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy

warnings.filterwarnings("ignore")

REL = 1e-9
FAST = [5, 15]
SLOW = [30, 70]
BAND = [0, 40]

# (name in results.csv, name in backtesting.py's stats)
STATS = [
    ("equity_final", "Equity Final [$]"),
    ("return_pct", "Return [%]"),
    ("buy_hold_return_pct", "Buy & Hold Return [%]"),
    ("max_drawdown_pct", "Max. Drawdown [%]"),
    ("return_ann_pct", "Return (Ann.) [%]"),
    ("volatility_ann_pct", "Volatility (Ann.) [%]"),
    ("sharpe", "Sharpe Ratio"),
    ("sortino", "Sortino Ratio"),
    ("trades", "# Trades"),
    ("win_rate_pct", "Win Rate [%]"),
    ("exposure_pct", "Exposure Time [%]"),
]

# (label, command-line options, Backtest keyword arguments, size for buy/sell)
SETTINGS = [
    ("defaults", [], {}, None),
    (
        "half equity, 10 bps + 1.5 a fill",
        ["--size", "0.5", "--commission-bps", "10", "--commission-per-trade", "1.5"],
        {"commission": (1.5, 0.001)},
        0.5,
    ),
    (
        "7 units, same close, cash 1000",
        ["--size", "7", "--fill", "same-close", "--cash", "1000"],
        {"trade_on_close": True, "cash": 1000},
        7,
    ),
    ("all equity, 20 bps", ["--commission-bps", "20"], {"commission": 0.002}, None),
]


def SMA(values, n):
    return pd.Series(values).rolling(n).mean()


class Cross(Strategy):
    """The example's strategy: long above the band, short below, unchanged inside."""

    fast = 10
    slow = 30
    band = 0
    size = None

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)
        self.target = 0

    def next(self):
        f, s = self.f[-1], self.s[-1]
        b = self.band / 10_000
        want = 1 if f > s * (1 + b) else -1 if f < s * (1 - b) else self.target
        if want != self.target:
            self.target = want
            self.position.close()
            kwargs = {} if self.size is None else {"size": self.size}
            if want > 0:
                self.buy(**kwargs)
            else:
                self.sell(**kwargs)


def bars(index, rng, vol, spike_at=None, trend=0.0):
    n = len(index)
    r = rng.normal(trend, vol, n)
    if spike_at is not None:
        r[spike_at] = math.log(10.0)
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0, vol / 3, n - 1))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol / 2, n)))
    volume = rng.integers(1_000, 100_000, n)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume},
        index=index,
    )


def series():
    rng = np.random.default_rng(20240601)
    yield "business-days", bars(pd.bdate_range("2018-01-01", periods=700), rng, 0.015)
    yield "every-day", bars(pd.date_range("2019-03-01", periods=600, freq="D"), rng, 0.03)
    yield "hourly", bars(pd.date_range("2023-01-02", periods=1500, freq="h"), rng, 0.004)
    yield "weekly", bars(pd.date_range("2010-01-04", periods=400, freq="W-MON"), rng, 0.04)
    tokyo = pd.bdate_range("2021-01-04", periods=500).tz_localize("Asia/Tokyo")
    yield "tokyo-days", bars(tokyo, rng, 0.012)
    new_york = pd.date_range("2023-03-01 09:00", periods=1200, freq="h", tz="America/New_York")
    yield "new-york-hours", bars(new_york, rng, 0.003)
    times = pd.date_range("2024-01-05", periods=4000, freq="97s")
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, len(times))))
    ticks = pd.DataFrame({"Open": price, "High": price, "Low": price, "Close": price}, index=times)
    yield "ticks", ticks
    yield "spike", bars(
        pd.bdate_range("2020-01-01", periods=400), rng, 0.01, spike_at=250, trend=-0.004
    )


def close_enough(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= REL * max(abs(a), abs(b)) or max(abs(a), abs(b)) < 1e-10


def main():
    binary, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    failures, checked, bankrupt = [], 0, 0
    for name, df in series():
        path = out / f"{name}.csv"
        if name == "ticks":
            # Ticks: nanoseconds since the epoch and a price; backtesting.py gets bars whose
            # open, high, low and close are the tick's price.
            pd.DataFrame({"timestamp_ns": df.index.as_unit("ns").asi8, "price": df.Close}).to_csv(path, index=False)
        else:
            df.to_csv(path)  # a pandas export: the dates in an unnamed first column
        for label, options, bt_kwargs, size in SETTINGS:
            run_dir = out / f"{name}-{SETTINGS.index((label, options, bt_kwargs, size))}"
            cmd = [
                binary, "--data", str(path), "--no-progress", "--workers", "1",
                "--fast", ",".join(map(str, FAST)), "--slow", ",".join(map(str, SLOW)),
                "--band", ",".join(map(str, BAND)), "--out", str(run_dir), *options,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                failures.append(f"{name} / {label}: the example failed: {done.stderr}")
                continue
            with open(run_dir / "results.csv") as f:
                rows = list(csv.DictReader(f))
            # Times with changing UTC offsets (daylight saving) are read in UTC, as
            # pandas does with `utc=True`; a fixed offset is kept as the local time.
            frame = df
            if df.index.tz is not None and len({t.utcoffset() for t in df.index}) > 1:
                frame = df.tz_convert("UTC")
            bt = Backtest(frame, Cross, cash=bt_kwargs.get("cash", 10_000),
                          **{k: v for k, v in bt_kwargs.items() if k != "cash"})
            for row in rows:
                params = dict(fast=int(row["fast"]), slow=int(row["slow"]), band=int(row["band_bps"]))
                stats = bt.run(size=size, **params)
                if row["bankrupt_at"]:
                    bankrupt += 1
                for ours, theirs in STATS:
                    a, b = float(row[ours]), float(stats[theirs])
                    checked += 1
                    if not close_enough(a, b):
                        failures.append(f"{name} / {label} / {params}: {theirs}: ours {a!r}, backtesting.py {b!r}")
    for f in failures:
        print("MISMATCH", f)
    print(f"{checked} statistics compared with backtesting.py, {len(failures)} mismatches, "
          f"{bankrupt} bankrupt runs among them")
    if bankrupt == 0:
        failures.append("no run went bankrupt: the spike series no longer tests bankruptcy")
        print("error: no bankrupt run")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

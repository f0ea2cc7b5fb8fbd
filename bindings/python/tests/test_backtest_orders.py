"""A Python strategy that sees each bar and the account, and places orders with a size,
stop and limit prices, stop loss and take profit: checked by hand on a few bars, and
against backtesting.py on a few hundred."""

import math
import warnings

import pytest

import mycelium
from mycelium.backtest import TRADE_COLUMNS, Account, Bar, Strategy, run_strategy

# Eight daily bars: open, high, low, close.
BARS = [
    (100.0, 101.0, 99.0, 100.0),
    (100.0, 103.0, 98.0, 102.0),
    (101.0, 106.0, 100.0, 105.0),
    (104.0, 108.0, 103.0, 107.0),
    (106.0, 107.0, 95.0, 96.0),
    (97.0, 99.0, 90.0, 92.0),
    (93.0, 97.0, 92.0, 95.0),
    (96.0, 100.0, 95.0, 99.0),
]


def bars_csv(tmp_path, rows=BARS, volume=True):
    path = tmp_path / "bars.csv"
    lines = ["Date,Open,High,Low,Close" + (",Volume" if volume else "")]
    for day, (o, h, l, c) in enumerate(rows):
        lines.append(f"2024-01-{day + 1:02d},{o},{h},{l},{c}" + (f",{1000 + day}" if volume else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


class Script(Strategy):
    """Places `args[bar index]` (a method name and its keywords) and records what it saw."""

    seen: list[tuple[Bar, Account]] = []

    def on_start(self, args):
        self.script = args
        Script.seen = []

    def on_bar(self, bar, account):
        Script.seen.append((bar, account))
        if bar.index in self.script:
            name, kwargs = self.script[bar.index]
            getattr(self, name)(**kwargs)


def run(tmp_path, script, **settings):
    settings.setdefault("size", 10)
    row = run_strategy(Script, [script], data=bars_csv(tmp_path), batch=3, details=True, **settings)[0]
    assert row["status"] == "ok", row["status"]
    return row


def trades(row):
    return [(t["size"], t["entry_bar"], t["exit_bar"], t["entry_price"], t["exit_price"], t["pnl"]) for t in row["trade_list"]]


def test_on_bar_sees_the_bar_and_the_account_after_each_close(tmp_path):
    row = run(tmp_path, {0: ("buy", {}), 3: ("close", {})}, commission_bps=10.0)
    bars = [b for b, _ in Script.seen]
    assert [b.index for b in bars] == list(range(8))
    assert bars[2] == Bar(2, bars[2].time, 101.0, 106.0, 100.0, 105.0, 1002.0)
    assert bars[1].time - bars[0].time == 86_400 * 10**9
    accounts = [a for _, a in Script.seen]
    # Flat at bar 0; 10 units at bar 1's open (100), a commission of 1 paid; out at bar 4's
    # open (106), a commission of 1.06.
    assert accounts[0] == Account(0, None, 10_000.0, 10_000.0)
    assert accounts[1] == Account(10, 100.0, 9_999.0, 9_999.0 + 20.0)
    assert accounts[3].equity == pytest.approx(9_999.0 + 70.0)
    assert accounts[4] == Account(0, None, pytest.approx(9_999.0 + 60.0 - 1.06), pytest.approx(10_057.94))
    assert row["equity_final"] == pytest.approx(10_057.94)
    assert trades(row) == [(10, 1, 4, 100.0, 106.0, pytest.approx(57.94))]
    assert set(row["trade_list"][0]) == set(TRADE_COLUMNS)
    # The equity at every bar, as the account saw it.
    assert [p["equity"] for p in row["equity_curve"]] == pytest.approx([a.equity for a in accounts])


def test_a_limit_entry_with_a_take_profit(tmp_path):
    row = run(tmp_path, {0: ("buy", {"limit": 99.0, "tp": 105.0})})
    # Bar 1's low reaches 99 under its open: filled at 99; bar 2's high reaches 105.
    assert trades(row) == [(10, 1, 2, 99.0, 105.0, 60.0)]
    assert Script.seen[1][1].position == 10 and Script.seen[2][1].position == 0


def test_a_stop_entry_with_a_stop_loss(tmp_path):
    row = run(tmp_path, {0: ("buy", {"stop": 104.0, "sl": 101.0})})
    assert trades(row) == [(10, 2, 4, 104.0, 101.0, -30.0)]


def test_a_short_sized_as_a_fraction_of_the_cash(tmp_path):
    row = run(tmp_path, {3: ("sell", {"size": 0.5, "sl": 110.0, "tp": 93.0})})
    units = math.floor(10_000 * 0.5 / 106.0)
    assert trades(row) == [(-units, 4, 5, 106.0, 93.0, pytest.approx(units * 13.0))]


def test_the_next_order_replaces_a_working_one(tmp_path):
    row = run(tmp_path, {0: ("buy", {"limit": 90.0}), 2: ("buy", {"size": 3})})
    assert row["trade_list"] == [] and row["trades"] == 0 and row["position"] == 3 and row["fills"] == 1


def test_details_as_pandas_frames(tmp_path):
    pytest.importorskip("pandas")
    frame = run_strategy(
        Script, [{0: ("buy", {}), 3: ("close", {})}], data=bars_csv(tmp_path), size=10,
        details=True, output="pandas",
    )
    equity, done = frame["equity_curve"][0], frame["trade_list"][0]
    assert list(equity.columns) == ["equity"] and len(equity) == 8
    assert str(equity.index[0]) == "2024-01-01 00:00:00+00:00"
    assert list(done.columns) == list(TRADE_COLUMNS)
    assert str(done["exit_time"][0]) == "2024-01-05 00:00:00+00:00"


def test_without_details_a_row_has_no_curve(tmp_path):
    row = run_strategy(Script, [{}], data=bars_csv(tmp_path))[0]
    assert "equity_curve" not in row and "trade_list" not in row


def test_bad_orders_raise_where_they_are_placed(tmp_path):
    cases = [
        ({"size": 0}, "size=0"),
        ({"size": 2.5}, "size=2.5"),
        ({"limit": -1.0}, "limit=-1.0"),
        ({"stop": float("nan")}, "stop=nan"),
        ({"sl": 110.0}, "sl < entry < tp"),
        ({"limit": 90.0, "tp": 89.0}, "sl < entry < tp"),
    ]
    for kwargs, needle in cases:
        row = run_strategy(Script, [{1: ("buy", kwargs)}], data=bars_csv(tmp_path))[0]
        assert needle in row["status"], (kwargs, row["status"])
        assert "ValueError" in row["status"]
    row = run_strategy(Script, [{1: ("sell", {"sl": 90.0})}], data=bars_csv(tmp_path))[0]
    assert "tp < entry < sl" in row["status"]
    with pytest.raises(RuntimeError, match="from on_bar"):
        Script().buy()


def test_a_strategy_defines_on_bar_or_on_ticks():
    class Both(Strategy):
        def on_bar(self, bar, account):
            pass

        def on_ticks(self, start, prices, timestamps):
            return None

    class Neither(Strategy):
        pass

    with pytest.raises(TypeError, match="not both"):
        run_strategy(Both, [None], ticks=100)
    with pytest.raises(TypeError, match="defines neither"):
        run_strategy(Neither, [None], ticks=100)


def test_ticks_are_bars_whose_open_high_low_and_close_are_the_price():
    class Watch(Strategy):
        def on_bar(self, bar, account):
            assert bar.open == bar.high == bar.low == bar.close and bar.volume is None

    row = run_strategy(Watch, [None], ticks=2_000, batch=700)[0]
    assert row["status"] == "ok"


def test_the_same_fills_as_backtesting_py(tmp_path):
    """Limit and stop entries with stop losses and take profits, sized as a fraction of the
    cash, with a commission: the trades of backtesting.py, one by one."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    backtesting = pytest.importorskip("backtesting")

    rng = np.random.default_rng(3)
    n = 600
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1] * np.exp(rng.normal(0, 0.004, n - 1))])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, n)))
    frame = pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1000.0},
        index=pd.date_range("2022-01-03", periods=n, freq="D"),
    )

    def decide(i, close, position):
        """The rule both run: an order (side, keywords) or None."""
        if position != 0 and i % 11 == 0:
            return ("close", {})
        if position == 0 and i % 7 == 3:
            return ("buy", {"size": 0.5, "limit": close * 0.995, "sl": close * 0.97, "tp": close * 1.03})
        if position == 0 and i % 13 == 5:
            return ("sell", {"size": 0.4, "stop": close * 0.996, "sl": close * 1.03, "tp": close * 0.96})
        if position == 0 and i % 17 == 9:
            return ("buy", {"size": 7, "sl": close * 0.98})
        return None

    class Mine(Strategy):
        def on_bar(self, bar, account):
            if bar.index == 0:
                return  # backtesting.py's first call is at the second bar
            order = decide(bar.index, bar.close, account.position)
            if order:
                getattr(self, order[0])(**order[1])

    class Theirs(backtesting.Strategy):
        def init(self):
            pass

        def next(self):
            i = len(self.data) - 1
            order = decide(i, self.data.Close[-1], self.position.size)
            if order is None:
                return
            # One working entry at a time: a new order replaces it, as in mycelium.
            for o in list(self.orders):
                if not o.is_contingent:
                    o.cancel()
            if order[0] == "close":
                self.position.close()
            else:
                getattr(self, order[0])(**order[1])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = backtesting.Backtest(frame, Theirs, cash=10_000, commission=0.001).run()
    row = run_strategy(Mine, [None], data=frame, commission_bps=10.0, details=True, batch=64)[0]
    assert row["status"] == "ok", row["status"]
    theirs = stats._trades
    closed = theirs[theirs["ExitBar"] < n - 1]
    assert len(closed) > 20
    mine = row["trade_list"][: len(closed)]
    assert len(mine) == len(closed)
    for t, (_, r) in zip(mine, closed.iterrows()):
        assert (t["size"], t["entry_bar"], t["exit_bar"]) == (r["Size"], r["EntryBar"], r["ExitBar"])
        assert t["entry_price"] == pytest.approx(r["EntryPrice"], rel=1e-12)
        assert t["exit_price"] == pytest.approx(r["ExitPrice"], rel=1e-12)
        assert t["pnl"] == pytest.approx(r["PnL"], rel=1e-9)


class Alternate(Strategy):
    """Long for 50 bars, short for 50, with a stop loss; raises once at `args["crash_at"]`."""

    def on_start(self, args):
        self.crash_at = args.pop("crash_at", None)  # once: the args outlive a restart
        self.calls = args.setdefault("calls", [])

    def on_bar(self, bar, account):
        self.calls.append(bar.index)
        if bar.index == self.crash_at:
            self.crash_at = None
            raise RuntimeError("strategy bug")
        if bar.index % 50 == 0:
            if (bar.index // 50) % 2 == 0:
                self.buy(sl=bar.close * 0.99)
            else:
                self.sell(size=0.5)


def test_a_per_bar_strategy_restarted_by_an_exception_gives_the_clean_result():
    clean = run_strategy(Alternate, [{}], ticks=5_000, batch=700, details=True)[0]
    crashed = run_strategy(Alternate, [{"crash_at": 2_345}], ticks=5_000, batch=700, details=True)[0]
    assert clean["status"] == crashed["status"] == "ok"
    assert crashed["restarts"] == 1 and clean["trades"] > 10
    for column in ("return_pct", "trades", "fills", "equity_final", "position"):
        assert crashed[column] == clean[column], column
    assert crashed["trade_list"] == clean["trade_list"]


def test_after_the_risk_limit_on_bar_is_no_longer_called():
    args = {}
    row = run_strategy(Alternate, [args], ticks=20_000, risk_limit=0.01)[0]
    assert row["status"] == "ok" and row["halted_at"] is not None
    # The mark of the halting bar stops trading: on_bar sees every bar before it, not it.
    assert args["calls"] == list(range(row["halted_at"]))
    assert row["position"] == 0


def test_on_ticks_may_take_the_bars_as_columns(tmp_path):
    from mycelium.backtest import Bars

    seen = []

    class Columns(Strategy):
        def on_ticks(self, start, prices, timestamps, bars=None):
            seen.append((start, bars))
            return None

    row = run_strategy(Columns, [None], data=bars_csv(tmp_path), batch=3)[0]
    assert row["status"] == "ok"
    assert [s for s, _ in seen] == [0, 3, 6]
    assert seen[1][1] == Bars(
        [104.0, 106.0, 97.0], [108.0, 107.0, 99.0], [103.0, 95.0, 90.0], [107.0, 96.0, 92.0],
        [1003.0, 1004.0, 1005.0],
    )

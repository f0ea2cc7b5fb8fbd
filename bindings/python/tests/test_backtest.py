import re

import pytest

import mycelium
from mycelium.backtest import STAT_COLUMNS


def results_csv_columns():
    """The columns of the backtest's results.csv, as the Rust crate declares them."""
    import pathlib
    import re

    source = pathlib.Path(__file__).resolve().parents[3] / "backtest" / "src" / "results.rs"
    header = re.search(r'pub const CSV_HEADER: &str = "([^"]+)"', source.read_text()).group(1)
    return header.split(",")


def test_sweep_rows_have_the_results_csv_columns():
    rows = mycelium.sweep([5], [50], [0], ticks=5_000, workers=1)
    columns = results_csv_columns()
    # Every column of results.csv is a key of the row, and the statistics are exactly those
    # after its status column.
    assert set(columns) <= set(rows[0])
    assert list(STAT_COLUMNS) == columns[columns.index("status") + 1 :]
    row = rows[0]
    assert row["status"] == "ok"
    assert row["max_drawdown_pct"] <= 0.0
    assert row["equity_final"] == pytest.approx(10_000.0 * (1 + row["return_pct"] / 100))
    assert row["trades"] <= row["fills"]
    assert row["halted_at"] is None and row["bankrupt_at"] is None
    assert 0.0 <= row["exposure_pct"] <= 100.0


def test_sweep_returns_rows_in_grid_order_the_same_on_any_worker_count():
    one = mycelium.sweep([5, 10], [50, 100], [0], ticks=20_000, seed=3, workers=1)
    two = mycelium.sweep([5, 10], [50, 100], [0], ticks=20_000, seed=3, workers=2)
    assert [r["index"] for r in one] == [0, 1, 2, 3]
    assert [(r["fast"], r["slow"]) for r in one] == [(5, 50), (5, 100), (10, 50), (10, 100)]
    # NaN (a win rate without trades) is not equal to itself: compare the text.
    assert repr(one) == repr(two)
    assert all(r["status"] == "ok" and r["ticks"] == 20_000 for r in one)
    assert all(r["trades"] > 0 for r in one)
    assert len({r["trace_hash"] for r in one}) == 4


def test_sweep_reports_a_bad_point_without_failing_the_others():
    rows = mycelium.sweep([5, 100], [50], [0], ticks=5_000, workers=1)
    assert rows[0]["status"] == "ok"
    assert "fast" in rows[1]["status"]
    assert all(rows[1][c] is None for c in STAT_COLUMNS)


def test_sweep_account_settings_change_the_results():
    plain = mycelium.sweep([5], [50], [0], ticks=20_000, workers=1)[0]
    costly = mycelium.sweep([5], [50], [0], ticks=20_000, workers=1, commission_bps=10.0)[0]
    assert plain["fees"] == 0.0 and costly["fees"] > 0.0
    assert costly["fills"] == plain["fills"]
    units = mycelium.sweep([5], [50], [0], ticks=20_000, workers=1, size=1, cash=1_000_000.0)[0]
    assert abs(units["position"]) <= 1
    assert units["equity_final"] != pytest.approx(plain["equity_final"])
    halted = mycelium.sweep([5], [50], [0], ticks=20_000, workers=1, risk_limit=0.001)[0]
    assert halted["halted_at"] is not None


def test_what_the_loader_notices_is_a_warning_not_lost(tmp_path):
    # A Yahoo row of nulls is skipped, as the backtest skips it, and says so.
    rows = [f"2024-01-{d:02},{100 + d},{101 + d},{99 + d},{100.5 + d}" for d in range(1, 29)]
    rows.insert(5, "2024-01-29,null,null,null,null")
    rows.sort()
    path = tmp_path / "yahoo.csv"
    path.write_text("Date,Open,High,Low,Close\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match=r"yahoo\.csv:\d+: skipped 1 row\(s\) without prices"):
        (row,) = mycelium.sweep([2], [3], [0], data=str(path), workers=1)
    assert row["status"] == "ok" and row["ticks"] == 28
    with pytest.warns(UserWarning, match="skipped 1 row"):
        mycelium.backtest.run_strategy(Flip, [{"every": 5}], data=str(path), workers=1)


def test_data_may_be_a_path_as_for_the_distributed_sweep(tmp_path):
    rows = [f"2024-01-{d:02},{100 + d},{101 + d},{99 + d},{100.5 + d}" for d in range(1, 29)]
    path = tmp_path / "bars.csv"
    path.write_text("Date,Open,High,Low,Close\n" + "\n".join(rows) + "\n")
    by_path = mycelium.sweep([2], [3], [0], data=path, workers=1)
    by_str = mycelium.sweep([2], [3], [0], data=str(path), workers=1)
    assert repr(by_path) == repr(by_str)  # repr: a NaN statistic is not equal to itself
    assert by_path[0]["status"] == "ok" and by_path[0]["ticks"] == 28
    (row,) = mycelium.backtest.run_strategy(Flip, [{"every": 5}], data=path, workers=1)
    assert row["status"] == "ok" and row["ticks"] == 28


def test_sweep_bad_input():
    with pytest.raises(ValueError, match="grid is empty"):
        mycelium.sweep([], [50], [0])
    with pytest.raises(FileNotFoundError, match="/nonexistent/prices.csv"):
        mycelium.sweep([5], [50], [0], data="/nonexistent/prices.csv")
    with pytest.raises(ValueError, match="output"):
        mycelium.sweep([5], [50], [0], ticks=1000, output="excel")
    with pytest.raises(ValueError, match="cash"):
        mycelium.sweep([5], [50], [0], ticks=1000, cash=0.0)
    with pytest.raises(ValueError, match="size"):
        mycelium.sweep([5], [50], [0], ticks=1000, size=1.5)
    with pytest.raises(ValueError, match="size"):
        mycelium.sweep([5], [50], [0], ticks=1000, size=0)
    with pytest.raises(ValueError, match="size"):
        mycelium.sweep([5], [50], [0], ticks=1000, size="half")
    with pytest.raises(TypeError, match="size"):
        mycelium.sweep([5], [50], [0], ticks=1000, size=[1])
    with pytest.raises(ValueError, match="commission"):
        mycelium.sweep([5], [50], [0], ticks=1000, commission_bps=-1.0)
    with pytest.raises(ValueError, match="fill"):
        mycelium.sweep([5], [50], [0], ticks=1000, fill="tomorrow")
    with pytest.raises(ValueError, match="risk limit"):
        mycelium.sweep([5], [50], [0], ticks=1000, risk_limit=2.0)
    with pytest.raises(ValueError, match="batch"):
        mycelium.sweep([5], [50], [0], ticks=1000, batch=0)
    with pytest.raises(ValueError, match="mark_every"):
        mycelium.sweep([5], [50], [0], ticks=1000, mark_every=0)


class Flip(mycelium.backtest.Strategy):
    """Long through every other batch, short through the others: deterministic trades."""

    def on_start(self, args):
        self.every = args["every"]
        self.crash_at = args.pop("crash_at", None)  # crash once: the args outlive a restart
        args.setdefault("starts", []).append(1)

    def on_ticks(self, start, prices, timestamps):
        assert len(prices) == len(timestamps) > 0
        if self.crash_at is not None and start <= self.crash_at < start + len(prices):
            self.crash_at = None
            raise RuntimeError("strategy bug")
        return [(start, 1 if (start // self.every) % 2 == 0 else -1)]


def test_a_python_strategy_in_the_pipeline_is_deterministic():
    grid = [{"every": 1000}, {"every": 2000}]
    one = mycelium.backtest.run_strategy(Flip, grid, ticks=20_000, batch=1000, workers=1)
    two = mycelium.backtest.run_strategy(Flip, grid, ticks=20_000, batch=1000, workers=2)
    assert [r["status"] for r in one] == ["ok", "ok"]
    assert one[0]["trades"] > 0 and one[0]["ticks"] == 20_000
    # Targets, not quantities: flipping every 1000 ticks is a round trip per flip.
    assert one[0]["trades"] > one[1]["trades"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "args"} for r in rows]
    assert repr(strip(one)) == repr(strip(two))


def test_a_target_equal_to_the_position_trades_nothing():
    class Hold(mycelium.backtest.Strategy):
        def on_ticks(self, start, prices, timestamps):
            return [(i, 1) for i in range(start, start + len(prices))]

    row = mycelium.backtest.run_strategy(Hold, [None], ticks=5_000, batch=1000)[0]
    assert row["status"] == "ok"
    assert row["fills"] == 1 and row["trades"] == 0 and row["position"] > 0


def test_the_warmup_sets_where_buy_and_hold_is_measured_from():
    class Late(mycelium.backtest.Strategy):
        @classmethod
        def warmup(cls, args):
            return args

        def on_ticks(self, start, prices, timestamps):
            return []

    early, late = mycelium.backtest.run_strategy(Late, [0, 3_000], ticks=5_000, batch=1000)
    assert early["status"] == late["status"] == "ok"
    assert early["trades"] == late["trades"] == 0
    assert early["buy_hold_return_pct"] != pytest.approx(late["buy_hold_return_pct"])

    class BadWarmup(Late):
        @classmethod
        def warmup(cls, args):
            return "soon"

    with pytest.raises(ValueError, match="warmup"):
        mycelium.backtest.run_strategy(BadWarmup, [1], ticks=5_000)


def test_an_exception_in_a_python_strategy_restarts_the_pipeline():
    clean = mycelium.backtest.run_strategy(Flip, [{"every": 1000}], ticks=20_000, batch=1000)[0]
    args = {"every": 1000, "crash_at": 5_500}
    crashed = mycelium.backtest.run_strategy(Flip, [args], ticks=20_000, batch=1000)[0]
    assert crashed["status"] == "ok"
    assert crashed["restarts"] == 1 and len(args["starts"]) == 2
    # The replay started over: the same trades and return as a run without the fault.
    assert (crashed["return_pct"], crashed["trades"]) == (clean["return_pct"], clean["trades"])
    assert crashed["trace_hash"] != clean["trace_hash"]  # the trace records the restart


def test_a_python_strategy_whose_first_start_fails_is_reported_naming_it():
    class NoModel(mycelium.backtest.Strategy):
        def on_start(self, args):
            raise FileNotFoundError("model.bin")

        def on_ticks(self, start, prices, timestamps):
            return None

    row = mycelium.backtest.run_strategy(NoModel, [None], ticks=5_000, batch=1000)[0]
    assert "child `strategy` could not start" in row["status"]
    assert "FileNotFoundError: model.bin" in row["status"]
    assert all(row[c] is None for c in STAT_COLUMNS)


def test_a_python_strategy_returning_bad_orders_is_reported():
    class Outside(mycelium.backtest.Strategy):
        def on_ticks(self, start, prices, timestamps):
            return [(start + len(prices) + 10, 1)]

    class Quantity(mycelium.backtest.Strategy):
        def on_ticks(self, start, prices, timestamps):
            return [(start, 100)]

    class Backwards(mycelium.backtest.Strategy):
        def on_ticks(self, start, prices, timestamps):
            return [(start + 1, 1), (start, 0)]

    rows = mycelium.backtest.run_strategy(Outside, [None], ticks=5_000, batch=1000)
    assert "outside this batch" in rows[0]["status"]
    rows = mycelium.backtest.run_strategy(Quantity, [None], ticks=5_000, batch=1000)
    assert "target 100" in rows[0]["status"]
    rows = mycelium.backtest.run_strategy(Backwards, [None], ticks=5_000, batch=1000)
    assert "in tick order" in rows[0]["status"]
    with pytest.raises(TypeError, match="subclass of mycelium.backtest.Strategy"):
        mycelium.backtest.run_strategy(object, [None])
    with pytest.raises(ValueError, match="grid is empty"):
        mycelium.backtest.run_strategy(Outside, [])
    with pytest.raises(ValueError, match="cash"):
        mycelium.backtest.run_strategy(Outside, [None], cash=-1.0)


class NoSuchWindow(Exception):
    """An exception of the user's own, to check that the type raised is the type seen."""


class Picky(mycelium.backtest.Strategy):
    @classmethod
    def warmup(cls, args):
        if args["n"] < 0:
            raise NoSuchWindow(f"no window of {args['n']} bars")
        return args["n"]

    def on_ticks(self, start, prices, timestamps):
        return []


def test_a_raising_warmup_propagates_as_raised_with_a_note_naming_the_grid_point():
    with pytest.raises(NoSuchWindow, match="no window of -1 bars") as raised:
        mycelium.backtest.run_strategy(Picky, [{"n": 2}, {"n": 3}, {"n": -1}], ticks=5_000)
    assert type(raised.value) is NoSuchWindow
    assert raised.value.__notes__ == ["while computing warmup({'n': -1}) for grid point 2"]


def test_a_missing_data_file_is_file_not_found_naming_it(tmp_path):
    from mycelium.distributed import MarketData

    missing = tmp_path / "no-such-ticks.csv"
    calls = [
        lambda: mycelium.sweep([5], [50], [0], data=str(missing), workers=1),
        lambda: mycelium.backtest.run_strategy(Picky, [{"n": 0}], data=str(missing)),
        lambda: MarketData.load(str(missing)),
    ]
    for call in calls:
        with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
            call()
    # A file that is there but does not parse is still a ValueError.
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("not,a\nprice,file\n")
    with pytest.raises(ValueError):
        mycelium.sweep([5], [50], [0], data=str(garbage), workers=1)


def test_one_default_seed_42_as_for_the_backtest_command_line():
    import inspect

    from mycelium import distributed

    for f in (mycelium.sweep, mycelium.backtest.run_strategy, distributed.sweep,
              distributed.sweep_strategy):
        assert inspect.signature(f).parameters["seed"].default == 42, f
    implicit = mycelium.sweep([5], [50], [0], ticks=5_000, workers=1)
    explicit = mycelium.sweep([5], [50], [0], ticks=5_000, workers=1, seed=42)
    assert repr(implicit) == repr(explicit)


def test_a_window_as_long_as_the_data_warns_as_the_command_line_does():
    with pytest.warns(UserWarning, match=r"1 grid point\(s\) have a slow window of 1000 rows or "
                      r"more, as long as the data: they cannot trade"):
        rows = mycelium.sweep([5], [50, 1000], [0], ticks=1_000, workers=1)
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[1]["fills"] == 0

    class Long(mycelium.backtest.Strategy):
        @classmethod
        def warmup(cls, args):
            return args

        def on_ticks(self, start, prices, timestamps):
            return None

    with pytest.warns(UserWarning, match=r"1 grid point\(s\) have a warmup of 1000 bars or more"):
        mycelium.backtest.run_strategy(Long, [10, 5_000], ticks=1_000, workers=1)


def test_data_may_be_a_pandas_dataframe_as_backtesting_py_takes(tmp_path):
    pandas = pytest.importorskip("pandas")
    import math

    times = pandas.date_range("2024-01-01", periods=400, freq="D")
    close = [100 + 10 * math.sin(i / 15) for i in range(400)]
    frame = pandas.DataFrame(
        {"open": close, "HIGH": [c + 1 for c in close], "Low": [c - 1 for c in close],
         "Close": close, "Volume": [1_000] * 400},
        index=times,
    )
    path = tmp_path / "bars.csv"
    frame.set_axis(["Open", "High", "Low", "Close", "Volume"], axis=1).to_csv(
        path, index_label="Date", date_format="%Y-%m-%d")
    from_frame = mycelium.sweep([5], [20], [0], data=frame, workers=1)
    from_file = mycelium.sweep([5], [20], [0], data=path, workers=1)
    assert from_frame[0]["status"] == "ok" and from_frame[0]["fills"] > 0
    assert repr(from_frame) == repr(from_file)
    ticks = pandas.DataFrame({"Price": close}, index=times)
    assert mycelium.sweep([5], [20], [0], data=ticks, workers=1)[0]["status"] == "ok"
    with pytest.raises(ValueError, match="Open, High, Low and Close columns"):
        mycelium.sweep([5], [20], [0], data=pandas.DataFrame({"x": close}, index=times))
    with pytest.raises(ValueError, match="High, Low too"):
        mycelium.sweep([5], [20], [0], data=frame[["open", "Close"]])
    with pytest.raises(ValueError, match="DatetimeIndex"):
        mycelium.sweep([5], [20], [0], data=frame.reset_index(drop=True))
    with pytest.raises(TypeError, match="DataFrame"):
        mycelium.sweep([5], [20], [0], data=[1, 2, 3])


def test_sweep_details_give_each_runs_curve_and_trades():
    rows = mycelium.sweep([10], [50], [0], ticks=3_000, details=True)
    row = rows[0]
    assert row["status"] == "ok" and row["trades"] > 0
    assert len(row["equity_curve"]) == 3_000
    assert row["equity_curve"][-1]["equity"] == pytest.approx(row["equity_final"])
    assert len(row["trade_list"]) == row["trades"]
    for t in row["trade_list"]:
        assert t["entry_bar"] < t["exit_bar"] and t["entry_time"] < t["exit_time"]
        assert t["pnl"] == pytest.approx(t["size"] * (t["exit_price"] - t["entry_price"]))
    worst = min(p["equity"] / max(q["equity"] for q in row["equity_curve"][: i + 1]) - 1
                for i, p in enumerate(row["equity_curve"]))
    assert worst * 100 == pytest.approx(row["max_drawdown_pct"], rel=1e-9)
    plain = mycelium.sweep([10], [50], [0], ticks=3_000)[0]
    assert "equity_curve" not in plain and plain["trace_hash"] == row["trace_hash"]


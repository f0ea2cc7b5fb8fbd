import pytest

import mycelium


def test_sweep_returns_rows_in_grid_order_the_same_on_any_worker_count():
    one = mycelium.sweep([5, 10], [50, 100], [0], ticks=20_000, seed=3, workers=1)
    two = mycelium.sweep([5, 10], [50, 100], [0], ticks=20_000, seed=3, workers=2)
    assert [r["index"] for r in one] == [0, 1, 2, 3]
    assert [(r["fast"], r["slow"]) for r in one] == [(5, 50), (5, 100), (10, 50), (10, 100)]
    assert one == two
    assert all(r["error"] is None and r["ticks"] == 20_000 for r in one)
    assert len({r["trace_hash"] for r in one}) == 4


def test_sweep_reports_a_bad_point_without_failing_the_others():
    rows = mycelium.sweep([5, 100], [50], [0], ticks=5_000, workers=1)
    assert rows[0]["error"] is None
    assert "fast" in rows[1]["error"]


def test_sweep_bad_input():
    with pytest.raises(ValueError, match="grid is empty"):
        mycelium.sweep([], [50], [0])
    with pytest.raises(ValueError):
        mycelium.sweep([5], [50], [0], data="/nonexistent/prices.csv")
    with pytest.raises(ValueError, match="output"):
        mycelium.sweep([5], [50], [0], ticks=1000, output="excel")


class Flip(mycelium.backtest.Strategy):
    """Buys on the first tick of every other batch, sells on the next: deterministic trades."""

    def on_start(self, args):
        self.every = args["every"]
        self.crash_at = args.pop("crash_at", None)  # crash once: the args outlive a restart
        self.long = False
        args.setdefault("starts", []).append(1)

    def on_ticks(self, start, prices, timestamps):
        assert len(prices) == len(timestamps) > 0
        if self.crash_at is not None and start <= self.crash_at < start + len(prices):
            self.crash_at = None
            raise RuntimeError("strategy bug")
        if (start // self.every) % 2 == 0:
            return []
        self.long = not self.long
        return [(start, 1 if self.long else -1)]


def test_a_python_strategy_in_the_pipeline_is_deterministic():
    grid = [{"every": 1000}, {"every": 2000}]
    one = mycelium.backtest.run_strategy(Flip, grid, ticks=20_000, batch=1000, workers=1)
    two = mycelium.backtest.run_strategy(Flip, grid, ticks=20_000, batch=1000, workers=2)
    assert [r["error"] for r in one] == [None, None]
    assert one[0]["trades"] > 0 and one[0]["ticks"] == 20_000
    strip = lambda rows: [{k: v for k, v in r.items() if k != "args"} for r in rows]
    assert strip(one) == strip(two)


def test_an_exception_in_a_python_strategy_restarts_the_pipeline():
    clean = mycelium.backtest.run_strategy(Flip, [{"every": 1000}], ticks=20_000, batch=1000)[0]
    args = {"every": 1000, "crash_at": 5_500}
    crashed = mycelium.backtest.run_strategy(Flip, [args], ticks=20_000, batch=1000)[0]
    assert crashed["error"] is None
    assert crashed["restarts"] == 1 and len(args["starts"]) == 2
    # The replay started over: the same trades and pnl as a run without the fault.
    assert (crashed["pnl"], crashed["trades"]) == (clean["pnl"], clean["trades"])


def test_a_python_strategy_returning_bad_orders_is_reported():
    class Bad(mycelium.backtest.Strategy):
        def on_ticks(self, start, prices, timestamps):
            return [(start + len(prices) + 10, 1)]

    row = mycelium.backtest.run_strategy(Bad, [None], ticks=5_000, batch=1000)[0]
    assert "outside this batch" in row["error"]
    with pytest.raises(TypeError, match="subclass of mycelium.backtest.Strategy"):
        mycelium.backtest.run_strategy(object, [None])
    with pytest.raises(ValueError, match="grid is empty"):
        mycelium.backtest.run_strategy(Bad, [])

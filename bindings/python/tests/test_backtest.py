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

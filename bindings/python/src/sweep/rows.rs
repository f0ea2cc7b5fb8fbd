//! The rows a sweep returns, one per grid point: their columns, named as those of the
//! backtest's `results.csv`, and that file's header.

use mycelium_backtest::pipeline::RunResult;
use mycelium_backtest::{results, RunFailure, Series};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The statistics of a row, named as the columns of the backtest's `results.csv`
/// (`mycelium_backtest::results::CSV_HEADER`); `None` in a failed row.
pub(crate) const STAT_COLUMNS: [&str; 19] = [
    "return_pct",
    "buy_hold_return_pct",
    "max_drawdown_pct",
    "sharpe",
    "sortino",
    "return_ann_pct",
    "volatility_ann_pct",
    "trades",
    "fills",
    "win_rate_pct",
    "exposure_pct",
    "equity_final",
    "fees",
    "position",
    "canceled",
    "halted_at",
    "bankrupt_at",
    "restarts",
    "trace_hash",
];

/// Fills `row` with the run's status (`"ok"`, or why it failed), its statistics (the
/// columns of `results.csv`, [`STAT_COLUMNS`]; `None` when it failed) and its tick count.
pub(crate) fn put_result(
    py: Python<'_>,
    row: &Bound<'_, PyDict>,
    result: &Result<RunResult, RunFailure>,
) -> PyResult<()> {
    match result {
        Ok(r) => {
            let s = &r.stats;
            row.set_item("status", "ok")?;
            row.set_item("return_pct", s.return_pct)?;
            row.set_item("buy_hold_return_pct", s.buy_hold_return_pct)?;
            row.set_item("max_drawdown_pct", s.max_drawdown_pct)?;
            row.set_item("sharpe", s.sharpe)?;
            row.set_item("sortino", s.sortino)?;
            row.set_item("return_ann_pct", s.return_ann_pct)?;
            row.set_item("volatility_ann_pct", s.volatility_ann_pct)?;
            row.set_item("trades", s.trades)?;
            row.set_item("fills", s.fills)?;
            row.set_item("win_rate_pct", s.win_rate_pct)?;
            row.set_item("exposure_pct", s.exposure_pct)?;
            row.set_item("equity_final", s.equity_final)?;
            row.set_item("fees", s.fees)?;
            row.set_item("position", r.position)?;
            row.set_item("canceled", r.canceled)?;
            row.set_item("halted_at", r.halted_at)?;
            row.set_item("bankrupt_at", r.bankrupt_at)?;
            row.set_item("restarts", r.restarts)?;
            row.set_item("trace_hash", format!("{:016x}", r.trace_hash))?;
            row.set_item("ticks", r.ticks)?;
        }
        Err(e) => {
            row.set_item("status", crate::errors::python_words(&e.to_string()))?;
            for column in STAT_COLUMNS {
                row.set_item(column, py.None())?;
            }
            row.set_item("ticks", py.None())?;
        }
    }
    Ok(())
}

/// Adds a run's equity at every mark and its closed trades to `row`: `equity_curve`, a
/// list of `{"time": ns, "equity": e}`, and `trade_list`, a list of `{"size", "entry_bar", "exit_bar",
/// "entry_time", "exit_time", "entry_price", "exit_price", "pnl", "return_pct", "fees"}`
/// (times in ns), as backtesting.py's `stats._equity_curve` and `stats._trades`; `None`
/// both when the run failed.
pub(crate) fn put_details(
    py: Python<'_>,
    row: &Bound<'_, PyDict>,
    result: &Result<RunResult, RunFailure>,
    series: &Series,
) -> PyResult<()> {
    let Ok(r) = result else {
        row.set_item("equity_curve", py.None())?;
        row.set_item("trade_list", py.None())?;
        return Ok(());
    };
    let equity = PyList::empty(py);
    for &(t, e) in &r.marks {
        let point = PyDict::new(py);
        point.set_item("time", t)?;
        point.set_item("equity", e)?;
        equity.append(point)?;
    }
    let trades = PyList::empty(py);
    let ts = series.timestamps();
    for t in &r.trades {
        let trade = PyDict::new(py);
        trade.set_item("size", t.size)?;
        trade.set_item("entry_bar", t.entry_bar)?;
        trade.set_item("exit_bar", t.exit_bar)?;
        trade.set_item("entry_time", ts[t.entry_bar])?;
        trade.set_item("exit_time", ts[t.exit_bar])?;
        trade.set_item("entry_price", t.entry_price)?;
        trade.set_item("exit_price", t.exit_price)?;
        trade.set_item("pnl", t.pnl)?;
        trade.set_item("return_pct", t.return_pct())?;
        trade.set_item("fees", t.fees)?;
        trades.append(trade)?;
    }
    row.set_item("equity_curve", equity)?;
    row.set_item("trade_list", trades)?;
    Ok(())
}

/// The header of the backtest's `results.csv`.
#[pyfunction]
pub(crate) fn csv_header() -> &'static str {
    results::CSV_HEADER
}

//! The results CSV of a sweep of the reference pipeline: deterministic values only.

use std::io::{self, Write};

use crate::pipeline::{Params, RunResult};
use crate::{RunOutcome, SweepReport};

/// The header of [`write_csv`]. The statistics are those of
/// [`metrics`](crate::metrics), named there after backtesting.py's.
pub const CSV_HEADER: &str = "index,fast,slow,band_bps,status,return_pct,buy_hold_return_pct,max_drawdown_pct,sharpe,sortino,return_ann_pct,volatility_ann_pct,trades,fills,win_rate_pct,exposure_pct,equity_final,fees,position,canceled,halted_at,bankrupt_at,restarts,trace_hash";

/// Writes one row per grid point, in grid order: parameters, status (`ok`, or the failure in
/// quotes), the statistics (shortest decimal that reads back as the same `f64`; `NaN` and
/// `inf` where the statistic is undefined or infinite), the bars at which trading halted or
/// went bankrupt (empty if it did not), and the trace hash. No timings and nothing else that
/// varies between runs, so two sweeps with the same seed, data and grid write the same bytes.
pub fn write_csv(report: &SweepReport<Params, RunResult>, mut out: impl Write) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for run in &report.runs {
        write_row(run, &mut out)?;
    }
    out.flush()
}

/// Writes the row of one grid point, as [`write_csv`] writes it (with its line end): the
/// rows of a sweep's shards, put in grid order after [`CSV_HEADER`], are the bytes of the
/// whole sweep's `write_csv`.
pub fn write_row(run: &RunOutcome<Params, RunResult>, mut out: impl Write) -> io::Result<()> {
    let p = run.params;
    write!(out, "{},{},{},{},", run.index, p.fast, p.slow, p.band_bps)?;
    match &run.result {
        Ok(r) => {
            let s = &r.stats;
            let opt = |v: Option<usize>| v.map(|t| t.to_string()).unwrap_or_default();
            writeln!(
                out,
                "ok,{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:016x}",
                s.return_pct,
                s.buy_hold_return_pct,
                s.max_drawdown_pct,
                s.sharpe,
                s.sortino,
                s.return_ann_pct,
                s.volatility_ann_pct,
                s.trades,
                s.fills,
                s.win_rate_pct,
                s.exposure_pct,
                s.equity_final,
                s.fees,
                r.position,
                r.canceled,
                opt(r.halted_at),
                opt(r.bankrupt_at),
                r.restarts,
                r.trace_hash
            )?
        }
        Err(e) => writeln!(
            out,
            "\"{}\"{}",
            e.to_string().replace('"', "\"\""),
            ",".repeat(19)
        )?,
    }
    Ok(())
}

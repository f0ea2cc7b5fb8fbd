//! The results CSV of a sweep of the reference pipeline: deterministic values only.

use std::io::{self, Write};

use crate::pipeline::{Params, RunResult};
use crate::SweepReport;

/// The header of [`write_csv`].
pub const CSV_HEADER: &str =
    "index,fast,slow,band_bps,status,pnl,sharpe,max_drawdown,trades,fees,position,halted_at_tick,restarts,trace_hash";

/// Writes one row per grid point, in grid order: parameters, status (`ok`, or the failure in
/// quotes), metrics with fixed precision, and the trace hash. No timings and nothing else
/// that varies between runs, so two sweeps with the same seed, data and grid write the same
/// bytes.
pub fn write_csv(report: &SweepReport<Params, RunResult>, mut out: impl Write) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for run in &report.runs {
        let p = run.params;
        write!(out, "{},{},{},{},", run.index, p.fast, p.slow, p.band_bps)?;
        match &run.result {
            Ok(r) => writeln!(
                out,
                "ok,{:.6},{:.6},{:.6},{},{:.6},{},{},{},{:016x}",
                r.pnl,
                r.sharpe,
                r.max_drawdown,
                r.trades,
                r.fees,
                r.position,
                r.halted_at.map(|t| t.to_string()).unwrap_or_default(),
                r.restarts,
                r.trace_hash
            )?,
            Err(e) => writeln!(out, "\"{}\",,,,,,,,,", e.to_string().replace('"', "\"\""))?,
        }
    }
    out.flush()
}

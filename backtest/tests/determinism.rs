//! Same seed, same data, same parameters: the same trace and results on 1 and 2 workers.

use std::sync::Arc;

use mycelium_backtest::pipeline::{self, Config, Params, RunResult};
use mycelium_backtest::{results, Series, Sweep, SweepReport};

fn sweep(
    series: &Arc<Series>,
    grid: &[Params],
    config: &Config,
    workers: usize,
) -> SweepReport<Params, RunResult> {
    Sweep::new(grid.to_vec())
        .workers(workers)
        .seed(11)
        .progress(false)
        .run(|&params, run| {
            let (series, config) = (series.clone(), config.clone());
            async move { pipeline::run(&run.bus, series, params, config).await }
        })
}

fn small() -> (Arc<Series>, Vec<Params>, Config) {
    let series = Arc::new(Series::synthetic(3, 60_000));
    let grid = pipeline::grid(&[5, 20, 50], &[100, 400, 1500], &[0, 5, 20]);
    let config = Config {
        batch: 1000,
        commission_bps: 1.0,
        ..Config::default()
    };
    (series, grid, config)
}

#[test]
fn one_and_two_workers_give_identical_traces_and_results() {
    let (series, grid, config) = small();
    let one = sweep(&series, &grid, &config, 1);
    let two = sweep(&series, &grid, &config, 2);
    assert_eq!(one.workers, 1);
    assert_eq!(two.workers, 2);
    assert_eq!(one.failures().count(), 0, "every point completes");
    assert_eq!(one.runs.len(), grid.len());
    for (a, b) in one.runs.iter().zip(&two.runs) {
        assert_eq!(a.params, b.params);
        assert_eq!(a.seed, b.seed);
        let (ra, rb) = (a.result.as_ref().unwrap(), b.result.as_ref().unwrap());
        assert_eq!(ra.trace_hash, rb.trace_hash, "trace of {}", a.params);
        assert_eq!(ra, rb, "result of {}", a.params);
        assert!(ra.trace_events >= 2 + ra.stats.fills);
    }
    // Not everything is the same run: the traces really depend on the parameters.
    let hashes: std::collections::BTreeSet<u64> =
        one.successes().map(|(_, r)| r.trace_hash).collect();
    assert!(
        hashes.len() > grid.len() / 2,
        "{} distinct traces",
        hashes.len()
    );
    let (mut csv1, mut csv2) = (Vec::new(), Vec::new());
    results::write_csv(&one, &mut csv1).unwrap();
    results::write_csv(&two, &mut csv2).unwrap();
    assert_eq!(csv1, csv2, "results CSV byte for byte");
}

#[test]
fn a_run_is_the_same_when_run_again_and_alongside_other_runs() {
    let (series, grid, config) = small();
    let alone = sweep(&series, &grid[4..5], &config, 1);
    let among = sweep(&series, &grid, &config, 2);
    let a = alone.runs[0].result.as_ref().unwrap();
    let b = among.runs[4].result.as_ref().unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
}

#[test]
fn a_crash_restarts_the_pipeline_and_the_result_is_unchanged() {
    let (series, grid, config) = small();
    let grid = &grid[..4];
    let clean = sweep(&series, grid, &config, 2);
    let crashing = Config {
        crash_once_at: Some(25_000),
        ..config.clone()
    };
    let crashed = sweep(&series, grid, &crashing, 2);
    let again = sweep(&series, grid, &crashing, 1);
    for ((c, x), y) in clean.runs.iter().zip(&crashed.runs).zip(&again.runs) {
        let (c, x, y) = (
            c.result.as_ref().unwrap(),
            x.result.as_ref().unwrap(),
            y.result.as_ref().unwrap(),
        );
        assert_eq!(c.restarts, 0);
        assert_eq!(x.restarts, 1, "the supervisor restarted the pipeline once");
        assert_eq!(c.stats, x.stats);
        assert_eq!(c.equity, x.equity);
        assert_ne!(c.trace_hash, x.trace_hash, "the restart is in the trace");
        assert_eq!(x, y, "and the crashed run is itself deterministic");
    }
}

/// The same sweep with 1, 7 and 4,096 rows per message: the results CSV is the same, byte
/// for byte, and the risk limit halts runs at the first mark past it, whatever the batch.
#[test]
fn results_do_not_depend_on_the_batch_size() {
    let series = Arc::new(Series::synthetic(9, 12_000));
    let grid = pipeline::grid(&[5, 30], &[100, 600], &[0, 10]);
    let csv = |batch: usize| {
        let config = Config {
            batch,
            commission_bps: 2.0,
            risk_limit: Some(0.01),
            ..Config::default()
        };
        let report = sweep(&series, &grid, &config, 2);
        assert_eq!(report.failures().count(), 0);
        let mut out = Vec::new();
        results::write_csv(&report, &mut out).unwrap();
        (out, report)
    };
    let (one, report) = csv(1);
    let (seven, _) = csv(7);
    let (big, _) = csv(4096);
    assert_eq!(
        String::from_utf8_lossy(&one),
        String::from_utf8_lossy(&seven)
    );
    assert_eq!(one, big, "batch 1 and 4096");
    let halted: Vec<_> = report
        .successes()
        .filter(|(_, r)| r.halted_at.is_some())
        .collect();
    assert!(!halted.is_empty(), "a 1% limit halts some runs");
    for (p, r) in halted {
        assert_eq!(r.position, 0, "{p}: a halted run ends flat");
        // Halted at the first mark past 1%, closed at the next tick: a tick of slippage.
        assert!(
            r.stats.max_drawdown_pct > -1.5,
            "{p}: drawdown {}% went far past the limit",
            r.stats.max_drawdown_pct
        );
    }
}

#[test]
fn a_point_rerun_alone_with_its_fills_kept_has_the_same_trace() {
    let (series, grid, config) = small();
    let sweep = Sweep::new(grid.clone()).workers(2).seed(11).progress(false);
    let build = |keep_fills: bool| {
        let series = series.clone();
        let config = Config {
            keep_fills,
            ..config.clone()
        };
        move |&params: &Params, run: mycelium_backtest::Run| {
            let (series, config) = (series.clone(), config.clone());
            async move { pipeline::run(&run.bus, series, params, config).await }
        }
    };
    let report = sweep.run(build(false));
    let (index, busiest) = report
        .runs
        .iter()
        .map(|r| (r.index, r.result.as_ref().unwrap()))
        .max_by_key(|(_, r)| r.stats.fills)
        .unwrap();
    assert!(busiest.fills.is_empty(), "a sweep keeps only the hash");
    let again = sweep.rerun(index, build(true)).unwrap();
    let again = again.result.unwrap();
    assert_eq!(again.trace_hash, busiest.trace_hash);
    assert_eq!(again.fills.len() as u64, busiest.stats.fills);
    // A reversal is two fills on one bar: the exit, then the entry.
    assert!(again.fills.windows(2).all(|w| w[0].tick <= w[1].tick));
    assert_eq!(
        RunResult {
            fills: Vec::new(),
            trades: Vec::new(),
            marks: Vec::new(),
            ..again
        },
        *busiest
    );
    assert!(sweep.rerun(grid.len(), build(true)).is_none());
}

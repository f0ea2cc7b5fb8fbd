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
        bar_ticks: 500,
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
        assert!(ra.trace_events >= 2 + ra.trades);
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
        assert_eq!(
            (c.pnl, c.sharpe, c.max_drawdown, c.trades),
            (x.pnl, x.sharpe, x.max_drawdown, x.trades)
        );
        assert_eq!(c.equity, x.equity);
        assert_ne!(c.trace_hash, x.trace_hash, "the restart is in the trace");
        assert_eq!(x, y, "and the crashed run is itself deterministic");
    }
}

#[test]
fn the_risk_limit_halts_on_the_bus_clock_deterministically() {
    let (series, grid, config) = small();
    let tight = Config {
        risk_limit: 0.0005,
        risk_every: std::time::Duration::from_secs(600),
        ..config
    };
    let one = sweep(&series, &grid, &tight, 1);
    let two = sweep(&series, &grid, &tight, 2);
    let halted = one
        .successes()
        .filter(|(_, r)| r.halted_at.is_some())
        .count();
    assert!(halted > 0, "a tight limit halts some runs");
    for (a, b) in one.runs.iter().zip(&two.runs) {
        assert_eq!(a.result.as_ref().unwrap(), b.result.as_ref().unwrap());
    }
    for (_, r) in one.successes().filter(|(_, r)| r.halted_at.is_some()) {
        assert_eq!(r.position, 0, "a halted strategy ends flat");
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
        .max_by_key(|(_, r)| r.trades)
        .unwrap();
    assert!(busiest.fills.is_empty(), "a sweep keeps only the hash");
    let again = sweep.rerun(index, build(true)).unwrap();
    let again = again.result.unwrap();
    assert_eq!(again.trace_hash, busiest.trace_hash);
    assert_eq!(again.fills.len() as u64, busiest.trades);
    assert!(again.fills.windows(2).all(|w| w[0].tick < w[1].tick));
    assert_eq!(
        RunResult {
            fills: Vec::new(),
            ..again
        },
        *busiest
    );
    assert!(sweep.rerun(grid.len(), build(true)).is_none());
}

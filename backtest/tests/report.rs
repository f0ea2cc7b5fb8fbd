//! The HTML report: its drawdown chart bottoms at the headline max. drawdown, and it says
//! when the best runs sit on an edge of the grid.

use std::sync::Arc;

use mycelium_backtest::metrics::{max_drawdown, Period, Stats};
use mycelium_backtest::pipeline::{self, Config, FillAt, Params, RunResult, Sizing};
use mycelium_backtest::report::{self, drawdown_series, grid_edges, marked_equity, Input};
use mycelium_backtest::{Series, Sweep};

fn lowest(points: &[(u64, f64)]) -> f64 {
    points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min)
}

/// One run of `params` with its fills kept.
fn run(series: &Arc<Series>, params: Params, config: &Config) -> RunResult {
    let config = Config {
        keep_fills: true,
        ..config.clone()
    };
    let report = Sweep::new(vec![params])
        .workers(1)
        .seed(3)
        .progress(false)
        .run(|&params, run| {
            let (series, config) = (series.clone(), config.clone());
            async move { pipeline::run(&run.bus, series, params, config).await }
        });
    let (_, result) = report.successes().next().expect("the run completes");
    result.clone()
}

fn page(run: &RunResult, marks: Option<&[(u64, f64)]>) -> String {
    let params = Params {
        fast: 20,
        slow: 400,
        band_bps: 0,
    };
    let both = [(&params, run)];
    report::html(&Input {
        title: "test".into(),
        metric: "Return [%]",
        best: (&params, run),
        ranked: &both,
        all: &both,
        metric_of: &|r| r.stats.return_pct,
        settings: String::new(),
        marks,
    })
}

/// The value of the page's `chart-low` caption: the lowest point of its drawdown chart.
fn chart_low(page: &str) -> f64 {
    let at = page
        .find(r#"class="chart-low">"#)
        .expect("a chart-low caption")
        + 18;
    let end = at + page[at..].find('%').expect("a percentage");
    page[at..end].parse().expect("a number")
}

#[test]
fn the_plotted_drawdown_keeps_a_trough_that_plain_downsampling_misses() {
    // 100,000 marks drifting up, with a one-mark crash at an index no stride of 50 reaches.
    let equity: Vec<(u64, f64)> = (0..100_000u64)
        .map(|i| {
            let e = 100.0 + i as f64 * 1e-3;
            (i * 60_000_000_000, if i == 61_237 { e * 0.8 } else { e })
        })
        .collect();
    let values: Vec<f64> = equity.iter().map(|p| p.1).collect();
    let headline = -max_drawdown(&values) * 100.0;
    assert!((headline + 20.0).abs() < 1e-3, "{headline}");
    let every_50th: Vec<(u64, f64)> = equity.iter().step_by(50).copied().collect();
    assert!(lowest(&drawdown_series(&every_50th, 100.0, usize::MAX)) > -1e-9);

    let plotted = drawdown_series(&equity, 100.0, 2_000);
    assert!(plotted.len() <= 2_000, "{} points", plotted.len());
    assert_eq!(lowest(&plotted), headline);
    assert!(plotted.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
    assert_eq!(plotted.first().map(|p| p.0), Some(0));
    // A short curve is drawn whole.
    assert_eq!(drawdown_series(&equity[..500], 100.0, 2_000).len(), 500);
}

#[test]
fn the_drawdown_chart_bottoms_at_the_headline_max_drawdown() {
    // A month of ticks: the period curve keeps the last mark of each day.
    let series = Arc::new(Series::synthetic(8, 50_000));
    let params = Params {
        fast: 20,
        slow: 400,
        band_bps: 0,
    };
    let configs = [
        Config::default(),
        Config {
            fill: FillAt::SameClose,
            commission_bps: 2.0,
            commission_per_trade: 0.5,
            ..Config::default()
        },
        Config {
            fill: FillAt::NextClose,
            mark_every: 7,
            size: Sizing::Units(30),
            ..Config::default()
        },
        Config {
            risk_limit: Some(0.01),
            ..Config::default()
        },
    ];
    let mut missed = 0;
    for config in &configs {
        let result = run(&series, params, config);
        let s = result.stats;
        assert!(s.fills > 2, "{config:?} trades");
        let marks = marked_equity(&series, config, &result).expect("fills were kept");
        // The marks are the portfolio's: the last of each day is its period curve.
        let mut last_of_day: Vec<(u64, f64)> = Vec::new();
        for &(t, e) in &marks {
            match last_of_day.last_mut() {
                Some(last) if Period::Day.key(last.0) == Period::Day.key(t) => *last = (t, e),
                _ => last_of_day.push((t, e)),
            }
        }
        assert_eq!(last_of_day, result.equity, "{config:?}");

        let plotted = drawdown_series(&marks, s.cash, 2_000);
        assert!(plotted.len() <= 2_000);
        assert!(
            (lowest(&plotted) - s.max_drawdown_pct).abs() < 1e-9,
            "{config:?}: chart {} vs headline {}",
            lowest(&plotted),
            s.max_drawdown_pct
        );
        let html = page(&result, Some(&marks));
        assert_eq!(
            chart_low(&html),
            (s.max_drawdown_pct * 100.0).round() / 100.0
        );
        assert!(!html.contains("reached inside a period"));

        let daily = lowest(&drawdown_series(&result.equity, s.cash, 2_000));
        if daily > s.max_drawdown_pct + 0.005 {
            missed += 1;
            // Without the marks the page draws the period curve and says what it misses.
            let html = page(&result, None);
            assert!(chart_low(&html) > s.max_drawdown_pct);
            assert!(html.contains(&format!(
                "The max. drawdown ({:.2}%) was reached inside a period",
                s.max_drawdown_pct
            )));
        }
    }
    assert!(missed > 0, "the period curve misses an intraday trough");
}

#[test]
fn marks_after_a_bankruptcy_are_zero() {
    // Down from 100 to 50 (the crossover goes short), then a gap to 300: the short loses
    // more than the cash.
    let n = 400usize;
    let ts: Vec<u64> = (0..n as u64)
        .map(|i| 1_704_067_200_000_000_000 + i * 60_000_000_000)
        .collect();
    let px: Vec<f64> = (0..n)
        .map(|i| {
            if i < 300 {
                100.0 - i as f64 / 6.0
            } else {
                300.0
            }
        })
        .collect();
    let series = Arc::new(Series::new(ts, px).expect("a valid series"));
    let params = Params {
        fast: 3,
        slow: 10,
        band_bps: 0,
    };
    let config = Config::default();
    let result = run(&series, params, &config);
    let at = result.bankrupt_at.expect("the short goes bankrupt");
    let marks = marked_equity(&series, &config, &result).expect("fills were kept");
    assert!(marks[at..].iter().all(|m| m.1 == 0.0));
    assert_eq!(result.stats.max_drawdown_pct, -100.0);
    assert_eq!(lowest(&drawdown_series(&marks, 10_000.0, 2_000)), -100.0);
}

#[test]
fn without_kept_fills_there_are_no_marks() {
    let series = Arc::new(Series::synthetic(8, 5_000));
    let params = Params {
        fast: 10,
        slow: 100,
        band_bps: 0,
    };
    let mut result = run(&series, params, &Config::default());
    assert!(result.stats.fills > 0);
    result.fills.clear();
    assert_eq!(marked_equity(&series, &Config::default(), &result), None);
}

fn result(fills: u64) -> RunResult {
    RunResult {
        stats: Stats {
            cash: 10_000.0,
            equity_final: 10_000.0,
            return_pct: 0.0,
            buy_hold_return_pct: 0.0,
            max_drawdown_pct: 0.0,
            return_ann_pct: 0.0,
            volatility_ann_pct: 0.0,
            sharpe: 0.0,
            sortino: 0.0,
            trades: fills / 2,
            fills,
            win_rate_pct: f64::NAN,
            exposure_pct: 0.0,
            fees: 0.0,
        },
        position: 0,
        halted_at: None,
        bankrupt_at: None,
        canceled: 0,
        ticks: 2,
        trace_hash: 0,
        trace_events: 0,
        restarts: 0,
        equity: vec![(0, 10_000.0), (86_400_000_000_000, 10_000.0)],
        fills: Vec::new(),
        trades: Vec::new(),
        marks: Vec::new(),
    }
}

/// The points of `grid` ranked by `score`, best first.
fn ranked_by(grid: &[Params], score: impl Fn(&Params) -> i64) -> Vec<Params> {
    let mut ranked = grid.to_vec();
    ranked.sort_by_key(|p| (-score(p), *p));
    ranked
}

#[test]
fn best_runs_on_the_largest_slow_window_are_flagged() {
    let grid = pipeline::default_grid();
    let traded = result(4);
    // Longer slow windows score higher, as in the default grid's results; the fast window
    // is best inside the grid, at 50.
    let ranked = ranked_by(&grid, |p| {
        i64::from(p.slow) * 1000 - (i64::from(p.fast) - 50).abs()
    });
    let all: Vec<(&Params, &RunResult)> = grid.iter().map(|p| (p, &traded)).collect();
    let top: Vec<(&Params, &RunResult)> = ranked.iter().map(|p| (p, &traded)).collect();
    let edges = grid_edges(&top, &all);
    let sentence = "the best runs (all 10 of the top 10) sit at the largest slow window tested \
                    (8000): widen the grid beyond it to see whether the optimum lies outside";
    assert_eq!(
        edges.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [sentence]
    );
    // The best run has the band 0, the smallest of the grid: nothing lies below it, so it
    // is no edge; the top ten spread over the bands, so the largest band is none either.
    assert_eq!(
        (top[0].0.fast, top[0].0.slow, top[0].0.band_bps),
        (50, 8000, 0)
    );

    let html = report::html(&Input {
        title: "t".into(),
        metric: "Return [%]",
        best: top[0],
        ranked: &top[..10],
        all: &all,
        metric_of: &|r| r.stats.return_pct,
        settings: String::new(),
        marks: None,
    });
    assert!(html.contains(&format!(
        r#"<p class="note grid-edge">Grid edge: {sentence}.</p>"#
    )));
}

#[test]
fn edge_rule_best_run_or_a_majority_of_the_top_runs() {
    let traded = result(2);
    let p = |fast, slow, band_bps| Params {
        fast,
        slow,
        band_bps,
    };
    let grid = pipeline::grid(&[5, 10, 20], &[100, 200, 300], &[0, 10, 20]);
    let all: Vec<(&Params, &RunResult)> = grid.iter().map(|p| (p, &traded)).collect();
    let with = |ranked: &[Params]| {
        let top: Vec<(&Params, &RunResult)> = ranked.iter().map(|p| (p, &traded)).collect();
        grid_edges(&top, &all)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    // The best run inside the grid on every parameter, no majority anywhere: no note.
    assert!(with(&[p(10, 200, 10), p(5, 100, 0), p(20, 300, 10)]).is_empty());
    // The best run alone at the smallest fast window.
    assert_eq!(
        with(&[p(5, 200, 0), p(10, 300, 10), p(20, 100, 10)]),
        [
            "the best run (1 of the top 3 runs) sits at the smallest fast window tested (5): \
          widen the grid below it to see whether the optimum lies outside"
        ]
    );
    // Two of three at the largest band, not the best.
    assert_eq!(
        with(&[p(10, 200, 0), p(10, 300, 20), p(20, 200, 20)]),
        [
            "2 of the top 3 runs (not the best) sit at the largest band tested (20 bp): widen \
          the grid beyond it to see whether the optimum lies outside"
        ]
    );
    // A parameter with one value in the grid is not swept: no edge.
    let one_slow = pipeline::grid(&[5, 10], &[100], &[0]);
    let all: Vec<(&Params, &RunResult)> = one_slow.iter().map(|p| (p, &traded)).collect();
    let top = [(&one_slow[0], &traded)];
    assert_eq!(
        grid_edges(&top, &all)
            .iter()
            .map(|e| e.parameter)
            .collect::<Vec<_>>(),
        ["fast window"]
    );
    // A best run that made no trade says nothing about the grid.
    let idle = result(0);
    let top = [(&one_slow[0], &idle)];
    assert!(grid_edges(&top, &all).is_empty());
}

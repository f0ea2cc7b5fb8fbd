//! Run settings that cannot work are refused with what to give instead; fill rules.

use mycelium_backtest::pipeline::{Config, ConfigError, FillAt, Sizing};
use mycelium_backtest::Series;

#[test]
fn bad_settings_are_refused() {
    let bad = [
        (
            Config {
                cash: 0.0,
                ..Config::default()
            },
            "starting cash",
        ),
        (
            Config {
                cash: f64::NAN,
                ..Config::default()
            },
            "starting cash",
        ),
        (
            Config {
                size: Sizing::Units(0),
                ..Config::default()
            },
            "whole number of units",
        ),
        (
            Config {
                size: Sizing::Units(u64::MAX),
                ..Config::default()
            },
            "a position holds at most",
        ),
        (
            Config {
                size: Sizing::Equity(1.5),
                ..Config::default()
            },
            "fraction",
        ),
        (
            Config {
                commission_bps: -1.0,
                ..Config::default()
            },
            "basis points",
        ),
        (
            Config {
                commission_per_trade: f64::INFINITY,
                ..Config::default()
            },
            "per-trade",
        ),
        (
            Config {
                risk_limit: Some(0.0),
                ..Config::default()
            },
            "fraction in (0, 1]",
        ),
    ];
    for (config, needle) in bad {
        let e: ConfigError = config.validate().unwrap_err();
        assert!(
            e.to_string().contains(needle),
            "`{e}` should mention `{needle}`"
        );
    }
    assert_eq!(Config::default().validate(), Ok(()));
}

#[test]
fn fill_rules() {
    let s = Series::bars(
        vec![1, 2, 3],
        vec![10.0, 20.0, 30.0],
        vec![11.0, 21.0, 31.0],
    )
    .unwrap();
    assert_eq!(FillAt::NextOpen.execution(&s, 0), Some((20.0, 1, 1)));
    assert_eq!(FillAt::NextClose.execution(&s, 0), Some((21.0, 1, 1)));
    assert_eq!(FillAt::SameClose.execution(&s, 1), Some((21.0, 1, 2)));
    for rule in [FillAt::NextOpen, FillAt::NextClose, FillAt::SameClose] {
        assert_eq!(
            rule.execution(&s, 2),
            None,
            "nothing fills after the last bar"
        );
    }
    // Ticks: the next tick's price.
    let t = Series::new(vec![1, 2], vec![5.0, 6.0]).unwrap();
    assert_eq!(FillAt::NextOpen.execution(&t, 0), Some((6.0, 1, 1)));
    assert!(Series::bars(vec![1], vec![0.0], vec![1.0]).is_err());
    assert!(Series::bars(vec![1], vec![1.0, 2.0], vec![1.0]).is_err());
}

mod runs {
    use std::sync::Arc;

    use mycelium_backtest::pipeline::{self, Config, FillAt, Params, RunResult, Sizing};
    use mycelium_backtest::{Series, Sweep};

    const DAY: u64 = 86_400_000_000_000;

    fn run(series: Series, config: Config) -> RunResult {
        let series = Arc::new(series);
        let grid = vec![Params {
            fast: 1,
            slow: 2,
            band_bps: 0,
        }];
        let report = Sweep::new(grid)
            .workers(1)
            .progress(false)
            .run(|&params, run| {
                let (series, config) = (series.clone(), config.clone());
                async move { pipeline::run(&run.bus, series, params, config).await }
            });
        report.runs[0].result.clone().expect("the run completes")
    }

    fn bars(opens: &[f64], closes: &[f64]) -> Series {
        let ts = (0..closes.len() as u64)
            .map(|i| (19_723 + i) * DAY)
            .collect();
        Series::bars(ts, opens.to_vec(), closes.to_vec()).unwrap()
    }

    /// fast 1 / slow 2: long after a rising close, short after a falling one, from bar 2.
    #[test]
    fn fixed_units_with_commissions_by_hand() {
        let closes = [10.0, 10.0, 11.0, 12.0, 11.0, 10.0, 9.0, 10.0];
        let opens: Vec<f64> = closes.iter().map(|c| c - 0.5).collect();
        for batch in [1, 3, 4096] {
            let r = run(
                bars(&opens, &closes),
                Config {
                    batch,
                    cash: 1000.0,
                    size: Sizing::Units(10),
                    commission_bps: 1.0,
                    commission_per_trade: 1.0,
                    keep_fills: true,
                    ..Config::default()
                },
            );
            // Long 10 at bar 3's open (11.5), reversed at bar 5's open (9.5); the signal on
            // the last bar never fills.
            let fills: Vec<(usize, f64, i64)> =
                r.fills.iter().map(|f| (f.tick, f.price, f.qty)).collect();
            assert_eq!(fills, [(3, 11.5, 10), (5, 9.5, -10), (5, 9.5, -10)]);
            let fee = |n: f64, p: f64| 1.0 + n * p * 0.0001;
            let cash =
                1000.0 - fee(10.0, 11.5) + 10.0 * (9.5 - 11.5) - fee(10.0, 9.5) - fee(10.0, 9.5);
            let final_equity = cash - 10.0 * (10.0 - 9.5);
            let s = r.stats;
            assert!((s.equity_final - final_equity).abs() < 1e-9, "{s:?}");
            assert!((s.return_pct - (final_equity - 1000.0) / 10.0).abs() < 1e-9);
            assert_eq!((s.trades, s.fills), (1, 3));
            assert_eq!(s.win_rate_pct, 0.0);
            assert_eq!(s.exposure_pct, 3.0 / 8.0 * 100.0, "bars 3 to 5 of 8");
            let peak = 1000.0 - fee(10.0, 11.5) + 10.0 * (12.0 - 11.5);
            assert!((s.max_drawdown_pct + (1.0 - final_equity / peak) * 100.0).abs() < 1e-9);
            assert_eq!(
                s.buy_hold_return_pct, 0.0,
                "from bar 1 (10) to the end (10)"
            );
            assert_eq!(r.position, -10);
            assert_eq!((r.bankrupt_at, r.halted_at, r.canceled), (None, None, 0));
        }
    }

    /// A fraction of the cash at a tiny price asks for more units than a position holds: the
    /// entry is capped at `i64::MAX` units, a long stays long (the count once wrapped into a
    /// short of -1).
    #[test]
    fn an_entry_too_large_for_a_position_is_capped_not_wrapped() {
        let closes = [1e-16, 1e-16, 2e-16, 3e-16, 4e-16];
        let r = run(
            bars(&closes, &closes),
            Config {
                size: Sizing::Equity(1.0),
                keep_fills: true,
                ..Config::default()
            },
        );
        let first = r.fills.first().expect("an entry on the rising close");
        assert_eq!(first.qty, i64::MAX, "{:?}", r.fills);
        assert_eq!(r.position, i64::MAX);
    }

    #[test]
    fn same_close_fills_at_the_deciding_close() {
        let closes = [10.0, 10.0, 11.0, 12.0, 11.0, 11.0];
        let r = run(
            bars(&closes, &closes),
            Config {
                fill: FillAt::SameClose,
                size: Sizing::Units(1),
                keep_fills: true,
                ..Config::default()
            },
        );
        let fills: Vec<(usize, f64, i64)> =
            r.fills.iter().map(|f| (f.tick, f.price, f.qty)).collect();
        assert_eq!(fills, [(2, 11.0, 1), (4, 11.0, -1), (4, 11.0, -1)]);
    }

    #[test]
    fn a_short_that_loses_everything_is_bankrupt_with_zero_equity() {
        let closes = [10.0, 10.0, 9.0, 8.0, 30.0, 31.0, 29.0];
        let r = run(bars(&closes, &closes), Config::default());
        assert_eq!(r.bankrupt_at, Some(4));
        assert_eq!(r.position, 0);
        let s = r.stats;
        assert_eq!(s.equity_final, 0.0);
        assert_eq!(s.return_pct, -100.0);
        assert_eq!(s.max_drawdown_pct, -100.0, "never beyond -100%");
        assert_eq!((s.trades, s.fills), (1, 2));
        assert!(r.equity.iter().all(|&(_, e)| e >= 0.0));
    }

    #[test]
    fn an_entry_the_cash_cannot_pay_for_is_cancelled() {
        let closes = [10.0, 10.0, 11.0, 12.0, 11.0, 11.0];
        let r = run(
            bars(&closes, &closes),
            Config {
                cash: 100.0,
                size: Sizing::Units(10), // 10 x 12 > 100
                ..Config::default()
            },
        );
        assert_eq!(r.canceled, 2, "the long and the short");
        assert_eq!(r.stats.fills, 0);
        assert_eq!(r.stats.equity_final, 100.0);
        assert!(r.stats.win_rate_pct.is_nan());
    }

    #[test]
    fn the_risk_limit_closes_at_the_next_open_after_the_first_breach() {
        // Long from bar 3's open; bar 4 closes 10% down: past a 5% limit, closed at bar 5's
        // open, and nothing trades after.
        let closes = [10.0, 10.0, 11.0, 12.0, 10.8, 12.0, 13.0, 9.0, 8.0];
        let opens = [10.0, 10.0, 11.0, 12.0, 11.5, 11.0, 12.5, 10.0, 8.5];
        let r = run(
            bars(&opens, &closes),
            Config {
                risk_limit: Some(0.05),
                keep_fills: true,
                ..Config::default()
            },
        );
        assert_eq!(r.halted_at, Some(4));
        let fills: Vec<(usize, f64, i64)> =
            r.fills.iter().map(|f| (f.tick, f.price, f.qty)).collect();
        // All the cash: 833 units at 12; at 10.8 equity is 9,000.4, 10% under its peak. The
        // short decided on that same bar is dropped with the halt.
        assert_eq!(fills, [(3, 12.0, 833), (5, 11.0, -833)]);
        assert_eq!(r.position, 0);
    }
}

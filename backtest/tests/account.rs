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

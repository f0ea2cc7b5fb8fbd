//! Metrics on hand-computed cases; the synthetic series and the trace hash are stable.

use mycelium_backtest::metrics::{
    civil_from_days, days_from_civil, max_drawdown, ratios, Annualisation, Period, PeriodCurve,
    DAY_NS,
};
use mycelium_backtest::{fnv1a, Series, Trace};

#[test]
fn ratios_of_known_returns() {
    // Returns 10% then -5%: g = sqrt(1.1 * 0.95) - 1, sample variance of (0.1, -0.05).
    let r = ratios(&[100.0, 110.0, 104.5], 1.0);
    let g = (1.1f64 * 0.95).sqrt() - 1.0;
    assert!((r.return_ann_pct - g * 100.0).abs() < 1e-12);
    let var = (0.075f64 * 0.075 * 2.0) / 1.0;
    let vol = ((var + (1.0 + g).powi(2)) - (1.0 + g).powi(2)).sqrt() * 100.0;
    assert!((r.volatility_ann_pct - vol).abs() < 1e-9, "{r:?}");
    assert!((r.sharpe - g * 100.0 / vol).abs() < 1e-9);
    let downside = (0.05f64 * 0.05 / 2.0).sqrt();
    assert!((r.sortino - g / downside).abs() < 1e-9);
}

#[test]
fn ratios_degenerate_cases() {
    assert!(ratios(&[], 252.0).sharpe.is_nan());
    assert!(ratios(&[100.0], 252.0).sortino.is_nan());
    // Never a loss: an infinite Sortino ratio; a flat curve: no Sharpe ratio.
    assert_eq!(ratios(&[100.0, 101.0, 102.0], 252.0).sortino, f64::INFINITY);
    assert!(ratios(&[100.0, 100.0, 100.0], 252.0).sharpe.is_nan());
    // A loss of everything: the geometric mean is taken as 0, as backtesting.py does.
    assert_eq!(ratios(&[100.0, 0.0], 252.0).return_ann_pct, 0.0);
}

#[test]
fn max_drawdown_of_known_curves() {
    assert_eq!(max_drawdown(&[100.0, 120.0, 90.0, 130.0, 117.0]), 0.25);
    assert_eq!(max_drawdown(&[100.0, 110.0, 120.0]), 0.0);
    assert_eq!(max_drawdown(&[100.0, 50.0, 200.0, 150.0]), 0.5);
    assert!((max_drawdown(&[100.0, 80.0, 60.0, 90.0]) - 0.4).abs() < 1e-15);
    assert_eq!(max_drawdown(&[100.0, 0.0]), 1.0);
    assert_eq!(max_drawdown(&[]), 0.0);
}

#[test]
fn calendar_arithmetic() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    for d in [0, 59, 365, 11_016, 19_782, 40_000] {
        let (y, m, dd) = civil_from_days(d);
        assert_eq!(days_from_civil(y, m, dd), d);
    }
}

#[test]
fn periods_follow_the_data() {
    let every_day: Vec<u64> = (0..100u64).map(|i| (19_723 + i) * DAY_NS).collect();
    assert_eq!(
        Annualisation::of(&every_day),
        Annualisation {
            period: Period::Day,
            per_year: 365.0
        }
    );
    let weekly: Vec<u64> = (0..100u64).map(|i| (19_723 + 7 * i) * DAY_NS).collect();
    assert_eq!(Annualisation::of(&weekly).period, Period::Week);
    // Weeks end on Sunday: Sunday 2024-01-07 00:00 closes the first week, Monday opens one.
    let sunday = (19_723 + 6) * DAY_NS;
    assert_eq!(
        Period::Week.key(sunday),
        Period::Week.key(19_723 * DAY_NS + 1)
    );
    assert_ne!(Period::Week.key(sunday + 1), Period::Week.key(sunday));
    assert_eq!(Period::Week.next_boundary(sunday), sunday + 1);
    // Months: 2024-01-31 00:00 is January's last instant in the bin, 2024-01-31 01:00 is not.
    let jan31 = days_from_civil(2024, 1, 31) as u64 * DAY_NS;
    assert_eq!(Period::Month.key(jan31), Period::Month.key(jan31 - DAY_NS));
    assert_ne!(
        Period::Month.key(jan31 + 3_600_000_000_000),
        Period::Month.key(jan31)
    );
    // A curve keeps the last mark of each period.
    let mut c = PeriodCurve::new(Period::Day);
    for (t, e) in [
        (0, 1.0),
        (5, 2.0),
        (DAY_NS, 3.0),
        (DAY_NS + 1, 4.0),
        (3 * DAY_NS, 5.0),
    ] {
        c.push(t, e);
    }
    assert_eq!(
        c.points(),
        &[(5, 2.0), (DAY_NS + 1, 4.0), (3 * DAY_NS, 5.0)]
    );
}

#[test]
fn the_synthetic_series_depends_only_on_its_seed() {
    let a = Series::synthetic(5, 50_000);
    let b = Series::synthetic(5, 50_000);
    assert_eq!(a, b);
    let bits = |s: &Series| s.prices().iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(a, Series::synthetic(6, 50_000));
    assert_eq!(Series::synthetic(5, 1_000).prices(), &a.prices()[..1_000]);
    assert!(a.prices().iter().all(|p| p.is_finite() && *p > 0.0));
    assert!(a.timestamps().windows(2).all(|w| w[0] < w[1]));
    // Pinned: a change to the generator changes every backtest's numbers; make it on purpose.
    assert_eq!(
        fnv1a(
            &bits(&Series::synthetic(42, 1_000))
                .iter()
                .flat_map(|b| b.to_le_bytes())
                .collect::<Vec<_>>()
        ),
        PINNED
    );
}

const PINNED: u64 = 0x79c9_e6fc_7c5b_3c7f;

#[test]
fn fnv1a_reference_values() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    let mut t = Trace::new();
    t.record("x", &[]);
    assert_eq!(t.events(), 1);
    assert_eq!(t.hash(), fnv1a(b"x\xff"));
}

use super::*;
use proptest::prelude::*;

/// An account holding `units` (flat for 0) bought at `entry`, its peak and worst
/// drawdown so far given.
fn account(series: &Series, cash: f64, units: i64, entry: f64, peak: f64, worst: f64) -> Account {
    let curve = PeriodCurve::with_offset(series.annualisation().period, 0);
    let mut a = Account::new(&Config::default(), curve, Trace::new());
    a.cash = cash;
    a.position = units;
    a.open = (units != 0).then_some(Open {
        bar: 0,
        price: entry,
        fee: 0.0,
    });
    (a.peak, a.worst_dd) = (peak, worst);
    a
}

/// What a test compares of two accounts, floats by their bits.
fn state(a: &Account) -> impl PartialEq + std::fmt::Debug {
    (
        (
            a.cash.to_bits(),
            a.position,
            a.peak.to_bits(),
            a.worst_dd.to_bits(),
        ),
        (a.halted_at, a.bankrupt_at, a.trades, a.trace.hash()),
        a.curve
            .points()
            .iter()
            .map(|&(t, e)| (t, e.to_bits()))
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// `mark_run`, which passes blocks of bars over and keeps its levels in registers,
    /// leaves the account as `mark` at each bar would, bit for bit: long, short and flat,
    /// from any bar to any other, with or without a risk limit, through new peaks, new
    /// worst drawdowns, ends of periods, halts and bankruptcy.
    #[test]
    fn marks_over_blocks_are_the_marks_of_each_bar(
        seed in any::<u64>(),
        len in 1usize..3_000,
        from_frac in 0.0f64..1.0,
        until_frac in 0.0f64..1.0,
        units in -40i64..40,
        entry in 50.0f64..150.0,
        cash in -2_000.0f64..20_000.0,
        peak_shift in -0.05f64..0.05,
        worst in 0.0f64..0.1,
        risk in proptest::option::of(0.005f64..0.3),
    ) {
        let series = Series::synthetic(seed, len);
        let from = ((len as f64 * from_frac) as usize).min(len - 1);
        let until = from + 1 + ((len - from - 1) as f64 * until_frac) as usize;
        let e0 = cash + (series.prices()[from] * units as f64 - units as f64 * entry);
        let peak = e0.abs().max(1.0) * (1.0 + peak_shift);
        let mut run = account(&series, cash, units, entry, peak, worst);
        let mut each = account(&series, cash, units, entry, peak, worst);
        let ran = run.mark_run(&series, from, until, risk);
        let mut marked = (until, Stop::No);
        for j in from..until {
            let stop = each.mark(j, series.timestamps()[j], series.prices()[j], risk);
            if stop != Stop::No {
                marked = (j + 1, stop);
                break;
            }
        }
        prop_assert_eq!(ran, marked);
        prop_assert_eq!(state(&run), state(&each));
    }
}

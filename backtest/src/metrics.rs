//! Performance statistics of one run, with the definitions of backtesting.py's `stats`.
//!
//! Every figure is named like its backtesting.py counterpart and computed the same way, so a
//! run can be checked against backtesting.py to rounding error:
//!
//! | Here | backtesting.py | Definition |
//! | --- | --- | --- |
//! | [`Stats::return_pct`] | `Return [%]` | `(equity[-1] - equity[0]) / equity[0] * 100` |
//! | [`Stats::buy_hold_return_pct`] | `Buy & Hold Return [%]` | `(close[-1] - close[w]) / close[w] * 100`, `w` the first bar the strategy's indicators exist |
//! | [`Stats::max_drawdown_pct`] | `Max. Drawdown [%]` | `-max(1 - equity / running peak) * 100` (≤ 0) |
//! | [`Stats::return_ann_pct`] | `Return (Ann.) [%]` | `((1 + g)^N - 1) * 100`, `g` the geometric mean of the period returns |
//! | [`Stats::volatility_ann_pct`] | `Volatility (Ann.) [%]` | `sqrt((var + (1 + g)^2)^N - (1 + g)^(2N)) * 100`, `var` with n - 1 |
//! | [`Stats::sharpe`] | `Sharpe Ratio` | `Return (Ann.) / Volatility (Ann.)`, risk-free rate 0 |
//! | [`Stats::sortino`] | `Sortino Ratio` | `((1 + g)^N - 1) / (sqrt(mean(min(r, 0)^2)) * sqrt(N))` |
//! | [`Stats::trades`] | `# Trades` | closed round trips (a position still open at the end is not one) |
//! | [`Stats::win_rate_pct`] | `Win Rate [%]` | share of round trips with a PnL after commissions > 0 (NaN with none) |
//! | [`Stats::exposure_pct`] | `Exposure Time [%]` | share of bars from the entry to the exit bar of a closed round trip |
//!
//! The period returns `r` are the changes of the last equity of each calendar period (UTC):
//! days, or weeks, months or years when the data's median spacing (over its last 100 rows) is
//! 7, 31 or 365 days. `N`, the periods in a year, is 52, 12 or 1 for those, and for days 365
//! when more than 17% of the rows fall on a weekend (markets that trade every day), else 252.
//! Periods without data are skipped. See [`Annualisation`].

/// Nanoseconds in a day.
pub const DAY_NS: u64 = 86_400_000_000_000;

/// The calendar period whose returns give the annualised figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// UTC days (`[00:00, 24:00)`).
    Day,
    /// Weeks ending on Sunday (backtesting.py's `W`: `(Sunday 00:00, next Sunday 00:00]`).
    Week,
    /// Calendar months (`(last day 00:00, next last day 00:00]`, as pandas' `ME`).
    Month,
    /// Calendar years (`YE`).
    Year,
}

/// How returns are annualised for a series: the period and how many make a year.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Annualisation {
    /// The period of the returns.
    pub period: Period,
    /// Periods in a year (`N` in the formulas).
    pub per_year: f64,
}

impl Annualisation {
    /// Chooses the period from the timestamps (nanoseconds since the Unix epoch) as
    /// backtesting.py does: from the median spacing of the last 100 rows, and for daily or
    /// finer data from the share of rows on a Saturday or Sunday.
    ///
    /// ```
    /// use mycelium_backtest::metrics::{Annualisation, Period, DAY_NS};
    /// // Weekdays only, one row a day from Monday 2024-01-01: 252 trading days a year.
    /// let ts: Vec<u64> = (0..60u64)
    ///     .map(|i| 19_723 + i / 5 * 7 + i % 5)
    ///     .map(|d| d * DAY_NS)
    ///     .collect();
    /// assert_eq!(Annualisation::of(&ts), Annualisation { period: Period::Day, per_year: 252.0 });
    /// ```
    pub fn of(timestamps: &[u64]) -> Annualisation {
        Annualisation::of_local(timestamps, 0)
    }

    /// As [`Annualisation::of`], with weekdays taken in a local time `offset_ns` ahead of
    /// UTC.
    pub fn of_local(timestamps: &[u64], offset_ns: i64) -> Annualisation {
        let tail = &timestamps[timestamps.len().saturating_sub(100)..];
        let mut diffs: Vec<u64> = tail.windows(2).map(|w| w[1] - w[0]).collect();
        diffs.sort_unstable();
        let days = match diffs.len() {
            0 => 0,
            n if n % 2 == 1 => diffs[n / 2] / DAY_NS,
            n => ((diffs[n / 2 - 1] as u128 + diffs[n / 2] as u128) / 2 / DAY_NS as u128) as u64,
        };
        let (period, per_year) = match days {
            7 => (Period::Week, 52.0),
            31 => (Period::Month, 12.0),
            365 => (Period::Year, 1.0),
            _ => {
                let weekend = timestamps
                    .iter()
                    .filter(|&&t| weekday(days_of(to_local(t, offset_ns))) >= 5)
                    .count();
                let share = weekend as f64 / timestamps.len().max(1) as f64;
                let per_year = if share > 2.0 / 7.0 * 0.6 {
                    365.0
                } else {
                    252.0
                };
                (Period::Day, per_year)
            }
        };
        Annualisation { period, per_year }
    }
}

fn to_local(t: u64, offset_ns: i64) -> u64 {
    (i128::from(t) + i128::from(offset_ns)).clamp(0, i128::from(u64::MAX)) as u64
}

fn days_of(t: u64) -> i64 {
    (t / DAY_NS) as i64
}

/// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// The civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The day count since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Period {
    /// The period holding time `t` (ns since the epoch), as a number that grows with time.
    pub fn key(self, t: u64) -> i64 {
        match self {
            Period::Day => days_of(t),
            // Closed on the right: a bin ends at its anchor day's midnight, inclusive.
            _ => {
                let next = if t == 0 { 0 } else { days_of(t - 1) + 1 };
                match self {
                    Period::Week => next + (6 - weekday(next)),
                    Period::Month => {
                        let (y, m, _) = civil_from_days(next);
                        y * 12 + i64::from(m)
                    }
                    _ => civil_from_days(next).0,
                }
            }
        }
    }

    /// The first time after `t` that lies in another period than `t`.
    pub fn next_boundary(self, t: u64) -> u64 {
        let at_days = |d: i64| (d.max(0) as u64).saturating_mul(DAY_NS);
        match self {
            Period::Day => at_days(days_of(t) + 1),
            _ => {
                let next = if t == 0 { 0 } else { days_of(t - 1) + 1 };
                let anchor = match self {
                    Period::Week => next + (6 - weekday(next)),
                    Period::Month => {
                        let (y, m, _) = civil_from_days(next);
                        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                        days_from_civil(ny, nm, 1) - 1
                    }
                    _ => days_from_civil(civil_from_days(next).0 + 1, 1, 1) - 1,
                };
                at_days(anchor).saturating_add(1)
            }
        }
    }
}

/// The equity curve sampled at the last mark of each period, built mark by mark.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodCurve {
    period: Period,
    offset_ns: i64,
    /// In UTC.
    boundary: u64,
    points: Vec<(u64, f64)>,
}

impl PeriodCurve {
    /// An empty curve over `period`.
    pub fn new(period: Period) -> PeriodCurve {
        PeriodCurve::with_offset(period, 0)
    }

    /// An empty curve over `period` of a local time `offset_ns` ahead of UTC.
    pub fn with_offset(period: Period, offset_ns: i64) -> PeriodCurve {
        PeriodCurve {
            period,
            offset_ns,
            boundary: 0,
            points: Vec::new(),
        }
    }

    /// The UTC time at which the period holding UTC time `t` ends.
    fn next_boundary(&self, t: u64) -> u64 {
        let local = self.period.next_boundary(to_local(t, self.offset_ns));
        to_local(local, -self.offset_ns).max(t.saturating_add(1))
    }

    /// Records the equity `e` marked at time `t` (times must not decrease).
    #[inline]
    pub fn push(&mut self, t: u64, e: f64) {
        if t < self.boundary {
            if let Some(last) = self.points.last_mut() {
                *last = (t, e);
                return;
            }
        }
        self.boundary = self.next_boundary(t);
        self.points.push((t, e));
    }

    /// Records the same equity `e` at each of the times `ts` (not decreasing), as
    /// [`PeriodCurve::push`] would one by one.
    pub fn push_flat(&mut self, ts: &[u64], e: f64) {
        let Some(&last_t) = ts.last() else {
            return;
        };
        if ts[0] < self.boundary && last_t < self.boundary {
            if let Some(last) = self.points.last_mut() {
                *last = (last_t, e);
                return;
            }
        }
        let mut prev: Option<u64> = None;
        for &t in ts {
            if t >= self.boundary || self.points.is_empty() {
                if let (Some(p), Some(last)) = (prev, self.points.last_mut()) {
                    *last = (p, e);
                }
                self.boundary = self.next_boundary(t);
                self.points.push((t, e));
            }
            prev = Some(t);
        }
        if let Some(last) = self.points.last_mut() {
            *last = (last_t, e);
        }
    }

    /// The first time that falls in a new period (0 before the first mark).
    pub fn boundary(&self) -> u64 {
        self.boundary
    }

    /// Replaces the last point (a later mark in the same period); no-op on an empty curve.
    pub fn set_last(&mut self, t: u64, e: f64) {
        if let Some(last) = self.points.last_mut() {
            *last = (t, e);
        }
    }

    /// `(time of the last mark, equity)` per period, in order.
    pub fn points(&self) -> &[(u64, f64)] {
        &self.points
    }

    /// Takes the points out.
    pub fn into_points(self) -> Vec<(u64, f64)> {
        self.points
    }
}

/// The annualised figures of a per-period equity curve (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratios {
    /// `Return (Ann.) [%]`.
    pub return_ann_pct: f64,
    /// `Volatility (Ann.) [%]`.
    pub volatility_ann_pct: f64,
    /// `Sharpe Ratio` (NaN when the volatility is 0 or undefined).
    pub sharpe: f64,
    /// `Sortino Ratio` (infinite when no period lost, NaN when undefined).
    pub sortino: f64,
}

/// The return, volatility, Sharpe and Sortino ratios of the equity at the end of each
/// period, with `per_year` periods in a year, as backtesting.py computes them.
///
/// ```
/// use mycelium_backtest::metrics::ratios;
/// let r = ratios(&[100.0, 101.0, 100.5, 102.0], 252.0);
/// assert!(r.sharpe > 0.0 && r.sortino > r.sharpe);
/// assert!(ratios(&[100.0], 252.0).sharpe.is_nan()); // no return at all
/// ```
pub fn ratios(period_equity: &[f64], per_year: f64) -> Ratios {
    let r: Vec<f64> = period_equity
        .windows(2)
        .map(|w| w[1] / w[0] - 1.0)
        .filter(|r| !r.is_nan())
        .collect();
    let n = r.len() as f64;
    let g = if r.iter().any(|x| x + 1.0 <= 0.0) {
        0.0
    } else {
        let n_or_nan = if r.is_empty() { f64::NAN } else { n };
        (r.iter().map(|x| (x + 1.0).ln()).sum::<f64>() / n_or_nan).exp() - 1.0
    };
    let var = if r.len() < 2 {
        f64::NAN
    } else {
        let mean = r.iter().sum::<f64>() / n;
        r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
    };
    let ann = (1.0 + g).powf(per_year) - 1.0;
    let return_ann_pct = ann * 100.0;
    let volatility_ann_pct =
        ((var + (1.0 + g).powi(2)).powf(per_year) - (1.0 + g).powf(2.0 * per_year)).sqrt() * 100.0;
    let sharpe = if volatility_ann_pct == 0.0 {
        f64::NAN
    } else {
        return_ann_pct / volatility_ann_pct
    };
    let downside = if r.is_empty() {
        f64::NAN
    } else {
        r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / n
    };
    let sortino = ann / (downside.sqrt() * per_year.sqrt());
    Ratios {
        return_ann_pct,
        volatility_ann_pct,
        sharpe,
        sortino,
    }
}

/// The largest fall of an equity curve from a running peak, as a fraction of that peak
/// (0.25 = a 25% drawdown): `max(1 - e / peak)`. 0 for a curve that never falls.
///
/// ```
/// use mycelium_backtest::metrics::max_drawdown;
/// assert_eq!(max_drawdown(&[100.0, 120.0, 90.0, 130.0, 117.0]), 0.25);
/// ```
pub fn max_drawdown(equity: &[f64]) -> f64 {
    let mut peak = f64::NEG_INFINITY;
    let mut worst = 0.0f64;
    for &e in equity {
        peak = peak.max(e);
        let dd = 1.0 - e / peak;
        if dd > worst {
            worst = dd;
        }
    }
    worst
}

/// The statistics of one run. Definitions in the [module docs](self); `NaN` where
/// backtesting.py gives `NaN` (a win rate without trades, ratios without returns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Starting cash.
    pub cash: f64,
    /// `Equity Final [$]`.
    pub equity_final: f64,
    /// `Return [%]`.
    pub return_pct: f64,
    /// `Buy & Hold Return [%]`.
    pub buy_hold_return_pct: f64,
    /// `Max. Drawdown [%]`, ≤ 0 and ≥ -100.
    pub max_drawdown_pct: f64,
    /// `Return (Ann.) [%]`.
    pub return_ann_pct: f64,
    /// `Volatility (Ann.) [%]`.
    pub volatility_ann_pct: f64,
    /// `Sharpe Ratio`.
    pub sharpe: f64,
    /// `Sortino Ratio`.
    pub sortino: f64,
    /// `# Trades`: closed round trips.
    pub trades: u64,
    /// Executions (an entry and an exit each count one).
    pub fills: u64,
    /// `Win Rate [%]`.
    pub win_rate_pct: f64,
    /// `Exposure Time [%]`.
    pub exposure_pct: f64,
    /// Every commission paid, open position included (ours: backtesting.py's
    /// `Commissions [$]` counts closed trades only).
    pub fees: f64,
}

impl Stats {
    /// Names and values, in the order of [`Stats::NAMES`].
    pub fn values(&self) -> [f64; 13] {
        [
            self.equity_final,
            self.return_pct,
            self.buy_hold_return_pct,
            self.max_drawdown_pct,
            self.return_ann_pct,
            self.volatility_ann_pct,
            self.sharpe,
            self.sortino,
            self.trades as f64,
            self.fills as f64,
            self.win_rate_pct,
            self.exposure_pct,
            self.fees,
        ]
    }

    /// The names of [`Stats::values`], as backtesting.py prints them (`# Fills` is ours).
    pub const NAMES: [&'static str; 13] = [
        "Equity Final [$]",
        "Return [%]",
        "Buy & Hold Return [%]",
        "Max. Drawdown [%]",
        "Return (Ann.) [%]",
        "Volatility (Ann.) [%]",
        "Sharpe Ratio",
        "Sortino Ratio",
        "# Trades",
        "# Fills",
        "Win Rate [%]",
        "Exposure Time [%]",
        "Fees [$]",
    ];
}

//! Performance metrics of one run: PnL, Sharpe ratio, maximum drawdown.

/// Nanoseconds in a year of 365.25 days, to annualise a Sharpe ratio.
pub const YEAR_NS: f64 = 365.25 * 24.0 * 3600.0 * 1e9;

/// The Sharpe ratio of per-bar returns: `mean / std * sqrt(bars_per_year)`, with the sample
/// standard deviation (n - 1) and a zero risk-free rate. 0 when there are fewer than two
/// returns or they do not vary.
///
/// ```
/// use mycelium_backtest::metrics::sharpe;
/// // mean 0.02, sample std 0.01, one bar a year
/// let s = sharpe(&[0.01, 0.02, 0.03], 1.0);
/// assert!((s - 2.0).abs() < 1e-12);
/// ```
pub fn sharpe(returns: &[f64], bars_per_year: f64) -> f64 {
    let n = returns.len();
    if n < 2 {
        return 0.0;
    }
    let mean = returns.iter().sum::<f64>() / n as f64;
    let var = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    if std == 0.0 || !std.is_finite() {
        return 0.0;
    }
    mean / std * bars_per_year.sqrt()
}

/// The largest fall of an equity curve from a running peak, as a fraction of that peak
/// (0.25 = a 25% drawdown). 0 for a curve that never falls; the peak is taken as at least
/// a tiny positive number so a curve at or below zero still gives a finite answer.
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
        let dd = (peak - e) / peak.max(f64::MIN_POSITIVE);
        worst = worst.max(dd);
    }
    worst
}

/// Per-bar returns of an equity curve relative to a fixed `capital`:
/// `(e[i] - e[i-1]) / capital`.
pub fn returns(equity: &[f64], capital: f64) -> Vec<f64> {
    equity.windows(2).map(|w| (w[1] - w[0]) / capital).collect()
}

//! `report.html`: one self-contained page (inline SVG and CSS, no script, nothing fetched)
//! with the best run's equity and drawdown against dates, a heatmap of a metric over the
//! fast and slow windows, and the top runs.
//!
//! The drawdown chart is drawn from the marks the max. drawdown is measured on (every tick
//! or bar by default) when the page is given them ([`Input::marks`], from
//! [`marked_equity`]), so that its lowest point is the headline figure; a period-end curve
//! can miss a trough inside a period, and the page says so when it does. The page also
//! says when the best runs sit on an edge of the grid ([`grid_edges`]).

use std::fmt::{self, Write as _};

use crate::metrics::{civil_from_days, DAY_NS};
use crate::pipeline::{Config, Params, RunResult};
use crate::Series;

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in nanoseconds since the epoch; the time part is
/// left out at midnight.
pub fn date_time(t: u64) -> String {
    let days = (t / DAY_NS) as i64;
    let (y, m, d) = civil_from_days(days);
    let secs = (t % DAY_NS) / 1_000_000_000;
    if secs == 0 && t % 1_000_000_000 == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// `YYYY-MM-DD` of a time in nanoseconds since the epoch.
pub fn date(t: u64) -> String {
    let (y, m, d) = civil_from_days((t / DAY_NS) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What the page shows.
pub struct Input<'a> {
    /// The page title.
    pub title: String,
    /// The name of the metric of the heatmap and the ranking.
    pub metric: &'a str,
    /// The best run.
    pub best: (&'a Params, &'a RunResult),
    /// The top runs, best first.
    pub ranked: &'a [(&'a Params, &'a RunResult)],
    /// Every successful run (for the heatmap).
    pub all: &'a [(&'a Params, &'a RunResult)],
    /// The metric of a run.
    pub metric_of: &'a dyn Fn(&RunResult) -> f64,
    /// One line describing the settings.
    pub settings: String,
    /// The best run's equity at every mark ([`marked_equity`]), to draw the drawdown chart
    /// from; `None` draws it from the period-end curve [`RunResult::equity`], which can miss
    /// a trough inside a period (the page then says so).
    pub marks: Option<&'a [(u64, f64)]>,
}

/// The equity of `run` at every mark, `(timestamp_ns, equity)`: the marks
/// [`Stats::max_drawdown_pct`](crate::metrics::Stats::max_drawdown_pct) is measured on, of
/// which [`RunResult::equity`] keeps only the last of each period ([`RunResult::marks`],
/// or rebuilt from the run's fills by [`pipeline::marks`](crate::pipeline::marks)).
/// `config` is the one the run was made with. `None` when the run's fills were not kept
/// ([`Config::keep_fills`]).
pub fn marked_equity(series: &Series, config: &Config, run: &RunResult) -> Option<Vec<(u64, f64)>> {
    if run.fills.len() as u64 != run.stats.fills {
        return None;
    }
    if !run.marks.is_empty() {
        return Some(run.marks.clone());
    }
    Some(crate::pipeline::marks(
        series,
        config,
        &run.fills,
        run.bankrupt_at,
    ))
}

/// The drawdown from the running peak, in percent (≤ 0), of an equity curve whose peak
/// starts at `start` (the starting cash), as at most about `max_points` points to plot:
/// when there are more, each stretch of the curve keeps its lowest and its highest point,
/// so the plot's lowest point is the curve's max. drawdown, however long the curve.
///
/// ```
/// use mycelium_backtest::report::drawdown_series;
/// let equity: Vec<(u64, f64)> = (0..10_000u64)
///     .map(|i| (i, if i == 4_321 { 75.0 } else { 100.0 }))
///     .collect();
/// let plotted = drawdown_series(&equity, 100.0, 200);
/// assert!(plotted.len() <= 200);
/// assert!(plotted.contains(&(4_321, -25.0))); // a one-mark trough is kept
/// ```
pub fn drawdown_series(equity: &[(u64, f64)], start: f64, max_points: usize) -> Vec<(u64, f64)> {
    let mut peak = start;
    let all: Vec<(u64, f64)> = equity
        .iter()
        .map(|&(t, e)| {
            peak = peak.max(e);
            (t, -(1.0 - e / peak) * 100.0)
        })
        .collect();
    let buckets = (max_points / 2).max(1);
    if all.len() <= max_points.max(1) {
        return all;
    }
    let mut out = Vec::with_capacity(2 * buckets);
    for chunk in all.chunks(all.len().div_ceil(buckets)) {
        let finite = || chunk.iter().filter(|p| p.1.is_finite());
        let (Some(lo), Some(hi)) = (
            finite().min_by(|a, b| a.1.total_cmp(&b.1)),
            finite().max_by(|a, b| a.1.total_cmp(&b.1)),
        ) else {
            continue;
        };
        let (first, second) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
        out.push(*first);
        if second != first {
            out.push(*second);
        }
    }
    out
}

/// How many of the best runs [`grid_edges`] looks at.
pub const EDGE_TOP: usize = 10;

/// A swept parameter whose smallest or largest value in the grid is where the best runs
/// sit: the optimum may lie outside the grid. Its `Display` is the sentence the report and
/// the example print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridEdge {
    /// `"fast window"`, `"slow window"` or `"band"`.
    pub parameter: &'static str,
    /// The value at the edge.
    pub value: u32,
    /// The largest value of the grid (else the smallest).
    pub largest: bool,
    /// Whether the best run sits there.
    pub best: bool,
    /// How many of the top runs sit there.
    pub of_top: usize,
    /// How many top runs were looked at (at most [`EDGE_TOP`]).
    pub top: usize,
}

impl fmt::Display for GridEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (top, n) = (self.top, self.of_top);
        match (self.best, top) {
            (true, 1) => f.write_str("the best run sits")?,
            (true, _) if n == top => write!(f, "the best runs (all {top} of the top {top}) sit")?,
            (true, _) => write!(f, "the best run ({n} of the top {top} runs) sits")?,
            (false, _) => write!(f, "{n} of the top {top} runs (not the best) sit")?,
        }
        let unit = if self.parameter == "band" { " bp" } else { "" };
        write!(
            f,
            " at the {} {} tested ({}{unit}): widen the grid {} it to see whether the optimum \
             lies outside",
            if self.largest { "largest" } else { "smallest" },
            self.parameter,
            self.value,
            if self.largest { "beyond" } else { "below" }
        )
    }
}

/// The edges of the grid where the best runs sit. The rule: of the first [`EDGE_TOP`]
/// runs of `ranked` (best first) that made a trade, an edge is reported when the best run
/// sits on it or when more than half of them do. The grid is the parameter values of
/// `all`; a parameter with a single value is not swept and has no edge, and the smallest
/// value is no edge when nothing lies below it (fast window 1, slow window 2, band 0).
pub fn grid_edges(
    ranked: &[(&Params, &RunResult)],
    all: &[(&Params, &RunResult)],
) -> Vec<GridEdge> {
    let top: Vec<&Params> = ranked
        .iter()
        .filter(|(_, r)| r.stats.fills > 0)
        .take(EDGE_TOP)
        .map(|(p, _)| *p)
        .collect();
    let Some(best) = ranked
        .first()
        .filter(|(_, r)| r.stats.fills > 0)
        .map(|(p, _)| *p)
    else {
        return Vec::new();
    };
    type ValueOf = fn(&Params) -> u32;
    // The name, the value and the floor (nothing lies below it) of each parameter.
    let parameters: [(&str, ValueOf, u32); 3] = [
        ("fast window", |p| p.fast, 1),
        ("slow window", |p| p.slow, 2),
        ("band", |p| p.band_bps, 0),
    ];
    let mut edges = Vec::new();
    for (parameter, value_of, floor) in parameters {
        let values = all.iter().map(|(p, _)| value_of(p));
        let (Some(lo), Some(hi)) = (values.clone().min(), values.max()) else {
            continue;
        };
        if lo == hi {
            continue;
        }
        for (value, largest) in [(lo, false), (hi, true)] {
            if !largest && value <= floor {
                continue;
            }
            let of_top = top.iter().filter(|p| value_of(p) == value).count();
            let best = value_of(best) == value;
            if best || 2 * of_top > top.len() {
                edges.push(GridEdge {
                    parameter,
                    value,
                    largest,
                    best,
                    of_top,
                    top: top.len(),
                });
            }
        }
    }
    edges
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Round tick values covering `lo..=hi`, about `n` of them.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "∞".into()
        } else {
            "-∞".into()
        };
    }
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.3e}", v)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// The most points a line chart of the page draws (it is 800 pixels wide).
const CHART_POINTS: usize = 2_000;

/// A line chart of `(t, y)` points as an SVG element, with labelled axes.
fn line_chart(points: &[(u64, f64)], y_label: &str, colour: &str, fill_to_zero: bool) -> String {
    let (w, h) = (900.0, 300.0);
    let (l, r, t, b) = (80.0, 20.0, 20.0, 50.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}">"#,
        esc(y_label)
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let finite: Vec<(u64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    if finite.is_empty() {
        s.push_str(r#"<text x="450" y="150" text-anchor="middle">no data</text></svg>"#);
        return s;
    }
    let (t0, t1) = (finite[0].0, finite[finite.len() - 1].0);
    let mut lo = finite.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = finite.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if fill_to_zero {
        hi = hi.max(0.0);
        lo = lo.min(0.0);
    }
    if hi <= lo {
        hi = lo + lo.abs().max(1.0) * 0.01;
    }
    let sx = |tt: u64| l + (w - l - r) * (tt - t0) as f64 / (t1 - t0).max(1) as f64;
    let sy = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo));
    for v in nice_ticks(lo, hi, 5) {
        let y = sy(v);
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            w - r,
            l - 6.0,
            y + 4.0,
            fmt_num(v)
        );
    }
    let n_x = 6u64;
    for k in 0..=n_x {
        let tt = t0 + (t1 - t0) / n_x * k;
        let x = sx(tt);
        let anchor = match k {
            0 => "start",
            k if k == n_x => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{t}" y2="{}" stroke="#f0f0f0"/><text x="{x:.1}" y="{}" font-size="11" text-anchor="{anchor}">{}</text>"##,
            h - b,
            h - b + 16.0,
            date(tt)
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        w - l - r,
        h - t - b
    );
    let mut path = String::new();
    for (i, (tt, v)) in finite.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { "L" },
            sx(*tt),
            sy(*v)
        );
    }
    if fill_to_zero {
        let _ = write!(
            s,
            r#"<path d="{path}L{:.1},{:.1}L{:.1},{:.1}Z" fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>"#,
            sx(t1),
            sy(0.0),
            sx(t0),
            sy(0.0)
        );
    } else {
        let _ = write!(
            s,
            r#"<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">date (UTC)</text><text transform="translate(16,{}) rotate(-90)" font-size="12" text-anchor="middle">{}</text></svg>"#,
        l + (w - l - r) / 2.0,
        h - 8.0,
        t + (h - t - b) / 2.0,
        esc(y_label)
    );
    s
}

/// A colour from red (0) through yellow to green (1).
fn colour(x: f64) -> String {
    let x = x.clamp(0.0, 1.0);
    let (r, g) = if x < 0.5 {
        (220.0, 60.0 + 340.0 * x)
    } else {
        (220.0 - 340.0 * (x - 0.5), 230.0)
    };
    format!("rgb({:.0},{:.0},80)", r, g)
}

/// The heatmap of the metric over fast (rows) and slow (columns), the best over the bands
/// in each cell.
fn heatmap(input: &Input<'_>) -> String {
    let mut fasts: Vec<u32> = input.all.iter().map(|(p, _)| p.fast).collect();
    let mut slows: Vec<u32> = input.all.iter().map(|(p, _)| p.slow).collect();
    fasts.sort_unstable();
    fasts.dedup();
    slows.sort_unstable();
    slows.dedup();
    let mut cell = vec![vec![f64::NAN; slows.len()]; fasts.len()];
    for (p, r) in input.all {
        let v = (input.metric_of)(r);
        let (Ok(i), Ok(j)) = (fasts.binary_search(&p.fast), slows.binary_search(&p.slow)) else {
            continue;
        };
        if v.is_finite() && (cell[i][j].is_nan() || v > cell[i][j]) {
            cell[i][j] = v;
        }
    }
    let vals: Vec<f64> = cell
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cw = (800.0 / slows.len().max(1) as f64).clamp(8.0, 60.0);
    let ch = (400.0 / fasts.len().max(1) as f64).clamp(8.0, 30.0);
    let (l, t) = (80.0, 20.0);
    let w = l + cw * slows.len() as f64 + 120.0;
    let h = (t + ch * fasts.len() as f64 + 60.0).max(t + 240.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="heatmap"><rect width="{w:.0}" height="{h:.0}" fill="white"/>"#
    );
    for (i, f) in fasts.iter().enumerate() {
        for (j, sl) in slows.iter().enumerate() {
            let v = cell[i][j];
            let fill = if v.is_finite() {
                colour(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 })
            } else {
                "#dddddd".to_string()
            };
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}"><title>fast {f}, slow {sl}: {}</title></rect>"#,
                l + cw * j as f64,
                t + ch * i as f64,
                fmt_num(v)
            );
        }
        if fasts.len() <= 40 || i % (fasts.len() / 20 + 1) == 0 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{:.1}" font-size="10" text-anchor="end">{f}</text>"#,
                l - 4.0,
                t + ch * (i as f64 + 0.5) + 3.0
            );
        }
    }
    for (j, sl) in slows.iter().enumerate() {
        if slows.len() <= 30 || j % (slows.len() / 15 + 1) == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{sl}</text>"#,
                l + cw * (j as f64 + 0.5),
                t + ch * fasts.len() as f64 + 14.0
            );
        }
    }
    let gx = l + cw * slows.len() as f64 + 20.0;
    for k in 0..10 {
        let _ = write!(
            s,
            r#"<rect x="{gx:.1}" y="{:.1}" width="16" height="{:.1}" fill="{}"/>"#,
            t + k as f64 * 20.0,
            20.0,
            colour(1.0 - k as f64 / 9.0)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
        gx + 20.0,
        t + 10.0,
        fmt_num(hi),
        gx + 20.0,
        t + 195.0,
        fmt_num(lo)
    );
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">slow window (bars)</text><text transform="translate(16,{:.1}) rotate(-90)" font-size="12" text-anchor="middle">fast window (bars)</text></svg>"#,
        l + cw * slows.len() as f64 / 2.0,
        h - 12.0,
        t + ch * fasts.len() as f64 / 2.0
    );
    s
}

/// The whole page.
pub fn html(input: &Input<'_>) -> String {
    let (best, run) = input.best;
    let equity = &run.equity;
    let s = &run.stats;
    let drawdown = drawdown_series(input.marks.unwrap_or(equity), s.cash, CHART_POINTS);
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>body{{font-family:sans-serif;margin:20px;color:#222}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}th{{background:#f3f3f3}}h2{{margin-top:28px}}.note{{color:#a33}}</style></head><body><h1>{title}</h1><p>{settings}</p>"#,
        title = esc(&input.title),
        settings = esc(&input.settings)
    );
    let no_trade = if s.fills == 0 {
        r#" <span class="note">(this run made no trade: no run did better)</span>"#
    } else if s.trades == 0 {
        r#" <span class="note">(no closed trade: one position, still open at the end)</span>"#
    } else {
        ""
    };
    let _ = write!(
        page,
        r#"<h2>Best run by {}: {}{no_trade}</h2><p>Return {:.2}% (buy &amp; hold {:.2}%), max. drawdown {:.2}%, Sharpe {:.3}, Sortino {:.3}, {} trades, {} fills, win rate {:.1}%, exposure {:.1}%, final equity {:.2}</p>"#,
        esc(input.metric),
        esc(&best.to_string()),
        s.return_pct,
        s.buy_hold_return_pct,
        s.max_drawdown_pct,
        s.sharpe,
        s.sortino,
        s.trades,
        s.fills,
        s.win_rate_pct,
        s.exposure_pct,
        s.equity_final
    );
    for edge in grid_edges(input.ranked, input.all) {
        let _ = write!(
            page,
            r#"<p class="note grid-edge">Grid edge: {}.</p>"#,
            esc(&edge.to_string())
        );
    }
    page.push_str("<h3>Equity (cash units, at the end of each period)</h3>");
    page.push_str(&line_chart(equity, "equity (cash)", "#1f5fbf", false));
    page.push_str("<h3>Drawdown from the running peak (%)</h3>");
    let lowest = drawdown
        .iter()
        .filter(|p| p.1.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some(&(t, v)) = lowest {
        let source = if input.marks.is_some() {
            "the equity at every mark, the marks the max. drawdown is measured on (where \
             there are more marks than the chart can show, each stretch keeps its lowest and \
             highest point)"
        } else {
            "the equity at the end of each period"
        };
        let _ = write!(
            page,
            r#"<p>From {source}. Lowest: <span class="chart-low">{v:.2}%</span> on {}.</p>"#,
            date_time(t)
        );
        if v > s.max_drawdown_pct + 0.005 {
            let _ = write!(
                page,
                r#"<p class="note">The max. drawdown ({:.2}%) was reached inside a period, between two of the points drawn: the chart does not go that low.</p>"#,
                s.max_drawdown_pct
            );
        }
    }
    page.push_str(&line_chart(&drawdown, "drawdown (%)", "#c0392b", true));
    let _ = write!(
        page,
        "<h2>{} over the fast and slow windows</h2><p>Each cell: the best over the bands; grey: no value.</p>",
        esc(input.metric)
    );
    page.push_str(&heatmap(input));
    page.push_str("<h2>Top runs</h2><table><tr><th>fast (bars)</th><th>slow (bars)</th><th>band (bp)</th><th>Return [%]</th><th>Buy &amp; Hold Return [%]</th><th>Max. Drawdown [%]</th><th>Sharpe Ratio</th><th>Sortino Ratio</th><th># Trades</th><th># Fills</th><th>Win Rate [%]</th><th>Exposure Time [%]</th><th>notes</th></tr>");
    for (p, r) in input.ranked {
        let s = &r.stats;
        let mut notes = Vec::new();
        if s.fills == 0 {
            notes.push("no trade".to_string());
        } else if s.trades == 0 {
            notes.push("no closed trade".to_string());
        }
        if let Some(b) = r.bankrupt_at {
            notes.push(format!("bankrupt at bar {b}"));
        }
        if let Some(h) = r.halted_at {
            notes.push(format!("halted at bar {h}"));
        }
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td></tr>",
            p.fast,
            p.slow,
            p.band_bps,
            s.return_pct,
            s.buy_hold_return_pct,
            s.max_drawdown_pct,
            s.sharpe,
            s.sortino,
            s.trades,
            s.fills,
            s.win_rate_pct,
            s.exposure_pct,
            notes.join(", ")
        );
    }
    page.push_str("</table></body></html>\n");
    page
}

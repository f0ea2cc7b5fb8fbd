//! Marking to market: the account's equity at each mark, bankruptcy and the risk limit, and
//! the runs of bars between bookings marked in one loop.

use super::Account;
use crate::series::{Block, PriceBlocks};
use crate::Series;

impl Account {
    /// Marks every bar of `from..until` (none of which books anything), as [`Account::mark`]
    /// would one by one, in a loop without calls. Returns the bar after the last one marked
    /// (`until`, or the bar after a mark that stopped trading) and what that mark did.
    pub(super) fn mark_run(
        &mut self,
        series: &Series,
        from: usize,
        until: usize,
        risk: Option<f64>,
    ) -> (usize, Stop) {
        let (ts, px) = (series.timestamps(), series.prices());
        let limit = match risk {
            Some(l) if !self.stopped() => l,
            _ => f64::INFINITY,
        };
        let (ts, px) = (&ts[from..until], &px[from..until]);
        match self.open {
            Some(o) if self.bankrupt_at.is_none() => {
                let m = Marking {
                    cash: self.cash,
                    pos: self.position as f64,
                    base: self.position as f64 * o.price,
                };
                let (mut peak, mut worst) = (self.peak, self.worst_dd);
                let mut thr = threshold(peak, worst.min(limit));
                let blocks = series.price_blocks();
                let mut boundary = self.curve.boundary();
                let n = ts.len();
                let mut k = 0;
                while k < n {
                    // The common case, in registers: no new period, no new worst drawdown.
                    let (next, p, t_, last) = scan_marks(
                        &ts[..n],
                        &px[..n],
                        k,
                        &m,
                        peak,
                        worst.min(limit),
                        thr,
                        boundary,
                        blocks,
                        from,
                    );
                    (peak, thr) = (p, t_);
                    if let Some(i) = last {
                        self.curve.set_last(ts[i], m.equity(px[i]));
                    }
                    k = next;
                    if k == n {
                        break;
                    }
                    // An event at bar k: a new period, or a drawdown to look at.
                    let (t, close) = (ts[k], px[k]);
                    let e = m.equity(close);
                    if e > peak {
                        peak = e;
                        thr = threshold(peak, worst.min(limit));
                    } else if e < thr {
                        let dd = 1.0 - e / peak;
                        if e <= 0.0 || dd > limit {
                            // The rare case, one bar at a time.
                            (self.peak, self.worst_dd) = (peak, worst);
                            let stop = self.mark(from + k, t, close, risk);
                            return (from + k + 1, stop);
                        }
                        if dd > worst {
                            worst = dd;
                            thr = threshold(peak, worst.min(limit));
                        }
                    }
                    if t >= boundary {
                        self.curve.push(t, e);
                        boundary = self.curve.boundary();
                    } else {
                        self.curve.set_last(t, e);
                    }
                    k += 1;
                }
                (self.peak, self.worst_dd) = (peak, worst);
                (until, Stop::No)
            }
            _ => {
                // Flat (or bankrupt): equity does not move; the first mark does all the
                // checks, the others only extend the curve.
                let Some((&t0, &c0)) = ts.first().zip(px.first()) else {
                    return (until, Stop::No);
                };
                let stop = self.mark(from, t0, c0, risk);
                if stop != Stop::No {
                    return (from + 1, stop);
                }
                let e = if self.bankrupt_at.is_some() {
                    0.0
                } else {
                    self.cash
                };
                self.curve.push_flat(&ts[1..], e);
                (until, Stop::No)
            }
        }
    }

    /// Marks at `close` on bar `j` (time `t`); says whether this mark stopped trading.
    #[inline]
    pub(super) fn mark(&mut self, j: usize, t: u64, close: f64, risk_limit: Option<f64>) -> Stop {
        let mut e = match self.open {
            Some(o) => self.cash + (close * self.position as f64 - self.position as f64 * o.price),
            None => self.cash,
        };
        let mut stop = Stop::No;
        if e <= 0.0 && self.bankrupt_at.is_none() {
            self.close(j, j, close);
            self.cash = 0.0;
            self.bankrupt_at = Some(j);
            self.trace.record("bankrupt", &[(j as u64).to_le_bytes()]);
            stop = Stop::Bankrupt;
        }
        if self.bankrupt_at.is_some() {
            e = 0.0;
        }
        if e > self.peak {
            self.peak = e;
        }
        let dd = 1.0 - e / self.peak;
        if dd > self.worst_dd {
            self.worst_dd = dd;
        }
        self.curve.push(t, e);
        match risk_limit {
            Some(limit) if dd > limit && !self.stopped() => {
                self.halted_at = Some(j);
                self.trace.record(
                    "halt",
                    &[(j as u64).to_le_bytes(), dd.to_bits().to_le_bytes()],
                );
                Stop::Halted
            }
            _ => stop,
        }
    }
}

/// The account's constants while a position is open: `equity = cash + (close * pos - base)`.
#[derive(Clone, Copy)]
struct Marking {
    cash: f64,
    pos: f64,
    base: f64,
}

impl Marking {
    /// The equity at `close`.
    #[inline(always)]
    fn equity(&self, close: f64) -> f64 {
        self.cash + (close * self.pos - self.base)
    }
}

/// Below this equity the drawdown from `peak` may exceed `worst_or_limit`; at or above it,
/// it cannot (the 1e-12 margin covers rounding), so no division is needed there.
#[inline(always)]
fn threshold(peak: f64, worst_or_limit: f64) -> f64 {
    peak * (1.0 - worst_or_limit) * (1.0 + 1e-12)
}

/// Marks from bar `k` while nothing happens: equity at or above the threshold (a new peak
/// moves it) and the time before `boundary`. Returns the first bar where something happens
/// (or the end), the peak and threshold, and the last bar marked. A plain function without
/// calls, so its state stays in registers.
///
/// `ts` and `px` start at tick `offset` of the series whose [`PriceBlocks`] `blocks` are. A
/// whole block in which no tick can make a new peak or fall below the threshold (its
/// extreme prices say so, equity being monotonic in the close), and which ends before
/// `boundary`, is passed over in one step, without reading its ticks: coarse blocks first,
/// fine ones where a coarse one cannot be passed over, tick by tick in a fine block that
/// cannot be either.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn scan_marks(
    ts: &[u64],
    px: &[f64],
    mut k: usize,
    m: &Marking,
    mut peak: f64,
    worst_or_limit: f64,
    mut thr: f64,
    boundary: u64,
    blocks: &PriceBlocks,
    offset: usize,
) -> (usize, f64, f64, Option<usize>) {
    const COARSE: usize = PriceBlocks::COARSE;
    const FINE: usize = PriceBlocks::FINE;
    let n = ts.len().min(px.len());
    // A copy, so that its three numbers stay in registers.
    let m = *m;
    let pos = m.pos;
    let equity = |close: f64| m.equity(close);
    // Whether a block can be passed over: no tick in it makes a new peak or falls below the
    // threshold, and it ends before the boundary.
    let quiet = |b: &Block, peak: f64, thr: f64| {
        let (low, high) = if pos >= 0.0 {
            (equity(b.lo), equity(b.hi))
        } else {
            (equity(b.hi), equity(b.lo))
        };
        high <= peak && low >= thr && b.end < boundary
    };
    let mut last = None;
    while k < n {
        let at = offset + k;
        let passed = if at % COARSE == 0
            && n - k >= COARSE
            && blocks
                .coarse(at / COARSE)
                .is_some_and(|b| quiet(b, peak, thr))
        {
            COARSE
        } else if at % FINE == 0
            && n - k >= FINE
            && blocks.fine(at / FINE).is_some_and(|b| quiet(b, peak, thr))
        {
            FINE
        } else {
            0
        };
        if passed > 0 {
            k += passed;
            last = Some(k - 1);
            continue;
        }
        // Tick by tick, up to the next fine block (or the end).
        let stop = k + (FINE - at % FINE).min(n - k);
        while k < stop {
            let (t, close) = (ts[k], px[k]);
            let e = equity(close);
            if t >= boundary || e < thr {
                return (k, peak, thr, last);
            }
            if e > peak {
                peak = e;
                thr = threshold(peak, worst_or_limit);
            }
            last = Some(k);
            k += 1;
        }
    }
    (k, peak, thr, last)
}

/// What a mark did to trading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    No,
    Bankrupt,
    Halted,
}

/// The account's equity at every mark of a run (`(timestamp_ns, equity)`), rebuilt from its
/// fills (kept with [`Config::keep_fills`](crate::pipeline::Config::keep_fills)) by the
/// account's own arithmetic: `cash + (close * position - position * entry)`, cash having
/// paid every commission and received every closed round trip's profit; 0 from the bar of
/// a bankruptcy on. Its lowest point relative to its running peak is the run's max.
/// drawdown.
pub fn marks(
    series: &Series,
    config: &crate::pipeline::Config,
    fills: &[crate::pipeline::Fill],
    bankrupt_at: Option<usize>,
) -> Vec<(u64, f64)> {
    let (ts, px) = (series.timestamps(), series.prices());
    let every = config.mark_every.max(1);
    let (mut cash, mut position, mut entry) = (config.cash, 0i64, 0.0f64);
    let mut fills = fills.iter().peekable();
    let mut out = Vec::with_capacity(ts.len() / every + 1);
    for (j, (&t, &close)) in ts.iter().zip(px).enumerate() {
        if !(every == 1 || (j + 1) % every == 0 || j + 1 == ts.len()) {
            continue;
        }
        if bankrupt_at.is_some_and(|b| j >= b) {
            out.push((t, 0.0));
            continue;
        }
        while let Some(f) = fills.next_if(|f| f.booked <= j) {
            if position == 0 {
                cash -= f.fee;
                (position, entry) = (f.qty, f.price);
            } else {
                cash += position as f64 * (f.price - entry) - f.fee;
                position = 0;
            }
        }
        let e = if position == 0 {
            cash
        } else {
            cash + (close * position as f64 - position as f64 * entry)
        };
        out.push((t, e));
    }
    out
}

//! The strategy: a moving-average crossover with a band.

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};

use super::{topics, Config, Halt, Order, OrderBatch, Params, TickBatch};

/// Wants to be long when the fast simple moving average of the closes is above the slow
/// one by more than the band (`fast > slow * (1 + band)`), short when below by more than the
/// band (`fast < slow * (1 - band)`), and keeps its wish in between (flat until the first
/// signal). It decides after each close from bar `slow` (0-based) on, the first bar at which
/// the slow average has a previous value, as backtesting.py starts calling `next()`; each
/// change of wish is an [`Order`]. Moving averages are kept incrementally over the shared
/// series (the strategy reads back only ticks it has already seen), so a tick costs a few
/// additions and comparisons.
pub struct Crossover {
    fast: usize,
    slow: usize,
    /// `fast_sum * slow > slow_sum * fast * up` means "fast above slow by the band".
    up: f64,
    down: f64,
    fast_sum: f64,
    slow_sum: f64,
    target: i64,
    halted: bool,
    crash_at: Option<usize>,
    orders: Publisher<OrderBatch>,
}

/// Arguments of the [`Crossover`] strategy.
#[derive(Clone)]
pub struct CrossoverArgs {
    /// The grid point.
    pub params: Params,
    /// Run settings.
    pub config: Config,
}

impl Actor for Crossover {
    type Args = CrossoverArgs;
    async fn on_start(args: CrossoverArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        args.params.validate()?;
        ctx.subscribe::<TickBatch>(topics::TICKS, SubscribeOptions::new())?;
        ctx.subscribe::<Halt>(topics::HALT, SubscribeOptions::new())?;
        let orders = ctx.bus().publisher::<OrderBatch>(topics::ORDERS)?;
        let band = f64::from(args.params.band_bps) / 10_000.0;
        let (fast, slow) = (args.params.fast as usize, args.params.slow as usize);
        Ok(Crossover {
            fast,
            slow,
            up: fast as f64 * (1.0 + band),
            down: fast as f64 * (1.0 - band),
            fast_sum: 0.0,
            slow_sum: 0.0,
            target: 0,
            halted: false,
            // Fault injection: only the first incarnation crashes.
            crash_at: args.config.crash_once_at.filter(|_| ctx.incarnation() == 0),
            orders,
        })
    }
}

impl Handler<Published<TickBatch>> for Crossover {
    type Reply = Result<(), BoxError>;
    async fn handle(
        &mut self,
        b: Published<TickBatch>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if b.epoch != ctx.incarnation() {
            return Ok(());
        }
        if let Some(at) = self.crash_at.filter(|at| b.range.contains(at)) {
            // The injected fault: a panic, as a bug would be; the supervisor restarts the
            // pipeline and the run replays from the first tick.
            std::panic::panic_any(InjectedFault { tick: at });
        }
        let px = b.series.prices();
        let mut orders = Vec::new();
        let (fast, slow) = (self.fast, self.slow);
        let (slow_f, up, down) = (slow as f64, self.up, self.down);
        let (mut fs, mut ss, mut target) = (self.fast_sum, self.slow_sum, self.target);
        let (start, end) = (b.range.start, b.range.end);
        // Warm-up: until the slow window is full; no decision before bar `slow`.
        let warm = end.min(slow).max(start);
        for (i, &p) in px.iter().enumerate().take(warm).skip(start) {
            fs += if i >= fast { p - px[i - fast] } else { p };
            ss += p;
        }
        // Steady state, the hot loop: three streams over the shared series, no bounds checks,
        // everything in registers; an order is the rare, out-of-line case.
        if warm < end && !self.halted {
            let now = &px[warm..end];
            let n = now.len();
            let fast_out = &px[warm - fast..end - fast][..n];
            let slow_out = &px[warm - slow..end - slow][..n];
            let bands = Bands {
                slow: slow_f,
                up,
                down,
            };
            let mut k = 0;
            while k < n {
                let found;
                (k, fs, ss, found) = scan(now, fast_out, slow_out, k, fs, ss, target, &bands);
                if found != target {
                    orders.push(Order::market(warm + k - 1, found));
                    target = found;
                }
            }
        }
        (self.fast_sum, self.slow_sum, self.target) = (fs, ss, target);
        self.orders
            .publish(OrderBatch {
                epoch: b.epoch,
                range: b.range.clone(),
                orders,
                last: b.last,
            })
            .await;
        Ok(())
    }
}

struct Bands {
    slow: f64,
    up: f64,
    down: f64,
}

/// Runs the moving sums from tick `k` until the signal differs from `target` or the slices
/// end; returns the next `k`, the sums and the signal. A plain function with no call in its
/// loop, so the sums stay in registers (inside the handler's state machine they were kept
/// in memory, tripling the cost of a tick).
///
/// A long wish changes only when the fast average falls below the band, a short one only
/// when it rises above it, so each has a loop of its own that looks at that side first
/// (the other only when it holds): the same signal as [`signal`] at every tick, with half
/// the comparisons.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
// `!(f > x)`, not `f <= x`: the same as `signal` for every value, NaN included.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn scan(
    now: &[f64],
    fast_out: &[f64],
    slow_out: &[f64],
    k: usize,
    fs: f64,
    ss: f64,
    target: i64,
    b: &Bands,
) -> (usize, f64, f64, i64) {
    let (slow, up, down) = (b.slow, b.up, b.down);
    match target {
        1 => sums_until(now, fast_out, slow_out, k, fs, ss, target, |fs, ss| {
            let f = fs * slow;
            (f < ss * down && !(f > ss * up)).then_some(-1)
        }),
        -1 => sums_until(now, fast_out, slow_out, k, fs, ss, target, |fs, ss| {
            let f = fs * slow;
            (f > ss * up && !(f < ss * down)).then_some(1)
        }),
        _ => scan_with_signal(now, fast_out, slow_out, k, fs, ss, target, b),
    }
}

/// [`scan`] with the whole [`signal`] at every tick: the loop of a wish that is neither long
/// nor short (flat, before the first signal), and what the loops of the others must match.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan_with_signal(
    now: &[f64],
    fast_out: &[f64],
    slow_out: &[f64],
    k: usize,
    fs: f64,
    ss: f64,
    target: i64,
    b: &Bands,
) -> (usize, f64, f64, i64) {
    sums_until(now, fast_out, slow_out, k, fs, ss, target, |fs, ss| {
        let want = signal(fs * b.slow, ss * b.up, ss * b.down, target);
        (want != target).then_some(want)
    })
}

/// The moving sums from tick `k` on, until `change(fast_sum, slow_sum)` gives a new wish or
/// the slices end: the next `k`, the sums and the wish (`target` at the end).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sums_until(
    now: &[f64],
    fast_out: &[f64],
    slow_out: &[f64],
    mut k: usize,
    mut fs: f64,
    mut ss: f64,
    target: i64,
    change: impl Fn(f64, f64) -> Option<i64>,
) -> (usize, f64, f64, i64) {
    let n = now.len().min(fast_out.len()).min(slow_out.len());
    while k < n {
        fs += now[k] - fast_out[k];
        ss += now[k] - slow_out[k];
        k += 1;
        if let Some(want) = change(fs, ss) {
            return (k, fs, ss, want);
        }
    }
    (k, fs, ss, target)
}

/// +1 when the fast average is above the band, -1 below it, `keep` inside it.
#[inline(always)]
fn signal(fast_scaled: f64, upper: f64, lower: f64, keep: i64) -> i64 {
    let w = i64::from(fast_scaled > upper) - i64::from(fast_scaled < lower);
    if w == 0 {
        keep
    } else {
        w
    }
}

/// The payload of the panic [`Config::crash_once_at`] injects; a panic hook can recognise
/// it (`info.payload().downcast_ref::<InjectedFault>()`) and stay quiet about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedFault {
    /// The tick it was injected at.
    pub tick: usize,
}

impl std::fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "injected fault at tick {}", self.tick)
    }
}

impl Handler<Published<Halt>> for Crossover {
    type Reply = ();
    async fn handle(&mut self, h: Published<Halt>, ctx: &mut Context<Self>) {
        // The account no longer books anything: stop deciding.
        if h.epoch == ctx.incarnation() {
            self.halted = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The loops of a long and a short wish change it at the same tick as the signal
        /// would, with the same sums, bit for bit; a band of 0 included.
        #[test]
        fn a_scan_per_wish_changes_it_where_the_signal_does(
            seed in any::<u64>(),
            len in 40usize..2_000,
            fast in 1usize..10,
            slow_extra in 1usize..30,
            band_bps in prop_oneof![Just(0u32), 0u32..300],
            target in -1i64..=1,
        ) {
            let slow = fast + slow_extra;
            let series = crate::Series::synthetic(seed, len);
            let px = series.prices();
            let (mut fs, mut ss) = (0.0, 0.0);
            for (i, &p) in px.iter().enumerate().take(slow) {
                fs += if i >= fast { p - px[i - fast] } else { p };
                ss += p;
            }
            let band = f64::from(band_bps) / 10_000.0;
            let bands = Bands {
                slow: slow as f64,
                up: fast as f64 * (1.0 + band),
                down: fast as f64 * (1.0 - band),
            };
            let now = &px[slow..];
            let fast_out = &px[slow - fast..px.len() - fast];
            let slow_out = &px[..px.len() - slow];
            let (mut a, mut b) = ((0, fs, ss, target), (0, fs, ss, target));
            // Through every change of wish to the end.
            loop {
                let next_a = scan(now, fast_out, slow_out, a.0, a.1, a.2, a.3, &bands);
                let next_b =
                    scan_with_signal(now, fast_out, slow_out, b.0, b.1, b.2, b.3, &bands);
                prop_assert_eq!(next_a.0, next_b.0);
                prop_assert_eq!(next_a.1.to_bits(), next_b.1.to_bits());
                prop_assert_eq!(next_a.2.to_bits(), next_b.2.to_bits());
                prop_assert_eq!(next_a.3, next_b.3);
                (a, b) = (next_a, next_b);
                if a.0 >= now.len() {
                    break;
                }
            }
        }
    }
}

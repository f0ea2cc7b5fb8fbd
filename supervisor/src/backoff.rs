//! Exponential backoff between restarts: a small pure function of the attempt number and the
//! bus's seeded random numbers.

use std::time::Duration;

use mycelium_actors::DetRng;

/// How long a supervisor waits before restarting a child that failed.
///
/// Attempt `n` (0 for the first restart since the child last ran cleanly) waits
/// `d = min(initial * factor^n, cap)`, then adds jitter: up to `jitter` times that delay more,
/// drawn from the supervisor's seeded random numbers, never past the cap. So every delay lies
/// in `[d, min(cap, d * (1 + jitter))]`, and the same seed gives the same delays. The attempt
/// count goes back to 0 once a child has run for `reset_after` without failing.
///
/// [`max_restarts(k)`](Backoff::max_restarts) gives up after `k` restarts in a row that did
/// not lead to a clean run: the `k + 1`-th consecutive failure makes the supervisor give up
/// exactly as when its restart intensity is exceeded.
///
/// ```
/// use mycelium_supervisor::Backoff;
/// use std::time::Duration;
///
/// let b = Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1));
/// assert_eq!(b.base_delay(0), Duration::from_millis(10));
/// assert_eq!(b.base_delay(3), Duration::from_millis(80));
/// assert_eq!(b.base_delay(20), Duration::from_secs(1)); // capped
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    cap: Duration,
    jitter: f64,
    reset_after: Duration,
    max_restarts: Option<u32>,
}

impl Backoff {
    /// No delay at all: restart at once.
    pub fn none() -> Self {
        Backoff {
            initial: Duration::ZERO,
            factor: 1.0,
            cap: Duration::ZERO,
            jitter: 0.0,
            reset_after: Duration::from_secs(30),
            max_restarts: None,
        }
    }

    /// `initial * factor^n`, capped at `cap`; no jitter; attempts reset after 30 s of clean
    /// running. A `factor` below 1 (or not a number) is taken as 1.
    pub fn exponential(initial: Duration, factor: f64, cap: Duration) -> Self {
        Backoff {
            initial,
            factor: if factor >= 1.0 { factor } else { 1.0 },
            cap,
            jitter: 0.0,
            reset_after: Duration::from_secs(30),
            max_restarts: None,
        }
    }

    /// Adds up to `jitter` (a fraction, clamped to `[0, 1]`) of each delay, at random.
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// Resets the attempt count after a child has run this long without failing.
    pub fn reset_after(mut self, clean_run: Duration) -> Self {
        self.reset_after = clean_run;
        self
    }

    /// Gives up after `k` consecutive restarts of a child that did not lead to a clean run
    /// of `reset_after` (the count resets with the attempt count). The next failure counts
    /// as running out of restart intensity: the supervisor stops its children and fails.
    /// `max_restarts(0)` never restarts a failed child.
    pub fn max_restarts(mut self, k: u32) -> Self {
        self.max_restarts = Some(k);
        self
    }

    /// The limit set with [`max_restarts`](Self::max_restarts), if any.
    pub fn max_restart_count(&self) -> Option<u32> {
        self.max_restarts
    }

    /// The clean-running time after which attempts reset.
    pub fn reset_interval(&self) -> Duration {
        self.reset_after
    }

    /// The jitter fraction.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The delay of attempt `n` before jitter: `min(initial * factor^n, cap)`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        if self.initial.is_zero() {
            // No backoff (`Backoff::none()`): no power to compute on each restart.
            return Duration::ZERO;
        }
        let exp = i32::try_from(attempt).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if secs.is_nan() || secs >= self.cap.as_secs_f64() {
            self.cap
        } else {
            Duration::try_from_secs_f64(secs).unwrap_or(self.cap)
        }
    }

    /// The delay of attempt `n`, with jitter drawn from `rng`: in
    /// `[base_delay(n), min(cap, base_delay(n) * (1 + jitter))]`.
    pub fn delay(&self, attempt: u32, rng: &mut DetRng) -> Duration {
        let base = self.base_delay(attempt);
        if self.jitter == 0.0 || base.is_zero() {
            return base;
        }
        let extra = base.as_secs_f64() * self.jitter * rng.next_f64();
        base.saturating_add(Duration::try_from_secs_f64(extra).unwrap_or(Duration::ZERO))
            .min(self.cap)
    }
}

impl Default for Backoff {
    /// 50 ms doubling up to 10 s, 10% jitter, reset after 30 s of clean running.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(10))
            .with_jitter(0.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn delay_within_bounds(
            initial_ms in 0u64..10_000,
            factor in 1.0f64..10.0,
            cap_ms in 0u64..1_000_000,
            jitter in 0.0f64..1.0,
            attempt in 0u32..200,
            seed: u64,
        ) {
            let b = Backoff::exponential(Duration::from_millis(initial_ms), factor, Duration::from_millis(cap_ms))
                .with_jitter(jitter);
            let base = b.base_delay(attempt);
            let exact = initial_ms as f64 / 1000.0 * factor.powi(attempt as i32);
            let cap = Duration::from_millis(cap_ms);
            prop_assert!(base <= cap);
            if exact < cap.as_secs_f64() {
                // Not capped: base is initial * factor^n (to float precision).
                prop_assert!((base.as_secs_f64() - exact).abs() <= exact * 1e-9 + 1e-9);
            } else {
                prop_assert_eq!(base, cap);
            }
            let mut rng = DetRng::new(seed);
            let d = b.delay(attempt, &mut rng);
            prop_assert!(d >= base);
            prop_assert!(d.as_secs_f64() <= base.as_secs_f64() * (1.0 + jitter) + 1e-9);
            prop_assert!(d <= cap, "{d:?} exceeds the cap {cap:?}");
        }

        #[test]
        fn delays_never_shrink_with_attempts(initial_ms in 1u64..1000, factor in 1.0f64..4.0, n in 0u32..100) {
            let b = Backoff::exponential(Duration::from_millis(initial_ms), factor, Duration::from_secs(60));
            prop_assert!(b.base_delay(n + 1) >= b.base_delay(n));
        }

        #[test]
        fn same_seed_same_delays(seed: u64, jitter in 0.0f64..1.0) {
            let b = Backoff::default().with_jitter(jitter);
            let (mut r1, mut r2) = (DetRng::new(seed), DetRng::new(seed));
            for n in 0..10 {
                prop_assert_eq!(b.delay(n, &mut r1), b.delay(n, &mut r2));
            }
        }
    }

    /// A capped delay used to grow past the cap by its jitter.
    #[test]
    fn jitter_never_exceeds_the_cap() {
        let b = Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(1))
            .with_jitter(1.0);
        for seed in 0..200 {
            let mut rng = DetRng::new(seed);
            let d = b.delay(10, &mut rng);
            assert_eq!(d, Duration::from_secs(1), "seed {seed}");
            let d = b.delay(2, &mut rng);
            assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(800));
        }
    }

    #[test]
    fn max_restarts_is_kept() {
        assert_eq!(Backoff::default().max_restart_count(), None);
        assert_eq!(Backoff::none().max_restarts(3).max_restart_count(), Some(3));
    }

    #[test]
    fn none_is_zero() {
        let mut rng = DetRng::new(1);
        assert_eq!(Backoff::none().delay(7, &mut rng), Duration::ZERO);
    }

    #[test]
    fn hostile_parameters_do_not_panic() {
        let b = Backoff::exponential(Duration::MAX, f64::NAN, Duration::MAX).with_jitter(f64::NAN);
        let mut rng = DetRng::new(1);
        assert_eq!(b.delay(u32::MAX, &mut rng), Duration::MAX);
        let b = Backoff::exponential(
            Duration::from_secs(1),
            f64::INFINITY,
            Duration::from_secs(5),
        )
        .with_jitter(1.0);
        assert!(b.delay(3, &mut rng) <= Duration::from_secs(5));
    }
}

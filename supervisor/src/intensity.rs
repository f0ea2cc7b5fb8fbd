//! Restart intensity: at most N restarts within a sliding window of bus time.

use std::collections::VecDeque;
use std::time::Duration;

/// A sliding window of restart times across a whole supervisor.
#[derive(Clone, Debug)]
pub(crate) struct RestartWindow {
    max: u32,
    within: Duration,
    times: VecDeque<Duration>,
}

impl RestartWindow {
    pub(crate) fn new(max: u32, within: Duration) -> Self {
        RestartWindow {
            max,
            within,
            times: VecDeque::new(),
        }
    }

    /// Records a restart at bus time `now`. False when it would be restart number `max + 1`
    /// within the window: the supervisor must give up. The window includes its boundary, as
    /// OTP's does: restarts stamped at or after `now - within` count.
    pub(crate) fn try_record(&mut self, now: Duration) -> bool {
        while let Some(&t) = self.times.front() {
            if now.saturating_sub(t) > self.within {
                self.times.pop_front();
            } else {
                break;
            }
        }
        if self.times.len() >= self.max as usize {
            return false;
        }
        self.times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn allows_max_then_refuses() {
        let mut w = RestartWindow::new(3, Duration::from_secs(10));
        for s in 0..3 {
            assert!(w.try_record(Duration::from_secs(s)));
        }
        assert!(!w.try_record(Duration::from_secs(3)));
        // At exactly 10 s the first restart is still in the window (its boundary counts).
        assert!(!w.try_record(Duration::from_secs(10)));
        // Once it has left the window there is room again.
        assert!(w.try_record(Duration::from_secs(10) + Duration::from_nanos(1)));
    }

    /// OTP's boundary case: intensity 1 per 1000 ms, failures at 0 and 1000 give up.
    #[test]
    fn the_window_includes_its_boundary() {
        let mut w = RestartWindow::new(1, Duration::from_millis(1000));
        assert!(w.try_record(Duration::ZERO));
        assert!(!w.try_record(Duration::from_millis(1000)));
        let mut w = RestartWindow::new(1, Duration::from_millis(1000));
        assert!(w.try_record(Duration::ZERO));
        assert!(w.try_record(Duration::from_millis(1001)));
    }

    #[test]
    fn zero_means_never() {
        let mut w = RestartWindow::new(0, Duration::from_secs(1));
        assert!(!w.try_record(Duration::ZERO));
    }

    proptest! {
        /// Against a brute-force model: a restart is allowed iff fewer than `max` allowed
        /// restarts happened in `[now - within, now]`.
        #[test]
        fn matches_model(max in 0u32..6, within_ms in 1u64..1000, gaps in proptest::collection::vec(0u64..400, 1..60)) {
            let within = Duration::from_millis(within_ms);
            let mut w = RestartWindow::new(max, within);
            let mut allowed: Vec<Duration> = Vec::new();
            let mut now = Duration::ZERO;
            for g in gaps {
                now += Duration::from_millis(g);
                let in_window = allowed.iter().filter(|&&t| now - t <= within).count();
                let expect = in_window < max as usize;
                prop_assert_eq!(w.try_record(now), expect);
                if expect { allowed.push(now); }
            }
        }
    }
}

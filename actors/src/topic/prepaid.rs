//! A batch of publications with its subscribers' handles paid for at once.

use crate::topic::Published;

/// A batch of publications and the handles to it paid for in advance: one atomic add per
/// message for every subscriber that takes the batch whole, instead of one per subscriber
/// (measured at 40c8819, 2026-11-23: docs/perf/actors.md). Units not spent (a
/// subscriber that ended meanwhile, a publish cancelled while it waited for room) are given
/// back when it drops.
pub(super) struct Prepaid<'a, T> {
    msgs: &'a [Published<T>],
    /// Units of each message's count paid and not yet spent.
    left: usize,
}

impl<'a, T> Prepaid<'a, T> {
    pub(super) fn new(msgs: &'a [Published<T>], takers: usize) -> Self {
        if takers > 0 {
            for m in msgs {
                m.inner.prepay(takers);
            }
        }
        Prepaid { msgs, left: takers }
    }

    /// The messages, borrowed.
    pub(super) fn msgs(&self) -> &'a [Published<T>] {
        self.msgs
    }

    /// One subscriber's handles to the whole batch: paid for in advance while units are
    /// left, cloned otherwise.
    pub(super) fn take(&mut self) -> Vec<Published<T>> {
        if self.left == 0 {
            return self.msgs.to_vec();
        }
        self.left -= 1;
        self.msgs
            .iter()
            .map(|m| Published {
                // SAFETY: `new` added `takers` units to every message's count and `left`
                // counts those not spent; one per message is spent here, and `left` was
                // lowered first.
                inner: unsafe { m.inner.prepaid() },
            })
            .collect()
    }
}

impl<T> Drop for Prepaid<'_, T> {
    fn drop(&mut self) {
        if self.left > 0 {
            for m in self.msgs {
                // SAFETY: `left` units of each message were paid by `new` and spent by no
                // `take`.
                unsafe { m.inner.refund(self.left) };
            }
        }
    }
}

#[cfg(all(test, not(mycelium_loom)))]
#[path = "prepaid_tests.rs"]
mod tests;

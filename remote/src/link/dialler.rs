//! Which dialler drives the link: `Node::connect` starts one only when none does, or when
//! the link is closed (its dialler ends with it), so that two never dial at once, each
//! connection replacing the other's at the peer. (A dialler stops the supervisor of the one
//! before it as it starts its own, in `dial.rs`, so that opening a link again and again
//! leaves no supervisors behind.)

use std::sync::atomic::Ordering;

use super::Inner;

impl Inner {
    /// A number for a new dialler, which drives the link from now on; `None` when the link is
    /// open and a dialler drives it already.
    pub(crate) fn start_dialler(&self) -> Option<u64> {
        let open = self.lock().closed.is_none();
        if open && self.dialler.load(Ordering::Acquire) != 0 {
            return None;
        }
        let number = self.diallers.fetch_add(1, Ordering::AcqRel) + 1;
        // Of two started at once, the last stored drives; the other stops at its next turn.
        self.dialler.store(number, Ordering::Release);
        Some(number)
    }

    /// Whether dialler `number` still drives the link (no newer one was started).
    pub(crate) fn drives(&self, number: u64) -> bool {
        self.dialler.load(Ordering::Acquire) == number
    }

    /// Dialler `number` ended: the link has no dialler, unless a newer one drives it.
    pub(crate) fn dialler_ended(&self, number: u64) {
        let _ = self
            .dialler
            .compare_exchange(number, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

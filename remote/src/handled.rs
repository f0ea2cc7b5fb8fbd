//! Which of the frames a link delivered were handled: the acknowledgement a
//! link sends its peer.
//!
//! A link acknowledges a data frame only once the frame is handled, not merely queued: a
//! tell once the receiving actor's handler for it has run (its [`Receipt`] is signed); an
//! ask once it is answered (its reply queued, or its failure); anything else once it is
//! delivered (a publication once its subscribers have it; a reply or a subscription at
//! once). Frames are delivered in order but handled in any order (by different actors),
//! so the acknowledgement is the last number up to which every frame is handled: a
//! contiguous watermark over a window of the frames delivered and not yet handled.
//!
//! One [`Handled`] serves one numbering of the peer's frames ([`crate::session::Inbound`]):
//! a peer that restarts numbers anew, and receipts signed for the old numbering go to the old
//! record, which no longer counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use mycelium_actors::{Receipt, ReceiptBook};

/// Wakes the writer that sends the acknowledgement.
pub(crate) trait AckWake: Send + Sync + 'static {
    /// More frames are handled than the last acknowledgement said.
    fn ack_ready(&self);
}

/// The handled frames of one numbering.
pub(crate) struct Handled {
    /// Every frame numbered up to it is handled.
    through: AtomicU64,
    /// Frames after `through`, from `through + 1` on: handled (`true`) or not yet.
    window: Mutex<VecDeque<bool>>,
    /// Set when a receipt moved `through` and the writer was woken for it; cleared by the
    /// writer when it reads `through` for an acknowledgement ([`Handled::take_through`]):
    /// one wake per acknowledgement, however many receipts are signed meanwhile.
    signalled: AtomicBool,
    wake: Weak<dyn AckWake>,
}

impl std::fmt::Debug for Handled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handled")
            .field("through", &self.through())
            .finish()
    }
}

impl Handled {
    /// A record whose frames up to `through` count as handled.
    pub fn new(through: u64, wake: Weak<dyn AckWake>) -> Arc<Self> {
        Arc::new(Handled {
            through: AtomicU64::new(through),
            window: Mutex::new(VecDeque::new()),
            signalled: AtomicBool::new(false),
            wake,
        })
    }

    /// Every frame up to it is handled.
    pub fn through(&self) -> u64 {
        self.through.load(Ordering::Acquire)
    }

    /// [`through`](Self::through), read for an acknowledgement: a receipt signed after it
    /// wakes the writer again.
    pub fn take_through(&self) -> u64 {
        self.signalled.store(false, Ordering::SeqCst);
        self.through.load(Ordering::SeqCst)
    }

    /// A receipt for frame `seq`, signed once its handler has run.
    pub fn receipt(self: &Arc<Self>, seq: u64) -> Receipt {
        Receipt::new(self.clone(), seq)
    }

    /// Frame `seq` is handled, by the reader (no wake: the reader sees to the
    /// acknowledgement it owes). Returns whether the watermark moved.
    pub fn mark(&self, seq: u64) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let through = self.through.load(Ordering::Acquire);
        if seq <= through {
            return false;
        }
        // The most common case: the next frame, with nothing waiting before it.
        if seq == through + 1 && window.is_empty() {
            self.through.store(seq, Ordering::SeqCst);
            return true;
        }
        let at = (seq - through - 1) as usize;
        if window.len() <= at {
            window.resize(at + 1, false);
        }
        window[at] = true;
        let mut moved = 0;
        while window.front() == Some(&true) {
            window.pop_front();
            moved += 1;
        }
        if moved > 0 {
            self.through.store(through + moved, Ordering::SeqCst);
        }
        moved > 0
    }

    /// Every frame up to `seq` counts as handled: the peer skipped them (it reported them
    /// lost) or they were delivered by a connection whose numbering this one continues.
    pub fn skip_through(&self, seq: u64) {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let through = self.through.load(Ordering::Acquire);
        if seq <= through {
            return;
        }
        let skipped = ((seq - through) as usize).min(window.len());
        window.drain(..skipped);
        let mut to = seq;
        while window.front() == Some(&true) {
            window.pop_front();
            to += 1;
        }
        self.through.store(to, Ordering::SeqCst);
    }
}

impl ReceiptBook for Handled {
    fn handled(&self, seq: u64) {
        if self.mark(seq) && !self.signalled.swap(true, Ordering::SeqCst) {
            if let Some(wake) = self.wake.upgrade() {
                wake.ack_ready();
            }
        }
    }
}

/// The book of a tell's receipt while the tell waits for room in a mailbox.
///
/// A receipt is signed when it is dropped, and a wait that is abandoned (the connection ended
/// under it, and its reader's future with it) drops the message and its receipt unqueued: that
/// drop must not count as handled, or the watermark would acknowledge a message that was never
/// queued and the sender would drop it from its resend log. So a signature given while the
/// tell waits is held, counted once the tell is queued ([`Deferred::queued`]), and ignored if
/// the wait is abandoned ([`CancelOnDrop`]).
pub(crate) struct Deferred {
    handled: Arc<Handled>,
    state: Mutex<DeferredState>,
}

enum DeferredState {
    /// The tell waits for room; `signed` if its receipt was signed meanwhile.
    Waiting { signed: bool },
    /// The tell was queued (or refused for good): signatures go to the link's record.
    Queued,
    /// The wait was abandoned: the message was never queued here.
    Cancelled,
}

impl Deferred {
    pub fn new(handled: &Arc<Handled>) -> Arc<Self> {
        Arc::new(Deferred {
            handled: handled.clone(),
            state: Mutex::new(DeferredState::Waiting { signed: false }),
        })
    }

    /// A receipt for frame `seq`, signed through this book.
    pub fn receipt(self: &Arc<Self>, seq: u64) -> Receipt {
        Receipt::new(self.clone(), seq)
    }

    /// Abandons the wait when the returned guard is dropped before [`queued`](Self::queued).
    pub fn cancel_on_drop(self: &Arc<Self>) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }

    /// The tell's wait ended: a signature given meanwhile counts now, later ones at once.
    pub fn queued(&self, seq: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let early = matches!(*state, DeferredState::Waiting { signed: true });
        *state = DeferredState::Queued;
        drop(state);
        if early {
            self.handled.handled(seq);
        }
    }
}

impl ReceiptBook for Deferred {
    fn handled(&self, seq: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            DeferredState::Waiting { signed } => *signed = true,
            DeferredState::Queued => {
                drop(state);
                self.handled.handled(seq);
            }
            DeferredState::Cancelled => {}
        }
    }
}

/// Abandons a [`Deferred`] wait when dropped before the tell was queued.
pub(crate) struct CancelOnDrop(Arc<Deferred>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, DeferredState::Waiting { .. }) {
            *state = DeferredState::Cancelled;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_dropped_with_an_abandoned_wait_is_not_a_signature() {
        let h = Handled::new(0, Weak::<Count>::new());
        // Abandoned: the receipt is dropped with the message, then the guard.
        let deferred = Deferred::new(&h);
        let guard = deferred.cancel_on_drop();
        drop(deferred.receipt(1));
        drop(guard);
        assert_eq!(h.through(), 0);
        // The guard first, then the receipt: the same.
        let deferred = Deferred::new(&h);
        drop(deferred.cancel_on_drop());
        drop(deferred.receipt(1));
        assert_eq!(h.through(), 0);
        // Queued: a signature given while it waited counts once it is queued, a later one at
        // once.
        let deferred = Deferred::new(&h);
        let guard = deferred.cancel_on_drop();
        deferred.receipt(1).sign();
        assert_eq!(h.through(), 0);
        deferred.queued(1);
        drop(guard);
        assert_eq!(h.through(), 1);
        let deferred = Deferred::new(&h);
        let guard = deferred.cancel_on_drop();
        let receipt = deferred.receipt(2);
        deferred.queued(2);
        drop(guard);
        receipt.sign();
        assert_eq!(h.through(), 2);
    }

    struct Count(std::sync::atomic::AtomicUsize);
    impl AckWake for Count {
        fn ack_ready(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_watermark_moves_only_over_contiguous_handled_frames() {
        let h = Handled::new(0, Weak::<Count>::new());
        h.mark(2);
        h.mark(3);
        assert_eq!(h.through(), 0);
        h.mark(1);
        assert_eq!(h.through(), 3);
        h.mark(5);
        assert_eq!(h.through(), 3);
        // Twice, or below the watermark: no change.
        h.mark(5);
        h.mark(2);
        h.mark(4);
        assert_eq!(h.through(), 5);
    }

    #[test]
    fn skipping_drops_the_frames_before_and_keeps_those_after() {
        let h = Handled::new(10, Weak::<Count>::new());
        h.mark(12);
        h.mark(15);
        h.skip_through(11);
        assert_eq!(h.through(), 12);
        h.skip_through(13);
        assert_eq!(h.through(), 13);
        h.mark(14);
        assert_eq!(h.through(), 15);
    }

    #[test]
    fn receipts_wake_the_writer_once_per_acknowledgement() {
        let count = Arc::new(Count(Default::default()));
        let wake: Arc<dyn AckWake> = count.clone();
        let h = Handled::new(0, Arc::downgrade(&wake));
        for seq in 1..=3 {
            h.receipt(seq).sign();
        }
        assert_eq!(h.through(), 3);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(h.take_through(), 3);
        h.receipt(4).sign();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        // Forgotten (the message was handed back): not handled.
        h.receipt(5).forget();
        assert_eq!(h.through(), 4);
    }
}

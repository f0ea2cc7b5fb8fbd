//! [`Loan`]: the protocol by which an actor's task lends a value to one borrower at a time
//! while it waits, and takes it back. The value is the lease of `super` (pointers into the
//! actor's task); this module knows nothing of actors, so that the protocol runs under loom
//! as it is (`loom_tests.rs`, built with `--cfg mycelium_loom`).
//!
//! The state word: the loan (`BUSY`: the owner holds it; `PARKED`: lent, nobody holds it;
//! `CALLER`: a borrower holds it; `HANDOFF`: given back with work for the owner) and a sticky
//! `CLOSED` flag after which nobody borrows. Each move of the loan is one atomic operation: the
//! party that gives it up writes with `Release`, the party that takes it reads with `Acquire`,
//! so whatever one holder wrote in the lease is seen by the next.

use super::sync::{spin_wait, AtomicU8, Ordering, UnsafeCell};

const BUSY: u8 = 0;
const PARKED: u8 = 1;
const CALLER: u8 = 2;
const HANDOFF: u8 = 3;
const LOAN: u8 = 0b11;
const CLOSED: u8 = 0b100;

/// A value that one owner lends and takes back, and that borrowers use one at a time in
/// between.
pub(crate) struct Loan<L> {
    state: AtomicU8,
    lease: UnsafeCell<L>,
}

// SAFETY: the lease is reached only by the one party that holds the loan, as the state word
// says (see the module docs), so sharing the `Loan` shares no `L` between threads at once;
// `L: Send` because it moves between them.
unsafe impl<L: Send> Sync for Loan<L> {}

impl<L> Loan<L> {
    /// A loan held by its owner.
    pub(crate) fn new(lease: L) -> Self {
        Loan {
            state: AtomicU8::new(BUSY),
            lease: UnsafeCell::new(lease),
        }
    }

    /// The owner fills the lease with `write` and lends it.
    ///
    /// # Safety
    ///
    /// Only the owner calls this, while it holds the loan: first, or after [`reclaim`](Self::reclaim).
    pub(crate) unsafe fn lend(&self, write: impl FnOnce(&mut L)) {
        debug_assert_eq!(self.state.load(Ordering::Relaxed) & LOAN, BUSY);
        // SAFETY: the owner holds the loan (`BUSY`): no borrower reaches the lease.
        self.lease.with_mut(|lease| write(unsafe { &mut *lease }));
        // BUSY -> PARKED, keeping the CLOSED flag; publishes the lease.
        self.state.fetch_or(PARKED, Ordering::Release);
    }

    /// The owner takes the loan back, waiting while a borrower holds it, and reads the lease
    /// with `read` (what a borrower left there, say).
    ///
    /// # Safety
    ///
    /// Only the owner calls this, after [`lend`](Self::lend).
    pub(crate) unsafe fn reclaim<R>(&self, read: impl FnOnce(&mut L) -> R) -> R {
        loop {
            let s = self.state.load(Ordering::Acquire);
            match s & LOAN {
                // A borrower holds it, inside one synchronous call: wait for it.
                CALLER => spin_wait(),
                // PARKED or HANDOFF (or BUSY, which the contract rules out).
                _ => {
                    if self
                        .state
                        .compare_exchange(s, s & CLOSED, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        // SAFETY: the owner holds the loan again (`BUSY`).
                        return self.lease.with_mut(|lease| read(unsafe { &mut *lease }));
                    }
                }
            }
        }
    }

    /// Nobody borrows from now on (a borrower holding it keeps it until it gives it back).
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// True if lent, not closed and not held: a [`borrow`](Self::borrow) may succeed. A hint.
    pub(crate) fn is_parked(&self) -> bool {
        self.state.load(Ordering::Relaxed) == PARKED
    }

    /// Borrows the lease if it is lent, not closed and not held.
    pub(crate) fn borrow(&self) -> Option<Borrowed<'_, L>> {
        self.state
            .compare_exchange(PARKED, CALLER, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Borrowed { loan: self })
    }
}

/// A borrower's hold on the loan: given back as it was when dropped (also on unwinding), or
/// with work for the owner by [`hand_off`](Self::hand_off).
pub(crate) struct Borrowed<'a, L> {
    loan: &'a Loan<L>,
}

impl<L> Borrowed<'_, L> {
    /// Uses the lease.
    pub(crate) fn with<R>(&mut self, f: impl FnOnce(&mut L) -> R) -> R {
        // SAFETY: this borrower holds the loan (`CALLER`): neither the owner nor another
        // borrower reaches the lease until it gives it back.
        self.loan.lease.with_mut(|lease| f(unsafe { &mut *lease }))
    }

    /// Gives the loan back marked `HANDOFF`: the owner, when it reclaims, finds what this
    /// borrower left in the lease.
    pub(crate) fn hand_off(self) {
        // CALLER -> HANDOFF, keeping the CLOSED flag; publishes the lease.
        self.loan
            .state
            .fetch_add(HANDOFF - CALLER, Ordering::Release);
        std::mem::forget(self);
    }
}

impl<L> Drop for Borrowed<'_, L> {
    fn drop(&mut self) {
        // CALLER -> PARKED, keeping the CLOSED flag; publishes the lease.
        self.loan
            .state
            .fetch_sub(CALLER - PARKED, Ordering::Release);
    }
}

//! Loom models of the loan (`loan.rs`): every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of
//! an owner lending and reclaiming while borrowers borrow, hand off and close. Loom's cell
//! fails a model where two parties reach the lease at once; the assertions check that what
//! one holder wrote is what the next one reads.
//!
//!     RUSTFLAGS="--cfg mycelium_loom" cargo test -p mycelium-actors --lib --release loom_

use loom::sync::Arc;
use loom::thread;

use super::loan::Loan;

#[derive(Default)]
struct Lease {
    value: u64,
    left: Option<u64>,
}

#[test]
fn loom_a_borrowers_writes_reach_the_owner_and_a_late_borrow_fails() {
    loom::model(|| {
        let loan = Arc::new(Loan::new(Lease::default()));
        // SAFETY: this thread is the owner and holds the loan.
        unsafe { loan.lend(|l| l.value = 1) };
        let asker = {
            let loan = loan.clone();
            thread::spawn(move || match loan.borrow() {
                Some(mut held) => {
                    held.with(|l| l.value += 10);
                    true
                }
                None => false,
            })
        };
        // SAFETY: the owner, after lending.
        let seen = unsafe { loan.reclaim(|l| l.value) };
        let borrowed = asker.join().unwrap();
        assert_eq!(seen, if borrowed { 11 } else { 1 });
        // Reclaimed: nobody borrows until the next lend.
        assert!(loan.borrow().is_none());
    });
}

#[test]
fn loom_borrowers_one_at_a_time_and_a_handoff_reaches_the_owner_once() {
    loom::model(|| {
        let loan = Arc::new(Loan::new(Lease::default()));
        // SAFETY: the owner.
        unsafe { loan.lend(|_| {}) };
        let handing = {
            let loan = loan.clone();
            thread::spawn(move || match loan.borrow() {
                Some(mut held) => {
                    held.with(|l| {
                        l.value += 1;
                        l.left = Some(7);
                    });
                    held.hand_off();
                    1
                }
                None => 0,
            })
        };
        let adding = {
            let loan = loan.clone();
            thread::spawn(move || match loan.borrow() {
                Some(mut held) => {
                    held.with(|l| l.value += 1);
                    1
                }
                None => 0,
            })
        };
        // The owner wakes, takes what was left, lends again, and wakes again.
        // SAFETY: the owner, alternating lend and reclaim.
        let first = unsafe { loan.reclaim(|l| (l.value, l.left.take())) };
        unsafe { loan.lend(|_| {}) };
        let handed = handing.join().unwrap();
        let added = adding.join().unwrap();
        let second = unsafe { loan.reclaim(|l| (l.value, l.left.take())) };
        assert_eq!(
            second.0,
            handed + added,
            "every borrower's write landed once"
        );
        let lefts = usize::from(first.1.is_some()) + usize::from(second.1.is_some());
        assert_eq!(lefts, handed as usize, "a handoff is found exactly once");
        assert!(first.1.is_none_or(|v| v == 7) && second.1.is_none_or(|v| v == 7));
    });
}

#[test]
fn loom_after_a_close_nobody_borrows_and_the_owner_still_reclaims() {
    loom::model(|| {
        let loan = Arc::new(Loan::new(Lease::default()));
        // SAFETY: the owner.
        unsafe { loan.lend(|_| {}) };
        let asker = {
            let loan = loan.clone();
            thread::spawn(move || {
                if let Some(mut held) = loan.borrow() {
                    held.with(|l| l.value += 1);
                }
            })
        };
        let closer = {
            let loan = loan.clone();
            thread::spawn(move || loan.close())
        };
        closer.join().unwrap();
        assert!(loan.borrow().is_none(), "closed: no borrow");
        // SAFETY: the owner (a killed actor's task takes its state back before dropping it).
        let value = unsafe { loan.reclaim(|l| l.value) };
        asker.join().unwrap();
        assert!(value <= 1);
        // The flag is sticky across a new lend.
        // SAFETY: the owner, which took its value back above, lends again and reclaims: no
        // borrow is held (the asker joined, and a closed loan lends to no one).
        unsafe { loan.lend(|_| {}) };
        assert!(loan.borrow().is_none(), "still closed after a new lend");
        // SAFETY: the owner takes back the loan it made just above.
        let _ = unsafe { loan.reclaim(|_| ()) };
    });
}

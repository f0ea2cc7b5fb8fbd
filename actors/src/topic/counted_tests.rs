//! Unit tests of the publication's count (they also run under valgrind and AddressSanitizer).

use super::*;
use std::sync::atomic::AtomicUsize as StdAtomic;
use std::sync::Arc;

/// Counts its drops.
struct Probe(Arc<StdAtomic>);
impl Drop for Probe {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn drops(n: &Arc<StdAtomic>) -> usize {
    n.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn the_last_handle_drops_the_value_once() {
    let n = Arc::new(StdAtomic::new(0));
    let a = Counted::new(Probe(n.clone()));
    let b = a.clone();
    assert!(Counted::ptr_eq(&a, &b));
    assert!(!Counted::ptr_eq(&a, &Counted::new(Probe(n.clone()))));
    assert_eq!(drops(&n), 1, "the other value");
    drop(a);
    assert_eq!(drops(&n), 1);
    drop(b);
    assert_eq!(drops(&n), 2);
}

#[test]
fn prepaid_handles_on_other_threads_free_the_value_after_the_last() {
    let n = Arc::new(StdAtomic::new(0));
    let own = Counted::new(Probe(n.clone()));
    own.prepay(8);
    // SAFETY: eight units were prepaid, eight handles made.
    let handles: Vec<_> = (0..8).map(|_| unsafe { own.prepaid() }).collect();
    let threads: Vec<_> = handles
        .into_iter()
        .map(|h| std::thread::spawn(move || drop(h)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(drops(&n), 0, "the publisher's own handle is alive");
    drop(own);
    assert_eq!(drops(&n), 1);
}

#[test]
fn units_not_spent_are_refunded() {
    let n = Arc::new(StdAtomic::new(0));
    let own = Counted::new(Probe(n.clone()));
    own.prepay(5);
    // SAFETY: two of the five units become handles, the other three are refunded.
    let (a, b) = unsafe { (own.prepaid(), own.prepaid()) };
    unsafe { own.refund(3) };
    drop((a, own));
    assert_eq!(drops(&n), 0);
    drop(b);
    assert_eq!(drops(&n), 1);
}

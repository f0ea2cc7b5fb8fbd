//! The shared handle of a publication: an `Arc` without weak references whose count a
//! publisher raises once per message for all the subscribers of a batch.
//!
//! A `publish_many` to `k` subscribers gives each of them its own handle to every message.
//! With `std::sync::Arc` that is `k` atomic increments per message, one per subscriber, and
//! in a w4 profile they were 83% of the publishing loop; paid at once, w4 rt=ct went from
//! 38.1-39.7 to 45.7-48.4 M deliveries a second (measured at 40c8819, 2026-11-23:
//! docs/perf/actors.md). Here the publisher adds `k` to a message's count with one atomic
//! add ([`Counted::prepay`]) and then makes the `k` handles without touching the count
//! ([`Counted::prepaid`]).
//! Dropping a handle is `Arc`'s protocol: a release decrement, and an acquire fence before
//! the last one frees the value.

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

#[cfg(all(test, mycelium_loom))]
use loom::sync::atomic::{fence, AtomicUsize, Ordering};
#[cfg(not(all(test, mycelium_loom)))]
use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// Counts above this abort the process, as `Arc`'s do: a count that wrapped would free a
/// value still in use.
const MAX_COUNT: usize = isize::MAX as usize;

struct Inner<T> {
    count: AtomicUsize,
    value: T,
}

/// A counted, shared, immutable value.
pub(crate) struct Counted<T> {
    ptr: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

// SAFETY: as for `Arc<T>`: handles on several threads share `&T` (so `T: Sync`), and the last
// one, on any thread, drops the `T` (so `T: Send`). The count is atomic.
unsafe impl<T: Send + Sync> Send for Counted<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Counted<T> {}

impl<T> Counted<T> {
    /// One handle to `value`.
    pub(crate) fn new(value: T) -> Self {
        let inner = Box::new(Inner {
            count: AtomicUsize::new(1),
            value,
        });
        Counted {
            ptr: NonNull::from(Box::leak(inner)),
            _owns: PhantomData,
        }
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the value lives while any handle does, and `self` is one.
        unsafe { self.ptr.as_ref() }
    }

    /// Adds `n` to the count with one atomic operation, for `n` handles to be made with
    /// [`prepaid`](Self::prepaid) (or given back with [`refund`](Self::refund)).
    pub(crate) fn prepay(&self, n: usize) {
        // Relaxed, as `Arc::clone`: a handle exists (`self`), so the value cannot be freed
        // meanwhile, and making handles publishes nothing.
        let old = self.inner().count.fetch_add(n, Ordering::Relaxed);
        if old > MAX_COUNT - n.min(MAX_COUNT) {
            std::process::abort();
        }
    }

    /// A handle that spends one unit [`prepay`](Self::prepay) added, without touching the
    /// count.
    ///
    /// # Safety
    ///
    /// Each call must spend a unit added by an earlier `prepay` on this value that no other
    /// call to `prepaid` or `refund` spent: more handles than units would free the value
    /// while handles remain.
    pub(crate) unsafe fn prepaid(&self) -> Self {
        Counted {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }

    /// Gives back `n` units that [`prepay`](Self::prepay) added and no handle took.
    ///
    /// # Safety
    ///
    /// As for [`prepaid`](Self::prepaid), for each of the `n` units.
    pub(crate) unsafe fn refund(&self, n: usize) {
        // `self` holds a unit of its own, so this never takes the count to zero: a release
        // decrement like a handle's drop, with nothing to free.
        let old = self.inner().count.fetch_sub(n, Ordering::Release);
        debug_assert!(old > n, "refunded more than was prepaid");
    }

    /// True when both are handles to the same value.
    pub(crate) fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }
}

impl<T> Clone for Counted<T> {
    fn clone(&self) -> Self {
        self.prepay(1);
        // SAFETY: the unit was added just above.
        unsafe { self.prepaid() }
    }
}

impl<T> Deref for Counted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        // The only handle (a topic's only subscriber, say) frees the value without an atomic
        // write: no other handle exists to make one (making one needs a handle), and the
        // acquire load synchronises with the release decrements of the handles dropped
        // before, as the fence below does.
        if self.inner().count.load(Ordering::Acquire) != 1 {
            // Release: this handle's uses of the value happen before the decrement; the one
            // that frees it synchronises with every decrement through the acquire fence.
            if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
                return;
            }
            fence(Ordering::Acquire);
        }
        // SAFETY: the count was one, this handle's own unit, or reached zero with this
        // handle's decrement: this was the last handle, no other can be made (making one
        // needs a handle), and the box came from `Box::leak` in `new`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

#[cfg(all(test, not(mycelium_loom)))]
#[path = "counted_tests.rs"]
mod tests;

#[cfg(all(test, mycelium_loom))]
#[path = "counted_loom_tests.rs"]
mod loom_tests;

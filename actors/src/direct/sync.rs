//! The primitives [`Loan`](super::loan::Loan) is built from: `std`'s in a normal build,
//! loom's when the crate is built for its tests with `--cfg mycelium_loom` (not plain `loom`, to which tokio
//! reacts), so the same protocol code runs under the model checker. Outside the models each
//! item is the `std` one: the shim costs nothing.

#[cfg(all(test, mycelium_loom))]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(all(test, mycelium_loom)))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};

/// An `UnsafeCell` reached through a closure, as loom's is.
#[cfg(not(all(test, mycelium_loom)))]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(all(test, mycelium_loom)))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(all(test, mycelium_loom))]
pub(crate) use loom::cell::UnsafeCell;

/// One round of waiting for another thread that holds the loan for a moment.
#[cfg(not(all(test, mycelium_loom)))]
#[inline]
pub(crate) fn spin_wait() {
    // The holder is inside one synchronous call on another worker: brief.
    std::thread::yield_now();
}

#[cfg(all(test, mycelium_loom))]
pub(crate) fn spin_wait() {
    loom::thread::yield_now();
}

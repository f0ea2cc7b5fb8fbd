//! The mailbox's lock: a test-and-test-and-set spin lock that yields to the OS scheduler
//! when it cannot get in quickly.
//!
//! Why not `std::sync::Mutex`: its unlock is an atomic swap (it must learn whether a thread
//! sleeps on the lock), so every send paid two atomic read-modify-write instructions; here
//! unlocking is a plain release store. Critical sections in the mailbox are a few
//! instructions long (a push, a swap of two queues), so waiting threads spin briefly, then
//! yield rather than sleep.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// The mailbox's lock: the spin lock, or loom's mutex in the loom models (see `model`).
#[cfg(not(all(test, mycelium_loom)))]
pub(crate) use {SpinGuard as LockGuard, SpinLock as Lock};

#[cfg(all(test, mycelium_loom))]
pub(crate) use model::{Lock, LockGuard};

#[cfg_attr(all(test, mycelium_loom), allow(dead_code))]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time (see `lock`), so
// sharing the lock between threads is sound whenever moving a `T` between threads is.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: owning the lock is owning the `T`.
unsafe impl<T: Send> Send for SpinLock<T> {}

#[cfg_attr(all(test, mycelium_loom), allow(dead_code))]
impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let mut spins = 0u32;
        loop {
            if !self.locked.swap(true, Ordering::Acquire) {
                return SpinGuard { lock: self };
            }
            while self.locked.load(Ordering::Relaxed) {
                if spins < 64 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock (acquired with
        // Acquire ordering in `lock`), so no other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // Release: everything written under the lock is visible to the next holder.
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// The lock the mailbox uses in its loom models (`src/tests/loom_*.rs`): loom's own mutex.
///
/// The spin lock is beyond loom: in loom's model a thread spinning on it can fail its `swap`
/// without end, so every model that contends on it exceeds loom's branch bound (even a model
/// of two threads taking the lock once each, with the read-only wait replaced by a yield).
/// The protocol models therefore run on loom's mutex, which gives the guarantee the spin lock
/// is built to give (mutual exclusion; everything written under the lock happens-before the
/// next holder's critical section), and the spin lock is checked on its own under
/// ThreadSanitizer in CI, by the multi-thread stress tests below and in `tests/threads.rs`.
#[cfg(all(test, mycelium_loom))]
mod model {
    pub(crate) struct Lock<T>(loom::sync::Mutex<T>);
    pub(crate) type LockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Lock<T> {
        pub(crate) fn new(value: T) -> Self {
            Lock(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> LockGuard<'_, T> {
            // A poisoned mutex means a model thread panicked: the model has failed already.
            self.0.lock().unwrap()
        }
    }
}

#[cfg(all(test, not(mycelium_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_across_threads() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        // A read-modify-write that loses updates without mutual exclusion.
                        let mut g = lock.lock();
                        let v = *g;
                        std::hint::black_box(&v);
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 400_000);
    }
}

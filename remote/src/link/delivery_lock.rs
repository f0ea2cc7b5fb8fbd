//! The link's delivery lock: held by a reader from the order check of the first data frame
//! of one read until the delivery of every frame of it is recorded.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A lock of one flag, which askers reading replies also look at ([`is_held`](Self::is_held)),
/// with a [`Notify`] for a reader that waits. A reader takes it once per read: a
/// compare-and-swap to take it, a store and an uncontended notification to give it back,
/// where a `tokio::sync::Mutex` (its acquire future, and its release, which locks the
/// semaphore's list of waiters even when none waits) beside a flag cost each side about 200
/// instructions more per ask (measured at 177cacd, 2026-11-27: docs/perf/remote.md). At most two
/// readers ever want it (a replaced connection's, not yet stopped, and its successor's), and
/// the writer briefly when the link closes.
#[derive(Debug, Default)]
pub(crate) struct DeliveryLock {
    held: AtomicBool,
    freed: Notify,
}

/// [`DeliveryLock`] while held; dropping it gives the lock back.
#[derive(Debug)]
pub(crate) struct DeliveryGuard<'a>(&'a DeliveryLock);

impl DeliveryLock {
    /// Takes the lock, waiting for its holder to give it back.
    pub(crate) async fn lock(&self) -> DeliveryGuard<'_> {
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before the second look: a release between the two wakes it.
            freed.as_mut().enable();
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            freed.await;
        }
    }

    /// Takes the lock if it is free.
    pub(crate) fn try_lock(&self) -> Option<DeliveryGuard<'_>> {
        self.held
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| DeliveryGuard(self))
    }

    /// Whether a reader holds it (it set the flag before its first order check).
    pub(crate) fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }
}

impl Drop for DeliveryGuard<'_> {
    fn drop(&mut self) {
        self.0.held.store(false, Ordering::Release);
        // Without a waiter, a load and a compare-and-swap that leaves a permit: a later
        // waiter then looks once more before it sleeps.
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryLock;

    #[test]
    fn held_until_the_guard_drops() {
        let lock = DeliveryLock::default();
        let guard = lock.try_lock().expect("free");
        assert!(lock.is_held());
        assert!(lock.try_lock().is_none());
        drop(guard);
        assert!(!lock.is_held());
        assert!(lock.try_lock().is_some());
    }

    /// A reader waiting for the lock gets it when the holder gives it back, and not before.
    #[tokio::test]
    async fn a_waiter_takes_it_once_given_back() {
        let lock = std::sync::Arc::new(DeliveryLock::default());
        // A permit left by an earlier release wakes the waiter once for nothing.
        drop(lock.try_lock());
        let guard = lock.try_lock().expect("free");
        let waiter = tokio::spawn({
            let lock = lock.clone();
            async move {
                let _held = lock.lock().await;
            }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        drop(guard);
        waiter
            .await
            .expect("the waiter took the lock and gave it back");
        assert!(!lock.is_held());
    }

    /// Many tasks on several threads, each taking the lock in turn: never two at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_held_twice() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let lock = std::sync::Arc::new(DeliveryLock::default());
        let inside = std::sync::Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (lock, inside) = (lock.clone(), inside.clone());
            tasks.spawn(async move {
                for _ in 0..500 {
                    let _held = lock.lock().await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a task");
        }
    }
}

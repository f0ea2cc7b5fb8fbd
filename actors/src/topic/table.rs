//! A topic table: the subscriptions to one message type, in subscription order.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Messages publishers deliver on one table, on a bus of a current-thread runtime, between
/// two turns they give the other tasks of their thread ([`Table::turn_due`]).
///
/// A publisher that finds room in every subscriber's mailbox never waits: without a turn it
/// would fill every mailbox to its capacity before any subscriber ran, and the subscribers
/// would then read back from beyond the cache what it wrote (64 subscribers of a default
/// mailbox: 64 x 1,024 envelopes of 56 bytes, several megabytes). A turn every so many
/// deliveries keeps what is in flight within the cache (docs/perf/actors.md, w4).
pub(super) const DELIVERIES_PER_TURN: u32 = 4096;

/// The subscriptions to messages of one type, in subscription order.
///
/// Publishers read an immutable snapshot (one reference-count increment under a short lock);
/// subscribing and unsubscribing replace it. So no lock is held while a publisher delivers or
/// waits for a slow subscriber.
pub(super) struct Table<E> {
    entries: Mutex<Arc<[Arc<E>]>>,
    /// The bus runs on a current-thread runtime: its publishers give turns.
    one_thread: bool,
    /// Deliveries since the last turn. Counted per table, not per thread, so that where a
    /// turn falls depends only on the bus's own publishing, as a backtest's results must.
    delivered: AtomicU32,
}

impl<E> Table<E> {
    pub(super) fn new(one_thread: bool) -> Self {
        Table {
            entries: Mutex::new(Arc::from(Vec::new())),
            one_thread,
            delivered: AtomicU32::new(0),
        }
    }

    /// After a publish that delivered `n` messages: whether its publisher gives the other
    /// tasks of its thread a turn now, once every [`DELIVERIES_PER_TURN`] deliveries on a bus of
    /// a current-thread runtime (on a multi-thread runtime the subscribers run on the other
    /// workers meanwhile, and a turn only slowed the publisher, in measurements). Not from a
    /// handler run on another actor's task (the direct call), which a turn would leave
    /// pending: the count carries on to a publish outside one.
    pub(super) fn turn_due(&self, n: usize) -> bool {
        if !self.one_thread || n == 0 {
            return false;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let total = self
            .delivered
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if total < DELIVERIES_PER_TURN || crate::direct::nested() {
            return false;
        }
        self.delivered.store(0, Ordering::Relaxed);
        true
    }

    fn entries(&self) -> MutexGuard<'_, Arc<[Arc<E>]>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[inline]
    pub(super) fn snapshot(&self) -> Arc<[Arc<E>]> {
        self.entries().clone()
    }

    pub(super) fn add(&self, entry: Arc<E>) {
        let mut entries = self.entries();
        let mut next: Vec<Arc<E>> = entries.iter().cloned().collect();
        next.push(entry);
        *entries = next.into();
    }

    pub(super) fn remove(&self, entry: &E) {
        let mut entries = self.entries();
        if entries.iter().any(|e| std::ptr::eq(&**e, entry)) {
            let next: Vec<Arc<E>> = entries
                .iter()
                .filter(|e| !std::ptr::eq(&***e, entry))
                .cloned()
                .collect();
            *entries = next.into();
        }
    }
}

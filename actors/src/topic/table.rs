//! A topic table: the subscriptions to one message type, in subscription order.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

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
/// Publishers read an immutable snapshot, without a lock or a reference count (an
/// [`ArcSwap`] load); subscribing and unsubscribing replace it, one at a time. So publishers
/// on several threads share no cache line to read the table, and none holds a lock while it
/// delivers or waits for a slow subscriber.
pub(super) struct Table<E> {
    entries: ArcSwap<Vec<Arc<E>>>,
    /// Serialises the changes, each of which stores a changed copy of the snapshot.
    changing: Mutex<()>,
    /// The bus runs on a current-thread runtime: its publishers give turns.
    one_thread: bool,
    /// Deliveries since the last turn. Counted per table, not per thread, so that where a
    /// turn falls depends only on the bus's own publishing, as a backtest's results must.
    delivered: AtomicU32,
}

impl<E> Table<E> {
    pub(super) fn new(one_thread: bool) -> Self {
        Table {
            entries: ArcSwap::from_pointee(Vec::new()),
            changing: Mutex::new(()),
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
        // A load and a store, not an atomic add: the bus's publishers share its one thread,
        // where the two are the same. A publisher on another thread (a handle sent out of
        // the runtime) may have a count lost in a race, which moves a turn, never a message.
        let total = self.delivered.load(Ordering::Relaxed).saturating_add(n);
        if total < DELIVERIES_PER_TURN || crate::direct::nested() {
            self.delivered.store(total, Ordering::Relaxed);
            return false;
        }
        self.delivered.store(0, Ordering::Relaxed);
        true
    }

    /// The snapshot, to read while nothing waits: held across an `.await`, take
    /// [`counted`](Self::counted) (or `Guard::into_inner`) instead.
    #[inline]
    pub(super) fn snapshot(&self) -> Guard<Arc<Vec<Arc<E>>>> {
        self.entries.load()
    }

    /// The snapshot with a reference count of its own, to hold while a publisher waits.
    pub(super) fn counted(&self) -> Arc<Vec<Arc<E>>> {
        self.entries.load_full()
    }

    /// Stores `change` applied to a copy of the entries, unless it returns `None`.
    fn change(&self, change: impl FnOnce(&[Arc<E>]) -> Option<Vec<Arc<E>>>) {
        let _changing = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(next) = change(&self.entries.load()) {
            self.entries.store(Arc::new(next));
        }
    }

    pub(super) fn add(&self, entry: Arc<E>) {
        self.change(|entries| {
            let mut next = entries.to_vec();
            next.push(entry);
            Some(next)
        });
    }

    pub(super) fn remove(&self, entry: &E) {
        self.change(|entries| {
            entries.iter().any(|e| std::ptr::eq(&**e, entry)).then(|| {
                entries
                    .iter()
                    .filter(|e| !std::ptr::eq(&***e, entry))
                    .cloned()
                    .collect()
            })
        });
    }
}

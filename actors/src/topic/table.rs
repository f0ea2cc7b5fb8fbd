//! A topic table: the subscriptions to one message type, in subscription order.

use std::sync::{Arc, Mutex, MutexGuard};

/// The subscriptions to messages of one type, in subscription order.
///
/// Publishers read an immutable snapshot (one reference-count increment under a short lock);
/// subscribing and unsubscribing replace it. So no lock is held while a publisher delivers or
/// waits for a slow subscriber.
pub(super) struct Table<E> {
    entries: Mutex<Arc<[Arc<E>]>>,
}

impl<E> Default for Table<E> {
    fn default() -> Self {
        Table {
            entries: Mutex::new(Arc::from(Vec::new())),
        }
    }
}

impl<E> Table<E> {
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

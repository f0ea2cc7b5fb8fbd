//! The per-bus topic registry: one table per message type.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use metrics::Counter;

use crate::telemetry::TopicMetricsCache;
use crate::topic::entry::{Entry, Target};
use crate::topic::pattern::Pattern;
use crate::topic::table::Table;
use crate::topic::{SubscribeOptions, TopicError};

/// Every topic table of one bus, one per message type.
pub(crate) struct TopicRegistry {
    // Looked up by type only; never iterated, so hash order is never visible.
    tables: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The topics' instruments, on a bus that records metrics.
    pub(super) metrics: Option<Arc<TopicMetricsCache>>,
    /// The bus runs on a current-thread runtime (`Table::turn_due`).
    one_thread: bool,
}

impl TopicRegistry {
    pub(crate) fn new(metrics: Option<Arc<TopicMetricsCache>>, one_thread: bool) -> Self {
        TopicRegistry {
            tables: Mutex::default(),
            metrics,
            one_thread,
        }
    }

    fn tables(&self) -> MutexGuard<'_, HashMap<TypeId, Arc<dyn Any + Send + Sync>>> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The table of `T`, created on first use.
    pub(super) fn table<T: Send + Sync + 'static>(&self) -> Arc<Table<Entry<T>>> {
        let any = self
            .tables()
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(Table::<Entry<T>>::new(self.one_thread)))
            .clone();
        match any.downcast::<Table<Entry<T>>>() {
            Ok(table) => table,
            Err(_) => unreachable!("the table under `TypeId::of::<T>()` is a `Table<Entry<T>>`"),
        }
    }

    /// The table of `T`, if anything ever subscribed to or published a `T`.
    pub(super) fn existing<T: Send + Sync + 'static>(&self) -> Option<Arc<Table<Entry<T>>>> {
        let any = self.tables().get(&TypeId::of::<T>())?.clone();
        any.downcast::<Table<Entry<T>>>().ok()
    }
}

/// Subscribes to `table`; the target is built once the pattern is checked.
pub(super) fn subscribe<T: Send + Sync + 'static>(
    table: &Arc<Table<Entry<T>>>,
    pattern: &str,
    options: &SubscribeOptions,
    runtime: &tokio::runtime::Handle,
    dropped: Option<Counter>,
    target: impl FnOnce() -> Target<T>,
) -> Result<Arc<Entry<T>>, TopicError> {
    let parsed = Pattern::parse(pattern)?;
    let entry = Arc::new(Entry::new(
        parsed,
        pattern,
        options,
        target(),
        Arc::downgrade(table),
        runtime.clone(),
        dropped,
    ));
    table.add(entry.clone());
    Ok(entry)
}

//! Releases deferred to the bus's end: an actor freed, or a tree stopped, from inside one of
//! its own callbacks cannot wait there for its callbacks to be released (that wait would wait
//! for the very callback it runs in). Its stop is asked for and goes on once the callback has
//! returned; the wait for its release is left to [`myc_bus_shutdown`](crate::myc_bus_shutdown)
//! and [`myc_bus_free`](crate::myc_bus_free), so once the bus is closed no callback of it is
//! held, as when every handle was freed from outside.

use std::sync::{Arc, Mutex, Weak};

use mycelium_foreign::HostedBus;
use tokio::sync::oneshot::error::TryRecvError;

use crate::actor::Released;

/// The releases still to wait for, with the bus each belongs to.
static DEFERRED: Mutex<Vec<(Weak<HostedBus>, Released)>> = Mutex::new(Vec::new());

fn deferred() -> std::sync::MutexGuard<'static, Vec<(Weak<HostedBus>, Released)>> {
    DEFERRED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Leaves the wait for `released` to the end of `bus`.
pub(crate) fn defer(bus: &Arc<HostedBus>, released: impl IntoIterator<Item = Released>) {
    let mut all = deferred();
    // Those already released, or of a bus that is gone, need no wait.
    all.retain_mut(|(b, r)| {
        b.strong_count() > 0 && matches!(r.try_recv(), Err(TryRecvError::Empty))
    });
    all.extend(released.into_iter().map(|r| (Arc::downgrade(bus), r)));
}

/// Waits for the releases deferred to the end of `bus`. Not from inside a callback, which
/// may be one of those waited for: there the releases stay deferred.
pub(crate) fn wait(bus: &Arc<HostedBus>) {
    if crate::actor::in_callback() {
        return;
    }
    let mine: Vec<Released> = {
        let mut all = deferred();
        let (mine, others) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|(b, _)| std::ptr::eq(b.as_ptr(), Arc::as_ptr(bus)));
        *all = others;
        mine.into_iter().map(|(_, r)| r).collect()
    };
    for released in mine {
        let _ = bus.block_on(released);
    }
}

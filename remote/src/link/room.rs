//! Room in a link's queue: senders that found it full wait here for acknowledgements.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// Wakes senders waiting for room in the queue, and costs one load when none waits: an
/// acknowledgement frees room with almost every frame a busy link receives, and tokio's
/// `notify_waiters` takes a lock and makes an atomic write on every call, waiters or not
/// (measured at a9838db, 2026-11-27: docs/perf/remote.md).
#[derive(Debug, Default)]
pub(crate) struct Room {
    notify: Notify,
    /// Senders between [`Room::wait`] and the end of their wait.
    waiting: AtomicUsize,
}

/// A sender counted as waiting for room, until dropped.
pub(crate) struct Counted<'a>(&'a Room);

impl Room {
    /// Registers a wait for room: a sender is counted as waiting while the guard lives, and
    /// the future is woken when room is freed. Make both and enable the future, then look at
    /// the queue (under the link's lock), and await it only if there was no room: a room
    /// freed after that look wakes it.
    pub fn wait(&self) -> (Counted<'_>, Notified<'_>) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        (Counted(self), self.notify.notified())
    }

    /// Room was freed under the link's lock (acknowledged frames left the queue): wakes the
    /// senders waiting, if any. A sender counted itself before it looked at the queue under
    /// that lock; so either it saw the room, or this sees it counted.
    pub fn freed(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Wakes every sender waiting, whatever changed and wherever: for the rare changes not
    /// made under the link's lock (a reply that stops waiting, a connection's change).
    pub fn wake_all(&self) {
        self.notify.notify_waiters();
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

//! `TopicStream`: a subscription read from outside an actor.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::topic::entry::Entry;
use crate::topic::subscription::{Control, Subscription, SubscriptionStats};
use crate::topic::Published;

/// Messages of one subscription, for code that is not an actor (a test, a recorder, a bridge),
/// from [`Bus::subscribe_stream`](crate::Bus::subscribe_stream).
///
/// Messages wait in the stream's own buffer, where the subscription's overflow policy
/// applies. Dropping the stream ends the subscription.
pub struct TopicStream<T: Send + Sync + 'static> {
    entry: Arc<Entry<T>>,
}

impl<T: Send + Sync + 'static> TopicStream<T> {
    pub(super) fn new(entry: Arc<Entry<T>>) -> Self {
        TopicStream { entry }
    }

    /// Counts as dropped a message taken from this stream that its taker could not pass on.
    pub(super) fn count_lost(&self) {
        self.entry.count_drop();
    }

    /// The next message, waiting for one. `None` once the subscription has been cancelled.
    pub async fn recv(&mut self) -> Option<Published<T>> {
        std::future::poll_fn(|cx| self.entry.poll_recv(cx)).await
    }

    /// Polls for the next message: `Ready(Some)` with one, `Ready(None)` once the subscription
    /// has been cancelled, `Pending` (the task woken later) while none waits. For adapting the
    /// stream to other async interfaces, such as `futures::Stream`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Published<T>>> {
        self.entry.poll_recv(cx)
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Published<T>> {
        self.entry.take_next()
    }

    /// Delivered, dropped and pending counts.
    pub fn stats(&self) -> SubscriptionStats {
        self.entry.stats()
    }

    /// A handle on the subscription (statistics, cancel) that can outlive this borrow.
    pub fn subscription(&self) -> Subscription {
        Subscription::new(self.entry.clone())
    }

    /// Ends the subscription: messages still waiting are discarded (counted as dropped) and
    /// `recv` returns `None`.
    pub fn cancel(&self) {
        self.entry.cancel();
    }
}

impl<T: Send + Sync + 'static> Drop for TopicStream<T> {
    fn drop(&mut self) {
        self.entry.cancel();
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for TopicStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicStream")
            .field("pattern", &self.entry.pattern())
            .field("stats", &self.stats())
            .finish()
    }
}

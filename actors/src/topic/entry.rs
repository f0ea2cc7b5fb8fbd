//! One subscription as a topic table holds it, and the delivery of a message to it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use metrics::Counter;
use tokio::runtime::Handle;

use crate::error::{SendError, TrySendError};
use crate::topic::buffer::{Buffer, Offer, Reader};
use crate::topic::drain::TopicDrain;
use crate::topic::pattern::Pattern;
use crate::topic::prepaid::Prepaid;
use crate::topic::subscription::Control;
use crate::topic::table::Table;
use crate::topic::{Overflow, PublishReport, Published, SubscribeOptions, SubscriptionStats};
use crate::MessageSink;

/// One subscription as the topic table holds it.
pub(super) struct Entry<T: Send + Sync + 'static> {
    pattern: Pattern,
    pattern_text: Box<str>,
    key: Option<u64>,
    overflow: Overflow,
    target: Target<T>,
    delivered: AtomicU64,
    dropped: AtomicU64,
    active: AtomicBool,
    table: Weak<Table<Entry<T>>>,
    runtime: Handle,
    /// Its drop counter, on a bus that records metrics.
    dropped_metric: Option<Counter>,
}

/// Where a subscription's messages go.
pub(super) enum Target<T: Send + Sync + 'static> {
    /// Straight into an actor's mailbox (`Block`, `DropNewest`).
    Mailbox(Arc<dyn MessageSink<Published<T>>>),
    /// Into a buffer that applies the policy; a stream or a drain message reads it.
    Buffer(Buffer<T>),
}

/// What a delivery attempt left to do.
pub(super) enum Attempt<T> {
    Done,
    /// A `Block` subscriber is full: wait for room with this message.
    Wait(Published<T>),
}

impl<T: Send + Sync + 'static> Entry<T> {
    pub(super) fn new(
        pattern: Pattern,
        pattern_text: &str,
        options: &SubscribeOptions,
        target: Target<T>,
        table: Weak<Table<Entry<T>>>,
        runtime: Handle,
        dropped_metric: Option<Counter>,
    ) -> Self {
        Entry {
            pattern,
            pattern_text: pattern_text.into(),
            key: options.key,
            overflow: options.overflow,
            target,
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            active: AtomicBool::new(true),
            table,
            runtime,
            dropped_metric,
        }
    }

    /// True when it takes a batch whole, in one mailbox send: an actor's mailbox that the
    /// publisher waits on when full (`Overflow::Block`).
    pub(super) fn takes_batches(&self) -> bool {
        matches!(
            (&self.target, self.overflow),
            (Target::Mailbox(_), Overflow::Block)
        )
    }

    /// True when a message on `topic` with `key` is for this subscription.
    #[inline]
    pub(super) fn accepts(&self, topic: &str, key: Option<u64>) -> bool {
        self.active.load(Ordering::Relaxed)
            && (self.key.is_none() || self.key == key)
            && self.pattern.matches(topic)
    }

    /// Delivers without waiting; hands the message back when a `Block` subscriber is full.
    #[inline]
    pub(super) fn try_deliver(
        self: &Arc<Self>,
        msg: Published<T>,
        report: &mut PublishReport,
    ) -> Attempt<T> {
        match &self.target {
            Target::Mailbox(sink) => match sink.try_tell(msg) {
                Ok(()) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    report.delivered += 1;
                }
                Err(TrySendError::Full(back)) => {
                    if self.overflow == Overflow::Block {
                        return Attempt::Wait(back);
                    }
                    self.count_drop();
                    report.dropped += 1;
                }
                Err(TrySendError::Closed(_)) => self.found_dead_holding(report),
            },
            Target::Buffer(buffer) => match buffer.offer(self.overflow, msg, false) {
                Offer::Taken { evicted, drain } => self.taken(evicted, drain, report),
                Offer::Refused => {
                    self.count_drop();
                    report.dropped += 1;
                }
                Offer::Full(back) => return Attempt::Wait(back),
                Offer::Closed => self.found_dead_holding(report),
            },
        }
        Attempt::Done
    }

    /// Delivers a batch of messages on one topic, in order, counting as if each were
    /// published alone. Into a `Block` subscriber's mailbox the batch goes in one `tell_many`
    /// (one lock per run that fits); other policies and targets take the messages one by one.
    pub(super) async fn deliver_batch(
        self: &Arc<Self>,
        batch: &mut Prepaid<'_, T>,
        report: &mut PublishReport,
    ) {
        let msgs = batch.msgs();
        if let (Target::Mailbox(sink), true) = (&self.target, self.takes_batches()) {
            let n = msgs.len();
            let sent = match sink.tell_many(batch.take()).await {
                Ok(()) => n,
                Err(SendError(back)) => n - back.len(),
            };
            self.delivered.fetch_add(sent as u64, Ordering::Relaxed);
            report.delivered += sent;
            report.matched += sent;
            if sent < n {
                // The message that found the subscriber stopped matched, as it would alone.
                report.matched += 1;
                self.found_dead_holding(report);
            }
            return;
        }
        for msg in msgs {
            if !self.accepts(msg.topic(), msg.key()) {
                break;
            }
            report.matched += 1;
            if let Attempt::Wait(back) = self.try_deliver(msg.clone(), report) {
                self.deliver_waiting(back, report).await;
            }
        }
    }

    /// Delivers to a full `Block` subscriber, waiting for room. No lock is held meanwhile.
    pub(super) async fn deliver_waiting(
        self: &Arc<Self>,
        msg: Published<T>,
        report: &mut PublishReport,
    ) {
        match &self.target {
            Target::Mailbox(sink) => match sink.tell(msg).await {
                Ok(()) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    report.delivered += 1;
                }
                Err(_) => self.found_dead_holding(report),
            },
            Target::Buffer(buffer) => match buffer.offer_waiting(self.overflow, msg).await {
                Offer::Taken { evicted, drain } => self.taken(evicted, drain, report),
                Offer::Refused => {
                    self.count_drop();
                    report.dropped += 1;
                }
                Offer::Full(_) | Offer::Closed => self.found_dead_holding(report),
            },
        }
    }

    /// The buffer took a message. An actor reading it must still be there: a drain message
    /// is on its way unless one is needed now, and a reader that stopped with one in its
    /// mailbox (which became a dead letter) never asks for the next. Its subscription is
    /// removed here, whether or not a drain is needed, and the message is not delivered.
    fn taken(self: &Arc<Self>, evicted: bool, drain: bool, report: &mut PublishReport) {
        if evicted {
            self.count_drop();
            report.dropped += 1;
        }
        let reading = if drain {
            self.send_drain()
        } else {
            !self.reader_closed()
        };
        if reading {
            report.delivered += 1;
        } else {
            self.found_dead_holding(report);
        }
    }

    /// True when the buffer's reader is an actor whose mailbox has closed.
    fn reader_closed(&self) -> bool {
        match &self.target {
            Target::Buffer(buffer) => match &buffer.reader {
                Reader::Actor(sink) => sink.is_closed(),
                Reader::Stream => false,
            },
            Target::Mailbox(_) => false,
        }
    }

    /// Sends the reading actor a drain message; false when the actor has stopped.
    fn send_drain(self: &Arc<Self>) -> bool {
        let Target::Buffer(buffer) = &self.target else {
            return true;
        };
        match &buffer.reader {
            Reader::Stream => true,
            Reader::Actor(sink) => match sink.try_tell(TopicDrain(self.clone())) {
                Ok(()) => true,
                Err(TrySendError::Full(token)) => {
                    // The mailbox is full: queue the drain message without holding up the
                    // publisher (a rare path, so the task's allocation does not matter).
                    let sink = sink.clone();
                    let entry = self.clone();
                    self.runtime.spawn(async move {
                        if sink.tell(token).await.is_err() {
                            entry.found_dead(&mut PublishReport::default());
                        }
                    });
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            },
        }
    }

    /// Takes the next buffered message for the subscriber, counting it delivered.
    pub(super) fn take_next(self: &Arc<Self>) -> Option<Published<T>> {
        let Target::Buffer(buffer) = &self.target else {
            return None;
        };
        let (item, more) = buffer.take();
        if let Some(msg) = &item {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            msg.record_delivery();
        }
        if more && matches!(buffer.reader, Reader::Actor(_)) && !self.send_drain() {
            self.found_dead(&mut PublishReport::default());
        }
        item
    }

    /// Counts one message dropped (by the overflow policy, or held for a subscriber gone).
    #[inline]
    pub(super) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(counter) = &self.dropped_metric {
            counter.increment(1);
        }
    }

    /// For a stream: the next message, `Ready(None)` once the subscription has ended, or
    /// `Pending` with the task woken when that changes.
    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Published<T>>> {
        let Target::Buffer(buffer) = &self.target else {
            return Poll::Ready(None);
        };
        let polled = buffer.poll_take(cx);
        if let Poll::Ready(Some(msg)) = &polled {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            msg.record_delivery();
        }
        polled
    }

    fn found_dead(&self, report: &mut PublishReport) {
        if self.deactivate() {
            report.removed += 1;
        }
    }

    /// The subscriber was found gone with a matched message in hand: the subscription is
    /// removed (counted in `removed`, which accounts for the message), or, when it had already
    /// ended meanwhile (a stream dropped, an incarnation's subscriptions cancelled while the
    /// publisher waited for room), the message counts as dropped, so that every matched
    /// message is delivered, dropped or explained by a removal.
    fn found_dead_holding(&self, report: &mut PublishReport) {
        if self.deactivate() {
            report.removed += 1;
        } else {
            self.count_drop();
            report.dropped += 1;
        }
    }

    /// Ends the subscription; true if it was active.
    fn deactivate(&self) -> bool {
        if !self.active.swap(false, Ordering::AcqRel) {
            return false;
        }
        if let Target::Buffer(buffer) = &self.target {
            let discarded = buffer.close() as u64;
            self.dropped.fetch_add(discarded, Ordering::Relaxed);
            if let Some(counter) = &self.dropped_metric {
                counter.increment(discarded);
            }
        }
        if let Some(table) = self.table.upgrade() {
            table.remove(self);
        }
        true
    }

    /// True while active and its subscriber is alive.
    pub(super) fn is_live(&self) -> bool {
        self.active.load(Ordering::Acquire)
            && match &self.target {
                Target::Mailbox(sink) => sink.is_alive(),
                Target::Buffer(buffer) => match &buffer.reader {
                    Reader::Stream => true,
                    Reader::Actor(sink) => sink.is_alive(),
                },
            }
    }

    /// True when `topic` (any key) reaches this live subscription.
    pub(super) fn counts_for(&self, topic: &str) -> bool {
        self.is_live() && self.pattern.matches(topic)
    }
}

impl<T: Send + Sync + 'static> Control for Entry<T> {
    fn cancel(&self) {
        self.deactivate();
    }

    fn stats(&self) -> SubscriptionStats {
        SubscriptionStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            pending: match &self.target {
                Target::Mailbox(_) => 0,
                Target::Buffer(buffer) => buffer.len() as u64,
            },
        }
    }

    fn pattern(&self) -> &str {
        &self.pattern_text
    }

    fn is_active(&self) -> bool {
        self.is_live()
    }
}

//! Subscriptions: options, overflow policies, statistics, and the handle that cancels one.

use std::fmt;
use std::sync::Arc;

/// What a subscription does with a message when its subscriber is not keeping up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// The publisher waits until the subscriber has room (backpressure). Nothing is dropped.
    #[default]
    Block,
    /// The new message is dropped: the subscriber keeps the oldest messages.
    DropNewest,
    /// The oldest waiting message is dropped: the subscriber keeps the newest `capacity`.
    DropOldest,
    /// Conflation: a waiting message is replaced by a newer one with the same key, keeping its
    /// place in the queue. The subscriber sees the newest value of each key. Messages
    /// published without a key share one slot.
    LatestPerKey,
}

/// How to subscribe: the overflow policy, the buffer capacity, and an optional key filter.
///
/// ```
/// use mycelium_actors::{Overflow, SubscribeOptions};
/// let conflated = SubscribeOptions::latest_per_key();
/// let one_instrument = SubscribeOptions::new().key(42).overflow(Overflow::DropOldest).capacity(16);
/// # let _ = (conflated, one_instrument);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscribeOptions {
    pub(super) overflow: Overflow,
    pub(super) capacity: usize,
    pub(super) key: Option<u64>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            overflow: Overflow::Block,
            capacity: Self::DEFAULT_CAPACITY,
            key: None,
        }
    }
}

impl SubscribeOptions {
    /// The default buffer capacity of streams and `DropOldest` side buffers.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// Block on overflow, capacity 1024, every key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Backpressure: the publisher waits for room.
    pub fn block() -> Self {
        Self::new().overflow(Overflow::Block)
    }

    /// Keep the oldest messages; drop new ones while full.
    pub fn drop_newest() -> Self {
        Self::new().overflow(Overflow::DropNewest)
    }

    /// Keep the newest `capacity` messages; drop the oldest while full.
    pub fn drop_oldest(capacity: usize) -> Self {
        Self::new()
            .overflow(Overflow::DropOldest)
            .capacity(capacity)
    }

    /// Keep the newest message of each key.
    pub fn latest_per_key() -> Self {
        Self::new().overflow(Overflow::LatestPerKey)
    }

    /// The overflow policy.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// How many messages wait before the policy applies (a capacity of 0 is raised to 1).
    ///
    /// It bounds a stream's buffer and an actor's `DropOldest` side buffer. An actor's `Block`
    /// and `DropNewest` subscriptions deliver straight into its mailbox, whose own bound
    /// applies (set it with [`SpawnOptions::mailbox`](crate::SpawnOptions::mailbox));
    /// `LatestPerKey` keeps one message per key and is bounded by the number of keys.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Only messages published with this key ([`Bus::publish_keyed`](crate::Bus::publish_keyed)).
    pub fn key(mut self, key: u64) -> Self {
        self.key = Some(key);
        self
    }
}

/// Counters of one subscription.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Messages handed to the subscriber: pushed into the actor's mailbox, or taken out of the
    /// side buffer by the actor or out of the stream by `recv`.
    pub delivered: u64,
    /// Messages dropped: by the overflow policy, or still waiting in the buffer when the
    /// subscription ended.
    pub dropped: u64,
    /// Messages waiting in the side buffer or stream buffer (0 for subscriptions that deliver
    /// straight into the mailbox).
    pub pending: u64,
}

/// A handle on one subscription: its statistics, and a way to end it.
///
/// An actor's subscription (made with [`Context::subscribe`](crate::Context::subscribe))
/// belongs to the actor's current incarnation, like its timers: it ends when the actor
/// restarts or stops, and `on_start` subscribes again. Dropping this handle does **not** end
/// it; [`cancel`](Self::cancel) does. A stream's subscription ends when the
/// [`TopicStream`](crate::TopicStream) is dropped.
#[derive(Clone)]
pub struct Subscription {
    control: Arc<dyn Control>,
}

pub(super) trait Control: Send + Sync {
    fn cancel(&self);
    fn stats(&self) -> SubscriptionStats;
    fn pattern(&self) -> &str;
    fn is_active(&self) -> bool;
}

impl Subscription {
    pub(super) fn new(control: Arc<dyn Control>) -> Self {
        Subscription { control }
    }

    /// Delivered, dropped and pending counts.
    pub fn stats(&self) -> SubscriptionStats {
        self.control.stats()
    }

    /// The pattern it was made with.
    pub fn pattern(&self) -> &str {
        self.control.pattern()
    }

    /// False once cancelled, or once its subscriber was found stopped.
    pub fn is_active(&self) -> bool {
        self.control.is_active()
    }

    /// Ends the subscription: no message published after this reaches it. Messages waiting in
    /// its side buffer are discarded and counted as dropped; messages already in the actor's
    /// mailbox are still handled.
    pub fn cancel(&self) {
        self.control.cancel()
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pattern", &self.pattern())
            .field("active", &self.is_active())
            .field("stats", &self.stats())
            .finish()
    }
}

/// The subscriptions of one actor incarnation; they end with it.
#[derive(Default)]
pub(crate) struct SubscriptionSet {
    subscriptions: Vec<Subscription>,
}

impl SubscriptionSet {
    pub(crate) fn push(&mut self, subscription: Subscription) {
        if self.subscriptions.len() >= 32 {
            self.subscriptions.retain(Subscription::is_active);
        }
        self.subscriptions.push(subscription);
    }

    pub(crate) fn cancel_all(&mut self) {
        for s in self.subscriptions.drain(..) {
            s.cancel();
        }
    }
}

impl Drop for SubscriptionSet {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

//! Subscriptions: options, overflow policies, the per-subscription side buffer, statistics,
//! and the handle that cancels one.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::error::TrySendError;
use crate::handler::Reply;
use crate::topic::pattern::Pattern;
use crate::topic::registry::Table;
use crate::topic::{PublishReport, Published};
use crate::{Context, Handler, MessageSink};

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
    pub(crate) overflow: Overflow,
    pub(crate) capacity: usize,
    pub(crate) key: Option<u64>,
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
/// An actor's subscription (made with [`Context::subscribe`]) belongs to the actor's current
/// incarnation, like its timers: it ends when the actor restarts or stops, and `on_start`
/// subscribes again. Dropping this handle does **not** end it; [`cancel`](Self::cancel)
/// does. A stream's subscription ends when the [`TopicStream`](crate::TopicStream) is dropped.
#[derive(Clone)]
pub struct Subscription {
    control: Arc<dyn Control>,
}

pub(crate) trait Control: Send + Sync {
    fn cancel(&self);
    fn stats(&self) -> SubscriptionStats;
    fn pattern(&self) -> &str;
    fn is_active(&self) -> bool;
}

impl Subscription {
    pub(crate) fn new(control: Arc<dyn Control>) -> Self {
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

/// One subscription as the topic table holds it.
pub(crate) struct Entry<T: Send + Sync + 'static> {
    pattern: Pattern,
    pattern_text: Box<str>,
    key: Option<u64>,
    overflow: Overflow,
    target: Target<T>,
    delivered: AtomicU64,
    dropped: AtomicU64,
    active: AtomicBool,
    table: Weak<Table<T>>,
    runtime: Handle,
}

/// Where a subscription's messages go.
pub(crate) enum Target<T: Send + Sync + 'static> {
    /// Straight into an actor's mailbox (`Block`, `DropNewest`).
    Mailbox(Arc<dyn MessageSink<Published<T>>>),
    /// Into a buffer that applies the policy; a stream or a drain message reads it.
    Buffer(Buffer<T>),
}

/// Who reads a buffer.
pub(crate) enum Reader<T: Send + Sync + 'static> {
    /// A `TopicStream`, woken through this.
    Stream(Notify),
    /// An actor, sent one drain message at a time.
    Actor(Arc<dyn MessageSink<TopicDrain<T>>>),
}

pub(crate) struct Buffer<T: Send + Sync + 'static> {
    state: Mutex<BufferState<T>>,
    reader: Reader<T>,
    /// Publishers blocked on a full `Block` stream wait here.
    writable: Notify,
}

struct BufferState<T> {
    pending: Pending<T>,
    capacity: usize,
    closed: bool,
    /// A drain message is in the actor's mailbox (or on its way).
    drain_scheduled: bool,
    blocked_writers: usize,
}

enum Pending<T> {
    Fifo(VecDeque<Published<T>>),
    /// Keys in arrival order of their first waiting value; the newest value of each.
    Latest {
        order: VecDeque<Option<u64>>,
        values: HashMap<Option<u64>, Published<T>>,
    },
}

impl<T> Pending<T> {
    fn len(&self) -> usize {
        match self {
            Pending::Fifo(q) => q.len(),
            Pending::Latest { order, .. } => order.len(),
        }
    }

    fn pop(&mut self) -> Option<Published<T>> {
        match self {
            Pending::Fifo(q) => q.pop_front(),
            Pending::Latest { order, values } => {
                let key = order.pop_front()?;
                values.remove(&key)
            }
        }
    }

    fn clear(&mut self) {
        match self {
            Pending::Fifo(q) => q.clear(),
            Pending::Latest { order, values } => {
                order.clear();
                values.clear();
            }
        }
    }
}

/// The outcome of offering a message to a buffer.
enum Offer<T> {
    Taken { evicted: bool, wake: bool },
    Refused,
    Full(Published<T>),
    Closed,
}

/// What a delivery attempt left to do.
pub(crate) enum Attempt<T> {
    Done,
    /// A `Block` subscriber is full: wait for room with this message.
    Wait(Published<T>),
}

impl<T: Send + Sync + 'static> Buffer<T> {
    pub(crate) fn new(options: &SubscribeOptions, reader: Reader<T>) -> Self {
        let pending = match options.overflow {
            Overflow::LatestPerKey => Pending::Latest {
                order: VecDeque::new(),
                values: HashMap::new(),
            },
            _ => Pending::Fifo(VecDeque::new()),
        };
        Buffer {
            state: Mutex::new(BufferState {
                pending,
                capacity: options.capacity.max(1),
                closed: false,
                drain_scheduled: false,
                blocked_writers: 0,
            }),
            reader,
            writable: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, BufferState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offer(&self, overflow: Overflow, msg: Published<T>, wait_if_full: bool) -> Offer<T> {
        let mut s = self.state();
        if s.closed {
            return Offer::Closed;
        }
        let was_empty = s.pending.len() == 0;
        let capacity = s.capacity;
        let mut evicted = false;
        match &mut s.pending {
            Pending::Fifo(q) => {
                if q.len() >= capacity {
                    match overflow {
                        Overflow::DropOldest => {
                            q.pop_front();
                            evicted = true;
                        }
                        Overflow::DropNewest => return Offer::Refused,
                        Overflow::Block | Overflow::LatestPerKey => {
                            if wait_if_full {
                                s.blocked_writers += 1;
                            }
                            return Offer::Full(msg);
                        }
                    }
                }
                q.push_back(msg);
            }
            Pending::Latest { order, values } => {
                let key = msg.key();
                if values.insert(key, msg).is_some() {
                    evicted = true;
                } else {
                    order.push_back(key);
                }
            }
        }
        let wake = match self.reader {
            Reader::Stream(_) => was_empty,
            Reader::Actor(_) => !std::mem::replace(&mut s.drain_scheduled, true),
        };
        Offer::Taken { evicted, wake }
    }

    /// Takes the next message; also says whether more are waiting.
    fn take(&self) -> (Option<Published<T>>, bool) {
        let mut s = self.state();
        let item = s.pending.pop();
        let more = s.pending.len() > 0;
        if !more {
            s.drain_scheduled = false;
        }
        let wake_writers = item.is_some() && s.blocked_writers > 0;
        drop(s);
        if wake_writers {
            self.writable.notify_waiters();
        }
        (item, more)
    }

    fn is_closed(&self) -> bool {
        self.state().closed
    }

    fn len(&self) -> usize {
        self.state().pending.len()
    }

    /// Closes the buffer; returns how many waiting messages were discarded.
    fn close(&self) -> usize {
        let mut s = self.state();
        if s.closed {
            return 0;
        }
        s.closed = true;
        let discarded = s.pending.len();
        s.pending.clear();
        drop(s);
        self.writable.notify_waiters();
        if let Reader::Stream(readable) = &self.reader {
            readable.notify_one();
        }
        discarded
    }
}

impl<T: Send + Sync + 'static> Entry<T> {
    pub(crate) fn new(
        pattern: Pattern,
        pattern_text: &str,
        options: &SubscribeOptions,
        target: Target<T>,
        table: Weak<Table<T>>,
        runtime: Handle,
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
        }
    }

    /// True when a message on `topic` with `key` is for this subscription.
    #[inline]
    pub(crate) fn accepts(&self, topic: &str, key: Option<u64>) -> bool {
        self.active.load(Ordering::Relaxed)
            && (self.key.is_none() || self.key == key)
            && self.pattern.matches(topic)
    }

    /// Delivers without waiting; hands the message back when a `Block` subscriber is full.
    #[inline]
    pub(crate) fn try_deliver(
        self: &Arc<Self>,
        msg: &Published<T>,
        report: &mut PublishReport,
    ) -> Attempt<T> {
        match &self.target {
            Target::Mailbox(sink) => match sink.try_tell(msg.clone()) {
                Ok(()) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    report.delivered += 1;
                }
                Err(TrySendError::Full(back)) => {
                    if self.overflow == Overflow::Block {
                        return Attempt::Wait(back);
                    }
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    report.dropped += 1;
                }
                Err(TrySendError::Closed(_)) => self.found_dead(report),
            },
            Target::Buffer(buffer) => match buffer.offer(self.overflow, msg.clone(), false) {
                Offer::Taken { evicted, wake } => self.taken(evicted, wake, report),
                Offer::Refused => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    report.dropped += 1;
                }
                Offer::Full(back) => return Attempt::Wait(back),
                Offer::Closed => {}
            },
        }
        Attempt::Done
    }

    /// Delivers to a full `Block` subscriber, waiting for room. No lock is held meanwhile.
    pub(crate) async fn deliver_waiting(
        self: &Arc<Self>,
        mut msg: Published<T>,
        report: &mut PublishReport,
    ) {
        match &self.target {
            Target::Mailbox(sink) => match sink.tell(msg).await {
                Ok(()) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    report.delivered += 1;
                }
                Err(_) => self.found_dead(report),
            },
            Target::Buffer(buffer) => loop {
                let writable = buffer.writable.notified();
                let mut writable = std::pin::pin!(writable);
                writable.as_mut().enable();
                match buffer.offer(self.overflow, msg, true) {
                    Offer::Taken { evicted, wake } => return self.taken(evicted, wake, report),
                    Offer::Refused => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        report.dropped += 1;
                        return;
                    }
                    Offer::Closed => return,
                    Offer::Full(back) => {
                        msg = back;
                        let _registered = BlockedWriter(buffer);
                        writable.await;
                    }
                }
            },
        }
    }

    fn taken(self: &Arc<Self>, evicted: bool, wake: bool, report: &mut PublishReport) {
        report.delivered += 1;
        if evicted {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            report.dropped += 1;
        }
        if wake && !self.wake_reader() {
            self.found_dead(report);
        }
    }

    /// Wakes the buffer's reader; false when the reader is an actor that has stopped.
    fn wake_reader(self: &Arc<Self>) -> bool {
        let Target::Buffer(buffer) = &self.target else {
            return true;
        };
        match &buffer.reader {
            Reader::Stream(readable) => {
                readable.notify_one();
                true
            }
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
    pub(crate) fn take_next(self: &Arc<Self>) -> Option<Published<T>> {
        let Target::Buffer(buffer) = &self.target else {
            return None;
        };
        let (item, more) = buffer.take();
        if item.is_some() {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
        if more && matches!(buffer.reader, Reader::Actor(_)) && !self.wake_reader() {
            self.found_dead(&mut PublishReport::default());
        }
        item
    }

    /// For a stream: the next message, waiting for one; `None` once the subscription ended.
    pub(crate) async fn recv(self: &Arc<Self>) -> Option<Published<T>> {
        let Target::Buffer(buffer) = &self.target else {
            return None;
        };
        let Reader::Stream(readable) = &buffer.reader else {
            return None;
        };
        loop {
            if let Some(item) = self.take_next() {
                return Some(item);
            }
            if buffer.is_closed() {
                return None;
            }
            readable.notified().await;
        }
    }

    fn found_dead(&self, report: &mut PublishReport) {
        if self.deactivate() {
            report.removed += 1;
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
        }
        if let Some(table) = self.table.upgrade() {
            table.remove(self);
        }
        true
    }

    /// True while active and its subscriber is alive.
    pub(crate) fn is_live(&self) -> bool {
        self.active.load(Ordering::Acquire)
            && match &self.target {
                Target::Mailbox(sink) => sink.is_alive(),
                Target::Buffer(buffer) => match &buffer.reader {
                    Reader::Stream(_) => true,
                    Reader::Actor(sink) => sink.is_alive(),
                },
            }
    }

    /// True when `topic` (any key) reaches this live subscription.
    pub(crate) fn counts_for(&self, topic: &str) -> bool {
        self.is_live() && self.pattern.matches(topic)
    }
}

/// Keeps a buffer's count of blocked publishers right, even if the waiting publish is dropped.
struct BlockedWriter<'a, T: Send + Sync + 'static>(&'a Buffer<T>);

impl<T: Send + Sync + 'static> Drop for BlockedWriter<'_, T> {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.blocked_writers = s.blocked_writers.saturating_sub(1);
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

/// The message that tells an actor to take the next message out of a subscription's side
/// buffer. Handled by the blanket `Handler` impl below; it never needs naming.
#[doc(hidden)]
pub struct TopicDrain<T: Send + Sync + 'static>(Arc<Entry<T>>);

/// The reply of a drain message: the actor's own reply to the message drained, if any.
#[doc(hidden)]
pub struct DrainReply<R>(Option<R>);

impl<R: Reply> Reply for DrainReply<R> {
    fn failure(&self) -> Option<String> {
        self.0.as_ref().and_then(Reply::failure)
    }
}

impl<A, T> Handler<TopicDrain<T>> for A
where
    A: Handler<Published<T>>,
    T: Send + Sync + 'static,
{
    type Reply = DrainReply<<A as Handler<Published<T>>>::Reply>;

    async fn handle(&mut self, drain: TopicDrain<T>, ctx: &mut Context<A>) -> Self::Reply {
        match drain.0.take_next() {
            Some(msg) => DrainReply(Some(
                <A as Handler<Published<T>>>::handle(self, msg, ctx).await,
            )),
            None => DrainReply(None),
        }
    }
}

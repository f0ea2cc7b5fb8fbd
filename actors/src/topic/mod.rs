//! Typed topics: publish once, deliver one shared value to every subscriber.
//!
//! ```
//! use mycelium_actors::{
//!     Actor, BoxError, Bus, Context, Handler, Published, SubscribeOptions,
//! };
//!
//! struct Quote { bid: f64 }
//!
//! struct Strategy { last_bid: f64 }
//! impl Actor for Strategy {
//!     type Args = ();
//!     async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
//!         // Every quote of every instrument; the subscription lasts as long as this
//!         // incarnation of the actor.
//!         ctx.subscribe::<Quote>("md.quote.*", SubscribeOptions::new())?;
//!         Ok(Strategy { last_bid: 0.0 })
//!     }
//! }
//! impl Handler<Published<Quote>> for Strategy {
//!     type Reply = ();
//!     async fn handle(&mut self, quote: Published<Quote>, _ctx: &mut Context<Self>) {
//!         self.last_bid = quote.bid; // `Published<T>` derefs to `T`
//!     }
//! }
//! struct LastBid;
//! impl Handler<LastBid> for Strategy {
//!     type Reply = f64;
//!     async fn handle(&mut self, _: LastBid, _ctx: &mut Context<Self>) -> f64 { self.last_bid }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let strategy = bus.spawn::<Strategy>(());
//! strategy.ask(LastBid).await.unwrap(); // on_start has run: the subscription exists
//!
//! // From outside an actor: a stream.
//! let mut tape = bus.subscribe_stream::<Quote>("md.quote.AAPL", SubscribeOptions::new()).unwrap();
//!
//! let report = bus.publish("md.quote.AAPL", Quote { bid: 189.5 }).await.unwrap();
//! assert_eq!(report.delivered, 2);
//! assert_eq!(tape.recv().await.unwrap().bid, 189.5);
//! assert_eq!(strategy.ask(LastBid).await.unwrap(), 189.5);
//! # });
//! ```
//!
//! # Model
//!
//! - Topics belong to a [`Bus`](crate::Bus): two buses never share one. Within a bus a topic
//!   is a message type `T` and a dotted name; subscriptions of another type never see it.
//! - [`Bus::publish`](crate::Bus::publish) wraps the message once in a [`Published<T>`] (one
//!   allocation per publish) and hands a clone of that handle — one reference-count increment,
//!   never a copy of `T` — to each matching subscription, **in subscription order**.
//! - A subscription names a pattern (see below), optionally a key
//!   ([`SubscribeOptions::key`]) and an [`Overflow`] policy saying what happens when the
//!   subscriber is slower than the publisher. Every dropped message is counted in the
//!   subscription's [`SubscriptionStats`] and in the publisher's [`PublishReport`].
//! - Subscriptions of stopped actors and dropped streams are removed.
//!
//! # Names and patterns
//!
//! A **topic name** is one or more dot-separated segments, such as `md.quote.AAPL`; a segment
//! is not empty, holds no `.`, no `*`, no whitespace and no control character, and is not
//! `>`, `#` or `+` alone (other systems' wildcards, refused rather than matched literally).
//! A **pattern** is a name (matches exactly that name), a name followed by `.*` (`md.quote.*` matches `md.quote.AAPL` and
//! `md.quote.AAPL.bid`, but not `md.quote`), or `*` alone (every name).
//!
//! # Overflow policies
//!
//! | Policy | Actor subscriber | Stream subscriber |
//! | --- | --- | --- |
//! | [`Block`](Overflow::Block) (default) | the publisher waits for room in the actor's mailbox | the publisher waits for room in the stream's buffer |
//! | [`DropNewest`](Overflow::DropNewest) | when the mailbox is full, the new message is dropped | same, with the stream's buffer |
//! | [`DropOldest`](Overflow::DropOldest) | a side buffer of `capacity` keeps the newest messages | same, with the stream's buffer |
//! | [`LatestPerKey`](Overflow::LatestPerKey) | a side buffer keeps the newest message of each key | same |
//!
//! `Block` and `DropNewest` deliver straight into the actor's mailbox: one handle clone and
//! one mailbox push per subscriber, no allocation. `DropOldest` and `LatestPerKey` keep their
//! messages in a per-subscription side buffer and have at most one small "drain" message in
//! the actor's mailbox; handling it takes the next message out of the buffer and runs the
//! actor's `Handler<Published<T>>`. The extra hop is what lets the policy choose, at the last
//! moment, what the slow actor sees. The next drain message queues behind whatever else is in
//! the mailbox, so other messages are not starved; a drain message still queued when the actor
//! stops goes to the dead letters like any message, and what waited in the side buffer is
//! counted as dropped.
//!
//! A publisher that hits a full `Block` subscriber waits for it before delivering to the
//! subscribers after it, so delivery order holds. An actor that publishes through a `Block`
//! subscription to itself, or around a cycle of actors, while the mailboxes are full waits
//! forever; use a drop policy on one side of such a cycle.
//!
//! # Lifetimes
//!
//! - [`Context::subscribe`](crate::Context::subscribe): the subscription belongs to the actor's
//!   incarnation, like a timer. It ends when the incarnation ends (right after `on_stop`,
//!   whether the actor stops for good, fails or is restarted), and the next incarnation's
//!   `on_start` subscribes again. While a failed actor waits for its restart it is subscribed
//!   to nothing: publishes in that time do not reach it, and only the messages already in its
//!   mailbox wait for the next incarnation.
//! - [`Bus::subscribe_stream`](crate::Bus::subscribe_stream): ends when the [`TopicStream`] is
//!   dropped.
//! - [`Bus::subscribe_actor`](crate::Bus::subscribe_actor) and
//!   [`Bus::subscribe_recipient`](crate::Bus::subscribe_recipient): end with
//!   [`Subscription::cancel`], or at the first publish that finds the subscriber stopped.

mod buffer;
mod bus_methods;
mod counted;
mod drain;
mod entry;
mod pattern;
mod prepaid;
mod publisher;
mod registry;
mod stream;
mod subscription;
mod table;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use smol_str::SmolStr;

use crate::telemetry::TopicMetrics;
use counted::Counted;

pub use crate::error::TopicError;
pub use publisher::Publisher;
pub(crate) use registry::TopicRegistry;
pub use stream::TopicStream;
pub(crate) use subscription::SubscriptionSet;
pub use subscription::{Overflow, SubscribeOptions, Subscription, SubscriptionStats};

/// One published message as a subscriber receives it: the topic it was published on, its key
/// if any, and the message itself, shared by every subscriber.
///
/// Cloning is one reference-count increment. It derefs to `T`. An actor receives it through
/// `impl Handler<Published<T>> for MyActor`.
pub struct Published<T> {
    inner: Counted<Publication<T>>,
}

struct Publication<T> {
    /// Names of up to 23 bytes (most) are copied in place: a publish neither allocates one
    /// nor counts a shared one.
    topic: SmolStr,
    key: Option<u64>,
    msg: T,
    /// When it was published (bus time) and its topic's instruments, on a bus that records
    /// metrics.
    stamp: Option<(Duration, Arc<TopicMetrics>)>,
}

impl<T> Published<T> {
    pub(crate) fn new(
        topic: SmolStr,
        key: Option<u64>,
        msg: T,
        metrics: Option<Arc<TopicMetrics>>,
    ) -> Self {
        let stamp = metrics.map(|m| {
            m.published();
            (m.clock.now_in_task(), m)
        });
        Published {
            inner: Counted::new(Publication {
                topic,
                key,
                msg,
                stamp,
            }),
        }
    }

    /// Records the delivery latency, on a bus that records metrics.
    #[inline]
    pub(crate) fn record_delivery(&self) {
        if let Some((at, metrics)) = &self.inner.stamp {
            metrics.delivered(*at);
        }
    }

    /// The topic name it was published on (useful with wildcard patterns).
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The key it was published with ([`Bus::publish_keyed`](crate::Bus::publish_keyed)).
    pub fn key(&self) -> Option<u64> {
        self.inner.key
    }

    /// The message.
    pub fn msg(&self) -> &T {
        &self.inner.msg
    }

    /// True when both are the same publication (the same shared message, not a copy).
    pub fn ptr_eq(a: &Published<T>, b: &Published<T>) -> bool {
        Counted::ptr_eq(&a.inner, &b.inner)
    }
}

impl<T> Clone for Published<T> {
    fn clone(&self) -> Self {
        Published {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Deref for Published<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner.msg
    }
}

impl<T: Send + Sync + 'static> crate::handler::Reply for Published<T> {}
impl crate::handler::Reply for PublishReport {}
impl crate::handler::Reply for SubscriptionStats {}
impl crate::handler::Reply for Subscription {}

impl<T: fmt::Debug> fmt::Debug for Published<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Published")
            .field("topic", &self.topic())
            .field("key", &self.key())
            .field("msg", self.msg())
            .finish()
    }
}

/// Checks a subscription pattern against the grammar above without subscribing: for code
/// that sends a pattern elsewhere (to another node) and wants the caller to hear of a bad
/// one at once.
///
/// ```
/// use mycelium_actors::topic::check_pattern;
///
/// assert!(check_pattern("md.quote.*").is_ok());
/// let bad = check_pattern("md.*.quote").unwrap_err();
/// assert!(bad.to_string().contains("`*` may only stand alone as the last segment"));
/// ```
pub fn check_pattern(pattern: &str) -> Result<(), TopicError> {
    pattern::Pattern::parse(pattern).map(|_| ())
}

/// What one publish did, summed over the subscriptions it matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Live subscriptions whose type, pattern and key matched.
    pub matched: usize,
    /// Subscriptions that took the message: into the actor's mailbox, its side buffer or the
    /// stream's buffer.
    pub delivered: usize,
    /// Messages dropped during this publish: this message, refused by a full `DropNewest`
    /// subscriber or held for a `Block` one whose subscription ended while the publisher
    /// waited for room, or an older message evicted by `DropOldest` or replaced by
    /// `LatestPerKey`.
    pub dropped: usize,
    /// Subscriptions found dead (stopped actor, dropped stream) and removed.
    pub removed: usize,
}

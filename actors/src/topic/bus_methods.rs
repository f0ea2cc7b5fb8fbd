//! The topic methods of `Bus` and `Context`: publishing and subscribing.

use std::sync::Arc;

use smol_str::SmolStr;

use crate::envelope::BoxFuture;
use crate::error::{SendError, TrySendError};
use crate::telemetry::dropped_counter;
use crate::topic::buffer::{Buffer, Reader};
use crate::topic::drain::TimedSink;
use crate::topic::entry::Target;
use crate::topic::pattern::validate_name;
use crate::topic::publisher::{fan_out, Publisher};
use crate::topic::registry::subscribe;
use crate::topic::stream::TopicStream;
use crate::topic::subscription::{Overflow, SubscribeOptions, Subscription};
use crate::topic::{PublishReport, Published, TopicError};
use crate::{Actor, ActorId, ActorRef, Bus, Context, Handler, MessageSink, Recipient};

/// The target of an actor's subscription: its mailbox, or a side buffer it drains.
fn actor_target<A, T>(actor: &ActorRef<A>, options: &SubscribeOptions, timed: bool) -> Target<T>
where
    A: Handler<Published<T>>,
    T: Send + Sync + 'static,
{
    match options.overflow {
        // On a bus that records metrics, a wrapper message records the delivery latency when
        // the actor takes it.
        Overflow::Block | Overflow::DropNewest if timed => {
            Target::Mailbox(Arc::new(TimedSink(actor.shared.clone())))
        }
        Overflow::Block | Overflow::DropNewest => {
            let sink: Arc<dyn MessageSink<Published<T>>> = actor.shared.clone();
            Target::Mailbox(sink)
        }
        Overflow::DropOldest | Overflow::LatestPerKey => {
            Target::Buffer(Buffer::new(options, Reader::Actor(actor.shared.clone())))
        }
    }
}

/// A recipient as the target of a subscription. It delivers to the recipient's sink: a
/// delivery is not a send of the (recorded) publisher, whose report is its publication.
struct RecipientSink<M>(Recipient<M>);

impl<M: Send + 'static> MessageSink<M> for RecipientSink<M> {
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        self.0.sink().try_tell(msg)
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        self.0.sink().tell(msg)
    }

    fn id(&self) -> ActorId {
        self.0.id()
    }

    fn is_alive(&self) -> bool {
        self.0.is_alive()
    }
}

impl Bus {
    /// Publishes `msg` on topic `topic`: every live subscription of type `T` whose pattern
    /// matches receives the same shared [`Published<T>`], in subscription order. Waits only
    /// for full subscribers that chose [`Overflow::Block`].
    ///
    /// Fails only on a malformed topic name (see [the grammar](crate::topic#names-and-patterns)).
    /// Each call checks the name, finds the table of `T` under a short lock and allocates the
    /// shared message (a name of up to 23 bytes is copied into it; a longer one is allocated
    /// beside it). To publish on one topic many times, a [`Publisher`] checks the name and
    /// finds the table once: its publish took half as long (measured at 4a0b7a6, 2026-11-27:
    /// docs/perf/actors.md).
    pub async fn publish<T: Send + Sync + 'static>(
        &self,
        topic: &str,
        msg: T,
    ) -> Result<PublishReport, TopicError> {
        self.publish_inner(topic, None, msg).await
    }

    /// Like [`publish`](Self::publish), with a key (an instrument id, say) that key-filtered
    /// subscriptions select on and [`Overflow::LatestPerKey`] conflates by.
    pub async fn publish_keyed<T: Send + Sync + 'static>(
        &self,
        topic: &str,
        key: u64,
        msg: T,
    ) -> Result<PublishReport, TopicError> {
        self.publish_inner(topic, Some(key), msg).await
    }

    async fn publish_inner<T: Send + Sync + 'static>(
        &self,
        topic: &str,
        key: Option<u64>,
        msg: T,
    ) -> Result<PublishReport, TopicError> {
        validate_name(topic)?;
        crate::recording::sent(|| crate::recording::Sent::Publish { topic }, &msg);
        let metrics = self.topics().metrics.as_ref().map(|c| c.get(topic));
        let Some(table) = self.topics().existing::<T>() else {
            if let Some(m) = metrics {
                m.published();
            }
            return Ok(PublishReport::default());
        };
        let published = Published::new(SmolStr::new(topic), key, msg, metrics);
        Ok(fan_out(&table, published).await)
    }

    /// A publisher for one topic: the name is checked once, and each publish skips the lookup
    /// of the topic table.
    pub fn publisher<T: Send + Sync + 'static>(
        &self,
        topic: &str,
    ) -> Result<Publisher<T>, TopicError> {
        validate_name(topic)?;
        let topics = self.topics();
        Ok(Publisher::new(
            topics.table::<T>(),
            SmolStr::new(topic),
            topics.metrics.clone(),
        ))
    }

    /// Subscribes from outside an actor: the messages of type `T` published on topics that
    /// match `pattern` wait in the returned stream's buffer (`options.capacity`, applied with
    /// `options.overflow`). Dropping the stream ends the subscription.
    pub fn subscribe_stream<T: Send + Sync + 'static>(
        &self,
        pattern: &str,
        options: SubscribeOptions,
    ) -> Result<TopicStream<T>, TopicError> {
        self.subscribe_buffered(pattern, options, "stream")
    }

    /// A stream's subscription, its drops counted under `subscriber`.
    fn subscribe_buffered<T: Send + Sync + 'static>(
        &self,
        pattern: &str,
        options: SubscribeOptions,
        subscriber: &str,
    ) -> Result<TopicStream<T>, TopicError> {
        let table = self.topics().table::<T>();
        let dropped = dropped_counter(self, pattern, subscriber);
        let entry = subscribe(&table, pattern, &options, self.runtime(), dropped, || {
            Target::Buffer(Buffer::new(&options, Reader::Stream))
        })?;
        Ok(TopicStream::new(entry))
    }

    /// Subscribes an actor from outside it. Unlike [`Context::subscribe`], the subscription
    /// does not end when the actor restarts: it ends with [`Subscription::cancel`], or when
    /// the actor has stopped for good (noticed at the next publish).
    pub fn subscribe_actor<A, T>(
        &self,
        actor: &ActorRef<A>,
        pattern: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, TopicError>
    where
        A: Handler<Published<T>>,
        T: Send + Sync + 'static,
    {
        let table = self.topics().table::<T>();
        let subscriber = actor.shared.name.as_deref().unwrap_or(A::type_name());
        let dropped = dropped_counter(self, pattern, subscriber);
        let timed = self.metrics_enabled();
        let entry = subscribe(&table, pattern, &options, self.runtime(), dropped, || {
            actor_target(actor, &options, timed)
        })?;
        Ok(Subscription::new(entry))
    }

    /// Subscribes a [`Recipient`]: any [`MessageSink`], such as a proxy for a mailbox in
    /// another process. It ends with [`Subscription::cancel`] or when the recipient is found
    /// stopped.
    ///
    /// `Block` and `DropNewest` deliver straight into the recipient. `DropOldest` and
    /// `LatestPerKey` apply the policy in a buffer that a small task on the bus's runtime
    /// forwards from, waiting for room in the recipient. The policy applies only once the
    /// recipient's own queue is full, so a slow recipient first sees what that queue holds;
    /// an actor subscribed with [`subscribe_actor`](Self::subscribe_actor) does not.
    pub fn subscribe_recipient<T: Send + Sync + 'static>(
        &self,
        recipient: Recipient<Published<T>>,
        pattern: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, TopicError> {
        if let Overflow::Block | Overflow::DropNewest = options.overflow {
            let dropped = dropped_counter(self, pattern, "recipient");
            let entry = subscribe(
                &self.topics().table::<T>(),
                pattern,
                &options,
                self.runtime(),
                dropped,
                || Target::Mailbox(Arc::new(RecipientSink(recipient))),
            )?;
            return Ok(Subscription::new(entry));
        }
        let mut stream = self.subscribe_buffered::<T>(pattern, options, "recipient")?;
        let subscription = stream.subscription();
        self.runtime().spawn(async move {
            while let Some(msg) = stream.recv().await {
                if recipient.tell(msg).await.is_err() {
                    // The recipient has stopped: the message in hand counts as dropped, like
                    // those still buffered, which dropping the stream (ending the
                    // subscription) discards and counts.
                    stream.count_lost();
                    break;
                }
            }
        });
        Ok(subscription)
    }

    /// How many live subscriptions of type `T` a message on `topic` would reach (ignoring
    /// key filters).
    pub fn subscriber_count<T: Send + Sync + 'static>(&self, topic: &str) -> usize {
        match self.topics().existing::<T>() {
            Some(table) => table
                .snapshot()
                .iter()
                .filter(|e| e.counts_for(topic))
                .count(),
            None => 0,
        }
    }
}

impl<A: Actor> Context<A> {
    /// Subscribes this actor to the messages of type `T` published on topics matching
    /// `pattern`; they arrive as [`Published<T>`] through `Handler<Published<T>>`.
    ///
    /// The subscription belongs to this incarnation, like a timer: it ends when the actor
    /// restarts or stops (so subscribe in `on_start`), or earlier with
    /// [`Subscription::cancel`].
    pub fn subscribe<T>(
        &mut self,
        pattern: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, TopicError>
    where
        A: Handler<Published<T>>,
        T: Send + Sync + 'static,
    {
        let subscription =
            self.bus()
                .subscribe_actor::<A, T>(self.actor_ref(), pattern, options)?;
        self.keep_subscription(subscription.clone());
        Ok(subscription)
    }

    /// Publishes on the actor's bus; see [`Bus::publish`].
    pub async fn publish<T: Send + Sync + 'static>(
        &self,
        topic: &str,
        msg: T,
    ) -> Result<PublishReport, TopicError> {
        self.bus().publish(topic, msg).await
    }

    /// Publishes with a key on the actor's bus; see [`Bus::publish_keyed`].
    pub async fn publish_keyed<T: Send + Sync + 'static>(
        &self,
        topic: &str,
        key: u64,
        msg: T,
    ) -> Result<PublishReport, TopicError> {
        self.bus().publish_keyed(topic, key, msg).await
    }
}

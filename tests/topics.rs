//! Typed topics: delivery order, one shared message, keys, wildcards, overflow policies with
//! exact drop counts, removal of dead subscribers, bus isolation. All on the virtual clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium::actors::MessageSink;
use mycelium::actors::{
    ActorId, MailboxConfig, PublishReport, Recipient, SpawnOptions, Subscription,
    SubscriptionStats, TopicError, TopicStream, TrySendError,
};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};
use tokio::sync::oneshot;

/// An actor that subscribes in `on_start` and records what it receives.
#[derive(Clone)]
struct SubArgs {
    name: &'static str,
    pattern: &'static str,
    options: SubscribeOptions,
    log: Log,
}

impl SubArgs {
    fn new(name: &'static str, pattern: &'static str, options: SubscribeOptions) -> Self {
        SubArgs {
            name,
            pattern,
            options,
            log: Log::default(),
        }
    }

    fn log(mut self, log: &Log) -> Self {
        self.log = log.clone();
        self
    }
}

struct Sub {
    name: &'static str,
    log: Log,
    got: Vec<Published<u64>>,
    subscription: Subscription,
}

impl Actor for Sub {
    type Args = SubArgs;
    async fn on_start(args: SubArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let subscription = ctx.subscribe::<u64>(args.pattern, args.options)?;
        args.log.push(format!("start {}", args.name));
        Ok(Sub {
            name: args.name,
            log: args.log,
            got: Vec::new(),
            subscription,
        })
    }
}

impl Handler<Published<u64>> for Sub {
    type Reply = ();
    async fn handle(&mut self, msg: Published<u64>, _ctx: &mut Context<Self>) {
        self.log.push(format!("{} {}", self.name, *msg));
        self.got.push(msg);
    }
}

/// The values received so far.
struct Got;
impl Handler<Got> for Sub {
    type Reply = Vec<u64>;
    async fn handle(&mut self, _: Got, _ctx: &mut Context<Self>) -> Vec<u64> {
        self.got.iter().map(|m| **m).collect()
    }
}

/// The messages received so far, as delivered.
struct Raw;
impl Handler<Raw> for Sub {
    type Reply = Vec<Published<u64>>;
    async fn handle(&mut self, _: Raw, _ctx: &mut Context<Self>) -> Vec<Published<u64>> {
        self.got.clone()
    }
}

struct Stats;
impl Handler<Stats> for Sub {
    type Reply = SubscriptionStats;
    async fn handle(&mut self, _: Stats, _ctx: &mut Context<Self>) -> SubscriptionStats {
        self.subscription.stats()
    }
}

/// Holds the actor in this handler until the sender fires.
struct Hold(oneshot::Receiver<()>);
impl Handler<Hold> for Sub {
    type Reply = ();
    async fn handle(&mut self, Hold(go): Hold, _ctx: &mut Context<Self>) {
        let _ = go.await;
    }
}

/// Publishes from inside the actor.
struct PublishFrom(&'static str, u64);
impl Handler<PublishFrom> for Sub {
    type Reply = Result<PublishReport, TopicError>;
    async fn handle(
        &mut self,
        PublishFrom(topic, n): PublishFrom,
        ctx: &mut Context<Self>,
    ) -> Result<PublishReport, TopicError> {
        ctx.publish(topic, n).await
    }
}

/// Spawns a subscriber and waits until its `on_start` (and so its subscription) has run.
async fn subscriber(bus: &Bus, args: SubArgs) -> ActorRef<Sub> {
    subscriber_with(bus, args, SpawnOptions::new()).await
}

async fn subscriber_with(bus: &Bus, args: SubArgs, options: SpawnOptions) -> ActorRef<Sub> {
    let (started, ready) = oneshot::channel();
    let actor = bus
        .spawn_with::<Sub>(args, options.on_started(started))
        .unwrap();
    ready.await.unwrap();
    actor
}

/// Parks the actor in a handler; returns the key that lets it go on.
async fn hold(actor: &ActorRef<Sub>) -> oneshot::Sender<()> {
    let (go, wait) = oneshot::channel();
    actor.tell(Hold(wait)).await.unwrap();
    // Let the actor take the message out of its mailbox and park in the handler.
    settle().await;
    go
}

/// Lets every runnable task run until all of them wait (the paused clock then jumps, so an
/// hour of bus time passes at once, without wall time).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

fn drain<T: Send + Sync + 'static>(stream: &mut TopicStream<T>) -> Vec<Published<T>> {
    let mut out = Vec::new();
    while let Some(m) = stream.try_recv() {
        out.push(m);
    }
    out
}

fn values(msgs: &[Published<u64>]) -> Vec<u64> {
    msgs.iter().map(|m| **m).collect()
}

/// A recipient that logs each message the moment it is delivered to it.
struct Witness {
    name: &'static str,
    log: Log,
    id: ActorId,
}

impl MessageSink<Published<u64>> for Witness {
    fn try_tell(&self, msg: Published<u64>) -> Result<(), TrySendError<Published<u64>>> {
        self.log.push(format!("{} {}", self.name, *msg));
        Ok(())
    }
    fn tell(
        &self,
        msg: Published<u64>,
    ) -> mycelium::actors::BoxFuture<'_, Result<(), SendError<Published<u64>>>> {
        let r = self.try_tell(msg).map_err(|e| SendError(e.into_inner()));
        Box::pin(async move { r })
    }
    fn id(&self) -> ActorId {
        self.id
    }
    fn is_alive(&self) -> bool {
        true
    }
}

#[tokio::test(start_paused = true)]
async fn delivery_follows_subscription_order() {
    let bus = virtual_bus(1);
    let log = Log::default();
    // A witness needs an actor id to report; any will do.
    let id = subscriber(&bus, SubArgs::new("-", "unused", SubscribeOptions::new()))
        .await
        .id();
    // Subscribe in an order unrelated to the names.
    for name in ["c", "a", "d", "b"] {
        let witness = Recipient::new(Arc::new(Witness {
            name,
            log: log.clone(),
            id,
        }));
        bus.subscribe_recipient(witness, "t", SubscribeOptions::new())
            .unwrap();
    }
    for n in 1..=2 {
        let report = bus.publish("t", n as u64).await.unwrap();
        assert_eq!(report.delivered, 4);
    }
    assert_eq!(
        log.take(),
        ["c 1", "a 1", "d 1", "b 1", "c 2", "a 2", "d 2", "b 2"]
    );

    // Actors too: the publisher wakes them in subscription order, so on one thread they
    // handle the message in that order.
    let actor_log = Log::default();
    for name in ["z", "x", "y"] {
        subscriber(
            &bus,
            SubArgs::new(name, "u", SubscribeOptions::new()).log(&actor_log),
        )
        .await;
    }
    actor_log.take();
    bus.publish("u", 7u64).await.unwrap();
    settle().await;
    assert_eq!(actor_log.take(), ["z 7", "x 7", "y 7"]);
}

#[tokio::test(start_paused = true)]
async fn every_subscriber_gets_the_same_shared_message() {
    let bus = virtual_bus(1);
    let a = subscriber(&bus, SubArgs::new("a", "t", SubscribeOptions::new())).await;
    let b = subscriber(&bus, SubArgs::new("b", "t", SubscribeOptions::new())).await;
    let mut s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    let report = bus.publish("t", 42u64).await.unwrap();
    assert_eq!(
        report,
        PublishReport {
            matched: 3,
            delivered: 3,
            dropped: 0,
            removed: 0
        }
    );
    let from_a = a.ask(Raw).await.unwrap().remove(0);
    let from_b = b.ask(Raw).await.unwrap().remove(0);
    let from_s = s.recv().await.unwrap();
    assert!(Published::ptr_eq(&from_a, &from_b));
    assert!(Published::ptr_eq(&from_a, &from_s));
    assert!(std::ptr::eq(from_a.msg(), from_s.msg()));
    assert_eq!((from_s.topic(), from_s.key(), *from_s), ("t", None, 42));
}

#[tokio::test(start_paused = true)]
async fn key_filters_select_on_the_published_key() {
    let bus = virtual_bus(1);
    let mut one = bus
        .subscribe_stream::<u64>("md.quote.AAPL", SubscribeOptions::new().key(1))
        .unwrap();
    let mut all = bus
        .subscribe_stream::<u64>("md.quote.AAPL", SubscribeOptions::new())
        .unwrap();
    for (key, n) in [(1, 10), (2, 20), (1, 11)] {
        bus.publish_keyed("md.quote.AAPL", key, n as u64)
            .await
            .unwrap();
    }
    let unkeyed = bus.publish("md.quote.AAPL", 99u64).await.unwrap();
    assert_eq!(
        unkeyed.matched, 1,
        "a key filter does not take unkeyed messages"
    );
    let got = drain(&mut one);
    assert_eq!(values(&got), [10, 11]);
    assert!(got.iter().all(|m| m.key() == Some(1)));
    assert_eq!(values(&drain(&mut all)), [10, 20, 11, 99]);
}

#[tokio::test(start_paused = true)]
async fn wildcard_patterns_match_by_segments() {
    let bus = virtual_bus(1);
    let mut quotes = bus
        .subscribe_stream::<u64>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    let mut everything = bus
        .subscribe_stream::<u64>("*", SubscribeOptions::new())
        .unwrap();
    for (i, topic) in [
        "md.quote.AAPL",
        "md.trade.AAPL",
        "md.quote",
        "md.quote.MSFT.bid",
        "md.quotes.X",
    ]
    .into_iter()
    .enumerate()
    {
        bus.publish(topic, i as u64).await.unwrap();
    }
    let got = drain(&mut quotes);
    let topics: Vec<&str> = got.iter().map(|m| m.topic()).collect();
    assert_eq!(topics, ["md.quote.AAPL", "md.quote.MSFT.bid"]);
    assert_eq!(drain(&mut everything).len(), 5);
    assert_eq!(bus.subscriber_count::<u64>("md.quote.AAPL"), 2);
    assert_eq!(bus.subscriber_count::<u64>("md.trade.AAPL"), 1);
}

#[tokio::test(start_paused = true)]
async fn malformed_names_and_patterns_are_refused() {
    let bus = virtual_bus(1);
    let err = bus.publish("md..quote", 1u64).await.unwrap_err();
    assert!(matches!(err, TopicError::InvalidName { .. }), "{err}");
    assert!(bus.publish("md.*", 1u64).await.is_err());
    assert!(bus.publisher::<u64>("").is_err());
    let err = bus
        .subscribe_stream::<u64>("md.*.AAPL", SubscribeOptions::new())
        .unwrap_err();
    assert!(matches!(err, TopicError::InvalidPattern { .. }), "{err}");
    assert!(err.to_string().contains("`md.*.AAPL`"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn block_backpressures_the_publisher_of_a_full_stream() {
    let bus = virtual_bus(1);
    let mut s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::block().capacity(2))
        .unwrap();
    bus.publish("t", 1u64).await.unwrap();
    bus.publish("t", 2u64).await.unwrap();
    let publisher = bus.publisher::<u64>("t").unwrap();
    let third = tokio::spawn(async move { publisher.publish(3).await });
    settle().await;
    assert!(
        !third.is_finished(),
        "the publisher waits while the stream is full"
    );
    assert_eq!(*s.recv().await.unwrap(), 1);
    let report = third.await.unwrap();
    assert_eq!((report.delivered, report.dropped), (1, 0));
    assert_eq!(values(&drain(&mut s)), [2, 3]);
    assert_eq!(s.stats().dropped, 0);
    assert_eq!(s.stats().delivered, 3);
}

#[tokio::test(start_paused = true)]
async fn block_backpressures_the_publisher_of_a_full_actor() {
    let bus = virtual_bus(1);
    let sub = subscriber_with(
        &bus,
        SubArgs::new("a", "t", SubscribeOptions::block()),
        SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
    )
    .await;
    let go = hold(&sub).await;
    bus.publish("t", 1u64).await.unwrap();
    bus.publish("t", 2u64).await.unwrap();
    let publisher = bus.publisher::<u64>("t").unwrap();
    let third = tokio::spawn(async move { publisher.publish(3).await });
    settle().await;
    assert!(
        !third.is_finished(),
        "the publisher waits while the mailbox is full"
    );
    go.send(()).unwrap();
    assert_eq!(third.await.unwrap().delivered, 1);
    assert_eq!(sub.ask(Got).await.unwrap(), [1, 2, 3]);
    let stats = sub.ask(Stats).await.unwrap();
    assert_eq!((stats.delivered, stats.dropped), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn drop_newest_keeps_the_oldest() {
    let bus = virtual_bus(1);
    // A stream: its own buffer of 3.
    let mut s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::drop_newest().capacity(3))
        .unwrap();
    // An actor: its mailbox of 3.
    let sub = subscriber_with(
        &bus,
        SubArgs::new("a", "t", SubscribeOptions::drop_newest()),
        SpawnOptions::new().mailbox(MailboxConfig::Bounded(3)),
    )
    .await;
    let go = hold(&sub).await;
    let mut dropped = 0;
    for n in 1..=10u64 {
        dropped += bus.publish("t", n).await.unwrap().dropped;
    }
    assert_eq!(dropped, 14, "7 for the stream, 7 for the actor");
    go.send(()).unwrap();
    assert_eq!(values(&drain(&mut s)), [1, 2, 3]);
    assert_eq!(sub.ask(Got).await.unwrap(), [1, 2, 3]);
    assert_eq!(s.stats().dropped, 7);
    let stats = sub.ask(Stats).await.unwrap();
    assert_eq!((stats.delivered, stats.dropped), (3, 7));
}

#[tokio::test(start_paused = true)]
async fn drop_oldest_keeps_the_newest() {
    let bus = virtual_bus(1);
    let mut s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::drop_oldest(3))
        .unwrap();
    let sub = subscriber(
        &bus,
        SubArgs::new("a", "t", SubscribeOptions::drop_oldest(3)),
    )
    .await;
    let go = hold(&sub).await;
    let mut dropped = 0;
    for n in 1..=10u64 {
        let report = bus.publish("t", n).await.unwrap();
        assert_eq!(report.delivered, 2);
        dropped += report.dropped;
    }
    assert_eq!(dropped, 14);
    assert_eq!(s.stats().pending, 3);
    go.send(()).unwrap();
    // Each drain message takes one message out of the side buffer and queues the next drain
    // behind whatever else is in the mailbox: let them all run before asking.
    settle().await;
    assert_eq!(values(&drain(&mut s)), [8, 9, 10]);
    assert_eq!(sub.ask(Got).await.unwrap(), [8, 9, 10]);
    let stats = sub.ask(Stats).await.unwrap();
    assert_eq!(
        stats,
        SubscriptionStats {
            delivered: 3,
            dropped: 7,
            pending: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn latest_per_key_delivers_the_newest_value_of_each_key() {
    let bus = virtual_bus(1);
    let mut s = bus
        .subscribe_stream::<u64>("px", SubscribeOptions::latest_per_key())
        .unwrap();
    let sub = subscriber(
        &bus,
        SubArgs::new("a", "px", SubscribeOptions::latest_per_key()),
    )
    .await;
    let go = hold(&sub).await;
    let mut dropped = 0;
    for (key, px) in [(1, 100), (2, 200), (1, 101), (3, 300), (1, 102), (2, 201)] {
        dropped += bus
            .publish_keyed("px", key, px as u64)
            .await
            .unwrap()
            .dropped;
    }
    assert_eq!(
        dropped, 6,
        "3 replaced values each for the stream and the actor"
    );
    go.send(()).unwrap();
    settle().await;
    // Keys in the order they first waited; each with its newest value.
    let got = drain(&mut s);
    assert_eq!(values(&got), [102, 201, 300]);
    let keys: Vec<_> = got.iter().map(|m| m.key()).collect();
    assert_eq!(keys, [Some(1), Some(2), Some(3)]);
    assert_eq!(sub.ask(Got).await.unwrap(), [102, 201, 300]);
    let stats = sub.ask(Stats).await.unwrap();
    assert_eq!((stats.delivered, stats.dropped), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn a_slow_subscriber_does_not_hold_up_the_others() {
    let bus = virtual_bus(1);
    let slow = subscriber_with(
        &bus,
        SubArgs::new("slow", "t", SubscribeOptions::drop_newest()),
        SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)),
    )
    .await;
    let fast = subscriber(&bus, SubArgs::new("fast", "t", SubscribeOptions::new())).await;
    let _go = hold(&slow).await;
    for n in 1..=5u64 {
        bus.publish("t", n).await.unwrap();
    }
    assert_eq!(fast.ask(Got).await.unwrap(), [1, 2, 3, 4, 5]);
    let stats = slow.ask_timeout(Stats, Duration::from_secs(1)).await;
    assert!(stats.is_err(), "the slow subscriber is still held");
}

#[tokio::test(start_paused = true)]
async fn stopped_actors_and_dropped_streams_are_removed() {
    let bus = virtual_bus(1);
    let a = subscriber(&bus, SubArgs::new("a", "t", SubscribeOptions::new())).await;
    let b = subscriber(
        &bus,
        SubArgs::new("b", "t", SubscribeOptions::drop_oldest(4)),
    )
    .await;
    let s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    assert_eq!(bus.subscriber_count::<u64>("t"), 3);

    a.stop();
    a.wait_for_stop().await;
    assert_eq!(bus.subscriber_count::<u64>("t"), 2);
    b.kill();
    b.wait_for_stop().await;
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    drop(s);
    assert_eq!(bus.subscriber_count::<u64>("t"), 0);
    assert_eq!(bus.publish("t", 1u64).await.unwrap().matched, 0);

    // Subscribed from outside, an actor's subscription outlives nothing: the first publish
    // after it stopped finds it dead and removes it.
    let c = subscriber(&bus, SubArgs::new("c", "other", SubscribeOptions::new())).await;
    let outside = bus
        .subscribe_actor::<Sub, u64>(&c, "t", SubscribeOptions::new())
        .unwrap();
    c.stop();
    c.wait_for_stop().await;
    assert!(!outside.is_active());
    let report = bus.publish("t", 2u64).await.unwrap();
    assert_eq!((report.matched, report.removed), (1, 1));
    assert_eq!(bus.publish("t", 3u64).await.unwrap().matched, 0);
}

/// An actor subscribed from outside with a side buffer, that stops with a drain message in
/// its mailbox (it becomes a dead letter): the next publish finds it stopped although no new
/// drain message is needed, removes the subscription and does not count the message
/// delivered. (Before, the buffer waited for ever for the actor to take its messages: every
/// later message was counted delivered and lost without a report.)
#[tokio::test(start_paused = true)]
async fn a_stopped_actor_with_a_drain_message_queued_is_removed() {
    for (options, kill) in [
        (SubscribeOptions::drop_oldest(4), false),
        (SubscribeOptions::latest_per_key(), true),
    ] {
        let bus = virtual_bus(1);
        let c = subscriber(&bus, SubArgs::new("c", "other", SubscribeOptions::new())).await;
        let outside = bus.subscribe_actor::<Sub, u64>(&c, "t", options).unwrap();
        let report = bus.publish("t", 1u64).await.unwrap();
        assert_eq!((report.matched, report.delivered), (1, 1));
        if kill {
            c.kill();
        } else {
            c.stop();
        }
        c.wait_for_stop().await;
        let report = bus.publish("t", 2u64).await.unwrap();
        assert_eq!(
            (report.matched, report.delivered, report.removed),
            (1, 0, 1),
            "kill: {kill}"
        );
        assert!(!outside.is_active());
        assert_eq!(bus.publish("t", 3u64).await.unwrap().matched, 0);
        assert_eq!(bus.subscriber_count::<u64>("t"), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_subscription_receives_nothing_more() {
    let bus = virtual_bus(1);
    let mut s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    bus.publish("t", 1u64).await.unwrap();
    let handle = s.subscription();
    handle.cancel();
    assert!(!handle.is_active());
    assert_eq!(bus.publish("t", 2u64).await.unwrap().matched, 0);
    assert!(s.recv().await.is_none());
    assert_eq!(
        handle.stats().dropped,
        1,
        "the waiting message was discarded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_restarted_actor_subscribes_once_again() {
    quiet_panics();
    let bus = virtual_bus(1);
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .child(ChildSpec::new::<Sub>(
            "sub",
            SubArgs::new("sub", "t", SubscribeOptions::new()),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let sub = tree.child::<Sub>("sub").unwrap();
    sub.ask(Got).await.unwrap();
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    sub.tell(Crash).await.unwrap();
    // After the restart the new incarnation answers, with a fresh state.
    assert_eq!(sub.ask(Got).await.unwrap(), Vec::<u64>::new());
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    assert_eq!(bus.publish("t", 5u64).await.unwrap().delivered, 1);
    assert_eq!(sub.ask(Got).await.unwrap(), [5]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_actor_receives_nothing_while_it_waits_for_its_restart() {
    quiet_panics();
    let bus = virtual_bus(1);
    let (failed_tx, mut failed) = tokio::sync::mpsc::unbounded_channel();
    let observer_bus = bus.clone();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(1),
        ))
        .on_event(move |event| {
            if let SupervisionEvent::Failed { .. } = event {
                // Seen by the supervisor: the failed incarnation's subscriptions are gone.
                let _ = failed_tx.send(observer_bus.subscriber_count::<u64>("t"));
            }
        })
        .child(ChildSpec::new::<Sub>(
            "sub",
            SubArgs::new("sub", "t", SubscribeOptions::new()),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let sub = tree.child::<Sub>("sub").unwrap();
    bus.publish("t", 1u64).await.unwrap();
    assert_eq!(sub.ask(Got).await.unwrap(), [1]);
    sub.tell(Crash).await.unwrap();
    assert_eq!(failed.recv().await, Some(0));
    // Within the one-second backoff: nothing is subscribed, so nothing piles up.
    let report = bus.publish("t", 2u64).await.unwrap();
    assert_eq!((report.matched, report.delivered), (0, 0));
    // The next incarnation subscribes again and sees only what is published after.
    assert_eq!(sub.ask(Got).await.unwrap(), Vec::<u64>::new());
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    assert_eq!(bus.publish("t", 3u64).await.unwrap().delivered, 1);
    assert_eq!(sub.ask(Got).await.unwrap(), [3]);
}

#[tokio::test(start_paused = true)]
async fn publish_many_gives_every_subscriber_the_batch_in_order() {
    let bus = virtual_bus(1);
    let block = subscriber(&bus, SubArgs::new("block", "t", SubscribeOptions::new())).await;
    let oldest = subscriber(
        &bus,
        SubArgs::new("oldest", "t", SubscribeOptions::drop_oldest(8)),
    )
    .await;
    let mut stream = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    let publisher = bus.publisher::<u64>("t").unwrap();
    let report = publisher.publish_many([1, 2, 3]).await;
    assert_eq!(
        (report.matched, report.delivered, report.dropped),
        (9, 9, 0)
    );
    assert_eq!(block.ask(Got).await.unwrap(), [1, 2, 3]);
    assert_eq!(oldest.ask(Got).await.unwrap(), [1, 2, 3]);
    assert_eq!(values(&drain(&mut stream)), [1, 2, 3]);
    // A later single publish comes after the batch.
    publisher.publish(4).await;
    assert_eq!(block.ask(Got).await.unwrap(), [1, 2, 3, 4]);
    assert_eq!(block.ask(Stats).await.unwrap().delivered, 4);
    assert_eq!(publisher.publish_many([]).await, PublishReport::default());
}

#[tokio::test(start_paused = true)]
async fn publish_many_waits_for_room_behind_queued_messages() {
    let bus = virtual_bus(1);
    let slow = subscriber_with(
        &bus,
        SubArgs::new("slow", "t", SubscribeOptions::new()),
        SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
    )
    .await;
    let go = hold(&slow).await;
    let publisher = bus.publisher::<u64>("t").unwrap();
    publisher.publish(0).await;
    let mut batch = std::pin::pin!(publisher.publish_many(1..=5));
    assert!(futures_poll_once(batch.as_mut()).is_pending());
    go.send(()).unwrap();
    assert_eq!(batch.await.delivered, 5);
    assert_eq!(slow.ask(Got).await.unwrap(), [0, 1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn publish_many_to_a_stopped_subscriber_removes_it_once() {
    let bus = virtual_bus(1);
    let c = subscriber(&bus, SubArgs::new("c", "other", SubscribeOptions::new())).await;
    let outside = bus
        .subscribe_actor::<Sub, u64>(&c, "t", SubscribeOptions::new())
        .unwrap();
    c.stop();
    c.wait_for_stop().await;
    let report = bus
        .publisher::<u64>("t")
        .unwrap()
        .publish_many([1, 2, 3])
        .await;
    // As three single publishes: the first finds it stopped and removes it.
    assert_eq!(
        (report.matched, report.delivered, report.removed),
        (1, 0, 1)
    );
    assert!(!outside.is_active());
    assert_eq!(bus.subscriber_count::<u64>("t"), 0);
}

#[tokio::test(start_paused = true)]
async fn publish_many_through_a_recipient_and_on_a_metrics_bus_keeps_order() {
    // A recipient and a bus that times deliveries take the batch one message at a time.
    for bus in [
        virtual_bus(1),
        Bus::builder().virtual_time().metrics(true).build().unwrap(),
    ] {
        let direct = subscriber(&bus, SubArgs::new("direct", "t", SubscribeOptions::new())).await;
        let other = subscriber(&bus, SubArgs::new("other", "x", SubscribeOptions::new())).await;
        bus.subscribe_recipient::<u64>(other.recipient(), "t", SubscribeOptions::new())
            .unwrap();
        let report = bus.publisher::<u64>("t").unwrap().publish_many(1..=4).await;
        assert_eq!((report.matched, report.delivered), (8, 8));
        assert_eq!(direct.ask(Got).await.unwrap(), [1, 2, 3, 4]);
        assert_eq!(other.ask(Got).await.unwrap(), [1, 2, 3, 4]);
    }
}

fn futures_poll_once<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

struct Crash;
impl Handler<Crash> for Sub {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
        panic!("crash requested");
    }
}

#[tokio::test(start_paused = true)]
async fn two_buses_never_share_a_topic() {
    let a = virtual_bus(1);
    let b = virtual_bus(1);
    let mut on_a = a
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    let mut on_b = b
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    assert_eq!(a.publish("t", 1u64).await.unwrap().delivered, 1);
    assert_eq!(values(&drain(&mut on_a)), [1]);
    assert!(on_b.try_recv().is_none());
    assert_eq!(b.publish("t", 2u64).await.unwrap().delivered, 1);
    assert_eq!(values(&drain(&mut on_b)), [2]);
    assert!(on_a.try_recv().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_different_type_on_the_same_name_is_not_delivered() {
    let bus = virtual_bus(1);
    let mut numbers = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    let report = bus.publish("t", "text".to_string()).await.unwrap();
    assert_eq!(report, PublishReport::default());
    assert!(numbers.try_recv().is_none());
    assert_eq!(bus.publish("t", 3u64).await.unwrap().delivered, 1);
    assert_eq!(*numbers.recv().await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stream_waits_for_the_next_message() {
    let bus = virtual_bus(1);
    let mut s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::new())
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(*s.recv().await.unwrap());
        }
        got
    });
    let publisher = bus.publisher::<u64>("t").unwrap();
    for n in [4, 5, 6] {
        publisher.publish(n).await;
        settle().await;
    }
    assert_eq!(reader.await.unwrap(), [4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn an_actor_publishes_to_other_actors() {
    let bus = virtual_bus(1);
    let publisher = subscriber(&bus, SubArgs::new("p", "in", SubscribeOptions::new())).await;
    let listener = subscriber(&bus, SubArgs::new("l", "out", SubscribeOptions::new())).await;
    let report = publisher.ask(PublishFrom("out", 9)).await.unwrap().unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(listener.ask(Got).await.unwrap(), [9]);
    assert!(publisher.ask(Got).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_recipient_with_a_buffered_policy_is_forwarded_to() {
    let bus = virtual_bus(1);
    let sub = subscriber_with(
        &bus,
        SubArgs::new("a", "other", SubscribeOptions::new()),
        SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)),
    )
    .await;
    let subscription = bus
        .subscribe_recipient::<u64>(sub.recipient(), "t", SubscribeOptions::drop_oldest(2))
        .unwrap();
    let go = hold(&sub).await;
    for n in 1..=6u64 {
        bus.publish("t", n).await.unwrap();
    }
    settle().await;
    go.send(()).unwrap();
    settle().await;
    // The publisher never yielded: the buffer kept the newest two, then the forwarder moved
    // them into the mailbox as room came.
    assert_eq!(sub.ask(Got).await.unwrap(), [5, 6]);
    assert_eq!(subscription.stats().dropped, 4);
}

/// A recipient with a buffered policy that has stopped: the message its forwarder took and
/// could not pass on counts as dropped, and the subscription ends.
#[tokio::test(start_paused = true)]
async fn a_stopped_recipient_behind_a_buffer_counts_its_lost_message() {
    let bus = virtual_bus(1);
    let sub = subscriber(&bus, SubArgs::new("a", "other", SubscribeOptions::new())).await;
    let subscription = bus
        .subscribe_recipient::<u64>(sub.recipient(), "t", SubscribeOptions::drop_oldest(2))
        .unwrap();
    sub.stop();
    sub.wait_for_stop().await;
    assert_eq!(
        bus.publish("t", 1u64).await.unwrap().delivered,
        1,
        "into the buffer"
    );
    settle().await;
    assert_eq!(subscription.stats().dropped, 1);
    assert_eq!(bus.subscriber_count::<u64>("t"), 0);
}

/// Counts the allocations made on the current thread while enabled.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
    // const-initialised thread-local `Cell`, which does not allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if ON.with(Cell::get) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Allocations made on this thread while `f` runs.
    pub async fn allocations<F: std::future::Future>(f: F) -> u64 {
        COUNT.with(|c| c.set(0));
        ON.with(|on| on.set(true));
        f.await;
        ON.with(|on| on.set(false));
        COUNT.with(Cell::get)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[tokio::test(start_paused = true)]
async fn fan_out_does_not_allocate_per_delivery() {
    let bus = virtual_bus(1);
    let mut subs = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        subs.push(subscriber(&bus, SubArgs::new(name, "t", SubscribeOptions::new())).await);
    }
    let publisher = bus.publisher::<u64>("t").unwrap();
    const PUBLISHES: u64 = 500;
    let allocations = counting::allocations(async {
        for n in 0..PUBLISHES {
            assert_eq!(publisher.publish(n).await.delivered, 8);
        }
    })
    .await;
    // One allocation per publish (the shared message), plus the occasional growth of the
    // eight mailbox queues; one per delivery would be 4,000.
    assert!(
        allocations <= PUBLISHES + 8 * 16,
        "{allocations} allocations for {PUBLISHES} publishes to 8 subscribers"
    );
    for sub in &subs {
        assert_eq!(sub.ask(Got).await.unwrap().len() as u64, PUBLISHES);
    }
}

/// The (key, value) pairs received so far.
struct Pairs;
impl Handler<Pairs> for Sub {
    type Reply = Vec<(u64, u64)>;
    async fn handle(&mut self, _: Pairs, _ctx: &mut Context<Self>) -> Vec<(u64, u64)> {
        self.got
            .iter()
            .map(|m| (m.key().unwrap_or(u64::MAX), **m))
            .collect()
    }
}

/// True when, for each key, the values come in increasing order.
fn increasing_per_key(pairs: &[(u64, u64)]) -> bool {
    let mut last = std::collections::BTreeMap::new();
    pairs.iter().all(|&(k, v)| match last.insert(k, v) {
        Some(prev) => prev < v,
        None => true,
    })
}

/// Waits until the actor has handled everything its subscription delivered.
async fn quiesce(sub: &ActorRef<Sub>) -> (SubscriptionStats, Vec<(u64, u64)>) {
    loop {
        let stats = sub.ask(Stats).await.unwrap();
        let pairs = sub.ask(Pairs).await.unwrap();
        if stats.pending == 0 && pairs.len() as u64 == stats.delivered {
            return (stats, pairs);
        }
    }
}

/// Several publishers on two threads, every policy: nothing is lost without being counted, and
/// each publisher's messages keep their order at every subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_lose_nothing_uncounted() {
    const PUBLISHERS: u64 = 4;
    const EACH: u64 = 2_000;
    const TOTAL: u64 = PUBLISHERS * EACH;
    let bus = Bus::new();
    let small = |n| SpawnOptions::new().mailbox(MailboxConfig::Bounded(n));
    let block = subscriber_with(
        &bus,
        SubArgs::new("block", "s", SubscribeOptions::block()),
        small(16),
    )
    .await;
    let newest = subscriber_with(
        &bus,
        SubArgs::new("newest", "s", SubscribeOptions::drop_newest()),
        small(4),
    )
    .await;
    let oldest = subscriber(
        &bus,
        SubArgs::new("oldest", "s", SubscribeOptions::drop_oldest(8)),
    )
    .await;
    let latest = subscriber(
        &bus,
        SubArgs::new("latest", "s", SubscribeOptions::latest_per_key()),
    )
    .await;
    let mut stream = bus
        .subscribe_stream::<u64>("s", SubscribeOptions::block().capacity(4))
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut pairs = Vec::new();
        while (pairs.len() as u64) < TOTAL {
            let m = stream.recv().await.unwrap();
            pairs.push((m.key().unwrap(), *m));
        }
        pairs
    });

    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let publisher = bus.publisher::<u64>("s").unwrap();
        publishers.push(tokio::spawn(async move {
            let mut dropped = 0;
            for n in 0..EACH {
                let report = publisher.publish_keyed(p, n).await;
                assert_eq!(report.matched, 5);
                dropped += report.dropped as u64;
            }
            dropped
        }));
    }
    let mut reported_drops = 0;
    for p in publishers {
        reported_drops += p.await.unwrap();
    }

    let from_stream = reader.await.unwrap();
    assert_eq!(from_stream.len() as u64, TOTAL);
    assert!(increasing_per_key(&from_stream));

    let (stats, pairs) = quiesce(&block).await;
    assert_eq!((stats.delivered, stats.dropped), (TOTAL, 0));
    assert!(increasing_per_key(&pairs));

    let mut counted_drops = 0;
    for sub in [&newest, &oldest, &latest] {
        let (stats, pairs) = quiesce(sub).await;
        assert_eq!(stats.delivered + stats.dropped, TOTAL);
        assert!(increasing_per_key(&pairs));
        counted_drops += stats.dropped;
    }
    assert_eq!(counted_drops, reported_drops);
    // Conflation never loses the newest value of a key.
    let (_, pairs) = quiesce(&latest).await;
    for p in 0..PUBLISHERS {
        assert_eq!(
            pairs.iter().rev().find(|(k, _)| *k == p).unwrap().1,
            EACH - 1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_drain_message_waits_for_room_in_a_full_mailbox() {
    let bus = virtual_bus(1);
    let sub = subscriber_with(
        &bus,
        SubArgs::new("a", "t", SubscribeOptions::drop_oldest(2)),
        SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)),
    )
    .await;
    let go = hold(&sub).await;
    sub.tell(Got).await.unwrap(); // the mailbox is now full
    let mut dropped = 0;
    for n in 1..=5u64 {
        let report = bus.publish("t", n).await.unwrap();
        assert_eq!(
            report.delivered, 1,
            "the side buffer takes it, mailbox full or not"
        );
        dropped += report.dropped;
    }
    assert_eq!(dropped, 3);
    go.send(()).unwrap();
    settle().await;
    assert_eq!(sub.ask(Got).await.unwrap(), [4, 5]);
    let stats = sub.ask(Stats).await.unwrap();
    assert_eq!((stats.delivered, stats.dropped, stats.pending), (2, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_publisher_waiting_on_a_stream_is_released_when_the_stream_is_dropped() {
    let bus = virtual_bus(1);
    let s = bus
        .subscribe_stream::<u64>("t", SubscribeOptions::block().capacity(1))
        .unwrap();
    bus.publish("t", 1u64).await.unwrap();
    let publisher = bus.publisher::<u64>("t").unwrap();
    let second = tokio::spawn(async move { publisher.publish(2).await });
    settle().await;
    assert!(!second.is_finished());
    let subscription = s.subscription();
    drop(s);
    // The message the publisher held counts as dropped: the subscription had already ended,
    // so no removal explains it.
    let report = second.await.unwrap();
    assert_eq!(
        (
            report.matched,
            report.delivered,
            report.dropped,
            report.removed
        ),
        (1, 0, 1, 0)
    );
    assert_eq!(
        subscription.stats().dropped,
        2,
        "the message left waiting in the stream, and the one the publisher held"
    );
    assert_eq!(bus.subscriber_count::<u64>("t"), 0);
}

/// On a current-thread runtime, a publisher that finds room in every mailbox, and so never
/// waits, gives its thread's other tasks a turn every so many deliveries: the subscribers
/// handle the first messages while it publishes the rest, instead of after it has filled
/// their mailboxes. One publish at a time and in batches alike, in order, none lost.
#[tokio::test(start_paused = true)]
async fn a_publisher_that_never_waits_gives_its_subscribers_turns() {
    const N: u64 = 10_000;
    let bus = virtual_bus(1);
    let log = Log::default();
    let roomy = || SpawnOptions::new().mailbox(MailboxConfig::Bounded(2 * N as usize));
    let one = SubArgs::new("one", "one", SubscribeOptions::new()).log(&log);
    let one = subscriber_with(&bus, one, roomy()).await;
    for i in 0..N {
        assert_eq!(bus.publish("one", i).await.unwrap().delivered, 1);
    }
    log.push("published one by one");
    let many = SubArgs::new("many", "many", SubscribeOptions::new()).log(&log);
    let many = subscriber_with(&bus, many, roomy()).await;
    let publisher = bus.publisher::<u64>("many").unwrap();
    for first in (0..N).step_by(100) {
        assert_eq!(
            publisher.publish_many(first..first + 100).await.delivered,
            100
        );
    }
    log.push("published in batches");
    settle().await;
    let entries = log.take();
    let at = |what: &str| entries.iter().position(|e| e == what).unwrap();
    assert!(
        at("one 0") < at("published one by one"),
        "the subscriber ran only after the publisher: {:?}",
        &entries[..3]
    );
    assert!(at("many 0") < at("published in batches"));
    let all: Vec<u64> = (0..N).collect();
    assert_eq!(one.ask(Got).await.unwrap(), all);
    assert_eq!(many.ask(Got).await.unwrap(), all);
}

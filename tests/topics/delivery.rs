//! Delivery: in subscription order, one shared message for every subscriber, streams that
//! wait, actors that publish, and a publisher that never waits still gives its subscribers
//! turns.

use std::sync::Arc;

use crate::common::*;
use crate::settle;
use crate::subscriber::{subscriber, subscriber_with, Got, Raw, Sub, SubArgs};
use mycelium::actors::MessageSink;
use mycelium::actors::{
    ActorId, MailboxConfig, PublishReport, Recipient, SpawnOptions, TopicError, TrySendError,
};
use mycelium::prelude::*;

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

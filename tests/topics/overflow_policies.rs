//! Overflow policies with exact drop counts: block, drop-newest, drop-oldest and
//! latest-per-key, on streams, actors and recipients, with side buffers that wait for room.

use std::time::Duration;

use crate::common::*;
use crate::subscriber::{hold, subscriber, subscriber_with, Got, Stats, SubArgs};
use crate::{drain, settle, values};
use mycelium::actors::{MailboxConfig, SpawnOptions, SubscriptionStats};
use mycelium::prelude::*;

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

//! Removal of dead subscribers: stopped actors, dropped streams, cancelled subscriptions and
//! stopped recipients, and what their lost messages count as.

use crate::common::*;
use crate::settle;
use crate::subscriber::{subscriber, Sub, SubArgs};
use mycelium::prelude::*;

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

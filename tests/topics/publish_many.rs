//! `publish_many`: every subscriber gets the batch in order, it waits for room behind queued
//! messages, removes a stopped subscriber once, and keeps order through recipients and on a
//! metrics bus.

use crate::common::*;
use crate::subscriber::{hold, subscriber, subscriber_with, Got, Stats, Sub, SubArgs};
use crate::{drain, values};
use mycelium::actors::{MailboxConfig, PublishReport, SpawnOptions};
use mycelium::prelude::*;

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

//! What a publish reaches: key filters, wildcard patterns, refused names and patterns, only
//! subscribers of its message type, and only its own bus.

use crate::common::*;
use crate::{drain, values};
use mycelium::actors::{PublishReport, TopicError};
use mycelium::prelude::*;

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

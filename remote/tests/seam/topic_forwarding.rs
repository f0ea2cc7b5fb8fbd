//! Topics forwarded across the link: encoded once per link, a publication too long for a
//! frame, and interest that arrives before the publishing node forwards the type.

use crate::common::*;
use crate::nodes::{exec_and_strategy, quote, quotes_across, topology, QuotesAcross};

use mycelium_codec::WireMessage;
use mycelium_contracts::Quote;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_cross_nodes_encoded_once_per_link() {
    use mycelium_actors::SubscribeOptions;
    let QuotesAcross {
        exec_bus,
        bus,
        link,
        ..
    } = &quotes_across("seam-topics").await;
    // Two subscribers on the strategy node; one interest crosses the link.
    let mut first = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    let mut second = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    assert_eq!(
        link.forwarded_topics(),
        vec![("md.quote.*".to_string(), Quote::TYPE_ID)]
    );
    for i in 0..100 {
        if i % 2 == 0 {
            exec_bus.publish("md.quote.AAPL", quote(i)).await.unwrap();
        } else {
            // Keys cross the link with the publication.
            exec_bus
                .publish_keyed("md.quote.AAPL", u64::from(i) * 1000, quote(i))
                .await
                .unwrap();
        }
    }
    for stream in [&mut first, &mut second] {
        for i in 0..100 {
            let p = tokio::time::timeout(BOUND, stream.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!((p.topic(), p.msg().instrument), ("md.quote.AAPL", i));
            let key = (i % 2 == 1).then_some(u64::from(i) * 1000);
            assert_eq!(p.key(), key);
        }
    }
    // One frame per publication on the link, whatever the number of remote subscribers.
    assert_eq!(link.stats().written, 100);
}

/// A publication that cannot become a frame (a topic name longer than a frame carries) is a
/// dead letter for that link alone: the peer's subscription lives on, and the next
/// publication reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_too_long_for_a_frame_is_a_dead_letter_and_the_subscription_lives() {
    use mycelium_actors::{DeadLetterReason, SubscribeOptions};
    let QuotesAcross {
        exec_bus,
        exec,
        bus,
        strategy,
        link,
        ..
    } = &quotes_across("seam-unsendable").await;
    let mut got = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    let long = format!("md.quote.{}", "x".repeat(300));
    for (topic, i) in [
        ("md.quote.AAPL", 1),
        (long.as_str(), 2),
        ("md.quote.AAPL", 3),
    ] {
        let report = exec_bus.publish(topic, quote(i)).await.unwrap();
        assert_eq!((report.matched, report.removed), (1, 0), "{topic}");
    }
    for i in [1, 3] {
        let p = tokio::time::timeout(BOUND, got.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.msg().instrument, i);
    }
    let letters = exec_bus.dead_letters().drain();
    assert_eq!(letters.len(), 1, "{letters:?}");
    match &letters[0].reason {
        DeadLetterReason::Lost { reason, .. } => {
            assert!(reason.contains("cannot be sent"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(link.forwarded_topics().len(), 1);
    exec.shutdown();
    strategy.shutdown();
}

/// Interest can arrive before the publishing node names the type it forwards (links start
/// with the node): it waits, and is served by `forward_topic`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interest_that_arrives_before_forward_topic_is_served() {
    use mycelium_actors::SubscribeOptions;
    let dir = TempDir::new("seam-early");
    let path = topology(&dir, "");
    let ((exec_bus, exec), (bus, strategy)) = exec_and_strategy(&path).await;
    let mut stream = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    let link = exec.link("strategy").unwrap();
    tokio::time::timeout(BOUND, async {
        while link.stats().delivered == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the interest arrives");
    assert!(link.forwarded_topics().is_empty());
    exec.forward_topic::<Quote>();
    assert_eq!(link.forwarded_topics().len(), 1);
    exec_bus.publish("md.quote.X", quote(5)).await.unwrap();
    let p = tokio::time::timeout(BOUND, stream.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.msg().instrument, 5);
}

/// A subscriber that blocks, with room for two: the link's reader waits for room with the
/// third publication (the rest of its publish) and reads nothing meanwhile, so none is lost
/// and the order holds as the subscriber catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_blocking_subscriber_holds_the_link_and_loses_nothing() {
    use mycelium_actors::SubscribeOptions;
    let QuotesAcross { exec_bus, bus, .. } = &quotes_across("seam-topic-backpressure").await;
    let mut slow = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::block().capacity(2))
        .unwrap();
    const N: u32 = 50;
    for i in 0..N {
        exec_bus.publish("md.quote.AAPL", quote(i)).await.unwrap();
    }
    for i in 0..N {
        let p = tokio::time::timeout(BOUND, slow.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.msg().instrument, i);
    }
    assert_eq!(slow.stats().dropped, 0);
}

//! Concurrent publishers on two threads, every policy: nothing is lost without being counted,
//! and each publisher's order is kept.

use crate::subscriber::{subscriber, subscriber_with, Pairs, Stats, Sub, SubArgs};
use mycelium::actors::{MailboxConfig, SpawnOptions, SubscriptionStats};
use mycelium::prelude::*;

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

//! Allocations: a global allocator that counts them, and fan-out that does not allocate per
//! delivery.

use crate::common::*;
use crate::subscriber::{subscriber, Got, SubArgs};
use mycelium::prelude::*;

/// Counts the allocations made on the current thread while enabled.
#[path = "../common/counting_alloc.rs"]
mod counting;

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

/// `Bus::publish` takes the name as a `&str`: one of up to 23 bytes is copied into the shared
/// message, not allocated beside it.
#[tokio::test(start_paused = true)]
async fn a_short_topic_name_is_not_allocated_per_publish() {
    let bus = virtual_bus(1);
    let sub = subscriber(
        &bus,
        SubArgs::new("a", "md.quote.*", SubscribeOptions::new()),
    )
    .await;
    const PUBLISHES: u64 = 500;
    let allocations = counting::allocations(async {
        for n in 0..PUBLISHES {
            let report = bus.publish("md.quote.AAPL", n).await.unwrap();
            assert_eq!(report.delivered, 1);
        }
    })
    .await;
    // One allocation per publish (the shared message, its name inside), plus the occasional
    // growth of the mailbox's queue; a name allocated apart would be 1,000.
    assert!(
        allocations <= PUBLISHES + 16,
        "{allocations} allocations for {PUBLISHES} publishes on a 13-byte topic name"
    );
    let got = sub.ask(Got).await.unwrap();
    assert_eq!(got.len() as u64, PUBLISHES);
}

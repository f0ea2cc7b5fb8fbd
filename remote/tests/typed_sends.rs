//! Typed tells that name their loss report: [`RemoteActor::tell_numbered`] and
//! [`RemoteActor::try_tell_numbered`] return the link's sequence number of each tell, which a
//! loss report that covers it names, beside the tells a `Recipient` made from the same
//! address sends.

mod common;

use std::collections::BTreeMap;

use common::*;

use mycelium_actors::Bus;
use mycelium_contracts::Quote;
use mycelium_remote::{LinkConfig, LinkEventKind, LossReason, RemoteActor};

fn quote(i: u32) -> Quote {
    Quote {
        ts_ns: u64::from(i),
        instrument: i,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 2.0,
        ask_qty: 1.0,
    }
}

/// Tells sent while the peer is away, some numbered and some through a `Recipient` of the
/// same address, are lost when the link gives up: the report names each numbered tell by the
/// number its send returned (with the message's type and the service), and the rest by the
/// numbers between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_report_names_the_numbers_typed_tells_returned() {
    use mycelium_codec::{WireMessage, WireStruct};
    let dir = TempDir::new("typed-numbers");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 1,
        ..fast_config()
    };
    let (b, mut events) = node("b", &bus, rec, config);
    let venue = RemoteActor::<Quote>::new(b.link_to("a"), "venue");
    let recipient = venue.clone().recipient();
    let mut numbered = BTreeMap::new();
    for i in 0..6u32 {
        if i % 3 == 2 {
            recipient.try_tell(quote(i)).expect("room in the queue");
        } else if i % 2 == 0 {
            let seq = venue.tell_numbered(&quote(i)).await.unwrap();
            numbered.insert(seq, i);
        } else {
            let seq = venue
                .try_tell_numbered(quote(i))
                .map_err(|(_, e)| e)
                .unwrap();
            numbered.insert(seq, i);
        }
    }
    assert_eq!(numbered.len(), 4);
    b.connect("a", dir.socket("nobody.sock"));
    events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let report = events.loss().await;
    assert_eq!(report.reason, LossReason::GaveUp);
    assert_eq!(report.messages.len(), 6);
    for lost in &report.messages {
        assert_eq!(
            (lost.type_id, &*lost.name, lost.message),
            (Quote::TYPE_ID, "venue", Quote::NAME)
        );
    }
    let reported: Vec<u64> = report.messages.iter().map(|m| m.seq).collect();
    for seq in numbered.keys() {
        assert!(reported.contains(seq), "{seq} in {reported:?}");
    }
    // The Recipient's tells took the numbers between, in the order they were sent.
    let by_recipient: Vec<u64> = reported
        .iter()
        .copied()
        .filter(|s| !numbered.contains_key(s))
        .collect();
    assert_eq!(by_recipient.len(), 2);
    let order: Vec<u32> = reported
        .iter()
        .map(|s| numbered.get(s).copied().unwrap_or(u32::MAX))
        .collect();
    assert_eq!(order, vec![0, 1, u32::MAX, 3, 4, u32::MAX]);
    // A closed link hands the message back, with why.
    let (back, e) = venue.try_tell_numbered(quote(9)).unwrap_err();
    assert_eq!(back.instrument, 9);
    assert!(e.to_string().contains('a'), "{e}");
    assert!(venue.tell_numbered(&quote(10)).await.is_err());
    b.shutdown();
}

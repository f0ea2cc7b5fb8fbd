//! A remote subscriber's overflow policy, applied by the publishing node: under any policy
//! but `Block`, a peer that stops reading never delays the publisher or its local
//! subscribers; what the policy drops is in the publish reports, and the subscriber is told
//! of it (a gap notice) once its link has room again.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use mycelium_actors::{
    ActorId, BoxFuture, Bus, MessageSink, NodeId, Published, Recipient, SendError,
    SubscribeOptions, TrySendError,
};
use mycelium_codec::WireMessage;
use mycelium_contracts::Quote;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::{LinkConfig, LinkEventKind, RemoteOverflow};
use tokio::io::AsyncWriteExt;

/// Counts the quotes it gets, at once (a local subscriber that is never slow).
struct Counter(Arc<AtomicU64>);

impl MessageSink<Published<Quote>> for Counter {
    fn try_tell(&self, _: Published<Quote>) -> Result<(), TrySendError<Published<Quote>>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn tell(&self, _: Published<Quote>) -> BoxFuture<'_, Result<(), SendError<Published<Quote>>>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }

    fn id(&self) -> ActorId {
        ActorId::new(NodeId::new(0), 1)
    }

    fn is_alive(&self) -> bool {
        true
    }
}

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

fn frame(spec: FrameSpec<'_>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(body)
    })
    .expect("a frame");
    out
}

/// Node `a` publishes 2,000 quotes with a local subscriber and a peer subscribed under
/// `policy` that never reads: every publish completes and the local subscriber gets all of
/// them; the reports count drops. Then the peer reads and acknowledges and is told how many
/// were dropped: with `more`, behind quotes published after it reads again; without, as
/// soon as the link has room (the stream ended while the peer was away), and every quote
/// is then either received or in a notice.
async fn peer_that_stops_reading(policy: RemoteOverflow, body: &[u8], more: bool) {
    const N: u32 = 2_000;
    let dir = TempDir::new("policy");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let config = LinkConfig {
        queue_capacity: 8,
        ..fast_config()
    };
    let (a, mut events) = node("a", &bus, rec, config);
    a.forward_topic::<Quote>();
    let local = Arc::new(AtomicU64::new(0));
    let _local = bus
        .subscribe_recipient::<Quote>(
            Recipient::new(Arc::new(Counter(local.clone()))),
            "md.*",
            SubscribeOptions::new(),
        )
        .expect("subscribed");
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, mut reader) = authenticated_peer(&at).await;
    events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let subscribe = FrameSpec {
        seq: 1,
        type_id: Quote::TYPE_ID,
        name: "md.*",
        ..FrameSpec::control(Kind::Subscribe)
    };
    peer.write_all(&frame(subscribe, body)).await.unwrap();
    let link = a.link("b").expect("the link to b");
    tokio::time::timeout(BOUND, async {
        while link.forwarded_topics().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the subscription is served");

    // The peer reads nothing: every publish completes all the same (a `Block` policy would
    // wait here for good once the link's queue of 8 is full).
    let mut dropped = 0;
    let published = tokio::time::timeout(BOUND, async {
        for i in 0..N {
            let report = bus.publish("md.q", quote(i)).await.expect("published");
            dropped += report.dropped as u64;
        }
    })
    .await;
    assert!(published.is_ok(), "{policy:?}: the publisher was held up");
    assert_eq!(local.load(Ordering::Relaxed), u64::from(N), "{policy:?}");
    assert!(dropped > 0, "{policy:?}: nothing dropped");
    assert!(dropped < u64::from(N), "{policy:?}: everything dropped");

    // The peer reads what was written and acknowledges it; one more quote, and the notice.
    let mut last_seq = 0;
    let mut publications = 0;
    let mut told = 0;
    let ack = |upto: u64| {
        frame(
            FrameSpec {
                ack: upto,
                ..FrameSpec::control(Kind::Ack)
            },
            &[],
        )
    };
    let mut extra_sent = !more;
    let read = tokio::time::timeout(BOUND, async {
        while if more {
            told < dropped
        } else {
            publications + told < u64::from(N)
        } {
            let f = reader.read_frame(&mut peer).await.expect("a frame");
            let seq = f.seq;
            last_seq = last_seq.max(seq);
            match f.kind {
                Kind::Publish => publications += 1,
                Kind::Unsubscribe if f.name.is_empty() => {
                    assert_eq!(f.payload[0], 1, "a gap notice");
                    assert_eq!(f.payload[1], 4, "dropped by the policy");
                    told += u64::from_le_bytes(f.payload[18..26].try_into().unwrap());
                    assert_eq!(&f.payload[26..], b"md.*");
                }
                _ => {}
            }
            if seq != 0 {
                let upto = last_seq;
                peer.write_all(&ack(upto)).await.unwrap();
                if !extra_sent {
                    extra_sent = true;
                    // Room again once the node has read the acknowledgement and moved what its
                    // subscription held into the link: until then a quote may still be dropped
                    // (and counted, and told like the others).
                    let more = tokio::time::timeout(BOUND, async {
                        // Unkeyed: under LatestPerKey each replaces the one held.
                        for i in N.. {
                            let report = bus.publish("md.q", quote(i)).await.expect("published");
                            if report.dropped == 0 {
                                break;
                            }
                            dropped += report.dropped as u64;
                            tokio::task::yield_now().await;
                        }
                    })
                    .await;
                    assert!(more.is_ok(), "{policy:?}: no room again");
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{policy:?}: no gap notice (read {publications} publications)"
    );
    assert_eq!(told, dropped, "{policy:?}: the peer is told of every drop");
    if !more {
        assert_eq!(publications + told, u64::from(N), "{policy:?}");
    }
    a.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_never_holds_up_the_publisher() {
    peer_that_stops_reading(RemoteOverflow::DropNewest, &[1], true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_never_holds_up_the_publisher() {
    let mut body = vec![2];
    body.extend_from_slice(&16u32.to_le_bytes());
    peer_that_stops_reading(RemoteOverflow::DropOldest { capacity: 16 }, &body, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_per_key_never_holds_up_the_publisher() {
    peer_that_stops_reading(RemoteOverflow::LatestPerKey, &[3], true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_at_the_end_of_a_stream_are_told_once_the_link_has_room() {
    peer_that_stops_reading(RemoteOverflow::DropNewest, &[1], false).await;
    let mut body = vec![2];
    body.extend_from_slice(&16u32.to_le_bytes());
    peer_that_stops_reading(RemoteOverflow::DropOldest { capacity: 16 }, &body, false).await;
    peer_that_stops_reading(RemoteOverflow::LatestPerKey, &[3], false).await;
}

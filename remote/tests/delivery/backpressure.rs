//! Backpressure: a full queue, a stalled peer filling the socket, and a reader with a long
//! stream buffered letting the other tasks of its thread run.

use std::sync::Arc;
use std::time::Duration;

use crate::common::scenario::{self, body, index};
use crate::common::*;
use crate::tell_sink::TellSink;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, LinkConfig, LinkEventKind, Mode, SendError};

/// A link from node `b` to node `a`, up, with a queue of 8 frames; what reaches `a` is recorded
/// in `got` once `rec`'s gate lets it through (closed at first, so nothing is acknowledged).
struct Gated {
    link: mycelium_remote::Link,
    rec: Arc<Recorder>,
    got: tokio::sync::mpsc::UnboundedReceiver<Got>,
    _nodes: (mycelium_remote::Node, mycelium_remote::Node),
    _events: (Events, Events),
    /// Dropped, it would shut the nodes down.
    _bus: Bus,
    _dir: TempDir,
}

async fn gated_link(name: &str) -> Gated {
    let dir = TempDir::new(name);
    let bus = Bus::new();
    let (rec, got) = Recorder::new(false);
    let config = LinkConfig {
        queue_capacity: 8,
        ..fast_config()
    };
    let (a, a_events) = node("a", &bus, rec.clone(), config.clone());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (b, mut b_events) = node("b", &bus, rec.clone(), config);
    let link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    Gated {
        link,
        rec,
        got,
        _nodes: (a, b),
        _events: (a_events, b_events),
        _bus: bus,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_makes_try_send_refuse_and_send_wait() {
    let mut gated = gated_link("backpressure").await;
    let (link, got) = (gated.link.clone(), &mut gated.got);
    let svc: Arc<str> = "slow".into();
    let mut accepted = 0u32;
    loop {
        let mut encoded = false;
        match link.try_send(Kind::Tell, &svc, 1, |o| {
            encoded = true;
            o.extend_from_slice(&body(accepted))
        }) {
            Ok(_) => accepted += 1,
            Err(SendError::Full) => {
                assert!(!encoded, "a refused message must not be encoded");
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Nothing is acknowledged while the consumer is stuck: the queue holds exactly its
    // capacity.
    assert_eq!(accepted, 8);
    let waiting = {
        let link = link.clone();
        let svc = svc.clone();
        tokio::spawn(async move {
            link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(8)))
                .await
        })
    };
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "send must wait for room");
    gated.rec.gate.add_permits(1000);
    waiting.await.unwrap().unwrap();
    let all = recv_n(got, 9).await;
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
}

/// A typed sender that does not wait hands its message back, whole, each time it finds the
/// queue full, and a sender that only ever tries gets its next message in once the peer's
/// acknowledgements free room (it is not refused for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_sender_that_found_the_queue_full_sends_again_once_room_is_freed() {
    use mycelium_actors::{Recipient, TrySendError};
    use mycelium_contracts::Quote;
    use mycelium_remote::RemoteActor;
    let quote = |i: u32| Quote {
        ts_ns: 1,
        instrument: i,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 2.0,
        ask_qty: 1.0,
    };
    let mut gated = gated_link("backpressure-typed").await;
    let (link, got) = (gated.link.clone(), &mut gated.got);
    let feed: Recipient<Quote> = RemoteActor::<Quote, Quote>::new(link.clone(), "slow").recipient();
    let mut accepted = 0u32;
    let back = loop {
        match feed.try_tell(quote(accepted)) {
            Ok(()) => accepted += 1,
            Err(TrySendError::Full(q)) => break q,
            Err(TrySendError::Closed(_)) => panic!("closed"),
        }
    };
    assert_eq!((accepted, back.instrument), (8, 8));
    // Refused again while nothing is acknowledged, the message handed back whole.
    for i in 100..110 {
        assert!(matches!(feed.try_tell(quote(i)), Err(TrySendError::Full(q)) if q.instrument == i));
    }
    // The consumer goes on: its acknowledgements free the queue, and a sender that only
    // tries gets its next message in.
    gated.rec.gate.add_permits(1000);
    recv_n(got, 8).await;
    tokio::time::timeout(BOUND, async {
        while feed.try_tell(quote(8)).is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a try once room was freed is taken");
    recv_n(got, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_peer_fills_the_socket_and_nothing_is_lost_or_reordered() {
    let dir = TempDir::new("stalled-unix");
    // 64 asks of 64 KiB: several MiB, more than a socket's buffers hold.
    scenario::stalled_peer(&dir.socket("a.sock"), Mode::Block, 64, 64 * 1024).await;
    // Spinning, a full socket registers its write half with the reactor to wait for room
    // (`polled.rs`).
    scenario::stalled_peer(
        &dir.socket("b.sock"),
        Mode::Spin(Duration::from_micros(50)),
        64,
        64 * 1024,
    )
    .await;
    scenario::stalled_peer(
        &Endpoint::Tcp("127.0.0.1:0".into()),
        Mode::Spin(Duration::from_micros(50)),
        64,
        64 * 1024,
    )
    .await;
}

/// A reader with many frames buffered yields to the other tasks of its thread every so often
/// (a unit of its cooperative budget per frame), as it did when it took the delivery lock per
/// frame: the link's writer sends the acknowledgements that let the sender go on, and the
/// actors it fed run. Without it, a reader delivered all it had read in one turn, and one-way
/// streams in block mode ran 30-40% slower.
#[tokio::test]
async fn a_reader_with_a_long_stream_buffered_lets_the_other_tasks_of_its_thread_run() {
    const N: u64 = 4000;
    let dir = TempDir::new("reader-yields");
    let bus = Bus::new();
    let sink = Arc::new(TellSink::default());
    let delivered = sink.delivered.clone();
    let config = LinkConfig {
        queue_capacity: N as usize + 1,
        ..fast_config()
    };
    let (a, _) = node("a", &bus, sink, config.clone());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (rec, _) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, rec, config);
    let link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "sink".into();
    // Queued without a turn of the scheduler in between: a's reader finds them in few reads.
    for i in 0..N {
        link.try_send(Kind::Tell, &svc, 1, |o| {
            o.extend_from_slice(&body(i as u32))
        })
        .unwrap();
    }
    // A task that looks at the count each time it runs and wakes itself at once (to the back
    // of the run queue, behind the reader), until everything is delivered.
    let seen = delivered.clone();
    let largest_step = tokio::spawn(async move {
        let (mut last, mut largest) = (0, 0);
        while last < N {
            let now = seen.load(std::sync::atomic::Ordering::Relaxed);
            largest = largest.max(now - last);
            last = now;
            let mut woken = false;
            std::future::poll_fn(|cx| {
                if std::mem::replace(&mut woken, true) {
                    return std::task::Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            })
            .await;
        }
        largest
    });
    let largest = tokio::time::timeout(BOUND, largest_step)
        .await
        .expect("everything delivered within the bound")
        .unwrap();
    // tokio's budget is 128 units per turn of a task.
    assert!(
        largest <= 256,
        "the reader delivered {largest} frames in one turn of the scheduler"
    );
}

/// The byte bound stops a link's queue beside the message bound: 256 KiB messages to a peer
/// that is not there fill a queue of 1 MiB after four (with their headers, four pass the bound), far below
/// the 1,024 the message bound allows; `try_send` then hands the message back and `send`
/// waits, as at the message bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_fill_the_queue_at_its_byte_bound() {
    let dir = TempDir::new("queue-bytes");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        queue_bytes: 1024 * 1024,
        max_attempts: 10_000,
        ..fast_config()
    };
    let (b, _) = node("b", &bus, rec, config);
    let link = b.connect("a", dir.socket("absent.sock"));
    let svc: Arc<str> = "sink".into();
    let big = vec![7u8; 256 * 1024];
    let mut queued = 0;
    let refused = loop {
        match link.try_send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&big)) {
            Ok(_) => queued += 1,
            Err(e) => break e,
        }
        assert!(queued <= 1024, "the byte bound never stopped the queue");
    };
    assert_eq!(queued, 4);
    assert!(matches!(refused, SendError::Full), "{refused:?}");
    assert!(link.queued_bytes() < 1024 * 1024 + 256 * 1024 + 1024);
    // `send` waits for room, as at the message bound.
    let mut waiting = std::pin::pin!(link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&big)));
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(waiting.as_mut(), cx))
    })
    .await;
    assert!(first.is_pending(), "send did not wait at the byte bound");
}

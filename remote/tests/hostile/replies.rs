//! Replies to the peer's asks waiting for room: bounded when the peer never acknowledges
//! them, written after a reconnection, served before the node's own waiting tells, and
//! given back when the peer restarts.

use std::sync::Arc;

use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::transport::Stream;
use mycelium_remote::{Endpoint, LinkEventKind, Node};
use tokio::io::AsyncWriteExt;

/// A peer that keeps asking and never acknowledges the replies (nor reads them) cannot make
/// the node hold more and more replies waiting for room: once a queue's worth waits, the
/// connection closes with the reason before the next ask is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_a_peer_never_acknowledges_stay_bounded() {
    const CAPACITY: usize = 8;
    let dir = TempDir::new("replies");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let config = mycelium_remote::LinkConfig {
        queue_capacity: CAPACITY,
        ..fast_config()
    };
    let (a, mut a_events) = node("a", &bus, rec, config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, _) = authenticated_peer(&at).await;
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let mut bytes = Vec::new();
    for seq in 1..=2000u64 {
        ask_frame(&mut bytes, seq, &[7u8; 512]);
    }
    // The node may close before it has read everything.
    let _ = peer.write_all(&bytes).await;
    let down = a_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, .. } = down.kind else {
        unreachable!()
    };
    assert!(
        reason.contains("replies to the peer's asks wait"),
        "{reason}"
    );
    let link = a.link("b").unwrap();
    assert!(
        link.replies_waiting() <= CAPACITY,
        "{} replies wait",
        link.replies_waiting()
    );
    assert!(
        link.stats().delivered < 2 * CAPACITY as u64 + 1,
        "{:?}",
        link.stats()
    );
}

/// An ask frame from the peer, `seq` and `corr` alike.
fn ask_frame(out: &mut Vec<u8>, seq: u64, body: &[u8]) {
    let spec = FrameSpec {
        kind: Kind::Ask,
        type_id: 1,
        seq,
        ts_ns: 0,
        ack: 0,
        corr: seq,
        name: "svc",
        key: None,
    };
    encode_frame(out, &spec, DEFAULT_MAX_BODY, |o| o.extend_from_slice(body)).unwrap();
}

/// Node `a` with a link queue of `capacity` frames, full of tells to a hand-made peer `b`
/// (incarnation 77) that never acknowledges them (it does not read them).
struct FullQueue {
    _dir: TempDir,
    _bus: Bus,
    _got: tokio::sync::mpsc::UnboundedReceiver<Got>,
    _a: Node,
    events: Events,
    at: Endpoint,
    link: mycelium_remote::Link,
    svc: Arc<str>,
}

impl FullQueue {
    async fn new(tag: &str, capacity: usize) -> (FullQueue, Stream, FrameReader) {
        let dir = TempDir::new(tag);
        let bus = Bus::new();
        let (rec, got) = Recorder::new(true);
        let config = mycelium_remote::LinkConfig {
            queue_capacity: capacity,
            ..fast_config()
        };
        let (a, mut events) = node("a", &bus, rec, config);
        let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
        let (peer, reader) = authenticated_peer_as(&at, 77).await;
        events
            .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
            .await;
        let link = a.link("b").unwrap();
        let svc: Arc<str> = "svc".into();
        for _ in 0..capacity {
            link.send(Kind::Tell, &svc, 1, |o| o.push(1)).await.unwrap();
        }
        let full = FullQueue {
            _dir: dir,
            _bus: bus,
            _got: got,
            _a: a,
            events,
            at,
            link,
            svc,
        };
        (full, peer, reader)
    }

    /// A task that sends tells of `2` until the link refuses one, each waiting for room.
    fn waiting_sender(&self) -> tokio::task::JoinHandle<mycelium_remote::SendError> {
        let (link, svc) = (self.link.clone(), self.svc.clone());
        tokio::spawn(async move {
            loop {
                if let Err(e) = link.send(Kind::Tell, &svc, 1, |o| o.push(2)).await {
                    return e;
                }
            }
        })
    }

    /// Waits until `n` replies wait for room (bounded).
    async fn replies_waiting(&self, n: usize) {
        tokio::time::timeout(BOUND, async {
            while self.link.replies_waiting() < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the replies wait for room");
    }
}

/// The queue is full of tells the peer has not received, and a queue's worth of replies
/// waits for room, when the peer connects again and resends an ask first: the node does not
/// take the ask, but it writes what its queue holds before the connection closes, so the
/// peer can deliver and acknowledge it, and room comes. (Closing at once, before its writer
/// had run, it closed every connection with nothing written: the link stalled for good.)
/// A current-thread runtime, so that the connection's writer runs only when its reader
/// waits.
#[tokio::test]
async fn a_node_holding_a_queue_of_replies_still_writes_its_queue_to_a_reconnected_peer() {
    const CAPACITY: usize = 2;
    let (mut full, mut peer, _) = FullQueue::new("replies-stall", CAPACITY).await;
    let (link, at) = (full.link.clone(), full.at.clone());
    // The replies to the first asks wait for room; the next ask closes the connection.
    let mut bytes = Vec::new();
    for seq in 1..=CAPACITY as u64 + 1 {
        ask_frame(&mut bytes, seq, &[7]);
    }
    peer.write_all(&bytes).await.unwrap();
    full.events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    assert_eq!(link.replies_waiting(), CAPACITY);
    drop(peer);
    // The peer comes back: its verdict and the ask the node did not take, in one write.
    let (mut stream, mut reader) = authenticated_before_verdict(&at).await;
    let first = CAPACITY as u64 + 1;
    let mut verdict = vec![1u8];
    for word in [0u64, 0, first] {
        verdict.extend_from_slice(&word.to_le_bytes());
    }
    let mut bytes = Vec::new();
    encode_frame(
        &mut bytes,
        &FrameSpec::control(Kind::Verdict),
        DEFAULT_MAX_BODY,
        |o| o.extend_from_slice(&verdict),
    )
    .unwrap();
    ask_frame(&mut bytes, first, &[7]);
    stream.write_all(&bytes).await.unwrap();
    reader.set_max_body(DEFAULT_MAX_BODY);
    let mut tells = 0;
    let mut verdict_seen = false;
    loop {
        let read = tokio::time::timeout(BOUND, reader.read_frame(&mut stream))
            .await
            .expect("the node closes the connection");
        let Ok(frame) = read else { break };
        match frame.kind {
            Kind::Verdict => verdict_seen = true,
            Kind::Tell => tells += 1,
            _ => {}
        }
    }
    assert!(verdict_seen, "the node accepted the connection");
    assert_eq!(
        tells, CAPACITY,
        "the queued tells were written before the close"
    );
}

/// A reply to the peer's ask waiting for room takes the place an acknowledgement frees
/// before this node's own tells do, though a sender of this node was waiting for room first
/// and always waits again with its next tell. (Taking turns at random with such a sender,
/// replies piled up until a queue's worth waited and the reader closed the connection, the
/// peer's asks failing.) A current-thread runtime, so that the tell sender is waiting before
/// the reply is.
#[tokio::test]
async fn a_waiting_reply_takes_freed_room_before_the_nodes_own_waiting_tells() {
    const CAPACITY: usize = 2;
    let (full, mut peer, mut reader) = FullQueue::new("replies-first", CAPACITY).await;
    // A sender that waits for room, then waits again with its next tell.
    let sender = full.waiting_sender();
    tokio::task::yield_now().await;
    // The peer asks; the reply waits for room too.
    let mut bytes = Vec::new();
    ask_frame(&mut bytes, 1, &[7]);
    peer.write_all(&bytes).await.unwrap();
    full.replies_waiting(1).await;
    // The peer acknowledges the first tell: one place frees.
    let mut bytes = Vec::new();
    let ack = FrameSpec {
        ack: 1,
        ..FrameSpec::control(Kind::Ack)
    };
    encode_frame(&mut bytes, &ack, DEFAULT_MAX_BODY, |_| {}).unwrap();
    peer.write_all(&bytes).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < CAPACITY + 1 {
        let frame = tokio::time::timeout(BOUND, reader.read_frame(&mut peer))
            .await
            .expect("the node writes on")
            .expect("the connection stays up");
        if matches!(frame.kind, Kind::Tell | Kind::Reply | Kind::ReplyFailed) {
            kinds.push(frame.kind);
        }
    }
    assert_eq!(kinds, [Kind::Tell, Kind::Tell, Kind::Reply]);
    assert_eq!(full.link.replies_waiting(), 0);
    sender.abort();
}

/// Replies waiting for room keep places free in the queue; when they are dropped unqueued
/// (their asker's process restarted), the places are free again, and a sender of this node
/// waiting for room hears of it. (Not told, it waited for good: the restart had emptied the
/// queue, so no acknowledgement was ever to come.)
#[tokio::test]
async fn places_kept_for_replies_a_restarted_peer_will_never_take_are_given_back() {
    const CAPACITY: usize = 2;
    let (full, mut peer, _) = FullQueue::new("replies-gone", CAPACITY).await;
    let sender = {
        let (link, svc) = (full.link.clone(), full.svc.clone());
        tokio::spawn(async move { link.send(Kind::Tell, &svc, 1, |o| o.push(2)).await })
    };
    tokio::task::yield_now().await;
    // A queue's worth of replies waits for room (one ask more would close the connection).
    let mut bytes = Vec::new();
    for seq in 1..=CAPACITY as u64 {
        ask_frame(&mut bytes, seq, &[7]);
    }
    peer.write_all(&bytes).await.unwrap();
    full.replies_waiting(CAPACITY).await;
    // The peer's process restarts: the tells it never acknowledged are reported lost, the
    // replies to its predecessor dropped.
    drop(peer);
    let (mut peer, mut reader) = authenticated_peer_as(&full.at, 78).await;
    let sent = tokio::time::timeout(BOUND, sender)
        .await
        .expect("the waiting sender gets room")
        .unwrap();
    assert!(sent.is_ok(), "{sent:?}");
    let frame = tokio::time::timeout(BOUND, async {
        loop {
            let frame = reader.read_frame(&mut peer).await.unwrap();
            if frame.kind == Kind::Tell {
                return frame.payload.to_vec();
            }
        }
    })
    .await
    .expect("the tell reaches the new process");
    assert_eq!(frame, [2]);
    assert_eq!(full.link.replies_waiting(), 0);
}

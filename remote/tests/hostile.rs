//! Hostile bytes on the socket: the link closes with a logged reason; the process and the
//! listener live on and serve the next, well-behaved peer.

mod common;

use std::sync::Arc;

use common::*;
use mycelium_actors::Bus;
use mycelium_codec::HEADER_LEN;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::transport::Stream;
use mycelium_remote::{Endpoint, LinkEventKind, Node};
use tokio::io::AsyncWriteExt;

fn tell(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let spec = FrameSpec {
        kind: Kind::Tell,
        type_id: 1,
        seq,
        ts_ns: 0,
        ack: 0,
        corr: 0,
        name: "svc",
        key: None,
    };
    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(payload)
    })
    .unwrap();
    out
}

/// A well-behaved node `b` connects to the node at `at` and tells service `svc` "after";
/// returns `b`, to keep alive until the delivery is seen.
async fn good_peer_tells_after(bus: &Bus, rec: Arc<Recorder>, at: Endpoint) -> Node {
    let (b, _) = node("b", bus, rec, fast_config());
    let link = b.connect("a", at);
    let svc: Arc<str> = "svc".into();
    link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"after"))
        .await
        .unwrap();
    b
}

/// Sends `bytes` after a valid frame and returns the reason the node gave for closing.
async fn close_reason(bytes: Vec<u8>, then_eof: bool) -> String {
    let (reason, delivered) = close_reason_and_deliveries(bytes, then_eof).await;
    assert!(delivered.is_empty(), "{delivered:?}");
    reason
}

/// Also returns the bodies the hostile bytes got delivered (a frame whose length lies but
/// whose layout holds is, to the link, a frame; the receiving codec then judges its body).
async fn close_reason_and_deliveries(bytes: Vec<u8>, then_eof: bool) -> (String, Vec<Vec<u8>>) {
    let dir = TempDir::new("hostile");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();

    let (mut peer, _) = authenticated_peer(&at).await;
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    peer.write_all(&tell(1, b"fine")).await.unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, b"fine");
    peer.write_all(&bytes).await.unwrap();
    if then_eof {
        peer.shutdown().await.unwrap();
    }
    let down = a_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, by_peer } = down.kind else {
        unreachable!()
    };
    assert!(
        !by_peer,
        "seen on this side, not closed by the peer: {reason}"
    );
    drop(peer);

    // The node lives on: a real `b` connects and is served.
    let _b = good_peer_tells_after(&bus, rec, at).await;
    let mut delivered = Vec::new();
    loop {
        let next = recv_n(&mut got, 1).await.remove(0);
        if next.body == b"after" {
            break;
        }
        delivered.push(next.body);
    }
    (reason, delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_close_the_link() {
    // Fixed pseudo-random bytes (xorshift), never starting with the magic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8 | 0x80
        })
        .collect();
    let reason = close_reason(bytes, false).await;
    assert!(reason.contains("malformed frame"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_is_refused_from_its_header() {
    let mut frame = tell(2, b"x");
    frame[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    frame.truncate(HEADER_LEN);
    let reason = close_reason(frame, false).await;
    assert!(
        reason.contains("malformed frame") && reason.contains("exceeds"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_then_close() {
    let frame = tell(2, b"payload");
    let reason = close_reason(frame[..frame.len() - 3].to_vec(), true).await;
    assert!(reason.contains("middle of a frame"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_length_desynchronises_and_closes() {
    // The header claims 10 more bytes than the frame has: the next frame's first bytes are
    // swallowed into this one, and what follows is no frame.
    let mut first = tell(2, b"abc");
    let claimed = u32::from_le_bytes(first[8..12].try_into().unwrap()) + 10;
    first[8..12].copy_from_slice(&claimed.to_le_bytes());
    let second = tell(3, b"def");
    first.extend(&second);
    first.extend(tell(4, b"ghi"));
    let (reason, delivered) = close_reason_and_deliveries(first, false).await;
    assert!(reason.contains("malformed frame"), "{reason}");
    // One body arrived, with the next frame's first 10 bytes in it; nothing after it.
    let mut swallowed = b"abc".to_vec();
    swallowed.extend(&second[..10]);
    assert_eq!(delivered, vec![swallowed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_sequence_frame_closes() {
    let reason = close_reason(tell(5, b"early"), false).await;
    assert!(reason.contains("out-of-sequence"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_frame_after_the_handshake_closes() {
    for kind in [Kind::Hello, Kind::Proof, Kind::Verdict, Kind::Schema] {
        let mut frame = Vec::new();
        encode_frame(
            &mut frame,
            &FrameSpec::control(kind),
            DEFAULT_MAX_BODY,
            |_| {},
        )
        .unwrap();
        let reason = close_reason(frame, false).await;
        assert!(
            reason.contains("protocol violation") && reason.contains(&format!("{kind:?}")),
            "{kind:?}: {reason}"
        );
    }
}

/// Connections that never finish their handshake hold at most `MAX_HANDSHAKES` places: one
/// more is closed at once (not after the handshake deadline), and the node serves a
/// well-behaved peer once they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_handshakes_in_progress_are_closed_at_once() {
    use tokio::io::AsyncReadExt;
    let dir = TempDir::new("handshakes");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = mycelium_remote::LinkConfig {
        // Longer than any wait of the test: a connection closed in time was turned away.
        handshake_timeout: 3 * BOUND,
        ..fast_config()
    };
    let (a, _) = node("a", &bus, rec.clone(), config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..mycelium_remote::MAX_HANDSHAKES {
        idle.push(Stream::connect(&at).await.unwrap());
    }
    let mut extra = Stream::connect(&at).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(BOUND, extra.read(&mut buf))
        .await
        .expect("the connection beyond the limit is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(idle);
    let _b = good_peer_tells_after(&bus, rec, at).await;
    assert_eq!(recv_n(&mut got, 1).await[0].body, b"after");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_garbage_never_reaches_a_link() {
    let dir = TempDir::new("garbage");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    for junk in [
        &b"\x00\x01\x02"[..],
        b"MYCL\x01\x00\x00\x00\xff\xff\xff\xff",
        &[0xffu8; 100],
    ] {
        let mut s = Stream::connect(&at).await.unwrap();
        let _ = s.write_all(junk).await;
        let _ = s.shutdown().await;
    }
    let (b, _) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at);
    let svc: Arc<str> = "svc".into();
    link.send(Kind::Tell, &svc, 1, |o| o.push(9)).await.unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, vec![9]);
    assert!(a_events
        .drain()
        .iter()
        .all(|e| !matches!(e.kind, LinkEventKind::Down { .. })));
}

/// Panics on the threads of the test below (its own and its runtime's workers, all named
/// after it): a panic inside a node's task would otherwise end only that task, quietly. Panics
/// of the other tests of this binary, which run at the same time, are not counted.
static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The prefix of the names of the threads whose panics `PANICS` counts.
const NONSENSE_THREADS: &str = "structured_nonsense";

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(NONSENSE_THREADS));
            if ours {
                PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Well-formed frames with hostile contents from a peer that knows the secret: every kind
/// (handshake kinds too), sequence numbers right, repeated, skipped, zero and huge,
/// acknowledgements of frames never sent, replies to asks never made, unknown services and
/// topics, patterns, keys and payloads at random. Each round ends with the link down (closed
/// by the node for a reason, or by the peer's end of stream), and nothing in the process
/// panics; afterwards a well-behaved peer is served.
#[test]
fn structured_nonsense_from_an_authenticated_peer_never_panics() {
    count_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("{NONSENSE_THREADS}-worker"))
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(structured_nonsense());
}

async fn structured_nonsense() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    // Mostly data frames, sometimes control frames, rarely a handshake frame (which closes
    // the link at once), so that most rounds get deep into the link's state.
    const KINDS: [Kind; 20] = [
        Kind::Tell,
        Kind::Tell,
        Kind::Ask,
        Kind::Ask,
        Kind::Reply,
        Kind::Reply,
        Kind::ReplyFailed,
        Kind::Publish,
        Kind::Publish,
        Kind::Subscribe,
        Kind::Subscribe,
        Kind::Unsubscribe,
        Kind::Heartbeat,
        Kind::Ack,
        Kind::Ack,
        Kind::Close,
        Kind::Hello,
        Kind::Proof,
        Kind::Verdict,
        Kind::Schema,
    ];
    const NAMES: [&str; 8] = [
        "svc",
        "never",
        "missing",
        "",
        "md.quote.0",
        "md.*",
        "md.>",
        "no such service",
    ];
    let dir = TempDir::new("nonsense");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let mut reasons = Vec::new();
    let mut last = None;
    for round in 0..40 {
        let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
        let at = a
            .listen(&dir.socket(&format!("a{round}.sock")), &["b"])
            .await
            .unwrap();
        let (mut peer, _) = authenticated_peer(&at).await;
        a_events
            .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
            .await;
        let mut seq = 0u64;
        let mut bytes = Vec::new();
        for _ in 0..(1 + next(60)) {
            let mut kind = KINDS[next(KINDS.len() as u64) as usize];
            if (kind as u8) >= 32 && next(4) != 0 {
                kind = Kind::Heartbeat;
            }
            let data = (kind as u8) < 16;
            let seq_now = match (data, next(40)) {
                (true, 0) => seq,                // a repeat (or zero)
                (true, 1) => seq + 2 + next(5),  // a gap
                (true, 2) => u64::MAX - next(2), // the end of the numbers
                (true, _) => seq + 1,            // the next one
                (false, 0) => 1 + next(1000),    // a control frame with a number
                (false, _) => 0,
            };
            if data && seq_now == seq + 1 {
                seq = seq_now;
            }
            let corr = match next(4) {
                0 => 0,
                1 => u64::MAX,
                _ => 1 + next(8),
            };
            let ack = match next(4) {
                0 => 0,
                1 => u64::MAX,
                _ => next(100),
            };
            let payload: Vec<u8> = (0..next(48)).map(|_| next(256) as u8).collect();
            let spec = FrameSpec {
                kind,
                type_id: [0, 1, 100, u16::MAX][next(4) as usize],
                seq: seq_now,
                ts_ns: next(u64::MAX),
                ack,
                corr,
                name: NAMES[next(NAMES.len() as u64) as usize],
                key: (kind == Kind::Publish && next(2) == 0).then(|| next(u64::MAX)),
            };
            encode_frame(&mut bytes, &spec, DEFAULT_MAX_BODY, |o| {
                o.extend_from_slice(&payload)
            })
            .unwrap();
        }
        // The node may close first: then the rest of the bytes find a closed socket.
        let _ = peer.write_all(&bytes).await;
        let _ = peer.shutdown().await;
        let down = a_events
            .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
            .await;
        let LinkEventKind::Down { reason, .. } = down.kind else {
            unreachable!()
        };
        reasons.push(reason);
        drop(peer);
        assert_eq!(
            PANICS.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "a panic in round {round} (reasons so far: {reasons:#?})"
        );
        last = Some((a, at));
    }
    // A peer's text (a Close frame's reason) is shown escaped: no reason holds a control
    // character, so none can forge a log line.
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("the peer closed the link"))
            && reasons.iter().all(|r| !r.chars().any(char::is_control)),
        "{reasons:#?}"
    );
    // The frames reached the checks beyond the first: more than one kind of reason.
    let kinds: std::collections::BTreeSet<&str> = reasons
        .iter()
        .map(|r| r.split(':').next().unwrap_or(r))
        .collect();
    assert!(kinds.len() >= 2, "{reasons:#?}");

    // The last round's node serves a well-behaved peer afterwards.
    let (_a, at) = last.expect("rounds ran");
    while got.try_recv().is_ok() {}
    let _b = good_peer_tells_after(&bus, rec, at).await;
    let after = loop {
        let next = recv_n(&mut got, 1).await.remove(0);
        if next.body == b"after" {
            break next;
        }
    };
    assert_eq!(after.service, "svc");
}

/// A peer that knows the secret cannot grow its topic interests without bound: beyond
/// `MAX_TOPIC_INTERESTS` a Subscribe is refused (counted, logged, the link lives on), and an
/// Unsubscribe makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_interests_beyond_the_limit_are_refused_and_the_link_lives_on() {
    use mycelium_codec::WireMessage;
    use mycelium_contracts::Quote;
    use mycelium_remote::link::MAX_TOPIC_INTERESTS;
    let dir = TempDir::new("interests");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec, fast_config());
    a.forward_topic::<Quote>();
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, _) = authenticated_peer(&at).await;
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let mut seq = 0;
    let mut frame = |kind: Kind, name: &str, type_id: u16| {
        seq += 1;
        let mut out = Vec::new();
        let spec = FrameSpec {
            kind,
            type_id,
            seq,
            ts_ns: 0,
            ack: 0,
            corr: 0,
            name,
            key: None,
        };
        encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |_| {}).unwrap();
        out
    };
    let mut bytes = Vec::new();
    for i in 0..MAX_TOPIC_INTERESTS {
        bytes.extend(frame(Kind::Subscribe, &format!("t.{i}"), 100));
    }
    // Again the first (already held: accepted), then one too many, then room made for it.
    bytes.extend(frame(Kind::Subscribe, "t.0", 100));
    bytes.extend(frame(Kind::Subscribe, "t.extra", 100));
    bytes.extend(frame(Kind::Unsubscribe, "t.1", 100));
    bytes.extend(frame(Kind::Subscribe, "t.extra", 100));
    // A pattern the topic grammar refuses, for a type the node forwards: refused as well
    // (after an Unsubscribe, so not for the limit).
    bytes.extend(frame(Kind::Unsubscribe, "t.2", 100));
    bytes.extend(frame(Kind::Subscribe, "md.\nquote", Quote::TYPE_ID));
    bytes.extend(frame(Kind::Tell, "svc", 100));
    peer.write_all(&bytes).await.unwrap();
    // The tell comes after every Subscribe on the same connection: all were handled.
    assert_eq!(recv_n(&mut got, 1).await[0].service, "svc");
    let stats = a.link("b").expect("the link to b").stats();
    assert_eq!(stats.dispatch_failures, 2, "{stats:?}");
    assert!(
        a_events
            .drain()
            .iter()
            .all(|e| !matches!(e.kind, LinkEventKind::Down { .. })),
        "the link stayed up"
    );
}

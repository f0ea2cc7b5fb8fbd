//! Well-formed frames with hostile contents from an authenticated peer, round after round,
//! with the panics of the test's threads counted.

use crate::common::*;
use crate::good_peer_tells_after;

use mycelium_actors::Bus;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::LinkEventKind;
use tokio::io::AsyncWriteExt;

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

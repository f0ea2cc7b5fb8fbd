//! Link scenarios that run the same over every transport (sockets and shared memory).

use std::sync::Arc;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, Link, LinkConfig, LinkEventKind, LossReason, Mode, Node};

use super::{fast_config, node, recv_n, Got, Recorder, BOUND};

/// A numbered message body.
pub fn body(i: u32) -> Vec<u8> {
    i.to_le_bytes().to_vec()
}

/// The number in a body made by [`body`].
pub fn index(g: &Got) -> u32 {
    u32::from_le_bytes(g.body[..4].try_into().expect("a numbered body"))
}

/// Node `a` listening on `a_at`, node `b` dialling it, both in `mode`: `count` tells arrive
/// in order, then an ask of `ask_len` bytes comes back reversed. Returns both nodes and the
/// link, still up, for the caller's own checks.
pub async fn in_order(
    a_at: &Endpoint,
    mode: Mode,
    count: u32,
    ask_len: usize,
) -> (Node, Node, Link) {
    let config = LinkConfig {
        mode,
        ..fast_config()
    };
    in_order_with(a_at, config, count, ask_len).await
}

/// [`in_order`] with both nodes' links configured by `config`.
pub async fn in_order_with(
    a_at: &Endpoint,
    config: LinkConfig,
    count: u32,
    ask_len: usize,
) -> (Node, Node, Link) {
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), config.clone());
    let at = a.listen(a_at, &["b"]).await.unwrap();
    let (b, _) = node("b", &bus, rec, config);
    let link = b.connect("a", at);
    let svc: Arc<str> = "strategy".into();
    for i in 0..count {
        link.send(Kind::Tell, &svc, 100, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    let all = recv_n(&mut got, count as usize).await;
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..count).collect::<Vec<_>>()
    );
    assert!(all
        .iter()
        .all(|g| g.service == "strategy" && g.type_id == 100));
    let ask: Vec<u8> = (0..ask_len).map(|i| i as u8).collect();
    let (reply_type, reply) = link
        .ask(&svc, 7, |o| o.extend_from_slice(&ask))
        .await
        .unwrap();
    assert_eq!(reply_type, 7);
    assert!(
        reply.iter().eq(ask.iter().rev()),
        "the reply is not the ask reversed"
    );
    (a, b, link)
}

/// The first incarnation of `a` (listening on `a_at`) takes 3 of 20 messages and stops
/// consuming, so the rest of what reaches it is never acknowledged; then a new instance (new
/// instance id) takes its place: the sender reports exactly the unacknowledged ones as lost,
/// with their types, and delivers later messages to the new instance, in order, once.
/// Returns the new `a`, `b` and the link, for the caller's own checks.
pub async fn peer_restart(a_at: &Endpoint) -> (Node, Node, Link) {
    let bus = Bus::new();
    let (rec1, mut got1) = Recorder::new(false);
    rec1.gate.add_permits(3);
    let (a1, _) = node("a", &bus, rec1.clone(), fast_config());
    let at = a1.listen(a_at, &["b"]).await.unwrap();
    let (rec_b, _) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, rec_b, fast_config());
    let link = b.connect("a", at.clone());
    let svc: Arc<str> = "sink".into();
    const N: u32 = 20;
    for i in 0..N {
        link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    let first = recv_n(&mut got1, 3).await;
    assert_eq!(first.iter().map(index).collect::<Vec<_>>(), vec![0, 1, 2]);
    // Wait until all 20 are written and the first 3 acknowledged.
    tokio::time::timeout(BOUND, async {
        loop {
            let s = link.stats();
            if s.written == 20 && s.queued == 17 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all written, 3 acknowledged");
    drop(a1);

    let (rec2, mut got2) = Recorder::new(true);
    let (a2, _) = node("a", &bus, rec2, fast_config());
    a2.listen(&at, &["b"]).await.unwrap();
    let report = b_events.loss().await;
    assert_eq!(report.reason, LossReason::PeerRestarted);
    assert_eq!((report.first_seq, report.last_seq), (4, 20));
    assert_eq!(
        report.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (4..=20).collect::<Vec<_>>()
    );
    assert!(report
        .messages
        .iter()
        .all(|m| m.type_id == 5 && &*m.name == "sink" && m.kind == Kind::Tell));
    for i in N..N + 5 {
        link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    let rest = recv_n(&mut got2, 5).await;
    assert_eq!(
        rest.iter().map(index).collect::<Vec<_>>(),
        (N..N + 5).collect::<Vec<_>>()
    );
    (a2, b, link)
}

/// The shared-memory segments that exist under `prefix`, sorted.
pub fn segments(prefix: &str) -> Vec<String> {
    let lead = format!("{prefix}.");
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.starts_with(&lead))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A segment's name with what its header says of its owners (pid, whether recorded, whether
/// the process still exists) and how many sides dropped it, for a failure message.
fn describe(name: &str) -> String {
    let Ok(bytes) = std::fs::read(format!("/dev/shm/{name}")) else {
        return format!("{name} (unreadable)");
    };
    if bytes.len() < 112 {
        return format!("{name} ({} bytes)", bytes.len());
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let owner = |at: usize| {
        let pid = u32_at(at);
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().chars().next()))
            .flatten()
            .map_or("gone".to_owned(), |c| format!("state {c}"));
        format!("pid {pid} recorded {} {state}", u32_at(at + 4))
    };
    format!(
        "{name}: magic {}, creator {}, attacher {}, done {}",
        u32_at(0) != 0,
        owner(56),
        owner(80),
        u32_at(108)
    )
}

/// Waits (bounded) until no segment is left under `prefix`.
pub async fn no_segments_left(prefix: &str) {
    tokio::time::timeout(BOUND, async {
        while !segments(prefix).is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        let left: Vec<String> = segments(prefix).iter().map(|n| describe(n)).collect();
        panic!("segments left behind: {left:?}")
    });
}

/// Node `b` sends `count` asks of `ask_len` bytes, each with a tell after it, to a node `a`
/// whose dispatcher is held shut: `a` stops reading, the transport fills, and an ask's
/// sender, which writes its frame itself, finds no room; the connection's writer finishes
/// what it left. Then `a` opens: every message arrives once, in sending order, and every ask
/// is answered.
#[allow(dead_code)] // each test binary uses its own subset of the scenarios
pub async fn stalled_peer(a_at: &Endpoint, mode: Mode, count: u32, ask_len: usize) {
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(false);
    let config = LinkConfig {
        mode,
        queue_capacity: 4 * count as usize,
        ..fast_config()
    };
    let (a, _) = node("a", &bus, rec.clone(), config.clone());
    let at = a.listen(a_at, &["b"]).await.unwrap();
    let (rec_b, _) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, rec_b, config);
    let link = b.connect("a", at);
    // Up first, so that each ask is written by its sender.
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "strategy".into();
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..count {
        let mut ask = body(2 * i);
        ask.resize(ask_len, i as u8);
        let answers = answers.clone();
        link.ask_with(
            &svc,
            7,
            "ask",
            |o| o.extend_from_slice(&ask),
            Box::new(move |reply: Result<mycelium_remote::ReplyBody<'_>, _>| {
                let _ = answers.send((i, reply.map(|(t, b)| (t, b.to_vec()))));
            }),
        )
        .await
        .unwrap();
        link.send(Kind::Tell, &svc, 100, |o| {
            o.extend_from_slice(&body(2 * i + 1))
        })
        .await
        .unwrap();
    }
    assert_eq!(
        link.queued(),
        2 * count as usize,
        "the peer holds its first delivery: nothing is acknowledged yet"
    );
    rec.gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS);
    let all = recv_n(&mut got, 2 * count as usize).await;
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..2 * count).collect::<Vec<_>>(),
        "every message once, in sending order"
    );
    for _ in 0..count {
        let (i, reply) = tokio::time::timeout(BOUND, answered.recv())
            .await
            .expect("an answer")
            .expect("answers open");
        let (type_id, reply) = reply.unwrap_or_else(|e| panic!("ask {i}: {e}"));
        assert_eq!(type_id, 7);
        assert_eq!(reply.len(), ask_len);
        assert_eq!(
            reply[ask_len - 4..],
            (2 * i)
                .to_le_bytes()
                .iter()
                .rev()
                .copied()
                .collect::<Vec<_>>()[..]
        );
    }
    drop((link, a, b));
}

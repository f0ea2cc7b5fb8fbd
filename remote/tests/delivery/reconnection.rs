//! Reconnection: connections dropped or cut anywhere lose nothing and duplicate nothing, a
//! replaced connection still delivering duplicates nothing, and a dialler that gives up
//! reports what it held.

use std::sync::Arc;
use std::time::Duration;

use crate::common::scenario::{body, index};
use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{
    Endpoint, Link, LinkConfig, LinkEventKind, LossReason, Mode, RemoteAskError, SendError,
};

/// The connection is closed under the link mid-stream, several times: the dialler reconnects,
/// resends what was not acknowledged, and the receiver drops what it already had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_lose_nothing_and_duplicate_nothing() {
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let relay = Relay::start(at).await;
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", relay.endpoint.clone());
    let svc: Arc<str> = "sink".into();

    const N: u32 = 5000;
    let sender = {
        let link = link.clone();
        let svc = svc.clone();
        tokio::spawn(async move {
            for i in 0..N {
                link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(i)))
                    .await
                    .unwrap();
            }
        })
    };
    let mut all = Vec::new();
    for cut in 1..=4 {
        all.extend(recv_n(&mut got, 500).await);
        relay.cut();
        b_events
            .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
            .await;
        let up = b_events
            .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
            .await;
        assert!(matches!(up.kind, LinkEventKind::Up { .. }), "cut {cut}");
    }
    sender.await.unwrap();
    let rest = N as usize - all.len();
    all.extend(recv_n(&mut got, rest).await);
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>()
    );
    // Nothing more arrives: no duplicate slipped through after the last expected message.
    let ask = link.ask(&svc, 2, |o| o.push(0)).await;
    assert!(ask.is_ok(), "{ask:?}");
    assert_eq!(recv_n(&mut got, 1).await[0].type_id, 2);
    assert!(got.try_recv().is_err());
    b_events.assert_no_loss();
}

/// Connections cut anywhere, both ways busy: a relay cuts each of its first 100 connections
/// after a random number of bytes in each direction (up to 800: inside the handshake, a
/// frame or an acknowledgement), while each node streams tells to the other and one asks.
/// Every tell arrives once, in order, and nothing is reported lost; every ask is answered
/// or fails as its connection drops, and is delivered at most once, in order (an ask that
/// failed may still be delivered: its frame is resent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_anywhere_lose_nothing_and_duplicate_nothing() {
    cut_anywhere(LinkConfig::default()).await;
}

/// The same with spinning readers and queues of 4 frames (senders wait for acknowledgements
/// across the cuts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_anywhere_with_spinning_readers_and_small_queues() {
    cut_anywhere(LinkConfig {
        mode: Mode::Spin(Duration::from_micros(50)),
        queue_capacity: 4,
        ..LinkConfig::default()
    })
    .await;
}

async fn cut_anywhere(config: LinkConfig) {
    const N: u32 = 3000;
    const ASKS: u32 = 300;
    const CUTS: u64 = 100;
    let config = LinkConfig {
        backoff: mycelium_supervisor::Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(4),
        ),
        max_attempts: 10_000,
        ..config
    };
    let bus = Bus::new();
    let (a_rec, mut a_got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, a_rec, config.clone());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    // Another seed for a search: MYCELIUM_CHAOS_SEED=<u64>.
    let seed = std::env::var("MYCELIUM_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let relay = CuttingRelay::start(at, seed, CUTS, 800).await;
    let (b_rec, mut b_got) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, b_rec, config);
    let to_a = b.connect("a", relay.endpoint.clone());
    let to_b = a.link("b").expect("a link to the node it listens for");
    let stream = |link: Link| {
        tokio::spawn(async move {
            let svc: Arc<str> = "sink".into();
            for i in 0..N {
                link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(i)))
                    .await
                    .unwrap();
            }
        })
    };
    let senders = [stream(to_a.clone()), stream(to_b.clone())];
    // Asks beside the tells: each is answered (its body reversed) or fails because its
    // connection dropped; a failed one may still have been delivered (its frame is resent).
    let asker = {
        let link = to_a.clone();
        tokio::spawn(async move {
            let svc: Arc<str> = "sink".into();
            let mut answered = Vec::new();
            for i in 0..ASKS {
                match link.ask(&svc, 3, |o| o.extend_from_slice(&body(i))).await {
                    Ok((_, reply)) => {
                        assert_eq!(reply, body(i).into_iter().rev().collect::<Vec<_>>());
                        answered.push(i);
                    }
                    Err(RemoteAskError::LinkDown { .. }) => {}
                    Err(e) => panic!("ask {i}: {e}"),
                }
            }
            answered
        })
    };
    let tells_to_b = recv_n(&mut b_got, N as usize).await;
    let answered = asker.await.unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    // `a` has every tell; every ask answered and perhaps some of those that failed.
    let mut tells_to_a = Vec::new();
    let mut asks_to_a = Vec::new();
    while tells_to_a.len() < N as usize || asks_to_a.len() < answered.len() {
        let got = recv_n(&mut a_got, 1).await.remove(0);
        match got.type_id {
            1 => tells_to_a.push(index(&got)),
            _ => asks_to_a.push(index(&got)),
        }
    }
    // Asks that failed and are still resent arrive before the final ask below.
    assert_eq!(tells_to_a, (0..N).collect::<Vec<_>>());
    assert_eq!(
        tells_to_b.iter().map(index).collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>()
    );
    assert_eq!(relay.cut(), CUTS, "every cut connection was cut");
    // Nothing more arrives: an ask each way is the next message (after, at `a`, the rest of
    // the asks that failed but were delivered).
    for (link, got) in [(&to_a, &mut a_got), (&to_b, &mut b_got)] {
        let ask = link.ask(&"sink".into(), 2, |o| o.push(0)).await;
        assert!(ask.is_ok(), "{ask:?}");
        loop {
            let g = recv_n(got, 1).await.remove(0);
            match g.type_id {
                2 => break,
                3 => asks_to_a.push(index(&g)),
                other => panic!("a message of type {other} after the last expected one"),
            }
        }
        assert!(got.try_recv().is_err());
    }
    // Each ask delivered once, in order, every answered one among them.
    assert!(
        asks_to_a.windows(2).all(|w| w[0] < w[1]),
        "asks delivered once and in order: {asks_to_a:?}"
    );
    assert!(
        answered.iter().all(|i| asks_to_a.binary_search(i).is_ok()),
        "every answered ask was delivered"
    );
    a_events.assert_no_loss();
    b_events.assert_no_loss();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialler_gives_up_after_its_attempts_and_reports_queued_messages() {
    let dir = TempDir::new("giveup");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 3,
        ..fast_config()
    };
    let (b, mut b_events) = node("b", &bus, rec, config);
    // Queued before dialling, so that the link cannot give up first.
    let link = b.link_to("a");
    let svc: Arc<str> = "x".into();
    link.try_send(Kind::Tell, &svc, 9, |o| o.push(1)).unwrap();
    link.try_send(Kind::Publish, &svc, 9, |o| o.push(2))
        .unwrap();
    b.connect("a", dir.socket("nobody.sock"));
    b_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let report = b_events.loss().await;
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 2, LossReason::GaveUp)
    );
    assert_eq!(
        report.messages.iter().map(|m| m.kind).collect::<Vec<_>>(),
        vec![Kind::Tell, Kind::Publish]
    );
    assert!(matches!(
        link.try_send(Kind::Tell, &svc, 9, |o| o.push(3)),
        Err(SendError::Closed { .. })
    ));
    let attempts = b_events
        .drain()
        .iter()
        .filter(|e| matches!(e.kind, LinkEventKind::Connecting { .. }))
        .count();
    assert_eq!(attempts, 3);
}

/// A dialler that gave up is opened again by `Node::connect`: senders may queue at once, it
/// dials afresh (its state changes reported again) and delivers what was sent since, and the
/// loss report it made when it gave up stays the only one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_gave_up_is_opened_again_by_connect() {
    let dir = TempDir::new("revive");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 1,
        ..fast_config()
    };
    let (b, mut b_events) = node("b", &bus, rec.clone(), config);
    let link = b.link_to("a");
    let svc: Arc<str> = "svc".into();
    link.try_send(Kind::Tell, &svc, 1, |o| o.push(1)).unwrap();
    let at = dir.socket("a.sock");
    b.connect("a", at.clone());
    b_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let report = b_events.loss().await;
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 1, LossReason::GaveUp)
    );
    // The peer is there now: the same link, dialled again.
    let (a, _) = node("a", &bus, rec, fast_config());
    let at = a.listen(&at, &["b"]).await.unwrap();
    let again = b.connect("a", at);
    again
        .try_send(Kind::Tell, &svc, 1, |o| o.push(2))
        .expect("open again at once");
    b_events
        .wait("connecting", |k| {
            matches!(k, LinkEventKind::Connecting { .. })
        })
        .await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    assert_eq!(recv_n(&mut got, 1).await[0].body, vec![2]);
    assert!(link.closed_reason().is_none());
    let losses = b_events
        .drain()
        .iter()
        .filter(|e| matches!(e.kind, LinkEventKind::Loss(_)))
        .count();
    assert_eq!(losses, 1, "the give-up's report, and no other");
    b.shutdown();
    a.shutdown();
}

/// `Node::connect` on a link it already dials (not given up) keeps the dialler it has: a second
/// one would dial too, and the two connections would keep replacing each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_on_a_link_already_dialled_starts_no_second_dialler() {
    let dir = TempDir::new("connect-twice");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at.clone());
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let again = b.connect("a", at);
    let svc: Arc<str> = "svc".into();
    for n in 0..50u8 {
        again
            .send(Kind::Tell, &svc, 1, |o| o.push(n))
            .await
            .unwrap();
        assert_eq!(recv_n(&mut got, 1).await[0].body, vec![n]);
    }
    link.drain(BOUND).await.unwrap();
    b.close().await;
    let dials = b_events
        .drain()
        .iter()
        .filter(|e| matches!(e.kind, LinkEventKind::Connecting { .. }))
        .count();
    assert_eq!(dials, 1, "one dialler, one connection");
    let ups = a_events
        .drain()
        .iter()
        .filter(|e| matches!(e.kind, LinkEventKind::Up { .. }))
        .count();
    assert_eq!(ups, 1, "the connection was never replaced");
    a.shutdown();
}

/// A link opened again and again by `Node::connect` leaves nothing of its earlier diallers
/// on the bus: each new dialler stops the one before it (here stuck in a handshake with a
/// listener that never answers), its supervisor with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_opened_again_leaves_no_earlier_dialler_behind() {
    let dir = TempDir::new("revive-again");
    let at = dir.socket("mute.sock");
    let Endpoint::Unix(path) = &at else {
        unreachable!("a socket in a temporary directory")
    };
    // Takes connections and holds them without a word.
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let mute = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        // Longer than the test: each dialler stays in its first handshake.
        handshake_timeout: 3 * BOUND,
        ..fast_config()
    };
    let (b, mut b_events) = node("b", &bus, rec, config);
    let mut count = None;
    for n in 0..4 {
        let link = b.connect("a", at.clone());
        b_events
            .wait("connecting", |k| {
                matches!(k, LinkEventKind::Connecting { .. })
            })
            .await;
        // This dialler's supervisor and driver, and nothing of the ones before.
        let now = bus.actor_count();
        assert_eq!(
            *count.get_or_insert(now),
            now,
            "actors after opening {n} times"
        );
        link.close("opened again by the test");
        b_events
            .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
            .await;
    }
    b.shutdown();
    mute.abort();
}

/// The accepting side gave up waiting for its peer; the peer, restarted, dials again: the
/// link takes it back (up again, delivering) instead of refusing it for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_gave_up_waiting_takes_the_peer_back() {
    let dir = TempDir::new("revive-accepted");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = LinkConfig {
        give_up_after: Duration::from_millis(100),
        ..fast_config()
    };
    let (a, mut a_events) = node("a", &bus, rec.clone(), config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let svc: Arc<str> = "svc".into();
    let (b, _) = node("b", &bus, rec.clone(), fast_config());
    b.connect("a", at.clone())
        .send(Kind::Tell, &svc, 1, |o| o.push(1))
        .await
        .unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, vec![1]);
    b.close().await;
    drop(b);
    a_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    b.connect("a", at)
        .send(Kind::Tell, &svc, 1, |o| o.push(2))
        .await
        .unwrap();
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    assert_eq!(recv_n(&mut got, 1).await[0].body, vec![2]);
    assert!(a.link("b").unwrap().closed_reason().is_none());
    b_events.assert_no_loss();
    b.shutdown();
    a.shutdown();
}

/// The accepting side gave up on a peer that never connected; the peer, late, connects: the
/// link takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_later_than_give_up_after_still_links() {
    let dir = TempDir::new("late-peer");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = LinkConfig {
        give_up_after: Duration::from_millis(50),
        ..fast_config()
    };
    let (a, mut a_events) = node("a", &bus, rec.clone(), config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    a_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let (b, _) = node("b", &bus, rec, fast_config());
    let svc: Arc<str> = "svc".into();
    b.connect("a", at)
        .send(Kind::Tell, &svc, 1, |o| o.push(3))
        .await
        .unwrap();
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    assert_eq!(recv_n(&mut got, 1).await[0].body, vec![3]);
    b.shutdown();
    a.shutdown();
}

/// A dispatcher that delivers through a [`Recorder`] and, on the first delivery of message
/// `at`, keeps its thread busy until released: the reader of that connection cannot reach an
/// await, so an abort cannot stop it while a newer connection resumes.
struct Stalling {
    inner: Arc<Recorder>,
    at: u32,
    hold: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl mycelium_remote::Dispatch for Stalling {
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async move {
            self.inner.tell(service, type_id, body).await?;
            let stall = (u32::from_le_bytes(body[..4].try_into().unwrap()) == self.at)
                .then(|| self.hold.lock().unwrap().take())
                .flatten();
            if let Some(release) = stall {
                let _ = release.recv_timeout(BOUND);
            }
            Ok(())
        })
    }

    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> mycelium_actors::BoxFuture<
        'a,
        Result<mycelium_remote::ReplyFuture, mycelium_remote::DispatchError>,
    > {
        self.inner.ask(service, type_id, body)
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        key: Option<u64>,
        body: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        self.inner.publish(topic, type_id, key, body)
    }
}

/// The old connection's reader is still inside a delivery when the connection is cut and the
/// peer's new connection resumes from a point that does not include that frame yet: the new
/// reader must not deliver it (nor anything after it) a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_connection_still_delivering_duplicates_nothing() {
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (release, hold) = std::sync::mpsc::channel();
    const N: u32 = 40;
    const AT: u32 = 10;
    let stalling = Arc::new(Stalling {
        inner: rec.clone(),
        at: AT,
        hold: std::sync::Mutex::new(Some(hold)),
    });
    let (a, _) = node("a", &bus, stalling, fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let relay = Relay::start(at).await;
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", relay.endpoint.clone());
    let svc: Arc<str> = "sink".into();
    for i in 0..N {
        link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    // Message AT is delivered and its reader is held inside the delivery.
    let mut all = recv_n(&mut got, AT as usize + 1).await;
    relay.cut();
    b_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    // An ask queued behind the frames b resends is written after them: once it is written, so
    // are they, and a's new reader has them to check once the old one lets go. (Released
    // before, the old reader could deliver them all and a acknowledge them before b wrote
    // them again; b then dropped them unwritten, and there was no duplicate to drop.)
    let ask = {
        let (link, svc) = (link.clone(), svc.clone());
        tokio::spawn(async move { link.ask(&svc, 2, |o| o.push(0)).await })
    };
    tokio::time::timeout(BOUND, async {
        while link.stats().written <= u64::from(N) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the ask is written after the resent frames");
    release.send(()).unwrap();
    all.extend(recv_n(&mut got, (N - AT - 1) as usize).await);
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>()
    );
    let ask = tokio::time::timeout(BOUND, ask).await.unwrap().unwrap();
    assert!(ask.is_ok(), "{ask:?}");
    assert_eq!(recv_n(&mut got, 1).await[0].type_id, 2);
    assert!(got.try_recv().is_err(), "a message was delivered twice");
    assert!(a.link_to("b").stats().duplicates > 0);
}

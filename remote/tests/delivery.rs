//! Delivery guarantees: order, reconnection without loss or duplicates, loss reports when a
//! peer restarts, asks failing when their link drops, backpressure, heartbeats.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::scenario::{self, body, index};
use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::handshake::{authenticate, finish, Identity, Resume};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::transport::{Listener, Stream};
use mycelium_remote::{
    Endpoint, Link, LinkConfig, LinkEvent, LinkEventKind, LossReason, Mode, Node, RemoteAskError,
    SendError,
};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_unix_blocking() {
    let dir = TempDir::new("order-unix");
    scenario::in_order(&dir.socket("a.sock"), Mode::Block, 2000, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_tcp_spinning() {
    scenario::in_order(
        &Endpoint::Tcp("127.0.0.1:0".into()),
        Mode::Spin(Duration::from_micros(50)),
        2000,
        3,
    )
    .await;
}

/// In spin mode a socket is out of the runtime's reactor while its reader spins and is
/// registered only to park (`polled.rs`): with no budget, the readers park after every look,
/// so messages keep crossing registrations made and dropped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_unix_spinning_with_no_budget_parking_after_every_look() {
    let dir = TempDir::new("order-unix-spin0");
    scenario::in_order(&dir.socket("a.sock"), Mode::Spin(Duration::ZERO), 2000, 3).await;
}

/// A spinning reader leaves an owed acknowledgement for a frame that is about to be sent to
/// carry it; when none is (the last tell of a burst, a reply that no ask follows), it still
/// goes, alone: both sides' queues drain with nothing more sent.
async fn spinning_readers_acknowledge_the_last_frames(name: &str) {
    let dir = TempDir::new(name);
    // No heartbeat within the test's bound: it would carry the acknowledgement too.
    let config = LinkConfig {
        mode: Mode::Spin(Duration::from_micros(50)),
        heartbeat_interval: Duration::from_secs(3600),
        heartbeat_timeout: Duration::from_secs(7200),
        ..fast_config()
    };
    let (a, _b, link) = scenario::in_order_with(&dir.socket("a.sock"), config, 1, 3).await;
    let back = a.link("b").expect("a's link to b");
    // b's ask was its last frame, a's reply a's last: each is acknowledged alone.
    tokio::time::timeout(BOUND, async {
        while link.queued() > 0 || back.queued() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "unacknowledged after {BOUND:?}: b has {} queued, a has {}",
            link.queued(),
            back.queued()
        )
    });
}

#[tokio::test]
async fn spinning_readers_on_one_thread_acknowledge_the_last_frames() {
    spinning_readers_acknowledge_the_last_frames("spin-ack-ct").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_readers_on_two_threads_acknowledge_the_last_frames() {
    spinning_readers_acknowledge_the_last_frames("spin-ack-mt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_file_is_private_and_unsafe_directory_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perms");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let Endpoint::Unix(path) = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap() else {
        unreachable!()
    };
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (c, _) = node("c", &bus, rec, fast_config());
    let err = c
        .listen(&Endpoint::Unix(open.join("c.sock")), &["b"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("open to other users"), "{err}");
    assert!(!open.join("c.sock").exists());
}

/// Shutting a node down removes its socket file at once (its accept task, aborted, may drop
/// the listener later), so a successor can bind the path straight away; and a listener
/// dropped after a successor bound its path leaves the successor's file alone.
#[tokio::test]
async fn a_shut_down_node_frees_its_socket_path_at_once() {
    let dir = TempDir::new("rebind");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (a1, _) = node("a", &bus, rec.clone(), fast_config());
    let Endpoint::Unix(path) = a1.listen(&dir.socket("a.sock"), &["b"]).await.unwrap() else {
        unreachable!()
    };
    assert!(path.exists());
    // No await between: on this single-threaded runtime the aborted accept task has not run.
    a1.shutdown();
    assert!(
        !path.exists(),
        "the socket file outlived the node's shutdown"
    );
    let (a2, _) = node("a", &bus, rec, fast_config());
    a2.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    tokio::task::yield_now().await;
    assert!(
        path.exists(),
        "the old accept task removed its successor's file"
    );

    let other = dir.socket("b.sock");
    let old = Listener::bind(&other).await.unwrap();
    // A path where a listener answers is not taken over.
    let err = Listener::bind(&other).await.unwrap_err();
    assert!(
        err.to_string().contains("another process listens on"),
        "{err}"
    );
    // Its file gone (as a shutdown removes it), a successor binds the path; the old listener,
    // dropped later, leaves the successor's file alone.
    std::fs::remove_file(dir.path().join("b.sock")).unwrap();
    let new = Listener::bind(&other).await.unwrap();
    drop(old);
    assert!(dir.path().join("b.sock").exists());
    drop(new);
    assert!(!dir.path().join("b.sock").exists());
}

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

/// The receiving process goes away while messages it received are not yet acknowledged, and
/// a new instance (new instance id) takes its place: the sender reports exactly the
/// unacknowledged ones as lost, with their types, and delivers later messages to the new
/// instance. Every message is delivered once or reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_restart_reports_the_exact_lost_range() {
    let dir = TempDir::new("restart");
    scenario::peer_restart(&dir.socket("a.sock")).await;
}

/// A peer process that comes back with the same instance id (`NodeBuilder::instance`) but
/// fresh state numbers its frames from 1 again: they are new messages, not resends of its
/// predecessor's, and every one of them is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_with_the_same_instance_id_and_fresh_state_is_delivered_everything() {
    let dir = TempDir::new("same-instance");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec, fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let svc: Arc<str> = "sink".into();
    let b_node = |rec| {
        Node::builder("b", schema(), secret())
            .config(fast_config())
            .instance(77)
            .build(&bus, rec)
    };

    let (rec_b, _) = Recorder::new(true);
    let b1 = b_node(rec_b);
    let link = b1.connect("a", at.clone());
    for i in 0..5 {
        link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    assert_eq!(
        recv_n(&mut got, 5)
            .await
            .iter()
            .map(index)
            .collect::<Vec<_>>(),
        (0..5).collect::<Vec<_>>()
    );
    b1.close().await;
    drop(b1);

    let (rec_b, _) = Recorder::new(true);
    let b2 = b_node(rec_b);
    let link = b2.connect("a", at);
    for i in 100..108 {
        link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    assert_eq!(
        recv_n(&mut got, 8)
            .await
            .iter()
            .map(index)
            .collect::<Vec<_>>(),
        (100..108).collect::<Vec<_>>()
    );
    assert_eq!(a.link("b").unwrap().stats().duplicates, 0);
}

/// A service that answers an ask with its body; the ask whose body is `first` answers only
/// once the test releases it, having said that it got there.
struct SlowEcho {
    hold: std::sync::Mutex<Option<Hold>>,
}

impl mycelium_remote::Dispatch for SlowEcho {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async { Ok(()) })
    }
    fn ask<'a>(
        &'a self,
        _: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> mycelium_actors::BoxFuture<
        'a,
        Result<mycelium_remote::ReplyFuture, mycelium_remote::DispatchError>,
    > {
        let hold = match body {
            b"first" => self.hold.lock().unwrap().take(),
            _ => None,
        };
        let body = body.to_vec();
        Box::pin(async move {
            Ok(Box::pin(async move {
                if let Some(Hold { entered, release }) = hold {
                    let _ = entered.send(());
                    let _ = release.await;
                }
                Ok((type_id, body))
            }) as mycelium_remote::ReplyFuture)
        })
    }
    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The reply to an ask of a process that then restarted is not sent to its successor, whose
/// asks may carry the same correlation ids: the successor gets the answer to its own ask, and
/// no reply it did not ask for. (Before, the reply queued while the asker was away went to
/// the new process, which took it for the answer to its own first ask.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_restarted_peer_s_predecessor_never_reaches_the_new_process() {
    stale_reply(true).await;
}

/// As above, with the reply ready only once the new process is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_ready_after_the_peer_restarted_never_reaches_the_new_process() {
    stale_reply(false).await;
}

/// `b` holds the reply to `a`'s first ask; `a` restarts and asks again. The held reply is
/// ready while `a` is away (`before_restart`) or once the new process is connected.
async fn stale_reply(before_restart: bool) {
    let dir = TempDir::new("stale-reply");
    let bus = Bus::new();
    let (entered_tx, entered) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel();
    let slow = Arc::new(SlowEcho {
        hold: std::sync::Mutex::new(Some(Hold {
            entered: entered_tx,
            release: release_rx,
        })),
    });
    let (b, mut b_events) = node("b", &bus, slow, fast_config());
    let at = b.listen(&dir.socket("b.sock"), &["a"]).await.unwrap();
    let svc: Arc<str> = "slow".into();

    let (sink, _) = Recorder::new(true);
    let (a1, _) = node("a", &bus, sink, fast_config());
    let link = a1.connect("b", at.clone());
    let first = {
        let (link, svc) = (link.clone(), svc.clone());
        tokio::spawn(async move { link.ask(&svc, 1, |o| o.extend_from_slice(b"first")).await })
    };
    tokio::time::timeout(BOUND, entered)
        .await
        .expect("the first ask reached b's handler")
        .unwrap();
    a1.close().await;
    drop(a1);
    let _ = tokio::time::timeout(BOUND, first).await.unwrap();
    b_events
        .wait("a's connection ended", |k| {
            matches!(k, LinkEventKind::Down { .. })
        })
        .await;
    let b_link = b.link("a").unwrap();
    let mut release = Some(release);
    if before_restart {
        // The handler answers while `a` is away: its reply is queued, unwritten.
        release.take().unwrap().send(()).unwrap();
        tokio::time::timeout(BOUND, async {
            while b_link.queued() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("b queued the reply");
    }

    // A new process `a` asks at once, as its link comes up: its ask is in flight when
    // whatever b sends first arrives (or, should the link win the race, the old reply would
    // arrive as a late one: counted below).
    let (sink, _) = Recorder::new(true);
    let (a2, _) = node("a", &bus, sink, fast_config());
    let link = a2.connect("b", at);
    let ask = |body: &'static [u8]| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        link.try_ask_with(
            &svc,
            1,
            "ask",
            |o| o.extend_from_slice(body),
            Box::new(move |r| {
                let _ = tx.send(r.map(|(t, body)| (t, body.to_vec())));
            }),
        )
        .map_err(|(e, _)| e)
        .unwrap();
        async move {
            let (_, answer) = tokio::time::timeout(BOUND, rx)
                .await
                .expect("the ask was answered")
                .unwrap()
                .unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    assert_eq!(
        ask(b"second").await,
        "second",
        "the new process got the answer to its predecessor's ask"
    );
    if let Some(release) = release.take() {
        // The handler answers now that the new process is connected.
        release.send(()).unwrap();
    }
    // Until b dropped the reply, or the new process received it.
    tokio::time::timeout(BOUND, async {
        while b_link.stats().stale_replies == 0 && link.stats().late_replies == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the reply to the predecessor was neither dropped nor received");
    // b writes in order: had it sent the first reply, it would have arrived before this one.
    assert_eq!(ask(b"third").await, "third");
    assert_eq!(
        link.stats().late_replies,
        0,
        "a reply meant for the predecessor reached the new process"
    );
    assert_eq!(b_link.stats().stale_replies, 1);
    a2.shutdown();
    b.shutdown();
}

/// A `max_frame` too small for the link's own frames is taken as the smallest that fits
/// them: the link comes up, acknowledges, and carries small messages. (Before, a tell was
/// refused as too large, and heartbeats and acknowledgements could not even be encoded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_frame_below_the_minimum_is_raised_to_it() {
    let dir = TempDir::new("tiny-frames");
    let bus = Bus::new();
    let config = LinkConfig {
        max_frame: 16,
        ..fast_config()
    };
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec, config.clone());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (rec_b, _) = Recorder::new(true);
    let (b, _) = node("b", &bus, rec_b, config);
    let link = b.connect("a", at);
    let svc: Arc<str> = "sink".into();
    link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(1)))
        .await
        .expect("a small tell fits");
    assert_eq!(index(&recv_n(&mut got, 1).await[0]), 1);
    tokio::time::timeout(BOUND, async {
        while link.queued() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the tell was acknowledged");
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_fails_at_once_when_its_link_drops() {
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let relay = Relay::start(at).await;
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", relay.endpoint.clone());
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let never: Arc<str> = "never".into();
    let ask = {
        let link = link.clone();
        tokio::spawn(async move { link.ask(&never, 1, |o| o.push(1)).await })
    };
    // Wait until the request is written and acknowledged (it reached the handler, which
    // never answers); before it is queued, the queue is empty too.
    while link.stats().written == 0 || link.queued() > 0 {
        tokio::task::yield_now().await;
    }
    relay.cut();
    let result = tokio::time::timeout(BOUND, ask).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(RemoteAskError::LinkDown { .. })),
        "{result:?}"
    );
}

/// Asks whose askers gave up leave the link's asks in flight, though the peer acknowledges
/// them and never answers: a dropped `Link::ask` at once, an `ask_timeout` that timed out
/// when the next asks are registered (the asks in flight stay bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_given_up_by_their_askers_leave_the_asks_in_flight() {
    use mycelium_contracts::Quote;
    use mycelium_remote::RemoteActor;
    let dir = TempDir::new("abandoned-asks");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let never: Arc<str> = "never".into();

    // A `Link::ask` whose future is dropped once the request was acknowledged.
    let ask = {
        let link = link.clone();
        let never = never.clone();
        tokio::spawn(async move { link.ask(&never, 1, |o| o.push(1)).await })
    };
    while link.stats().written == 0 || link.queued() > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(link.asks_in_flight(), 1);
    ask.abort();
    assert!(ask.await.unwrap_err().is_cancelled());
    assert_eq!(link.asks_in_flight(), 0);

    // Typed asks through a `ReplyRecipient`, each given up at once.
    let venue = RemoteActor::<Quote, Quote>::new(link.clone(), "never").reply_recipient();
    let quote = Quote {
        ts_ns: 1,
        instrument: 1,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 2.0,
        ask_qty: 1.0,
    };
    for _ in 0..1000 {
        let result = venue.ask_timeout(quote.clone(), Duration::ZERO).await;
        assert!(
            matches!(result, Err(mycelium_actors::AskError::Timeout(_))),
            "{result:?}"
        );
        assert!(
            link.asks_in_flight() <= 64,
            "{} asks in flight",
            link.asks_in_flight()
        );
    }
    // The link still answers.
    let svc: Arc<str> = "svc".into();
    let (_, reply) = link
        .ask(&svc, 1, |o| o.extend_from_slice(b"ab"))
        .await
        .unwrap();
    assert_eq!(reply, b"ba");
}

/// The peer's handshake can end between the two verdicts: this side received the peer's and
/// installed the connection, the peer never received this side's and never installed it.
/// What this side wrote on that connection reached no one, and the peer (the same process)
/// says on the next connection that it never heard from this node: everything is sent
/// again, and nothing is reported lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_peer_never_installed_loses_nothing() {
    let (up, seen) = cut_before_the_peer_installs(5).await;
    assert!(
        matches!(up.kind, LinkEventKind::Up { resent: 1, .. }),
        "{up:?}"
    );
    assert_no_loss(&seen);
}

/// The same, but the peer came back as a new process under the same instance id
/// (`NodeBuilder::instance`): its predecessor may have handled what was written, so it is
/// reported lost, not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_under_the_same_instance_id_is_a_new_peer() {
    let (up, seen) = cut_before_the_peer_installs(6).await;
    assert!(
        matches!(up.kind, LinkEventKind::Up { resent: 0, .. }),
        "{up:?}"
    );
    let lost: Vec<_> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            LinkEventKind::Loss(r) => Some((r.reason, r.first_seq, r.last_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(lost, [(LossReason::PeerRestarted, 1, 1)]);
}

/// Node `b` links to a bare handshake as `a` (instance 5, incarnation 5), which never
/// installs a connection and so knows no incarnation of `b`. `b` writes a tell on the first
/// connection, which then breaks; the second is with incarnation `again` of `a` and carries
/// tell 1 when `b` sends it again. Returns `b`'s second `Up` event and every event it saw.
async fn cut_before_the_peer_installs(again: u64) -> (LinkEvent, Vec<LinkEvent>) {
    let dir = TempDir::new("never-installed");
    let at = dir.socket("a.sock");
    let listener = Listener::bind(&at).await.unwrap();
    let accept = |incarnation| {
        let listener = &listener;
        async move {
            let a = Identity {
                node: "a".into(),
                instance: 5,
                incarnation,
                schema: schema(),
                secret: secret(),
                max_frame: mycelium_remote::frame::DEFAULT_MAX_BODY,
            };
            let (mut stream, addr) = listener.accept().await.unwrap();
            let mut reader = FrameReader::new(4096);
            authenticate(&mut stream, &mut reader, &a, &addr, None, &|n| n == "b")
                .await
                .unwrap();
            let mine = Resume {
                known_incarnation: 0,
                received: 0,
                first_seq: 1,
            };
            finish(&mut stream, &mut reader, &addr, mine).await.unwrap();
            reader.set_max_body(mycelium_remote::frame::DEFAULT_MAX_BODY);
            (stream, reader)
        }
    };
    let (rec, _) = Recorder::new(true);
    let (b, mut b_events) = node("b", &Bus::new(), rec, fast_config());
    let link = b.connect("a", at.clone());
    let first = accept(5).await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    link.try_send(Kind::Tell, &"svc".into(), 1, |o| o.push(42))
        .unwrap();
    assert_eq!(next_tell(first).await, (1, vec![42]), "written");
    let second = accept(again).await;
    let up = b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    if again == 5 {
        assert_eq!(next_tell(second).await, (1, vec![42]), "sent again");
    }
    let seen = b_events.drain().to_vec();
    b.close().await;
    (up, seen)
}

/// Reads frames until a tell: its sequence number and body.
async fn next_tell((mut stream, mut reader): (Stream, FrameReader)) -> (u64, Vec<u8>) {
    loop {
        let f = tokio::time::timeout(BOUND, reader.read_frame(&mut stream))
            .await
            .expect("a frame in time")
            .expect("a frame");
        if f.kind == Kind::Tell {
            return (f.seq, f.payload.to_vec());
        }
    }
}

/// An ask waiting for room in a full queue is not in flight yet: a connection that drops
/// meanwhile does not fail it, and it goes out, and is answered, once there is room on the
/// next connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_waiting_for_room_is_sent_and_answered_after_a_reconnection() {
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(false);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let relay = Relay::start(at).await;
    let config = LinkConfig {
        queue_capacity: 1,
        ..fast_config()
    };
    let (b_rec, _) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, b_rec, config);
    let link = b.connect("a", relay.endpoint.clone());
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    // `a` holds its first delivery: the tell is never acknowledged, the queue stays full.
    let svc: Arc<str> = "svc".into();
    link.try_send(Kind::Tell, &svc, 1, |o| o.push(0)).unwrap();
    let mut ask = Box::pin(link.ask(&svc, 1, |o| o.extend_from_slice(b"xy")));
    tokio::select! {
        biased;
        r = &mut ask => panic!("the ask found room: {r:?}"),
        _ = std::future::ready(()) => {}
    }
    assert_eq!(link.asks_in_flight(), 0, "waiting for room, not in flight");
    relay.cut();
    b_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    rec.gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS);
    let (_, reply) = tokio::time::timeout(BOUND, ask)
        .await
        .expect("answered")
        .expect("sent after the reconnection and answered");
    assert_eq!(reply, b"yx");
    assert_eq!(recv_n(&mut got, 2).await[1].body, b"xy");
    assert_eq!(link.stats().late_replies, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_makes_try_send_refuse_and_send_wait() {
    let dir = TempDir::new("backpressure");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(false);
    let config = LinkConfig {
        queue_capacity: 8,
        ..fast_config()
    };
    let (a, _) = node("a", &bus, rec.clone(), config.clone());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (b, mut b_events) = node("b", &bus, rec.clone(), config);
    let link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
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
    rec.gate.add_permits(1000);
    waiting.await.unwrap().unwrap();
    let all = recv_n(&mut got, 9).await;
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_declared_dead_by_heartbeat_timeout() {
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let quiet = LinkConfig {
        heartbeat_interval: Duration::from_secs(3600),
        ..fast_config()
    };
    let watchful = LinkConfig {
        heartbeat_interval: Duration::from_millis(50),
        heartbeat_timeout: Duration::from_millis(300),
        ..fast_config()
    };
    // `a` never sends a heartbeat; `b` expects one every 300 ms.
    let (a, _) = node("a", &bus, rec.clone(), quiet);
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let (b, mut b_events) = node("b", &bus, rec, watchful);
    let _link = b.connect("a", at);
    let down = b_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, by_peer } = down.kind else {
        unreachable!()
    };
    assert!(reason.contains("heartbeat timeout"), "{reason}");
    assert!(!by_peer, "a timeout is seen on this side");
}

/// A heartbeat goes out only once nothing else was written for an interval: the acks of a
/// stream of tells put it off, and after the stream it comes an interval after the last frame.
/// Read from the times the frames carry (`ts_ns`, the writer's bus clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_comes_only_an_interval_after_the_last_frame_written() {
    use mycelium_remote::frame::{encode_frame, FrameSpec, DEFAULT_MAX_BODY};
    use mycelium_remote::reader::FrameReader;
    use mycelium_remote::transport::Stream;
    use tokio::io::AsyncWriteExt;

    /// The next frame from `a`: its kind, time and acknowledgement.
    async fn next(peer: &mut Stream, reader: &mut FrameReader) -> (Kind, u64, u64) {
        loop {
            if let Some(f) = reader.next_buffered().expect("well-formed frames") {
                return (f.kind, f.ts_ns, f.ack);
            }
            reader.fill(peer).await.expect("a stays connected");
        }
    }

    let interval = Duration::from_millis(40);
    let dir = TempDir::new("heartbeat-gap");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let config = LinkConfig {
        heartbeat_interval: interval,
        heartbeat_timeout: BOUND,
        ..fast_config()
    };
    let (a, _a_events) = node("a", &bus, rec, config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, mut reader) = authenticated_peer(&at).await;
    let mut seen: Vec<(Kind, u64)> = Vec::new();
    let mut streamed = 0;
    tokio::time::timeout(BOUND, async {
        // Tells, each sent once the last is acknowledged, for three intervals of a's time.
        for seq in 1..=100_000u64 {
            let mut frame = Vec::new();
            let spec = FrameSpec {
                seq,
                name: "svc",
                type_id: 1,
                ..FrameSpec::control(Kind::Tell)
            };
            encode_frame(&mut frame, &spec, DEFAULT_MAX_BODY, |o| o.push(7)).unwrap();
            peer.write_all(&frame).await.unwrap();
            loop {
                let (kind, ts, ack) = next(&mut peer, &mut reader).await;
                seen.push((kind, ts));
                if ack >= seq {
                    break;
                }
            }
            streamed = seen.last().unwrap().1 - seen[0].1;
            if streamed >= 3 * interval.as_nanos() as u64 {
                break;
            }
        }
        // Then nothing: two heartbeats.
        while seen.iter().filter(|f| f.0 == Kind::Heartbeat).count() < 2 {
            let (kind, ts, _) = next(&mut peer, &mut reader).await;
            seen.push((kind, ts));
        }
    })
    .await
    .expect("two heartbeats within the bound");
    assert!(
        streamed >= 3 * interval.as_nanos() as u64,
        "the tells went on for {streamed} ns only"
    );
    for (i, w) in seen.windows(2).enumerate() {
        if w[1].0 == Kind::Heartbeat {
            assert!(
                w[1].1 - w[0].1 >= interval.as_nanos() as u64,
                "frame {}: a heartbeat {} ns after the frame before it ({:?}), under the interval",
                i + 1,
                w[1].1 - w[0].1,
                w[0].0
            );
        }
    }
}

/// Node a listening on loopback TCP, node b dialling it, both links up; the received
/// messages arrive on the recorder's channel.
async fn tcp_pair_up() -> (Node, Events, Node, Link, mpsc::UnboundedReceiver<Got>) {
    let bus = Bus::new();
    let (rec, got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let b_link = b.connect("a", at);
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    (a, a_events, b, b_link, got)
}

/// b closes its link; a's link must go down as closed by the peer, with b's reason.
async fn close_and_expect_closed_by_peer(b_link: &Link, a_events: &mut Events, context: &str) {
    b_link.close("done for the day");
    let down = a_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, by_peer } = down.kind else {
        unreachable!()
    };
    assert!(by_peer, "{context}{reason}");
    assert!(
        reason.contains("the peer closed the link") && reason.contains("done for the day"),
        "{context}{reason}"
    );
}

/// A link closed while its peer keeps sending still says why: the frames that arrive after
/// the close end its reader, and its writer sends the Close frame all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_closed_under_a_stream_of_tells_still_sends_its_close_frame() {
    for round in 0..5 {
        let (a, mut a_events, b, b_link, mut got) = tcp_pair_up().await;
        let a_link = a.link("b").expect("a's link to b");
        let svc: Arc<str> = "strategy".into();
        // a streams tells at b until its link goes down.
        let stream = tokio::spawn(async move {
            let mut i = 0u32;
            while a_link
                .send(Kind::Tell, &svc, 100, |o| o.extend_from_slice(&body(i)))
                .await
                .is_ok()
            {
                i = i.wrapping_add(1);
            }
        });
        // Closed in the middle of the stream.
        recv_n(&mut got, 10).await;
        close_and_expect_closed_by_peer(&b_link, &mut a_events, &format!("round {round}: ")).await;
        a.shutdown();
        b.shutdown();
        stream.abort();
    }
}

/// A peer that closes its link on purpose sends a Close frame: this side's link goes down
/// marked as closed by the peer (logged at info, not as a warning), with the peer's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_closing_its_link_is_reported_as_closed_by_the_peer() {
    let (a, mut a_events, b, b_link, _got) = tcp_pair_up().await;
    close_and_expect_closed_by_peer(&b_link, &mut a_events, "").await;
    a.shutdown();
    b.shutdown();
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

/// A reply too large for a frame reaches the asker as a failure that says so, whether it was
/// ready when the ask was delivered or came later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_too_large_for_a_frame_fails_the_ask_with_its_size() {
    let dir = TempDir::new("huge-reply");
    let (a, b, link) = scenario::in_order(&dir.socket("a.sock"), Mode::Block, 1, 3).await;
    for service in ["huge", "huge-later"] {
        let svc: Arc<str> = service.into();
        let result = tokio::time::timeout(BOUND, link.ask(&svc, 7, |o| o.push(1)))
            .await
            .unwrap_or_else(|_| panic!("{service}: no answer"));
        match result {
            Err(RemoteAskError::Failed(reason)) => assert!(
                reason.contains("exceeds the frame maximum"),
                "{service}: {reason}"
            ),
            other => panic!("{service}: expected a failure, got {other:?}"),
        }
    }
    // The link is still up and in order after both.
    let svc: Arc<str> = "strategy".into();
    let (_, reply) = link
        .ask(&svc, 7, |o| o.extend_from_slice(&[1, 2]))
        .await
        .unwrap();
    assert_eq!(reply, vec![2, 1]);
    drop((link, a, b));
}

/// A dispatcher of tells only, which counts them. Its deliveries are ready at once and take
/// none of the task's cooperative budget, except the first when it is given a hold: that one
/// says it got there and waits, inside its delivery, until the test releases it.
#[derive(Default)]
struct TellSink {
    delivered: Arc<std::sync::atomic::AtomicU64>,
    hold: std::sync::Mutex<Option<Hold>>,
}

struct Hold {
    entered: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

impl mycelium_remote::Dispatch for TellSink {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        self.delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hold = self.hold.lock().unwrap().take();
        Box::pin(async move {
            if let Some(Hold { entered, release }) = hold {
                let _ = entered.send(());
                let _ = release.await;
            }
            Ok(())
        })
    }
    fn ask<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<
        'a,
        Result<mycelium_remote::ReplyFuture, mycelium_remote::DispatchError>,
    > {
        Box::pin(async { Err(mycelium_remote::DispatchError::Failed("tells only".into())) })
    }
    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async { Ok(()) })
    }
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

/// Waits for the link to go down and asserts the peer closed it with a Close frame.
async fn expect_closed_by_peer(events: &mut Events, failure: &str) {
    let down = events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    assert!(
        matches!(down.kind, LinkEventKind::Down { by_peer: true, .. }),
        "{failure}: {down:?}"
    );
}

/// Node `a` connected to node `b`, whose dispatcher holds the first tell inside its delivery
/// until `release` is sent (or dropped): the tell has reached `b` and is not acknowledged.
struct HeldDelivery {
    a: Node,
    a_events: Events,
    b: Node,
    link: Link,
    release: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl HeldDelivery {
    async fn start(tag: &str) -> HeldDelivery {
        let dir = TempDir::new(tag);
        let bus = Bus::new();
        let (entered_tx, entered) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        let held = Arc::new(TellSink {
            hold: std::sync::Mutex::new(Some(Hold {
                entered: entered_tx,
                release: release_rx,
            })),
            ..TellSink::default()
        });
        let (b, _) = node("b", &bus, held, fast_config());
        let at = b.listen(&dir.socket("b.sock"), &["a"]).await.unwrap();
        let (sink, _) = Recorder::new(true);
        let (a, a_events) = node("a", &bus, sink, fast_config());
        let link = a.connect("b", at);
        let svc: Arc<str> = "sink".into();
        link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(0)))
            .await
            .unwrap();
        tokio::time::timeout(BOUND, entered)
            .await
            .expect("the tell reached b's dispatcher")
            .unwrap();
        HeldDelivery {
            a,
            a_events,
            b,
            link,
            release: Some(release),
            _dir: dir,
        }
    }
}

/// A delivery that never ends does not hold a closing node's Close frame back for more than
/// its grace: `close` returns, the peer sees the link closed, and the tell, never delivered,
/// stays unacknowledged there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_stuck_at_close_holds_the_close_frame_back_a_second_at_most() {
    let mut held = HeldDelivery::start("close-stuck").await;
    tokio::time::timeout(BOUND, held.b.close())
        .await
        .expect("close returned within its bound");
    expect_closed_by_peer(
        &mut held.a_events,
        "b did not close the link with a Close frame",
    )
    .await;
    assert_eq!(
        held.link.queued(),
        1,
        "a tell never delivered was acknowledged"
    );
}

/// A node that shuts down while a message is being delivered acknowledges it in its Close
/// frame: the sender holds nothing unacknowledged and reports no loss. (Before, when the last
/// message of a stream ended the receiving process, its sender kept it as unacknowledged,
/// waited for the peer to come back and, giving up a minute later, reported it lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_shutting_down_acknowledges_in_its_close_frame_what_it_delivered() {
    let mut held = HeldDelivery::start("close-acks").await;
    let (a_events, link) = (&mut held.a_events, &held.link);
    // b shuts down while its reader is inside the delivery: nothing is acknowledged yet.
    assert_eq!(link.queued(), 1);
    held.b.shutdown();
    held.release.take().unwrap().send(()).unwrap();
    expect_closed_by_peer(a_events, "b did not close the link with a Close frame").await;
    assert_eq!(
        link.queued(),
        0,
        "the delivered tell is still unacknowledged"
    );
    held.a.shutdown();
    let loss = a_events
        .drain()
        .iter()
        .find(|e| matches!(e.kind, LinkEventKind::Loss(_)))
        .cloned();
    assert!(loss.is_none(), "a reported a loss: {loss:?}");
}

/// A node that closes its link while the peer is still delivering what it sent reports no
/// loss of it: the peer answers the Close frame with one that acknowledges the delivery, and
/// the loss report waits for that answer. (Before, the report was made at once, and every
/// message delivered but not yet acknowledged was reported lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_node_reports_no_loss_of_what_the_peer_delivered_meanwhile() {
    let mut held = HeldDelivery::start("close-answered").await;
    // a closes while b's reader is inside the delivery: nothing is acknowledged yet.
    assert_eq!(held.link.queued(), 1);
    held.a.shutdown();
    held.release.take().unwrap().send(()).unwrap();
    tokio::time::timeout(BOUND, held.link.closed())
        .await
        .expect("a's connection ended within the bound");
    let events = held.a_events.drain();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::GaveUp { .. })),
        "a's link did not close: {events:?}"
    );
    let loss = events
        .iter()
        .find(|e| matches!(e.kind, LinkEventKind::Loss(_)));
    assert!(loss.is_none(), "a reported a delivered tell lost: {loss:?}");
    assert_eq!(held.link.queued(), 0);
}

/// A closing node whose peer never answers its Close frame (stuck in a delivery) still
/// reports what is unacknowledged lost, once its grace has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_node_whose_peer_never_answers_reports_the_unacknowledged_lost() {
    let mut held = HeldDelivery::start("close-unanswered").await;
    held.a.shutdown();
    let report = held.a_events.loss().await;
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 1, LossReason::GaveUp)
    );
    held.b.shutdown();
}

/// A closing node whose writer is parked on a full socket (the peer's reader is stuck in a
/// delivery, and the peer's heartbeats keep this side's reader alive) still ends its
/// connection within the close's grace: its loss report comes and `Link::closed` returns
/// while the peer is still stuck. (Before, the connection waited for room in the socket for
/// ever: no report, and the link's memory held.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_node_whose_writer_waits_on_a_full_socket_still_reports() {
    let mut held = HeldDelivery::start("close-full-socket").await;
    let svc: Arc<str> = "sink".into();
    // Far more than a Unix socket buffers: the writer cannot write the first of them whole
    // while b's reader is held.
    for _ in 0..4 {
        held.link
            .send(Kind::Tell, &svc, 1, |o| o.resize(1_000_000, 7))
            .await
            .unwrap();
    }
    tokio::time::timeout(BOUND, async {
        while held.link.stats().written < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a's writer took a large tell");
    held.a.shutdown();
    let report = held.a_events.loss().await;
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 5, LossReason::GaveUp)
    );
    tokio::time::timeout(BOUND, held.link.closed())
        .await
        .expect("a's connection ended");
    held.b.shutdown();
}

/// `Node::close` returns once the node's Close frames are written: a process that ends right
/// after it has told its peers what it delivered, and they see it close the link rather than
/// vanish. (With `shutdown` alone the end of the runtime cut the Close frame off, and the
/// peer, holding the last message as unacknowledged, reported it lost when it gave up.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_node_has_told_its_peers_before_its_runtime_ends() {
    let dir = TempDir::new("node-close");
    let bus = Bus::new();
    let (sink, _) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, sink, fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    // b on a runtime of its own, which ends as a process would, right after `close`.
    let (rec, mut got) = Recorder::new(true);
    let b_process = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let bus = Bus::new();
            let (b, _) = node("b", &bus, rec, fast_config());
            let _link = b.connect("a", at);
            recv_n(&mut got, 1).await;
            b.close().await;
        });
    });
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let link = a.link_to("b");
    let svc: Arc<str> = "sink".into();
    link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(0)))
        .await
        .unwrap();
    expect_closed_by_peer(&mut a_events, "b's Close frame did not arrive").await;
    assert_eq!(
        link.queued(),
        0,
        "the delivered tell is still unacknowledged"
    );
    tokio::task::spawn_blocking(move || b_process.join())
        .await
        .unwrap()
        .expect("b's thread");
}

/// A node's shutdown stops the supervisors of its links, which stop their drivers and keepers
/// themselves: no exit of theirs is left queued at a killed supervisor and reported as a dead
/// letter on every shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_nodes_leaves_no_dead_letters() {
    let dir = TempDir::new("close-letters");
    let (bus_a, bus_b) = (Bus::new(), Bus::new());
    let (sink_a, _) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus_a, sink_a, fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (sink_b, _) = Recorder::new(true);
    let (b, _) = node("b", &bus_b, sink_b, fast_config());
    let link = b.connect("a", at);
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "sink".into();
    let asked = link.ask(&svc, 1, |o| o.push(1)).await;
    assert!(asked.is_ok(), "{asked:?}");
    tokio::join!(a.close(), b.close());
    for (name, bus) in [("a", &bus_a), ("b", &bus_b)] {
        bus.shutdown(BOUND).await;
        let letters = bus.dead_letters().drain();
        assert!(
            letters.is_empty(),
            "{name} reported dead letters: {:?}",
            letters.iter().map(|l| l.to_string()).collect::<Vec<_>>()
        );
    }
}

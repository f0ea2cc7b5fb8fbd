//! Link metrics through the `metrics` facade, read with metrics-util's debugging recorder:
//! state, frames and bytes both ways, resends after a cut connection, loss reports, refused
//! incoming connections by reason; and a bus without metrics records none.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::seen::{metrics_bus, Seen};
use common::*;
use metrics_util::debugging::DebuggingRecorder;
use mycelium_actors::telemetry::names;
use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, LinkConfig, LinkEventKind, LocalSchema, Mode, Node};

/// A connection cut while the receiver holds every message unacknowledged: the reconnection
/// resends all five, which the resend counter shows; frames and bytes count both ways, and
/// both ends show the link up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_metrics_count_frames_bytes_state_and_resends() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let bus = metrics_bus();
    let (rec, mut got) = Recorder::new(false);
    let (a, mut a_events) = node("ma", &bus, rec.clone(), fast_config());
    let (b, mut b_events) = node("mb", &bus, rec.clone(), fast_config());
    // The instruments are resolved when a link is made: make both under this test's recorder.
    metrics::with_local_recorder(&recorder, || {
        a.link_to("mb");
        b.link_to("ma");
    });
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["mb"])
        .await
        .unwrap();
    let relay = Relay::start(at).await;
    let link = b.connect("ma", relay.endpoint.clone());
    // Both sides attached before the cut, which then falls on an established connection.
    a_events
        .wait("ma up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "sink".into();
    for i in 0..5u8 {
        link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&[i; 40]))
            .await
            .unwrap();
    }
    tokio::time::timeout(BOUND, async {
        while link.stats().written < 5 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all five written");
    relay.cut();
    let up = b_events
        .wait(
            "up again",
            |k| matches!(k, LinkEventKind::Up { resent, .. } if *resent > 0),
        )
        .await;
    assert!(
        matches!(up.kind, LinkEventKind::Up { resent: 5, .. }),
        "{up:?}"
    );
    rec.gate.add_permits(5);
    recv_n(&mut got, 5).await;
    // A data frame here: 32 (codec header) + 20 (link header) + 4 ("sink") + 40 = 96 bytes.
    // At least the five resent ones went out on the new connection and came in at `ma` (the
    // first writes may have died with the cut connection, uncounted).
    let mut seen = Seen::default();
    seen.until(&snapshotter, |s| {
        s.get(&format!("{}{{peer=ma,direction=sent}}", names::LINK_FRAMES)) >= 5.0
            && s.get(&format!("{}{{peer=ma,direction=sent}}", names::LINK_BYTES)) >= 5.0 * 96.0
            && s.get(&format!(
                "{}{{peer=mb,direction=received}}",
                names::LINK_FRAMES
            )) >= 5.0
            && s.get(&format!(
                "{}{{peer=mb,direction=received}}",
                names::LINK_BYTES
            )) >= 5.0 * 96.0
    })
    .await;
    assert_eq!(
        seen.get(&format!("{}{{peer=ma}}", names::LINK_RESENDS)),
        5.0
    );
    assert_eq!(seen.get(&format!("{}{{peer=ma}}", names::LINK_STATE)), 2.0);
    assert_eq!(seen.get(&format!("{}{{peer=mb}}", names::LINK_STATE)), 2.0);
    // The receiver acknowledged what it delivered: control frames went the other way.
    seen.until(&snapshotter, |s| {
        s.get(&format!("{}{{peer=mb,direction=sent}}", names::LINK_FRAMES)) >= 1.0
            && s.get(&format!(
                "{}{{peer=ma,direction=received}}",
                names::LINK_FRAMES
            )) >= 1.0
    })
    .await;
    assert_eq!(
        seen.get(&format!("{}{{peer=ma}}", names::LINK_LOSS_REPORTS)),
        0.0
    );
    a.shutdown();
    b.shutdown();
}

/// A link that gives up with two messages queued: one loss report naming two frames, and the
/// state gauge at 0 (down).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_metrics_count_loss_reports() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics-loss");
    let bus = metrics_bus();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 2,
        ..fast_config()
    };
    let (b, mut events) = node("lb", &bus, rec, config);
    let link = metrics::with_local_recorder(&recorder, || b.link_to("nobody"));
    // Queued before dialling, so that the link cannot give up first.
    let svc: Arc<str> = "x".into();
    link.try_send(Kind::Tell, &svc, 9, |o| o.push(1)).unwrap();
    link.try_send(Kind::Tell, &svc, 9, |o| o.push(2)).unwrap();
    b.connect("nobody", dir.socket("nobody.sock"));
    events.loss().await;
    let mut seen = Seen::default();
    seen.take(&snapshotter);
    assert_eq!(
        seen.get(&format!("{}{{peer=nobody}}", names::LINK_LOSS_REPORTS)),
        1.0
    );
    assert_eq!(
        seen.get(&format!("{}{{peer=nobody}}", names::LINK_LOST_FRAMES)),
        2.0
    );
    let state = format!("{}{{peer=nobody}}", names::LINK_STATE);
    assert!(seen.0.contains_key(&state), "{:#?}", seen.0);
    assert_eq!(seen.get(&state), 0.0);
    b.shutdown();
}

/// A spinning link with nothing to read spends its budget and parks: each park is counted,
/// in the link's stats and in `mycelium_link_parks_total`, on both ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_metrics_count_a_spinning_readers_parks() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics-parks");
    let bus = metrics_bus();
    let (rec, mut got) = Recorder::new(true);
    let config = LinkConfig {
        mode: Mode::Spin(Duration::from_micros(100)),
        ..fast_config()
    };
    let (a, _) = node("pa", &bus, rec.clone(), config.clone());
    let (b, mut b_events) = node("pb", &bus, rec, config);
    metrics::with_local_recorder(&recorder, || {
        a.link_to("pb");
        b.link_to("pa");
    });
    let at = a.listen(&dir.socket("pa.sock"), &["pb"]).await.unwrap();
    let link = b.connect("pa", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "sink".into();
    link.send(Kind::Tell, &svc, 1, |o| o.push(1)).await.unwrap();
    recv_n(&mut got, 1).await;
    // Nothing more crosses: each reader parks once its 100 µs budget is spent.
    let mut seen = Seen::default();
    seen.until(&snapshotter, |s| {
        s.get(&format!("{}{{peer=pa}}", names::LINK_PARKS)) >= 1.0
            && s.get(&format!("{}{{peer=pb}}", names::LINK_PARKS)) >= 1.0
    })
    .await;
    assert!(link.stats().parks >= 1, "{:?}", link.stats());
    a.shutdown();
    b.shutdown();
}

/// A bus without metrics resolves no instruments: its link records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_without_metrics_records_no_link_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics-off");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 2,
        ..fast_config()
    };
    let (b, mut events) = node("ob", &bus, rec, config);
    let link = metrics::with_local_recorder(&recorder, || b.link_to("nobody"));
    let svc: Arc<str> = "x".into();
    link.try_send(Kind::Tell, &svc, 9, |o| o.push(1)).unwrap();
    b.connect("nobody", dir.socket("nobody.sock"));
    events.loss().await;
    assert!(snapshotter.snapshot().into_vec().is_empty());
    b.shutdown();
}

/// Incoming connections a listener refuses are counted by reason: a wrong secret (`auth`), a
/// node it does not accept (`node`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_by_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics-refused");
    let bus = metrics_bus();
    let (rec, _) = Recorder::new(true);
    // The listeners' counters are resolved when the node is built.
    let (a, _) =
        metrics::with_local_recorder(&recorder, || node("ra", &bus, rec.clone(), fast_config()));
    let at = a
        .listen(&dir.socket("ra.sock"), &["rb", "rd"])
        .await
        .unwrap();
    let wrong = mycelium_remote::Secret::new(*b"another secret, 32 bytes long...").unwrap();
    let (observer, mut wrong_events) = events();
    let b = Node::builder("rb", schema(), wrong)
        .config(fast_config())
        .observer(observer)
        .build(&Bus::new(), rec.clone());
    b.connect("ra", at.clone());
    wrong_events
        .wait("refused", |k| matches!(k, LinkEventKind::Refused { .. }))
        .await;
    let (c, mut stranger_events) = node("rc", &Bus::new(), rec.clone(), fast_config());
    c.connect("ra", at.clone());
    stranger_events
        .wait("refused", |k| matches!(k, LinkEventKind::Refused { .. }))
        .await;
    // A node it accepts, with the secret, but a schema it cannot agree with.
    let (observer, mut schema_events) = events();
    let d = Node::builder("rd", LocalSchema::from_digest([0xcd; 32]), secret())
        .config(fast_config())
        .observer(observer)
        .build(&Bus::new(), rec);
    d.connect("ra", at);
    schema_events
        .wait("refused", |k| matches!(k, LinkEventKind::Refused { .. }))
        .await;
    let mut seen = Seen::default();
    seen.until(&snapshotter, |s| {
        s.get(&format!("{}{{reason=auth}}", names::LINK_REFUSED)) == 1.0
            && s.get(&format!("{}{{reason=node}}", names::LINK_REFUSED)) == 1.0
            && s.get(&format!("{}{{reason=schema}}", names::LINK_REFUSED)) == 1.0
    })
    .await;
    for other in ["handshake", "tls", "turned_away"] {
        assert_eq!(
            seen.get(&format!("{}{{reason={other}}}", names::LINK_REFUSED)),
            0.0
        );
    }
    a.shutdown();
    b.shutdown();
    c.shutdown();
    d.shutdown();
}

/// Connections refused before any node is known are counted too: bytes that are no
/// handshake (`handshake`), and a connection whose handshake slot a newer one took when all
/// were held (`turned_away`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_refused_before_the_handshake_are_counted_by_reason() {
    use mycelium_remote::transport::Stream;
    use tokio::io::AsyncWriteExt;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics-door");
    let bus = metrics_bus();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        // Longer than any wait of the test: the idle connections below keep their places.
        handshake_timeout: 3 * BOUND,
        ..fast_config()
    };
    let (a, _) = metrics::with_local_recorder(&recorder, || node("da", &bus, rec, config));
    let at = a.listen(&dir.socket("da.sock"), &["db"]).await.unwrap();
    let mut garbage = Stream::connect(&at).await.unwrap();
    garbage.write_all(&[0xff; 64]).await.unwrap();
    let mut seen = Seen::default();
    let handshake = format!("{}{{reason=handshake}}", names::LINK_REFUSED);
    let turned_away = format!("{}{{reason=turned_away}}", names::LINK_REFUSED);
    seen.until(&snapshotter, |s| s.get(&handshake) == 1.0).await;
    let mut idle = Vec::new();
    for _ in 0..mycelium_remote::MAX_HANDSHAKES {
        idle.push(Stream::connect(&at).await.unwrap());
    }
    // One more takes the oldest one's handshake slot, which is closed.
    let extra = Stream::connect(&at).await.unwrap();
    seen.until(&snapshotter, |s| s.get(&turned_away) == 1.0)
        .await;
    assert_eq!(
        seen.get(&handshake),
        1.0,
        "the idle ones are still in theirs"
    );
    for other in ["auth", "node", "schema", "tls", "silent"] {
        assert_eq!(
            seen.get(&format!("{}{{reason={other}}}", names::LINK_REFUSED)),
            0.0
        );
    }
    // Closed without a word, the idle ones are silent, not failed handshakes; so is the
    // probe of a second process that tries to listen on the node's socket path.
    let silent = format!("{}{{reason=silent}}", names::LINK_REFUSED);
    drop(idle);
    drop(extra);
    seen.until(&snapshotter, |s| {
        s.get(&silent) == mycelium_remote::MAX_HANDSHAKES as f64
    })
    .await;
    let taken = mycelium_remote::transport::Listener::bind(&at).await;
    assert!(
        taken.is_err(),
        "a second listener on a live node's socket path"
    );
    seen.until(&snapshotter, |s| {
        s.get(&silent) == (mycelium_remote::MAX_HANDSHAKES + 1) as f64
    })
    .await;
    assert_eq!(seen.get(&handshake), 1.0);
    a.shutdown();
}

/// A peer that connects to an `shm:` socket and closes before the segment's name reached it
/// (a probe, a health check) is a silent peer, counted as such and logged at debug level, not
/// a failure to accept that makes the listener wait; the next connection is set up. (One
/// thread: the probe closes before the accept loop runs, so the name's send is what fails.)
#[tokio::test]
async fn a_probe_of_an_shm_socket_is_counted_as_silent() {
    use mycelium_remote::shm::{ShmEndpoint, ShmStream};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics-shm-probe");
    let bus = metrics_bus();
    let (rec, _) = Recorder::new(true);
    let (a, _) = metrics::with_local_recorder(&recorder, || node("sa", &bus, rec, fast_config()));
    let mut shm = ShmEndpoint::new(dir.path().join("sa.sock"));
    shm.prefix = format!("myc-metrics-probe-{}", std::process::id());
    shm.ring_bytes = 4096;
    a.listen(&Endpoint::Shm(shm.clone()), &["sb"])
        .await
        .unwrap();
    drop(std::os::unix::net::UnixStream::connect(&shm.socket).unwrap());
    // The listener takes the probe first, then this connection.
    let next = tokio::time::timeout(BOUND, ShmStream::connect(&shm)).await;
    assert!(matches!(next, Ok(Ok(_))), "{next:?}");
    let silent = format!("{}{{reason=silent}}", names::LINK_REFUSED);
    let mut seen = Seen::default();
    seen.until(&snapshotter, |s| s.get(&silent) == 1.0).await;
    a.shutdown();
}

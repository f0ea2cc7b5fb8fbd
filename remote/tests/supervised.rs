//! Both sides' connections run under a supervisor. Dialling: a connection task that panics
//! is restarted with backoff, and the link's log survives the restart (nothing lost, nothing
//! twice). Accepting: the keeper of a link's accepted connections is restarted after a panic
//! and takes the peer's next connection; one that keeps panicking gives the link up, and both
//! sides report what they held; a peer that does not come back within `give_up_after` is
//! given up with a report.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::{
    Dispatch, DispatchError, Endpoint, LinkConfig, LinkEventKind, LossReason, ReplyFuture,
};

/// Panics at its first tell (a bug in a dispatcher, on the connection's task); then records.
/// With `always`, panics at every tell.
struct PanicOnce {
    inner: Arc<Recorder>,
    fired: AtomicBool,
    always: bool,
}

impl PanicOnce {
    fn new(inner: Arc<Recorder>, always: bool) -> Arc<PanicOnce> {
        Arc::new(PanicOnce {
            inner,
            fired: AtomicBool::new(false),
            always,
        })
    }
}

impl Dispatch for PanicOnce {
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        if !self.fired.swap(true, Ordering::SeqCst) || self.always {
            panic!("a dispatcher bug, on purpose");
        }
        self.inner.tell(service, type_id, body)
    }

    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        self.inner.ask(service, type_id, body)
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        key: Option<u64>,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        self.inner.publish(topic, type_id, key, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_connection_is_restarted_and_resumes_without_loss() {
    let bus = Bus::new();
    let (a_rec, _a_got) = Recorder::new(true);
    let (a, _) = node("a", &bus, a_rec, fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .expect("listen");
    let (b_rec, mut b_got) = Recorder::new(true);
    let panicking = PanicOnce::new(b_rec, false);
    // `b` dials: its connection driver is the supervised actor.
    let (b, mut b_events) = node("b", &bus, panicking, fast_config());
    let b_link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;

    // `a` tells `b`: the first delivery panics on b's connection task.
    let a_link = a.link("b").expect("link to b");
    let svc: Arc<str> = "sink".into();
    a_link
        .send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"first"))
        .await
        .expect("queued");
    let down = b_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, by_peer } = down.kind else {
        unreachable!()
    };
    assert!(
        !by_peer,
        "seen on this side, not closed by the peer: {reason}"
    );
    assert!(reason.contains("panicked"), "{reason}");
    // The restarted driver reconnects; the unacknowledged frame is resent and delivered once.
    b_events
        .wait("up again", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    a_link
        .send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"second"))
        .await
        .expect("queued");
    let got = recv_n(&mut b_got, 2).await;
    assert_eq!(got[0].body, b"first");
    assert_eq!(got[1].body, b"second");
    assert!(b_got.try_recv().is_err(), "a message arrived twice");
    assert_eq!(b_link.stats().duplicates, 0);
    assert!(b_link.closed_reason().is_none());
    assert!(b_events.drain().iter().all(|e| !matches!(
        e.kind,
        LinkEventKind::Loss(_) | LinkEventKind::GaveUp { .. }
    )));
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_accepted_connection_is_restarted_and_resumes_without_loss() {
    let bus = Bus::new();
    let (a_rec, mut a_got) = Recorder::new(true);
    // `a` accepts: its connections run under its link's supervised keeper.
    let (a, mut a_events) = node("a", &bus, PanicOnce::new(a_rec, false), fast_config());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .expect("listen");
    let (b_rec, _b_got) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, b_rec, fast_config());
    let b_link = b.connect("a", at);
    let svc: Arc<str> = "sink".into();
    b_link
        .send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"first"))
        .await
        .expect("queued");
    // The first delivery panics on a's connection task: a's keeper detaches it and fails.
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
    assert!(reason.contains("panicked"), "{reason}");
    // The peer dials again, the restarted keeper takes the connection, the frame is resent.
    a_events
        .wait("up again", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    b_link
        .send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"second"))
        .await
        .expect("queued");
    let got = recv_n(&mut a_got, 2).await;
    assert_eq!(got[0].body, b"first");
    assert_eq!(got[1].body, b"second");
    assert!(a_got.try_recv().is_err(), "a message arrived twice");
    let a_link = a.link("b").expect("link to b");
    assert!(a_link.closed_reason().is_none());
    for events in [a_events.drain(), b_events.drain()] {
        assert!(events.iter().all(|e| !matches!(
            e.kind,
            LinkEventKind::Loss(_) | LinkEventKind::GaveUp { .. }
        )));
    }
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_connection_that_keeps_panicking_gives_up_and_both_sides_report() {
    let bus = Bus::new();
    let config = LinkConfig {
        max_attempts: 3,
        ..fast_config()
    };
    let (a_rec, mut a_got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, PanicOnce::new(a_rec, true), config);
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .expect("listen");
    let (b_rec, _b_got) = Recorder::new(true);
    let patient = LinkConfig {
        max_attempts: 10_000,
        ..fast_config()
    };
    let (b, mut b_events) = node("b", &bus, b_rec, patient);
    let b_link = b.link_to("a");
    let svc: Arc<str> = "sink".into();
    b_link
        .try_send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"poison"))
        .expect("queued");
    b.connect("a", at);
    // Every delivery of the resent frame panics: after 3 in a row, a gives the link up.
    let gave_up = a_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let LinkEventKind::GaveUp { reason } = gave_up.kind else {
        unreachable!()
    };
    assert!(reason.contains("panicked 3 times in a row"), "{reason}");
    // b's next handshake is refused, so b gives up too and reports the message it held.
    let refused = b_events
        .wait("refused", |k| matches!(k, LinkEventKind::Refused { .. }))
        .await;
    let LinkEventKind::Refused { reason } = refused.kind else {
        unreachable!()
    };
    assert!(reason.contains("gave the link up"), "{reason}");
    let report = b_events.loss().await;
    assert_eq!(report.reason, LossReason::GaveUp);
    assert_eq!((report.first_seq, report.last_seq), (1, 1));
    assert!(a_got.try_recv().is_err(), "the poison was never delivered");
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_side_gives_up_when_the_peer_does_not_come_back() {
    let bus = Bus::new();
    // The wait is also how long `a` waits for b's first connection, from `listen` on: it
    // bounds a dial and a handshake over real sockets, which a loaded machine can stall for
    // seconds (at 200 ms, a stall of the test's thread before `connect` had `a` give up on a
    // peer that had not connected yet).
    let config = LinkConfig {
        give_up_after: Duration::from_secs(5),
        ..fast_config()
    };
    let (a_rec, _a_got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, a_rec, config);
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .expect("listen");
    // b takes nothing: what a sends stays unacknowledged.
    let (b_rec, mut b_got) = Recorder::new(false);
    let (b, mut b_events) = node("b", &bus, b_rec, fast_config());
    b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let a_link = a.link("b").expect("link to b");
    let svc: Arc<str> = "sink".into();
    a_link
        .send(Kind::Tell, &svc, 7, |o| o.extend_from_slice(b"held"))
        .await
        .expect("queued");
    tokio::time::timeout(BOUND, async {
        while a_link.stats().written < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("written");
    b.shutdown();
    a_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let gave_up = a_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let LinkEventKind::GaveUp { reason } = gave_up.kind else {
        unreachable!()
    };
    assert!(reason.contains("did not reconnect"), "{reason}");
    let report = a_events.loss().await;
    assert_eq!((report.first_seq, report.last_seq), (1, 1));
    assert_eq!(report.messages[0].type_id, 7);
    assert!(b_got.try_recv().is_err());
    a.shutdown();
}

/// A node that listens for a peer (without a topology) which never connects gives the link
/// up after `give_up_after`, and reports what was queued for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_side_gives_up_on_a_peer_that_never_connects() {
    let bus = Bus::new();
    let config = LinkConfig {
        give_up_after: Duration::from_millis(200),
        ..fast_config()
    };
    let (a_rec, _a_got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, a_rec, config);
    a.listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .expect("listen");
    let a_link = a.link("b").expect("link to b");
    let svc: Arc<str> = "sink".into();
    a_link
        .send(Kind::Tell, &svc, 7, |o| o.extend_from_slice(b"queued"))
        .await
        .expect("queued");
    let gave_up = a_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let LinkEventKind::GaveUp { reason } = gave_up.kind else {
        unreachable!()
    };
    assert!(reason.contains("never connected"), "{reason}");
    let report = a_events.loss().await;
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 1, LossReason::GaveUp)
    );
    a.shutdown();
}

/// `max_attempts: 0` is taken as one attempt: neither side gives the link up before it
/// tried (before, both gave up at once, "panicked 0 times in a row").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_zero_still_makes_the_first_attempt() {
    let bus = Bus::new();
    let config = LinkConfig {
        max_attempts: 0,
        ..fast_config()
    };
    let (a_rec, mut a_got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, a_rec, config.clone());
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .expect("listen");
    let (b_rec, _b_got) = Recorder::new(true);
    let (b, mut b_events) = node("b", &bus, b_rec, config);
    let link = b.connect("a", at);
    let svc: Arc<str> = "sink".into();
    link.send(Kind::Tell, &svc, 7, |o| o.extend_from_slice(b"one"))
        .await
        .expect("queued");
    assert_eq!(recv_n(&mut a_got, 1).await[0].body, b"one");
    for events in [&mut a_events, &mut b_events] {
        assert!(
            !events
                .drain()
                .iter()
                .any(|e| matches!(e.kind, LinkEventKind::GaveUp { .. })),
            "{:?}",
            events.seen
        );
    }
    a.shutdown();
    b.shutdown();
}

/// The keeper's supervisor cannot start on a bus that has shut down: `listen` says so, binds
/// nothing, and a later `listen` on a live bus's node works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_on_a_stopped_bus_fails_and_leaves_nothing_behind() {
    let dir = TempDir::new("sup-stopped");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    bus.shutdown(Duration::from_secs(1)).await;
    let err = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot supervise the connections accepted on"),
        "{err}"
    );
    assert!(
        !dir.path().join("a.sock").exists(),
        "the socket file was left behind"
    );
    assert!(a
        .link("b")
        .expect("the link exists")
        .closed_reason()
        .is_none());
    drop(a);

    let live = Bus::new();
    let (a2, _) = node("a", &live, rec, fast_config());
    a2.listen(&dir.socket("a.sock"), &["b"])
        .await
        .expect("listen");
}

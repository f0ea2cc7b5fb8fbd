//! The dialling side's connection driver runs under a supervisor: a connection task that
//! panics is restarted with backoff, and the link's log survives the restart (nothing lost,
//! nothing twice).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::{Dispatch, DispatchError, Endpoint, LinkEventKind, ReplyFuture};

/// Panics at its first tell (a bug in a dispatcher, on the connection's task); then records.
struct PanicOnce {
    inner: Arc<Recorder>,
    fired: AtomicBool,
}

impl Dispatch for PanicOnce {
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        if !self.fired.swap(true, Ordering::SeqCst) {
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
    let panicking = Arc::new(PanicOnce {
        inner: b_rec,
        fired: AtomicBool::new(false),
    });
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
    let LinkEventKind::Down { reason } = down.kind else {
        unreachable!()
    };
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

//! Asks and their link: failing at once when it drops, given up by their askers, and waiting
//! for room across a reconnection.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, LinkConfig, LinkEventKind, RemoteAskError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_fails_at_once_when_its_link_drops() {
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
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let never: Arc<str> = "never".into();
    let ask = {
        let link = link.clone();
        tokio::spawn(async move { link.ask(&never, 1, |o| o.push(1)).await })
    };
    // Wait until the request reached the handler, which never answers (so it is never
    // acknowledged either: an ask is acknowledged once answered).
    let reached = tokio::time::timeout(BOUND, got.recv()).await.unwrap();
    assert_eq!(reached.expect("the ask").service, "never");
    relay.cut();
    let result = tokio::time::timeout(BOUND, ask).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(RemoteAskError::LinkDown { .. })),
        "{result:?}"
    );
}

/// Asks whose askers gave up leave the link's asks in flight, though the peer never answers
/// them: a dropped `Link::ask` at once, an `ask_timeout` that timed out
/// when the next asks are registered (the asks in flight stay bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_given_up_by_their_askers_leave_the_asks_in_flight() {
    use mycelium_contracts::Quote;
    use mycelium_remote::RemoteActor;
    let dir = TempDir::new("abandoned-asks");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let never: Arc<str> = "never".into();

    // A `Link::ask` whose future is dropped once the request reached the handler.
    let ask = {
        let link = link.clone();
        let never = never.clone();
        tokio::spawn(async move { link.ask(&never, 1, |o| o.push(1)).await })
    };
    let reached = tokio::time::timeout(BOUND, got.recv()).await.unwrap();
    assert_eq!(reached.expect("the ask").service, "never");
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

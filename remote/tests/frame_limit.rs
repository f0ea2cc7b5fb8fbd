//! Two nodes with different `max_frame`: the hello carries each side's limit, a message too
//! large for the peer is refused at once, and one queued before the limit was known is
//! reported lost, not sent again on every connection.

mod common;

use std::sync::Arc;

use common::*;
use mycelium_actors::{Bus, DeadLetterReason};
use mycelium_remote::frame::Kind;
use mycelium_remote::{
    LinkConfig, LinkEventKind, LossReason, Node, RemoteAskError, SendError, WireError,
};

const SMALL: u32 = 4096;
const LARGE: u32 = 65536;
/// A body that fits the larger limit and not the smaller.
const TEN_KIB: usize = 10 * 1024;

fn config(max_frame: u32) -> LinkConfig {
    LinkConfig {
        max_frame,
        ..fast_config()
    }
}

/// `big` sends with a limit of [`LARGE`] to `small`, whose limit is [`SMALL`].
struct Pair {
    big: Node,
    big_events: Events,
    small: Node,
    small_events: Events,
    rx: tokio::sync::mpsc::UnboundedReceiver<Got>,
    _dir: TempDir,
}

fn pair(tag: &str, bus: &Bus) -> Pair {
    let dir = TempDir::new(tag);
    let (sink, _) = Recorder::new(true);
    let (big, big_events) = node("big", bus, sink, config(LARGE));
    let (recorder, rx) = Recorder::new(true);
    let (small, small_events) = node("small", bus, recorder, config(SMALL));
    Pair {
        big,
        big_events,
        small,
        small_events,
        rx,
        _dir: dir,
    }
}

impl Pair {
    async fn connect(&mut self) {
        let at = self
            .small
            .listen(&self._dir.socket("small.sock"), &["big"])
            .await
            .unwrap();
        self.big.connect("small", at);
        self.big_events
            .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
            .await;
    }
}

fn assert_too_large_for_small(e: &SendError) {
    match e {
        SendError::TooLarge(WireError::TooLargeForPeer {
            peer,
            body_len,
            peer_max,
            own_max,
        }) => {
            assert_eq!(
                (peer.as_str(), *peer_max, *own_max),
                ("small", SMALL, LARGE)
            );
            assert!(*body_len > TEN_KIB, "{body_len}");
        }
        other => panic!("expected the peer's limit to refuse the message, got {other:?}"),
    }
    let text = e.to_string();
    for part in [
        &(TEN_KIB + 20 + 3).to_string() as &str,
        "4096",
        "raise `max_frame` on `small`",
    ] {
        assert!(text.contains(part), "`{part}` not in: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_for_the_peer_is_refused_at_once_and_the_link_lives_on() {
    let bus = Bus::new();
    let mut p = pair("limit-up", &bus);
    p.connect().await;
    let link = p.big.link("small").unwrap();
    assert_eq!(link.peer_max_frame(), Some(SMALL));
    let svc: Arc<str> = Arc::from("svc");

    let e = link
        .send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&[7; TEN_KIB]))
        .await
        .unwrap_err();
    assert_too_large_for_small(&e);
    let e = link
        .try_send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&[7; TEN_KIB]))
        .unwrap_err();
    assert_too_large_for_small(&e);
    match link
        .ask(&svc, 1, |o| o.extend_from_slice(&[7; TEN_KIB]))
        .await
    {
        Err(RemoteAskError::NotSent(e)) => assert_too_large_for_small(&e),
        other => panic!("expected the ask refused, got {other:?}"),
    }
    assert_eq!(link.queued(), 0, "nothing too large was queued");

    // The link is still up and delivers the next message, as large as the peer takes.
    link.send(Kind::Tell, &svc, 2, |o| o.extend_from_slice(&[1; 3000]))
        .await
        .unwrap();
    let got = recv_n(&mut p.rx, 1).await;
    assert_eq!((got[0].type_id, got[0].body.len()), (2, 3000));
    assert!(link.is_up());
    let events = p.big_events.drain();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::Down { .. } | LinkEventKind::Loss(_))),
        "the link neither went down nor lost anything: {events:#?}"
    );
    p.big.shutdown();
    p.small.shutdown();
}

/// A reply too large for the asker's limit goes back as a failed reply, which fits, instead of
/// a frame that would close the asker's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_too_large_for_the_asker_comes_back_as_a_failure() {
    let bus = Bus::new();
    let mut p = pair("limit-reply", &bus);
    p.connect().await;
    let asker = p.small.link("big").unwrap();
    let svc: Arc<str> = Arc::from("ten-kib");
    match asker.ask(&svc, 1, |o| o.extend_from_slice(b"q")).await {
        Err(RemoteAskError::Failed(reason)) => assert!(
            reason.contains("maximum 4096") && reason.contains("max_frame"),
            "{reason}"
        ),
        other => panic!("expected a failed reply, got {other:?}"),
    }
    // The link is still up: a reply that fits comes back.
    let echo: Arc<str> = Arc::from("svc");
    let reply = asker.ask(&echo, 1, |o| o.extend_from_slice(b"ab")).await;
    assert_eq!(reply, Ok((1, b"ba".to_vec())));
    let events = p.big_events.drain();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::Down { .. })),
        "the link never went down: {events:#?}"
    );
    p.big.shutdown();
    p.small.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_before_the_peer_s_limit_was_known_is_reported_lost() {
    let bus = Bus::new();
    let mut p = pair("limit-queued", &bus);
    let link = p.big.link_to("small");
    assert_eq!(link.peer_max_frame(), None);
    let svc: Arc<str> = Arc::from("svc");
    // Queued while the limit is unknown: the larger side's own limit takes them.
    link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"first"))
        .await
        .unwrap();
    link.send(Kind::Tell, &svc, 2, |o| o.extend_from_slice(&[7; TEN_KIB]))
        .await
        .unwrap();
    let (answer, asked) = tokio::sync::oneshot::channel();
    link.ask_with(
        &svc,
        3,
        "Big",
        |o| o.extend_from_slice(&[7; TEN_KIB]),
        Box::new(move |r| {
            let _ = answer.send(r.map(|(t, b)| (t, b.to_vec())));
        }),
    )
    .await
    .unwrap();
    link.send(Kind::Tell, &svc, 4, |o| o.extend_from_slice(b"after"))
        .await
        .unwrap();

    p.connect().await;
    // Up comes after the report, made at attach.
    let report = p
        .big_events
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            LinkEventKind::Loss(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a loss report before the link came up");
    assert_eq!(report.reason, LossReason::TooLargeForPeer);
    assert_eq!((report.first_seq, report.last_seq), (2, 3));
    let lost: Vec<_> = report
        .messages
        .iter()
        .map(|m| (m.kind, m.type_id))
        .collect();
    assert_eq!(lost, vec![(Kind::Tell, 2), (Kind::Ask, 3)]);

    match tokio::time::timeout(BOUND, asked).await {
        Ok(Ok(Err(RemoteAskError::NotSent(e)))) => assert_too_large_for_small(&e),
        other => panic!("expected the ask to fail as too large, got {other:?}"),
    }
    let letter = tokio::time::timeout(BOUND, bus.dead_letters().recv())
        .await
        .expect("a dead letter for the lost tell");
    assert!(
        matches!(&letter.reason, DeadLetterReason::Lost { reason, .. } if reason.contains("TooLargeForPeer")),
        "{letter}"
    );

    // The others arrive, in order, with no gap the peer would take for a broken link; the
    // next one too.
    link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(b"later"))
        .await
        .unwrap();
    let got = recv_n(&mut p.rx, 3).await;
    let bodies: Vec<&[u8]> = got.iter().map(|g| g.body.as_slice()).collect();
    assert_eq!(bodies, vec![&b"first"[..], b"after", b"later"]);
    // Closing makes the peer acknowledge what it delivered: a frame still in the log (one
    // sent again on every connection) would be reported lost then.
    p.big.close().await;
    let events = p.big_events.drain();
    let losses = events
        .iter()
        .filter(|e| matches!(e.kind, LinkEventKind::Loss(_)))
        .count();
    assert_eq!(
        losses, 1,
        "only the report of the two too large: {events:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::Down { .. })),
        "the link never went down: {events:#?}"
    );
    p.small.shutdown();
}

/// A peer that comes back with a smaller `max_frame`: a message queued for it while it was away,
/// which its predecessor would have taken, is reported lost when the new one's connection is
/// installed, and the messages after it are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_with_a_smaller_limit_gets_no_frame_above_it() {
    let bus = Bus::new();
    let dir = TempDir::new("limit-restart");
    let at = dir.socket("small.sock");
    let (sink, _) = Recorder::new(true);
    let (big, mut big_events) = node("big", &bus, sink, config(LARGE));
    let (recorder, _) = Recorder::new(true);
    let (before, _) = node("small", &bus, recorder, config(LARGE));
    let bound = before.listen(&at, &["big"]).await.unwrap();
    let link = big.connect("small", bound);
    big_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    assert_eq!(link.peer_max_frame(), Some(LARGE));
    before.close().await;
    big_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;

    let svc: Arc<str> = Arc::from("svc");
    link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&[7; TEN_KIB]))
        .await
        .unwrap();
    link.send(Kind::Tell, &svc, 2, |o| o.extend_from_slice(b"after"))
        .await
        .unwrap();
    let (recorder, mut rx) = Recorder::new(true);
    let (after, _) = node("small", &bus, recorder, config(SMALL));
    after.listen(&at, &["big"]).await.unwrap();
    let report = big_events.loss().await;
    assert_eq!(report.reason, LossReason::TooLargeForPeer);
    let lost: Vec<_> = report.messages.iter().map(|m| (m.seq, m.type_id)).collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].1, 1);
    big_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    assert_eq!(link.peer_max_frame(), Some(SMALL));
    let got = recv_n(&mut rx, 1).await;
    assert_eq!((got[0].type_id, got[0].body.as_slice()), (2, &b"after"[..]));
    big.close().await;
    let events = big_events.drain();
    let losses = events
        .iter()
        .filter(|e| matches!(e.kind, LinkEventKind::Loss(_)))
        .count();
    assert_eq!(
        losses, 1,
        "only the report of the one too large: {events:#?}"
    );
    after.shutdown();
}

/// A Close frame's reason is cut to what the peer accepts: the peer reads the close as one,
/// not as a malformed frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_reason_is_cut_to_the_peer_s_limit() {
    let bus = Bus::new();
    let mut p = pair("limit-close", &bus);
    p.connect().await;
    p.small_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    p.big.link("small").unwrap().close(&"x".repeat(TEN_KIB));
    let down = p
        .small_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    assert!(
        matches!(&down.kind, LinkEventKind::Down { by_peer: true, reason } if reason.contains("xxx")),
        "{down:?}"
    );
    p.big.shutdown();
    p.small.shutdown();
}

/// An ask whose answer waits in its entry (`Link::ask`), queued before the peer's limit was
/// known and too large for it, fails where it waits once the limit comes: its asker gets the
/// refusal at once, and the ask leaves the asks in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_waiting_in_place_too_large_for_the_peer_fails_where_it_waits() {
    let bus = Bus::new();
    let mut p = pair("limit-in-place", &bus);
    let link = p.big.link_to("small");
    let svc: Arc<str> = Arc::from("svc");
    let asking = tokio::spawn({
        let (link, svc) = (link.clone(), svc.clone());
        async move {
            link.ask(&svc, 3, |o| o.extend_from_slice(&[7; TEN_KIB]))
                .await
        }
    });
    // Queued (and in flight) while the limit is unknown.
    tokio::time::timeout(BOUND, async {
        while link.asks_in_flight() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the ask was queued");
    p.connect().await;
    match tokio::time::timeout(BOUND, asking).await {
        Ok(Ok(Err(RemoteAskError::NotSent(e)))) => assert_too_large_for_small(&e),
        other => panic!("expected the ask to fail as too large, got {other:?}"),
    }
    assert_eq!(link.asks_in_flight(), 0);
    p.big.shutdown();
    p.small.shutdown();
}

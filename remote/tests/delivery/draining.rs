//! Draining: `Node::close` sends what is queued and waits for the peers' acknowledgements
//! before it closes, reports what is still unacknowledged at its deadline before it returns,
//! and `Link::drain` waits for the acknowledgement of what is queued so far.

use std::sync::Arc;
use std::time::Duration;

use crate::common::scenario::{body, index};
use crate::common::*;

use mycelium_actors::{Bus, DeadLetterReason};
use mycelium_remote::frame::Kind;
use mycelium_remote::{DrainError, Link, LinkConfig, LinkEventKind, LossReason, Node};

/// A close deadline short enough for tests on the virtual clock.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

fn closing_config() -> LinkConfig {
    LinkConfig {
        close_timeout: CLOSE_TIMEOUT,
        ..fast_config()
    }
}

/// Node `a` listening on a Unix socket of `dir`, node `b` dialling it, each on a bus of its
/// own, both links up; `b` delivers through `b_sink`.
async fn pair(
    dir: &TempDir,
    bus_a: &Bus,
    bus_b: &Bus,
    b_sink: Arc<Recorder>,
) -> (Node, Events, Link, Node, Events) {
    let (a_sink, _) = Recorder::new(true);
    let (a, mut a_events) = node("a", bus_a, a_sink, closing_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (b, mut b_events) = node("b", bus_b, b_sink, closing_config());
    let _ = b.connect("a", at);
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let link = a.link("b").expect("a's link to b");
    (a, a_events, link, b, b_events)
}

/// Sends tells numbered `from..to` on `link`; each returns `Ok`.
async fn tell(link: &Link, from: u32, to: u32) {
    let svc: Arc<str> = "sink".into();
    for i in from..to {
        link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap_or_else(|e| panic!("tell {i}: {e}"));
    }
}

/// Tells that returned `Ok` just before `Node::close` all reach a live peer: the close sends
/// what is queued and waits for its acknowledgement. (Before, the close dropped what was
/// queued: the last tells arrived in 0 to 3 runs of 10, and were reported lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_sent_just_before_close_all_reach_a_live_peer() {
    const TELLS: u32 = 300;
    for round in 0..5 {
        let dir = TempDir::new("close-drains");
        let (bus_a, bus_b) = (Bus::new(), Bus::new());
        let (rec, mut got) = Recorder::new(true);
        let (a, mut a_events, link, b, _b_events) = pair(&dir, &bus_a, &bus_b, rec).await;
        tell(&link, 0, TELLS).await;
        tokio::time::timeout(BOUND, a.close())
            .await
            .expect("close returned within its bound");
        let handled = recv_n(&mut got, TELLS as usize).await;
        let order: Vec<u32> = handled.iter().map(index).collect();
        assert_eq!(
            order,
            (0..TELLS).collect::<Vec<_>>(),
            "round {round}: b did not handle every tell, in order"
        );
        let events = a_events.drain();
        assert!(
            events
                .iter()
                .any(|e| matches!(e.kind, LinkEventKind::GaveUp { .. })),
            "round {round}: a's link did not close: {events:#?}"
        );
        assert_no_loss(events);
        assert!(bus_a.dead_letters().drain().is_empty(), "round {round}");
        b.close_now().await;
    }
}

/// With its peer gone, `close` waits its deadline for acknowledgements that never come, then
/// reports exactly what is unacknowledged before it returns: the `GaveUp` event, then the loss
/// report of those sequence numbers and a dead letter for each tell. (Before, these could
/// come after `close` returned, or never, were the process to end then.)
#[tokio::test(start_paused = true)]
async fn a_close_with_the_peer_gone_reports_the_unacknowledged_before_it_returns() {
    let dir = TempDir::new("close-peer-gone");
    let bus_a = Bus::builder().virtual_time().build().unwrap();
    let bus_b = Bus::builder().virtual_time().build().unwrap();
    let (rec, _got) = Recorder::new(true);
    let (a, mut a_events, link, b, _b_events) = pair(&dir, &bus_a, &bus_b, rec).await;
    // Five tells acknowledged, then b goes away.
    tell(&link, 0, 5).await;
    tokio::time::timeout(BOUND, link.drain(BOUND))
        .await
        .expect("drain within its bound")
        .expect("b acknowledged the first tells");
    tokio::time::timeout(BOUND, b.close_now())
        .await
        .expect("b closed");
    a_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    // Seven more, queued for a peer that does not come back.
    tell(&link, 5, 12).await;
    let clock = bus_a.clock().clone();
    let started = clock.now();
    tokio::time::timeout(BOUND, a.close())
        .await
        .expect("close returned within its bound");
    let took = clock.now() - started;
    assert!(
        took >= CLOSE_TIMEOUT && took < CLOSE_TIMEOUT + Duration::from_secs(1),
        "close waited {took:?}, its deadline being {CLOSE_TIMEOUT:?}"
    );
    // Everything is here already: nothing is awaited.
    let events = a_events.drain();
    let gave_up = events
        .iter()
        .position(|e| matches!(e.kind, LinkEventKind::GaveUp { .. }))
        .unwrap_or_else(|| panic!("no GaveUp event before close returned: {events:#?}"));
    let losses: Vec<_> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            LinkEventKind::Loss(report) => Some((i, report.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(losses.len(), 1, "one loss report: {events:#?}");
    let (at, report) = &losses[0];
    assert!(gave_up < *at, "the loss report came before GaveUp");
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (6, 12, LossReason::GaveUp)
    );
    let seqs: Vec<u64> = report.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (6..=12).collect::<Vec<_>>());
    let letters = bus_a.dead_letters().drain();
    assert_eq!(
        letters.len(),
        7,
        "one dead letter per lost tell: {letters:?}"
    );
    assert!(letters
        .iter()
        .all(|l| matches!(l.reason, DeadLetterReason::Lost { .. })));
}

/// A peer that never acknowledges (stuck in its first delivery) with its connection up: `close`
/// waits its deadline, sends its Close frame, and reports everything lost once the connection
/// has ended, before it returns.
#[tokio::test(start_paused = true)]
async fn a_close_with_the_peer_stuck_reports_the_unacknowledged_before_it_returns() {
    let dir = TempDir::new("close-peer-stuck");
    let bus_a = Bus::builder().virtual_time().build().unwrap();
    let bus_b = Bus::builder().virtual_time().build().unwrap();
    let (stuck, _got) = Recorder::new(false);
    let (a, mut a_events, link, b, _b_events) = pair(&dir, &bus_a, &bus_b, stuck).await;
    tell(&link, 0, 3).await;
    let clock = bus_a.clock().clone();
    let started = clock.now();
    tokio::time::timeout(BOUND, a.close())
        .await
        .expect("close returned within its bound");
    assert!(
        clock.now() - started >= CLOSE_TIMEOUT,
        "close did not wait for acknowledgements"
    );
    let events = a_events.drain();
    let report = events
        .iter()
        .find_map(|e| match &e.kind {
            LinkEventKind::Loss(report) => Some(report.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no loss report before close returned: {events:#?}"));
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 3, LossReason::GaveUp)
    );
    assert_eq!(bus_a.dead_letters().drain().len(), 3);
    tokio::time::timeout(BOUND, b.close_now())
        .await
        .expect("b closed");
}

/// `Link::drain` waits until the peer has acknowledged what was queued: it times out while the
/// peer holds the tells, leaving them queued, and returns `Ok` once the peer has handled them.
#[tokio::test(start_paused = true)]
async fn drain_waits_for_the_acknowledgements() {
    let dir = TempDir::new("drain-waits");
    let bus_a = Bus::builder().virtual_time().build().unwrap();
    let bus_b = Bus::builder().virtual_time().build().unwrap();
    let (held, mut got) = Recorder::new(false);
    let gate = held.gate.clone();
    let (a, _a_events, link, b, _b_events) = pair(&dir, &bus_a, &bus_b, held).await;
    tell(&link, 0, 3).await;
    let early = tokio::time::timeout(BOUND, link.drain(Duration::from_millis(500)))
        .await
        .expect("drain within its bound");
    assert!(
        matches!(
            early,
            Err(DrainError::Timeout {
                unacknowledged: 3,
                ..
            })
        ),
        "{early:?}"
    );
    assert_eq!(link.queued(), 3, "a drain that timed out dropped the tells");
    let drained = tokio::spawn({
        let link = link.clone();
        async move { link.drain(BOUND).await }
    });
    gate.add_permits(3);
    let drained = tokio::time::timeout(BOUND, drained)
        .await
        .expect("drain within its bound")
        .unwrap();
    assert_eq!(drained, Ok(()));
    assert_eq!(link.queued(), 0);
    // Acknowledged means handled: every tell is at b's dispatcher already.
    let handled: Vec<u32> = std::iter::from_fn(|| got.try_recv().ok())
        .map(|g| index(&g))
        .collect();
    assert_eq!(handled, vec![0, 1, 2]);
    a.close_now().await;
    b.close_now().await;
}

/// A drain ends as soon as its link closes for good, with an error: what it waited for is in
/// the link's loss report.
#[tokio::test(start_paused = true)]
async fn a_drain_ends_when_its_link_closes() {
    let dir = TempDir::new("drain-closed");
    let bus_a = Bus::builder().virtual_time().build().unwrap();
    let bus_b = Bus::builder().virtual_time().build().unwrap();
    let (held, _got) = Recorder::new(false);
    let (a, mut a_events, link, b, _b_events) = pair(&dir, &bus_a, &bus_b, held).await;
    tell(&link, 0, 2).await;
    // The drain looks first (the close yields before it closes), then waits.
    let (drained, ()) = tokio::time::timeout(BOUND, async {
        tokio::join!(link.drain(BOUND), async {
            tokio::task::yield_now().await;
            link.close("closed under a drain");
        })
    })
    .await
    .expect("drain ended within its bound");
    assert!(
        matches!(
            drained,
            Err(DrainError::Closed { .. } | DrainError::Lost { count: 2, .. })
        ),
        "{drained:?}"
    );
    let report = a_events.loss().await;
    assert_eq!((report.first_seq, report.last_seq), (1, 2));
    a.close_now().await;
    b.close_now().await;
}

/// A link that gives up while `close` waits for its acknowledgements (a peer that never
/// answers its dials) ends the wait: `close` returns long before its deadline, its `GaveUp`
/// event and the loss report of everything queued delivered.
#[tokio::test(start_paused = true)]
async fn a_link_giving_up_during_close_is_reported_before_close_returns() {
    let dir = TempDir::new("close-gives-up");
    let bus = Bus::builder().virtual_time().build().unwrap();
    let config = LinkConfig {
        close_timeout: Duration::from_secs(600),
        max_attempts: 3,
        ..fast_config()
    };
    let (sink, _) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, sink, config);
    // Nobody listens there: every dial fails.
    let link = a.connect("b", dir.socket("b.sock"));
    tell(&link, 0, 4).await;
    let clock = bus.clock().clone();
    let started = clock.now();
    tokio::time::timeout(BOUND, a.close())
        .await
        .expect("close returned within its bound");
    assert!(
        clock.now() - started < Duration::from_secs(600),
        "close waited for its deadline"
    );
    let events = a_events.drain();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::GaveUp { .. })),
        "{events:#?}"
    );
    let report = events
        .iter()
        .find_map(|e| match &e.kind {
            LinkEventKind::Loss(report) => Some(report.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no loss report before close returned: {events:#?}"));
    assert_eq!(
        (report.first_seq, report.last_seq, report.reason),
        (1, 4, LossReason::GaveUp)
    );
    assert_eq!(bus.dead_letters().drain().len(), 4);
}

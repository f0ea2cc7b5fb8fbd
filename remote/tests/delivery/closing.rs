//! Closing: Close frames sent and reported as closed by the peer, a delivery stuck at close,
//! loss reports on close, and a node's close before its runtime ends.

use std::sync::Arc;

use crate::common::scenario::body;
use crate::common::*;
use crate::tell_sink::{Hold, TellSink};

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, Link, LinkEventKind, LossReason, Node};
use tokio::sync::mpsc;

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

/// A typed tell returns its sequence number on the link, and the loss report that covers it
/// names that number (with its type id and service): here a link to a peer that never comes
/// gives up, and both tells are reported by the numbers their sends returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_tells_return_the_sequence_numbers_their_loss_report_names() {
    use mycelium_codec::WireMessage;
    use mycelium_contracts::CancelOrder;
    use mycelium_remote::{LinkConfig, RemoteService};
    let dir = TempDir::new("typed-seq");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    // Two attempts half a second apart: the link gives up after both tells are queued
    // (with one attempt, a refused connection could close it before the first tell).
    let config = LinkConfig {
        max_attempts: 2,
        backoff: mycelium_supervisor::Backoff::exponential(
            std::time::Duration::from_millis(500),
            1.0,
            std::time::Duration::from_millis(500),
        ),
        ..fast_config()
    };
    let (a, mut events) = node("a", &bus, rec, config);
    let venue = RemoteService::new(a.connect("b", dir.socket("nobody.sock")), "venue");
    let order = |id| CancelOrder {
        client_order_id: id,
        instrument: 1,
        ts_ns: id,
    };
    let first = venue.tell(&order(1)).await.expect("queued");
    let second = venue.try_tell(order(2)).expect("queued");
    assert_eq!(second, first + 1);
    let e = events
        .wait("loss", |k| matches!(k, LinkEventKind::Loss(_)))
        .await;
    let LinkEventKind::Loss(report) = &e.kind else {
        unreachable!()
    };
    let named: Vec<(u64, u16, &str)> = report
        .messages
        .iter()
        .map(|m| (m.seq, m.type_id, &*m.name))
        .collect();
    assert_eq!(
        named,
        [
            (first, CancelOrder::TYPE_ID, "venue"),
            (second, CancelOrder::TYPE_ID, "venue")
        ]
    );
}

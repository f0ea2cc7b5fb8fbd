//! Gaps a remote subscriber is told of: publications made while the publishing node's link
//! to it was closed (it gave up waiting, and opened again when the subscriber came back),
//! and publications too large for a frame the subscriber accepts. Each is either received,
//! in order, or counted in a [`TopicGap`] on the subscribing node and in dead letters on the
//! publishing one.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;

use mycelium_actors::{Bus, SubscribeOptions, TopicStream};
use mycelium_codec::WireMessage;
use mycelium_contracts::{NewOrder, OrderType, Quote, Side, TimeInForce};
use mycelium_remote::{
    GapReason, LinkConfig, LinkEventKind, Node, RemoteOverflow, TopicGap, GAP_TOPIC,
};

fn quote(i: u32) -> Quote {
    Quote {
        ts_ns: u64::from(i),
        instrument: i,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 2.0,
        ask_qty: 1.0,
    }
}

/// A subscribing node on a bus of its own: its quotes from `md.*` and the gaps it is told of.
struct Subscriber {
    node: Node,
    quotes: TopicStream<Quote>,
    gaps: TopicStream<TopicGap>,
    _bus: Bus,
}

async fn subscriber(name: &str, config: LinkConfig, policy: RemoteOverflow) -> Subscriber {
    let bus = Bus::new();
    let node = Node::builder(name, schema(), secret())
        .config(config)
        .build(&bus, Arc::new(bus.exports()));
    let quotes = bus
        .subscribe_stream::<Quote>("md.*", SubscribeOptions::new())
        .unwrap();
    let gaps = bus
        .subscribe_stream::<TopicGap>(GAP_TOPIC, SubscribeOptions::new())
        .unwrap();
    node.subscribe_remote_with::<Quote>("md.*", policy)
        .await
        .unwrap();
    Subscriber {
        node,
        quotes,
        gaps,
        _bus: bus,
    }
}

/// Waits until `node`'s link to `peer` serves `want`.
async fn served(node: &Node, peer: &str, want: &[(&str, u16)]) {
    let want: Vec<(String, u16)> = want.iter().map(|(p, t)| (p.to_string(), *t)).collect();
    tokio::time::timeout(BOUND, async {
        loop {
            if let Some(link) = node.link(peer) {
                if link.forwarded_topics() == want {
                    return;
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{peer}'s interest {want:?} never served"));
}

/// Publishes `i` on the publisher's bus; a link that is closed never holds the publisher up.
async fn publish(bus: &Bus, i: u32) {
    tokio::time::timeout(BOUND, bus.publish("md.quote", quote(i)))
        .await
        .expect("the publisher is never held up by a closed link")
        .unwrap();
}

/// The publishing node gives up waiting for its subscriber (gone), goes on publishing, and
/// takes a new subscriber process back when it connects: what was published while the link
/// was closed is a gap the new subscriber is told of (reason `Closed`), before anything
/// published after the link opened again, which arrives in order; the publishing node posts
/// a dead letter for each. Nothing goes missing between the revival and the renewed
/// interest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_while_the_link_is_closed_are_a_gap_the_subscriber_is_told_of() {
    let dir = TempDir::new("gap-closed");
    let md_bus = Bus::new();
    let (observer, mut md_events) = events();
    let md = Node::builder("md", schema(), secret())
        .config(LinkConfig {
            give_up_after: Duration::from_millis(100),
            ..fast_config()
        })
        .observer(observer)
        .build(&md_bus, Arc::new(md_bus.exports()));
    md.forward_topic::<Quote>();
    let at = md
        .listen(&dir.socket("md.sock"), &["trader"])
        .await
        .unwrap();

    let mut first = subscriber("trader", fast_config(), RemoteOverflow::Block).await;
    first.node.connect("md", at.clone());
    served(&md, "trader", &[("md.*", Quote::TYPE_ID)]).await;
    publish(&md_bus, 0).await;
    let q = tokio::time::timeout(BOUND, first.quotes.recv()).await;
    assert_eq!(q.unwrap().unwrap().msg().instrument, 0);
    first.node.close().await;
    drop(first);
    md_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let letters_before = md_bus.dead_letters().total();

    // Published while the link is closed.
    for i in 1..=5 {
        publish(&md_bus, i).await;
    }
    const LAST: u32 = 60;
    let mut second = subscriber("trader", fast_config(), RemoteOverflow::Block).await;
    second.node.connect("md", at);
    // Around the revival and the renewed interest: before the link is up again, and after.
    for i in 6..=30 {
        publish(&md_bus, i).await;
    }
    md_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    for i in 31..=LAST {
        publish(&md_bus, i).await;
    }

    let gap = tokio::time::timeout(BOUND, second.gaps.recv())
        .await
        .expect("the subscriber is told of the gap")
        .unwrap();
    let gap = gap.msg().clone();
    assert_eq!(gap.reason, GapReason::Closed, "{gap}");
    assert_eq!(gap.source, "md");
    assert_eq!(gap.topic, "md.*");
    assert_eq!(gap.type_id, Quote::TYPE_ID);
    let lapsed = gap.count as u32;
    assert!(
        (5..=30).contains(&lapsed),
        "the five published while closed, and those before the revival: {gap}"
    );
    // Everything after the gap arrives, in order.
    for want in lapsed + 1..=LAST {
        let q = tokio::time::timeout(BOUND, second.quotes.recv())
            .await
            .unwrap_or_else(|_| panic!("quote {want} never arrived (gap of {lapsed})"))
            .unwrap();
        assert_eq!(q.msg().instrument, want);
    }
    assert_eq!(
        md_bus.dead_letters().total() - letters_before,
        u64::from(lapsed),
        "a dead letter on the publishing node for each publication not sent"
    );
    assert!(second.gaps.try_recv().is_none(), "one gap");
    md_events.assert_no_loss();
    second.node.shutdown();
    md.shutdown();
}

/// An order with an account of `len` bytes: its frame's size follows.
fn order(id: u64, len: usize) -> NewOrder {
    NewOrder {
        client_order_id: id,
        instrument: 7,
        side: Side::Buy,
        order_type: OrderType::Market,
        tif: TimeInForce::Ioc,
        price: None,
        stop_price: None,
        qty: 1.0,
        account: "a".repeat(len),
        post_only: false,
        strategy_tag: [0; 8],
        ts_ns: id,
    }
}

/// A publication too large for the subscriber's frames is a gap it is told of (reason
/// `TooLarge`), in its place among the publications around it, which arrive; the
/// publishing node posts a dead letter for it, and the subscription lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_too_large_for_the_subscriber_is_a_gap_it_is_told_of() {
    const SMALL: u32 = 4096;
    let dir = TempDir::new("gap-large");
    let md_bus = Bus::new();
    let md = Node::builder("md", schema(), secret())
        .config(fast_config())
        .build(&md_bus, Arc::new(md_bus.exports()));
    md.forward_topic::<NewOrder>();
    let at = md
        .listen(&dir.socket("md.sock"), &["trader"])
        .await
        .unwrap();

    let bus = Bus::new();
    let trader = Node::builder("trader", schema(), secret())
        .config(LinkConfig {
            max_frame: SMALL,
            ..fast_config()
        })
        .build(&bus, Arc::new(bus.exports()));
    let mut orders = bus
        .subscribe_stream::<NewOrder>("orders.*", SubscribeOptions::new())
        .unwrap();
    let mut gaps = bus
        .subscribe_stream::<TopicGap>(GAP_TOPIC, SubscribeOptions::new())
        .unwrap();
    trader
        .subscribe_remote::<NewOrder>("orders.*")
        .await
        .unwrap();
    trader.connect("md", at);
    served(&md, "trader", &[("orders.*", NewOrder::TYPE_ID)]).await;
    let letters_before = md_bus.dead_letters().total();

    let publish = |o: NewOrder| {
        let bus = md_bus.clone();
        async move {
            tokio::time::timeout(BOUND, bus.publish("orders.new", o))
                .await
                .unwrap()
                .unwrap()
        }
    };
    publish(order(1, 8)).await;
    publish(order(2, 2 * SMALL as usize)).await;
    publish(order(3, 8)).await;

    let first = tokio::time::timeout(BOUND, orders.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.msg().client_order_id, 1);
    let gap = tokio::time::timeout(BOUND, gaps.recv())
        .await
        .expect("the subscriber is told of the publication too large")
        .unwrap();
    let gap = gap.msg().clone();
    assert_eq!(
        (gap.reason, gap.count, gap.topic.as_str(), gap.type_id),
        (GapReason::TooLarge, 1, "orders.new", NewOrder::TYPE_ID),
        "{gap}"
    );
    let third = tokio::time::timeout(BOUND, orders.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.msg().client_order_id, 3, "the subscription lives on");
    assert_eq!(md_bus.dead_letters().total() - letters_before, 1);
    trader.shutdown();
    md.shutdown();
}

/// A publication queued while the subscriber was away, too large for the frames of the
/// process that comes back (it takes smaller ones), is reported lost by the publishing node
/// (`TooLargeForPeer`) and told to the new subscriber as a gap (reason `TooLarge`, with its
/// sequence number); the publications around it arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_queued_before_the_subscriber_s_limit_was_known_is_a_gap_it_is_told_of() {
    use mycelium_remote::LossReason;
    const SMALL: u32 = 4096;
    let dir = TempDir::new("gap-large-queued");
    let md_bus = Bus::new();
    let (observer, mut md_events) = events();
    let md = Node::builder("md", schema(), secret())
        .config(fast_config())
        .observer(observer)
        .build(&md_bus, Arc::new(md_bus.exports()));
    md.forward_topic::<NewOrder>();
    let at = md
        .listen(&dir.socket("md.sock"), &["trader"])
        .await
        .unwrap();
    let trader = |max_frame: u32| {
        let bus = Bus::new();
        let node = Node::builder("trader", schema(), secret())
            .config(LinkConfig {
                max_frame,
                ..fast_config()
            })
            .build(&bus, Arc::new(bus.exports()));
        let orders = bus
            .subscribe_stream::<NewOrder>("orders.*", SubscribeOptions::new())
            .unwrap();
        let gaps = bus
            .subscribe_stream::<TopicGap>(GAP_TOPIC, SubscribeOptions::new())
            .unwrap();
        (bus, node, orders, gaps)
    };

    let (_bus, first, _orders, _gaps) = trader(65536);
    first
        .subscribe_remote::<NewOrder>("orders.*")
        .await
        .unwrap();
    first.connect("md", at.clone());
    served(&md, "trader", &[("orders.*", NewOrder::TYPE_ID)]).await;
    first.close().await;
    drop(first);
    md_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    // Queued for the subscriber while it is away: the middle one fits the frames of the
    // process that left, not those of the one that comes.
    for (id, len) in [(1, 8), (2, 2 * SMALL as usize), (3, 8)] {
        tokio::time::timeout(BOUND, md_bus.publish("orders.new", order(id, len)))
            .await
            .unwrap()
            .unwrap();
    }

    let (_bus, second, mut orders, mut gaps) = trader(SMALL);
    second
        .subscribe_remote::<NewOrder>("orders.*")
        .await
        .unwrap();
    second.connect("md", at);
    for want in [1, 3] {
        let o = tokio::time::timeout(BOUND, orders.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.msg().client_order_id, want);
    }
    let gap = tokio::time::timeout(BOUND, gaps.recv())
        .await
        .expect("the new subscriber is told of the publication too large")
        .unwrap();
    let gap = gap.msg().clone();
    assert_eq!(
        (gap.reason, gap.count, gap.topic.as_str()),
        (GapReason::TooLarge, 1, "orders.new"),
        "{gap}"
    );
    assert!(gap.first_seq > 0 && gap.first_seq == gap.last_seq, "{gap}");
    let report = md_events.loss().await;
    assert_eq!(report.reason, LossReason::TooLargeForPeer);
    assert_eq!(
        report.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![gap.first_seq],
        "the publishing node's report names the publication the gap names"
    );
    second.shutdown();
    md.shutdown();
}

/// A peer that connects while the publishing node is still ending the link it gave up (its
/// `GaveUp` event told, its loss report not made yet) is not taken in before that report is
/// made: what the link opened again queues (here the gap it tells) is never swept into the
/// report of the end before. The publishing node's observer holds its `GaveUp` event until
/// the new subscriber has been turned away once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_is_opened_again_only_once_its_end_is_reported() {
    let dir = TempDir::new("gap-revive-race");
    let md_bus = Bus::new();
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let hold = std::sync::Mutex::new(Some(hold_rx));
    let (gave_up_tx, mut gave_up) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (observer, mut md_events) = events();
    let md = Node::builder("md", schema(), secret())
        .config(LinkConfig {
            give_up_after: Duration::from_millis(100),
            ..fast_config()
        })
        .observer(move |e: &mycelium_remote::LinkEvent| {
            observer(e);
            if matches!(e.kind, LinkEventKind::GaveUp { .. }) {
                let _ = gave_up_tx.send(());
                if let Some(rx) = hold.lock().unwrap().take() {
                    let _ = rx.recv_timeout(BOUND);
                }
            }
        })
        .build(&md_bus, Arc::new(md_bus.exports()));
    md.forward_topic::<Quote>();
    let at = md
        .listen(&dir.socket("md.sock"), &["trader"])
        .await
        .unwrap();

    let first = subscriber("trader", fast_config(), RemoteOverflow::Block).await;
    first.node.connect("md", at.clone());
    served(&md, "trader", &[("md.*", Quote::TYPE_ID)]).await;
    first.node.close().await;
    drop(first);
    tokio::time::timeout(BOUND, gave_up.recv())
        .await
        .expect("gave up");
    publish(&md_bus, 1).await;

    let (observer, mut trader_events) = events();
    let bus = Bus::new();
    let node = Node::builder("trader", schema(), secret())
        .config(fast_config())
        .observer(observer)
        .build(&bus, Arc::new(bus.exports()));
    let mut gaps = bus
        .subscribe_stream::<TopicGap>(GAP_TOPIC, SubscribeOptions::new())
        .unwrap();
    node.subscribe_remote::<Quote>("md.*").await.unwrap();
    node.connect("md", at);
    // Turned away while the end is under way: the dialler tries again.
    trader_events
        .wait(
            "a second attempt",
            |k| matches!(k, LinkEventKind::Connecting { attempt } if *attempt >= 1),
        )
        .await;
    hold_tx.send(()).unwrap();
    let gap = tokio::time::timeout(BOUND, gaps.recv())
        .await
        .expect("the new subscriber is told of the gap")
        .unwrap();
    assert_eq!((gap.msg().reason, gap.msg().count), (GapReason::Closed, 1));
    md_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    md_events.assert_no_loss();
    node.shutdown();
    md.shutdown();
}

//! Actors on two nodes, wired by one topology file: a `ReplyRecipient` and a `Recipient` for
//! a service on the other node work like local ones; the receiving bus's export table turns
//! frames into typed sends; a dropped link fails asks at once with `AskError::Lost`; lost
//! tells become dead letters; a full link queue hands the message back.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use mycelium_actors::{
    Actor, AskError, BoxError, Bus, Context, DeadLetterReason, Handler, Recipient, ReplyRecipient,
    TrySendError,
};
use mycelium_codec::WireMessage;
use mycelium_contracts::{NewOrder, OrderAck, OrderType, Quote, Side, TimeInForce, SCHEMA_DIGEST};
use mycelium_remote::{LocalSchema, Node};
use tokio::sync::mpsc;

struct Venue {
    quotes: mpsc::UnboundedSender<Quote>,
}

impl Actor for Venue {
    type Args = mpsc::UnboundedSender<Quote>;
    async fn on_start(quotes: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Venue { quotes })
    }
}

impl Handler<NewOrder> for Venue {
    type Reply = OrderAck;
    async fn handle(&mut self, order: NewOrder, _ctx: &mut Context<Self>) -> OrderAck {
        if order.client_order_id == 0 {
            // Never answers: the asker must learn from the link, not from a timeout.
            std::future::pending::<()>().await;
        }
        OrderAck {
            client_order_id: order.client_order_id,
            venue_order_id: format!("V{}", order.client_order_id),
            ts_ns: order.ts_ns,
            venue_ts_ns: Some(1),
        }
    }
}

impl Handler<Quote> for Venue {
    type Reply = ();
    async fn handle(&mut self, quote: Quote, _ctx: &mut Context<Self>) {
        let _ = self.quotes.send(quote);
    }
}

fn topology(dir: &TempDir, link: &str) -> std::path::PathBuf {
    let secret = dir.path().join("link.secret");
    std::fs::write(&secret, b"a topology secret of some length\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
secret_file = "link.secret"

[link]
{link}

[[node]]
name = "exec"
endpoint = "unix:exec.sock"
services = ["execution"]

[[node]]
name = "strategy"
endpoint = "unix:strategy.sock"
services = ["strategy"]
"#
    );
    let path = dir.path().join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn order(id: u64) -> NewOrder {
    NewOrder {
        client_order_id: id,
        instrument: 7,
        side: Side::Sell,
        order_type: OrderType::Market,
        tif: TimeInForce::Ioc,
        price: None,
        stop_price: None,
        qty: 1.0,
        account: "a".into(),
        post_only: false,
        strategy_tag: [0; 8],
        ts_ns: id * 10,
    }
}

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

const SCHEMA: LocalSchema = LocalSchema::from_digest(SCHEMA_DIGEST);

async fn exec_node(path: &std::path::Path) -> (Node, Bus, mpsc::UnboundedReceiver<Quote>) {
    let bus = Bus::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let venue = bus.spawn::<Venue>(tx);
    bus.exports()
        .export_ask("execution", venue.reply_recipient::<NewOrder>())
        .unwrap();
    bus.exports()
        .export("execution", venue.recipient::<Quote>())
        .unwrap();
    let node = Node::from_topology(path, "exec", SCHEMA, &bus)
        .await
        .unwrap();
    (node, bus, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_addresses_work_like_local_ones() {
    let dir = TempDir::new("seam");
    let path = topology(&dir, "");
    let (_exec, _exec_bus, mut quotes) = exec_node(&path).await;
    let bus = Bus::new();
    let strategy = Node::from_topology(&path, "strategy", SCHEMA, &bus)
        .await
        .unwrap();

    let orders: ReplyRecipient<NewOrder, OrderAck> =
        strategy.reply_recipient("execution").expect("remote");
    let feed: Recipient<Quote> = strategy.recipient("execution").expect("remote");
    assert!(strategy.recipient::<Quote>("strategy").is_none(), "local");
    assert_eq!(
        orders.id().node().get(),
        1,
        "exec is the first node of the file"
    );

    for i in 0..50 {
        feed.tell(quote(i)).await.unwrap();
    }
    let ack = orders.ask(order(42)).await.unwrap();
    assert_eq!(
        (ack.client_order_id, ack.venue_order_id.as_str()),
        (42, "V42")
    );
    let ack = orders
        .ask_timeout(order(43), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ack.ts_ns, 430);
    for i in 0..50 {
        let q = tokio::time::timeout(BOUND, quotes.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(q.instrument, i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_in_flight_fails_with_lost_when_the_peer_goes_away() {
    let dir = TempDir::new("seam-lost");
    let path = topology(&dir, "");
    let (exec, _exec_bus, _quotes) = exec_node(&path).await;
    let bus = Bus::new();
    let strategy = Node::from_topology(&path, "strategy", SCHEMA, &bus)
        .await
        .unwrap();
    let orders: ReplyRecipient<NewOrder, OrderAck> = strategy.reply_recipient("execution").unwrap();
    // One answered ask: the link is up.
    orders.ask(order(1)).await.unwrap();
    let pending = {
        let orders = orders.clone();
        tokio::spawn(async move { orders.ask(order(0)).await })
    };
    let link = strategy.service("execution").unwrap().link().clone();
    tokio::time::timeout(BOUND, async {
        while link.queued() > 0 || link.stats().written < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    drop(exec);
    let result = tokio::time::timeout(BOUND, pending).await.unwrap().unwrap();
    match result {
        Err(e @ AskError::Lost { node, .. }) => {
            assert_eq!(node.get(), 1);
            // The message names the link and says once that the request may have been handled.
            let message = e.to_string();
            assert!(message.contains("the link to exec went down"), "{message}");
            assert_eq!(
                message.matches("may or may not have been handled").count(),
                1,
                "{message}"
            );
        }
        other => panic!("expected Lost, got {other:?}"),
    }
}

/// On virtual time: the wait runs out only once the test awaits the dead letters, never
/// while it fills the queue (on wall-clock time a stall of the test's thread longer than the
/// wait closed the link first).
#[tokio::test(start_paused = true)]
async fn full_link_hands_the_message_back_and_lost_tells_are_dead_letters() {
    let dir = TempDir::new("seam-dead");
    // Nobody runs `exec` (which would dial `strategy`): the link never comes up, and gives up
    // when `exec` has not connected within the wait.
    let path = topology(&dir, "queue_capacity = 4\ngive_up_after_ms = 300");
    let bus = Bus::builder().virtual_time().build().unwrap();
    let strategy = Node::from_topology(&path, "strategy", SCHEMA, &bus)
        .await
        .unwrap();
    let feed: Recipient<Quote> = strategy.recipient("execution").unwrap();
    let mut accepted = 0;
    let back = loop {
        match feed.try_tell(quote(accepted)) {
            Ok(()) => accepted += 1,
            Err(TrySendError::Full(q)) => break q,
            Err(TrySendError::Closed(_)) => panic!("closed before the queue filled"),
        }
    };
    assert_eq!((accepted, back.instrument), (4, 4));
    let mut letters = Vec::new();
    while letters.len() < 4 {
        let letter = tokio::time::timeout(BOUND, bus.dead_letters().recv())
            .await
            .expect("dead letters for the lost tells");
        letters.push(letter);
    }
    for letter in &letters {
        assert_eq!(letter.message_type, "Quote");
        assert!(
            matches!(&letter.reason, DeadLetterReason::Lost { node, .. } if node.get() == 1),
            "{letter}"
        );
    }
    // After giving up, the address refuses and hands messages back.
    assert!(matches!(
        feed.try_tell(quote(9)),
        Err(TrySendError::Closed(q)) if q.instrument == 9
    ));
    assert!(!feed.is_alive());
}

/// An ask queued on a link that gives up before it was ever written was not handled: the
/// asker has its request back (`AskError::Closed`), as when the link refuses it at once, not
/// a lost answer that "may or may not have been handled".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_never_sent_comes_back_to_the_asker_when_the_link_gives_up() {
    let dir = TempDir::new("seam-unsent");
    // Nobody runs `exec`: the link never comes up, and gives up after the wait.
    let path = topology(&dir, "give_up_after_ms = 300");
    let bus = Bus::new();
    let strategy = Node::from_topology(&path, "strategy", SCHEMA, &bus)
        .await
        .unwrap();
    let orders: ReplyRecipient<NewOrder, OrderAck> = strategy.reply_recipient("execution").unwrap();
    let result = tokio::time::timeout(BOUND, orders.ask(order(42)))
        .await
        .expect("the ask ended when the link gave up");
    match result {
        Err(AskError::Closed(back)) => assert_eq!(back.client_order_id, 42),
        other => panic!("expected the request back, got {other:?}"),
    }
    // Asked again, the closed link refuses at once, the same way.
    assert!(matches!(
        orders.ask(order(43)).await,
        Err(AskError::Closed(back)) if back.client_order_id == 43
    ));
}

/// Node `name` of the topology at `path`, on a bus of its own.
async fn node_on_own_bus(path: &std::path::Path, name: &str) -> (Bus, Node) {
    let bus = Bus::new();
    let node = Node::from_topology(path, name, SCHEMA, &bus).await.unwrap();
    (bus, node)
}

/// The `exec` and `strategy` nodes of the topology at `path`, each on a bus of its own.
async fn exec_and_strategy(path: &std::path::Path) -> ((Bus, Node), (Bus, Node)) {
    (
        node_on_own_bus(path, "exec").await,
        node_on_own_bus(path, "strategy").await,
    )
}

/// Nothing was queued for the peer `exec`: no interest was recorded on the link.
/// Waits until the publishing node's `link` forwards some topic (`want`) or none.
async fn forwarding(link: &mycelium_remote::link::Link, want: bool) {
    tokio::time::timeout(BOUND, async {
        while link.forwarded_topics().is_empty() == want {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the publishing node sees the change of interest");
}

/// Nodes `exec` and `strategy` (topology of `dir`), each on its own bus, with quotes
/// `md.quote.*` forwarded from `exec` to `strategy`: the interest has crossed the link.
struct QuotesAcross {
    _dir: TempDir,
    exec_bus: Bus,
    exec: Node,
    bus: Bus,
    strategy: Node,
    /// `exec`'s link to `strategy`.
    link: mycelium_remote::link::Link,
}

async fn quotes_across(tag: &str) -> QuotesAcross {
    let dir = TempDir::new(tag);
    let path = topology(&dir, "");
    let ((exec_bus, exec), (bus, strategy)) = exec_and_strategy(&path).await;
    exec.forward_topic::<Quote>();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    let link = exec.link("strategy").unwrap();
    forwarding(&link, true).await;
    QuotesAcross {
        _dir: dir,
        exec_bus,
        exec,
        bus,
        strategy,
        link,
    }
}

fn nothing_queued_for_exec(strategy: &Node) {
    let link = strategy.link("exec").unwrap();
    assert_eq!(link.stats().queued, 0, "{:?}", link.stats());
}

#[tokio::test]
async fn a_remote_subscription_with_a_bad_pattern_is_refused_before_it_is_sent() {
    let dir = TempDir::new("seam-bad-pattern");
    let path = topology(&dir, "");
    let (_bus, strategy) = node_on_own_bus(&path, "strategy").await;
    let refused = strategy
        .subscribe_remote::<Quote>("md.*.quote")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, mycelium_remote::SubscribeError::Pattern(_)),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("`*` may only stand alone as the last segment"),
        "{refused}"
    );
    nothing_queued_for_exec(&strategy);
    strategy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_cross_nodes_encoded_once_per_link() {
    use mycelium_actors::SubscribeOptions;
    let QuotesAcross {
        exec_bus,
        bus,
        link,
        ..
    } = &quotes_across("seam-topics").await;
    // Two subscribers on the strategy node; one interest crosses the link.
    let mut first = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    let mut second = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    assert_eq!(
        link.forwarded_topics(),
        vec![("md.quote.*".to_string(), Quote::TYPE_ID)]
    );
    for i in 0..100 {
        if i % 2 == 0 {
            exec_bus.publish("md.quote.AAPL", quote(i)).await.unwrap();
        } else {
            // Keys cross the link with the publication.
            exec_bus
                .publish_keyed("md.quote.AAPL", u64::from(i) * 1000, quote(i))
                .await
                .unwrap();
        }
    }
    for stream in [&mut first, &mut second] {
        for i in 0..100 {
            let p = tokio::time::timeout(BOUND, stream.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!((p.topic(), p.msg().instrument), ("md.quote.AAPL", i));
            let key = (i % 2 == 1).then_some(u64::from(i) * 1000);
            assert_eq!(p.key(), key);
        }
    }
    // One frame per publication on the link, whatever the number of remote subscribers.
    assert_eq!(link.stats().written, 100);
}

/// A publication that cannot become a frame (a topic name longer than a frame carries) is a
/// dead letter for that link alone: the peer's subscription lives on, and the next
/// publication reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_too_long_for_a_frame_is_a_dead_letter_and_the_subscription_lives() {
    use mycelium_actors::{DeadLetterReason, SubscribeOptions};
    let QuotesAcross {
        exec_bus,
        exec,
        bus,
        strategy,
        link,
        ..
    } = &quotes_across("seam-unsendable").await;
    let mut got = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    let long = format!("md.quote.{}", "x".repeat(300));
    for (topic, i) in [
        ("md.quote.AAPL", 1),
        (long.as_str(), 2),
        ("md.quote.AAPL", 3),
    ] {
        let report = exec_bus.publish(topic, quote(i)).await.unwrap();
        assert_eq!((report.matched, report.removed), (1, 0), "{topic}");
    }
    for i in [1, 3] {
        let p = tokio::time::timeout(BOUND, got.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.msg().instrument, i);
    }
    let letters = exec_bus.dead_letters().drain();
    assert_eq!(letters.len(), 1, "{letters:?}");
    match &letters[0].reason {
        DeadLetterReason::Lost { reason, .. } => {
            assert!(reason.contains("cannot be sent"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(link.forwarded_topics().len(), 1);
    exec.shutdown();
    strategy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_subscription_ends_with_unsubscribe_remote() {
    let QuotesAcross {
        exec_bus,
        exec,
        strategy,
        link,
        ..
    } = &quotes_across("seam-unsubscribe").await;
    let forwarded = |want: bool| forwarding(link, want);
    let report = exec_bus.publish("md.quote.AAPL", quote(1)).await.unwrap();
    assert_eq!(report.delivered, 1, "the link to the strategy node");

    assert!(matches!(
        strategy.unsubscribe_remote::<Quote>("md.*.quote").await,
        Err(mycelium_remote::SubscribeError::Pattern(_))
    ));
    strategy
        .unsubscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    forwarded(false).await;
    let report = exec_bus.publish("md.quote.AAPL", quote(2)).await.unwrap();
    assert_eq!(report.delivered, 0, "nobody forwards it any more");
    // Withdrawn for good: a second unsubscribe has nothing to send, and subscribing again
    // works as the first time.
    strategy
        .unsubscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    forwarded(true).await;
    exec.shutdown();
    strategy.shutdown();
}

/// A link closed for good refuses a subscription with a reason that names the peer, and
/// keeps no record of it (so there is nothing to withdraw).
#[tokio::test]
async fn a_remote_subscription_on_a_closed_link_names_the_link() {
    let dir = TempDir::new("seam-closed-subscribe");
    let path = topology(&dir, "");
    let (_bus, strategy) = node_on_own_bus(&path, "strategy").await;
    strategy.link("exec").unwrap().close("closed by the test");
    // Twice: had the first attempt been recorded, the second would pass as a duplicate.
    for _ in 0..2 {
        let refused = strategy.subscribe_remote::<Quote>("md.quote.*").await;
        let refused = refused.unwrap_err();
        assert!(
            matches!(
                &refused,
                mycelium_remote::SubscribeError::Send(mycelium_remote::SendError::Closed { peer, .. })
                    if peer == "exec"
            ),
            "{refused:?}"
        );
        assert_eq!(
            refused.to_string(),
            "the link to exec is closed: closed by the test"
        );
    }
    // Nothing to withdraw.
    strategy
        .unsubscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    strategy.shutdown();
}

/// A pattern the grammar accepts but a frame cannot carry (names are at most 255 bytes) is
/// refused with the reason, and not kept: asked again, it is refused again.
#[tokio::test]
async fn a_remote_subscription_too_long_for_a_frame_is_refused_and_not_kept() {
    let dir = TempDir::new("seam-long-pattern");
    let path = topology(&dir, "");
    let (_bus, strategy) = node_on_own_bus(&path, "strategy").await;
    let long = format!("md.{}.*", "q".repeat(300));
    for _ in 0..2 {
        let refused = strategy.subscribe_remote::<Quote>(&long).await.unwrap_err();
        assert!(
            matches!(
                refused,
                mycelium_remote::SubscribeError::Send(mycelium_remote::SendError::TooLarge(_))
            ),
            "{refused:?}"
        );
        assert!(
            refused.to_string().contains("exceeds 255 bytes"),
            "{refused}"
        );
    }
    nothing_queued_for_exec(&strategy);
    strategy.shutdown();
}

/// A publishing node that restarts (a new instance) is asked again for the interest that is
/// still live, and not for what was withdrawn before it went away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_asked_again_for_live_interest_only() {
    let dir = TempDir::new("seam-renew");
    let path = topology(&dir, "");
    let (exec, _exec_bus, _quotes) = exec_node(&path).await;
    exec.forward_topic::<Quote>();
    let (_bus, strategy) = node_on_own_bus(&path, "strategy").await;
    // Withdrawn first: were it renewed, it would reach the new peer before the live one.
    strategy
        .subscribe_remote::<Quote>("md.trade.*")
        .await
        .unwrap();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    strategy
        .unsubscribe_remote::<Quote>("md.trade.*")
        .await
        .unwrap();
    let served = |node: &Node, want: Vec<(String, u16)>| {
        let link = node.link("strategy").unwrap();
        async move {
            tokio::time::timeout(BOUND, async {
                while link.forwarded_topics() != want {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("forwarded {:?}", link.forwarded_topics()));
        }
    };
    let live = vec![("md.quote.*".to_string(), Quote::TYPE_ID)];
    served(&exec, live.clone()).await;
    let first = exec.instance();
    exec.shutdown();
    drop(exec);

    let (exec, _exec_bus, _quotes) = exec_node(&path).await;
    assert_ne!(exec.instance(), first, "a new instance");
    exec.forward_topic::<Quote>();
    served(&exec, live.clone()).await;
    // An ask after the renewal, answered: nothing else arrives behind it.
    let venue = strategy
        .reply_recipient::<NewOrder, OrderAck>("execution")
        .unwrap();
    let ack = tokio::time::timeout(BOUND, venue.ask(order(5)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ack.client_order_id, 5);
    assert_eq!(exec.link("strategy").unwrap().forwarded_topics(), live);
    exec.shutdown();
    strategy.shutdown();
}

/// The link's queue is full when the publishing node comes back (senders filled it while the
/// peer was away): the interest is sent to the new instance all the same, and its
/// publications arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interest_is_renewed_to_a_restarted_peer_even_through_a_full_queue() {
    use mycelium_actors::SubscribeOptions;
    use mycelium_remote::frame::Kind;
    use mycelium_remote::SendError;
    let dir = TempDir::new("seam-renew-full");
    let path = topology(&dir, "queue_capacity = 8");
    let (exec, _exec_bus, _quotes) = exec_node(&path).await;
    exec.forward_topic::<Quote>();
    let (bus, strategy) = node_on_own_bus(&path, "strategy").await;
    let mut stream = bus
        .subscribe_stream::<Quote>("md.*", SubscribeOptions::new())
        .unwrap();
    strategy.subscribe_remote::<Quote>("md.*").await.unwrap();
    let live = vec![("md.*".to_string(), Quote::TYPE_ID)];
    let served = |node: &Node| {
        let link = node.link("strategy").unwrap();
        let want = live.clone();
        async move {
            tokio::time::timeout(BOUND, async {
                while link.forwarded_topics() != want {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("forwarded {:?}", link.forwarded_topics()));
        }
    };
    served(&exec).await;
    exec.shutdown();
    drop(exec);

    // While the peer is away, the queue fills.
    let link = strategy.link("exec").unwrap();
    tokio::time::timeout(BOUND, async {
        while link.is_up() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the link goes down");
    let svc: std::sync::Arc<str> = "execution".into();
    let mut queued = 0;
    loop {
        match link.try_send(Kind::Tell, &svc, Quote::TYPE_ID, |o| {
            quote(queued).encode_body(o)
        }) {
            Ok(_) => queued += 1,
            Err(SendError::Full) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(queued <= 8, "the queue holds 8");
    }
    assert_eq!(queued, 8);

    let (exec, exec_bus, mut quotes) = exec_node(&path).await;
    exec.forward_topic::<Quote>();
    served(&exec).await;
    // What was queued arrives too.
    for i in 0..8 {
        let q = tokio::time::timeout(BOUND, quotes.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(q.instrument, i);
    }
    exec_bus.publish("md.quote.X", quote(42)).await.unwrap();
    let p = tokio::time::timeout(BOUND, stream.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.msg().instrument, 42);
    exec.shutdown();
    strategy.shutdown();
}

/// Interest can arrive before the publishing node names the type it forwards (links start
/// with the node): it waits, and is served by `forward_topic`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interest_that_arrives_before_forward_topic_is_served() {
    use mycelium_actors::SubscribeOptions;
    let dir = TempDir::new("seam-early");
    let path = topology(&dir, "");
    let ((exec_bus, exec), (bus, strategy)) = exec_and_strategy(&path).await;
    let mut stream = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    let link = exec.link("strategy").unwrap();
    tokio::time::timeout(BOUND, async {
        while link.stats().delivered == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the interest arrives");
    assert!(link.forwarded_topics().is_empty());
    exec.forward_topic::<Quote>();
    assert_eq!(link.forwarded_topics().len(), 1);
    exec_bus.publish("md.quote.X", quote(5)).await.unwrap();
    let p = tokio::time::timeout(BOUND, stream.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.msg().instrument, 5);
}

//! Interest renewed to a publishing node that restarts: only what is still live, and even
//! through a full queue.

use crate::common::*;
use crate::nodes::{exec_node, node_on_own_bus, order, quote, topology};

use mycelium_codec::WireMessage;
use mycelium_contracts::{NewOrder, OrderAck, Quote};
use mycelium_remote::Node;

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

//! Remote addresses: a `ReplyRecipient` and a `Recipient` for a service on the other node
//! work like local ones; a dropped link fails asks, lost tells become dead letters, a full
//! link queue hands the message back, and an ask never sent comes back to its asker.

use std::time::Duration;

use crate::common::*;
use crate::nodes::{exec_node, node_on_own_bus, order, quote, topology, SCHEMA};

use mycelium_actors::{AskError, Bus, DeadLetterReason, Recipient, ReplyRecipient, TrySendError};
use mycelium_contracts::{NewOrder, OrderAck, Quote};
use mycelium_remote::Node;

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
        // Written (an ask unanswered is never acknowledged: it stays queued).
        while link.stats().written < 2 {
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

/// `Node::remote_actor` gives the address a topology names, with numbered tells: each
/// arrives, numbered in the order sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_actor_from_the_topology_numbers_its_tells() {
    let dir = TempDir::new("seam-numbered");
    let path = topology(&dir, "");
    let (exec, _exec_bus, mut quotes) = exec_node(&path).await;
    let (_bus, strategy) = node_on_own_bus(&path, "strategy").await;
    let venue = strategy
        .remote_actor::<Quote, ()>("execution")
        .expect("hosted by exec");
    assert!(
        strategy.remote_actor::<Quote, ()>("strategy").is_none(),
        "hosted here"
    );
    let mut last = 0;
    for i in 0..10 {
        let seq = venue.tell_numbered(&quote(i)).await.unwrap();
        assert!(seq > last, "{seq} after {last}");
        last = seq;
        let q = tokio::time::timeout(BOUND, quotes.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(q.instrument, i);
    }
    exec.shutdown();
    strategy.shutdown();
}

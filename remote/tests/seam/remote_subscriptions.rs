//! Remote subscriptions: refused for a bad pattern, a closed link or a name too long for a
//! frame, and ended with `unsubscribe_remote`.

use crate::common::*;
use crate::nodes::{
    exec_and_strategy, forwarding, node_on_own_bus, quote, quotes_across, topology, QuotesAcross,
};

use mycelium_contracts::Quote;
use mycelium_remote::Node;

/// Nothing was queued for the peer `exec`: no interest was recorded on the link.
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

/// The topology file chooses a subscription's policy: `strategy`'s `[[node.subscription]]`
/// entry says `drop_newest`, so while `strategy`'s bus takes no quotes (a stream of one
/// place that nobody reads yet), `exec` publishes without waiting, counts what it drops, and
/// `strategy` is told of it as a gap: every quote is either received or in a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_file_chooses_a_remote_subscriptions_policy() {
    use mycelium_actors::SubscribeOptions;
    use mycelium_remote::{GapReason, RemoteOverflow, TopicGap, GAP_TOPIC};

    const N: u32 = 2_000;
    let dir = TempDir::new("seam-file-policy");
    let path = topology(&dir, "queue_capacity = 8");
    let mut text = std::fs::read_to_string(&path).unwrap();
    // `strategy` is the file's last node: the entry is its own.
    text.push_str("\n[[node.subscription]]\ntopic = \"md.quote.*\"\noverflow = \"drop_newest\"\n");
    std::fs::write(&path, text).unwrap();
    let ((exec_bus, exec), (bus, strategy)) = exec_and_strategy(&path).await;
    assert_eq!(
        strategy.file_policy("md.quote.*"),
        Some(RemoteOverflow::DropNewest)
    );
    assert_eq!(strategy.file_policy("md.trade.*"), None);
    assert_eq!(
        exec.file_policy("md.quote.*"),
        None,
        "the entry is strategy's"
    );

    let mut held = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::block().capacity(1))
        .unwrap();
    let mut gaps = bus
        .subscribe_stream::<TopicGap>(GAP_TOPIC, SubscribeOptions::new())
        .unwrap();
    exec.forward_topic::<Quote>();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    let link = exec.link("strategy").unwrap();
    forwarding(&link, true).await;

    let mut dropped = 0u64;
    tokio::time::timeout(BOUND, async {
        for i in 0..N {
            let report = exec_bus.publish("md.quote.X", quote(i)).await.unwrap();
            dropped += report.dropped as u64;
        }
    })
    .await
    .expect("under drop_newest a subscriber that takes nothing never holds up the publisher");
    assert!(
        dropped > 0,
        "the link's queue of 8 filled: some were dropped"
    );

    // What was not dropped arrives, in order.
    let mut got = Vec::new();
    tokio::time::timeout(BOUND, async {
        while got.len() as u64 + dropped < u64::from(N) {
            got.push(held.recv().await.expect("a quote").instrument);
        }
    })
    .await
    .expect("every quote not dropped arrives");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
    // The drops are told behind the next publication the link takes.
    let mut flushes = 0;
    tokio::time::timeout(BOUND, async {
        loop {
            flushes += 1;
            let report = exec_bus.publish("md.quote.X", quote(N)).await.unwrap();
            dropped += report.dropped as u64;
            if report.dropped == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the link takes a publication once the subscriber reads");
    let mut told = 0u64;
    tokio::time::timeout(BOUND, async {
        while told < dropped {
            let gap = gaps.recv().await.expect("a gap");
            let gap = gap.msg();
            assert_eq!(gap.reason, GapReason::Dropped, "{gap}");
            assert_eq!(
                (gap.source.as_str(), gap.topic.as_str()),
                ("exec", "md.quote.*")
            );
            assert_eq!(gap.type_id, <Quote as mycelium_codec::WireMessage>::TYPE_ID);
            assert!(gap
                .to_string()
                .contains("dropped by the subscription's overflow policy"));
            told += gap.count;
        }
    })
    .await
    .expect("the subscriber is told of every drop");
    assert_eq!(told, dropped, "the gaps count what the publisher dropped");
    assert_eq!(
        held.recv().await.map(|q| q.instrument),
        Some(N),
        "the publication that carried the notice, after {flushes} attempt(s)"
    );
    exec.shutdown();
    strategy.shutdown();
}

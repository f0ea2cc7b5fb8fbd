//! Remote subscriptions: refused for a bad pattern, a closed link or a name too long for a
//! frame, and ended with `unsubscribe_remote`.

use crate::common::*;
use crate::nodes::{forwarding, node_on_own_bus, quote, quotes_across, topology, QuotesAcross};

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

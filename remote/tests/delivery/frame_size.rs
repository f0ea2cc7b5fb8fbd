//! Frame size: a `max_frame` below the minimum, and a reply too large for a frame.

use std::sync::Arc;

use crate::common::scenario::{self, body, index};
use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{LinkConfig, Mode, RemoteAskError};

/// A `max_frame` too small for the link's own frames is taken as the smallest that fits
/// them: the link comes up, acknowledges, and carries small messages. (Before, a tell was
/// refused as too large, and heartbeats and acknowledgements could not even be encoded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_frame_below_the_minimum_is_raised_to_it() {
    let dir = TempDir::new("tiny-frames");
    let bus = Bus::new();
    let config = LinkConfig {
        max_frame: 16,
        ..fast_config()
    };
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec, config.clone());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (rec_b, _) = Recorder::new(true);
    let (b, _) = node("b", &bus, rec_b, config);
    let link = b.connect("a", at);
    let svc: Arc<str> = "sink".into();
    link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(1)))
        .await
        .expect("a small tell fits");
    assert_eq!(index(&recv_n(&mut got, 1).await[0]), 1);
    tokio::time::timeout(BOUND, async {
        while link.queued() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the tell was acknowledged");
    a.shutdown();
    b.shutdown();
}

/// A reply too large for a frame reaches the asker as a failure that says so, whether it was
/// ready when the ask was delivered or came later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_too_large_for_a_frame_fails_the_ask_with_its_size() {
    let dir = TempDir::new("huge-reply");
    let (a, b, link) = scenario::in_order(&dir.socket("a.sock"), Mode::Block, 1, 3).await;
    for service in ["huge", "huge-later"] {
        let svc: Arc<str> = service.into();
        let result = tokio::time::timeout(BOUND, link.ask(&svc, 7, |o| o.push(1)))
            .await
            .unwrap_or_else(|_| panic!("{service}: no answer"));
        match result {
            Err(RemoteAskError::Failed(reason)) => assert!(
                reason.contains("exceeds the frame maximum"),
                "{service}: {reason}"
            ),
            other => panic!("{service}: expected a failure, got {other:?}"),
        }
    }
    // The link is still up and in order after both.
    let svc: Arc<str> = "strategy".into();
    let (_, reply) = link
        .ask(&svc, 7, |o| o.extend_from_slice(&[1, 2]))
        .await
        .unwrap();
    assert_eq!(reply, vec![2, 1]);
    drop((link, a, b));
}

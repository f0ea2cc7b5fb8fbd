//! Order over each transport and mode, and spinning readers acknowledging the last frames
//! of a burst.

use std::time::Duration;

use crate::common::scenario;
use crate::common::*;

use mycelium_remote::{Endpoint, LinkConfig, Mode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_unix_blocking() {
    let dir = TempDir::new("order-unix");
    scenario::in_order(&dir.socket("a.sock"), Mode::Block, 2000, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_tcp_spinning() {
    scenario::in_order(
        &Endpoint::Tcp("127.0.0.1:0".into()),
        Mode::Spin(Duration::from_micros(50)),
        2000,
        3,
    )
    .await;
}

/// In spin mode a socket is out of the runtime's reactor while its reader spins and is
/// registered only to park (`polled.rs`): with no budget, the readers park after every look,
/// so messages keep crossing registrations made and dropped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_unix_spinning_with_no_budget_parking_after_every_look() {
    let dir = TempDir::new("order-unix-spin0");
    scenario::in_order(&dir.socket("a.sock"), Mode::Spin(Duration::ZERO), 2000, 3).await;
}

/// A spinning reader leaves an owed acknowledgement for a frame that is about to be sent to
/// carry it; when none is (the last tell of a burst, a reply that no ask follows), it still
/// goes, alone: both sides' queues drain with nothing more sent.
async fn spinning_readers_acknowledge_the_last_frames(name: &str) {
    let dir = TempDir::new(name);
    // No heartbeat within the test's bound: it would carry the acknowledgement too.
    let config = LinkConfig {
        mode: Mode::Spin(Duration::from_micros(50)),
        heartbeat_interval: Duration::from_secs(3600),
        heartbeat_timeout: Duration::from_secs(7200),
        ..fast_config()
    };
    let (a, _b, link) = scenario::in_order_with(&dir.socket("a.sock"), config, 1, 3).await;
    let back = a.link("b").expect("a's link to b");
    // b's ask was its last frame, a's reply a's last: each is acknowledged alone.
    tokio::time::timeout(BOUND, async {
        while link.queued() > 0 || back.queued() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "unacknowledged after {BOUND:?}: b has {} queued, a has {}",
            link.queued(),
            back.queued()
        )
    });
}

#[tokio::test]
async fn spinning_readers_on_one_thread_acknowledge_the_last_frames() {
    spinning_readers_acknowledge_the_last_frames("spin-ack-ct").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_readers_on_two_threads_acknowledge_the_last_frames() {
    spinning_readers_acknowledge_the_last_frames("spin-ack-mt").await;
}

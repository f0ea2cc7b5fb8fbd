//! Links to another process: the receiving node runs in a child process (this test binary,
//! started again with `child_receiver` selected), which the tests kill with SIGKILL.
//!
//! - `receiver_killed_repeatedly_loses_nothing_silently`: a receiver killed 100 times
//!   mid-stream and restarted; every message is delivered once, in order, or named in a loss
//!   report.
//! - `flood_at_a_slow_receiver_keeps_sender_memory_bounded`: a sender floods a slower
//!   receiver process; the sender's resident memory stays within a bound.

mod common;

use std::sync::Arc;

use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, LinkConfig};
use tokio::process::Child;

const SOCKET_ENV: &str = "MYCELIUM_REMOTE_CHILD_SOCKET";
const QUIET_ENV: &str = "MYCELIUM_REMOTE_CHILD_QUIET";

/// The tests of this file run one at a time: the flood test measures this process's
/// resident memory, which a concurrent test's buffers would inflate.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The receiving node, when this binary is started as a child; does nothing otherwise.
#[test]
#[ignore = "started as a child process by the other tests of this file"]
fn child_receiver() {
    let Ok(path) = std::env::var(SOCKET_ENV) else {
        return;
    };
    let quiet = std::env::var_os(QUIET_ENV).is_some();
    child::run_child_node(Endpoint::Unix(path.into()), quiet);
}

fn spawn_child(socket: &std::path::Path, quiet: bool) -> (Child, child::Output) {
    let mut envs = vec![(SOCKET_ENV, socket.as_os_str())];
    if quiet {
        envs.push((QUIET_ENV, "1".as_ref()));
    }
    child::spawn_child("child_receiver", envs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_killed_repeatedly_loses_nothing_silently() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = TempDir::new("kill");
    let Endpoint::Unix(socket) = dir.socket("a.sock") else {
        unreachable!()
    };
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 10_000,
        ..fast_config()
    };
    let (b, mut events) = node("b", &bus, rec, config);
    let link = b.connect("a", Endpoint::Unix(socket.clone()));
    child::killed_repeatedly_loses_nothing_silently(&link, &mut events, 100, 20, || {
        spawn_child(&socket, false)
    })
    .await;
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends 10,000,000 messages (or `MYCELIUM_FLOOD_MESSAGES`) to a receiver process that
/// handles them more slowly than they are produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_at_a_slow_receiver_keeps_sender_memory_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let total: u64 = std::env::var("MYCELIUM_FLOOD_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = TempDir::new("flood");
    let Endpoint::Unix(socket) = dir.socket("a.sock") else {
        unreachable!()
    };
    let (mut child, mut lines) = spawn_child(&socket, true);
    child::next(&mut lines, "ready").await.expect("child ready");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (b, _) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", Endpoint::Unix(socket.clone()));
    let svc: Arc<str> = "sink".into();
    let before = rss_kib();
    let mut peak = before;
    let reader = tokio::spawn(async move {
        let mut last = 0u64;
        while let Some(n) = child::next(&mut lines, "count ").await {
            last = n.trim().parse().expect("a count");
        }
        last
    });
    for i in 0..total {
        link.send(Kind::Tell, &svc, 1, |o| {
            o.extend_from_slice(&i.to_le_bytes())
        })
        .await
        .expect("queued");
        if i % 65_536 == 0 {
            peak = peak.max(rss_kib());
        }
    }
    tokio::time::timeout(BOUND * 10, async {
        while link.queued() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the receiver takes everything");
    peak = peak.max(rss_kib());
    child.start_kill().expect("kill");
    child.wait().await.expect("reaped");
    let counted = reader.await.expect("reader");
    assert_eq!(counted, total - total % 100_000);
    // The queue holds 1,024 frames of ~60 bytes: a few hundred KiB; 64 MiB is generous.
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "sender RSS grew from {before} KiB to {peak} KiB"
    );
}

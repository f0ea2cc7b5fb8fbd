//! A link over shared memory to another process (this test binary, started again with
//! `shm_child_receiver` selected), killed with SIGKILL mid-stream and restarted: every message
//! is delivered once, in order, or named in a loss report, and no segment is left behind.

mod common;

use common::*;
use mycelium_actors::Bus;
use mycelium_remote::shm::ShmEndpoint;
use mycelium_remote::{Endpoint, LinkConfig};
use tokio::process::Child;

const SOCKET_ENV: &str = "MYCELIUM_SHM_CHILD_SOCKET";
const PREFIX_ENV: &str = "MYCELIUM_SHM_CHILD_PREFIX";

fn endpoint(socket: &std::path::Path, prefix: &str) -> Endpoint {
    let mut e = ShmEndpoint::new(socket);
    e.prefix = prefix.to_owned();
    e.ring_bytes = 4096;
    Endpoint::Shm(e)
}

/// The receiving node, when this binary is started as a child; does nothing otherwise.
#[test]
#[ignore = "started as a child process by the other test of this file"]
fn shm_child_receiver() {
    let (Ok(path), Ok(prefix)) = (std::env::var(SOCKET_ENV), std::env::var(PREFIX_ENV)) else {
        return;
    };
    child::run_child_node(endpoint(path.as_ref(), &prefix), false);
}

fn spawn_child(socket: &std::path::Path, prefix: &str) -> (Child, child::Output) {
    child::spawn_child(
        "shm_child_receiver",
        [
            (SOCKET_ENV, socket.as_os_str()),
            (PREFIX_ENV, prefix.as_ref()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_node_killed_repeatedly_over_shm_loses_nothing_silently() {
    let dir = TempDir::new("shm-kill");
    let socket = dir.path().join("a.sock");
    let prefix = format!("myc-kill-{}", std::process::id());
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 10_000,
        ..fast_config()
    };
    let (b, mut events) = node("b", &bus, rec, config);
    let link = b.connect("a", endpoint(&socket, &prefix));
    child::killed_repeatedly_loses_nothing_silently(&link, &mut events, 20, 50, || {
        spawn_child(&socket, &prefix)
    })
    .await;

    // Every receiver was killed: the segments they created are gone (our side unlinks a
    // segment whose creator died when the connection ends).
    drop((link, b));
    scenario::no_segments_left(&prefix).await;
}

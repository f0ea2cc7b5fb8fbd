//! What a link registers with the runtime's reactor: each connected socket for what a task
//! waits for, never for writing while nothing waits to write.
//!
//! A socket registered for writing raises an event each time the peer reads what this side
//! wrote, and the runtime, parked in `epoll_wait`, wakes for it with no task to run: on a
//! blocking round trip over a Unix socket that was a wake-up and a turn of the runtime on both
//! sides (docs/perf/remote.md, "Session forty-four"). This file holds one test so that no
//! other test's sockets are in the process while it looks.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use common::scenario;
use common::TempDir;
use mycelium_remote::shm::ShmEndpoint;
use mycelium_remote::{Endpoint, Mode};

const EPOLLIN: u32 = 0x1;
const EPOLLOUT: u32 = 0x4;

/// Every registration of this process's epoll sets: (descriptor, events). A runtime's epoll
/// set has two descriptors (its registry is a duplicate), so each registration is kept once,
/// by its `data` word.
fn registrations() -> Vec<(u32, u32)> {
    let mut found = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("proc").flatten() {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy() == "anon_inode:[eventpoll]");
        if !is_epoll {
            continue;
        }
        let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(text) = std::fs::read_to_string(info) else {
            continue;
        };
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("tfd:") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            let after = |key: &str| {
                let at = words.iter().position(|w| *w == key).expect(key);
                words[at + 1]
            };
            let fd = words[0].parse().expect("a descriptor");
            let events = u32::from_str_radix(after("events:"), 16).expect("an events mask");
            found.insert(after("data:").to_owned(), (fd, events));
        }
    }
    found.into_values().collect()
}

/// The socket inode behind descriptor `fd` of this process, if it is a socket.
fn socket_inode(fd: u32) -> Option<u64> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let target = target.to_string_lossy();
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The inodes of the listening Unix and TCP sockets (`/proc/net/unix`: the flag
/// `SO_ACCEPTCON`, 0x10000; `/proc/net/tcp`, `tcp6`: state `0A`, LISTEN).
fn listening_inodes() -> HashSet<u64> {
    let mut listening = HashSet::new();
    let unix = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
    for line in unix.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let flags = u32::from_str_radix(f[3], 16).expect("flags");
        if flags & 0x10000 != 0 {
            listening.insert(f[6].parse().expect("inode"));
        }
    }
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(tcp) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in tcp.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f[3] == "0A" {
                listening.insert(f[9].parse().expect("inode"));
            }
        }
    }
    listening
}

/// The connected sockets registered with a reactor: (descriptor, events).
fn connected_registrations() -> Vec<(u32, u32)> {
    let listening = listening_inodes();
    registrations()
        .into_iter()
        .filter(|(fd, _)| socket_inode(*fd).is_some_and(|inode| !listening.contains(&inode)))
        .collect()
}

/// Checks the links of the process, idle after a scenario: their parked readers' sockets are
/// registered for reading, and no connected socket for writing.
fn assert_read_interest_alone(transport: &str) {
    let connected = connected_registrations();
    assert!(
        connected.iter().any(|(_, events)| events & EPOLLIN != 0),
        "{transport}: no parked reader's socket is registered: {connected:x?}"
    );
    let writable: Vec<_> = connected
        .iter()
        .filter(|(_, events)| events & EPOLLOUT != 0)
        .collect();
    assert!(
        writable.is_empty(),
        "{transport}: connected sockets registered for writing with nothing to write \
         (descriptor, events): {writable:x?}"
    );
}

#[tokio::test]
async fn a_blocking_link_registers_its_sockets_for_reading_alone() {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = TempDir::new("registrations");

    let unix = dir.socket("a.sock");
    let (a, b, link) = scenario::in_order(&unix, Mode::Block, 100, 16).await;
    assert_read_interest_alone("unix");
    drop((link, a, b));

    let tcp = Endpoint::Tcp("127.0.0.1:0".into());
    let (a, b, link) = scenario::in_order(&tcp, Mode::Block, 100, 16).await;
    assert_read_interest_alone("tcp");
    drop((link, a, b));

    let mut shm = ShmEndpoint::new(dir.path().join("shm.sock"));
    shm.prefix = format!(
        "myc-registrations-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    shm.ring_bytes = 4096;
    let (a, b, link) = scenario::in_order(&Endpoint::Shm(shm.clone()), Mode::Block, 100, 16).await;
    assert_read_interest_alone("shm");
    drop((link, a, b));
    scenario::no_segments_left(&shm.prefix).await;
}

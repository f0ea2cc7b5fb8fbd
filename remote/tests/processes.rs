//! Links to another process: the receiving node runs in a child process (this test binary,
//! started again with `child_receiver` selected), which the tests kill with SIGKILL.
//!
//! - `receiver_killed_repeatedly_loses_nothing_silently`: a receiver killed 100 times
//!   mid-stream and restarted; every message is delivered once, in order, or named in a loss
//!   report.
//! - `flood_at_a_slow_receiver_keeps_sender_memory_bounded`: a sender floods a slower
//!   receiver process; the sender's resident memory stays within a bound.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::{
    Dispatch, DispatchError, Endpoint, LinkConfig, LinkEventKind, Node, ReplyFuture,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const SOCKET_ENV: &str = "MYCELIUM_REMOTE_CHILD_SOCKET";

/// The tests of this file run one at a time: the flood test measures this process's
/// resident memory, which a concurrent test's buffers would inflate.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const QUIET_ENV: &str = "MYCELIUM_REMOTE_CHILD_QUIET";

/// Prints `got <index>` for each message (or, quiet, `count <n>` every 100,000).
struct Printer {
    quiet: bool,
    count: AtomicU64,
}

impl Dispatch for Printer {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
            if self.quiet {
                if n % 100_000 == 0 {
                    println!("count {n}");
                }
            } else {
                let i = u32::from_le_bytes(body[..4].try_into().unwrap_or([0; 4]));
                println!("got {i}");
            }
            Ok(())
        })
    }

    fn ask<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        Box::pin(async { Err(DispatchError::Failed("no asks here".into())) })
    }

    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The receiving node, when this binary is started as a child; does nothing otherwise.
#[test]
#[ignore = "started as a child process by the other tests of this file"]
fn child_receiver() {
    let Ok(path) = std::env::var(SOCKET_ENV) else {
        return;
    };
    let quiet = std::env::var_os(QUIET_ENV).is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let bus = Bus::new();
        let printer = Printer {
            quiet,
            count: AtomicU64::new(0),
        };
        let node = Node::builder("a", schema(), secret())
            .config(fast_config())
            .build(&bus, Arc::new(printer));
        node.listen(&Endpoint::Unix(path.into()), &["b"])
            .await
            .expect("listen");
        println!("ready");
        // Ends when the parent closes stdin (or dies).
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    std::process::exit(0);
}

fn spawn_child(socket: &std::path::Path, quiet: bool) -> (Child, Lines<BufReader<ChildStdout>>) {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "child_receiver",
        "--exact",
        "--ignored",
        "--nocapture",
        "--quiet",
        "--test-threads=1",
    ])
    .env(SOCKET_ENV, socket)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    if quiet {
        cmd.env(QUIET_ENV, "1");
    }
    let mut child = cmd.spawn().expect("spawn child");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, out)
}

/// The next line of the child's output that starts with `prefix`, without it.
async fn next(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> Option<String> {
    loop {
        let line = tokio::time::timeout(BOUND, lines.next_line())
            .await
            .expect("child output within the bound")
            .ok()??;
        if let Some(rest) = line.strip_prefix(prefix) {
            return Some(rest.to_owned());
        }
    }
}

fn index_of(line: &str) -> u32 {
    line.trim().parse().expect("an index")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_killed_repeatedly_loses_nothing_silently() {
    let _one = ONE_AT_A_TIME.lock().await;
    const KILLS: usize = 100;
    const PER_LIFE: usize = 20;
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
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (link, stop) = (link.clone(), stop.clone());
        tokio::spawn(async move {
            let svc: Arc<str> = "sink".into();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                link.send(Kind::Tell, &svc, 1, |o| {
                    o.extend_from_slice(&i.to_le_bytes())
                })
                .await
                .expect("queued");
                i += 1;
            }
            i
        })
    };

    let mut delivered: Vec<u32> = Vec::new();
    for _ in 0..KILLS {
        let (mut child, mut lines) = spawn_child(&socket, false);
        next(&mut lines, "ready").await.expect("child ready");
        for _ in 0..PER_LIFE {
            let line = next(&mut lines, "got ").await.expect("a message");
            delivered.push(index_of(&line));
        }
        child.start_kill().expect("kill -9");
        child.wait().await.expect("reaped");
        // What the child printed before it died is still in the pipe.
        while let Some(line) = next(&mut lines, "got ").await {
            delivered.push(index_of(&line));
        }
    }

    // The sender may be waiting for room: stop it once the last receiver runs.
    stop.store(true, Ordering::Relaxed);
    let (mut child, mut lines) = spawn_child(&socket, false);
    next(&mut lines, "ready").await.expect("child ready");
    // Everything still queued reaches the last receiver (or is reported): wait until the log
    // is empty, reading the child's output meanwhile so its pipe never fills.
    let mut sender = std::pin::pin!(sender);
    let mut sent = None;
    let drained = tokio::time::timeout(BOUND, async {
        while sent.is_none() || link.queued() > 0 {
            tokio::select! {
                line = lines.next_line() => {
                    if let Ok(Some(line)) = line {
                        if let Some(rest) = line.strip_prefix("got ") {
                            delivered.push(index_of(rest));
                        }
                    }
                }
                done = &mut sender, if sent.is_none() => sent = Some(done.expect("sender")),
                _ = tokio::task::yield_now() => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the link never drained");
    let Some(sent) = sent else { unreachable!() };
    // An acknowledgement says a message reached the receiver's mailbox, not that its handler
    // has printed it yet: wait for the last one's line before killing this receiver, or the
    // kill itself would drop what it still had queued.
    if sent > 0 && delivered.last() != Some(&(sent - 1)) {
        let _ = tokio::time::timeout(BOUND, async {
            while let Some(line) = next(&mut lines, "got ").await {
                let n = index_of(&line);
                delivered.push(n);
                if n == sent - 1 {
                    break;
                }
            }
        })
        .await;
    }
    child.start_kill().expect("kill");
    child.wait().await.expect("reaped");
    while let Some(line) = next(&mut lines, "got ").await {
        delivered.push(index_of(&line));
    }

    let mut lost = BTreeSet::new();
    let mut restarts = 0;
    for e in events.drain() {
        match &e.kind {
            LinkEventKind::Loss(report) => {
                for m in &report.messages {
                    lost.insert((m.seq - 1) as u32);
                }
            }
            LinkEventKind::Up { .. } => restarts += 1,
            LinkEventKind::GaveUp { reason } => panic!("gave up: {reason}"),
            _ => {}
        }
    }
    assert_eq!(restarts, KILLS + 1);
    // Once, in order: strictly increasing across all receivers.
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "delivered out of order or twice"
    );
    // Nothing lost silently.
    let got: BTreeSet<u32> = delivered.iter().copied().collect();
    let silent: Vec<u32> = (0..sent)
        .filter(|i| !got.contains(i) && !lost.contains(i))
        .collect();
    assert!(silent.is_empty(), "lost without a report: {silent:?}");
    assert!(delivered.len() >= KILLS * PER_LIFE);
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
    next(&mut lines, "ready").await.expect("child ready");
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let (b, _) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", Endpoint::Unix(socket.clone()));
    let svc: Arc<str> = "sink".into();
    let before = rss_kib();
    let mut peak = before;
    let reader = tokio::spawn(async move {
        let mut last = 0u64;
        while let Some(n) = next(&mut lines, "count ").await {
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

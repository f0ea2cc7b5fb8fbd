//! A receiving node in a child process (the test binary, started again with one ignored test
//! selected), and the kill-and-restart loop the process tests run against it.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::{Dispatch, DispatchError, Endpoint, Link, LinkEventKind, Node, ReplyFuture};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::{fast_config, schema, secret, Events, BOUND};

/// The child's output, line by line.
pub type Output = Lines<BufReader<ChildStdout>>;

/// Prints `got <index>` for each message (or, quiet, `count <n>` every 100,000).
pub struct Printer {
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

/// The child's body: node `a` listening on `endpoint` for `b`, printing what it receives;
/// prints `ready` once it listens and exits when its stdin closes (the parent closed it or
/// died).
pub fn run_child_node(endpoint: Endpoint, quiet: bool) -> ! {
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
        node.listen(&endpoint, &["b"]).await.expect("listen");
        println!("ready");
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    std::process::exit(0);
}

/// Starts this test binary again running only the ignored test `test`, with `envs`.
pub fn spawn_child<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    test: &str,
    envs: impl IntoIterator<Item = (K, V)>,
) -> (Child, Output) {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ])
        .envs(envs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, out)
}

/// The next line of the child's output that starts with `prefix`, without it; `None` at the
/// end of its output.
pub async fn next(lines: &mut Output, prefix: &str) -> Option<String> {
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

/// Waits for the child's `ready` line, keeping the deliveries it printed before it: the
/// child's accept loop runs on a worker thread while its main thread prints `ready`, so
/// under load a connection can be accepted, and messages delivered, first.
async fn wait_ready(lines: &mut Output, delivered: &mut Vec<u32>) {
    loop {
        let line = tokio::time::timeout(BOUND, lines.next_line())
            .await
            .expect("child output within the bound")
            .ok()
            .flatten()
            .expect("child ready");
        if line.starts_with("ready") {
            return;
        }
        if let Some(rest) = line.strip_prefix("got ") {
            delivered.push(index_of(rest));
        }
    }
}

/// The indices of the messages reported lost in the events received so far.
fn lost_so_far(events: &mut Events) -> BTreeSet<u32> {
    let mut lost = BTreeSet::new();
    for e in events.drain() {
        if let LinkEventKind::Loss(report) = &e.kind {
            lost.extend(report.messages.iter().map(|m| (m.seq - 1) as u32));
        }
    }
    lost
}

fn index_of(line: &str) -> u32 {
    line.trim().parse().expect("an index")
}

/// Streams numbered tells on `link` while `spawn` starts a receiver `kills` times, reads
/// `per_life` messages from it and kills it with SIGKILL; then a last receiver takes what is
/// left. Checks that every message sent was delivered once and in order across all the
/// receivers, or named in a loss report, and that the link came up once per receiver.
pub async fn killed_repeatedly_loses_nothing_silently(
    link: &Link,
    events: &mut Events,
    kills: usize,
    per_life: usize,
    spawn: impl Fn() -> (Child, Output),
) {
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
    for _ in 0..kills {
        let (mut child, mut lines) = spawn();
        wait_ready(&mut lines, &mut delivered).await;
        for _ in 0..per_life {
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
    let (mut child, mut lines) = spawn();
    wait_ready(&mut lines, &mut delivered).await;
    // Everything still queued reaches the last receiver (or is reported): wait until the link
    // came up to it and the log is empty, reading the child's output meanwhile so its pipe
    // never fills. The log can be empty before the last receiver connects (the receiver killed
    // last took everything, and the sender stopped): its Up is awaited as well, which also
    // comes after the report of what its predecessor left unacknowledged (`Inner::attach`).
    let mut sender = std::pin::pin!(sender);
    let mut sent = None;
    let ups = |events: &mut Events| {
        events
            .drain()
            .iter()
            .filter(|e| matches!(e.kind, LinkEventKind::Up { .. }))
            .count()
    };
    let drained = tokio::time::timeout(BOUND, async {
        while sent.is_none() || link.queued() > 0 || ups(events) < kills + 1 {
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
    // has printed it yet: wait for the line of the last message not reported lost before
    // killing this receiver, or the kill itself would drop what it still had queued. (The last
    // message sent can be among the lost: written to a receiver killed before it acknowledged
    // it, when the sender stopped before its successor connected. Waiting for it then ended
    // in a panic of `next`, whose own bound ran out with the wait's.)
    let lost = lost_so_far(events);
    if let Some(last) = (0..sent).rev().find(|i| !lost.contains(i)) {
        while delivered.last().is_none_or(|&n| n < last) {
            let line = next(&mut lines, "got ")
                .await
                .expect("the last receiver prints what it acknowledged");
            delivered.push(index_of(&line));
        }
    }
    child.start_kill().expect("kill");
    child.wait().await.expect("reaped");
    while let Some(line) = next(&mut lines, "got ").await {
        delivered.push(index_of(&line));
    }

    let lost = lost_so_far(events);
    let mut ups = 0;
    for e in events.drain() {
        match &e.kind {
            LinkEventKind::Up { .. } => ups += 1,
            LinkEventKind::GaveUp { reason } => panic!("gave up: {reason}"),
            _ => {}
        }
    }
    assert_eq!(ups, kills + 1);
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
    assert!(delivered.len() >= kills * per_life);
}

//! A link over shared memory to another process (this test binary, started again with
//! `shm_child_receiver` selected), killed with SIGKILL mid-stream and restarted: every message
//! is delivered once, in order, or named in a loss report, and no segment is left behind.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::shm::ShmEndpoint;
use mycelium_remote::{
    Dispatch, DispatchError, Endpoint, LinkConfig, LinkEventKind, Node, ReplyFuture,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const SOCKET_ENV: &str = "MYCELIUM_SHM_CHILD_SOCKET";
const PREFIX_ENV: &str = "MYCELIUM_SHM_CHILD_PREFIX";

/// Prints `got <index>` for each message.
struct Printer;

impl Dispatch for Printer {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            let i = u32::from_le_bytes(body[..4].try_into().unwrap_or([0; 4]));
            println!("got {i}");
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let bus = Bus::new();
        let node = Node::builder("a", schema(), secret())
            .config(fast_config())
            .build(&bus, Arc::new(Printer));
        node.listen(&endpoint(path.as_ref(), &prefix), &["b"])
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

fn spawn_child(socket: &std::path::Path, prefix: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "shm_child_receiver",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ])
        .env(SOCKET_ENV, socket)
        .env(PREFIX_ENV, prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, out)
}

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

fn segments(prefix: &str) -> Vec<String> {
    let lead = format!("{prefix}.");
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.starts_with(&lead))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_node_killed_repeatedly_over_shm_loses_nothing_silently() {
    const KILLS: usize = 20;
    const PER_LIFE: usize = 50;
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
        let (mut child, mut lines) = spawn_child(&socket, &prefix);
        next(&mut lines, "ready").await.expect("child ready");
        for _ in 0..PER_LIFE {
            let line = next(&mut lines, "got ").await.expect("a message");
            delivered.push(line.trim().parse().unwrap());
        }
        child.start_kill().expect("kill -9");
        child.wait().await.expect("reaped");
        while let Some(line) = next(&mut lines, "got ").await {
            delivered.push(line.trim().parse().unwrap());
        }
    }

    stop.store(true, Ordering::Relaxed);
    let (mut child, mut lines) = spawn_child(&socket, &prefix);
    next(&mut lines, "ready").await.expect("child ready");
    let mut sender = std::pin::pin!(sender);
    let mut sent = None;
    let drained = tokio::time::timeout(BOUND, async {
        while sent.is_none() || link.queued() > 0 {
            tokio::select! {
                line = lines.next_line() => {
                    if let Ok(Some(line)) = line {
                        if let Some(rest) = line.strip_prefix("got ") {
                            delivered.push(rest.trim().parse().unwrap());
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
    child.start_kill().expect("kill");
    child.wait().await.expect("reaped");
    while let Some(line) = next(&mut lines, "got ").await {
        delivered.push(line.trim().parse().unwrap());
    }

    let mut lost = BTreeSet::new();
    let mut ups = 0;
    for e in events.drain() {
        match &e.kind {
            LinkEventKind::Loss(report) => {
                lost.extend(report.messages.iter().map(|m| (m.seq - 1) as u32))
            }
            LinkEventKind::Up { .. } => ups += 1,
            LinkEventKind::GaveUp { reason } => panic!("gave up: {reason}"),
            _ => {}
        }
    }
    assert_eq!(ups, KILLS + 1);
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "delivered out of order or twice"
    );
    let got: BTreeSet<u32> = delivered.iter().copied().collect();
    let silent: Vec<u32> = (0..sent)
        .filter(|i| !got.contains(i) && !lost.contains(i))
        .collect();
    assert!(silent.is_empty(), "lost without a report: {silent:?}");

    // Every receiver was killed: the segments they created are gone (our side unlinks a
    // segment whose creator died when the connection ends).
    drop((link, b));
    tokio::time::timeout(BOUND, async {
        while !segments(&prefix).is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("segments left behind: {:?}", segments(&prefix)));
}

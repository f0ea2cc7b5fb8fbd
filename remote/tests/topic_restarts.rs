//! A subscriber in another process, killed with SIGKILL and replaced again and again while
//! the publishing node streams to it: every publication reaches a subscriber, in order, or is
//! in a loss report of the publishing node, and the subscriber that follows a loss is told of
//! it ([`TopicGap`]). Over Unix sockets and TCP, and with fewer kills over TLS and shared
//! memory.
//!
//! The subscribing node runs in a child process (this test binary, started again with
//! `child_subscriber` selected). It subscribes before it listens, so its interest is the first
//! thing its link sends; the publishing node dials it. Its subscriber prints each quote as it
//! gets it (no mailbox between the link and the line), so what the link acknowledged was
//! printed.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::child::{spawn_child, Output};
use common::*;
use mycelium_actors::{
    ActorId, BoxFuture, Bus, MessageSink, NodeId, Published, Recipient, SendError,
    SubscribeOptions, TrySendError,
};
use mycelium_contracts::Quote;
use mycelium_remote::{Endpoint, LinkConfig, LinkEventKind, Node};
use tokio::io::AsyncReadExt;
use tokio::process::Child;

const SOCKET_ENV: &str = "MYCELIUM_TOPIC_CHILD_SOCKET";
const TCP_ENV: &str = "MYCELIUM_TOPIC_CHILD_TCP";
/// With `TCP_ENV`: a directory with the certificate and key the subscriber presents (TLS).
const TLS_ENV: &str = "MYCELIUM_TOPIC_CHILD_TLS";
/// `<prefix>:<socket>` of a shared-memory endpoint.
const SHM_ENV: &str = "MYCELIUM_TOPIC_CHILD_SHM";

/// Prints `got <instrument>` for each quote, as it is published.
struct Printer;

impl MessageSink<Published<Quote>> for Printer {
    fn try_tell(&self, p: Published<Quote>) -> Result<(), TrySendError<Published<Quote>>> {
        println!("got {}", p.msg().instrument);
        Ok(())
    }

    fn tell(&self, p: Published<Quote>) -> BoxFuture<'_, Result<(), SendError<Published<Quote>>>> {
        println!("got {}", p.msg().instrument);
        Box::pin(async { Ok(()) })
    }

    fn id(&self) -> ActorId {
        ActorId::new(NodeId::new(0), 1)
    }

    fn is_alive(&self) -> bool {
        true
    }
}

/// The subscribing node, when this binary is started as a child; does nothing otherwise.
#[test]
#[ignore = "started as a child process by the other tests of this file"]
fn child_subscriber() {
    let endpoint = match (
        std::env::var(SOCKET_ENV),
        std::env::var(TCP_ENV),
        std::env::var(SHM_ENV),
    ) {
        (Ok(path), _, _) => Endpoint::Unix(path.into()),
        (_, Ok(addr), _) => Endpoint::Tcp(addr),
        (_, _, Ok(shm)) => {
            let (prefix, socket) = shm.split_once(':').expect("<prefix>:<socket>");
            shm_endpoint(socket.as_ref(), prefix)
        }
        _ => return,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let bus = Bus::new();
        let node = Node::builder("sub", schema(), secret())
            .config(fast_config())
            .observer(|e| {
                if let LinkEventKind::TopicGap(g) = &e.kind {
                    println!("gap {} {} {}", g.first_seq, g.last_seq, g.count);
                }
            })
            .build(&bus, Arc::new(bus.exports()));
        let _local = bus
            .subscribe_recipient::<Quote>(
                Recipient::new(Arc::new(Printer)),
                "md.*",
                SubscribeOptions::new(),
            )
            .expect("subscribed");
        // Before it listens: the link sends it first.
        node.subscribe_remote::<Quote>("md.*")
            .await
            .expect("subscribed to md");
        match std::env::var(TLS_ENV) {
            #[cfg(feature = "tls")]
            Ok(dir) => node
                .listen_tls(&endpoint, &["md"], certs::server(dir.as_ref()))
                .await
                .expect("listen"),
            _ => node.listen(&endpoint, &["md"]).await.expect("listen"),
        };
        println!("ready");
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    std::process::exit(0);
}

/// What the subscriber processes printed, in order.
#[derive(Default)]
struct Lives {
    /// Each life's quotes, in the order it printed them.
    got: Vec<Vec<u32>>,
    /// Each life's gap notices: (first seq, last seq, count).
    gaps: Vec<Vec<(u64, u64, u64)>>,
    /// The current life printed `ready`.
    ready: bool,
}

impl Lives {
    fn start(&mut self) {
        self.got.push(Vec::new());
        self.gaps.push(Vec::new());
        self.ready = false;
    }

    /// Takes one line of the current life's output.
    fn take(&mut self, line: &str) {
        if line.starts_with("ready") {
            self.ready = true;
        } else if let Some(i) = line.strip_prefix("got ") {
            let i = i.trim().parse().expect("an index");
            self.got.last_mut().expect("a life").push(i);
        } else if let Some(g) = line.strip_prefix("gap ") {
            let n: Vec<u64> = g.split(' ').map(|n| n.parse().expect("a number")).collect();
            self.gaps
                .last_mut()
                .expect("a life")
                .push((n[0], n[1], n[2]));
        }
    }

    /// This life's quotes so far.
    fn now(&self) -> &[u32] {
        self.got.last().map_or(&[], Vec::as_slice)
    }

    /// Reads the current life's output until `done` holds (true), or its end (false).
    async fn read_until(&mut self, lines: &mut Output, done: impl Fn(&Lives) -> bool) -> bool {
        while !done(self) {
            let line = tokio::time::timeout(BOUND, lines.next_line())
                .await
                .expect("child output within the bound");
            match line {
                Ok(Some(line)) => self.take(&line),
                _ => return false,
            }
        }
        true
    }
}

/// A small deterministic generator of the kill points (xorshift).
struct Points(u64);

impl Points {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Streams numbered quotes from node `md` to node `sub` while `spawn` starts a subscriber
/// `kills` times, lets it print a random number of quotes and kills it with SIGKILL; then a
/// last subscriber takes what is left. Checks that each quote was printed by a subscriber,
/// once and in order, or is among the publications the loss report at the next subscriber's
/// arrival names (the last ones written to the one killed), and that each subscriber told of
/// a gap was told of that report's publications.
async fn subscriber_killed_repeatedly(
    connect: impl FnOnce(&Node) -> mycelium_remote::Link,
    spawn: impl Fn() -> (Child, Output),
    kills: usize,
) {
    let bus = Bus::new();
    let (observer, mut events) = events();
    let node = Node::builder("md", schema(), secret())
        .config(LinkConfig {
            max_attempts: 10_000,
            ..fast_config()
        })
        .observer(observer)
        .build(&bus, Arc::new(bus.exports()));
    node.forward_topic::<Quote>();
    let link = connect(&node);

    let mut lives = Lives::default();
    let mut points = Points(
        std::env::var("MYCELIUM_TOPIC_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x9e37_79b9_7f4a_7c15),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut publisher = None;
    for life in 0..kills {
        let (mut child, mut lines) = spawn();
        lives.start();
        assert!(
            lives.read_until(&mut lines, |l| l.ready).await,
            "child ready"
        );
        if life == 0 {
            // The stream starts once the first subscriber's interest is served: everything
            // published from then on is for it or its successors.
            tokio::time::timeout(BOUND, async {
                while link.forwarded_topics().is_empty() {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the subscription arrives");
            let (bus, stop) = (bus.clone(), stop.clone());
            publisher = Some(tokio::spawn(async move {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    bus.publish("md.q", quote(i)).await.expect("published");
                    i += 1;
                }
                i
            }));
        }
        // A random point of the stream: after 1 to 300 quotes of this life.
        let point = 1 + points.next(300) as usize;
        assert!(
            lives
                .read_until(&mut lines, |l| l.now().len() >= point)
                .await,
            "the subscriber printed {} quotes of {point}",
            lives.now().len()
        );
        child.start_kill().expect("kill -9");
        child.wait().await.expect("reaped");
        // What the child printed before it died is still in the pipe.
        lives.read_until(&mut lines, |_| false).await;
    }

    // The publisher may be waiting for room: stopped once the last subscriber runs, which
    // then takes everything still queued.
    stop.store(true, Ordering::Relaxed);
    let (mut child, mut lines) = spawn();
    lives.start();
    assert!(
        lives.read_until(&mut lines, |l| l.ready).await,
        "child ready"
    );
    let sent = tokio::time::timeout(BOUND, publisher.expect("publishing"))
        .await
        .expect("the publisher stops")
        .expect("publisher");
    let ups = |events: &mut Events| {
        events
            .drain()
            .iter()
            .filter(|e| matches!(e.kind, LinkEventKind::Up { .. }))
            .count()
    };
    let drained = tokio::time::timeout(BOUND, async {
        while link.queued() > 0 || ups(&mut events) < kills + 1 {
            tokio::select! {
                line = lines.next_line() => {
                    if let Ok(Some(line)) = line {
                        lives.take(&line);
                    }
                }
                _ = tokio::task::yield_now() => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the link never drained");
    // Everything acknowledged was printed (before it was acknowledged), so every quote is
    // printed or reported once the pipe is read; and the last subscriber is told of the gap
    // its arrival's report names, if any.
    let reports = reports(&mut events, kills);
    let want_gap = reports[kills] > 0;
    let complete = lives
        .read_until(&mut lines, |l| {
            // The stream's last quote printed; or, the last subscriber having printed none,
            // every quote accounted for (the tail may have been lost with its predecessor).
            let done = if l.now().is_empty() {
                covered(l, &reports, sent)
            } else {
                l.now().last() == Some(&(sent - 1))
            };
            // Its own arrival's notice comes last, after any its predecessors never read.
            done && (!want_gap || l.gaps[kills].last().map(|g| g.2) == Some(reports[kills]))
        })
        .await;
    assert!(complete, "the last subscriber's output ended first");
    child.start_kill().expect("kill");
    child.wait().await.expect("reaped");
    lives.read_until(&mut lines, |_| false).await;

    // Once, in order: strictly increasing across all subscribers.
    let all: Vec<u32> = lives.got.iter().flatten().copied().collect();
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "printed out of order or twice"
    );
    // Nothing lost silently: each quote printed, or named in a report.
    let got: std::collections::BTreeSet<u32> = all.iter().copied().collect();
    let lost = lost_quotes(&lives, &reports, sent);
    let silent: Vec<u32> = (0..sent)
        .filter(|i| !got.contains(i) && !lost.contains(i))
        .collect();
    assert!(silent.is_empty(), "lost without a report: {silent:?}");
    // The gap notices tell the reports, in order, each at most once. A notice is queued for
    // the arrival whose report it tells, behind what was queued before; a subscriber killed
    // before it was written leaves it to its successor, one killed after it was written takes
    // it along unread. So what each subscriber was told is a run of the reports not told to
    // an earlier one (its own arrival's last), and the numbers they name only ever grow.
    let mut untold: Vec<u64> = Vec::new();
    let mut named_through = 0;
    for (life, gaps) in lives.gaps.iter().enumerate() {
        if reports[life] > 0 {
            untold.push(reports[life]);
        }
        for &(first, last, count) in gaps {
            assert!(
                first > named_through && last >= first && count > 0,
                "life {life}: gap notices {gaps:?} name numbers out of order"
            );
            named_through = last;
        }
        let told: Vec<u64> = gaps.iter().map(|g| g.2).collect();
        if told.is_empty() {
            continue;
        }
        let at = untold
            .windows(told.len())
            .position(|w| w == told.as_slice())
            .unwrap_or_else(|| {
                panic!("life {life}: gap notices {gaps:?} are not a run of the reports not told yet {untold:?}")
            });
        untold.drain(..at + told.len());
    }
    assert!(lost.len() < sent as usize, "most quotes arrive");
    node.shutdown();
}

/// For each life, the publications the loss report made at its arrival names (0 for the
/// first): the last ones written to the life before it. The report comes before the Up.
fn reports(events: &mut Events, kills: usize) -> Vec<u64> {
    let mut per_life = Vec::new();
    let mut lost = 0;
    for e in events.drain() {
        match &e.kind {
            LinkEventKind::Loss(report) => {
                lost += report
                    .messages
                    .iter()
                    .filter(|m| m.kind == mycelium_remote::frame::Kind::Publish)
                    .count() as u64;
            }
            LinkEventKind::Up { .. } => per_life.push(std::mem::take(&mut lost)),
            LinkEventKind::GaveUp { reason } => panic!("gave up: {reason}"),
            _ => {}
        }
    }
    assert_eq!(per_life.len(), kills + 1, "one Up per subscriber");
    assert_eq!(lost, 0, "no report after the last subscriber came");
    per_life
}

/// Every quote was printed or named lost.
fn covered(lives: &Lives, reports: &[u64], sent: u32) -> bool {
    let lost = lost_quotes(lives, reports, sent);
    let got: std::collections::BTreeSet<u32> = lives.got.iter().flatten().copied().collect();
    (0..sent).all(|i| got.contains(&i) || lost.contains(&i))
}

/// The quotes named lost: those before each life's first quote that its arrival's report
/// counted (the last ones written to its predecessor).
fn lost_quotes(lives: &Lives, reports: &[u64], sent: u32) -> std::collections::BTreeSet<u32> {
    let mut lost = std::collections::BTreeSet::new();
    for (life, &count) in reports.iter().enumerate().skip(1) {
        // What this life was sent first: its first quote, or (it printed none) its
        // successor's, or the end of the stream.
        let first = lives.got[life..]
            .iter()
            .find_map(|g| g.first().copied())
            .unwrap_or(sent);
        let count = u32::try_from(count).expect("a count");
        lost.extend(first.saturating_sub(count)..first);
    }
    lost
}

fn quote(i: u32) -> Quote {
    Quote {
        ts_ns: u64::from(i),
        instrument: i,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 2.0,
        ask_qty: 1.0,
    }
}

fn unix_child(socket: &std::path::Path) -> (Child, Output) {
    spawn_child("child_subscriber", [(SOCKET_ENV, socket.as_os_str())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_killed_repeatedly_over_unix_sockets_misses_nothing_silently() {
    let dir = TempDir::new("topic-kill");
    let Endpoint::Unix(socket) = dir.socket("sub.sock") else {
        unreachable!()
    };
    let at = Endpoint::Unix(socket.clone());
    subscriber_killed_repeatedly(|n| n.connect("sub", at), || unix_child(&socket), 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_killed_repeatedly_over_tcp_misses_nothing_silently() {
    // A loopback port free now, that each subscriber in turn listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let text = addr.to_string();
    let at = Endpoint::Tcp(text.clone());
    subscriber_killed_repeatedly(
        |n| n.connect("sub", at),
        || spawn_child("child_subscriber", [(TCP_ENV, text.as_str())]),
        50,
    )
    .await;
}

/// Kills over TLS and shared memory (each connection costs more to make).
const FEWER_KILLS: usize = 20;

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_killed_repeatedly_over_tls_misses_nothing_silently() {
    let dir = TempDir::new("topic-kill-tls");
    certs::write(dir.path());
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let certs_dir = dir.path().to_string_lossy().into_owned();
    let (at, tls) = (Endpoint::Tcp(addr.clone()), certs::client(dir.path()));
    subscriber_killed_repeatedly(
        |n| n.connect_tls("sub", at, tls),
        || {
            spawn_child(
                "child_subscriber",
                [(TCP_ENV, addr.as_str()), (TLS_ENV, certs_dir.as_str())],
            )
        },
        FEWER_KILLS,
    )
    .await;
}

fn shm_endpoint(socket: &std::path::Path, prefix: &str) -> Endpoint {
    let mut e = mycelium_remote::shm::ShmEndpoint::new(socket);
    e.prefix = prefix.to_owned();
    e.ring_bytes = 64 * 1024;
    Endpoint::Shm(e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_killed_repeatedly_over_shared_memory_misses_nothing_silently() {
    let dir = TempDir::new("topic-kill-shm");
    let socket = dir.path().join("sub.sock");
    let prefix = format!("myc-tk-{}", std::process::id());
    let env = format!("{prefix}:{}", socket.to_string_lossy());
    let at = shm_endpoint(&socket, &prefix);
    subscriber_killed_repeatedly(
        |n| n.connect("sub", at),
        || spawn_child("child_subscriber", [(SHM_ENV, env.as_str())]),
        FEWER_KILLS,
    )
    .await;
    scenario::no_segments_left(&prefix).await;
}

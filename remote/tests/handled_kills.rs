//! Acknowledged means handled: a receiving process whose actor has a backlog in its mailbox is
//! killed with SIGKILL at random points of a stream, and started again, over Unix sockets and
//! TCP. Every tell or ask sent is handled by one of the receivers (more than once only when a
//! receiver died after handling it and before its acknowledgement left) or named, with its
//! sequence number and type, in a loss report of the sender; none is missing. Every ask is
//! answered: by its reply, or by a failure.
//!
//! Over TLS and shared memory too, with fewer kills each.
//!
//! The receiver is this test binary started again with `child_handler` selected: node `a`
//! with an actor exported as `sink` for tells and one exported as `answer` for asks, whose
//! handlers print `got <id>` for each order they handle. Printing is slower than the link, so
//! the mailbox holds a backlog when the kill comes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, MailboxConfig, SpawnOptions};
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, OrderAck};
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, LinkConfig, LinkEventKind, Node, OnReply};
use tokio::io::AsyncReadExt;

const ENDPOINT_ENV: &str = "MYCELIUM_REMOTE_HANDLER_ENDPOINT";
/// A directory with the certificate and key the receiver presents over TLS.
const TLS_ENV: &str = "MYCELIUM_REMOTE_HANDLER_TLS";

/// Kills per transport.
const KILLS: usize = 12;
/// Kills over TLS and shared memory (each connection costs more to make).
const FEWER_KILLS: usize = 12;

/// The tests of this file run one at a time (each starts and kills many processes).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Prints each order it handles.
struct Sink;

impl Actor for Sink {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink)
    }
}

impl Handler<CancelOrder> for Sink {
    type Reply = ();
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) {
        println!("got {}", c.client_order_id);
    }
}

/// Prints each order it is asked about, and answers.
struct Answerer;

impl Actor for Answerer {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Answerer)
    }
}

impl Handler<CancelOrder> for Answerer {
    type Reply = OrderAck;
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
        // Not answered within one poll: an idle actor's reply is otherwise made on the
        // reader's task, and its mailbox never holds a backlog.
        tokio::task::yield_now().await;
        println!("got {}", c.client_order_id);
        OrderAck {
            client_order_id: c.client_order_id,
            venue_order_id: String::new(),
            ts_ns: c.ts_ns,
            venue_ts_ns: None,
        }
    }
}

/// The receiving node, when this binary is started as a child; does nothing otherwise.
#[test]
#[ignore = "started as a child process by the other tests of this file"]
fn child_handler() {
    let Ok(endpoint) = std::env::var(ENDPOINT_ENV) else {
        return;
    };
    let endpoint = child_endpoint(&endpoint);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let bus = Bus::new();
        let sink = bus
            .spawn_with::<Sink>((), SpawnOptions::new().mailbox(MailboxConfig::Bounded(512)))
            .expect("spawn");
        let answerer = bus
            .spawn_with::<Answerer>((), SpawnOptions::new().mailbox(MailboxConfig::Bounded(512)))
            .expect("spawn");
        let exports = bus.exports();
        exports
            .export("sink", sink.recipient::<CancelOrder>())
            .expect("export");
        exports
            .export_ask("answer", answerer.reply_recipient::<CancelOrder>())
            .expect("export");
        let node = Node::builder("a", schema(), secret())
            .config(fast_config())
            .build(&bus, Arc::new(exports));
        match std::env::var(TLS_ENV) {
            #[cfg(feature = "tls")]
            Ok(dir) => node
                .listen_tls(&endpoint, &["b"], certs::server(dir.as_ref()))
                .await
                .expect("listen"),
            _ => node.listen(&endpoint, &["b"]).await.expect("listen"),
        };
        println!("ready");
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    std::process::exit(0);
}

/// The receiver's endpoint as the parent wrote it: `tcp:<address>`, `shm:<prefix>:<socket>`,
/// or a Unix socket's path.
fn child_endpoint(text: &str) -> Endpoint {
    if let Some(addr) = text.strip_prefix("tcp:") {
        return Endpoint::Tcp(addr.to_owned());
    }
    if let Some(rest) = text.strip_prefix("shm:") {
        let (prefix, socket) = rest.split_once(':').expect("shm:<prefix>:<socket>");
        return shm_endpoint(socket.as_ref(), prefix);
    }
    Endpoint::Unix(text.into())
}

fn shm_endpoint(socket: &std::path::Path, prefix: &str) -> Endpoint {
    let mut e = mycelium_remote::shm::ShmEndpoint::new(socket);
    e.prefix = prefix.to_owned();
    e.ring_bytes = 64 * 1024;
    Endpoint::Shm(e)
}

/// A small deterministic generator for the kill points, seeded from the clock (the seed is in
/// every failure message).
struct Points(u64);

impl Points {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn body(id: u64, out: &mut Vec<u8>) {
    CancelOrder {
        client_order_id: id,
        instrument: 7,
        ts_ns: id,
    }
    .encode_body(out);
}

/// One receiver's life: the ids it printed, in order.
type Life = Vec<u64>;

/// Waits for the child's `ready` line, keeping the orders it printed before it (its accept
/// loop runs on a worker thread while its main thread prints `ready`).
async fn wait_ready(lines: &mut child::Output, life: &mut Life) {
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
            life.push(rest.trim().parse().expect("an id"));
        }
    }
}

async fn read_got(lines: &mut child::Output, life: &mut Life) -> bool {
    match child::next(lines, "got ").await {
        Some(id) => {
            life.push(id.trim().parse().expect("an id"));
            true
        }
        None => false,
    }
}

/// What became of each ask, by id: its reply (`true`) or a failure (`false`).
type Answers = Arc<Mutex<BTreeMap<u64, bool>>>;

/// Streams tells to `sink` (`kind` Tell) or asks to `answer` (`kind` Ask) on the link
/// `connect` makes while receivers (started with `envs`) are started and killed `kills` times
/// at random points, then a last one takes what is left; checks that each receiver handled
/// in order, that every message was handled or reported lost, and that every ask was
/// answered.
async fn killed_receivers_lose_nothing(
    connect: impl FnOnce(&Node) -> mycelium_remote::Link,
    envs: Vec<(&'static str, String)>,
    kind: Kind,
    kills: usize,
) {
    let _one = ONE_AT_A_TIME.lock().await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut points = Points(seed);
    let spawn = || child::spawn_child("child_handler", envs.iter().map(|(k, v)| (k, v)));

    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 10_000,
        ..fast_config()
    };
    let (b, mut events) = node("b", &bus, rec, config);
    let link = connect(&b);

    let stop = Arc::new(AtomicBool::new(false));
    let answers: Answers = Arc::default();
    let sender = {
        let (link, stop, answers) = (link.clone(), stop.clone(), answers.clone());
        tokio::spawn(async move {
            let svc: Arc<str> = if kind == Kind::Ask { "answer" } else { "sink" }.into();
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if kind == Kind::Ask {
                    // Queued in order, each answered by a callback: many in flight at once.
                    let answers = answers.clone();
                    let on_reply: OnReply = Box::new(move |r| {
                        answers.lock().unwrap().insert(id, r.is_ok());
                    });
                    link.ask_with(
                        &svc,
                        CancelOrder::TYPE_ID,
                        "CancelOrder",
                        |o| body(id, o),
                        on_reply,
                    )
                    .await
                    .expect("queued");
                } else {
                    link.send(Kind::Tell, &svc, CancelOrder::TYPE_ID, |o| body(id, o))
                        .await
                        .expect("queued");
                }
                id += 1;
            }
            id
        })
    };

    let mut lives: Vec<Life> = Vec::new();
    for _ in 0..kills {
        let (mut child, mut lines) = spawn();
        let mut life = Life::new();
        wait_ready(&mut lines, &mut life).await;
        // A random point: after 1 to 3,000 orders handled.
        let at = 1 + points.next(3_000) as usize;
        while life.len() < at {
            assert!(
                read_got(&mut lines, &mut life).await,
                "seed {seed}: output ended"
            );
        }
        child.start_kill().expect("kill -9");
        child.wait().await.expect("reaped");
        // What the child printed before it died is still in the pipe.
        while read_got(&mut lines, &mut life).await {}
        lives.push(life);
    }

    // The last receiver takes the rest; the sender stops once it runs.
    stop.store(true, Ordering::Relaxed);
    let (mut child, mut lines) = spawn();
    let mut life = Life::new();
    wait_ready(&mut lines, &mut life).await;
    let mut sender = std::pin::pin!(sender);
    let mut sent = None;
    let mut ups = 0;
    // Once the log is empty everything was handled by the last receiver or reported lost:
    // wait for that, and for the Up of the last receiver, reading its output meanwhile so its
    // pipe never fills.
    let drained = tokio::time::timeout(BOUND, async {
        while sent.is_none() || link.queued() > 0 || link.asks_in_flight() > 0 || ups < kills + 1 {
            ups += events
                .drain()
                .iter()
                .filter(|e| matches!(e.kind, LinkEventKind::Up { .. }))
                .count();
            tokio::select! {
                line = lines.next_line() => {
                    if let Ok(Some(line)) = line {
                        if let Some(rest) = line.strip_prefix("got ") {
                            life.push(rest.trim().parse().expect("an id"));
                        }
                    }
                }
                done = &mut sender, if sent.is_none() => sent = Some(done.expect("sender")),
                _ = tokio::task::yield_now() => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "seed {seed}: the link never drained");
    let Some(sent) = sent else { unreachable!() };
    // The log is empty: every tell not reported lost was handled, so printed. The last
    // receiver ends when its stdin closes.
    drop(child.stdin.take());
    while read_got(&mut lines, &mut life).await {}
    child.wait().await.expect("reaped");
    lives.push(life);

    let mut lost = BTreeSet::new();
    for e in events.drain() {
        match &e.kind {
            LinkEventKind::Loss(report) => {
                for m in &report.messages {
                    assert_eq!(m.kind, kind, "seed {seed}");
                    assert_eq!(m.type_id, CancelOrder::TYPE_ID, "seed {seed}");
                    // Sequence numbers start at 1, ids at 0.
                    lost.insert(m.seq - 1);
                }
            }
            LinkEventKind::GaveUp { reason } => panic!("seed {seed}: gave up: {reason}"),
            _ => {}
        }
    }
    let mut handled = BTreeSet::new();
    let mut twice = 0usize;
    for (n, life) in lives.iter().enumerate() {
        // Each receiver handles in order, and each only once.
        assert!(
            life.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: receiver {n} handled out of order or twice"
        );
        for &id in life {
            if !handled.insert(id) {
                twice += 1;
            }
        }
    }
    let silent: Vec<u64> = (0..sent)
        .filter(|id| !handled.contains(id) && !lost.contains(id))
        .collect();
    assert!(
        silent.is_empty(),
        "seed {seed}: {} of {sent} {kind:?}s neither handled nor reported lost: {:?}",
        silent.len(),
        &silent[..silent.len().min(20)]
    );
    let (mut failed, mut answered_and_lost) = (0usize, 0usize);
    if kind == Kind::Ask {
        let answers = answers.lock().unwrap();
        for id in 0..sent {
            match answers.get(&id) {
                // A reply only from a receiver that handled it.
                Some(true) => assert!(
                    handled.contains(&id),
                    "seed {seed}: ask {id} answered unhandled"
                ),
                Some(false) => failed += 1,
                None => panic!("seed {seed}: ask {id} never answered"),
            }
        }
        // A loss report names what was not acknowledged as handled: an ask answered just
        // before its receiver died, its acknowledgement still to leave, is named too.
        answered_and_lost = lost
            .iter()
            .filter(|id| answers.get(id) == Some(&true))
            .count();
    }
    // Handled again only when a receiver died between handling and acknowledging: at most
    // the acknowledgements in flight at each kill, never a whole mailbox.
    assert!(
        twice <= kills * 512,
        "seed {seed}: {twice} tells handled twice"
    );
    eprintln!(
        "{sent} {kind:?}s sent, {} handled, {} reported lost, {twice} handled twice, {failed} \
         asks failed, {answered_and_lost} answered and reported lost (seed {seed})",
        handled.len(),
        lost.len()
    );
}

/// A receiver's Unix socket in a new temporary directory: the directory (kept for the test),
/// how the sender dials it, and the receivers' environment.
#[allow(clippy::type_complexity)]
fn unix(
    tag: &str,
) -> (
    TempDir,
    impl FnOnce(&Node) -> mycelium_remote::Link,
    Vec<(&'static str, String)>,
) {
    let dir = TempDir::new(tag);
    let Endpoint::Unix(socket) = dir.socket("a.sock") else {
        unreachable!()
    };
    let env = socket.to_string_lossy().into_owned();
    (
        dir,
        move |b: &Node| b.connect("a", Endpoint::Unix(socket)),
        vec![(ENDPOINT_ENV, env)],
    )
}

/// A loopback address free now, for every receiver in turn.
fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_receivers_killed_lose_nothing() {
    let (_dir, connect, envs) = unix("handled-kill");
    killed_receivers_lose_nothing(connect, envs, Kind::Tell, KILLS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_receivers_killed_lose_no_ask() {
    let (_dir, connect, envs) = unix("handled-kill-ask");
    killed_receivers_lose_nothing(connect, envs, Kind::Ask, KILLS).await;
}

async fn over_tcp(kind: Kind) {
    let addr = free_address();
    let envs = vec![(ENDPOINT_ENV, format!("tcp:{addr}"))];
    killed_receivers_lose_nothing(|b| b.connect("a", Endpoint::Tcp(addr)), envs, kind, KILLS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_receivers_killed_lose_nothing() {
    over_tcp(Kind::Tell).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_receivers_killed_lose_no_ask() {
    over_tcp(Kind::Ask).await;
}

#[cfg(feature = "tls")]
async fn over_tls(kind: Kind, tag: &str) {
    let dir = TempDir::new(tag);
    certs::write(dir.path());
    let addr = free_address();
    let envs = vec![
        (ENDPOINT_ENV, format!("tcp:{addr}")),
        (TLS_ENV, dir.path().to_string_lossy().into_owned()),
    ];
    let tls = certs::client(dir.path());
    killed_receivers_lose_nothing(
        |b| b.connect_tls("a", Endpoint::Tcp(addr), tls),
        envs,
        kind,
        FEWER_KILLS,
    )
    .await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_receivers_killed_lose_nothing() {
    over_tls(Kind::Tell, "handled-kill-tls").await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_receivers_killed_lose_no_ask() {
    over_tls(Kind::Ask, "handled-kill-tls-ask").await;
}

async fn over_shm(kind: Kind, tag: &str) {
    let dir = TempDir::new(tag);
    let socket = dir.path().join("a.sock");
    let prefix = format!("myc-hk-{}-{}", std::process::id(), tag.len());
    let envs = vec![(
        ENDPOINT_ENV,
        format!("shm:{prefix}:{}", socket.to_string_lossy()),
    )];
    let endpoint = shm_endpoint(&socket, &prefix);
    killed_receivers_lose_nothing(|b| b.connect("a", endpoint), envs, kind, FEWER_KILLS).await;
    // Every receiver was killed or closed: the segments they made are gone.
    scenario::no_segments_left(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shm_receivers_killed_lose_nothing() {
    over_shm(Kind::Tell, "handled-kill-shm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shm_receivers_killed_lose_no_ask() {
    over_shm(Kind::Ask, "handled-kill-shm-ask").await;
}

//! `publications`: a topic's publications across a link over a Unix socket, Mycelium alone.
//!
//! Two nodes in one process, each on a current-thread runtime of its own thread: `client`
//! forwards `Quote` and publishes `n` quotes on its bus with a `Publisher`; `server`
//! subscribes to `md.quote.*` remotely (`Node::subscribe_remote`), so the interest crosses the
//! link, and an actor on its bus counts what arrives. The time runs from the first publish to
//! the count reaching `n`: the publisher's path, the link both ways and the subscriber's
//! delivery (`Dispatch::publish_now` on the receiving side). No peer runs it: ractor and raw
//! sockets have no topics across processes to compare with.
//!
//! ```text
//! cargo run --release -p mycelium-bench -- publications [--quick]
//! cargo run --release -p mycelium-bench -- publications --policies [--quick]
//! ```
//!
//! Prints `publications mycelium transport=unix mode=<block|spin> msgs_per_sec=<median>`,
//! the median of 3 rounds (1 with `--quick`, of 1/100 the messages).
//!
//! `--policies` measures instead the rate of a local subscriber of the publishing node (an
//! actor on its bus, `Block`), in block mode: alone (`remote=none`), beside a remote
//! subscriber under each overflow policy (`RemoteOverflow`), and beside a remote subscriber
//! under each policy but `Block` whose node has stopped (its thread blocked: it neither reads
//! nor sends heartbeats, as a process under SIGSTOP). The time runs from the first publish to
//! the local count reaching `n`; each stopped line gives its ratio to the local-only one of
//! the same run (goal >= 0.9). A stopped `Block` subscriber holds the publisher until the link
//! gives up, by design, and is not measured.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium::actors::{Actor, BoxError, Bus, Context, Handler, Published, SubscribeOptions};
use mycelium_contracts::{Quote, SCHEMA_DIGEST};
use mycelium_remote::{Endpoint, LinkConfig, LocalSchema, Mode, Node, RemoteOverflow, Secret};

use crate::remote::ct_runtime;

/// Messages per round in the full mode.
const FULL: u64 = 2_000_000;

/// The longest a round, or the link's setup, may take before the run fails.
const BOUND: Duration = Duration::from_secs(120);

/// Counts the quotes it receives into a counter the publishing thread reads.
struct Counter(Arc<AtomicU64>);

impl Actor for Counter {
    type Args = Arc<AtomicU64>;
    async fn on_start(count: Arc<AtomicU64>, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter(count))
    }
}

impl Handler<Published<Quote>> for Counter {
    type Reply = ();
    async fn handle(&mut self, _: Published<Quote>, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn config(spin: bool) -> LinkConfig {
    LinkConfig {
        mode: if spin {
            Mode::Spin(Duration::from_micros(200))
        } else {
            Mode::Block
        },
        ..LinkConfig::default()
    }
}

fn quote(i: u64) -> Quote {
    Quote {
        ts_ns: i,
        instrument: 7,
        bid_px: 100.0,
        bid_qty: 1.0,
        ask_px: 100.5,
        ask_qty: 2.0,
    }
}

/// A socket directory of this process's own (mode 0700), removed when dropped.
struct SocketDir(PathBuf);

impl SocketDir {
    fn new(mode: &str) -> Result<SocketDir, String> {
        use std::os::unix::fs::DirBuilderExt;
        let d = std::env::temp_dir().join(format!(
            "mycelium-bench-{}-publications-{mode}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&d)
            .map_err(|e| format!("socket dir {}: {e}", d.display()))?;
        Ok(SocketDir(d))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SECRET: &[u8] = b"the publications bench's link secret";

fn secret() -> Result<Secret, String> {
    Secret::new(SECRET.to_vec()).map_err(|e| e.to_string())
}

/// The subscribing node: serves until `stop` ends, counting into `count`. Sends its
/// endpoint on `ready` once it listens.
fn server(
    socket: PathBuf,
    spin: bool,
    count: Arc<AtomicU64>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), String> {
    ct_runtime()?.block_on(async move {
        let bus = Bus::new();
        let counter = bus.spawn::<Counter>(count);
        let _subscription = bus
            .subscribe_actor::<Counter, Quote>(&counter, "md.quote.*", SubscribeOptions::new())
            .map_err(|e| e.to_string())?;
        let node = Node::builder("server", LocalSchema::from_digest(SCHEMA_DIGEST), secret()?)
            .config(config(spin))
            .build(&bus, Arc::new(bus.exports()));
        let listening = node.listen(&Endpoint::Unix(socket), &["client"]).await;
        let _ = ready.send(listening.map(|_| ()).map_err(|e| e.to_string()));
        // The interest goes out on every link the node has: wait for the client's, unless
        // told to stop first (the client failed).
        let mut stop = stop;
        let linked = tokio::select! {
            linked = tokio::time::timeout(BOUND, async {
                while node.link("client").is_none() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }) => linked.is_ok(),
            _ = &mut stop => false,
        };
        if linked {
            node.subscribe_remote::<Quote>("md.quote.*")
                .await
                .map_err(|e| e.to_string())?;
            let _ = stop.await;
        }
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

/// One mode's rounds: the rate of each.
fn run_mode(spin: bool, n: u64, rounds: usize) -> Result<Vec<f64>, String> {
    let dir = SocketDir::new(if spin { "spin" } else { "block" })?;
    let socket = dir.path().join("server.sock");
    let count = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let server = {
        let (socket, count) = (socket.clone(), count.clone());
        std::thread::spawn(move || server(socket, spin, count, ready_tx, stop_rx))
    };
    let rates = ready_rx
        .recv_timeout(BOUND)
        .map_err(|e| format!("server: {e}"))
        .and_then(|listening| listening)
        .and_then(|()| client(&socket, spin, &count, n, rounds));
    let _ = stop_tx.send(());
    let served = server
        .join()
        .map_err(|_| "the server thread panicked".to_string())?;
    let rates = rates?;
    served?;
    Ok(rates)
}

/// The publishing node: waits for the server's interest, then publishes `n` quotes a round.
fn client(
    socket: &Path,
    spin: bool,
    count: &AtomicU64,
    n: u64,
    rounds: usize,
) -> Result<Vec<f64>, String> {
    ct_runtime()?.block_on(async move {
        let bus = Bus::new();
        let node = Node::builder("client", LocalSchema::from_digest(SCHEMA_DIGEST), secret()?)
            .config(config(spin))
            .build(&bus, Arc::new(bus.exports()));
        node.forward_topic::<Quote>();
        let link = node.connect("server", Endpoint::Unix(socket.to_path_buf()));
        tokio::time::timeout(BOUND, async {
            while link.forwarded_topics().is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .map_err(|_| "the server's interest never came".to_string())?;
        let publisher = bus
            .publisher::<Quote>("md.quote.AAPL")
            .map_err(|e| e.to_string())?;
        let mut rates = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let base = count.load(Ordering::Relaxed);
            let t0 = Instant::now();
            for i in 0..n {
                publisher.publish(quote(i)).await;
            }
            let arrived = tokio::time::timeout(BOUND, async {
                while count.load(Ordering::Relaxed) < base + n {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            if arrived.is_err() {
                return Err(format!(
                    "{} of {n} publications arrived",
                    count.load(Ordering::Relaxed) - base
                ));
            }
            rates.push(n as f64 / t0.elapsed().as_secs_f64());
        }
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok(rates)
    })
}

/// The subscribing node of `--policies`: subscribes under `policy`, says so on `ready`, and
/// when `freeze` comes blocks its thread (the node stops dead) until `thaw`.
fn policy_server(
    socket: PathBuf,
    policy: RemoteOverflow,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    freeze: tokio::sync::oneshot::Receiver<bool>,
    thaw: std::sync::mpsc::Receiver<()>,
) -> Result<(), String> {
    ct_runtime()?.block_on(async move {
        let bus = Bus::new();
        let node = Node::builder("server", LocalSchema::from_digest(SCHEMA_DIGEST), secret()?)
            .config(config(false))
            .build(&bus, Arc::new(bus.exports()));
        // Subscribed before it listens: the interest is the link's first frame.
        let subscribed = node
            .subscribe_remote_with::<Quote>("md.quote.*", policy)
            .await
            .map_err(|e| e.to_string());
        let listening = match subscribed {
            Ok(()) => node
                .listen(&Endpoint::Unix(socket), &["client"])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let _ = ready.send(listening);
        if let Ok(true) = freeze.await {
            // Stopped dead: nothing of this node runs until the client is done.
            let _ = thaw.recv();
        }
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

/// One `--policies` line: the local subscriber's rate per round, with a remote subscriber
/// under `remote` (none: alone), stopped or not.
fn run_policy(
    remote: Option<RemoteOverflow>,
    stopped: bool,
    n: u64,
    rounds: usize,
) -> Result<Vec<f64>, String> {
    let dir = SocketDir::new("policies")?;
    let socket = dir.path().join("server.sock");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (freeze_tx, freeze_rx) = tokio::sync::oneshot::channel();
    let (thaw_tx, thaw_rx) = std::sync::mpsc::channel();
    let server = remote.map(|policy| {
        let socket = socket.clone();
        std::thread::spawn(move || policy_server(socket, policy, ready_tx, freeze_rx, thaw_rx))
    });
    let ready = match &server {
        Some(_) => ready_rx
            .recv_timeout(BOUND)
            .map_err(|e| format!("server: {e}"))
            .and_then(|listening| listening),
        None => Ok(()),
    };
    let mut freeze = Some(freeze_tx);
    let rates = ready.and_then(|()| {
        ct_runtime()?.block_on(async {
            let bus = Bus::new();
            let count = Arc::new(AtomicU64::new(0));
            let counter = bus.spawn::<Counter>(count.clone());
            let _local = bus
                .subscribe_actor::<Counter, Quote>(&counter, "md.quote.*", SubscribeOptions::new())
                .map_err(|e| e.to_string())?;
            let node = Node::builder("client", LocalSchema::from_digest(SCHEMA_DIGEST), secret()?)
                .config(config(false))
                .build(&bus, Arc::new(bus.exports()));
            node.forward_topic::<Quote>();
            if remote.is_some() {
                let link = node.connect("server", Endpoint::Unix(socket.clone()));
                tokio::time::timeout(BOUND, async {
                    while link.forwarded_topics().is_empty() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
                .await
                .map_err(|_| "the server's interest never came".to_string())?;
                if stopped {
                    if let Some(freeze) = freeze.take() {
                        let _ = freeze.send(true);
                    }
                }
            }
            let publisher = bus
                .publisher::<Quote>("md.quote.AAPL")
                .map_err(|e| e.to_string())?;
            let mut rates = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let base = count.load(Ordering::Relaxed);
                let t0 = Instant::now();
                for i in 0..n {
                    publisher.publish(quote(i)).await;
                }
                let arrived = tokio::time::timeout(BOUND, async {
                    while count.load(Ordering::Relaxed) < base + n {
                        tokio::task::yield_now().await;
                    }
                })
                .await;
                if arrived.is_err() {
                    return Err(format!(
                        "{} of {n} publications reached the local subscriber",
                        count.load(Ordering::Relaxed) - base
                    ));
                }
                rates.push(n as f64 / t0.elapsed().as_secs_f64());
            }
            node.shutdown();
            bus.shutdown(Duration::from_secs(2)).await;
            Ok(rates)
        })
    });
    if let Some(freeze) = freeze.take() {
        let _ = freeze.send(false);
    }
    let _ = thaw_tx.send(());
    if let Some(server) = server {
        server
            .join()
            .map_err(|_| "the server thread panicked".to_string())??;
    }
    rates
}

fn policy_name(policy: RemoteOverflow) -> String {
    match policy {
        RemoteOverflow::Block => "block".into(),
        RemoteOverflow::DropNewest => "drop-newest".into(),
        RemoteOverflow::DropOldest { capacity } => format!("drop-oldest-{capacity}"),
        RemoteOverflow::LatestPerKey => "latest-per-key".into(),
    }
}

fn median(mut rates: Vec<f64>) -> (f64, String) {
    rates.sort_by(f64::total_cmp);
    let each: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    (rates[rates.len() / 2], each.join(","))
}

/// `publications --policies`: a line per policy, live and stopped.
fn policies(n: u64, rounds: usize) -> std::process::ExitCode {
    let mut failed = false;
    let alone = match run_policy(None, false, n, rounds) {
        Ok(rates) => {
            let (rate, each) = median(rates);
            println!(
                "publications-policy mycelium transport=unix mode=block remote=none local_msgs_per_sec={rate:.0} rounds={each}"
            );
            Some(rate)
        }
        Err(e) => {
            eprintln!("publications --policies remote=none: {e}");
            failed = true;
            None
        }
    };
    let all = [
        RemoteOverflow::Block,
        RemoteOverflow::DropNewest,
        RemoteOverflow::DropOldest { capacity: 1024 },
        RemoteOverflow::LatestPerKey,
    ];
    for stopped in [false, true] {
        for policy in all {
            if stopped && policy == RemoteOverflow::Block {
                continue;
            }
            let name = policy_name(policy);
            let state = if stopped { "stopped" } else { "live" };
            match run_policy(Some(policy), stopped, n, rounds) {
                Ok(rates) => {
                    let (rate, each) = median(rates);
                    let ratio =
                        alone.map_or(String::new(), |a| format!(" ratio_to_none={:.2}", rate / a));
                    println!(
                        "publications-policy mycelium transport=unix mode=block remote={name} remote_state={state} local_msgs_per_sec={rate:.0}{ratio} rounds={each}"
                    );
                }
                Err(e) => {
                    eprintln!("publications --policies remote={name} {state}: {e}");
                    failed = true;
                }
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

/// `mycelium-bench publications [--policies] [--quick]`: prints a line per mode (or per
/// policy); non-zero on a failure.
pub fn main(args: &[String]) -> std::process::ExitCode {
    let quick = args.iter().any(|a| a == "--quick");
    let by_policy = args.iter().any(|a| a == "--policies");
    if let Some(other) = args.iter().find(|a| *a != "--quick" && *a != "--policies") {
        eprintln!("publications: unknown argument {other} (only --policies and --quick)");
        return std::process::ExitCode::from(2);
    }
    let (n, rounds) = if quick { (FULL / 100, 1) } else { (FULL, 3) };
    if by_policy {
        return policies(n, rounds);
    }
    let mut failed = false;
    for spin in [false, true] {
        let mode = if spin { "spin" } else { "block" };
        match run_mode(spin, n, rounds) {
            Ok(mut rates) => {
                rates.sort_by(f64::total_cmp);
                let each: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
                println!(
                    "publications mycelium transport=unix mode={mode} msgs_per_sec={:.0} rounds={}",
                    rates[rates.len() / 2],
                    each.join(",")
                );
            }
            Err(e) => {
                eprintln!("publications mode={mode}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

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
//! ```
//!
//! Prints `publications mycelium transport=unix mode=<block|spin> msgs_per_sec=<median>`,
//! the median of 3 rounds (1 with `--quick`, of 1/100 the messages).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium::actors::{Actor, BoxError, Bus, Context, Handler, Published, SubscribeOptions};
use mycelium_contracts::{Quote, SCHEMA_DIGEST};
use mycelium_remote::{Endpoint, LinkConfig, LocalSchema, Mode, Node, Secret};

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

/// `mycelium-bench publications [--quick]`: prints a line per mode; non-zero on a failure.
pub fn main(args: &[String]) -> std::process::ExitCode {
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(other) = args.iter().find(|a| *a != "--quick") {
        eprintln!("publications: unknown argument {other} (only --quick)");
        return std::process::ExitCode::from(2);
    }
    let (n, rounds) = if quick { (FULL / 100, 1) } else { (FULL, 3) };
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

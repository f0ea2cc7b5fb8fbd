//! Metrics of a running pipeline, served in the Prometheus text format.
//!
//! A supervised feed → strategy → execution pipeline over topics, on a bus that records
//! metrics, with the `metrics-exporter-prometheus` recorder installed. The execution actor
//! panics on every 100th order and is restarted; a slow audit stream drops quotes. A second
//! bus in the process, node `risk`, is joined to the pipeline's (node `desk`) by a remote link
//! over TCP loopback that carries heartbeats, so the scrape also shows `mycelium_link_*`.
//!
//! ```text
//! cargo run --release --example prometheus -- --listen 127.0.0.1:9184
//! curl http://127.0.0.1:9184/metrics
//! ```
//!
//! With `--listen ADDR` it serves `/metrics` until Ctrl-C, giving each connection ten seconds
//! to send its request and read the answer. Without it, it runs until 150 orders are filled,
//! prints one scrape and exits.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;

use mycelium::actors::{TopicError, TopicStream};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisorRef};
use mycelium_contracts::{Heartbeat, SCHEMA_DIGEST};
use mycelium_remote::{Endpoint, LocalSchema, Node, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A price update.
#[derive(Clone, Debug)]
pub struct Quote {
    /// Sequence number over all instruments.
    pub seq: u64,
    /// The price.
    pub price: f64,
}

/// An order to buy (+) or sell (-) lots.
#[derive(Clone, Debug)]
pub struct Order {
    /// The quote it answers.
    pub seq: u64,
    /// Signed quantity.
    pub qty: i64,
}

/// A filled order.
#[derive(Clone, Debug)]
pub struct Fill {
    /// The order's sequence number.
    pub seq: u64,
}

/// The feed's timer message.
#[derive(Clone)]
struct Pulse;

/// Publishes a quote for one of two instruments every millisecond.
struct Feed {
    seq: u64,
}

impl Actor for Feed {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.send_interval(Pulse, Duration::from_millis(1));
        Ok(Feed { seq: 0 })
    }
}

impl Handler<Pulse> for Feed {
    type Reply = Result<(), TopicError>;
    async fn handle(&mut self, _: Pulse, ctx: &mut Context<Self>) -> Result<(), TopicError> {
        self.seq += 1;
        let topic = if self.seq % 2 == 0 {
            "md.quote.AAPL"
        } else {
            "md.quote.MSFT"
        };
        let price = 100.0 + (self.seq % 17) as f64 * 0.25;
        ctx.publish(
            topic,
            Quote {
                seq: self.seq,
                price,
            },
        )
        .await?;
        Ok(())
    }
}

/// Buys below 102, sells above.
struct Strategy;

impl Actor for Strategy {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<Quote>("md.quote.*", SubscribeOptions::new())?;
        Ok(Strategy)
    }
}

impl Handler<Published<Quote>> for Strategy {
    type Reply = Result<(), TopicError>;
    async fn handle(&mut self, quote: Published<Quote>, ctx: &mut Context<Self>) -> Self::Reply {
        let qty = if quote.price < 102.0 { 1 } else { -1 };
        let order = Order {
            seq: quote.seq,
            qty,
        };
        ctx.publish("orders", order).await?;
        Ok(())
    }
}

/// The failure the execution actor injects on every 100th order: a panic payload that the
/// example's panic hook recognises, so that the expected restarts print one line, not a panic
/// message each.
#[derive(Debug)]
pub struct InjectedFault {
    /// The order that failed.
    pub seq: u64,
}

/// Installs a panic hook that announces the first [`InjectedFault`] in one line and keeps
/// the later ones quiet; any other panic prints as usual.
pub fn quiet_injected_faults() {
    static FIRST: std::sync::Once = std::sync::Once::new();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match info.payload().downcast_ref::<InjectedFault>() {
        Some(fault) => FIRST.call_once(|| {
            eprintln!(
                "execution fails on purpose on every 100th order (first: order {}); its supervisor restarts it each time (see {})",
                fault.seq,
                mycelium::actors::telemetry::names::SUPERVISOR_RESTARTS
            )
        }),
        None => default_hook(info),
    }
    }));
}

/// Fills orders; panics on every 100th (its supervisor restarts it).
struct Execution {
    position: i64,
}

impl Actor for Execution {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<Order>("orders", SubscribeOptions::new())?;
        Ok(Execution { position: 0 })
    }
}

impl Handler<Published<Order>> for Execution {
    type Reply = Result<(), TopicError>;
    async fn handle(&mut self, order: Published<Order>, ctx: &mut Context<Self>) -> Self::Reply {
        if order.seq % 100 == 0 {
            std::panic::panic_any(InjectedFault { seq: order.seq });
        }
        self.position += order.qty;
        ctx.publish("fills", Fill { seq: order.seq }).await?;
        Ok(())
    }
}

/// The running pipeline: its supervisor, the fills, and an audit stream nobody reads (it
/// drops what does not fit, which the drop counter shows).
pub struct Pipeline {
    /// The supervisor of the three actors.
    pub tree: SupervisorRef,
    /// Every fill.
    pub fills: TopicStream<Fill>,
    /// Kept so that its subscription lasts.
    pub audit: TopicStream<Quote>,
}

/// Starts the pipeline on `bus`.
pub async fn start_pipeline(bus: &Bus) -> Result<Pipeline, BoxError> {
    let fills = bus.subscribe_stream::<Fill>("fills", SubscribeOptions::new().capacity(4096))?;
    let audit =
        bus.subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::drop_newest().capacity(4))?;
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(1000, Duration::from_secs(1))
        .backoff(Backoff::none())
        .child(ChildSpec::new::<Execution>("execution", ()).register())
        .child(ChildSpec::new::<Strategy>("strategy", ()).register())
        .child(ChildSpec::new::<Feed>("feed", ()).register())
        .spawn(bus)
        .await?;
    Ok(Pipeline { tree, fills, audit })
}

/// The heartbeat beacon's timer message.
#[derive(Clone)]
struct Beat;

/// Publishes a contract `Heartbeat` on `sys.heartbeat` every 10 ms.
struct Beacon {
    seq: u64,
}

impl Actor for Beacon {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.send_interval(Beat, Duration::from_millis(10));
        Ok(Beacon { seq: 0 })
    }
}

impl Handler<Beat> for Beacon {
    type Reply = Result<(), TopicError>;
    async fn handle(&mut self, _: Beat, ctx: &mut Context<Self>) -> Result<(), TopicError> {
        self.seq += 1;
        let beat = Heartbeat {
            ts_ns: ctx.clock().now().as_nanos() as u64,
            seq: self.seq,
            sender: "desk".into(),
        };
        ctx.publish("sys.heartbeat", beat).await?;
        Ok(())
    }
}

/// A remote link inside this process: the pipeline's bus is node `desk`, a second bus is node
/// `risk`, joined over TCP loopback. A beacon on the desk publishes heartbeats, which cross
/// the link to the risk node's subscriber; both buses record metrics, so a scrape shows the
/// link's state, frames, bytes, resends and loss reports from both ends.
pub struct RemoteLink {
    /// The pipeline's node.
    pub desk: Node,
    /// The other node.
    pub risk: Node,
    /// The other node's bus.
    pub risk_bus: Bus,
    /// The heartbeats that reached the risk node.
    pub beats: TopicStream<Heartbeat>,
}

/// Starts the `risk` node on a bus of its own, joins `bus` to it as node `desk`, and starts
/// the beacon on `bus`.
pub async fn start_link(bus: &Bus) -> Result<RemoteLink, BoxError> {
    let schema = LocalSchema::from_digest(SCHEMA_DIGEST);
    // Both ends live in this process and talk over loopback: a fresh random secret each run.
    let secret = Secret::new(random_secret())?;
    let risk_bus = Bus::builder().metrics(true).build()?;
    let risk = Node::builder("risk", schema.clone(), secret.clone())
        .build(&risk_bus, Arc::new(risk_bus.exports()));
    let at = risk
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["desk"])
        .await?;
    let desk = Node::builder("desk", schema, secret).build(bus, Arc::new(bus.exports()));
    desk.forward_topic::<Heartbeat>();
    desk.connect("risk", at);
    let beats = risk_bus.subscribe_stream::<Heartbeat>("sys.heartbeat", SubscribeOptions::new())?;
    risk.subscribe_remote::<Heartbeat>("sys.heartbeat").await?;
    bus.spawn::<Beacon>(());
    Ok(RemoteLink {
        desk,
        risk,
        risk_bus,
        beats,
    })
}

/// 32 random bytes from the standard library's per-process random keys.
fn random_secret() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    (0..4)
        .flat_map(|i: u64| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            h.finish().to_le_bytes()
        })
        .collect()
}

/// Why the command line was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    /// `--listen` without an address after it.
    MissingAddress,
    /// The address after `--listen` is not `IP:PORT`.
    BadAddress(String),
    /// An argument this example does not know.
    Unknown(String),
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::MissingAddress => {
                write!(f, "--listen needs an address, such as 127.0.0.1:9184")
            }
            ArgError::BadAddress(a) => {
                write!(f, "{a:?} is not an IP:PORT address, such as 127.0.0.1:9184")
            }
            ArgError::Unknown(a) => write!(
                f,
                "unknown argument {a:?}; usage: prometheus [--listen IP:PORT]"
            ),
        }
    }
}

/// Parses `[--listen IP:PORT]`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<SocketAddr>, ArgError> {
    let mut args = args.into_iter();
    let mut listen = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let addr = args.next().ok_or(ArgError::MissingAddress)?;
                listen = Some(addr.parse().map_err(|_| ArgError::BadAddress(addr))?);
            }
            _ => return Err(ArgError::Unknown(arg)),
        }
    }
    Ok(listen)
}

/// How long one connection may take, from accept to the last byte of the answer: a client
/// that sends its request slowly, or never, or does not read the answer, is cut off then
/// instead of holding a connection (a file descriptor and a task) for ever.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let conn = match listener.accept().await {
            Ok((conn, _)) => conn,
            Err(e) => {
                // Out of file descriptors, say: retrying at once would spin, so wait a little
                // for connections to close.
                eprintln!("prometheus: accepting a scrape failed ({e}); retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            // A client that goes away mid-request, or takes too long, is not our problem.
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, answer(conn, &handle)).await;
        });
    }
}

/// Answers one HTTP/1.x request and closes the connection.
async fn answer(mut conn: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 || request.len() > 16 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, content_type, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            handle.render(),
        ),
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}

/// Waits until `n` fills have been seen.
pub async fn wait_fills(fills: &mut TopicStream<Fill>, n: usize) {
    for _ in 0..n {
        if fills.recv().await.is_none() {
            return;
        }
    }
}

fn main() -> Result<(), BoxError> {
    let listen = match parse_args(std::env::args().skip(1)) {
        Ok(listen) => listen,
        Err(e) => {
            eprintln!("prometheus: {e}");
            std::process::exit(2);
        }
    };
    let handle = PrometheusBuilder::new().install_recorder()?;
    quiet_injected_faults();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let bus = Bus::builder().metrics(true).build()?;
        let mut pipeline = start_pipeline(&bus).await?;
        let mut link = start_link(&bus).await?;
        match listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                println!(
                    "serving http://{}/metrics (Ctrl-C stops)",
                    listener.local_addr()?
                );
                tokio::select! {
                    _ = serve(listener, handle) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            None => {
                wait_fills(&mut pipeline.fills, 150).await;
                // And a few heartbeats across the link.
                for _ in 0..5 {
                    link.beats.recv().await;
                }
                print!("{}", handle.render());
            }
        }
        link.desk.shutdown();
        link.risk.shutdown();
        link.risk_bus.shutdown(Duration::from_secs(1)).await;
        pipeline.tree.stop().await;
        bus.shutdown(Duration::from_secs(1)).await;
        Ok(())
    })
}

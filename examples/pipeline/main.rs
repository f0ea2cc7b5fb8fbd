//! A trading pipeline — a quote feed, a moving-average strategy and an execution/portfolio
//! service — wired by topics and asks, run as one process or as three, chosen by a
//! topology file. The node hosting `execution` prints the results and, last, a line
//! `result-digest=<hex>` over every order it received: the same in every topology, for the
//! same seed.
//!
//! One process:
//!
//!     cargo run --example pipeline -- --topology examples/pipeline/monolith.toml --node all
//!
//! Three processes (Unix sockets; `split-tcp.toml` for TCP, `split-shm.toml` for shared
//! memory), each in its own terminal:
//!
//!     export MYCELIUM_PIPELINE_SECRET=$(head -c 32 /dev/urandom | base64)
//!     cargo run --example pipeline -- --topology examples/pipeline/split-unix.toml --node exec
//!     cargo run --example pipeline -- --topology examples/pipeline/split-unix.toml --node strategy
//!     cargo run --example pipeline -- --topology examples/pipeline/split-unix.toml --node feed
//!
//! TCP with mutual TLS (`split-tls.toml`): first make its certificates, a certificate authority
//! and one certificate per node, at the paths the topology names (`examples/pipeline/certs/`),
//! then start the three nodes as above:
//!
//!     cargo run --example pipeline -- --topology examples/pipeline/split-tls.toml --make-certs
//!
//! Recording: `--record DIR` records each node's actors in its own journal, `DIR/NODE`
//! (`docs/journal.md`), and names this program as its replayer. Then
//!
//!     cargo run --release -p mycelium-journal -- replay DIR/exec
//!
//! (or `pipeline replay DIR/exec`) replays the node hosting `execution` alone on a
//! virtual-time bus, its link's inbound orders as inputs, and prints the same lines as the
//! live run, `result-digest=<hex>` last. Every node replays alone so: `DIR/strategy` from the
//! quotes its subscription took, the answers to its orders served from its journal, and
//! prints the same lines through a stand-in execution; `DIR/feed` from its one request,
//! every quote compared. `--compare` runs to the end and reports every difference instead of
//! stopping at the first.
//!
//! Options: `--seed N` (default 7), `--quotes N` (default 20000). Link warnings and errors
//! (a peer down or refused, a loss report) go to stderr; `PIPELINE_LOG=debug` prints every
//! link event.
//!
//! A node killed mid-stream and started again is taken back by its peers, which report what
//! they had sent it and it never took. A node waits for its peers as long as their links keep
//! trying (`max_attempts` and `give_up_after_ms` in the topology's `[link]` table); once a
//! link it needs has given up, it exits with an error that names the peer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::Recipient;
use mycelium_actors::{
    Actor, BoxError, Bus, Context, DetRng, Handler, Published, ReplyRecipient, SpawnOptions,
    SubscribeOptions,
};
use mycelium_contracts::{
    Heartbeat, NewOrder, OrderAck, OrderType, Quote, Side, TimeInForce, SCHEMA_DIGEST,
};
use mycelium_journal::{
    set_replayer, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Recorded,
    RecordedAnswers, RecordedType, Recording, Replay, ReplayMode,
};
use mycelium_remote::{LocalSchema, Node, Topology};
use tokio::sync::{mpsc, oneshot};

const INSTRUMENTS: u32 = 4;

struct Args {
    topology: String,
    node: String,
    seed: u64,
    quotes: u64,
    record: Option<std::path::PathBuf>,
}

/// What the command line asks for.
enum Command {
    /// Run the node `Args::node`.
    Run(Args),
    /// Write the certificates the topology's `tls` tables name.
    MakeCerts { topology: String },
    /// Replay a node's journal.
    Replay { journal: String, compare: bool },
}

fn parse_args() -> Result<Command, String> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("replay") {
        args.next();
        let (mut journal, mut compare) = (None, false);
        for arg in args {
            match arg.as_str() {
                "--compare" => compare = true,
                _ if journal.is_none() && !arg.starts_with("--") => journal = Some(arg),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let journal = journal.ok_or("replay needs the journal's directory (DIR/NODE)")?;
        return Ok(Command::Replay { journal, compare });
    }
    let (mut topology, mut node, mut seed, mut quotes) = (None, None, 7, 20_000);
    let mut record = None;
    let mut make_certs = false;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--topology" => topology = Some(value()?),
            "--node" => node = Some(value()?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--quotes" => quotes = value()?.parse().map_err(|e| format!("--quotes: {e}"))?,
            "--record" => record = Some(value()?.into()),
            "--make-certs" => make_certs = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let topology = topology.ok_or("--topology FILE is required")?;
    if make_certs {
        return Ok(Command::MakeCerts { topology });
    }
    Ok(Command::Run(Args {
        topology,
        node: node.ok_or("--node NAME is required")?,
        seed,
        quotes,
        record,
    }))
}

// ---- certificates for a TLS topology --------------------------------------------------

/// Makes a certificate authority and, for every node with a `tls` table, a certificate for
/// the name its peers verify (`server_name`, else its endpoint's host) signed by it, and
/// writes them, with the node's key (mode 0600) and the authority's certificate, where the
/// table says. A demonstration authority for runs on one machine: across hosts, use
/// certificates from your own.
fn make_certs(path: &str) -> Result<(), BoxError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    let topology = Topology::load(path)?;
    let ca_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "mycelium pipeline example CA");
    let ca = params.self_signed(&ca_key)?;
    let mut made = 0;
    for node in &topology.nodes {
        let Some(tls) = &node.tls else { continue };
        let name = node.tls_server_name().ok_or_else(|| {
            format!(
                "node `{}` has no name to certify: give it `server_name`",
                node.name
            )
        })?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.clone()])?;
        params.distinguished_name.push(DnType::CommonName, &name);
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        write_file(&tls.cert, &cert.pem(), 0o644)?;
        write_file(&tls.key, &key.serialize_pem(), 0o600)?;
        write_file(&tls.ca, &ca.pem(), 0o644)?;
        println!("{}: {} for `{name}`", node.name, tls.cert.display());
        made += 1;
    }
    if made == 0 {
        return Err(format!("no node of {path} has a `tls` table: nothing to make").into());
    }
    Ok(())
}

/// Writes `text` to `path` (its directory made if missing) with permissions `mode`.
fn write_file(path: &std::path::Path, text: &str, mode: u32) -> Result<(), BoxError> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

    let at = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(at)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(at)?;
    // A file that existed keeps its mode through `open`: set it.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(at)?;
    file.write_all(text.as_bytes()).map_err(at)?;
    Ok(())
}

// ---- execution and portfolio ----------------------------------------------------------

struct Execution {
    orders: u64,
    buys: u64,
    positions: BTreeMap<u32, (i64, f64)>, // instrument -> (position, cash)
    digest: u64,
    done: mpsc::UnboundedSender<()>,
    print: bool,
}

/// What an `Execution` is started with: where it says it is done, and whether it prints
/// the results (a replay's stand-in for another node's execution may not).
type ExecutionArgs = (mpsc::UnboundedSender<()>, bool);

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Actor for Execution {
    type Args = ExecutionArgs;
    async fn on_start(
        (done, print): Self::Args,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Execution {
            print,
            orders: 0,
            buys: 0,
            positions: BTreeMap::new(),
            digest: 0xcbf2_9ce4_8422_2325,
            done,
        })
    }
}

impl Handler<NewOrder> for Execution {
    type Reply = OrderAck;
    async fn handle(&mut self, o: NewOrder, _ctx: &mut Context<Self>) -> OrderAck {
        let price = o.price.unwrap_or(0.0);
        let side = o.side as u32;
        for part in [
            &o.client_order_id.to_le_bytes()[..],
            &o.instrument.to_le_bytes(),
            &side.to_le_bytes(),
            &price.to_bits().to_le_bytes(),
            &o.qty.to_bits().to_le_bytes(),
            &o.ts_ns.to_le_bytes(),
        ] {
            self.digest = fnv(self.digest, part);
        }
        self.orders += 1;
        let (position, cash) = self.positions.entry(o.instrument).or_insert((0, 0.0));
        if o.side == Side::Buy {
            self.buys += 1;
            *position += o.qty as i64;
            *cash -= price * o.qty;
        } else {
            *position -= o.qty as i64;
            *cash += price * o.qty;
        }
        OrderAck {
            client_order_id: o.client_order_id,
            venue_order_id: format!("X{}", o.client_order_id),
            ts_ns: o.ts_ns,
            venue_ts_ns: None,
        }
    }
}

/// The strategy's last word: how many orders it sent.
impl Handler<Heartbeat> for Execution {
    type Reply = ();
    async fn handle(&mut self, end: Heartbeat, _ctx: &mut Context<Self>) {
        if !self.print {
            let _ = self.done.send(());
            return;
        }
        println!(
            "orders={} buys={} sells={} (strategy sent {})",
            self.orders,
            self.buys,
            self.orders - self.buys,
            end.seq
        );
        for (instrument, (position, cash)) in &self.positions {
            println!("instrument={instrument} position={position} cash={cash:.4}");
        }
        println!("result-digest={:016x}", self.digest);
        let _ = self.done.send(());
    }
}

impl Recorded for Execution {
    fn recorded_types() -> Vec<RecordedType> {
        vec![
            RecordedType::ask::<Self, NewOrder>(),
            RecordedType::tell::<Self, Heartbeat>(),
        ]
    }
}

// ---- strategy -------------------------------------------------------------------------

impl Recorded for Strategy {
    fn recorded_types() -> Vec<RecordedType> {
        vec![
            RecordedType::published::<Self, Quote>(),
            RecordedType::published::<Self, Heartbeat>(),
            RecordedType::of::<NewOrder>(),
            RecordedType::of::<OrderAck>(),
            RecordedType::of::<Heartbeat>(),
        ]
    }
}

struct Strategy {
    execution: ReplyRecipient<NewOrder, OrderAck>,
    end: Recipient<Heartbeat>,
    averages: BTreeMap<u32, (f64, f64)>, // instrument -> (fast, slow)
    next_id: u64,
    done: mpsc::UnboundedSender<()>,
}

impl Actor for Strategy {
    type Args = (
        ReplyRecipient<NewOrder, OrderAck>,
        Recipient<Heartbeat>,
        mpsc::UnboundedSender<()>,
    );
    async fn on_start(
        (execution, end, done): Self::Args,
        ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        ctx.subscribe::<Quote>("md.quote.*", SubscribeOptions::new())?;
        ctx.subscribe::<Heartbeat>("sys.heartbeat", SubscribeOptions::new())?;
        Ok(Strategy {
            execution,
            end,
            averages: BTreeMap::new(),
            next_id: 1,
            done,
        })
    }
}

impl Handler<Published<Quote>> for Strategy {
    type Reply = ();
    async fn handle(&mut self, p: Published<Quote>, _ctx: &mut Context<Self>) {
        let q = p.msg();
        let mid = (q.bid_px + q.ask_px) / 2.0;
        let (fast, slow) = self.averages.entry(q.instrument).or_insert((mid, mid));
        let above_before = *fast > *slow;
        *fast += 0.3 * (mid - *fast);
        *slow += 0.05 * (mid - *slow);
        let above_now = *fast > *slow;
        if above_before == above_now {
            return;
        }
        let (side, price) = if above_now {
            (Side::Buy, q.ask_px)
        } else {
            (Side::Sell, q.bid_px)
        };
        let order = NewOrder {
            client_order_id: self.next_id,
            instrument: q.instrument,
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Ioc,
            price: Some(price),
            stop_price: None,
            qty: 1.0,
            account: "pipeline".into(),
            post_only: false,
            strategy_tag: *b"ma-cross",
            ts_ns: q.ts_ns,
        };
        self.next_id += 1;
        if let Err(e) = self.execution.ask(order).await {
            eprintln!("order not acknowledged: {e}");
        }
    }
}

/// The feed's end marker.
impl Handler<Published<Heartbeat>> for Strategy {
    type Reply = ();
    async fn handle(&mut self, _end: Published<Heartbeat>, _ctx: &mut Context<Self>) {
        let end = Heartbeat {
            ts_ns: 0,
            seq: self.next_id - 1,
            sender: "strategy".into(),
        };
        if let Err(e) = self.end.tell(end).await {
            eprintln!("end of stream not sent: {e}");
        }
        let _ = self.done.send(());
    }
}

// ---- feed -----------------------------------------------------------------------------

impl Recorded for Feed {
    fn recorded_types() -> Vec<RecordedType> {
        vec![
            RecordedType::ask::<Self, (u64, u64)>(),
            RecordedType::of::<Quote>(),
            RecordedType::of::<Heartbeat>(),
        ]
    }
}

/// Publishes the quotes, then the end marker, when asked with a seed and a number of
/// quotes; answers how many it published. Its one input holds all it needs, so a replay
/// publishes the same quotes again.
struct Feed;

impl Actor for Feed {
    type Args = ();
    async fn on_start((): (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Feed)
    }
}

impl Handler<(u64, u64)> for Feed {
    type Reply = u64;
    async fn handle(&mut self, (seed, quotes): (u64, u64), ctx: &mut Context<Self>) -> u64 {
        match publish_quotes(ctx, seed, quotes).await {
            Ok(()) => quotes,
            Err(e) => {
                eprintln!("the feed stopped: {e}");
                0
            }
        }
    }
}

async fn publish_quotes(ctx: &Context<Feed>, seed: u64, quotes: u64) -> Result<(), BoxError> {
    let mut rng = DetRng::new(seed);
    let mut mids: Vec<f64> = (0..INSTRUMENTS).map(|i| 100.0 + f64::from(i)).collect();
    for n in 0..quotes {
        let instrument = (n % u64::from(INSTRUMENTS)) as u32;
        let mid = &mut mids[instrument as usize];
        *mid += (rng.next_f64() - 0.5) * 0.2;
        let quote = Quote {
            ts_ns: n * 1_000,
            instrument,
            bid_px: *mid - 0.01,
            bid_qty: 1.0 + (n % 5) as f64,
            ask_px: *mid + 0.01,
            ask_qty: 1.0 + (n % 3) as f64,
        };
        ctx.publish(&format!("md.quote.{instrument}"), quote)
            .await?;
    }
    let end = Heartbeat {
        ts_ns: quotes * 1_000,
        seq: quotes,
        sender: "feed".into(),
    };
    ctx.publish("sys.heartbeat", end).await?;
    Ok(())
}

// ---- wiring ---------------------------------------------------------------------------

/// Waits (polling: a link has no event for it) until `check` gives a value, or fails once
/// the link to one of `peers` has given up for good (the peer never came, or did not come
/// back in time: the link reported what it held as lost). The run cannot finish without
/// those nodes, so a node whose peer is gone exits with an error rather than wait forever.
async fn until<T>(
    node: Option<&Node>,
    peers: &[&str],
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, BoxError> {
    loop {
        if let Some(done) = check() {
            return Ok(done);
        }
        for peer in peers {
            if let Some(reason) = node
                .and_then(|n| n.link(peer))
                .and_then(|l| l.closed_reason())
            {
                return Err(format!(
                    "the link to node `{peer}` gave up ({reason}); this run cannot finish"
                )
                .into());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// [`until`] for the first message on `done`: `Err` if its sender is gone too.
async fn until_done(
    node: Option<&Node>,
    peers: &[&str],
    done: &mut mpsc::UnboundedReceiver<()>,
    what: &str,
) -> Result<(), BoxError> {
    until(node, peers, || match done.try_recv() {
        Ok(()) => Some(Ok(())),
        Err(mpsc::error::TryRecvError::Empty) => None,
        Err(mpsc::error::TryRecvError::Disconnected) => Some(Err(format!("{what} stopped early"))),
    })
    .await?
    .map_err(Into::into)
}

async fn run(args: Args) -> Result<(), BoxError> {
    let topology = Topology::load(&args.topology)?;
    let me = topology
        .node(&args.node)
        .ok_or_else(|| format!("no node `{}` in {}", args.node, args.topology))?
        .clone();
    topology.check_services(&["feed", "strategy", "execution"])?;
    let host = |service: &str| {
        topology
            .host_of(service)
            .map(|n| n.name.clone())
            .ok_or_else(|| format!("no node hosts `{service}`"))
    };
    let (feed_host, strategy_host, exec_host) =
        (host("feed")?, host("strategy")?, host("execution")?);
    let hosts = |service_host: &str| service_host == me.name;

    let bus = Bus::builder().seed(args.seed).build()?;
    let recording = match &args.record {
        Some(dir) => Some(record(dir, &me.name)?),
        None => None,
    };
    // A type of an actor's that the recording has no codec for is an error here, at spawn.
    fn options<A: Recorded>(
        recording: &Option<(JournalWriter, Arc<Recording>)>,
    ) -> Result<SpawnOptions, BoxError> {
        Ok(match recording {
            Some((_, recording)) => recording.spawn_options::<A>()?,
            None => SpawnOptions::new(),
        })
    }
    // The whole schema, so a peer built from a different but compatible contracts.yaml is
    // accepted (and an incompatible one refused, naming the message and field).
    let schema = LocalSchema::from_yaml("contracts.yaml", include_str!("../../contracts.yaml"))?;
    if schema.digest != SCHEMA_DIGEST {
        return Err(
            "contracts.yaml changed since the contract types were generated: rebuild".into(),
        );
    }
    // Exported before the node starts: a peer may send the moment its link is up.
    let (exec_done_tx, mut exec_done) = mpsc::unbounded_channel();
    let mut local_exec = None;
    if hosts(&exec_host) {
        let exec =
            bus.spawn_with::<Execution>((exec_done_tx, true), options::<Execution>(&recording)?)?;
        bus.exports()
            .export_ask("execution", exec.reply_recipient::<NewOrder>())?;
        bus.exports()
            .export("execution", exec.recipient::<Heartbeat>())?;
        local_exec = Some(exec);
    }

    let node = if topology.nodes.len() > 1 {
        let dispatch = Arc::new(bus.exports());
        Some(Node::start(topology.clone(), &me.name, schema, &bus, dispatch, None).await?)
    } else {
        None
    };
    let node_ref = || node.as_ref().ok_or("this topology has no links");

    let (strategy_done_tx, mut strategy_done) = mpsc::unbounded_channel();
    if hosts(&strategy_host) {
        let (execution, end): (ReplyRecipient<NewOrder, OrderAck>, Recipient<Heartbeat>) =
            match &local_exec {
                Some(exec) => (exec.reply_recipient(), exec.recipient()),
                None => {
                    let node = node_ref()?;
                    let unreachable = "`execution` is not reachable";
                    (
                        node.reply_recipient("execution").ok_or(unreachable)?,
                        node.recipient("execution").ok_or(unreachable)?,
                    )
                }
            };
        let (started_tx, started) = oneshot::channel();
        bus.spawn_with::<Strategy>(
            (execution, end, strategy_done_tx),
            options::<Strategy>(&recording)?.on_started(started_tx),
        )?;
        started.await?;
        if !hosts(&feed_host) {
            let node = node_ref()?;
            node.subscribe_remote::<Quote>("md.quote.*").await?;
            node.subscribe_remote::<Heartbeat>("sys.heartbeat").await?;
        }
    }

    if hosts(&feed_host) {
        if !hosts(&strategy_host) {
            let node = node_ref()?;
            node.forward_topic::<Quote>();
            node.forward_topic::<Heartbeat>();
            let link = node.link(&strategy_host).ok_or("no link to the strategy")?;
            // Publish only once the strategy's interest has arrived, or quotes go nowhere.
            let interest = || (link.forwarded_topics().len() >= 2).then_some(());
            until(Some(node), &[&strategy_host], interest).await?;
        }
        let feed = bus.spawn_with::<Feed>((), options::<Feed>(&recording)?)?;
        let published = feed.ask((args.seed, args.quotes)).await?;
        if published != args.quotes {
            return Err(format!("the feed published {published} of {} quotes", args.quotes).into());
        }
        if !hosts(&strategy_host) {
            let link = node_ref()?.link(&strategy_host).ok_or("no link")?;
            let sent = || (link.queued() == 0).then_some(());
            until(node.as_ref(), &[&strategy_host], sent).await?;
        }
    }

    // The end marker comes from the strategy to execution, and from the feed to the
    // strategy: each waits for it only while the link it comes over lives.
    if hosts(&exec_host) {
        until_done(
            node.as_ref(),
            &[&strategy_host],
            &mut exec_done,
            "execution",
        )
        .await?;
    } else if hosts(&strategy_host) {
        until_done(node.as_ref(), &[&feed_host], &mut strategy_done, "strategy").await?;
        let link = node_ref()?.link(&exec_host).ok_or("no link to execution")?;
        let sent = || (link.queued() == 0).then_some(());
        until(node.as_ref(), &[&exec_host], sent).await?;
    }
    if let Some(node) = &node {
        // Waits for the Close frames, which acknowledge the last messages delivered here.
        node.close().await;
    }
    bus.shutdown(Duration::from_secs(1)).await;
    if let Some((journal, recording)) = recording {
        journal.close()?;
        let unrecorded = recording.unrecorded();
        if recording.errors() > 0 || !unrecorded.is_empty() {
            return Err(format!(
                "the journal in {} is incomplete: {} records not written, types without a codec: {unrecorded:?}",
                journal.dir().display(),
                recording.errors()
            )
            .into());
        }
    }
    Ok(())
}

// ---- recording and replay -------------------------------------------------------------

/// Opens this node's journal, `dir/node`, names this program as its replayer, and makes
/// the recorder of its actors, with the contract codec for every message they handle or
/// answer.
fn record(dir: &std::path::Path, node: &str) -> Result<(JournalWriter, Arc<Recording>), BoxError> {
    let schema =
        mycelium_codegen::model::parse_str("contracts.yaml", include_str!("../../contracts.yaml"))
            .map_err(|d| format!("contracts.yaml: {}", d[0]))?;
    let dir = dir.join(node);
    let options = JournalOptions::new(JournalSchema::from_schema(&schema)).node(node);
    let journal = JournalWriter::open(&dir, options)?;
    let me = std::env::current_exe()?;
    set_replayer(&dir, &[me.display().to_string(), "replay".to_owned()])?;
    let recording = Recording::new(journal.clone())
        .serde::<(u64, u64)>()
        .serde::<u64>()
        .contract::<Quote>()
        .contract::<NewOrder>()
        .contract::<OrderAck>()
        .contract::<Heartbeat>()
        .published::<Quote>()
        .published::<Heartbeat>();
    Ok((journal, Arc::new(recording)))
}

/// Replays each actor of a node's journal alone, each on a virtual-time bus of its own: its
/// recorded inputs (the orders and end marker a link delivered, the quotes and end marker
/// a subscription took, the feed's one request) fed at their recorded bus times, the answers
/// to its asks of another node served from the journal, and what it sends, publishes and
/// answers compared with the recorded outputs. The replay of the node hosting `execution`
/// prints what the live run printed; so does the strategy's, elsewhere, through a stand-in
/// execution that takes the orders it sends.
async fn replay(dir: &str, compare: bool) -> Result<(), BoxError> {
    let journal = JournalReader::open(dir)?;
    let mut actors = Vec::new();
    let mut records = journal.records();
    while let Some(record) = records.next_ref() {
        let record = record?;
        if record.kind == Kind::Started {
            actors.push((record.actor.id, record.name.to_owned()));
        }
    }
    if actors.is_empty() {
        return Err(format!("{dir} recorded no actor: record a node with --record DIR").into());
    }
    let hosts_execution = actors.iter().any(|(_, name)| name == "Execution");
    let mode = if compare {
        ReplayMode::Compare
    } else {
        ReplayMode::StopAtFirst
    };
    let mut differ = Vec::new();
    for (actor, actor_type) in &actors {
        let bus = Bus::builder().virtual_time().build()?;
        let (done, _) = mpsc::unbounded_channel();
        let report = match actor_type.as_str() {
            "Execution" => {
                Replay::<Execution>::new((done, true))
                    .contract_ask::<NewOrder>()
                    .contract::<Heartbeat>()
                    .run(&journal, *actor, &bus, mode)
                    .await?
            }
            "Strategy" => {
                // Takes the orders and the end marker the strategy sends; prints the
                // results when no execution of this journal does.
                let (stand_in_done, _) = mpsc::unbounded_channel();
                let stand_in = bus.spawn::<Execution>((stand_in_done, !hosts_execution));
                let orders = RecordedAnswers::<NewOrder, OrderAck>::contract(&journal, *actor)?
                    .observe(stand_in.recipient())
                    .reply_recipient(&bus);
                let report = Replay::<Strategy>::new((orders, stand_in.recipient(), done))
                    .published::<Quote>()
                    .published::<Heartbeat>()
                    .sends_contract::<NewOrder>()
                    .sends_contract::<Heartbeat>()
                    .run(&journal, *actor, &bus, mode)
                    .await?;
                stand_in.drain_and_stop().await;
                stand_in.wait_for_stop().await;
                report
            }
            "Feed" => {
                Replay::<Feed>::new(())
                    .serde::<(u64, u64)>()
                    .sends_contract::<Quote>()
                    .sends_contract::<Heartbeat>()
                    .run(&journal, *actor, &bus, mode)
                    .await?
            }
            other => {
                return Err(format!("{dir} recorded an actor of unknown type `{other}`").into())
            }
        };
        eprintln!("{actor_type}: {report}");
        if !report.differences.is_empty() {
            let csv = format!("{dir}/replay-differences-{actor}.csv");
            std::fs::write(&csv, report.to_csv())?;
            differ.push(format!("{actor_type} (actor #{actor}, CSV: {csv})"));
        }
        bus.shutdown(Duration::from_secs(1)).await;
    }
    if !differ.is_empty() {
        return Err(format!(
            "the replay differs from the recording: {}",
            differ.join(", ")
        )
        .into());
    }
    Ok(())
}

fn main() {
    // Warnings and errors (a link down, a refused peer, a loss report) always reach stderr;
    // `PIPELINE_LOG=debug` shows every link event (connecting, up, down, loss).
    let level = match std::env::var("PIPELINE_LOG") {
        Ok(level) => level.parse().unwrap_or(tracing::Level::DEBUG),
        Err(_) => tracing::Level::WARN,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(Command::Run(args)) => args,
        Ok(Command::Replay { journal, compare }) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build();
            let result = match runtime {
                Ok(rt) => rt.block_on(replay(&journal, compare)),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
            return;
        }
        Ok(Command::MakeCerts { topology }) => {
            if let Err(e) = make_certs(&topology) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
            return;
        }
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: pipeline --topology FILE --node NAME [--seed N] [--quotes N] [--record DIR]\n       \
                 pipeline --topology FILE --make-certs\n       \
                 pipeline replay DIR/NODE [--compare]"
            );
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

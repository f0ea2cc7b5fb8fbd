//! The desk as a Rust program hosting the Python strategy: a supervision tree with the Rust
//! execution engine and the Python `trading_desk.strategy:Momentum` as children, the strategy
//! asked to run through a `ReplyRecipient<Run, Summary>` (as a Rust child would be), and the
//! summary it publishes on `desk.summary` received by a Rust subscriber as `Summary`. Prints
//! the same line as the Python program `trading_desk.run`.
//!
//! `desk-host <dir>... [--ticks N] [--seed S]`: the directories go first on Python's `sys.path`
//! and must hold the `trading_desk` package (with its generated `desk` module) and the
//! `mycelium` package
//! (examples/desk/run.sh prepares one).
//!
//! Split over a topology (direction (d)), `--topology FILE --node NAME` runs one node of it:
//! the node hosting `execution` runs the Rust engine and a `results` service; the node hosting
//! `strategy` runs the Python strategy, whose `execution` service is the engine on the other
//! node (over the link), asks it to run, prints the result line and tells it to `results`,
//! where the engine's node prints it too and ends. Both lines agree with the one-process run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use desk_actors::desk::{self, Fill, NewOrder, Run, Summary};
use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, ReplyRecipient, SubscribeOptions};
use mycelium_codec::WireMessage;
use mycelium_foreign::registry::Kind;
use mycelium_python::embed::PythonHost;
use mycelium_remote::{LocalSchema, Node};
use mycelium_supervisor::{RestartStrategy, Supervisor, SupervisorRef};
use tokio::sync::mpsc;

struct Options {
    paths: Vec<PathBuf>,
    ticks: u32,
    seed: u64,
    /// `--topology FILE --node NAME`: one node of a split run.
    split: Option<(PathBuf, String)>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        paths: Vec::new(),
        ticks: 500,
        seed: 7,
        split: None,
    };
    let (mut topology, mut node) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--ticks" => {
                options.ticks = value("--ticks")?
                    .parse()
                    .map_err(|e| format!("--ticks: {e}"))?
            }
            "--seed" => {
                options.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--topology" => topology = Some(PathBuf::from(value("--topology")?)),
            "--node" => node = Some(value("--node")?),
            _ => options.paths.push(PathBuf::from(arg)),
        }
    }
    options.split = match (topology, node) {
        (Some(topology), Some(node)) => Some((topology, node)),
        (None, None) => None,
        _ => return Err("--topology and --node go together".into()),
    };
    Ok(options)
}

/// The result line every direction prints.
fn line(summary: &Summary) -> String {
    format!(
        "orders {} position {} digest {:016x}",
        summary.orders, summary.position, summary.digest
    )
}

/// The Python strategy as a child of a tree next to whatever serves `execution` on `bus`,
/// asked to run through a typed address, as a Rust child would be. The summary it publishes
/// on `desk.summary` reaches a Rust subscriber as `Summary`, and must be the one it answered.
async fn run_strategy(
    bus: &Bus,
    options: &Options,
    engine: Option<Kind>,
) -> Result<(Summary, SupervisorRef), String> {
    let paths: Vec<&Path> = options.paths.iter().map(PathBuf::as_path).collect();
    let host = PythonHost::start(bus, "trading_desk.desk", &paths)?;
    let mut tree = Supervisor::builder(RestartStrategy::OneForOne);
    if let Some(execution) = engine {
        tree = tree.child(execution.child_spec("execution", None));
    }
    let tree = tree
        .child(host.child_spec("strategy", "trading_desk.strategy:Momentum", "execution")?)
        .spawn(bus)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(execution) = engine {
        execution.export_child(bus, &tree, "execution", "execution")?;
    }
    // What Python publishes as `desk.Summary` is published for Rust as `Summary` too.
    bus.exports()
        .export_topic::<Summary>()
        .map_err(|e| e.to_string())?;
    let mut published = bus
        .subscribe_stream::<Summary>(Summary::TOPIC, SubscribeOptions::new())
        .map_err(|e| e.to_string())?;
    let strategy: ReplyRecipient<Run, Summary> = host.child_reply_recipient(&tree, "strategy")?;
    let run = Run {
        ticks: options.ticks,
        seed: options.seed,
    };
    let summary = strategy.ask(run).await.map_err(|e| e.to_string())?;
    // Published by the handler before it answered: in the stream already.
    match published.try_recv() {
        Some(heard) if *heard.msg() == summary => Ok((summary, tree)),
        Some(heard) => Err(format!(
            "the strategy published {:?} on {}, but answered {summary:?}",
            heard.msg(),
            Summary::TOPIC
        )),
        None => Err(format!("nothing was published on {}", Summary::TOPIC)),
    }
}

/// The engine's node keeps the result the strategy's node tells it.
struct Results(mpsc::UnboundedSender<Summary>);

impl Actor for Results {
    type Args = mpsc::UnboundedSender<Summary>;
    async fn on_start(to: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Results(to))
    }
}

impl Handler<Summary> for Results {
    type Reply = ();
    async fn handle(&mut self, summary: Summary, _ctx: &mut Context<Self>) {
        // The receiver is gone only once the node has its result already.
        let _ = self.0.send(summary);
    }
}

/// One node of a split run (see the module docs).
async fn run_node(options: &Options, topology: &Path, name: &str) -> Result<String, String> {
    desk_actors::register()?;
    let bus = Bus::new();
    let schema = LocalSchema::from_digest(desk::SCHEMA_DIGEST);
    let node = Node::from_topology(topology, name, schema, &bus)
        .await
        .map_err(|e| e.to_string())?;
    let result = if node.hosts("execution") {
        let execution = Kind::parse("execution")?;
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .child(execution.child_spec("execution", None))
            .spawn(&bus)
            .await
            .map_err(|e| e.to_string())?;
        execution.export_child(&bus, &tree, "execution", "execution")?;
        let (to, mut results) = mpsc::unbounded_channel();
        let keeper = bus.spawn::<Results>(to);
        bus.exports()
            .export("results", keeper.recipient::<Summary>())
            .map_err(|e| e.to_string())?;
        // Until the strategy's node has told its result (or its link has given up).
        let peers: Vec<String> = node_peers(topology, name)?;
        let summary = loop {
            if let Ok(summary) = results.try_recv() {
                break summary;
            }
            for peer in &peers {
                if let Some(reason) = node.link(peer).and_then(|l| l.closed_reason()) {
                    return Err(format!("the link to node `{peer}` gave up ({reason})"));
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        tree.stop().await;
        line(&summary)
    } else {
        // `execution` is the engine on its node, reached over the link.
        let engine = node
            .reply_recipient::<NewOrder, Fill>("execution")
            .ok_or("no node of the topology hosts `execution`")?;
        bus.exports()
            .export_ask("execution", engine)
            .map_err(|e| e.to_string())?;
        let (summary, tree) = run_strategy(&bus, options, None).await?;
        let results = node
            .recipient::<Summary>("results")
            .ok_or("no node of the topology hosts `results`")?;
        results
            .tell(summary.clone())
            .await
            .map_err(|e| e.to_string())?;
        tree.stop().await;
        line(&summary)
    };
    // Draining: what was told reaches the peer first.
    node.close().await;
    bus.shutdown(Duration::from_secs(5)).await;
    Ok(result)
}

/// The names of the other nodes of the topology.
fn node_peers(topology: &Path, me: &str) -> Result<Vec<String>, String> {
    let topology = mycelium_remote::Topology::load(topology).map_err(|e| e.to_string())?;
    Ok(topology
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| n != me)
        .collect())
}

async fn run(options: Options) -> Result<String, String> {
    if let Some((topology, node)) = &options.split {
        return run_node(&options, topology, node).await;
    }
    desk_actors::register()?;
    let bus = Bus::new();
    let execution = Kind::parse("execution")?;
    let (summary, tree) = run_strategy(&bus, &options, Some(execution)).await?;
    tree.stop().await;
    bus.shutdown(Duration::from_secs(5)).await;
    Ok(line(&summary))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let result = match options() {
        Ok(options) => run(options).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("desk-host: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The desk's Rust program hosting Python actors of the desk's own schema: a Python child
//! reached through a `ReplyRecipient<Run, Summary>` of the schema's Rust types, across a
//! restart; what it publishes received by a Rust subscriber as `Summary`; the strategy run
//! as `desk-host` runs it; and an address for a message the class does not handle refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use desk_actors::desk::{Fill, NewOrder, Run, Summary};
use mycelium_actors::{AskError, Bus, ReplyRecipient, SubscribeOptions};
use mycelium_codec::WireMessage;
use mycelium_foreign::registry::Kind;
use mycelium_python::embed::PythonHost;
use mycelium_supervisor::{RestartStrategy, Supervisor};

/// A Python actor of the desk's schema that counts its runs, publishes each summary on the
/// schema's topic and fails on a run of no ticks.
const PROBE: &str = r#"
import mycelium
from trading_desk import desk


class Probe(mycelium.Actor):
    def on_start(self, _args):
        self.runs = 0

    @mycelium.handler(desk.Run)
    def run(self, run):
        if run.ticks == 0:
            raise ValueError("a run of no ticks")
        self.runs += 1
        summary = desk.Summary(orders=self.runs, position=-run.ticks, digest=run.seed)
        self.publish(summary)
        return summary
"#;

/// A directory of Python code: the desk's package with its generated module, and the probe.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("makes the directory");
    for entry in std::fs::read_dir(from).expect("reads the package") {
        let entry = entry.expect("an entry");
        let path = entry.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copies");
        }
    }
}

fn stage() -> Staged {
    let desk = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("desk-hosted-{}", std::process::id()));
    let package = dir.join("trading_desk");
    copy_dir(&desk.join("python/trading_desk"), &package);
    let text = std::fs::read_to_string(desk.join("desk.yaml")).expect("reads desk.yaml");
    let schema = mycelium_codegen::model::parse_str("desk.yaml", &text).expect("a valid schema");
    for (name, text) in
        mycelium_codegen::python::generate_from(&schema, Some("desk.yaml")).expect("generates")
    {
        std::fs::write(package.join(name), text).expect("writes the module");
    }
    std::fs::write(dir.join("desk_probe.py"), PROBE).expect("writes the probe");
    Staged(dir)
}

fn run(ticks: u32, seed: u64) -> Run {
    Run { ticks, seed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_children_of_the_desks_schema_are_reached_like_rust_children() {
    let staged = stage();
    let mycelium = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../bindings/python/python");
    desk_actors::register().expect("registers the engine");
    let bus = Bus::new();
    let host = PythonHost::start(&bus, "trading_desk.desk", &[&staged.0, &mycelium])
        .expect("starts Python");
    let execution = Kind::parse("execution").expect("registered");
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(execution.child_spec("execution", None))
        .child(
            host.child_spec("strategy", "trading_desk.strategy:Momentum", "execution")
                .expect("a spec"),
        )
        .child(
            host.child_spec("probe", "desk_probe:Probe", ())
                .expect("a spec"),
        )
        .spawn(&bus)
        .await
        .expect("the tree starts");
    execution
        .export_child(&bus, &tree, "execution", "execution")
        .expect("exported");
    bus.exports()
        .export_topic::<Summary>()
        .expect("Summary is a topic type");
    let mut heard = bus
        .subscribe_stream::<Summary>(Summary::TOPIC, SubscribeOptions::new())
        .expect("subscribes");

    let probe: ReplyRecipient<Run, Summary> = host
        .child_reply_recipient(&tree, "probe")
        .expect("Probe handles Run");
    let first = probe.ask(run(3, 11)).await.expect("answered");
    assert_eq!((first.orders, first.position, first.digest), (1, -3, 11));
    // Published by the handler before it answered, as the Rust type.
    assert_eq!(heard.try_recv().map(|p| p.msg().clone()), Some(first));

    // The handler raises: the child restarts, and the same address reaches it.
    match probe.ask(run(0, 1)).await {
        Err(AskError::Failed(failure)) => assert!(
            failure.reason.contains("ValueError: a run of no ticks"),
            "{failure:?}"
        ),
        other => panic!("expected the handler's failure, got {other:?}"),
    }
    tree.wait_restarts(1, Some("probe"))
        .await
        .expect("restarted");
    assert_eq!(probe.ask(run(2, 5)).await.expect("answered").orders, 1);
    assert_eq!(heard.try_recv().map(|p| p.msg().orders), Some(1));

    // The desk's strategy, trading with the Rust engine: the line every direction prints.
    let strategy: ReplyRecipient<Run, Summary> = host
        .child_reply_recipient(&tree, "strategy")
        .expect("Momentum handles Run");
    let summary = strategy
        .ask_timeout(run(500, 7), Duration::from_secs(60))
        .await
        .expect("answered");
    assert_eq!(
        (summary.orders, summary.position, summary.digest),
        (467, 50, 0x8fad_fbed_f8b0_a342)
    );
    assert_eq!(heard.try_recv().map(|p| p.msg().clone()), Some(summary));

    // A message the strategy has no handler for: refused when the address is made.
    let refused = host
        .child_reply_recipient::<NewOrder, Fill>(&tree, "strategy")
        .expect_err("Momentum does not handle NewOrder");
    assert!(
        refused.contains(&format!(
            "trading_desk.strategy:Momentum has no handler for NewOrder (type id {})",
            NewOrder::TYPE_ID
        )) && refused.contains(&format!("it handles Run ({})", Run::TYPE_ID)),
        "{refused}"
    );

    tree.stop().await;
    bus.shutdown(Duration::from_secs(5)).await;
}

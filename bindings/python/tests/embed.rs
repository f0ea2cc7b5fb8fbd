//! A Rust program hosting Python actors: the interpreter started by the test binary, a Python
//! actor class named by its path as a child of a Rust supervision tree, reached by Rust through
//! the export table and through typed addresses (`ReplyRecipient`, `Recipient`) that follow it
//! across restarts, restarted after a failure, and an import error as a start failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use _native::embed::PythonHost;
use mycelium_actors::{AskError, Bus, Recipient, ReplyRecipient};
use mycelium_contracts::{CancelOrder, Heartbeat, OrderAck};
use mycelium_supervisor::{RestartStrategy, Supervisor};
use pyo3::prelude::*;

const DESK: &str =
    "package: desk\nmessages:\n  NewOrder:\n    id: 7001\n    topic: desk.orders\n    \
fields:\n      - { name: order_id, type: u64 }\n      - { name: qty, type: u32 }\n  Fill:\n    \
id: 7002\n    topic: desk.fills\n    fields:\n      - { name: order_id, type: u64 }\n      \
- { name: qty, type: u32 }\n";

/// The same class a Python program would spawn with `bus.spawn(Trader, 100)`.
const ACTORS: &str = r#"
import mycelium
import desk


class Trader(mycelium.Actor):
    def on_start(self, limit):
        self.limit = limit
        self.filled = 0

    @mycelium.handler(desk.NewOrder)
    def order(self, o):
        if o.qty > self.limit:
            raise ValueError("over the limit")
        self.filled += o.qty
        return desk.Fill(order_id=o.order_id, qty=self.filled)
"#;

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory of this test's own, `what` naming it apart from the other tests'.
fn scratch_dir(what: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("mycelium-embed-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    Scratch(dir)
}

fn scratch() -> Scratch {
    let dir = std::env::temp_dir().join(format!("mycelium-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    write_desk(&dir);
    Scratch(dir)
}

/// Writes the `desk` schema's module and the `desk_actors` module into `dir`.
fn write_desk(dir: &std::path::Path) {
    let schema = mycelium_codegen::model::parse_str("desk.yaml", DESK).expect("valid schema");
    for (name, text) in
        mycelium_codegen::python::generate_from(&schema, Some("desk.yaml")).expect("generates")
    {
        std::fs::write(dir.join(name), text).expect("writes the module");
    }
    std::fs::write(dir.join("desk_actors.py"), ACTORS).expect("writes the actors");
}

/// The body of `desk.<class>(**fields)`, encoded by the generated module.
fn encode(class: &str, fields: &str) -> Vec<u8> {
    Python::attach(|py| {
        let code = std::ffi::CString::new(format!(
            "import desk\nbody = desk.{class}({fields}).encode()"
        ))
        .expect("no NUL");
        let scope = pyo3::types::PyDict::new(py);
        py.run(&code, Some(&scope), None).expect("encodes");
        scope
            .get_item("body")
            .expect("lookup")
            .expect("body")
            .extract::<Vec<u8>>()
            .expect("bytes")
    })
}

/// `qty` of an encoded `Fill`.
fn filled(body: &[u8]) -> u32 {
    Python::attach(|py| {
        let fill = py
            .import("desk")
            .and_then(|m| m.getattr("Fill"))
            .and_then(|c| c.call_method1("decode", (pyo3::types::PyBytes::new(py, body),)))
            .expect("decodes a Fill");
        fill.getattr("qty").and_then(|q| q.extract()).expect("qty")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_program_hosts_python_actors_in_its_supervision_tree() {
    let dir = scratch();
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
    let bus = Bus::new();
    let host = PythonHost::start(&bus, "desk", &[&dir.0, &python]).expect("starts Python");

    let spec = host
        .child_spec("trader", "desk_actors:Trader", 100u32)
        .expect("a child spec");
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .child(spec)
        .spawn(&bus)
        .await
        .expect("the tree starts");
    host.export_child(&sup, "trader", "trader", &[7001])
        .expect("exported");

    let exports = bus.exports();
    let (type_id, reply) = exports
        .ask("trader", 7001, &encode("NewOrder", "order_id=1, qty=5"))
        .await
        .expect("answered");
    assert_eq!(type_id, 7002);
    assert_eq!(filled(&reply), 5);

    // A failure of the Python handler: the ask fails, the tree restarts the child afresh.
    let failed = exports
        .ask("trader", 7001, &encode("NewOrder", "order_id=2, qty=500"))
        .await
        .expect_err("over the limit");
    assert!(failed.to_string().contains("over the limit"), "{failed}");
    sup.wait_restarts(1, Some("trader"))
        .await
        .expect("restarted");
    let (_, reply) = exports
        .ask("trader", 7001, &encode("NewOrder", "order_id=3, qty=1"))
        .await
        .expect("answered after the restart");
    assert_eq!(filled(&reply), 1, "restarted with a fresh state");

    // A class whose module cannot be imported: a start failure with the import error's text.
    let bad = host
        .child_spec("bad", "desk_missing:Trader", ())
        .expect("a child spec");
    let refused = Supervisor::builder(RestartStrategy::OneForOne)
        .child(bad)
        .spawn(&bus)
        .await
        .expect_err("cannot start");
    let text = refused.to_string();
    assert!(text.contains("No module named 'desk_missing'"), "{text}");

    sup.stop().await;
    bus.shutdown(Duration::from_secs(5)).await;
}

/// A Python actor of the example schema (`mycelium.trading`), whose Rust types are
/// `mycelium_contracts`: it counts the heartbeats it gets.
const COUNTING: &str = r#"
import mycelium
from mycelium.trading import Heartbeat, OrderAck


class Counter(mycelium.Actor):
    def on_start(self, first):
        self.count = first

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        if hb.sender == "boom":
            raise ValueError("boom on purpose")
        self.count += 1
        if hb.sender == "ack":
            return OrderAck(client_order_id=self.count, venue_order_id="V", ts_ns=0, venue_ts_ns=None)
        return Heartbeat(ts_ns=hb.ts_ns, seq=self.count, sender="counter")
"#;

fn beat(sender: &str) -> Heartbeat {
    Heartbeat {
        ts_ns: 5,
        seq: 0,
        sender: sender.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_child_is_reached_through_typed_recipients_across_restarts() {
    let dir = scratch_dir("typed");
    std::fs::write(dir.0.join("counting.py"), COUNTING).expect("writes the actor");
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
    let bus = Bus::new();
    let host = PythonHost::start(&bus, "mycelium.trading", &[&dir.0, &python]).expect("starts");
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .child(
            host.child_spec("counter", "counting:Counter", 0u64)
                .expect("a spec"),
        )
        .spawn(&bus)
        .await
        .expect("the tree starts");

    // The same calls as for a Rust child.
    let counter: ReplyRecipient<Heartbeat, Heartbeat> = host
        .child_reply_recipient(&sup, "counter")
        .expect("the class handles Heartbeat");
    assert_eq!(counter.ask(beat("a")).await.expect("answered").seq, 1);
    counter.tell(beat("b")).await.expect("told");
    // In order: the tell is handled before the ask sent after it.
    assert_eq!(counter.ask(beat("c")).await.expect("answered").seq, 3);
    let tells: Recipient<Heartbeat> = host.child_recipient(&sup, "counter").expect("a recipient");
    tells.tell(beat("d")).await.expect("told");
    let reply = counter
        .ask_timeout(beat("e"), Duration::from_secs(30))
        .await
        .expect("answered");
    assert_eq!(reply.seq, 5);
    assert_eq!(reply.sender, "counter");

    // The handler raises: the ask fails with its text, the tree restarts the child, and the
    // same address reaches the new incarnation.
    match counter.ask(beat("boom")).await {
        Err(AskError::Failed(failure)) => {
            assert!(
                failure.reason.contains("ValueError: boom on purpose"),
                "{failure:?}"
            )
        }
        other => panic!("expected the handler's failure, got {other:?}"),
    }
    sup.wait_restarts(1, Some("counter"))
        .await
        .expect("restarted");
    assert_eq!(counter.ask(beat("f")).await.expect("answered").seq, 1);
    tells.tell(beat("g")).await.expect("told after the restart");
    assert_eq!(counter.ask(beat("h")).await.expect("answered").seq, 3);

    // A message the class has no handler for: refused when the address is made.
    let refused = host
        .child_reply_recipient::<CancelOrder, OrderAck>(&sup, "counter")
        .expect_err("Counter does not handle CancelOrder");
    assert!(
        refused.contains("counting:Counter has no handler for CancelOrder")
            && refused.contains("Heartbeat (900)"),
        "{refused}"
    );
    let refused = host
        .child_recipient::<Heartbeat>(&sup, "nobody")
        .expect_err("no such child");
    assert!(
        refused.contains("`nobody` is not a Python child"),
        "{refused}"
    );

    // A handler that answers another message than the address's reply type.
    let acks: ReplyRecipient<Heartbeat, OrderAck> = host
        .child_reply_recipient(&sup, "counter")
        .expect("an address");
    assert_eq!(
        acks.ask(beat("ack")).await.expect("an ack").client_order_id,
        4
    );
    match acks.ask(beat("i")).await {
        Err(AskError::Failed(failure)) => assert!(
            failure.reason.contains(
                "Python actor counting:Counter answered Heartbeat with type id 900, not OrderAck"
            ),
            "{failure:?}"
        ),
        other => panic!("expected a wrong reply type, got {other:?}"),
    }
    // That is the asker's error, not the actor's: it goes on.
    assert_eq!(counter.ask(beat("j")).await.expect("answered").seq, 6);

    sup.stop().await;
    // Stopped for good: the request is handed back.
    match counter.ask(beat("k")).await {
        Err(AskError::Closed(hb)) => assert_eq!(hb.sender, "k"),
        other => panic!("expected the request back, got {other:?}"),
    }
    bus.shutdown(Duration::from_secs(5)).await;
}

/// A new version of `desk_actors.Trader`: it fills twice the quantity asked.
const TRADER_V2: &str = r#"
import mycelium
import desk


class Trader(mycelium.Actor):
    def on_start(self, limit):
        self.filled = 0

    @mycelium.handler(desk.NewOrder)
    def order(self, o):
        self.filled += 2 * o.qty
        return desk.Fill(order_id=o.order_id, qty=self.filled)
"#;

/// A Rust actor that counts the heartbeats its own timer sends it every 700 ms.
struct Ticker(u64);

impl mycelium_actors::Actor for Ticker {
    type Args = ();
    async fn on_start(
        _: (),
        ctx: &mut mycelium_actors::Context<Self>,
    ) -> Result<Self, mycelium_actors::BoxError> {
        ctx.send_interval(beat("tick"), Duration::from_millis(700));
        Ok(Ticker(0))
    }
}

impl mycelium_actors::Handler<Heartbeat> for Ticker {
    type Reply = ();
    async fn handle(&mut self, _: Heartbeat, _: &mut mycelium_actors::Context<Self>) {
        self.0 += 1;
    }
}

/// Replays the journal in `journal` with the ticker and the Python trader of `class_path`
/// together, on a virtual-time bus.
async fn replay_desk(
    host: &PythonHost,
    bus: &Bus,
    journal: &std::path::Path,
    numbers: (u64, u64),
    class_path: &str,
    mode: mycelium_journal::ReplayMode,
) -> mycelium_journal::SetReport {
    let reader = mycelium_journal::JournalReader::open(journal).expect("reads the journal");
    let mut set = mycelium_journal::ReplaySet::new(&reader)
        .expect("reads the journal")
        .sends_contract::<Heartbeat>();
    set.spawn::<Ticker>(bus, numbers.0, ()).expect("the ticker");
    host.spawn_replayed(&mut set, numbers.1, class_path, 100u32)
        .await
        .expect("the trader");
    set.run(mode).await.expect("replays")
}

#[tokio::test(start_paused = true)]
async fn a_python_actor_replays_beside_a_rust_one_in_a_replay_set() {
    use mycelium_journal::{JournalOptions, JournalSchema, JournalWriter, Kind, Recording};

    let dir = scratch_dir("replay");
    write_desk(&dir.0);
    std::fs::write(dir.0.join("desk_v2.py"), TRADER_V2).expect("writes the new version");
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
    let journal_dir = dir.0.join("journal");

    // Live: the ticker's timer, and the trader asked three orders a second apart.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let host = PythonHost::start(&bus, "desk", &[&dir.0, &python]).expect("starts Python");
    let journal = JournalWriter::open(&journal_dir, JournalOptions::new(JournalSchema::none()))
        .expect("a journal");
    let recording = Arc::new(
        Recording::new(journal.clone())
            .described::<mycelium_foreign::ForeignRecord>()
            .contract::<Heartbeat>(),
    );
    let ticker = bus
        .spawn_with::<Ticker>(
            (),
            mycelium_actors::SpawnOptions::new().record(recording.clone()),
        )
        .expect("the ticker");
    let trader = host
        .spawn_recorded("desk_actors:Trader", 100u32, recording.clone())
        .await
        .expect("the trader");
    for (i, qty) in [5u32, 7, 11].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, reply) = trader
            .ask(
                7001,
                &encode("NewOrder", &format!("order_id={i}, qty={qty}")),
                None,
            )
            .await
            .expect("answered");
        assert!(filled(&reply) >= qty);
    }
    ticker.drain_and_stop().await;
    ticker.wait_for_stop().await;
    bus.shutdown(Duration::from_secs(5)).await;
    journal.close().expect("closes");
    let records: Vec<_> = mycelium_journal::JournalReader::open(&journal_dir)
        .expect("reads")
        .records()
        .map(|r| r.expect("whole"))
        .collect();
    let number = |name: &str| {
        records
            .iter()
            .find(|r| r.kind == Kind::Started && r.name == name)
            .map(|r| r.actor.id)
            .expect("recorded")
    };
    let numbers = (number("Ticker"), number("Trader"));
    let handled = |actor: u64| {
        records
            .iter()
            .filter(|r| r.kind == Kind::Handled && r.actor.id == actor)
            .count()
    };
    assert_eq!(handled(numbers.1), 3);
    assert!(handled(numbers.0) >= 4, "the ticker ticked");

    // Replayed unchanged: every output as recorded, the trader's asks at their times.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let host = PythonHost::start(&bus, "desk", &[&dir.0, &python]).expect("starts Python");
    let same = replay_desk(
        &host,
        &bus,
        &journal_dir,
        numbers,
        "desk_actors:Trader",
        mycelium_journal::ReplayMode::StopAtFirst,
    )
    .await;
    assert!(same.is_same(), "{same}");
    assert_eq!(same.actors.len(), 2);
    assert!(bus.now() >= Duration::from_secs(3));
    bus.shutdown(Duration::from_secs(5)).await;

    // The trader changed: each of its answers differs, the ticker does as recorded.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let host = PythonHost::start(&bus, "desk", &[&dir.0, &python]).expect("starts Python");
    let changed = replay_desk(
        &host,
        &bus,
        &journal_dir,
        numbers,
        "desk_v2:Trader",
        mycelium_journal::ReplayMode::Compare,
    )
    .await;
    let trader = changed
        .actors
        .iter()
        .find(|a| a.actor == numbers.1)
        .expect("the trader's report");
    assert_eq!(trader.differences.len(), 3, "{changed}");
    assert!(
        trader.differences[0].recorded.contains("replied Fill"),
        "{changed}"
    );
    let ticker = changed
        .actors
        .iter()
        .find(|a| a.actor == numbers.0)
        .expect("the ticker's report");
    assert!(ticker.differences.is_empty(), "{changed}");
    bus.shutdown(Duration::from_secs(5)).await;
}

/// The flight test's child process: its journal's directory.
const FLIGHT_CHILD: &str = "MYCELIUM_EMBED_FLIGHT_CHILD";
const FLIGHT_TEST: &str =
    "a_killed_desk_with_a_link_restarts_timers_and_python_replays_as_recorded";

/// A Rust actor whose own timer sends it a heartbeat every 200 ms; each tick adds a permit.
struct Pulse(Arc<tokio::sync::Semaphore>);

impl mycelium_actors::Actor for Pulse {
    type Args = Arc<tokio::sync::Semaphore>;
    async fn on_start(
        ticks: Arc<tokio::sync::Semaphore>,
        ctx: &mut mycelium_actors::Context<Self>,
    ) -> Result<Self, mycelium_actors::BoxError> {
        ctx.send_interval(beat("pulse"), Duration::from_millis(200));
        Ok(Pulse(ticks))
    }
}

impl mycelium_actors::Handler<Heartbeat> for Pulse {
    type Reply = ();
    async fn handle(&mut self, _: Heartbeat, ctx: &mut mycelium_actors::Context<Self>) {
        let _ = ctx.now();
        self.0.add_permits(1);
    }
}

/// Takes orders that arrive over a link and asks the Python trader to fill each; fails on
/// every order whose id ends in 4 (its supervisor restarts it). Each handled order adds a
/// permit.
struct Venue {
    trader: Arc<dyn mycelium_actors::export::ByteService>,
    handled: Arc<tokio::sync::Semaphore>,
}

type VenueArgs = (
    Arc<dyn mycelium_actors::export::ByteService>,
    Arc<tokio::sync::Semaphore>,
);

impl mycelium_actors::Actor for Venue {
    type Args = VenueArgs;
    async fn on_start(
        (trader, handled): VenueArgs,
        _: &mut mycelium_actors::Context<Self>,
    ) -> Result<Self, mycelium_actors::BoxError> {
        Ok(Venue { trader, handled })
    }
}

impl mycelium_actors::Handler<CancelOrder> for Venue {
    type Reply = ();
    async fn handle(&mut self, order: CancelOrder, _: &mut mycelium_actors::Context<Self>) {
        let id = order.client_order_id;
        if id % 10 == 4 {
            panic!("order {id} refused");
        }
        let body = encode("NewOrder", &format!("order_id={id}, qty={}", id % 7 + 1));
        let _ = self.trader.ask(7001, &body, None).await;
        self.handled.add_permits(1);
    }
}

fn cancel(id: u64) -> CancelOrder {
    CancelOrder {
        client_order_id: id,
        instrument: 1,
        ts_ns: id,
    }
}

/// The child: a desk recorded on real time (a ticking Rust actor, a supervised Rust venue fed
/// over a Unix-socket link from another node, a Python trader it asks), which says
/// `flight: recorded` once 30 orders and 4 ticks are handled and flushed, then goes on until killed.
fn flight_child(dir: &std::path::Path) {
    use mycelium_journal::{JournalOptions, JournalSchema, JournalWriter, Recording};
    use mycelium_remote::{Endpoint, LocalSchema, Node, RemoteActor, Secret};
    use mycelium_supervisor::{Backoff, ChildSpec};

    // Its parent holds its standard input: once that closes (the parent ended, however),
    // so does this process, so that none is left behind.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the child's runtime");
    runtime.block_on(async {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
        let bus = Bus::new();
        let host = PythonHost::start(&bus, "desk", &[dir, &python]).expect("starts Python");
        let journal = JournalWriter::open(
            dir.join("journal"),
            JournalOptions::new(JournalSchema::none()),
        )
        .expect("a journal");
        let recording = Arc::new(
            Recording::new(journal.clone())
                .described::<mycelium_foreign::ForeignRecord>()
                .contract::<Heartbeat>()
                .contract::<CancelOrder>(),
        );
        let ticks = Arc::new(tokio::sync::Semaphore::new(0));
        bus.spawn_with::<Pulse>(
            ticks.clone(),
            mycelium_actors::SpawnOptions::new().record(recording.clone()),
        )
        .expect("the pulse");
        let trader = host
            .spawn_recorded("desk_actors:Trader", 100u32, recording.clone())
            .await
            .expect("the trader");
        let handled = Arc::new(tokio::sync::Semaphore::new(0));
        let desk = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(1_000, Duration::from_secs(1))
            .backoff(Backoff::exponential(
                Duration::from_millis(10),
                2.0,
                Duration::from_millis(80),
            ))
            .child(
                ChildSpec::new::<Venue>("venue", (trader, handled.clone()))
                    .record(recording.clone()),
            )
            .spawn(&bus)
            .await
            .expect("the desk");
        let exports = bus.exports();
        exports
            .export(
                "venue",
                desk.child_recipient::<Venue, CancelOrder>("venue")
                    .expect("the venue"),
            )
            .expect("exports the venue");
        let secret = || Secret::new(*b"flight-recorder-secret-0123456789").expect("a secret");
        let schema = || LocalSchema::from_digest([7; 32]);
        let b = Node::builder("b", schema(), secret()).build(&bus, Arc::new(exports));
        // A socket's directory must be the user's alone.
        let sockets = dir.join("sockets");
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&sockets)
            .expect("a socket directory");
        let at = b
            .listen(&Endpoint::Unix(sockets.join("b.sock")), &["a"])
            .await
            .expect("listens");
        let bus_a = Bus::new();
        let a = Node::builder("a", schema(), secret()).build(&bus_a, Arc::new(bus_a.exports()));
        a.connect("b", at);
        let venue = RemoteActor::<CancelOrder>::new(a.link_to("b"), "venue");
        for id in 1..=33 {
            venue.tell_numbered(&cancel(id)).await.expect("queued");
        }
        let _ = handled.acquire_many(30).await.expect("30 orders handled");
        let _ = ticks.acquire_many(4).await.expect("4 ticks");
        journal.flush().expect("flushes");
        // On a line of its own: the test harness may have begun one (`test ... `).
        println!("\nflight: recorded");
        for id in 34.. {
            venue.tell_numbered(&cancel(id)).await.expect("queued");
        }
    });
}

/// A desk recorded live (a Rust actor on a timer, a supervised Rust actor that fails and is
/// restarted, fed over a link from another node, and a Python actor it asks) in a process
/// killed with SIGKILL: its journal replays as one set on virtual time, every output as
/// recorded up to the kill's cut.
#[test]
fn a_killed_desk_with_a_link_restarts_timers_and_python_replays_as_recorded() {
    use mycelium_journal::{JournalReader, Kind, Origin, ReplayMode, ReplaySet};

    if let Ok(dir) = std::env::var(FLIGHT_CHILD) {
        flight_child(std::path::Path::new(&dir));
        return;
    }
    let dir = scratch_dir("flight");
    write_desk(&dir.0);
    let mut child = std::process::Command::new(std::env::current_exe().expect("this test"))
        .args([FLIGHT_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(FLIGHT_CHILD, &dir.0)
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts the recording process");
    let stdout = child.stdout.take().expect("its output");
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if said.send(line).is_err() {
                return;
            }
        }
    });
    let recorded = loop {
        match heard.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line == "flight: recorded" => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert!(recorded, "the recording process never said it had recorded");

    let journal = JournalReader::open(dir.0.join("journal")).expect("reads the journal");
    let records: Vec<_> = journal.records().map(|r| r.expect("whole")).collect();
    let number = |name: &str| {
        records
            .iter()
            .find(|r| r.kind == Kind::Started && r.name == name)
            .map(|r| r.actor.id)
            .unwrap_or_else(|| panic!("{name} recorded"))
    };
    let (pulse, venue, trader) = (number("Pulse"), number("Venue"), number("Trader"));
    let count = |actor: u64, kind: Kind| {
        records
            .iter()
            .filter(|r| r.actor.id == actor && r.kind == kind)
            .count()
    };
    assert!(count(pulse, Kind::TimerFired) >= 4);
    assert!(
        count(venue, Kind::Restarted) >= 3,
        "orders 4, 14 and 24 failed"
    );
    assert!(count(trader, Kind::Handled) >= 30);
    assert!(records
        .iter()
        .filter(|r| r.actor.id == venue && r.kind == Kind::Handled)
        .all(|r| matches!(r.origin, Origin::Remote { .. })));

    let runtime = _native::embed::virtual_runtime()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
        let bus = Bus::builder().virtual_time().build().expect("a bus");
        let host = PythonHost::start(&bus, "desk", &[&dir.0, &python]).expect("starts Python");
        let mut set = ReplaySet::new(&journal)
            .expect("reads the journal")
            .sends_contract::<Heartbeat>();
        set.spawn::<Pulse>(&bus, pulse, Arc::new(tokio::sync::Semaphore::new(0)))
            .expect("the pulse");
        let trader = host
            .spawn_replayed(&mut set, trader, "desk_actors:Trader", 100u32)
            .await
            .expect("the trader");
        let venue = set
            .spawn::<Venue>(
                &bus,
                venue,
                (trader, Arc::new(tokio::sync::Semaphore::new(0))),
            )
            .expect("the venue");
        set.contract::<Venue, CancelOrder>(&venue);
        let report = set.run(ReplayMode::StopAtFirst).await.expect("replays");
        assert!(report.is_same(), "{report}");
        assert_eq!(report.actors.len(), 3);
        bus.shutdown(Duration::from_secs(5)).await;
    });
}

//! A recorded foreign actor: its messages written as the contract messages of their type ids,
//! its answers, what it sends while handling, a failure and the restart that follows, and a
//! message of the language's own written as the language serializes it or named as
//! unrecordable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions, StopReason};
use mycelium_foreign::{
    gated_child_spec, spawn_recorded, Foreign, ForeignActor, ForeignMessage, ForeignRecord,
    ForeignRecording, ForeignRef,
};
use mycelium_journal::{
    Encoding, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Origin, Record,
    Recording,
};
use mycelium_supervisor::{Backoff, RestartStrategy, Supervisor};

/// Type id 9 is "a message of the language's own": written as raw bytes when allowed.
const OWN: u16 = 9;

/// Counts what it handles; `boom` fails; `fwd` tells the message to the actor in `peer`;
/// answers each message with its count.
struct Counter {
    peer: Mutex<Option<ForeignRef<Counter>>>,
    /// Answers twice its count: a changed version.
    double: bool,
}

impl Foreign for Counter {
    type Args = ();
    type State = u8;

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<u8, String> {
        Ok(0)
    }

    fn handle(&self, n: &mut u8, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        if msg.body == b"boom" {
            return Err("boom".into());
        }
        if msg.body == b"fwd" {
            let peer = self.peer.lock().unwrap().clone();
            if let Some(peer) = peer {
                let _ = peer.try_tell(ForeignMessage {
                    type_id: 7,
                    body: b"hello".to_vec(),
                });
            }
        }
        *n += 1;
        Ok(Some(ForeignMessage {
            type_id: 8,
            body: vec![if self.double { *n * 2 } else { *n }],
        }))
    }

    fn recorded(&self, msg: &ForeignMessage, own_serialization: bool) -> ForeignRecord {
        match (msg.type_id, own_serialization) {
            (OWN, true) => ForeignRecord {
                type_id: 0,
                name: "own:Thing",
                encoding: Encoding::Raw,
                body: msg.body.clone(),
            },
            (OWN, false) => ForeignRecord::unrecordable("Thing"),
            _ => ForeignRecord::contract(msg, "Msg"),
        }
    }

    fn stop(&self, _: u8, _: &StopReason) {}
}

fn msg(type_id: u16, body: &[u8]) -> ForeignMessage {
    ForeignMessage {
        type_id,
        body: body.to_vec(),
    }
}

fn records(dir: &std::path::Path) -> Vec<Record> {
    JournalReader::open(dir)
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn journal(dir: &std::path::Path) -> JournalWriter {
    JournalWriter::open(dir, JournalOptions::new(JournalSchema::none())).unwrap()
}

#[test]
fn messages_answers_and_sends_are_recorded_as_contract_messages() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path());
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    let rt = runtime();
    let bus = rt.block_on(async { Bus::new() });
    let (a, b) = rt.block_on(async {
        let b = spawn_recorded(
            &bus,
            Arc::new(Counter {
                peer: Mutex::new(None),
                double: false,
            }),
            (),
            SpawnOptions::new(),
            ForeignRecording::new(recording.clone(), "B"),
        )
        .await
        .unwrap();
        let a = spawn_recorded(
            &bus,
            Arc::new(Counter {
                peer: Mutex::new(Some(b.clone())),
                double: false,
            }),
            (),
            SpawnOptions::new(),
            ForeignRecording::new(recording.clone(), "A"),
        )
        .await
        .unwrap();
        (a, b)
    });
    rt.block_on(async {
        assert_eq!(a.ask(msg(5, b"x"), None).await.unwrap().body, [1]);
        a.tell(msg(5, b"fwd")).await.unwrap();
        assert_eq!(a.ask(msg(5, b"y"), None).await.unwrap().body, [3]);
        // B has handled the forwarded message once it answers this.
        assert_eq!(b.ask(msg(5, b"z"), None).await.unwrap().body, [2]);
    });
    journal.close().unwrap();
    let all = records(dir.path());
    let a_id = a.id().local();
    let b_id = b.id().local();
    let of = |id: u64| -> Vec<(Kind, String, u16, Vec<u8>, bool)> {
        all.iter()
            .filter(|r| r.actor.id == id)
            .map(|r| {
                (
                    r.kind,
                    r.name.clone(),
                    r.type_id,
                    r.payload.clone(),
                    r.asked,
                )
            })
            .collect()
    };
    let handled = |body: &[u8], asked| (Kind::Handled, "Msg".into(), 5, body.to_vec(), asked);
    let replied = |n: u8| (Kind::Replied, "Msg".into(), 8, vec![n], false);
    assert_eq!(
        of(a_id),
        [
            (
                Kind::Started,
                "A".into(),
                0,
                0u64.to_le_bytes().to_vec(),
                false
            ),
            handled(b"x", true),
            replied(1),
            handled(b"fwd", false),
            (Kind::Sent, "Msg".into(), 7, b"hello".to_vec(), false),
            handled(b"y", true),
            replied(3),
        ]
    );
    let b_records = of(b_id);
    assert_eq!(
        b_records[1],
        (Kind::Handled, "Msg".into(), 7, b"hello".to_vec(), false)
    );
    // The forwarded message's origin is its recorded sender, and the send's cause the input
    // that made it.
    let forwarded = all
        .iter()
        .find(|r| r.actor.id == b_id && r.kind == Kind::Handled && r.type_id == 7)
        .unwrap();
    assert!(matches!(forwarded.origin, Origin::Actor(addr) if addr.id == a_id));
    let sent = all.iter().find(|r| r.kind == Kind::Sent).unwrap();
    let fwd = all
        .iter()
        .find(|r| r.kind == Kind::Handled && r.payload == b"fwd")
        .unwrap();
    assert_eq!(sent.cause, Some(fwd.seq));
    assert!(all
        .iter()
        .filter(|r| matches!(r.kind, Kind::Handled | Kind::Sent | Kind::Replied))
        .all(|r| r.encoding == Encoding::Contract));
    assert!(recording.unrecorded().is_empty());
}

#[test]
fn a_failure_and_its_restart_are_recorded_in_a_supervised_child() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path());
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    let rt = runtime();
    let bus = rt.block_on(async { Bus::new() });
    let foreign = Arc::new(Counter {
        peer: Mutex::new(None),
        double: false,
    });
    let (spec, gate) = gated_child_spec("counter", foreign, ());
    gate.record(ForeignRecording::new(recording.clone(), "Counter"))
        .unwrap();
    let tree = rt
        .block_on(
            Supervisor::builder(RestartStrategy::OneForOne)
                .backoff(Backoff::exponential(
                    Duration::from_millis(1),
                    2.0,
                    Duration::from_millis(10),
                ))
                .child(spec)
                .spawn(&bus),
        )
        .unwrap();
    let actor = ForeignRef::from_actor_ref(tree.child::<ForeignActor<Counter>>("counter").unwrap())
        .with_gate(gate);
    rt.block_on(async {
        assert_eq!(actor.ask(msg(5, b"a"), None).await.unwrap().body, [1]);
        assert!(actor.ask(msg(5, b"boom"), None).await.is_err());
        // Answered by the restarted incarnation: its count starts again.
        assert_eq!(actor.ask(msg(5, b"b"), None).await.unwrap().body, [1]);
    });
    journal.close().unwrap();
    let kinds: Vec<(Kind, Vec<u8>)> = records(dir.path())
        .into_iter()
        .map(|r| (r.kind, r.payload))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Started, 0u64.to_le_bytes().to_vec()),
            (Kind::Handled, b"a".to_vec()),
            (Kind::Replied, vec![1]),
            (Kind::Handled, b"boom".to_vec()),
            (Kind::Failed, b"boom".to_vec()),
            (Kind::Stopped, kinds[5].1.clone()),
            (Kind::Restarted, 1u64.to_le_bytes().to_vec()),
            (Kind::Handled, b"b".to_vec()),
            (Kind::Replied, vec![1]),
        ]
    );
}

#[test]
fn a_message_of_the_language_is_written_in_its_serialization_only_where_allowed() {
    for allowed in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(dir.path());
        let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
        let rt = runtime();
        let bus = rt.block_on(async { Bus::new() });
        rt.block_on(async {
            let actor = spawn_recorded(
                &bus,
                Arc::new(Counter {
                    peer: Mutex::new(None),
                    double: false,
                }),
                (),
                SpawnOptions::new(),
                ForeignRecording::new(recording.clone(), "Counter").own_serialization(allowed),
            )
            .await
            .unwrap();
            actor.ask(msg(OWN, b"pickled"), None).await.unwrap();
        });
        journal.close().unwrap();
        let handled = records(dir.path())
            .into_iter()
            .find(|r| r.kind == Kind::Handled)
            .unwrap();
        if allowed {
            assert_eq!(
                (
                    handled.name.as_str(),
                    handled.encoding,
                    &handled.payload[..]
                ),
                ("own:Thing", Encoding::Raw, &b"pickled"[..])
            );
            assert!(recording.unrecorded().is_empty());
        } else {
            assert_eq!(
                (
                    handled.name.as_str(),
                    handled.encoding,
                    handled.payload.len()
                ),
                ("Thing", Encoding::Empty, 0)
            );
            assert_eq!(recording.unrecorded(), ["Thing"]);
        }
    }
}

/// Records two foreign actors on a virtual-time bus, `A` forwarding to `B`, with inputs one
/// second of bus time apart; returns the actors' recorded numbers.
fn record_pair(dir: &std::path::Path) -> (u64, u64) {
    let journal = journal(dir);
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    let hosted = mycelium_foreign::HostedBus::new(true, 0, 1).unwrap();
    let bus = hosted.bus().clone();
    hosted.block_on(async move {
        let b = spawn_recorded(
            &bus,
            Arc::new(Counter {
                peer: Mutex::new(None),
                double: false,
            }),
            (),
            SpawnOptions::new(),
            ForeignRecording::new(recording.clone(), "B"),
        )
        .await
        .unwrap();
        let a = spawn_recorded(
            &bus,
            Arc::new(Counter {
                peer: Mutex::new(Some(b.clone())),
                double: false,
            }),
            (),
            SpawnOptions::new(),
            ForeignRecording::new(recording.clone(), "A"),
        )
        .await
        .unwrap();
        for (i, body) in [&b"x"[..], b"fwd", b"y"].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if i == 1 {
                a.tell(msg(5, body)).await.unwrap();
            } else {
                a.ask(msg(5, body), None).await.unwrap();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(b.ask(msg(5, b"z"), None).await.unwrap().body, [2]);
        for actor in [a, b] {
            actor.actor_ref().drain_and_stop().await;
            actor.wait_for_stop().await;
        }
    });
    journal.close().unwrap();
    let started: Vec<(u64, String)> = records(dir)
        .into_iter()
        .filter(|r| r.kind == Kind::Started)
        .map(|r| (r.actor.id, r.name))
        .collect();
    let number = |name: &str| started.iter().find(|(_, n)| n == name).unwrap().0;
    (number("A"), number("B"))
}

/// Replays `A` and `B` together in a set on a virtual-time bus, `B` replaced by `changed`.
fn replay_pair(
    dir: &std::path::Path,
    (a, b): (u64, u64),
    b_now: Arc<Counter>,
    mode: mycelium_journal::ReplayMode,
) -> (mycelium_journal::SetReport, Duration) {
    let hosted = mycelium_foreign::HostedBus::new(true, 0, 1).unwrap();
    let bus = hosted.bus().clone();
    let reader = JournalReader::open(dir).unwrap();
    let task = hosted.handle().spawn(async move {
        let mut set = mycelium_journal::ReplaySet::new(&reader).unwrap();
        let input = mycelium_foreign::recording::contract_input;
        let b_ref =
            mycelium_foreign::recording::spawn_replayed(&mut set, &bus, b, b_now, (), "B", input)
                .await
                .unwrap();
        let counter = Arc::new(Counter {
            peer: Mutex::new(Some(b_ref)),
            double: false,
        });
        mycelium_foreign::recording::spawn_replayed(&mut set, &bus, a, counter, (), "A", input)
            .await
            .unwrap();
        let report = set.run(mode).await.unwrap();
        (report, bus.clock().now())
    });
    hosted.block_on(task).unwrap()
}

#[test]
fn foreign_actors_replay_in_a_set_at_their_recorded_times() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = record_pair(dir.path());
    let (report, now) = replay_pair(
        dir.path(),
        numbers,
        Arc::new(Counter {
            peer: Mutex::new(None),
            double: false,
        }),
        mycelium_journal::ReplayMode::StopAtFirst,
    );
    assert!(report.is_same(), "{report}");
    assert_eq!(report.actors.len(), 2);
    // A's three inputs, B's forwarded one (regenerated by A) and its last ask, fed.
    assert_eq!(
        report.actors.iter().map(|a| a.inputs).sum::<u64>(),
        5,
        "{report:?}"
    );
    // The last input was fed at its recorded bus time, four seconds in.
    assert!(now >= Duration::from_secs(4), "{now:?}");
}

#[test]
fn a_changed_foreign_actor_is_reported_input_by_input() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = record_pair(dir.path());
    let (report, _) = replay_pair(
        dir.path(),
        numbers,
        Arc::new(Counter {
            peer: Mutex::new(None),
            double: true,
        }),
        mycelium_journal::ReplayMode::Compare,
    );
    assert!(!report.is_same());
    let b = report.actors.iter().find(|a| a.actor == numbers.1).unwrap();
    // B's answer to its own ask differs (2 recorded, 4 now); the forwarded tell's answer is
    // not an output.
    assert_eq!(b.differences.len(), 1, "{report}");
    let d = &b.differences[0];
    assert!(d.recorded.contains("replied Msg 02"), "{report}");
    assert!(d.now.contains("replied Msg 04"), "{report}");
    let a = report.actors.iter().find(|a| a.actor == numbers.0).unwrap();
    assert!(a.differences.is_empty(), "{report}");
    assert!(report.to_csv().lines().count() == 2, "{}", report.to_csv());
}

/// Publishes a heartbeat for each message: its body as the heartbeat's body (`good` an
/// encoded one, anything else a body the Rust type refuses); answers with the outcome.
struct Publishing {
    hosted: Arc<mycelium_foreign::HostedBus>,
}

impl Foreign for Publishing {
    type Args = ();
    type State = ();

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<(), String> {
        Ok(())
    }

    fn handle(&self, _: &mut (), msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        use mycelium_codec::WireMessage;
        use mycelium_contracts::Heartbeat;
        let body = if msg.body == b"good" {
            let mut body = Vec::new();
            Heartbeat {
                ts_ns: 1,
                seq: 2,
                sender: "p".into(),
            }
            .encode_body(&mut body);
            body
        } else {
            msg.body
        };
        let bus = self.hosted.bus().clone();
        let published = self.hosted.block_on(async move {
            mycelium_foreign::publish_schema_bytes(
                &bus,
                Heartbeat::TYPE_ID,
                Heartbeat::TOPIC,
                None,
                &body,
            )
            .await
        });
        Ok(Some(ForeignMessage {
            type_id: 8,
            body: vec![u8::from(published.is_ok())],
        }))
    }

    fn stop(&self, _: (), _: &StopReason) {}
}

#[test]
fn a_publication_the_rust_type_refuses_is_not_recorded() {
    use mycelium_codec::WireMessage;
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path());
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    let hosted = Arc::new(mycelium_foreign::HostedBus::new(false, 0, 1).unwrap());
    let bus = hosted.bus().clone();
    bus.exports()
        .export_topic::<mycelium_contracts::Heartbeat>()
        .unwrap();
    let foreign = Arc::new(Publishing {
        hosted: hosted.clone(),
    });
    let answers = hosted.block_on(async move {
        let actor = spawn_recorded(
            &bus,
            foreign,
            (),
            SpawnOptions::new(),
            ForeignRecording::new(recording, "Publishing"),
        )
        .await
        .unwrap();
        let mut answers = Vec::new();
        for body in [&b"\xff\xff"[..], b"good"] {
            answers.push(actor.ask(msg(5, body), None).await.unwrap().body[0]);
        }
        actor.actor_ref().drain_and_stop().await;
        actor.wait_for_stop().await;
        answers
    });
    assert_eq!(answers, [0, 1], "refused, then published");
    journal.close().unwrap();
    let published: Vec<Record> = records(dir.path())
        .into_iter()
        .filter(|r| r.kind == Kind::Published)
        .collect();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].type_id, mycelium_contracts::Heartbeat::TYPE_ID);
    assert_eq!(published[0].topic, mycelium_contracts::Heartbeat::TOPIC);
}

#[test]
fn a_supervised_foreign_actor_replays_with_its_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path());
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    let hosted = mycelium_foreign::HostedBus::new(true, 0, 1).unwrap();
    let bus = hosted.bus().clone();
    let foreign = Arc::new(Counter {
        peer: Mutex::new(None),
        double: false,
    });
    let (spec, gate) = gated_child_spec("counter", foreign, ());
    gate.record(ForeignRecording::new(recording.clone(), "Counter"))
        .unwrap();
    hosted.block_on(async move {
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .backoff(Backoff::exponential(
                Duration::from_millis(250),
                2.0,
                Duration::from_secs(1),
            ))
            .child(spec)
            .spawn(&bus)
            .await
            .unwrap();
        let actor =
            ForeignRef::from_actor_ref(tree.child::<ForeignActor<Counter>>("counter").unwrap())
                .with_gate(gate);
        for body in [&b"a"[..], b"boom", b"b", b"c"] {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = actor.ask(msg(5, body), None).await;
        }
        tree.stop().await;
    });
    journal.close().unwrap();
    let number = records(dir.path())
        .iter()
        .find(|r| r.kind == Kind::Started)
        .unwrap()
        .actor
        .id;

    let replay = |double: bool| {
        let foreign = Arc::new(Counter {
            peer: Mutex::new(None),
            double,
        });
        replay_alone(dir.path(), number, foreign)
    };
    let same = replay(false);
    assert!(same.is_same(), "{same}");
    assert_eq!(same.actors[0].inputs, 4);
    // Changed: the answers before and after the restart differ, the failure does not.
    let changed = replay(true);
    let inputs: Vec<u64> = changed.actors[0]
        .differences
        .iter()
        .map(|d| d.input)
        .collect();
    assert_eq!(inputs, [0, 2, 3], "{changed}");
    // A version that fails once more than recorded is restarted as often as recorded, no
    // more: it stops at its second failure, and the input after it is not handled.
    let brittle = replay_alone(dir.path(), number, Arc::new(Brittle(Counter::default())));
    let last = brittle.actors[0].differences.last().expect("differences");
    assert_eq!(last.input, 3, "{brittle}");
    assert!(last.now.contains("not handled"), "{brittle}");
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            peer: Mutex::new(None),
            double: false,
        }
    }
}

/// `Counter` that also fails on `b"b"`.
struct Brittle(Counter);

impl Foreign for Brittle {
    type Args = ();
    type State = u8;

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<u8, String> {
        Ok(0)
    }

    fn handle(&self, n: &mut u8, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        if msg.body == b"b" {
            return Err("brittle".into());
        }
        self.0.handle(n, msg)
    }

    fn recorded(&self, msg: &ForeignMessage, own_serialization: bool) -> ForeignRecord {
        self.0.recorded(msg, own_serialization)
    }

    fn stop(&self, _: u8, _: &StopReason) {}
}

/// Replays the recorded actor `number` of the journal in `dir` alone, as `foreign`, to the
/// end of the journal.
fn replay_alone<F: Foreign<Args = ()>>(
    dir: &std::path::Path,
    number: u64,
    foreign: Arc<F>,
) -> mycelium_journal::SetReport {
    let hosted = mycelium_foreign::HostedBus::new(true, 0, 1).unwrap();
    let bus = hosted.bus().clone();
    let reader = JournalReader::open(dir).unwrap();
    let task = hosted.handle().spawn(async move {
        let mut set = mycelium_journal::ReplaySet::new(&reader).unwrap();
        assert_eq!(set.restarts(number), 1);
        // Restarted in place after a failure, as many times as recorded, by the replay's link.
        mycelium_foreign::recording::spawn_replayed(
            &mut set,
            &bus,
            number,
            foreign,
            (),
            "Counter",
            mycelium_foreign::recording::contract_input,
        )
        .await
        .unwrap();
        set.run(mycelium_journal::ReplayMode::Compare)
            .await
            .unwrap()
    });
    hosted.block_on(task).unwrap()
}

/// A recorded actor takes every message through its mailbox, so its asker hears of a failure
/// from the host thread while the actor's task has yet to end the incarnation. A stop asked
/// for right then (a program that lets go of the actor at once) no longer overtakes the
/// failure: the actor ends with it, and so does its journal, whose replay would otherwise
/// differ (it recorded `stopped normally`).
#[test]
fn a_stop_right_after_a_failed_ask_leaves_the_failure_the_actors_end() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path());
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    // On one thread the asker, woken by the answer, runs before the actor's task takes the
    // marker: the race as a program's thread wins it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bus = rt.block_on(async { Bus::new() });
    for round in 0..100 {
        let reason = rt.block_on(async {
            let a = spawn_recorded(
                &bus,
                Arc::new(Counter::default()),
                (),
                SpawnOptions::new(),
                ForeignRecording::new(recording.clone(), "A"),
            )
            .await
            .unwrap();
            assert!(a.ask(msg(7, b"boom"), None).await.is_err());
            a.stop();
            a.wait_for_stop().await
        });
        assert!(reason.is_failure(), "round {round}: {reason}");
    }
    journal.close().unwrap();
    let normal = records(dir.path())
        .iter()
        .filter(|r| r.kind == Kind::Stopped && r.payload_text() == Some("stopped normally"))
        .count();
    assert_eq!(normal, 0, "no incarnation was recorded as stopped normally");
}

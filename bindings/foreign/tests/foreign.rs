//! Foreign actors: failures as panics, restarts in place, export by bytes, topics, threads.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use mycelium_actors::export::{DeliveryError, ExportError};
use mycelium_actors::{Bus, FailureKind, SpawnError, SpawnOptions, StopReason, SubscribeOptions};
use mycelium_codec::WireMessage;
use mycelium_contracts::{Heartbeat, Quote};
use mycelium_foreign::builtin::{Counter, Kind};
use mycelium_foreign::{
    child_spec, publish_bytes, publish_schema_bytes, spawn, subscribe_bytes,
    subscribe_schema_bytes, Foreign, ForeignActor, ForeignAskError, ForeignMessage, ForeignRef,
    ForeignSpawnError, ForeignTopicError,
};
use mycelium_supervisor::{Backoff, RestartStrategy, SupervisionEvent, Supervisor};

/// Counts messages; `b"boom"` fails; `b"none"` answers nothing; counts starts and stops.
#[derive(Default)]
struct Counting {
    starts: AtomicU32,
    stops: AtomicU32,
}

impl Foreign for Counting {
    type Args = u64;
    type State = u64;

    fn start(&self, first: &u64, _me: &ForeignRef<Self>) -> Result<u64, String> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        if *first == 666 {
            return Err("cannot start from 666".into());
        }
        Ok(*first)
    }

    fn handle(&self, n: &mut u64, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        match msg.body.as_slice() {
            b"boom" => return Err("boom in a foreign handler".into()),
            b"none" => return Ok(None),
            _ => {}
        }
        *n += 1;
        Ok(Some(ForeignMessage {
            type_id: msg.type_id,
            body: n.to_le_bytes().to_vec(),
        }))
    }

    fn stop(&self, _n: u64, _reason: &StopReason) {
        self.stops.fetch_add(1, Ordering::SeqCst);
    }
}

fn msg(body: &[u8]) -> ForeignMessage {
    ForeignMessage {
        type_id: 900,
        body: body.to_vec(),
    }
}

fn count(reply: &ForeignMessage) -> u64 {
    u64::from_le_bytes(reply.body.as_slice().try_into().expect("8 bytes"))
}

fn virtual_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

#[test]
fn a_failing_callback_is_a_failure_restarted_in_place_after_the_backoff() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let foreign = Arc::new(Counting::default());
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(3, Duration::from_secs(86_400))
            .backoff(Backoff::exponential(
                Duration::from_secs(3600),
                2.0,
                Duration::from_secs(7200),
            ))
            .child(child_spec("model", foreign.clone(), 10))
            .spawn(&bus)
            .await
            .unwrap();
        let model =
            ForeignRef::from_actor_ref(tree.child::<ForeignActor<Counting>>("model").unwrap());
        assert_eq!(count(&model.ask(msg(b""), None).await.unwrap()), 11);
        let before = bus.now();
        match model.ask(msg(b"boom"), None).await {
            Err(ForeignAskError::Failed { failure }) => {
                // In the words of the actor's language, naming the message, never the Rust
                // types that carry the call.
                assert_eq!(failure.kind, FailureKind::Raised);
                assert_eq!(
                    failure.to_string(),
                    "raised while handling `type id 900`: boom in a foreign handler"
                );
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        // The same ref, a fresh state from the same args, after an hour of bus time.
        assert_eq!(count(&model.ask(msg(b""), None).await.unwrap()), 11);
        assert!(bus.now() - before >= Duration::from_secs(3600));
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 2);
        assert_eq!(foreign.stops.load(Ordering::SeqCst), 1);
        let letters = bus.dead_letters().drain();
        assert_eq!(letters.len(), 1);
        let letter = letters[0].reason.to_string();
        assert!(
            letter.contains("raised while handling `type id 900`: boom in a foreign handler"),
            "{letter}"
        );
        assert!(
            !letter.contains("ForeignCall") && !letter.contains("panicked"),
            "{letter}"
        );
    });
}

#[test]
fn a_failing_start_is_reported_by_spawn() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let foreign = Arc::new(Counting::default());
        match spawn(&bus, foreign, 666, SpawnOptions::new()).await {
            Err(ForeignSpawnError::StartFailed(text)) => {
                assert!(text.contains("cannot start from 666"))
            }
            other => panic!("expected StartFailed, got {:?}", other.map(|r| r.id())),
        }
    });
}

#[test]
fn a_foreign_child_whose_first_start_fails_fails_the_tree() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let foreign = Arc::new(Counting::default());
        let spawned = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(3, Duration::from_secs(60))
            .child(child_spec("feed", foreign.clone(), 1))
            .child(child_spec("model", foreign.clone(), 666))
            .child(child_spec("later", foreign.clone(), 2))
            .spawn(&bus)
            .await;
        match spawned {
            Err(SpawnError::StartFailed { child, cause }) => {
                assert_eq!(child, "model");
                assert!(
                    cause.to_string().contains("cannot start from 666"),
                    "{cause}"
                );
            }
            other => panic!("expected StartFailed, got {:?}", other.map(|t| t.id())),
        }
        // Not retried; the child started before it was stopped, the later one never started.
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 2);
        assert_eq!(foreign.stops.load(Ordering::SeqCst), 1);
        assert!(bus.exit().is_none());
    });
}

#[test]
fn a_gated_child_service_names_its_last_child_once_the_tree_is_gone() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let foreign = Arc::new(Counting::default());
        let (spec, gate) = mycelium_foreign::gated_child_spec("model", foreign, 1);
        // Exported before the tree starts: the service finds its child through the gate.
        mycelium_foreign::export_gated_child(&bus, &gate, "model", &[900]).unwrap();
        // The service holds the gate weakly: once the tree is gone, so is the gate.
        drop(gate);
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .child(spec)
            .spawn(&bus)
            .await
            .unwrap();
        let child = tree.child::<ForeignActor<Counting>>("model").unwrap().id();
        bus.exports()
            .deliver("model", 900, b"x")
            .await
            .expect("delivered to the running child");
        tree.stop().await;
        match bus.exports().try_deliver("model", 900, b"x") {
            Err(DeliveryError::Stopped { actor, .. }) => assert_eq!(actor, child),
            other => panic!("expected the stopped child, got {other:?}"),
        }
    });
}

#[test]
fn export_by_bytes_and_its_errors() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let actor = spawn(&bus, Arc::new(Counting::default()), 0, SpawnOptions::new())
            .await
            .unwrap();
        let exports = bus.exports();
        assert_eq!(
            actor.export(&bus, "model", &[]),
            Err(ExportError::NoTypes {
                service: "model".into()
            })
        );
        assert_eq!(
            actor.export(&bus, "", &[900]),
            Err(ExportError::EmptyServiceName)
        );
        actor.export(&bus, "model", &[900]).unwrap();
        // All or nothing: 901 is not added when 900 is already taken.
        assert!(matches!(
            actor.export(&bus, "model", &[901, 900]),
            Err(ExportError::AlreadyExported { type_id: 900, .. })
        ));
        assert_eq!(exports.type_ids("model"), Some(vec![900]));

        let (t, body) = exports.ask("model", 900, b"").await.unwrap();
        assert_eq!((t, body), (900, 1u64.to_le_bytes().to_vec()));
        exports.deliver("model", 900, b"").await.unwrap();
        exports.try_deliver("model", 900, b"").unwrap();
        let (_, body) = exports.ask("model", 900, b"").await.unwrap();
        assert_eq!(body, 4u64.to_le_bytes());
        assert!(matches!(
            exports.ask("model", 901, b"").await,
            Err(DeliveryError::UnknownType { .. })
        ));
        // An ask answered with no reply fails, with the reason.
        match exports.ask("model", 900, b"none").await {
            Err(DeliveryError::Failed { failure, .. }) => {
                assert!(failure.to_string().contains("returned no reply"))
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        match actor.ask(msg(b"none"), None).await {
            Err(ForeignAskError::NoReply { type_id: 900 }) => {}
            other => panic!("expected NoReply, got {other:?}"),
        }
        // Unsupervised, a failure stops it for good; the service then reports it stopped.
        assert!(exports.ask("model", 900, b"boom").await.is_err());
        actor.wait_for_stop().await;
        assert!(matches!(
            exports.deliver("model", 900, b"").await,
            Err(DeliveryError::Stopped { .. })
        ));
    });
}

#[test]
fn topics_reach_foreign_subscribers_and_rust_ones() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let actor = spawn(&bus, Arc::new(Counting::default()), 0, SpawnOptions::new())
            .await
            .unwrap();
        let started = Kind::parse("quote_recorder")
            .unwrap()
            .spawn(&bus, "recorder", Some("md.quote.*".into()))
            .unwrap();
        started.await.unwrap();
        let sub = subscribe_bytes(
            &bus,
            Quote::TYPE_ID,
            "md.quote.*",
            SubscribeOptions::new(),
            Arc::new(actor.clone()),
        )
        .unwrap();
        let q = Quote {
            ts_ns: 5,
            instrument: 1,
            bid_px: 1.0,
            bid_qty: 1.0,
            ask_px: 2.0,
            ask_qty: 1.0,
        };
        let mut body = Vec::new();
        q.encode_body(&mut body);
        let report = publish_bytes(&bus, Quote::TYPE_ID, "md.quote.X", None, &body)
            .await
            .unwrap();
        assert_eq!(report.delivered, 2);
        // The foreign actor counted it; the Rust recorder saw it.
        assert_eq!(count(&actor.ask(msg(b""), None).await.unwrap()), 2);
        let mut hb = Vec::new();
        Heartbeat {
            ts_ns: 0,
            seq: 0,
            sender: String::new(),
        }
        .encode_body(&mut hb);
        let (_, seen) = bus.exports().ask("recorder", 900, &hb).await.unwrap();
        assert_eq!(Heartbeat::decode_body(&seen).unwrap().seq, 1);
        sub.cancel();
        let report = publish_bytes(&bus, Quote::TYPE_ID, "md.quote.X", None, &body)
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);
        assert_eq!(
            publish_bytes(&bus, 4242, "x", None, &body)
                .await
                .unwrap_err(),
            ForeignTopicError::UnknownType(4242)
        );
        assert!(matches!(
            publish_bytes(&bus, Quote::TYPE_ID, "md.quote.X", None, b"\xff")
                .await
                .unwrap_err(),
            ForeignTopicError::Delivery(DeliveryError::Decode { .. })
        ));
        assert!(matches!(
            subscribe_bytes(
                &bus,
                4242,
                "x",
                SubscribeOptions::new(),
                Arc::new(actor.clone())
            ),
            Err(ForeignTopicError::UnknownType(4242))
        ));
    });
}

#[test]
fn schema_topics_carry_a_schema_without_rust_types_between_foreign_actors() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let actor = spawn(&bus, Arc::new(Counting::default()), 0, SpawnOptions::new())
            .await
            .unwrap();
        let sub = subscribe_schema_bytes(
            &bus,
            7001,
            "desk.*",
            SubscribeOptions::new(),
            Arc::new(actor.clone()),
        )
        .unwrap();
        let report = publish_schema_bytes(&bus, 7001, "desk.orders", Some(3), b"order")
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);
        // Another type id on the same topic: not handed to the subscriber of 7001.
        publish_schema_bytes(&bus, 7002, "desk.orders", None, b"fill")
            .await
            .unwrap();
        // Not a match, and not typed: the typed topics of the same name see nothing.
        let report = publish_schema_bytes(&bus, 7001, "elsewhere", None, b"order")
            .await
            .unwrap();
        assert_eq!(report.delivered, 0);
        // The one publication of 7001 on desk.*, then this ask.
        assert_eq!(count(&actor.ask(msg(b""), None).await.unwrap()), 2);
        sub.cancel();
        let report = publish_schema_bytes(&bus, 7001, "desk.orders", None, b"order")
            .await
            .unwrap();
        assert_eq!(report.delivered, 0);
        assert!(matches!(
            publish_schema_bytes(&bus, 7001, "bad topic!", None, b"").await,
            Err(ForeignTopicError::Topic(_))
        ));
    });
}

#[test]
fn schema_publications_reach_rust_subscribers_of_an_exported_topic_type() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let actor = spawn(&bus, Arc::new(Counting::default()), 0, SpawnOptions::new())
            .await
            .unwrap();
        let _sub = subscribe_schema_bytes(
            &bus,
            Heartbeat::TYPE_ID,
            Heartbeat::TOPIC,
            SubscribeOptions::new(),
            Arc::new(actor.clone()),
        )
        .unwrap();
        let mut rust = bus
            .subscribe_stream::<Heartbeat>(Heartbeat::TOPIC, SubscribeOptions::new())
            .unwrap();
        let mut body = Vec::new();
        Heartbeat {
            ts_ns: 1,
            seq: 7,
            sender: "model".into(),
        }
        .encode_body(&mut body);
        // Until the bus knows the Rust type of the id, only the foreign subscriber has it.
        let report = publish_schema_bytes(&bus, Heartbeat::TYPE_ID, Heartbeat::TOPIC, None, &body)
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);
        assert!(rust.try_recv().is_none());
        bus.exports().export_topic::<Heartbeat>().unwrap();
        let report =
            publish_schema_bytes(&bus, Heartbeat::TYPE_ID, Heartbeat::TOPIC, Some(4), &body)
                .await
                .unwrap();
        assert_eq!(report.delivered, 2);
        let heard = rust.try_recv().expect("the Rust subscriber has it");
        assert_eq!((heard.msg().seq, heard.key()), (7, Some(4)));
        // A body that is not the exported type's: refused, and published to nobody.
        assert!(matches!(
            publish_schema_bytes(&bus, Heartbeat::TYPE_ID, Heartbeat::TOPIC, None, b"\xff").await,
            Err(ForeignTopicError::Delivery(DeliveryError::Decode { .. }))
        ));
        assert!(rust.try_recv().is_none());
        // Both publications that went out, then this ask.
        assert_eq!(count(&actor.ask(msg(b""), None).await.unwrap()), 3);
    });
}

/// Blocks in `handle` until told to go on: shows callbacks do not occupy a runtime worker.
struct Blocking {
    go: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Foreign for Blocking {
    type Args = ();
    type State = mpsc::Receiver<()>;

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<Self::State, String> {
        self.go
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| "started twice".to_string())
    }

    fn handle(
        &self,
        go: &mut mpsc::Receiver<()>,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        go.recv().map_err(|e| e.to_string())?;
        Ok(Some(msg))
    }

    fn stop(&self, _: mpsc::Receiver<()>, _: &StopReason) {}
}

#[test]
fn a_blocked_callback_leaves_the_only_worker_to_rust_actors() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bus = Bus::new();
        let (go, wait) = mpsc::channel();
        let blocking = spawn(
            &bus,
            Arc::new(Blocking {
                go: Mutex::new(Some(wait)),
            }),
            (),
            SpawnOptions::new(),
        )
        .await
        .unwrap();
        let pending = tokio::spawn({
            let blocking = blocking.clone();
            async move { blocking.ask(msg(b"x"), None).await }
        });
        // While the callback blocks, a Rust actor on the one worker still answers.
        Kind::parse("counter")
            .unwrap()
            .spawn(&bus, "counter", None)
            .unwrap()
            .await
            .unwrap();
        let mut hb = Vec::new();
        Heartbeat {
            ts_ns: 0,
            seq: 3,
            sender: String::new(),
        }
        .encode_body(&mut hb);
        let (_, total) = bus.exports().ask("counter", 900, &hb).await.unwrap();
        assert_eq!(Heartbeat::decode_body(&total).unwrap().seq, 3);
        go.send(()).unwrap();
        assert_eq!(pending.await.unwrap().unwrap().body, b"x");
    });
}

#[test]
fn a_builtin_child_exported_by_name_answers_after_it_was_killed_and_spawned_anew() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let (restarted, mut restarts) = tokio::sync::mpsc::unbounded_channel();
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .backoff(Backoff::exponential(
                Duration::from_millis(100),
                1.0,
                Duration::from_millis(100),
            ))
            .on_event(move |e| {
                if let SupervisionEvent::Restarted { id, .. } = e {
                    let _ = restarted.send(*id);
                }
            })
            .child(Kind::parse("counter").unwrap().child_spec("counter", None))
            .spawn(&bus)
            .await
            .unwrap();
        assert!(Kind::parse("relay")
            .unwrap()
            .export_child(&bus, &tree, "counter", "wrong")
            .unwrap_err()
            .contains("no `counter` child of kind relay"));
        Kind::parse("counter")
            .unwrap()
            .export_child(&bus, &tree, "counter", "counter")
            .unwrap();
        let beat = |seq| {
            let mut body = Vec::new();
            Heartbeat {
                ts_ns: 0,
                seq,
                sender: String::new(),
            }
            .encode_body(&mut body);
            body
        };
        let total = |reply: (u16, Vec<u8>)| Heartbeat::decode_body(&reply.1).unwrap().seq;
        let exports = bus.exports();
        assert_eq!(
            total(exports.ask("counter", 900, &beat(3)).await.unwrap()),
            3
        );

        let first = tree.child::<Counter>("counter").unwrap();
        first.kill();
        first.wait_for_stop().await;
        // No incarnation runs until the restart: refused as a stopped actor.
        assert!(matches!(
            exports.ask("counter", 900, &beat(5)).await,
            Err(DeliveryError::Stopped { .. })
        ));
        let id = tokio::time::timeout(Duration::from_secs(60), restarts.recv())
            .await
            .expect("the counter was restarted")
            .unwrap();
        assert_ne!(id, first.id(), "a killed child is spawned anew");
        // The service reaches the new incarnation (a fresh count) by name.
        exports.deliver("counter", 900, &beat(1)).await.unwrap();
        assert_eq!(
            total(exports.ask("counter", 900, &beat(4)).await.unwrap()),
            5
        );
        tree.stop().await;
    });
}

//! A crate's own Rust actors, registered by name: started, exported, supervised, refused.

use std::time::Duration;

use mycelium_actors::export::DeliveryError;
use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, Heartbeat, PACKAGE, SCHEMA_DIGEST};
use mycelium_foreign::registry::{
    register, registered, ArgUse, Kind, RegisterError, RustActor, SchemaId,
};
use mycelium_supervisor::{Backoff, RestartStrategy, SupervisionEvent, Supervisor};

/// Sums the ids of `CancelOrder` tells times its factor; a `Heartbeat` ask answers with the sum.
struct Summer {
    factor: u64,
    sum: u64,
}

impl Actor for Summer {
    type Args = u64;
    async fn on_start(factor: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        if factor == 0 {
            return Err("a factor of 0 sums nothing".into());
        }
        Ok(Summer { factor, sum: 0 })
    }
}

impl Handler<CancelOrder> for Summer {
    type Reply = ();
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) {
        self.sum += c.client_order_id * self.factor;
    }
}

impl Handler<Heartbeat> for Summer {
    type Reply = Heartbeat;
    async fn handle(&mut self, hb: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        Heartbeat {
            seq: self.sum,
            sender: "summer".into(),
            ..hb
        }
    }
}

fn summer() -> Kind {
    static KIND: std::sync::OnceLock<Kind> = std::sync::OnceLock::new();
    *KIND.get_or_init(|| {
        register(
            RustActor::<Summer>::new("test_summer", SchemaId::new(PACKAGE, SCHEMA_DIGEST))
                .args(
                    ArgUse::Optional,
                    "the factor, a whole number (default 1)",
                    |arg| match arg {
                        None => Ok(1),
                        Some(text) => text.parse().map_err(|_| {
                            format!("the factor must be a whole number, not {text:?}")
                        }),
                    },
                )
                .takes::<CancelOrder>()
                .answers::<Heartbeat>(),
        )
        .unwrap()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn count(value: u64) -> Vec<u8> {
    let mut body = Vec::new();
    CancelOrder {
        client_order_id: value,
        instrument: 1,
        ts_ns: 0,
    }
    .encode_body(&mut body);
    body
}

fn beat() -> Vec<u8> {
    let mut body = Vec::new();
    Heartbeat {
        ts_ns: 7,
        seq: 0,
        sender: String::new(),
    }
    .encode_body(&mut body);
    body
}

fn sum(reply: (u16, Vec<u8>)) -> u64 {
    assert_eq!(reply.0, Heartbeat::TYPE_ID);
    Heartbeat::decode_body(&reply.1).unwrap().seq
}

#[test]
fn a_registered_actor_is_found_by_name_and_takes_each_of_its_messages() {
    runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let kind = Kind::parse("test_summer").unwrap_or_else(|_| summer());
        assert_eq!(kind, summer());
        assert_eq!(kind.schema().digest, SCHEMA_DIGEST);
        let mut ids = vec![CancelOrder::TYPE_ID, Heartbeat::TYPE_ID];
        ids.sort_unstable();
        assert_eq!(kind.type_ids(), ids.as_slice());
        assert!(registered().contains(&kind));

        kind.spawn(&bus, "sum", Some("3".into()))
            .unwrap()
            .await
            .unwrap();
        let exports = bus.exports();
        assert_eq!(exports.type_ids("sum").unwrap(), ids);
        exports
            .deliver("sum", CancelOrder::TYPE_ID, &count(2))
            .await
            .unwrap();
        exports
            .deliver("sum", CancelOrder::TYPE_ID, &count(5))
            .await
            .unwrap();
        assert_eq!(
            sum(exports
                .ask("sum", Heartbeat::TYPE_ID, &beat())
                .await
                .unwrap()),
            21
        );
    });
}

#[test]
fn bad_names_arguments_starts_and_services_are_refused_and_leave_nothing_running() {
    runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let kind = summer();
        let unknown = Kind::parse("execution").unwrap_err();
        assert!(unknown.contains("no built-in Rust actor `execution`, and no crate"), "{unknown}");
        for listed in [
            "counter",
            "relay (arg: the service to ask)",
            "test_summer (optional arg",
        ] {
            assert!(unknown.contains(listed), "{unknown}");
        }

        let bad_arg = kind.spawn(&bus, "sum", Some("three".into())).err().unwrap();
        assert!(
            bad_arg.contains("refuses its arg: the factor must be a whole number, not \"three\""),
            "{bad_arg}"
        );
        assert!(Kind::parse("counter")
            .unwrap()
            .check_arg(&Some("x".into()))
            .unwrap_err()
            .contains("takes no arg"));
        assert!(Kind::parse("relay")
            .unwrap()
            .check_arg(&None)
            .unwrap_err()
            .contains("needs an arg: the service to ask"));

        let failed = kind
            .spawn(&bus, "sum", Some("0".into()))
            .unwrap()
            .await
            .unwrap_err();
        assert!(
            failed.contains("could not start: failed: it returned an error while starting: a factor of 0 sums nothing"),
            "{failed}"
        );
        assert_eq!(bus.exports().type_ids("sum"), None);

        kind.spawn(&bus, "sum", None).unwrap().await.unwrap();
        let taken = kind.spawn(&bus, "sum", None).err().unwrap();
        assert!(taken.contains("the service name `sum` is taken"), "{taken}");
    });
}

#[test]
fn registrations_that_cannot_work_are_refused() {
    let schema = SchemaId::new(PACKAGE, SCHEMA_DIGEST);
    summer();
    let again = register(
        RustActor::<Summer>::new("test_summer", schema)
            .args(ArgUse::None, "", |_| Ok(1))
            .answers::<Heartbeat>(),
    );
    assert_eq!(
        again.unwrap_err(),
        RegisterError::Taken("test_summer".into())
    );
    let no_args = register(RustActor::<Summer>::new("test_no_args", schema).answers::<Heartbeat>());
    assert_eq!(
        no_args.unwrap_err(),
        RegisterError::NoArgs("test_no_args".into())
    );
    let none =
        register(RustActor::<Summer>::new("test_none", schema).args(ArgUse::None, "", |_| Ok(1)));
    assert_eq!(
        none.unwrap_err(),
        RegisterError::NoMessages("test_none".into())
    );
    let twice = register(
        RustActor::<Summer>::new("test_twice", schema)
            .args(ArgUse::None, "", |_| Ok(1))
            .answers::<Heartbeat>()
            .answers::<Heartbeat>(),
    );
    assert!(matches!(
        twice.unwrap_err(),
        RegisterError::DuplicateMessage { .. }
    ));
    assert!(Kind::parse("test_twice").is_err());
}

#[test]
fn a_registered_child_is_restarted_and_its_service_follows_it() {
    runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let kind = summer();
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
            .child(kind.child_spec("summer", Some("10".into())))
            .spawn(&bus)
            .await
            .unwrap();
        kind.export_child(&bus, &tree, "summer", "sum").unwrap();
        let exports = bus.exports();
        exports
            .deliver("sum", CancelOrder::TYPE_ID, &count(1))
            .await
            .unwrap();
        assert_eq!(
            sum(exports
                .ask("sum", Heartbeat::TYPE_ID, &beat())
                .await
                .unwrap()),
            10
        );

        let first = tree.child::<Summer>("summer").unwrap();
        first.kill();
        first.wait_for_stop().await;
        assert!(matches!(
            exports.ask("sum", Heartbeat::TYPE_ID, &beat()).await,
            Err(DeliveryError::Stopped { .. })
        ));
        let id = tokio::time::timeout(Duration::from_secs(60), restarts.recv())
            .await
            .expect("the child was restarted")
            .unwrap();
        assert_ne!(id, first.id());
        // The new incarnation, built from the same argument, starts from nothing.
        exports
            .deliver("sum", CancelOrder::TYPE_ID, &count(2))
            .await
            .unwrap();
        assert_eq!(
            sum(exports
                .ask("sum", Heartbeat::TYPE_ID, &beat())
                .await
                .unwrap()),
            20
        );

        let wrong = Kind::parse("counter")
            .unwrap()
            .export_child(&bus, &tree, "summer", "other");
        assert!(wrong
            .unwrap_err()
            .contains("no `summer` child of kind counter"));
    });
}

#[test]
fn a_child_whose_argument_does_not_build_fails_its_start_with_why() {
    runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let started = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(0, Duration::from_secs(1))
            .child(summer().child_spec("summer", Some("ten".into())))
            .spawn(&bus)
            .await;
        let Err(failed) = started else {
            panic!("the tree cannot start its child");
        };
        assert!(
            failed
                .to_string()
                .contains("the factor must be a whole number"),
            "{failed}"
        );
    });
}

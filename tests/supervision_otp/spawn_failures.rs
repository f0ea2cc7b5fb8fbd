//! Spawns that fail: bad specs are refused before anything starts, and a child that fails to
//! start fails the spawn (or `add_child`) and leaves nothing behind.

use std::time::Duration;

use crate::common::*;
use crate::flaky::{Flaky, FlakyArgs};
use crate::{drain, events};
use mycelium::actors::{Phase, SpawnError};
use mycelium::prelude::*;
use mycelium::supervisor::{AutoShutdown, Pool, Restart, SpecError, SupervisionEvent};
use mycelium::supervisor::{SupervisorBuilder, SupervisorError};

#[tokio::test(start_paused = true)]
async fn bad_specs_are_refused_before_anything_starts() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let probe = |name| ChildSpec::new::<Probe>(name, ProbeArgs::new(name, &log));
    let cases: Vec<(SupervisorBuilder, SpecError)> = vec![
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .intensity(3, Duration::ZERO)
                .child(probe("a")),
            SpecError::ZeroPeriod,
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .child(probe("a"))
                .child(probe("a")),
            SpecError::DuplicateChild("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::supervisor(
                "mid",
                Supervisor::builder(RestartStrategy::OneForOne)
                    .child(probe("b"))
                    .child(probe("b")),
            )),
            SpecError::DuplicateChild("b".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(probe("")),
            SpecError::EmptyName,
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .child(probe("a").shutdown(Duration::ZERO)),
            SpecError::ZeroShutdown("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .auto_shutdown(AutoShutdown::AnySignificant)
                .child(probe("a").significant(true)),
            SpecError::SignificantPermanent("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .child(probe("a").restart(Restart::Transient).significant(true)),
            SpecError::SignificantWithoutAutoShutdown("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(probe("a").pinned().hibernate()),
            SpecError::PinnedHibernating("a".into()),
        ),
        (
            Pool::<Probe>::builder("p")
                .into_supervisor()
                .auto_shutdown(AutoShutdown::AnySignificant),
            SpecError::PoolAutoShutdown,
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::supervisor(
                "sessions",
                Pool::<Probe>::builder("p")
                    .into_supervisor()
                    .auto_shutdown(AutoShutdown::AllSignificant),
            )),
            SpecError::PoolAutoShutdown,
        ),
    ];
    for (builder, expected) in cases {
        assert_eq!(builder.validate(), Err(expected.clone()));
        match builder.spawn(&bus).await {
            Err(SpawnError::InvalidSpec(text)) => assert_eq!(text, expected.to_string()),
            other => panic!("{expected:?}: {other:?}"),
        }
    }
    assert!(log.take().is_empty(), "nothing started");
    assert_eq!(bus.actor_count(), 0);

    // Added at run time: refused the same way.
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .spawn(&bus)
        .await
        .unwrap();
    let pool = Pool::<Probe>::builder("p")
        .into_supervisor()
        .auto_shutdown(AutoShutdown::AnySignificant);
    assert_eq!(
        tree.add_child(ChildSpec::supervisor("sessions", pool))
            .await,
        Err(SupervisorError::InvalidSpec(SpecError::PoolAutoShutdown))
    );
}

/// A child whose `on_start` fails during the initial start fails the spawn with its error;
/// the children started before it stop in reverse order; the later ones never start.
#[tokio::test(start_paused = true)]
async fn an_initial_start_failure_fails_the_spawn_at_once() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let result = Supervisor::builder(RestartStrategy::OneForOne)
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .child(ChildSpec::new::<Flaky>("b", FlakyArgs::new("b", &log)))
        .child(ChildSpec::new::<Flaky>("db", FlakyArgs::broken("db", &log)))
        .child(ChildSpec::new::<Flaky>("c", FlakyArgs::new("c", &log)))
        .spawn(&bus)
        .await;
    match result {
        Err(SpawnError::StartFailed { child, cause }) => {
            assert_eq!(child, "db");
            assert_eq!(cause.phase, Phase::Start);
            assert_eq!(&*cause.reason, "db down");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(
        log.take(),
        ["start a", "start b", "fail db", "stop b", "stop a"]
    );
    assert_eq!(bus.actor_count(), 0);
    assert!(bus.exit().is_none(), "the bus did not fail");
    let started: Vec<_> = drain(&mut events)
        .into_iter()
        .filter(|e| matches!(e, SupervisionEvent::Started { .. }))
        .filter_map(|e| e.child().map(str::to_string))
        .collect();
    assert_eq!(
        started,
        ["a", "b"],
        "no Started event for the child that failed"
    );
    // The supervisor's own notices of its children's exits are not dead letters: the events
    // reported them. (Only the letters of children's mail, if any, are.)
    let letters = bus.dead_letters().drain();
    assert!(
        letters.iter().all(|l| l.actor_type != "Supervisor"),
        "{letters:?}"
    );
}

/// A nested supervisor whose child fails to start fails the parent's spawn too.
#[tokio::test(start_paused = true)]
async fn a_nested_start_failure_fails_the_root_spawn() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Flaky>("db", FlakyArgs::broken("db", &log)));
    let result = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(&bus)
        .await;
    match result {
        Err(SpawnError::StartFailed { child, cause }) => {
            assert_eq!(child, "mid");
            assert!(cause.reason.contains("db"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.take(), ["start a", "fail db", "stop a"]);
    assert_eq!(bus.actor_count(), 0);
}

/// `add_child` whose start fails returns the error and keeps nothing; the supervisor and
/// the bus carry on.
#[tokio::test(start_paused = true)]
async fn add_child_start_failure_keeps_nothing() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    for _ in 0..2 {
        match tree
            .add_child(ChildSpec::new::<Flaky>("db", FlakyArgs::broken("db", &log)))
            .await
        {
            Err(SupervisorError::Spawn(SpawnError::StartFailed { child, .. })) => {
                assert_eq!(child, "db")
            }
            other => panic!("{other:?}"),
        }
    }
    let names: Vec<_> = tree
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a"]);
    assert!(tree.actor_ref().is_alive());
    assert!(bus.exit().is_none());
    assert_eq!(bus.actor_count(), 2);
    assert_eq!(log.take(), ["start a", "fail db", "fail db"]);
}

//! Nested supervisors: each subtree keeps its own children, a killed or restarted
//! sub-supervisor leaves no orphans and comes back with its declared children, a root stops
//! only when the whole tree is down, and addresses follow a child across its supervisor's
//! respawn.

use std::time::Duration;

use crate::common::*;
use crate::events;
use crate::flaky::{Flaky, FlakyArgs, Ping};
use mycelium::actors::{AskError, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent, SupervisorRef};
use tokio::sync::mpsc;

/// Supervisors spawned from clones of one builder each have their own directory: the refs of
/// one subtree, or of one root, never reach another's children, and stopping one leaves the
/// other's children alone.
#[tokio::test(start_paused = true)]
async fn supervisors_from_one_builder_keep_their_own_children() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let sub = Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::new::<Flaky>(
        "worker",
        FlakyArgs::new("worker", &log),
    ));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::supervisor("a", sub.clone()))
        .child(ChildSpec::supervisor("b", sub.clone()))
        .spawn(&bus)
        .await
        .unwrap();
    let worker_of = |name: &str| {
        root.child_supervisor(name)
            .unwrap()
            .child::<Flaky>("worker")
            .unwrap()
    };
    let (wa, wb) = (worker_of("a"), worker_of("b"));
    assert_ne!(wa.id(), wb.id(), "each subtree reaches its own worker");
    root.stop_child("a").await.unwrap();
    assert!(!wa.is_alive());
    assert!(wb.is_alive(), "stopping a left b's worker alone");
    assert_eq!(worker_of("b").id(), wb.id(), "b's worker was not restarted");

    // Two roots from one builder, on two buses.
    let (bus1, bus2) = (virtual_bus(2), virtual_bus(3));
    let root1 = sub.clone().spawn(&bus1).await.unwrap();
    let root2 = sub.spawn(&bus2).await.unwrap();
    root1.stop().await;
    let w2 = root2
        .child::<Flaky>("worker")
        .expect("root 2 still lists its worker");
    assert!(w2.is_alive());
    root.stop().await;
    root2.stop().await;
}

/// A sub-supervisor killed at its shutdown deadline used to leave its children running.
/// Now whoever kills it stops its subtree, and `stop()` returns only when all are down.
#[tokio::test(start_paused = true)]
async fn a_killed_sub_supervisor_leaves_no_orphans() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne).child(
        ChildSpec::new::<Flaky>("worker", FlakyArgs::new("worker", &log))
            .shutdown(Duration::from_secs(60)),
    );
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::supervisor("mid", mid).shutdown(Duration::from_secs(1)))
        .spawn(&bus)
        .await
        .unwrap();
    let worker = root
        .child_supervisor("mid")
        .unwrap()
        .child::<Flaky>("worker")
        .unwrap();
    worker.tell(Hang).await.unwrap();
    let reason = root.stop().await;
    assert_eq!(reason, StopReason::Shutdown);
    assert!(
        !worker.is_alive(),
        "the worker outlived its killed supervisor"
    );
    assert_eq!(worker.stop_reason(), Some(StopReason::Killed));
    assert_eq!(bus.actor_count(), 0);
    assert_eq!(
        bus.now(),
        Duration::from_secs(1),
        "killed at the mid's deadline"
    );
}

/// A root (one-for-one, no backoff, its events) over the nested supervisor `mid`, which
/// runs a `Flaky` `worker`.
async fn root_over_mid(
    bus: &Bus,
    log: &Log,
) -> (SupervisorRef, mpsc::UnboundedReceiver<SupervisionEvent>) {
    let (observer, events) = events();
    let mid = Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::new::<Flaky>(
        "worker",
        FlakyArgs::new("worker", log),
    ));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(bus)
        .await
        .unwrap();
    (root, events)
}

/// A sub-supervisor killed by someone is restarted by its parent with fresh children; the
/// old ones do not run beside the new ones.
#[tokio::test(start_paused = true)]
async fn a_restarted_killed_sub_supervisor_does_not_run_old_children_beside_new_ones() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (root, mut events) = root_over_mid(&bus, &log).await;
    let mid_ref = root.child_supervisor("mid").unwrap();
    let old = mid_ref.child::<Flaky>("worker").unwrap();
    mid_ref.actor_ref().kill();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("mid")).await;
    assert!(!old.is_alive(), "the old worker still runs");
    let new = root
        .child_supervisor("mid")
        .unwrap()
        .child::<Flaky>("worker")
        .unwrap();
    assert!(new.is_alive());
    assert_ne!(new.id(), old.id());
    // root, mid, worker
    assert_eq!(bus.actor_count(), 3);
}

/// `root.stop()` returns only when every grandchild has stopped (their `on_stop` ran).
#[tokio::test(start_paused = true)]
async fn root_stop_returns_when_the_whole_tree_is_down() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let leaf = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)))
        .child(ChildSpec::new::<Probe>("y", ProbeArgs::new("y", &log)));
    let mid = Supervisor::builder(RestartStrategy::OneForAll)
        .child(ChildSpec::supervisor("leaf", leaf))
        .child(ChildSpec::new::<Probe>("z", ProbeArgs::new("z", &log)));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(&bus)
        .await
        .unwrap();
    assert_eq!(log.take(), ["start x", "start y", "start z"]);
    root.stop().await;
    assert_eq!(log.take(), ["stop z", "stop y", "stop x"]);
    assert_eq!(bus.actor_count(), 0);
}

/// A restarted sub-supervisor comes back with its declared children only.
#[tokio::test(start_paused = true)]
async fn a_restarted_sub_supervisor_has_its_declared_children_only() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let mid = Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::new::<Probe>(
        "declared",
        ProbeArgs::new("declared", &log),
    ));
    let root = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::supervisor("mid", mid))
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let mid_ref = root.child_supervisor("mid").unwrap();
    mid_ref
        .add_child(ChildSpec::new::<Probe>(
            "added",
            ProbeArgs::new("added", &log),
        ))
        .await
        .unwrap();
    root.child::<Probe>("w").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("w")).await;
    let names: Vec<_> = mid_ref
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["declared"]);
}

/// An address got from a nested supervisor follows its child also after that supervisor was
/// killed and spawned anew by its parent (a new ref and a new directory): it finds the
/// supervisor again by name from the root. It stays alive meanwhile, and once the parent
/// gives the subtree up it turns dead.
#[tokio::test(start_paused = true)]
async fn an_address_from_a_nested_supervisor_follows_its_child_across_the_supervisors_respawn() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (root, mut events) = root_over_mid(&bus, &log).await;
    let mid_ref = root.child_supervisor("mid").unwrap();
    let tells = mid_ref.child_recipient::<Flaky, Ping>("worker").unwrap();
    let asks = mid_ref
        .child_reply_recipient::<Flaky, Ping>("worker")
        .unwrap();
    let old = mid_ref.child::<Flaky>("worker").unwrap();
    asks.ask(Ping).await.unwrap();
    mid_ref.actor_ref().kill();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("mid")).await;
    let new = root
        .child_supervisor("mid")
        .unwrap()
        .child::<Flaky>("worker")
        .unwrap();
    assert_ne!(new.id(), old.id());
    assert!(tells.is_alive() && asks.is_alive());
    tells.tell(Ping).await.unwrap();
    asks.ask(Ping).await.unwrap();
    assert_eq!(asks.id(), new.id(), "the new worker answers");
    assert_eq!(tells.id(), new.id());
    // The root gives the subtree up: the addresses turn dead and refuse.
    root.stop_child("mid").await.unwrap();
    assert!(!asks.is_alive() && !tells.is_alive());
    assert!(matches!(asks.ask(Ping).await, Err(AskError::Closed(_))));
    root.stop().await;
}

//! A tree that is shut down or killed takes its children with it, and its supervisors' own
//! bookkeeping leaves no dead letters.

use std::time::Duration;

use crate::common::*;
use mycelium::actors::StopReason;
use mycelium::prelude::*;

#[tokio::test(start_paused = true)]
async fn shutting_a_tree_down_leaves_no_dead_letters_of_its_own() {
    let bus = virtual_bus(9);
    let log = Log::default();
    let inner = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)))
        .child(ChildSpec::new::<Probe>("y", ProbeArgs::new("y", &log)));
    let _tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::supervisor("inner", inner))
        .spawn(&bus)
        .await
        .unwrap();
    bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        bus.dead_letters().total(),
        0,
        "the supervisors' own bookkeeping is not a lost message"
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_supervisor_takes_its_children_with_it_and_reports_no_bookkeeping() {
    let bus = virtual_bus(10);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let a = tree.child::<Probe>("a").unwrap();
    tree.actor_ref().kill();
    assert_eq!(tree.wait_for_stop().await, StopReason::Killed);
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);
    // Let the children's exits settle.
    tokio::task::yield_now().await;
    assert_eq!(bus.dead_letters().total(), 0);
}

//! Restart strategies: which of three children a crash of the middle one stops and starts
//! again, and in which order.

use std::time::Duration;

use crate::common::*;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent, SupervisorRef};

async fn three_children(
    strategy: RestartStrategy,
    log: &Log,
) -> (
    SupervisorRef,
    tokio::sync::mpsc::UnboundedReceiver<SupervisionEvent>,
) {
    let bus = virtual_bus(1);
    let (observer, events) = event_channel();
    let tree = Supervisor::builder(strategy)
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", log)))
        .child(ChildSpec::new::<Probe>("c", ProbeArgs::new("c", log)))
        .spawn(&bus)
        .await
        .unwrap();
    (tree, events)
}

async fn crash_b_and_collect(strategy: RestartStrategy, restarts: usize) -> Vec<String> {
    quiet_panics();
    let log = Log::default();
    let (tree, mut events) = three_children(strategy, &log).await;
    assert_eq!(log.take(), ["start a", "start b", "start c"]);
    let b = tree.child::<Probe>("b").unwrap();
    b.tell(Crash).await.unwrap();
    for _ in 0..restarts {
        next_event(&mut events, is_restarted).await;
    }
    // Every child answers after the restarts.
    for name in ["a", "b", "c"] {
        tree.child::<Probe>(name).unwrap().ask(Seen).await.unwrap();
    }
    log.take()
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let order = crash_b_and_collect(RestartStrategy::OneForOne, 1).await;
    assert_eq!(order, ["stop b", "start b"]);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_stops_in_reverse_and_starts_in_order() {
    let order = crash_b_and_collect(RestartStrategy::OneForAll, 3).await;
    assert_eq!(
        order,
        ["stop b", "stop c", "stop a", "start a", "start b", "start c"]
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let order = crash_b_and_collect(RestartStrategy::RestForOne, 2).await;
    assert_eq!(order, ["stop b", "stop c", "start b", "start c"]);
}

//! Stop reasons: a child's own reason is kept through a stop or a give-up, asked stops end
//! with `Shutdown` and a child's own stop with `Normal`.

use crate::common::*;
use crate::{drain, events, ms};
use mycelium::actors::{BusExit, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::{Restart, SupervisionEvent};
use tokio::sync::oneshot;

/// Giving up keeps each child's own reason; a child that crashes while its supervisor
/// stops produces a `Failed` event with its reason.
#[tokio::test(start_paused = true)]
async fn reasons_are_kept() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .child(ChildSpec::new::<Probe>(
            "quiet",
            ProbeArgs::new("quiet", &log),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let quiet = tree.child::<Probe>("quiet").unwrap();
    let (go, wait) = oneshot::channel();
    w.tell(CrashAfter(wait)).await.unwrap();
    let stopping = {
        let tree = tree.clone();
        tokio::spawn(async move { tree.stop().await })
    };
    // `quiet` stops first (reverse order), then the supervisor waits for `w`.
    quiet.wait_for_stop().await;
    go.send(()).unwrap();
    stopping.await.unwrap();
    match w.stop_reason() {
        Some(StopReason::Failed(f)) => assert_eq!(&*f.reason, "boom"),
        other => panic!("{other:?}"),
    }
    assert_eq!(quiet.stop_reason(), Some(StopReason::Shutdown));
    let all = drain(&mut events);
    assert!(
        all.iter().any(|e| matches!(e, SupervisionEvent::Failed { child, reason: StopReason::Failed(_), .. } if &**child == "w")),
        "{all:?}"
    );
}

/// After giving up, a child that failed keeps its failure as its final reason.
#[tokio::test(start_paused = true)]
async fn giving_up_does_not_overwrite_the_childs_reason() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(0, ms(1000))
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)).restart(Restart::Permanent))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    w.tell(Crash).await.unwrap();
    match w.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(&*f.reason, "crash requested"),
        other => panic!("{other}"),
    }
    assert!(matches!(bus.wait_stopped().await, BusExit::Failed(_)));
}

/// A stop the supervisor asked for ends with `Shutdown`; a child's own stop with `Normal`.
#[tokio::test(start_paused = true)]
async fn asked_stops_are_shutdown_and_own_stops_are_normal() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .on_event(observer)
        .child(
            ChildSpec::new::<Probe>("own", ProbeArgs::new("own", &log)).restart(Restart::Transient),
        )
        .child(ChildSpec::new::<Probe>(
            "asked",
            ProbeArgs::new("asked", &log),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let own = tree.child::<Probe>("own").unwrap();
    let asked = tree.child::<Probe>("asked").unwrap();
    own.tell(Exit).await.unwrap();
    assert_eq!(own.wait_for_stop().await, StopReason::Normal);
    tree.stop_child("asked").await.unwrap();
    assert_eq!(asked.wait_for_stop().await, StopReason::Shutdown);
    let stopped: Vec<(String, StopReason)> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            SupervisionEvent::Stopped { child, reason, .. } => Some((child.to_string(), reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stopped,
        [
            ("own".to_string(), StopReason::Normal),
            ("asked".to_string(), StopReason::Shutdown)
        ]
    );
}

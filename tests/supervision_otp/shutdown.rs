//! Shutdown: auto-shutdown when significant children are done, immediate kills, shutdown
//! deadlines, and `Bus::shutdown` stopping a tree children first.

use std::time::Duration;

use crate::common::*;
use crate::flaky::{Flaky, FlakyArgs};
use crate::{drain, events, ms};
use mycelium::actors::StopReason;
use mycelium::prelude::*;
use mycelium::supervisor::{AutoShutdown, Restart, Shutdown, SupervisionEvent};

/// A supervisor ends normally when its significant child is done; only exits the child
/// causes itself count.
#[tokio::test(start_paused = true)]
async fn auto_shutdown_when_significant_children_are_done() {
    for (mode, exits, ends) in [
        (AutoShutdown::AnySignificant, 1, true),
        (AutoShutdown::AllSignificant, 1, false),
        (AutoShutdown::AllSignificant, 2, true),
    ] {
        let bus = virtual_bus(1);
        let log = Log::default();
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .auto_shutdown(mode)
            .child(ChildSpec::new::<Probe>(
                "feed",
                ProbeArgs::new("feed", &log),
            ))
            .child(
                ChildSpec::new::<Probe>("r1", ProbeArgs::new("r1", &log))
                    .restart(Restart::Transient)
                    .significant(true),
            )
            .child(
                ChildSpec::new::<Probe>("r2", ProbeArgs::new("r2", &log))
                    .restart(Restart::Temporary)
                    .significant(true),
            )
            .spawn(&bus)
            .await
            .unwrap();
        let feed = tree.child::<Probe>("feed").unwrap();
        for name in ["r1", "r2"].into_iter().take(exits) {
            let r = tree.child::<Probe>(name).unwrap();
            r.tell(Exit).await.unwrap();
            r.wait_for_stop().await;
        }
        if ends {
            assert_eq!(tree.wait_for_stop().await, StopReason::Normal, "{mode:?}");
            assert!(!feed.is_alive());
            assert_eq!(bus.actor_count(), 0);
        } else {
            assert_eq!(tree.count_children().await.unwrap().active, 2, "{mode:?}");
        }
    }
    // An operator's stop of a significant child does not end the supervisor.
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(
            ChildSpec::new::<Probe>("r", ProbeArgs::new("r", &log))
                .restart(Restart::Transient)
                .significant(true),
        )
        .spawn(&bus)
        .await
        .unwrap();
    tree.stop_child("r").await.unwrap();
    assert!(tree.count_children().await.is_ok());
}

/// `Shutdown::Immediate` kills: `on_stop` does not run.
#[tokio::test(start_paused = true)]
async fn immediate_shutdown_kills() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(
            ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)).shutdown(Shutdown::Immediate),
        )
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)).shutdown(Shutdown::Infinity))
        .spawn(&bus)
        .await
        .unwrap();
    let a = tree.child::<Probe>("a").unwrap();
    tree.stop().await;
    assert_eq!(log.take(), ["start a", "start b", "stop b"]);
    assert_eq!(a.stop_reason(), Some(StopReason::Killed));
}

/// OTP's shutdown deadlines: a child that stops in time is not killed; one that does not is
/// killed at its deadline, and the event says so.
#[tokio::test(start_paused = true)]
async fn shutdown_deadlines() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("slow", FlakyArgs::new("slow", &log)).shutdown(ms(300)))
        .child(ChildSpec::new::<Probe>("quick", ProbeArgs::new("quick", &log)).shutdown(ms(300)))
        .spawn(&bus)
        .await
        .unwrap();
    let slow = tree.child::<Flaky>("slow").unwrap();
    slow.tell(Hang).await.unwrap();
    drain(&mut events);
    tree.stop().await;
    assert_eq!(bus.now(), ms(300));
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
            ("quick".to_string(), StopReason::Shutdown),
            ("slow".to_string(), StopReason::Killed)
        ]
    );
    assert_eq!(log.take(), ["start slow", "start quick", "stop quick"]);
}

/// `Bus::shutdown` stops a tree from its root down, children first.
#[tokio::test(start_paused = true)]
async fn bus_shutdown_stops_the_tree_children_first() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)));
    let _root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(&bus)
        .await
        .unwrap();
    let report = bus.shutdown(Duration::from_secs(10)).await;
    assert!(report.killed.is_empty());
    assert_eq!(log.take(), ["start a", "start x", "stop x", "stop a"]);
    assert_eq!(bus.actor_count(), 0);
}

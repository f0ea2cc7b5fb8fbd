//! The restart intensity: failures past it, of a running child or of a restart's start, make
//! a supervisor give up and escalate, up through its parents to the bus.

use std::time::Duration;

use crate::common::*;
use mycelium::actors::{BusExit, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};

/// A worker fails twice under a mid-level supervisor that allows one restart; the mid level
/// gives up and fails to the root, which allows none and fails the bus.
#[tokio::test(start_paused = true)]
async fn intensity_exceeded_escalates_through_two_levels() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let mid = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(1, Duration::from_secs(10))
        .backoff(Backoff::none())
        .child(ChildSpec::new::<Probe>(
            "worker",
            ProbeArgs::new("worker", &log),
        ));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(0, Duration::from_secs(10))
        .on_event(observer)
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(&bus)
        .await
        .unwrap();
    let mid_ref = root.child_supervisor("mid").unwrap();
    let worker = mid_ref.child::<Probe>("worker").unwrap();

    worker.tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    worker.tell(Crash).await.unwrap();

    let gave_up = next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::GaveUp { .. })
    })
    .await;
    assert!(
        matches!(gave_up, SupervisionEvent::GaveUp { supervisor, .. } if supervisor == mid_ref.id())
    );
    let e = next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::Escalated { .. })
    })
    .await;
    assert!(
        matches!(e, SupervisionEvent::Escalated { supervisor, to_bus: false, .. } if supervisor == mid_ref.id()),
        "{e}"
    );
    let e = next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::Failed { .. })
    })
    .await;
    assert_eq!(e.child(), Some("mid"));
    let e = next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::GaveUp { .. })
    })
    .await;
    assert!(matches!(e, SupervisionEvent::GaveUp { supervisor, .. } if supervisor == root.id()));
    let e = next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::Escalated { .. })
    })
    .await;
    assert!(
        matches!(e, SupervisionEvent::Escalated { to_bus: true, .. }),
        "{e}"
    );

    match bus.wait_stopped().await {
        BusExit::Failed(reason) => {
            assert!(reason.contains("root supervisor"), "{reason}");
            assert!(reason.contains("gave up"), "{reason}");
        }
        other => panic!("expected a failed bus, got {other:?}"),
    }
    assert!(!worker.is_alive());
    assert!(matches!(root.wait_for_stop().await, StopReason::Failed(_)));
    assert_eq!(bus.actor_count(), 0);
}

/// A child whose `on_start` fails on restart is retried with backoff, then escalates. (A
/// child that fails its *first* start fails the supervisor's spawn instead: see
/// `tests/supervision_otp/spawn_failures.rs`.)
#[tokio::test(start_paused = true)]
async fn start_failures_count_toward_intensity() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    quiet_panics();
    struct Broken;
    impl Actor for Broken {
        type Args = Arc<AtomicU32>;
        async fn on_start(
            starts: Arc<AtomicU32>,
            _ctx: &mut Context<Self>,
        ) -> Result<Self, BoxError> {
            if starts.fetch_add(1, Ordering::SeqCst) > 0 {
                return Err("database unreachable".into());
            }
            Ok(Broken)
        }
    }
    impl Handler<Crash> for Broken {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    let bus = virtual_bus(1);
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(2, Duration::from_secs(60))
        .backoff(Backoff::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(10),
        ))
        .on_event(observer)
        .child(ChildSpec::new::<Broken>("db", Arc::new(AtomicU32::new(0))))
        .spawn(&bus)
        .await
        .unwrap();
    tree.child::<Broken>("db")
        .unwrap()
        .tell(Crash)
        .await
        .unwrap();
    let mut fails = 0;
    loop {
        match events.recv().await.unwrap() {
            SupervisionEvent::RestartFailed {
                reason: StopReason::Failed(f),
                ..
            } => {
                assert_eq!(f.phase, mycelium::actors::Phase::Start);
                assert!(f.to_string().contains("database unreachable"));
                fails += 1;
            }
            SupervisionEvent::Restarted { .. } => panic!("no restart succeeds"),
            SupervisionEvent::Escalated { to_bus, .. } => {
                assert!(to_bus);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(fails, 2);
    // Two restart attempts waited 1 s and 2 s of bus time.
    assert_eq!(bus.now(), Duration::from_secs(3));
    assert!(matches!(bus.wait_stopped().await, BusExit::Failed(_)));
}

//! What makes a supervisor restart a child: its restart type against a normal exit or a
//! failure, and an error returned by the handler of a `tell`, which is a failure.

use crate::common::*;
use mycelium::actors::StopReason;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, Restart, SupervisionEvent};

/// Which restart types restart after a normal exit and after a failure.
#[tokio::test(start_paused = true)]
async fn restart_types_on_normal_exit_and_failure() {
    quiet_panics();
    for (restart, on_exit, on_failure) in [
        (Restart::Permanent, true, true),
        (Restart::Transient, false, true),
        (Restart::Temporary, false, false),
    ] {
        for (trigger_failure, expect_restart) in [(false, on_exit), (true, on_failure)] {
            let bus = virtual_bus(1);
            let log = Log::default();
            let (observer, mut events) = event_channel();
            let tree = Supervisor::builder(RestartStrategy::OneForOne)
                .backoff(Backoff::none())
                .on_event(observer)
                .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)).restart(restart))
                .spawn(&bus)
                .await
                .unwrap();
            let w = tree.child::<Probe>("w").unwrap();
            if trigger_failure {
                w.tell(Crash).await.unwrap();
            } else {
                w.tell(Exit).await.unwrap();
            }
            let e = next_event(&mut events, |e| {
                matches!(
                    e,
                    SupervisionEvent::Restarted { .. } | SupervisionEvent::Stopped { .. }
                )
            })
            .await;
            let case = format!(
                "{restart:?} after {}",
                if trigger_failure { "failure" } else { "exit" }
            );
            if expect_restart {
                assert!(is_restarted(&e), "{case}: expected a restart, got {e}");
                assert!(w.is_alive(), "{case}");
                assert_eq!(w.ask(Seen).await.unwrap(), Vec::<u64>::new(), "{case}");
                assert_eq!(tree.children().len(), 1, "{case}");
            } else {
                assert!(
                    matches!(e, SupervisionEvent::Stopped { .. }),
                    "{case}: expected a stop, got {e}"
                );
                let reason = w.wait_for_stop().await;
                assert_eq!(reason.is_failure(), trigger_failure, "{case}: {reason}");
                assert!(tree.children().is_empty(), "{case}");
                assert!(w.try_tell(Record(1)).is_err(), "{case}");
            }
        }
    }
}

/// A `tell` whose handler returns `Err` is a failure like a panic.
#[tokio::test(start_paused = true)]
async fn returned_error_on_tell_is_a_failure() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    // As an ask, the error is the caller's to handle: no failure.
    assert_eq!(w.ask(Fail).await.unwrap(), Err("refused".to_string()));
    w.tell(Fail).await.unwrap();
    match next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::Failed { .. })
    })
    .await
    {
        SupervisionEvent::Failed {
            reason: StopReason::Failed(f),
            ..
        } => {
            assert_eq!(f.kind, mycelium::actors::FailureKind::Error);
            assert_eq!(&*f.reason, "refused");
        }
        e => panic!("{e}"),
    }
    next_event(&mut events, is_restarted).await;
}

//! The restart loop: a failed restart has its own event, calls are served between its steps,
//! and without backoff a restart happens in the handling of the exit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use crate::flaky::{Flaky, FlakyArgs};
use crate::{drain, events};
use mycelium::actors::StopReason;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, ChildInfo, ChildState, SupervisionEvent};
use mycelium::supervisor::{SupervisorError, SupervisorRef};

/// Events of a restart that fails once: `RestartFailed`, then `Restarted` after success.
#[tokio::test(start_paused = true)]
async fn restart_failures_have_their_own_event() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let w = FlakyArgs::new("w", &log);
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("w", w.clone()))
        .spawn(&bus)
        .await
        .unwrap();
    // Fail once at restart, and look at every event in order.
    drain(&mut events);
    w.failures.store(1, Ordering::SeqCst);
    tree.child::<Flaky>("w").unwrap().tell(Crash).await.unwrap();
    let e = next_event(&mut events, |_| true).await;
    assert!(matches!(e, SupervisionEvent::Failed { .. }), "{e}");
    let e = next_event(&mut events, |_| true).await;
    match e {
        SupervisionEvent::RestartFailed {
            reason: StopReason::Failed(f),
            ..
        } => assert_eq!(&*f.reason, "db down"),
        e => panic!("{e}"),
    }
    let e = next_event(&mut events, |_| true).await;
    assert!(is_restarted(&e), "{e}");
}

/// Calls to a supervisor are served between the steps of a restart loop, even with zero
/// backoff.
#[tokio::test(start_paused = true)]
async fn admin_calls_are_served_during_a_restart_loop() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let w = FlakyArgs::new("w", &log);
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(1000, Duration::from_secs(1))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("w", w.clone()))
        .child(ChildSpec::new::<Probe>(
            "other",
            ProbeArgs::new("other", &log),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    w.failures.store(u32::MAX, Ordering::SeqCst);
    tree.child::<Flaky>("w").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::RestartFailed { .. })
    })
    .await;
    // The loop is running (each attempt fails at once); calls still get through.
    let children = tree.which_children().await.unwrap();
    assert!(
        matches!(children[0].state, ChildState::Restarting { .. }),
        "{children:?}"
    );
    assert!(matches!(children[1].state, ChildState::Running(_)));
    tree.stop_child("w").await.unwrap();
    let children = tree.which_children().await.unwrap();
    assert_eq!(children[0].state, ChildState::Stopped);
    assert!(
        tree.actor_ref().is_alive(),
        "no give-up: the loop was stopped"
    );
    assert!(bus.exit().is_none());
}

/// Without backoff, a failed child starts again in the handling of its exit, as OTP's
/// supervisor restarts in handling the `'EXIT'`: a call that reaches the supervisor while it
/// handles the failure is answered with the child running again. (When the restart was a
/// message of its own at the back of the mailbox, the call was answered first, with the
/// child restarting.)
#[tokio::test(start_paused = true)]
async fn a_restart_without_backoff_happens_in_the_handling_of_the_exit() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Mutex, OnceLock};
    use std::task::{Context as TaskContext, Waker};

    type Call = Pin<Box<dyn Future<Output = Result<Vec<ChildInfo>, SupervisorError>> + Send>>;
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree_slot: Arc<OnceLock<SupervisorRef>> = Arc::default();
    let call: Arc<Mutex<Option<Call>>> = Arc::default();
    let observer = {
        let (tree_slot, call) = (tree_slot.clone(), call.clone());
        move |e: &SupervisionEvent| {
            if let (SupervisionEvent::Failed { .. }, Some(tree)) = (e, tree_slot.get()) {
                let tree = tree.clone();
                let mut asked: Call = Box::pin(async move { tree.which_children().await });
                // One poll queues the call in the supervisor's mailbox (it is busy).
                let mut cx = TaskContext::from_waker(Waker::noop());
                assert!(asked.as_mut().poll(&mut cx).is_pending());
                *call.lock().unwrap() = Some(asked);
            }
        }
    };
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("w", FlakyArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let _ = tree_slot.set(tree.clone());
    tree.child::<Flaky>("w").unwrap().tell(Crash).await.unwrap();
    let mut asked = None;
    for _ in 0..1000 {
        asked = call.lock().unwrap().take();
        if asked.is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let children = asked.expect("the failure was seen").await.unwrap();
    assert!(
        matches!(children[0].state, ChildState::Running(_)),
        "{children:?}"
    );
    assert_eq!(log.take(), ["start w", "stop w", "start w"]);
}

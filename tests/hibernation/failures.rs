//! Failures of hibernating actors: unsupervised, supervised (restarted with fresh state), and
//! a panic outside the handlers, which ends that actor only.

use crate::common::*;
use crate::{asleep, hibernating, tasks};
use mycelium::actors::{DeadLetterReason, SendError, SpawnOptions, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn a_failure_of_an_unsupervised_hibernating_actor_stops_it_and_reports_the_rest() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = hibernating(&bus, "h", &log);
    let (go, wait) = oneshot::channel();
    h.tell(CrashAfter(wait)).await.unwrap();
    h.tell(Record(7)).await.unwrap();
    go.send(()).unwrap();
    let reason = h.wait_for_stop().await;
    assert!(matches!(reason, StopReason::Failed(_)), "{reason:?}");
    assert_eq!(log.take(), ["start h", "stop h"]);
    let letters = bus.dead_letters().drain();
    assert!(letters
        .iter()
        .any(|l| matches!(l.reason, DeadLetterReason::HandlerFailed(_))));
    assert!(letters.iter().any(
        |l| matches!(l.reason, DeadLetterReason::ActorStopped(_)) && l.message_type == "Record"
    ));
    assert!(matches!(h.tell(Record(8)).await, Err(SendError(Record(8)))));
}

#[tokio::test(start_paused = true)]
async fn a_supervised_hibernating_child_is_restarted_with_fresh_state() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)).hibernate())
        .spawn(&bus)
        .await
        .unwrap();
    let w = sup.child::<Probe>("w").unwrap();
    w.tell(Record(1)).await.unwrap();
    assert_eq!(w.ask(Seen).await.unwrap(), [1]);
    w.tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    // The same ref, a new incarnation: its state starts again, and it hibernates again.
    assert_eq!(w.ask(Seen).await.unwrap(), Vec::<u64>::new());
    assert_eq!(log.take(), ["start w", "stop w", "start w"]);
    sup.stop().await;
    assert_eq!(log.take(), ["stop w"]);
}

/// Panics with "boom" when dropped.
struct Brittle;

impl Drop for Brittle {
    fn drop(&mut self) {
        panic!("boom");
    }
}

impl Actor for Brittle {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Brittle)
    }
}

/// A panic outside the handlers (a state's `Drop`, when the actor stops) is caught by the
/// driver: that actor ends as killed, and the bus's other sleepers go on.
#[tokio::test(start_paused = true)]
async fn a_panic_outside_the_handlers_ends_that_actor_only() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let other = asleep(&bus, "other", &log).await;
    let brittle = bus
        .spawn_with::<Brittle>((), SpawnOptions::new().hibernate())
        .unwrap();
    tokio::task::yield_now().await;
    brittle.stop();
    assert_eq!(brittle.wait_for_stop().await, StopReason::Killed);
    other.tell(Record(1)).await.unwrap();
    assert_eq!(other.ask(Seen).await.unwrap(), [1]);
    assert_eq!(tasks(), 1, "the driver survived");
}

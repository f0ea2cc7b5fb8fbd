//! Stopping sleeping actors: a kill, a kill while woken mail waits for the driver, a bus's
//! shutdown, and a runtime that goes away.

use std::time::Duration;

use crate::common::*;
use crate::{asleep, hibernating, tasks};
use mycelium::actors::{DeadLetterReason, SendError, SpawnOptions, StopReason, TrySendError};
use mycelium::prelude::*;
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn killing_a_sleeping_actor_stops_it_without_its_stop_hook() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = asleep(&bus, "h", &log).await;
    assert_eq!(tasks(), 1, "asleep: the bus's driver only");
    h.kill();
    assert_eq!(h.wait_for_stop().await, StopReason::Killed);
    assert_eq!(log.take(), ["start h"], "a kill runs no stop hook");
    assert!(matches!(h.tell(Record(1)).await, Err(SendError(Record(1)))));
}

#[tokio::test(start_paused = true)]
async fn a_kill_while_woken_mail_waits_for_the_driver_dead_letters_the_mail() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = asleep(&bus, "h", &log).await;
    // The tell wakes the sleeper, which queues the actor for the driver; the kill comes
    // before the driver runs (this task has not yielded).
    h.tell(Record(1)).await.unwrap();
    h.kill();
    assert_eq!(h.wait_for_stop().await, StopReason::Killed);
    let letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 1, "the message is reported, not lost");
    assert_eq!(
        letters[0].reason,
        DeadLetterReason::ActorStopped(StopReason::Killed)
    );
    assert_eq!(log.take(), ["start h"]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_sleeping_actors_with_their_stop_hooks() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = hibernating(&bus, "a", &log);
    let b = hibernating(&bus, "b", &log);
    a.ask(Seen).await.unwrap();
    b.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.stopped.len(), 2);
    assert!(report.killed.is_empty());
    assert_eq!(log.take(), ["start a", "start b", "stop b", "stop a"]);
    assert_eq!(a.stop_reason(), Some(StopReason::Shutdown));
    assert_eq!(bus.actor_count(), 0);
}

/// A sleeping actor has no task for its runtime to drop when it shuts down: its bus's driver,
/// which that runtime drops too, kills every actor of the bus, so the sleeping one is
/// finalised with its runtime (not later, when mail comes), and mail sent afterwards is
/// handed back. The same holds for a default actor that has had no mail yet.
#[test]
fn a_sleeping_actor_of_a_runtime_that_shut_down_is_finalised_with_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = Log::default();
    let (bus, h, d) = rt.block_on(async {
        let bus = Bus::new();
        let h = hibernating(&bus, "h", &log);
        h.ask(Seen).await.unwrap();
        let (started, start) = oneshot::channel();
        let d = bus
            .spawn_with::<Probe>(
                ProbeArgs::new("d", &log),
                SpawnOptions::new().on_started(started),
            )
            .unwrap();
        start.await.unwrap();
        (bus, h, d)
    });
    assert!(h.is_alive() && d.is_alive(), "asleep before the shutdown");
    drop(rt);
    for actor in [&h, &d] {
        assert!(!actor.is_alive(), "finalised with its runtime");
        assert_eq!(actor.stop_reason(), Some(StopReason::Killed));
        assert!(matches!(
            actor.try_tell(Record(1)),
            Err(TrySendError::Closed(Record(1)))
        ));
    }
    assert_eq!(bus.actor_count(), 0);
    assert!(bus.dead_letters().drain().is_empty(), "no mail was queued");
}

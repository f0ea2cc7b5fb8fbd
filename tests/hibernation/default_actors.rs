//! Default actors (neither hibernating nor pinned): no task until their first mail, mail
//! that comes during the start counted as the first, and a stop or a kill before any mail.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use crate::{spawn_started, tasks};
use mycelium::actors::{SpawnOptions, StopReason, TrySendError};
use mycelium::prelude::*;

/// A default actor (neither hibernating nor pinned) has no task until its first mail: its
/// bus's driver starts it and it sleeps; its first mail gives it a task of its own, which it
/// keeps while idle, and asks then take the direct call.
#[tokio::test(start_paused = true)]
async fn a_default_actor_has_no_task_until_its_first_mail() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let refs = spawn_started(&bus, "d", &log, 20, SpawnOptions::new).await;
    assert_eq!(
        tasks(),
        1,
        "only the bus's driver: no task per idle new actor"
    );
    for (i, r) in refs.iter().enumerate() {
        r.tell(Record(i as u64)).await.unwrap();
    }
    for r in &refs {
        r.ask(Seen).await.unwrap();
    }
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        tasks(),
        21,
        "a task per actor that has had mail, and the driver"
    );
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(r.ask(Seen).await.unwrap(), vec![i as u64]);
    }
    assert_eq!(tasks(), 21, "each keeps its task while idle");
    let report = bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.stopped.len(), 20);
    assert_eq!(bus.actor_count(), 0);
}

/// Starts only once released, saying when its start has begun; counts what it is told.
struct SlowStart {
    told: u64,
}

impl Actor for SlowStart {
    type Args = Arc<(tokio::sync::Notify, tokio::sync::Notify)>;
    async fn on_start(gates: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let (entered, release) = &*gates;
        entered.notify_one();
        release.notified().await;
        Ok(SlowStart { told: 0 })
    }
}

impl Handler<Record> for SlowStart {
    type Reply = u64;
    async fn handle(&mut self, _: Record, _ctx: &mut Context<Self>) -> u64 {
        self.told += 1;
        self.told
    }
}

/// Mail that comes while a default actor starts is its first mail: served once the start
/// is done, it gives the actor its task, as mail after the start would.
#[tokio::test(start_paused = true)]
async fn mail_during_a_default_actors_start_gives_it_its_task() {
    let bus = virtual_bus(1);
    let gates = Arc::new((tokio::sync::Notify::new(), tokio::sync::Notify::new()));
    let actor = bus.spawn::<SlowStart>(gates.clone());
    gates.0.notified().await;
    actor.tell(Record(1)).await.unwrap();
    gates.1.notify_one();
    assert_eq!(actor.ask(Record(2)).await.unwrap(), 2);
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    assert_eq!(tasks(), 2, "the driver, and the actor's own task");
}

/// A default actor that never had mail still stops like any actor: a stop reaches it on its
/// bus's driver (its `on_stop` runs, with no task made for it), and a kill finalises it.
#[tokio::test(start_paused = true)]
async fn a_default_actor_without_mail_stops_and_is_killed_like_any() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let stopped = spawn_started(&bus, "s", &log, 1, SpawnOptions::new)
        .await
        .remove(0);
    let killed = spawn_started(&bus, "k", &log, 1, SpawnOptions::new)
        .await
        .remove(0);
    assert_eq!(tasks(), 1, "asleep: the driver is the one task");
    stopped.stop();
    assert_eq!(stopped.wait_for_stop().await, StopReason::Normal);
    assert_eq!(
        tasks(),
        1,
        "stopped on the driver, without a task of its own"
    );
    killed.kill();
    assert_eq!(killed.wait_for_stop().await, StopReason::Killed);
    assert_eq!(log.take(), ["start s", "start k", "stop s"]);
    assert_eq!(bus.actor_count(), 0);
    assert!(matches!(
        killed.try_tell(Record(1)),
        Err(TrySendError::Closed(Record(1)))
    ));
}

//! Stopping actors: kill, and the bus's shutdown with its order, its one deadline, slow
//! stops, spawns racing with it, and supervised children.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use mycelium::actors::{BusExit, DeadLetterReason, SpawnError, SpawnOptions, StopReason};
use mycelium::prelude::*;

#[tokio::test(start_paused = true)]
async fn kill_skips_on_stop_and_dead_letters_the_queue() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    p.ask(Seen).await.unwrap();
    p.tell(Hang).await.unwrap();
    tokio::task::yield_now().await; // the actor is now stuck in Hang
    p.tell(Record(1)).await.unwrap();
    p.kill();
    assert_eq!(p.wait_for_stop().await, StopReason::Killed);
    assert_eq!(log.take(), ["start p"]);
    let letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 1);
    assert!(matches!(
        letters[0].reason,
        DeadLetterReason::ActorStopped(StopReason::Killed)
    ));
    assert_eq!(bus.actor_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_in_reverse_start_order() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = bus.spawn::<Probe>(ProbeArgs::new("a", &log));
    let b = bus.spawn::<Probe>(ProbeArgs::new("b", &log));
    let c = bus.spawn::<Probe>(ProbeArgs::new("c", &log));
    for p in [&a, &b, &c] {
        p.ask(Seen).await.unwrap();
    }
    let report = bus.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        log.take(),
        ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    );
    let ids: Vec<_> = report.stopped.iter().map(|s| s.id).collect();
    assert_eq!(ids, [c.id(), b.id(), a.id()]);
    assert!(report.killed.is_empty());
    assert_eq!(bus.exit(), Some(BusExit::Shutdown));
    assert!(matches!(
        bus.spawn_with::<Probe>(ProbeArgs::new("d", &log), SpawnOptions::new()),
        Err(SpawnError::BusStopped)
    ));
}

/// An actor stuck in a handler cannot stop: at the deadline it and every actor not yet
/// stopped are killed and reported.
#[tokio::test(start_paused = true)]
async fn shutdown_kills_what_is_left_at_the_deadline() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = bus.spawn::<Probe>(ProbeArgs::new("a", &log));
    let stuck = bus.spawn::<Probe>(ProbeArgs::new("stuck", &log));
    let c = bus.spawn::<Probe>(ProbeArgs::new("c", &log));
    stuck.tell(Hang).await.unwrap();
    stuck.tell(Record(1)).await.unwrap();
    c.ask(Seen).await.unwrap();
    a.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(bus.now(), Duration::from_secs(2));
    assert_eq!(
        report.stopped.iter().map(|s| s.id).collect::<Vec<_>>(),
        [c.id()]
    );
    assert_eq!(
        report.killed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [stuck.id(), a.id()]
    );
    assert_eq!(stuck.wait_for_stop().await, StopReason::Killed);
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);
    assert_eq!(log.take(), ["start a", "start stuck", "start c", "stop c"]);
    // The stuck actor's queued message is not lost silently.
    assert_eq!(bus.dead_letters().drain().len(), 1);
}

/// An actor whose `on_stop` takes `stop` of bus time, after yielding to the runtime once.
struct SlowStop {
    name: &'static str,
    log: Log,
    stop: Duration,
}
impl Actor for SlowStop {
    type Args = (&'static str, Log, Duration);
    async fn on_start(
        (name, log, stop): (&'static str, Log, Duration),
        _: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(SlowStop { name, log, stop })
    }
    async fn on_stop(&mut self, ctx: &mut Context<Self>, _: &StopReason) {
        tokio::task::yield_now().await;
        ctx.clock().sleep(self.stop).await;
        self.log
            .push(format!("stop {} at {:?}", self.name, ctx.now()));
    }
}

/// The deadline is the shutdown's, not each actor's: an actor whose stop takes several turns
/// and a timer is waited for while the deadline allows, and the time it took counts against
/// the actors after it. Actors that stop at once take no bus time.
#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_slow_stops_until_its_one_deadline() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = bus.spawn::<SlowStop>(("a", log.clone(), Duration::from_millis(1500)));
    let b = bus.spawn::<SlowStop>(("b", log.clone(), Duration::from_millis(1500)));
    let quick = bus.spawn::<Probe>(ProbeArgs::new("quick", &log));
    quick.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(
        report.stopped.iter().map(|s| s.id).collect::<Vec<_>>(),
        [quick.id(), b.id()]
    );
    assert_eq!(
        report.killed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [a.id()]
    );
    assert_eq!(bus.now(), Duration::from_secs(2));
    assert_eq!(log.take(), ["start quick", "stop quick", "stop b at 1.5s"]);
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);

    // Within the deadline, each is waited for in turn.
    let bus = virtual_bus(1);
    let a = bus.spawn::<SlowStop>(("a", log.clone(), Duration::from_millis(500)));
    let b = bus.spawn::<SlowStop>(("b", log.clone(), Duration::from_millis(500)));
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(
        report.stopped.iter().map(|s| s.id).collect::<Vec<_>>(),
        [b.id(), a.id()]
    );
    assert!(report.killed.is_empty());
    assert_eq!(log.take(), ["stop b at 500ms", "stop a at 1s"]);

    // Quick stops alone: no bus time passes.
    let bus = virtual_bus(1);
    let quick = bus.spawn::<Probe>(ProbeArgs::new("quick", &log));
    quick.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(bus.now(), Duration::ZERO);
}

/// Spawns that race with `Bus::shutdown` (from another thread) either come before it, and
/// their actors are stopped by it, or are refused: no actor registers after the shutdown
/// took its list of actors, to be killed as if it had outlived the deadline, or to outlive
/// the shutdown altogether. A race, so many rounds; it never fails with the check and the
/// flag under the registry's lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_spawned_during_shutdown_are_stopped_or_refused() {
    const ROUNDS: usize = 400;
    let mut late = Vec::new();
    for round in 0..ROUNDS {
        let bus = Bus::new();
        // The spawner spawns as fast as it can until it is refused; the shutdown begins once
        // it is under way (a spin of a few spawns: a wake-up across threads would let it
        // spawn thousands), so that a spawn is in progress when the flag is set.
        let spawned = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (bus, spawned) = (bus.clone(), spawned.clone());
            std::thread::spawn(move || {
                let log = Log::default();
                let mut refs = Vec::new();
                loop {
                    match bus.spawn_with::<Probe>(ProbeArgs::new("p", &log), SpawnOptions::new()) {
                        Ok(r) => refs.push(r),
                        Err(SpawnError::BusStopped) => return refs,
                        Err(e) => panic!("{e}"),
                    }
                    spawned.fetch_add(1, Ordering::Release);
                }
            })
        };
        while spawned.load(Ordering::Acquire) < 16 {
            std::hint::spin_loop();
        }
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            bus.shutdown(Duration::from_secs(30)),
        )
        .await
        .expect("the shutdown ended");
        let refs = tokio::task::spawn_blocking(move || spawner.join().unwrap())
            .await
            .unwrap();
        let alive = refs.iter().filter(|r| r.stop_reason().is_none()).count();
        if !report.killed.is_empty() || alive > 0 {
            late.push((round, report.killed.len(), alive));
            for r in &refs {
                r.kill();
            }
        }
    }
    assert!(
        late.is_empty(),
        "{} of {ROUNDS} rounds had actors registered after the shutdown's list \
         (round, killed, alive after the shutdown): {late:?}",
        late.len()
    );
}

#[tokio::test(start_paused = true)]
async fn supervised_children_stop_with_their_supervisor_at_shutdown() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let first = bus.spawn::<Probe>(ProbeArgs::new("first", &log));
    first.ask(Seen).await.unwrap();
    let _tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)))
        .child(ChildSpec::new::<Probe>("y", ProbeArgs::new("y", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let report = bus.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        log.take(),
        [
            "start first",
            "start x",
            "start y",
            "stop y",
            "stop x",
            "stop first"
        ]
    );
    assert_eq!(report.stopped.len(), 2, "the supervisor and `first`");
    assert_eq!(bus.actor_count(), 0);
}

//! Hibernating actors (`SpawnOptions::hibernate`): no task while they have no mail, and
//! otherwise the same actors: order, asks, waiting handlers, failures, supervision, kill,
//! shutdown, and a runtime that goes away. And default actors, which share the first part:
//! no task until their first mail.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium::actors::{
    ActorId, DeadLetterReason, SendError, SpawnError, SpawnOptions, StopReason, SupervisionLink,
    TrySendError,
};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

fn hibernating(bus: &Bus, name: &'static str, log: &Log) -> ActorRef<Probe> {
    bus.spawn_with::<Probe>(ProbeArgs::new(name, log), SpawnOptions::new().hibernate())
        .unwrap()
}

/// A hibernating actor that has started and gone to sleep (the driver has run).
async fn asleep(bus: &Bus, name: &'static str, log: &Log) -> ActorRef<Probe> {
    let h = hibernating(bus, name, log);
    h.ask(Seen).await.unwrap();
    tokio::task::yield_now().await;
    h
}

/// Spawns `n` actors, each with `options()` and a start notification, and waits until all
/// have started (their bus's driver runs the starts in one turn).
async fn spawn_started(
    bus: &Bus,
    name: &'static str,
    log: &Log,
    n: usize,
    options: impl Fn() -> SpawnOptions,
) -> Vec<ActorRef<Probe>> {
    let mut refs = Vec::new();
    let mut started = Vec::new();
    for _ in 0..n {
        let (tx, rx) = oneshot::channel();
        refs.push(
            bus.spawn_with::<Probe>(ProbeArgs::new(name, log), options().on_started(tx))
                .unwrap(),
        );
        started.push(rx);
    }
    for rx in started {
        rx.await.unwrap();
    }
    refs
}

/// Tasks alive on the current runtime (the test's own future is not one).
fn tasks() -> usize {
    Handle::current().metrics().num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn an_idle_hibernating_actor_holds_no_task() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let refs = spawn_started(&bus, "h", &log, 20, || SpawnOptions::new().hibernate()).await;
    // The driver ran the 20 starts in one turn; it is the bus's one task for them.
    assert_eq!(tasks(), 1, "no task per idle hibernating actor");
    for (i, r) in refs.iter().enumerate() {
        r.tell(Record(i as u64)).await.unwrap();
    }
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(r.ask(Seen).await.unwrap(), [i as u64]);
    }
    assert_eq!(tasks(), 1, "each went back to sleep after its mail");
    // The same actors without hibernation are a task each.
    let plain: Vec<_> = (0..20)
        .map(|_| bus.spawn::<Probe>(ProbeArgs::new("p", &log)))
        .collect();
    for p in &plain {
        p.ask(Seen).await.unwrap();
    }
    assert_eq!(tasks(), 21);
    // The driver's task ends with its bus.
    bus.shutdown(Duration::from_secs(5)).await;
    drop((bus, refs, plain));
    tokio::task::yield_now().await;
    assert_eq!(tasks(), 0, "no task outlives the bus");
}

#[tokio::test(start_paused = true)]
async fn a_hibernating_actor_keeps_the_order_of_its_mail_across_naps() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = hibernating(&bus, "h", &log);
    for n in 0..5 {
        h.tell(Record(n)).await.unwrap();
    }
    assert_eq!(h.ask(Seen).await.unwrap(), [0, 1, 2, 3, 4]);
    // Mail arriving one message at a time, each after a nap.
    for n in 5..8 {
        h.tell(Record(n)).await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(h.ask(Seen).await.unwrap(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert!(h.is_alive());
}

#[tokio::test(start_paused = true)]
async fn a_waiting_handler_moves_the_actor_into_a_task_until_it_sleeps_again() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = hibernating(&bus, "h", &log);
    // A handler that sleeps on the bus clock: the actor waits in a task of its own...
    let at = h.ask(Nap(Duration::from_secs(3))).await.unwrap();
    assert_eq!(at, Duration::from_secs(3));
    // ...and gives the task up once its handler has returned and its mailbox is empty.
    h.ask(Seen).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(tasks(), 1, "the bus's driver only");
    // Mail sent while the handler waits is handled after it, in order.
    let (go, wait) = oneshot::channel();
    h.tell(Block(wait)).await.unwrap();
    h.tell(Record(1)).await.unwrap();
    h.tell(Record(2)).await.unwrap();
    go.send(()).unwrap();
    assert_eq!(h.ask(Seen).await.unwrap(), [1, 2]);
}

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

#[tokio::test(start_paused = true)]
async fn a_pinned_actor_cannot_hibernate() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let err = bus
        .spawn_with::<Probe>(
            ProbeArgs::new("p", &log),
            SpawnOptions::new().pinned().hibernate(),
        )
        .err()
        .unwrap();
    assert_eq!(err, SpawnError::PinnedHibernating);
    assert!(err.to_string().contains("drop one of the two options"));
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

/// On two worker threads, mail from two senders races the actors' naps (a sleeper
/// registered as the mail arrives, a sleeper woken while its actor is taken back): every
/// message is handled once, in each sender's order. Twenty rounds on fresh buses: a sleeper
/// that checked for mail before registering, without the mailbox's lock, lost a wake-up in
/// about two rounds of three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_mail_and_naps_on_two_threads_lose_nothing() {
    for _ in 0..20 {
        mail_races_naps().await;
    }
}

async fn mail_races_naps() {
    let bus = Bus::new();
    let log = Log::default();
    let actors: Vec<ActorRef<Probe>> = (0..16).map(|_| hibernating(&bus, "h", &log)).collect();
    let senders: Vec<_> = (0..2u64)
        .map(|s| {
            let actors = actors.clone();
            tokio::spawn(async move {
                for n in 0..300u64 {
                    for a in &actors {
                        a.tell(Record(s * 1000 + n)).await.unwrap();
                    }
                    if n % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    // A bound, not a wait: a lost wake-up would leave a send or an ask waiting forever.
    let bound = Duration::from_secs(60);
    for s in senders {
        tokio::time::timeout(bound, s)
            .await
            .expect("the senders finish")
            .unwrap();
    }
    for a in &actors {
        let seen = tokio::time::timeout(bound, a.ask(Seen))
            .await
            .expect("a lost wake-up left mail unhandled")
            .unwrap();
        assert_eq!(seen.len(), 600);
        for s in 0..2u64 {
            let mine: Vec<u64> = seen.iter().copied().filter(|v| v / 1000 == s).collect();
            assert_eq!(mine, (0..300).map(|n| s * 1000 + n).collect::<Vec<_>>());
        }
    }
    bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(bus.actor_count(), 0);
}

/// Logs `name:n` for each number it is told.
struct Tally {
    name: &'static str,
    log: Log,
}

impl Actor for Tally {
    type Args = (&'static str, Log);
    async fn on_start((name, log): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Tally { name, log })
    }
}

impl Handler<u64> for Tally {
    type Reply = ();
    async fn handle(&mut self, n: u64, _: &mut Context<Self>) {
        self.log.push(format!("{}:{n}", self.name));
    }
}

/// A sleeper woken with a long mailbox has a turn of messages, then moves into a task of its
/// own, so the bus's other sleepers are not held up behind it.
#[tokio::test(start_paused = true)]
async fn a_busy_sleeper_lets_the_others_run() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let spawn = |name| {
        bus.spawn_with::<Tally>((name, log.clone()), SpawnOptions::new().hibernate())
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    a.tell(0).await.unwrap();
    b.tell(0).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(log.take(), ["a:0", "b:0"]);
    // Both asleep; `a` is woken first, with 500 messages.
    for n in 1..=500 {
        a.try_tell(n).unwrap();
    }
    b.try_tell(1).unwrap();
    a.ask(501u64).await.unwrap();
    b.ask(2u64).await.unwrap();
    let seen = log.take();
    let at = |entry: &str| seen.iter().position(|e| e == entry).unwrap();
    assert!(
        at("b:1") < at("a:500"),
        "`b` waited for all of `a`'s mail: {:?}",
        &seen[..8]
    );
    assert_eq!(seen.iter().filter(|e| e.starts_with("a:")).count(), 501);
    // `a` sleeps again once its mailbox is empty: the bus's driver is the only task.
    tokio::task::yield_now().await;
    assert_eq!(tasks(), 1);
}

/// Keeps `n` hibernating linked children, one per "order".
struct Desk {
    orders: Vec<ActorRef<Probe>>,
}

impl Actor for Desk {
    type Args = (usize, Log);
    async fn on_start((n, log): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let mut orders = Vec::new();
        for _ in 0..n {
            let args = ProbeArgs::new("order", &log);
            orders.push(ctx.spawn_child_with::<Probe>(args, SpawnOptions::new().hibernate())?);
        }
        Ok(Desk { orders })
    }
}

struct Orders;
impl Handler<Orders> for Desk {
    type Reply = Vec<ActorRef<Probe>>;
    async fn handle(&mut self, _: Orders, _: &mut Context<Self>) -> Vec<ActorRef<Probe>> {
        self.orders.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn an_actor_keeps_hibernating_linked_children_and_stops_them_first() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let desk = bus.spawn::<Desk>((10, log.clone()));
    let orders = desk.ask(Orders).await.unwrap();
    for (i, order) in orders.iter().enumerate() {
        order.tell(Record(i as u64)).await.unwrap();
        assert_eq!(order.ask(Seen).await.unwrap(), [i as u64]);
    }
    tokio::task::yield_now().await;
    assert_eq!(
        tasks(),
        2,
        "the desk and the bus's driver: no task per order"
    );
    log.take();
    desk.stop();
    desk.wait_for_stop().await;
    assert_eq!(
        log.take(),
        vec!["stop order"; 10],
        "each order stopped with its desk"
    );
    assert_eq!(bus.actor_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_linked_child_with_a_supervisor_is_refused() {
    struct Nobody;
    impl SupervisionLink for Nobody {
        fn child_ended(&self, _: ActorId, _: u32, _: StopReason) -> bool {
            false
        }
        fn child_exited(&self, _: ActorId, _: StopReason) {}
    }
    struct Owner;
    impl Actor for Owner {
        type Args = Log;
        async fn on_start(log: Log, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            let options = SpawnOptions::new().supervised_by(Arc::new(Nobody));
            match ctx.spawn_child_with::<Probe>(ProbeArgs::new("c", &log), options) {
                Err(SpawnError::OwnedAndSupervised) => Ok(Owner),
                other => Err(format!("expected a refusal, got {:?}", other.map(|r| r.id())).into()),
            }
        }
    }
    let bus = virtual_bus(1);
    let log = Log::default();
    let (tx, rx) = oneshot::channel();
    bus.spawn_with::<Owner>(log.clone(), SpawnOptions::new().on_start_outcome(tx))
        .unwrap();
    assert_eq!(rx.await.unwrap(), Ok(()));
    assert!(log.take().is_empty(), "the child never started");
    assert_eq!(bus.actor_count(), 1);
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

//! Supervision as OTP users expect it: orphans, bad specs, start failures, restart groups,
//! the intensity window, kept reasons, admin calls, auto-shutdown, pools, watches and
//! linked children. All on the virtual clock.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium::actors::{AskError, BusExit, SpawnError, StopReason};
use mycelium::actors::{Down, Phase};
use mycelium::prelude::*;
use mycelium::supervisor::{AutoShutdown, Backoff, Restart, Shutdown, SupervisionEvent};
use mycelium::supervisor::{ChildInfo, ChildState, Pool, SpecError, SupervisorBuilder};
use mycelium::supervisor::{SupervisorError, SupervisorRef};
use tokio::sync::{mpsc, oneshot};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Starts (logging `start NAME`) unless `failures` is above zero, in which case it counts
/// it down and fails with "db down".
#[derive(Clone)]
struct FlakyArgs {
    name: &'static str,
    log: Log,
    failures: Arc<AtomicU32>,
}

impl FlakyArgs {
    fn new(name: &'static str, log: &Log) -> Self {
        FlakyArgs {
            name,
            log: log.clone(),
            failures: Arc::new(AtomicU32::new(0)),
        }
    }
    fn broken(name: &'static str, log: &Log) -> Self {
        let args = Self::new(name, log);
        args.failures.store(u32::MAX, Ordering::SeqCst);
        args
    }
}

struct Flaky {
    name: &'static str,
    log: Log,
}

impl Actor for Flaky {
    type Args = FlakyArgs;
    async fn on_start(args: FlakyArgs, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let left = args.failures.load(Ordering::SeqCst);
        if left > 0 {
            args.failures.store(left - 1, Ordering::SeqCst);
            args.log.push(format!("fail {}", args.name));
            return Err("db down".into());
        }
        args.log.push(format!("start {}", args.name));
        Ok(Flaky {
            name: args.name,
            log: args.log,
        })
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &StopReason) {
        self.log.push(format!("stop {}", self.name));
    }
}

impl Handler<Crash> for Flaky {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
        panic!("crash requested");
    }
}

/// Answers at once.
struct Ping;
impl Handler<Ping> for Flaky {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
}

impl Handler<Hang> for Flaky {
    type Reply = ();
    async fn handle(&mut self, _: Hang, _ctx: &mut Context<Self>) {
        std::future::pending::<()>().await;
    }
}

fn events() -> (
    impl Fn(&SupervisionEvent) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<SupervisionEvent>,
) {
    event_channel()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<SupervisionEvent>) -> Vec<SupervisionEvent> {
    let mut all = Vec::new();
    while let Ok(e) = rx.try_recv() {
        all.push(e);
    }
    all
}

// ---- §1 bugs ------------------------------------------------------------------------------

/// Supervisors spawned from clones of one builder each have their own directory: the refs of
/// one subtree, or of one root, never reach another's children, and stopping one leaves the
/// other's children alone.
#[tokio::test(start_paused = true)]
async fn supervisors_from_one_builder_keep_their_own_children() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let sub = Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::new::<Flaky>(
        "worker",
        FlakyArgs::new("worker", &log),
    ));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::supervisor("a", sub.clone()))
        .child(ChildSpec::supervisor("b", sub.clone()))
        .spawn(&bus)
        .await
        .unwrap();
    let worker_of = |name: &str| {
        root.child_supervisor(name)
            .unwrap()
            .child::<Flaky>("worker")
            .unwrap()
    };
    let (wa, wb) = (worker_of("a"), worker_of("b"));
    assert_ne!(wa.id(), wb.id(), "each subtree reaches its own worker");
    root.stop_child("a").await.unwrap();
    assert!(!wa.is_alive());
    assert!(wb.is_alive(), "stopping a left b's worker alone");
    assert_eq!(worker_of("b").id(), wb.id(), "b's worker was not restarted");

    // Two roots from one builder, on two buses.
    let (bus1, bus2) = (virtual_bus(2), virtual_bus(3));
    let root1 = sub.clone().spawn(&bus1).await.unwrap();
    let root2 = sub.spawn(&bus2).await.unwrap();
    root1.stop().await;
    let w2 = root2
        .child::<Flaky>("worker")
        .expect("root 2 still lists its worker");
    assert!(w2.is_alive());
    root.stop().await;
    root2.stop().await;
}

/// A sub-supervisor killed at its shutdown deadline used to leave its children running.
/// Now whoever kills it stops its subtree, and `stop()` returns only when all are down.
#[tokio::test(start_paused = true)]
async fn a_killed_sub_supervisor_leaves_no_orphans() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne).child(
        ChildSpec::new::<Flaky>("worker", FlakyArgs::new("worker", &log))
            .shutdown(Duration::from_secs(60)),
    );
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::supervisor("mid", mid).shutdown(Duration::from_secs(1)))
        .spawn(&bus)
        .await
        .unwrap();
    let worker = root
        .child_supervisor("mid")
        .unwrap()
        .child::<Flaky>("worker")
        .unwrap();
    worker.tell(Hang).await.unwrap();
    let reason = root.stop().await;
    assert_eq!(reason, StopReason::Shutdown);
    assert!(
        !worker.is_alive(),
        "the worker outlived its killed supervisor"
    );
    assert_eq!(worker.stop_reason(), Some(StopReason::Killed));
    assert_eq!(bus.actor_count(), 0);
    assert_eq!(
        bus.now(),
        Duration::from_secs(1),
        "killed at the mid's deadline"
    );
}

/// A root (one-for-one, no backoff, its events) over the nested supervisor `mid`, which
/// runs a `Flaky` `worker`.
async fn root_over_mid(
    bus: &Bus,
    log: &Log,
) -> (SupervisorRef, mpsc::UnboundedReceiver<SupervisionEvent>) {
    let (observer, events) = events();
    let mid = Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::new::<Flaky>(
        "worker",
        FlakyArgs::new("worker", log),
    ));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(bus)
        .await
        .unwrap();
    (root, events)
}

/// A sub-supervisor killed by someone is restarted by its parent with fresh children; the
/// old ones do not run beside the new ones.
#[tokio::test(start_paused = true)]
async fn a_restarted_killed_sub_supervisor_does_not_run_old_children_beside_new_ones() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (root, mut events) = root_over_mid(&bus, &log).await;
    let mid_ref = root.child_supervisor("mid").unwrap();
    let old = mid_ref.child::<Flaky>("worker").unwrap();
    mid_ref.actor_ref().kill();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("mid")).await;
    assert!(!old.is_alive(), "the old worker still runs");
    let new = root
        .child_supervisor("mid")
        .unwrap()
        .child::<Flaky>("worker")
        .unwrap();
    assert!(new.is_alive());
    assert_ne!(new.id(), old.id());
    // root, mid, worker
    assert_eq!(bus.actor_count(), 3);
}

/// `root.stop()` returns only when every grandchild has stopped (their `on_stop` ran).
#[tokio::test(start_paused = true)]
async fn root_stop_returns_when_the_whole_tree_is_down() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let leaf = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)))
        .child(ChildSpec::new::<Probe>("y", ProbeArgs::new("y", &log)));
    let mid = Supervisor::builder(RestartStrategy::OneForAll)
        .child(ChildSpec::supervisor("leaf", leaf))
        .child(ChildSpec::new::<Probe>("z", ProbeArgs::new("z", &log)));
    let root = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(&bus)
        .await
        .unwrap();
    assert_eq!(log.take(), ["start x", "start y", "start z"]);
    root.stop().await;
    assert_eq!(log.take(), ["stop z", "stop y", "stop x"]);
    assert_eq!(bus.actor_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn bad_specs_are_refused_before_anything_starts() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let probe = |name| ChildSpec::new::<Probe>(name, ProbeArgs::new(name, &log));
    let cases: Vec<(SupervisorBuilder, SpecError)> = vec![
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .intensity(3, Duration::ZERO)
                .child(probe("a")),
            SpecError::ZeroPeriod,
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .child(probe("a"))
                .child(probe("a")),
            SpecError::DuplicateChild("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::supervisor(
                "mid",
                Supervisor::builder(RestartStrategy::OneForOne)
                    .child(probe("b"))
                    .child(probe("b")),
            )),
            SpecError::DuplicateChild("b".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(probe("")),
            SpecError::EmptyName,
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .child(probe("a").shutdown(Duration::ZERO)),
            SpecError::ZeroShutdown("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .auto_shutdown(AutoShutdown::AnySignificant)
                .child(probe("a").significant(true)),
            SpecError::SignificantPermanent("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne)
                .child(probe("a").restart(Restart::Transient).significant(true)),
            SpecError::SignificantWithoutAutoShutdown("a".into()),
        ),
        (
            Supervisor::builder(RestartStrategy::OneForOne).child(probe("a").pinned().hibernate()),
            SpecError::PinnedHibernating("a".into()),
        ),
    ];
    for (builder, expected) in cases {
        assert_eq!(builder.validate(), Err(expected.clone()));
        match builder.spawn(&bus).await {
            Err(SpawnError::InvalidSpec(text)) => assert_eq!(text, expected.to_string()),
            other => panic!("{expected:?}: {other:?}"),
        }
    }
    assert!(log.take().is_empty(), "nothing started");
    assert_eq!(bus.actor_count(), 0);
}

/// A child whose `on_start` fails during the initial start fails the spawn with its error;
/// the children started before it stop in reverse order; the later ones never start.
#[tokio::test(start_paused = true)]
async fn an_initial_start_failure_fails_the_spawn_at_once() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let result = Supervisor::builder(RestartStrategy::OneForOne)
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .child(ChildSpec::new::<Flaky>("b", FlakyArgs::new("b", &log)))
        .child(ChildSpec::new::<Flaky>("db", FlakyArgs::broken("db", &log)))
        .child(ChildSpec::new::<Flaky>("c", FlakyArgs::new("c", &log)))
        .spawn(&bus)
        .await;
    match result {
        Err(SpawnError::StartFailed { child, cause }) => {
            assert_eq!(child, "db");
            assert_eq!(cause.phase, Phase::Start);
            assert_eq!(&*cause.reason, "db down");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(
        log.take(),
        ["start a", "start b", "fail db", "stop b", "stop a"]
    );
    assert_eq!(bus.actor_count(), 0);
    assert!(bus.exit().is_none(), "the bus did not fail");
    let started: Vec<_> = drain(&mut events)
        .into_iter()
        .filter(|e| matches!(e, SupervisionEvent::Started { .. }))
        .filter_map(|e| e.child().map(str::to_string))
        .collect();
    assert_eq!(
        started,
        ["a", "b"],
        "no Started event for the child that failed"
    );
}

/// A nested supervisor whose child fails to start fails the parent's spawn too.
#[tokio::test(start_paused = true)]
async fn a_nested_start_failure_fails_the_root_spawn() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Flaky>("db", FlakyArgs::broken("db", &log)));
    let result = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .child(ChildSpec::supervisor("mid", mid))
        .spawn(&bus)
        .await;
    match result {
        Err(SpawnError::StartFailed { child, cause }) => {
            assert_eq!(child, "mid");
            assert!(cause.reason.contains("db"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.take(), ["start a", "fail db", "stop a"]);
    assert_eq!(bus.actor_count(), 0);
}

/// `add_child` whose start fails returns the error and keeps nothing; the supervisor and
/// the bus carry on.
#[tokio::test(start_paused = true)]
async fn add_child_start_failure_keeps_nothing() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    for _ in 0..2 {
        match tree
            .add_child(ChildSpec::new::<Flaky>("db", FlakyArgs::broken("db", &log)))
            .await
        {
            Err(SupervisorError::Spawn(SpawnError::StartFailed { child, .. })) => {
                assert_eq!(child, "db")
            }
            other => panic!("{other:?}"),
        }
    }
    let names: Vec<_> = tree
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a"]);
    assert!(tree.actor_ref().is_alive());
    assert!(bus.exit().is_none());
    assert_eq!(bus.actor_count(), 2);
    assert_eq!(log.take(), ["start a", "fail db", "fail db"]);
}

/// rest_for_one: a restart that fails at `b` resumes at `b`: `a` is left alone and `c`
/// waits. `Restarted` only after `on_start` succeeded; the failed attempt has its own event.
#[tokio::test(start_paused = true)]
async fn rest_for_one_resumes_at_the_child_that_failed_to_restart() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let b = FlakyArgs::new("b", &log);
    let tree = Supervisor::builder(RestartStrategy::RestForOne)
        .intensity(10, Duration::from_secs(10))
        .backoff(Backoff::exponential(ms(100), 1.0, ms(100)))
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .child(ChildSpec::new::<Flaky>("b", b.clone()))
        .child(ChildSpec::new::<Flaky>("c", FlakyArgs::new("c", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    log.take();
    drain(&mut events);
    b.failures.store(2, Ordering::SeqCst);
    tree.child::<Flaky>("b").unwrap().tell(Crash).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let e = events.recv().await.unwrap();
        let done = is_restarted(&e) && e.child() == Some("c");
        let kind = match &e {
            SupervisionEvent::Failed { .. } => "failed",
            SupervisionEvent::RestartFailed { .. } => "restart failed",
            SupervisionEvent::Restarted { .. } => "restarted",
            _ => "other",
        };
        seen.push(format!("{kind} {}", e.child().unwrap_or("-")));
        if done {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "failed b",
            "restart failed b",
            "restart failed b",
            "restarted b",
            "restarted c"
        ]
    );
    assert_eq!(
        log.take(),
        ["stop b", "stop c", "fail b", "fail b", "start b", "start c"]
    );
    assert_eq!(bus.now(), ms(300), "three attempts, 100 ms apart");
}

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

/// A temporary bystander of a group restart is stopped, not restarted, and its spec is
/// removed, so adding it again never runs two copies.
#[tokio::test(start_paused = true)]
async fn a_temporary_bystander_is_stopped_and_forgotten() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::new::<Probe>("t", ProbeArgs::new("t", &log)).restart(Restart::Temporary))
        .spawn(&bus)
        .await
        .unwrap();
    log.take();
    let t = tree.child::<Probe>("t").unwrap();
    tree.child::<Probe>("a").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("a")).await;
    assert_eq!(log.take(), ["stop a", "stop t", "start a"]);
    assert!(!t.is_alive());
    let names: Vec<_> = tree
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a"]);
    tree.add_child(
        ChildSpec::new::<Probe>("t", ProbeArgs::new("t", &log)).restart(Restart::Temporary),
    )
    .await
    .unwrap();
    assert_eq!(bus.actor_count(), 3);
}

/// A group restart asks each bystander to stop by its shutdown: one that hangs is killed at
/// its deadline, on bus time, and restarted with the others; one that stops at once is not
/// waited for.
#[tokio::test(start_paused = true)]
async fn a_group_restart_kills_a_hanging_bystander_at_its_deadline() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)).shutdown(ms(300)))
        .child(ChildSpec::new::<Flaky>("slow", FlakyArgs::new("slow", &log)).shutdown(ms(300)))
        .spawn(&bus)
        .await
        .unwrap();
    log.take();
    // A crash with every bystander quick to stop: no time passes.
    tree.child::<Probe>("a").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        is_restarted(e) && e.child() == Some("slow")
    })
    .await;
    assert_eq!(bus.now(), Duration::ZERO);
    assert_eq!(log.take(), ["stop a", "stop slow", "start a", "start slow"]);
    // Now the bystander hangs: the restart waits 300 ms for it, then kills it.
    let slow = tree.child::<Flaky>("slow").unwrap();
    slow.tell(Hang).await.unwrap();
    tree.child::<Probe>("a").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        is_restarted(e) && e.child() == Some("slow")
    })
    .await;
    assert_eq!(bus.now(), ms(300), "killed at its deadline");
    assert_eq!(slow.stop_reason(), Some(StopReason::Killed));
    let again = tree.child::<Flaky>("slow").unwrap();
    assert!(again.is_alive() && again.id() != slow.id(), "spawned anew");
    assert_eq!(
        log.take(),
        ["stop a", "start a", "start slow"],
        "the hanging one killed: no on_stop"
    );
}

/// OTP's boundary case, end to end: intensity 1 per 1000 ms; failures at 0 and 1000 give up.
#[tokio::test(start_paused = true)]
async fn the_intensity_window_includes_its_boundary() {
    quiet_panics();
    for (second_at, gives_up) in [(1000, true), (1001, false)] {
        let bus = virtual_bus(1);
        let log = Log::default();
        let (observer, mut events) = events();
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(1, ms(1000))
            .backoff(Backoff::none())
            .on_event(observer)
            .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
            .spawn(&bus)
            .await
            .unwrap();
        let w = tree.child::<Probe>("w").unwrap();
        w.tell(Crash).await.unwrap();
        next_event(&mut events, is_restarted).await;
        bus.clock().sleep_until(ms(second_at)).await;
        w.tell(Crash).await.unwrap();
        let e = next_event(&mut events, |e| {
            is_restarted(e) || matches!(e, SupervisionEvent::GaveUp { .. })
        })
        .await;
        assert_eq!(
            matches!(e, SupervisionEvent::GaveUp { .. }),
            gives_up,
            "second failure at {second_at} ms: {e}"
        );
    }
}

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

/// A child's crash report that a group restart overtook is not a second failure. Under
/// one_for_all, `a` crashes, and `c` (started before it) crashes while the supervisor
/// handles `a`'s failure: `c`'s report is queued, and `c` acknowledges its suspension while it
/// waits for a decision; the supervisor restarts `c` at once (no backoff), then reads `c`'s
/// old report. As OTP flushes a terminated child's pending `'EXIT'`, that report is ignored:
/// one restart of `c`, and intensity 1 is not exceeded.
#[tokio::test(start_paused = true)]
async fn a_crash_report_overtaken_by_a_group_restart_is_ignored() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let (go, wait) = oneshot::channel();
    let go = std::sync::Mutex::new(Some(go));
    // `c` crashes while the supervisor handles `a`'s failure: released in the `Failed`
    // event, which the supervisor emits before it suspends `c` and waits for the
    // acknowledgement; `c` then crashes and reports before it reads the suspension.
    let observer = move |e: &SupervisionEvent| {
        if matches!(e, SupervisionEvent::Failed { child, .. } if &**child == "a") {
            if let Some(go) = go.lock().unwrap().take() {
                let _ = go.send(());
            }
        }
        observer(e);
    };
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .intensity(1, Duration::from_secs(5))
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("c", ProbeArgs::new("c", &log)))
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let c = tree.child::<Probe>("c").unwrap();
    let a = tree.child::<Probe>("a").unwrap();
    c.tell(CrashAfter(wait)).await.unwrap();
    a.tell(Crash).await.unwrap();
    let mut all = Vec::new();
    loop {
        let e = events.recv().await.expect("event stream ended");
        let done = matches!(&e, SupervisionEvent::Restarted { child, .. } if &**child == "a")
            || matches!(e, SupervisionEvent::GaveUp { .. });
        all.push(e);
        if done {
            break;
        }
    }
    // Without the reasons, which the quiet panic hook would take for the crashes' own.
    let seen: Vec<String> = all
        .iter()
        .map(|e| match e {
            SupervisionEvent::Failed { child, .. } => format!("failed {child}"),
            SupervisionEvent::Restarted { child, .. } => format!("restarted {child}"),
            SupervisionEvent::GaveUp { .. } => "gave up".to_string(),
            other => format!("other, at {:?}", other.at()),
        })
        .collect();
    assert!(bus.exit().is_none(), "the bus failed: {seen:?}");
    let restarted = |name: &str| {
        all.iter()
            .filter(|e| matches!(e, SupervisionEvent::Restarted { child, .. } if &**child == name))
            .count()
    };
    let failed = all
        .iter()
        .filter(|e| matches!(e, SupervisionEvent::Failed { .. }))
        .count();
    assert_eq!(
        (restarted("c"), restarted("a"), failed),
        (1, 1, 1),
        "{seen:?}"
    );
    assert_eq!(
        log.take(),
        ["start c", "start a", "stop a", "stop c", "start c", "start a"]
    );
    let children = tree.which_children().await.unwrap();
    assert!(
        children
            .iter()
            .all(|c| matches!(c.state, ChildState::Running(_))),
        "{children:?}"
    );
}

// ---- §2 features --------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn which_children_and_count_children() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne);
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::supervisor("mid", mid))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.stop_child("b").await.unwrap();
    let children = tree.which_children().await.unwrap();
    let names: Vec<_> = children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "mid", "b"]);
    match &children[0].state {
        ChildState::Running(r) => {
            assert_eq!(Some(r.id()), tree.child::<Probe>("a").map(|a| a.id()));
            assert!(r.actor::<Probe>().is_some());
        }
        s => panic!("{s:?}"),
    }
    assert!(children[1].supervisor);
    assert_eq!(children[2].state, ChildState::Stopped);
    let count = tree.count_children().await.unwrap();
    assert_eq!(
        (count.specs, count.active, count.supervisors, count.workers),
        (3, 2, 1, 2)
    );
}

/// stop_child is a kill switch through group restarts; restart_child starts it again and
/// records no restart; delete_child only when stopped; typed errors.
#[tokio::test(start_paused = true)]
async fn stop_restart_delete_child() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .intensity(1, Duration::from_secs(60))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    log.take();
    tree.stop_child("b").await.unwrap();
    tree.stop_child("b").await.unwrap();
    assert_eq!(
        tree.stop_child("zz").await,
        Err(SupervisorError::NotFound("zz".into()))
    );
    tree.child::<Probe>("a").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        log.take(),
        ["stop b", "stop a", "start a"],
        "b stays stopped"
    );
    assert_eq!(
        tree.restart_child("a").await,
        Err(SupervisorError::Running("a".into()))
    );
    assert_eq!(
        tree.delete_child("a").await,
        Err(SupervisorError::Running("a".into()))
    );
    tree.restart_child("b").await.unwrap();
    assert_eq!(log.take(), ["start b"]);
    // The intensity allows one restart: restart_child recorded none, so a crash still
    // restarts rather than giving up... which would be the second restart. Check the count
    // through which_children instead.
    assert!(tree.child::<Probe>("b").unwrap().ask(Seen).await.is_ok());
    tree.stop_child("b").await.unwrap();
    tree.delete_child("b").await.unwrap();
    assert_eq!(
        tree.delete_child("b").await,
        Err(SupervisorError::NotFound("b".into()))
    );
    assert_eq!(tree.which_children().await.unwrap().len(), 1);
}

/// A restarted sub-supervisor comes back with its declared children only.
#[tokio::test(start_paused = true)]
async fn a_restarted_sub_supervisor_has_its_declared_children_only() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let mid = Supervisor::builder(RestartStrategy::OneForOne).child(ChildSpec::new::<Probe>(
        "declared",
        ProbeArgs::new("declared", &log),
    ));
    let root = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::supervisor("mid", mid))
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let mid_ref = root.child_supervisor("mid").unwrap();
    mid_ref
        .add_child(ChildSpec::new::<Probe>(
            "added",
            ProbeArgs::new("added", &log),
        ))
        .await
        .unwrap();
    root.child::<Probe>("w").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("w")).await;
    let names: Vec<_> = mid_ref
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["declared"]);
}

/// Akka's `maxNrOfRetries`: give up after k consecutive failed restarts.
#[tokio::test(start_paused = true)]
async fn backoff_max_restarts_gives_up() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(60))
        .backoff(Backoff::exponential(ms(100), 2.0, Duration::from_secs(10)).max_restarts(2))
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    for _ in 0..2 {
        w.tell(Crash).await.unwrap();
        next_event(&mut events, is_restarted).await;
    }
    w.tell(Crash).await.unwrap();
    match next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::GaveUp { .. })
    })
    .await
    {
        SupervisionEvent::GaveUp { reason, .. } => {
            assert!(reason.contains("allows 2 restarts"), "{reason}")
        }
        _ => unreachable!(),
    }
    assert!(matches!(bus.wait_stopped().await, BusExit::Failed(_)));
    assert_eq!(bus.now(), ms(300), "restarts after 100 and 200 ms");
}

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

/// A dynamic pool: children with their own args; restarts reuse them; stopped in parallel.
#[tokio::test(start_paused = true)]
async fn a_dynamic_pool() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let pool = Pool::<Probe>::builder("probe")
        .backoff(Backoff::none())
        .shutdown(Duration::from_secs(1))
        .on_event(observer)
        .spawn(&bus)
        .await
        .unwrap();
    let a = pool.start_child(ProbeArgs::new("a", &log)).await.unwrap();
    let b = pool.start_child(ProbeArgs::new("b", &log)).await.unwrap();
    assert_eq!(pool.children(), [a.clone(), b.clone()]);
    let names: Vec<_> = pool
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["probe-1", "probe-2"]);
    b.tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        log.take(),
        ["start a", "start b", "stop b", "start b"],
        "same args"
    );
    // Parallel shutdown: both hang; both are killed at the one deadline of 1 s.
    a.tell(Hang).await.unwrap();
    b.tell(Hang).await.unwrap();
    pool.supervisor().stop().await;
    assert_eq!(bus.now(), Duration::from_secs(1));
    assert!(!a.is_alive() && !b.is_alive());
    pool.stop_child(&a).await.unwrap_err();
}

/// A pool whose children may take for ever to stop (`Duration::MAX`, a deadline past what
/// bus time holds) stops them as `Infinity` would: asked to stop, waited for, reported.
#[tokio::test(start_paused = true)]
async fn a_pool_with_an_endless_shutdown_deadline_stops_its_children() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let pool = Pool::<Probe>::builder("probe")
        .shutdown(Duration::MAX)
        .on_event(observer)
        .spawn(&bus)
        .await
        .unwrap();
    let a = pool.start_child(ProbeArgs::new("a", &log)).await.unwrap();
    // The deadline is counted from the stop's bus time: past zero, it overflows.
    bus.clock().sleep(ms(1)).await;
    pool.supervisor().stop().await;
    assert_eq!(log.take(), ["start a", "stop a"]);
    assert_eq!(a.stop_reason(), Some(StopReason::Shutdown));
    let stopped: Vec<_> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            SupervisionEvent::Stopped { id, reason, .. } => Some((id, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(stopped, [(a.id(), StopReason::Shutdown)]);
}

/// `watch` gives one notice when an actor stops for good, never for restarts.
#[tokio::test(start_paused = true)]
async fn watch_reports_the_final_stop_only() {
    quiet_panics();
    struct Watcher(mpsc::UnboundedSender<Down>);
    impl Actor for Watcher {
        type Args = (ActorRef<Probe>, mpsc::UnboundedSender<Down>);
        async fn on_start((w, tx): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            ctx.watch(&w);
            Ok(Watcher(tx))
        }
    }
    impl Handler<Down> for Watcher {
        type Reply = ();
        async fn handle(&mut self, down: Down, _ctx: &mut Context<Self>) {
            let _ = self.0.send(down);
        }
    }
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let (tx, mut downs) = mpsc::unbounded_channel();
    let _watcher = bus.spawn::<Watcher>((w.clone(), tx));
    w.tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    w.ask(Seen).await.unwrap();
    assert!(downs.try_recv().is_err(), "no notice for a restart");
    tree.stop_child("w").await.unwrap();
    let down = downs.recv().await.unwrap();
    assert_eq!(
        down,
        Down {
            id: w.id(),
            reason: StopReason::Shutdown
        }
    );
    bus.clock().sleep(Duration::from_secs(1)).await;
    assert!(downs.try_recv().is_err(), "one notice only");
}

/// Linked children stop, in reverse order, before the owner's next incarnation starts, and
/// are never duplicated.
#[tokio::test(start_paused = true)]
async fn linked_children_stop_before_the_owner_restarts() {
    quiet_panics();
    struct Owner;
    impl Actor for Owner {
        type Args = Log;
        async fn on_start(log: Log, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            log.push("start owner");
            ctx.spawn_child::<Probe>(ProbeArgs::new("x", &log))?;
            ctx.spawn_child::<Probe>(ProbeArgs::new("y", &log))?;
            Ok(Owner)
        }
    }
    impl Handler<Crash> for Owner {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Owner>("owner", log.clone()))
        .spawn(&bus)
        .await
        .unwrap();
    assert_eq!(bus.actor_count(), 4);
    tree.child::<Owner>("owner")
        .unwrap()
        .tell(Crash)
        .await
        .unwrap();
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        log.take(),
        [
            "start owner",
            "start x",
            "start y",
            "stop y",
            "stop x",
            "start owner",
            "start x",
            "start y"
        ]
    );
    assert_eq!(bus.actor_count(), 4, "no duplicates");
    tree.stop().await;
    assert_eq!(bus.actor_count(), 0);
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

/// Calls on a stopped supervisor say so; a pool takes no declared children.
#[tokio::test(start_paused = true)]
async fn calls_on_a_stopped_supervisor_and_a_pool_with_children_are_refused() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.stop().await;
    assert_eq!(tree.which_children().await, Err(SupervisorError::Stopped));
    assert_eq!(tree.count_children().await, Err(SupervisorError::Stopped));
    assert_eq!(tree.stop_child("a").await, Err(SupervisorError::Stopped));
    assert!(matches!(
        tree.add_child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
            .await,
        Err(SupervisorError::Stopped)
    ));
    let pool = Pool::<Probe>::builder("p")
        .into_supervisor()
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)));
    assert_eq!(pool.validate(), Err(SpecError::PoolWithChildren));
    // A significant child added at run time is checked like a declared one.
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .spawn(&bus)
        .await
        .unwrap();
    assert_eq!(
        tree.add_child(
            ChildSpec::new::<Probe>("s", ProbeArgs::new("s", &log))
                .restart(Restart::Transient)
                .significant(true)
        )
        .await,
        Err(SupervisorError::InvalidSpec(
            SpecError::SignificantWithoutAutoShutdown("s".into())
        ))
    );
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

/// A pool nested in a tree: restarted with the tree, it comes back empty (it declares no
/// children).
#[tokio::test(start_paused = true)]
async fn a_nested_pool() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let root = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::supervisor(
            "sessions",
            Pool::<Probe>::builder("session").into_supervisor(),
        ))
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let pool =
        mycelium::supervisor::PoolRef::<Probe>::of(root.child_supervisor("sessions").unwrap());
    let s = pool.start_child(ProbeArgs::new("s1", &log)).await.unwrap();
    assert_eq!(pool.count_children().await.unwrap().active, 1);
    root.child::<Probe>("w").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("w")).await;
    assert!(!s.is_alive());
    assert_eq!(pool.count_children().await.unwrap().specs, 0);
    assert!(pool.start_child(ProbeArgs::new("s2", &log)).await.is_ok());
}

/// An address got from a nested supervisor follows its child also after that supervisor was
/// killed and spawned anew by its parent (a new ref and a new directory): it finds the
/// supervisor again by name from the root. It stays alive meanwhile, and once the parent
/// gives the subtree up it turns dead.
#[tokio::test(start_paused = true)]
async fn an_address_from_a_nested_supervisor_follows_its_child_across_the_supervisors_respawn() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let (root, mut events) = root_over_mid(&bus, &log).await;
    let mid_ref = root.child_supervisor("mid").unwrap();
    let tells = mid_ref.child_recipient::<Flaky, Ping>("worker").unwrap();
    let asks = mid_ref
        .child_reply_recipient::<Flaky, Ping>("worker")
        .unwrap();
    let old = mid_ref.child::<Flaky>("worker").unwrap();
    asks.ask(Ping).await.unwrap();
    mid_ref.actor_ref().kill();
    next_event(&mut events, |e| is_restarted(e) && e.child() == Some("mid")).await;
    let new = root
        .child_supervisor("mid")
        .unwrap()
        .child::<Flaky>("worker")
        .unwrap();
    assert_ne!(new.id(), old.id());
    assert!(tells.is_alive() && asks.is_alive());
    tells.tell(Ping).await.unwrap();
    asks.ask(Ping).await.unwrap();
    assert_eq!(asks.id(), new.id(), "the new worker answers");
    assert_eq!(tells.id(), new.id());
    // The root gives the subtree up: the addresses turn dead and refuse.
    root.stop_child("mid").await.unwrap();
    assert!(!asks.is_alive() && !tells.is_alive());
    assert!(matches!(asks.ask(Ping).await, Err(AskError::Closed(_))));
    root.stop().await;
}

//! Supervision trees: strategies, restart types, intensity and escalation, backoff,
//! determinism, and what survives a restart. All on the virtual clock.

mod common;

use std::time::Duration;

use common::*;
use mycelium::actors::{BusExit, DeadLetterReason, Failure, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, Restart, SupervisionEvent, SupervisorRef};
use tokio::sync::oneshot;

async fn three_children(
    strategy: RestartStrategy,
    log: &Log,
) -> (
    SupervisorRef,
    tokio::sync::mpsc::UnboundedReceiver<SupervisionEvent>,
) {
    let bus = virtual_bus(1);
    let (observer, events) = event_channel();
    let tree = Supervisor::builder(strategy)
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", log)))
        .child(ChildSpec::new::<Probe>("c", ProbeArgs::new("c", log)))
        .spawn(&bus)
        .await
        .unwrap();
    (tree, events)
}

async fn crash_b_and_collect(strategy: RestartStrategy, restarts: usize) -> Vec<String> {
    quiet_panics();
    let log = Log::default();
    let (tree, mut events) = three_children(strategy, &log).await;
    assert_eq!(log.take(), ["start a", "start b", "start c"]);
    let b = tree.child::<Probe>("b").unwrap();
    b.tell(Crash).await.unwrap();
    for _ in 0..restarts {
        next_event(&mut events, is_restarted).await;
    }
    // Every child answers after the restarts.
    for name in ["a", "b", "c"] {
        tree.child::<Probe>(name).unwrap().ask(Seen).await.unwrap();
    }
    log.take()
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let order = crash_b_and_collect(RestartStrategy::OneForOne, 1).await;
    assert_eq!(order, ["stop b", "start b"]);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_stops_in_reverse_and_starts_in_order() {
    let order = crash_b_and_collect(RestartStrategy::OneForAll, 3).await;
    assert_eq!(
        order,
        ["stop b", "stop c", "stop a", "start a", "start b", "start c"]
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let order = crash_b_and_collect(RestartStrategy::RestForOne, 2).await;
    assert_eq!(order, ["stop b", "stop c", "start b", "start c"]);
}

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

/// Crashes the worker `n` times and returns the restart delays and times seen.
async fn restart_timeline(seed: u64, n: usize) -> Vec<(Duration, Duration, u32)> {
    quiet_panics();
    let bus = virtual_bus(seed);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let backoff = Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(2))
        .with_jitter(0.5)
        .reset_after(Duration::from_secs(3600));
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(1))
        .backoff(backoff.clone())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let mut timeline = Vec::new();
    for attempt in 0..n as u32 {
        let crashed_at = bus.now();
        w.tell(Crash).await.unwrap();
        match next_event(&mut events, is_restarted).await {
            SupervisionEvent::Restarted {
                at,
                delay,
                attempt: a,
                ..
            } => {
                assert_eq!(a, attempt);
                // Delay within [base * factor^n capped, that * (1 + jitter)].
                let base = backoff.base_delay(attempt);
                assert!(
                    delay >= base && delay.as_secs_f64() <= base.as_secs_f64() * 1.5 + 1e-9,
                    "attempt {attempt}: {delay:?} vs {base:?}"
                );
                // The restart happened `delay` of bus time after the crash, rounded up to the
                // timer's 1 ms resolution.
                let waited = at - crashed_at;
                assert!(
                    waited >= delay && waited <= delay + Duration::from_millis(1),
                    "{waited:?} vs {delay:?}"
                );
                timeline.push((at, delay, a));
            }
            _ => unreachable!(),
        }
    }
    timeline
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_restart_timeline() {
    let a = restart_timeline(42, 6).await;
    let b = restart_timeline(42, 6).await;
    assert_eq!(a, b);
    let c = restart_timeline(43, 6).await;
    assert_ne!(a, c, "a different seed draws different jitter");
    // Capped growth: attempt 5 would be 3.2 s, capped at 2 s (plus up to 50%).
    assert!(a[5].1 >= Duration::from_secs(2) && a[5].1 <= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn backoff_resets_after_a_clean_run() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(1))
        .backoff(
            Backoff::exponential(Duration::from_millis(10), 10.0, Duration::from_secs(60))
                .reset_after(Duration::from_secs(5)),
        )
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let mut delays = Vec::new();
    for clean_run in [0u64, 0, 10, 0] {
        w.ask(Nap(Duration::from_secs(clean_run))).await.unwrap();
        w.tell(Crash).await.unwrap();
        if let SupervisionEvent::Restarted { delay, .. } =
            next_event(&mut events, is_restarted).await
        {
            delays.push(delay);
        }
    }
    let ms = Duration::from_millis;
    assert_eq!(delays, [ms(10), ms(100), ms(10), ms(100)]);
}

/// The ref, its id and the messages queued behind the failing one survive a restart; the
/// failing message goes to dead letters; an ask caught in the failure says so.
#[tokio::test(start_paused = true)]
async fn refs_and_queued_messages_survive_a_restart() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(250),
            2.0,
            Duration::from_secs(1),
        ))
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let id = w.id();
    w.tell(Record(0)).await.unwrap();
    let (go, wait) = oneshot::channel();
    w.tell(CrashAfter(wait)).await.unwrap();
    for n in 1..=3 {
        w.tell(Record(n)).await.unwrap();
    }
    go.send(()).unwrap();
    next_event(&mut events, is_restarted).await;

    assert_eq!(w.id(), id);
    assert_eq!(tree.child::<Probe>("w").unwrap(), w);
    // Fresh state (0 was recorded by the failed incarnation), queued messages kept in order.
    assert_eq!(w.ask(Seen).await.unwrap(), [1, 2, 3]);

    let letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.actor, id);
    assert_eq!(letter.message_type, "CrashAfter");
    match &letter.reason {
        DeadLetterReason::HandlerFailed(f) => {
            assert_eq!(&*f.reason, "boom");
            assert_eq!(f.phase, mycelium::actors::Phase::Message("CrashAfter"));
        }
        other => panic!("unexpected reason {other:?}"),
    }

    // An ask whose handler panics gets an error that says the actor failed and restarts.
    match w.ask(Crash).await {
        Err(AskError::Failed(f)) => assert_eq!(&*f.reason, "crash requested"),
        other => panic!("expected AskError::Failed, got {other:?}"),
    }
    let text = AskError::<Crash>::Failed(Failure::from_error(mycelium::actors::Phase::Start, "x"))
        .to_string();
    assert!(
        text.contains("failed") && text.contains("restarting"),
        "{text}"
    );
    next_event(&mut events, is_restarted).await;
    assert_eq!(w.ask(Seen).await.unwrap(), Vec::<u64>::new());
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

#[tokio::test(start_paused = true)]
async fn children_can_be_added_and_removed_at_run_time() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::RestForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.add_child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .await
        .unwrap();
    assert!(matches!(
        tree.add_child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
            .await,
        Err(mycelium::supervisor::SupervisorError::AlreadyPresent(_))
    ));
    assert_eq!(
        tree.children()
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    tree.remove_child("a").await.unwrap();
    assert!(matches!(
        tree.remove_child("a").await,
        Err(mycelium::supervisor::SupervisorError::NotFound(_))
    ));
    assert_eq!(log.take(), ["start a", "start b", "stop a"]);
    tree.stop().await;
    assert_eq!(log.take(), ["stop b"]);
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

/// While a failed child waits out its backoff, its timers and topic subscriptions are
/// already gone: nothing piles up in its mailbox for the next incarnation.
#[tokio::test(start_paused = true)]
async fn a_failed_incarnation_leaves_no_timers_or_subscriptions_behind() {
    use mycelium::actors::{Published, SubscribeOptions};
    quiet_panics();
    #[derive(Clone)]
    struct Tick;
    struct Listener {
        ticks: u32,
        prices: u32,
    }
    impl Actor for Listener {
        type Args = ();
        async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            ctx.send_interval(Tick, Duration::from_millis(100));
            ctx.subscribe::<f64>("md.px", SubscribeOptions::new())?;
            Ok(Listener {
                ticks: 0,
                prices: 0,
            })
        }
    }
    impl Handler<Tick> for Listener {
        type Reply = ();
        async fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) {
            self.ticks += 1;
        }
    }
    impl Handler<Published<f64>> for Listener {
        type Reply = ();
        async fn handle(&mut self, _: Published<f64>, _ctx: &mut Context<Self>) {
            self.prices += 1;
        }
    }
    impl Handler<Crash> for Listener {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    impl Handler<Seen> for Listener {
        type Reply = (u32, u32);
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> (u32, u32) {
            (self.ticks, self.prices)
        }
    }

    let bus = virtual_bus(1);
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_secs(10),
            2.0,
            Duration::from_secs(60),
        ))
        .on_event(observer)
        .child(ChildSpec::new::<Listener>("l", ()))
        .spawn(&bus)
        .await
        .unwrap();
    let l = tree.child::<Listener>("l").unwrap();
    l.tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::Failed { .. })
    })
    .await;
    // During the 10 s backoff: no subscriber for the topic, and the interval is silent.
    let report = bus.publish("md.px", 1.0f64).await.unwrap();
    assert_eq!(report.matched, 0, "{report:?}");
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        l.ask(Seen).await.unwrap(),
        (0, 0),
        "nothing from the failed incarnation arrived"
    );
    bus.publish("md.px", 2.0f64).await.unwrap();
    bus.clock().sleep(Duration::from_millis(250)).await;
    assert_eq!(l.ask(Seen).await.unwrap(), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn shutting_a_tree_down_leaves_no_dead_letters_of_its_own() {
    let bus = virtual_bus(9);
    let log = Log::default();
    let inner = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)))
        .child(ChildSpec::new::<Probe>("y", ProbeArgs::new("y", &log)));
    let _tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::supervisor("inner", inner))
        .spawn(&bus)
        .await
        .unwrap();
    bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        bus.dead_letters().total(),
        0,
        "the supervisors' own bookkeeping is not a lost message"
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_supervisor_takes_its_children_with_it_and_reports_no_bookkeeping() {
    let bus = virtual_bus(10);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let a = tree.child::<Probe>("a").unwrap();
    tree.actor_ref().kill();
    assert_eq!(tree.wait_for_stop().await, StopReason::Killed);
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);
    // Let the children's exits settle.
    tokio::task::yield_now().await;
    assert_eq!(bus.dead_letters().total(), 0);
}

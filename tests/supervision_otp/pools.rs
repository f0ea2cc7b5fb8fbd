//! Pools: dynamic children with their own args, an endless shutdown deadline, and a pool
//! nested in a tree.

use std::time::Duration;

use crate::common::*;
use crate::{drain, events, ms};
use mycelium::actors::StopReason;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, Pool, SupervisionEvent, SupervisorError};

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

/// OTP's `hanging_restart_loop_simple`: a pool child whose restarts keep failing, stopped
/// through its ref while it waits out its backoff, is stopped for good and forgotten; the
/// planned restart never comes. Its ref stays valid through the loop (restarts in place).
#[tokio::test(start_paused = true)]
async fn stopping_a_pool_child_in_its_restart_loop_stops_it_for_good() {
    use crate::flaky::{Flaky, FlakyArgs};
    use std::sync::atomic::Ordering;

    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let pool = Pool::<Flaky>::builder("flaky")
        .intensity(100, Duration::from_secs(10))
        .backoff(Backoff::exponential(ms(100), 1.0, ms(100)))
        .on_event(observer)
        .spawn(&bus)
        .await
        .unwrap();
    let args = FlakyArgs::new("a", &log);
    let a = pool.start_child(args.clone()).await.unwrap();
    args.failures.store(u32::MAX, Ordering::SeqCst);
    a.tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::RestartFailed { .. })
    })
    .await;
    pool.stop_child(&a).await.unwrap();
    assert!(!a.is_alive());
    drain(&mut events);
    // Well past the next planned attempt: none comes.
    bus.clock().sleep(Duration::from_secs(1)).await;
    let attempts: Vec<_> = drain(&mut events)
        .into_iter()
        .filter(|e| matches!(e, SupervisionEvent::RestartFailed { .. }) || is_restarted(e))
        .collect();
    assert!(attempts.is_empty(), "{attempts:?}");
    assert_eq!(log.take(), ["start a", "stop a", "fail a"]);
    assert_eq!(pool.count_children().await.unwrap().specs, 0);
    assert_eq!(
        pool.stop_child(&a).await,
        Err(SupervisorError::NotFound(a.id().to_string())),
        "forgotten"
    );
}

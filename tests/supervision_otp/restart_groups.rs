//! Group restarts (rest_for_one and one_for_all): where a failed group restart resumes, what
//! happens to temporary and hanging bystanders, and crash reports a group restart overtook.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use crate::flaky::{Flaky, FlakyArgs};
use crate::{drain, events, ms};
use mycelium::actors::StopReason;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, ChildState, Restart, SupervisionEvent};
use tokio::sync::oneshot;

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

/// rest_for_one: stopping `b` while it is in its restart loop cancels its restart, and `c`,
/// which waits behind it, stays down (as OTP leaves it) instead of starting without `b`
/// when the planned attempt comes. `a` runs on.
#[tokio::test(start_paused = true)]
async fn rest_for_one_stopping_a_child_in_its_restart_loop_leaves_the_later_ones_down() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let b = FlakyArgs::new("b", &log);
    let tree = Supervisor::builder(RestartStrategy::RestForOne)
        .intensity(100, Duration::from_secs(10))
        .backoff(Backoff::exponential(ms(100), 1.0, ms(100)))
        .on_event(observer)
        .child(ChildSpec::new::<Flaky>("a", FlakyArgs::new("a", &log)))
        .child(ChildSpec::new::<Flaky>("b", b.clone()))
        .child(ChildSpec::new::<Flaky>("c", FlakyArgs::new("c", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let c = tree.child::<Flaky>("c").unwrap();
    log.take();
    b.failures.store(u32::MAX, Ordering::SeqCst);
    tree.child::<Flaky>("b").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::RestartFailed { .. })
    })
    .await;
    drain(&mut events);
    tree.stop_child("b").await.unwrap();
    // Well past the next planned attempt.
    bus.clock().sleep(Duration::from_secs(1)).await;
    let seen: Vec<_> = drain(&mut events)
        .into_iter()
        .map(|e| match &e {
            SupervisionEvent::Stopped { child, .. } => format!("stopped {child}"),
            e => format!("{e}"),
        })
        .collect();
    assert_eq!(seen, ["stopped c", "stopped b"]);
    assert_eq!(log.take(), ["stop b", "stop c", "fail b"]);
    assert!(!c.is_alive());
    let states: Vec<_> = tree
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| match c.state {
            ChildState::Running(_) => "running",
            ChildState::Restarting { .. } => "restarting",
            ChildState::Stopped => "stopped",
        })
        .collect();
    assert_eq!(states, ["running", "stopped", "stopped"]);
    // Stopped, not lost: restart_child brings c back.
    tree.restart_child("c").await.unwrap();
    assert_eq!(log.take(), ["start c"]);
}

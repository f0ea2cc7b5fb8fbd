use super::*;
use mycelium_actors::{Failure, Phase};
use RestartStrategy::*;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn crash() -> StopReason {
    StopReason::Failed(Failure::from_error(Phase::Message("Tick"), "bad tick"))
}

fn start_error() -> StopReason {
    StopReason::Failed(Failure::from_error(Phase::Start, "db down"))
}

fn n(s: &str) -> Arc<str> {
    Arc::from(s)
}

/// A policy with children `a`, `b`, `c` (restart types as given) running since 0, a
/// 100 ms constant backoff and an intensity of `max` in 1 s.
fn policy(strategy: RestartStrategy, restarts: [Restart; 3], max: u32) -> Policy {
    let backoff = Backoff::exponential(ms(100), 1.0, ms(100));
    let mut p = Policy::new(
        strategy,
        max,
        ms(1000),
        backoff,
        DetRng::new(1),
        AutoShutdown::Never,
        false,
    );
    for (name, restart) in ["a", "b", "c"].into_iter().zip(restarts) {
        p.add(Child::new(n(name), restart, false), ms(0)).unwrap();
    }
    p
}

const PERM: [Restart; 3] = [Restart::Permanent; 3];

fn restart(child: &str) -> Action {
    Action::Restart {
        child: n(child),
        delay: ms(100),
        attempt: 0,
    }
}

fn states(p: &Policy) -> Vec<(String, &'static str)> {
    p.children()
        .iter()
        .map(|c| {
            let s = match c.state {
                State::Running { .. } => "running",
                State::Restarting { .. } => "restarting",
                State::Stopped => "stopped",
            };
            (c.name.to_string(), s)
        })
        .collect()
}

/// Which siblings each strategy stops (in reverse start order) when `b` fails.
#[test]
fn strategy_table() {
    let table: [(RestartStrategy, &[Action]); 3] = [
        (OneForOne, &[]),
        (
            OneForAll,
            &[Action::Suspend(n("c")), Action::Suspend(n("a"))],
        ),
        (RestForOne, &[Action::Suspend(n("c"))]),
    ];
    for (strategy, expected) in table {
        let mut p = policy(strategy, PERM, 10);
        assert_eq!(p.exited("b", &crash(), ms(5)), expected, "{strategy:?}");
        assert_eq!(p.next_due(), Some(ms(105)), "{strategy:?}");
        assert_eq!(p.tick(ms(104)), None, "{strategy:?}: not yet due");
    }
}

/// The group restarts one child per step, in start order.
#[test]
fn one_for_all_restarts_in_start_order_one_step_at_a_time() {
    let mut p = policy(OneForAll, PERM, 10);
    p.exited("b", &crash(), ms(0));
    for child in ["a", "b", "c"] {
        assert_eq!(p.tick(ms(100)), Some(restart(child)));
        p.started(child, ms(100));
    }
    assert_eq!(p.tick(ms(100)), None);
    assert_eq!(p.next_due(), None);
}

/// Which exits restart which restart types.
#[test]
fn restart_type_table() {
    let normal = StopReason::Normal;
    let asked = StopReason::Shutdown;
    let killed = StopReason::Killed;
    #[rustfmt::skip]
        let table = [
            (Restart::Permanent, &normal, true),
            (Restart::Permanent, &crash(), true),
            (Restart::Transient, &normal, false),
            (Restart::Transient, &asked, false),
            (Restart::Transient, &killed, true),
            (Restart::Transient, &crash(), true),
            (Restart::Temporary, &crash(), false),
            (Restart::Temporary, &normal, false),
        ];
    for (restart, reason, restarts) in table {
        let mut p = policy(OneForOne, [restart; 3], 10);
        let actions = p.exited("a", reason, ms(0));
        let case = format!("{restart:?} after {reason}");
        if restarts {
            assert!(actions.is_empty(), "{case}: {actions:?}");
            assert!(
                matches!(p.state("a"), Some(State::Restarting { .. })),
                "{case}"
            );
        } else if restart == Restart::Temporary {
            assert_eq!(
                actions,
                [Action::Stop(n("a")), Action::Forget(n("a"))],
                "{case}"
            );
            assert_eq!(
                p.state("a"),
                None,
                "{case}: a temporary child's spec is removed"
            );
        } else {
            assert_eq!(actions, [Action::Stop(n("a"))], "{case}");
            assert_eq!(p.state("a"), Some(State::Stopped), "{case}: spec kept");
        }
    }
}

/// OTP's boundary case: intensity 1 per 1000 ms; failures at 0 and 1000 give up.
#[test]
fn intensity_window_includes_its_boundary() {
    for (second_at, gives_up) in [(1000, true), (1001, false)] {
        let mut p = policy(OneForOne, PERM, 1);
        assert_eq!(p.exited("a", &crash(), ms(0)), []);
        p.tick(ms(100));
        p.started("a", ms(100));
        let actions = p.exited("a", &crash(), ms(second_at));
        assert_eq!(
            matches!(actions.as_slice(), [Action::GiveUp(_)]),
            gives_up,
            "second failure at {second_at}: {actions:?}"
        );
    }
}

#[test]
fn zero_intensity_gives_up_at_the_first_failure_and_then_decides_nothing() {
    let mut p = policy(OneForOne, PERM, 0);
    let actions = p.exited("a", &crash(), ms(0));
    match actions.as_slice() {
        [Action::GiveUp(why)] => {
            assert!(why.contains("more than 0 restarts"), "{why}");
            assert!(why.contains("`a`") && why.contains("bad tick"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.exited("b", &crash(), ms(1)), []);
    assert_eq!(p.tick(ms(1000)), None);
}

/// rest_for_one: a restart attempt that fails at `b` resumes at `b`; `a` is left alone
/// and `c` waits while `b` fails.
#[test]
fn rest_for_one_resumes_at_the_child_that_failed_to_start() {
    let mut p = policy(RestForOne, PERM, 10);
    assert_eq!(
        p.exited("a", &crash(), ms(0)),
        [Action::Suspend(n("c")), Action::Suspend(n("b"))]
    );
    assert_eq!(p.tick(ms(100)), Some(restart("a")));
    p.started("a", ms(100));
    assert_eq!(p.tick(ms(100)), Some(restart("b")));
    // b fails to start: a keeps running, c is not started.
    assert_eq!(p.start_failed("b", &start_error(), ms(100)), []);
    assert_eq!(p.tick(ms(100)), None, "c waits for b");
    assert_eq!(
        states(&p),
        [
            ("a".into(), "running"),
            ("b".into(), "restarting"),
            ("c".into(), "restarting")
        ]
    );
    assert_eq!(p.next_due(), Some(ms(200)));
    assert_eq!(p.tick(ms(200)), Some(restart("b")));
    p.started("b", ms(200));
    assert_eq!(p.tick(ms(200)), Some(restart("c")));
}

/// one_for_all: a restart attempt that fails at `b` stops `a` (started in this round)
/// and starts the whole group again.
#[test]
fn one_for_all_restart_failure_restarts_the_whole_group() {
    let mut p = policy(OneForAll, PERM, 10);
    p.exited("c", &crash(), ms(0));
    assert_eq!(p.tick(ms(100)), Some(restart("a")));
    p.started("a", ms(100));
    assert_eq!(p.tick(ms(100)), Some(restart("b")));
    assert_eq!(
        p.start_failed("b", &start_error(), ms(100)),
        [Action::Suspend(n("a"))]
    );
    assert_eq!(p.tick(ms(200)), Some(restart("a")));
}

/// one_for_one: a failing child does not hold back an independent sibling.
#[test]
fn one_for_one_children_restart_independently() {
    let mut p = policy(OneForOne, PERM, 10);
    p.exited("c", &crash(), ms(0));
    p.exited("a", &crash(), ms(50));
    assert_eq!(p.tick(ms(100)), Some(restart("c")));
    p.started("c", ms(100));
    assert_eq!(p.tick(ms(100)), None);
    assert_eq!(p.tick(ms(150)), Some(restart("a")));
}

/// A temporary bystander of a group restart is stopped for good and forgotten.
#[test]
fn temporary_bystanders_are_stopped_and_forgotten() {
    let mut p = policy(
        OneForAll,
        [Restart::Permanent, Restart::Permanent, Restart::Temporary],
        10,
    );
    assert_eq!(
        p.exited("a", &crash(), ms(0)),
        [
            Action::Stop(n("c")),
            Action::Forget(n("c")),
            Action::Suspend(n("b"))
        ]
    );
    assert_eq!(p.state("c"), None);
    assert_eq!(p.tick(ms(100)), Some(restart("a")));
}

/// Backoff attempts grow with consecutive failures and reset after a clean run;
/// `max_restarts(k)` gives up at the `k + 1`-th consecutive failure.
#[test]
fn backoff_attempts_and_max_restarts() {
    let backoff = Backoff::exponential(ms(100), 2.0, ms(10_000))
        .reset_after(ms(1000))
        .max_restarts(2);
    let mut p = Policy::new(
        OneForOne,
        100,
        ms(1000),
        backoff,
        DetRng::new(1),
        AutoShutdown::Never,
        false,
    );
    p.add(Child::new(n("a"), Restart::Permanent, false), ms(0))
        .unwrap();
    let mut now = ms(0);
    let mut delays = Vec::new();
    // (time running before the crash, what follows)
    for (run, gives_up) in [
        (10, false),
        (10, false),
        (5000, false),
        (10, false),
        (10, true),
    ] {
        now += ms(run);
        let actions = p.exited("a", &crash(), now);
        if gives_up {
            match actions.as_slice() {
                [Action::GiveUp(why)] => {
                    assert!(why.contains("3 consecutive failures"), "{why}")
                }
                other => panic!("{other:?}"),
            }
            break;
        }
        assert_eq!(actions, []);
        let Some(State::Restarting { delay, due, .. }) = p.state("a") else {
            panic!()
        };
        delays.push(delay);
        now = due;
        p.tick(now);
        p.started("a", now);
    }
    assert_eq!(delays, [ms(100), ms(200), ms(100), ms(200)]);
}

/// An operator's stop is a kill switch: the child stays stopped through group restarts
/// until `restart_child`, which records no restart.
#[test]
fn admin_calls() {
    let mut p = policy(OneForAll, PERM, 10);
    assert_eq!(p.stop_child("b").unwrap(), [Action::Stop(n("b"))]);
    assert_eq!(
        p.stop_child("b").unwrap(),
        [],
        "stopping a stopped child is a no-op"
    );
    assert_eq!(p.exited("a", &crash(), ms(0)), [Action::Suspend(n("c"))]);
    assert_eq!(p.tick(ms(100)), Some(restart("a")));
    p.started("a", ms(100));
    assert_eq!(p.tick(ms(100)), Some(restart("c")));
    p.started("c", ms(100));
    assert_eq!(p.tick(ms(100)), None, "b stays stopped");
    assert_eq!(p.state("b"), Some(State::Stopped));

    assert_eq!(
        p.check_restart("a"),
        Err(SupervisorError::Running("a".into()))
    );
    assert_eq!(
        p.check_restart("x"),
        Err(SupervisorError::NotFound("x".into()))
    );
    assert_eq!(
        p.delete_child("a"),
        Err(SupervisorError::Running("a".into()))
    );
    p.exited("a", &crash(), ms(200));
    assert_eq!(
        p.check_restart("a"),
        Err(SupervisorError::Restarting("a".into()))
    );
    assert_eq!(
        p.delete_child("a"),
        Err(SupervisorError::Restarting("a".into()))
    );
    assert_eq!(p.check_restart("b"), Ok(()));
    assert_eq!(p.delete_child("b").unwrap(), [Action::Forget(n("b"))]);
    assert_eq!(
        p.delete_child("b"),
        Err(SupervisorError::NotFound("b".into()))
    );
    assert_eq!(
        p.add(Child::new(n("a"), Restart::Permanent, false), ms(0)),
        Err(SupervisorError::AlreadyPresent("a".into()))
    );
}

/// Stopping a child that waits for its restart cancels the restart planned after its
/// failure: the members of its group waiting behind it stay down, as OTP leaves them. A
/// member waiting behind another child stops alone, and that child's plan goes on.
#[test]
fn stopping_a_child_waiting_for_its_restart_cancels_its_group_restart() {
    let stopped_with_behind = [Action::Stop(n("c")), Action::Stop(n("b"))];
    // rest_for_one: c waits behind b, in b's restart loop.
    let mut p = policy(RestForOne, PERM, 10);
    p.exited("b", &crash(), ms(0));
    assert_eq!(p.tick(ms(100)), Some(restart("b")));
    assert_eq!(p.start_failed("b", &start_error(), ms(100)), []);
    assert_eq!(p.stop_child("b").unwrap(), stopped_with_behind);
    let expected = [("a", "running"), ("b", "stopped"), ("c", "stopped")];
    assert_eq!(states(&p), expected.map(|(c, s)| (c.to_string(), s)));
    assert_eq!(p.next_due(), None);
    assert_eq!(p.tick(ms(10_000)), None);

    // one_for_all: a has started again already; c has not and stays down.
    let mut p = policy(OneForAll, PERM, 10);
    p.exited("b", &crash(), ms(0));
    assert_eq!(p.tick(ms(100)), Some(restart("a")));
    p.started("a", ms(100));
    assert_eq!(p.stop_child("b").unwrap(), stopped_with_behind);
    assert_eq!(states(&p), expected.map(|(c, s)| (c.to_string(), s)));
    assert_eq!(p.next_due(), None);

    // remove_child cancels the same way.
    let mut p = policy(RestForOne, PERM, 10);
    p.exited("b", &crash(), ms(0));
    assert_eq!(
        p.remove_child("b").unwrap(),
        [
            Action::Stop(n("c")),
            Action::Stop(n("b")),
            Action::Forget(n("b"))
        ]
    );
    assert_eq!(p.state("c"), Some(State::Stopped));
    assert_eq!(p.next_due(), None);

    // b waits behind a: stopping b leaves a's plan, which goes on without b.
    let mut p = policy(RestForOne, PERM, 10);
    p.exited("a", &crash(), ms(0));
    assert_eq!(p.stop_child("b").unwrap(), [Action::Stop(n("b"))]);
    assert_eq!(p.tick(ms(100)), Some(restart("a")));
    p.started("a", ms(100));
    assert_eq!(p.tick(ms(100)), Some(restart("c")));

    // Once b has started again, its restart happened: c's start goes on.
    let mut p = policy(RestForOne, PERM, 10);
    p.exited("b", &crash(), ms(0));
    assert_eq!(p.tick(ms(100)), Some(restart("b")));
    p.started("b", ms(100));
    assert_eq!(p.stop_child("b").unwrap(), [Action::Stop(n("b"))]);
    assert_eq!(p.tick(ms(100)), Some(restart("c")));
}

/// Only exits a significant child causes itself shut the supervisor down.
#[test]
fn auto_shutdown_table() {
    let significant = |mode| {
        let mut p = Policy::new(
            OneForOne,
            10,
            ms(1000),
            Backoff::none(),
            DetRng::new(1),
            mode,
            false,
        );
        for name in ["a", "b"] {
            p.add(Child::new(n(name), Restart::Transient, true), ms(0))
                .unwrap();
        }
        p
    };
    let mut p = significant(AutoShutdown::AnySignificant);
    assert_eq!(
        p.exited("a", &StopReason::Normal, ms(0)),
        [Action::Stop(n("a")), Action::Shutdown]
    );
    let mut p = significant(AutoShutdown::AllSignificant);
    assert_eq!(
        p.exited("a", &StopReason::Normal, ms(0)),
        [Action::Stop(n("a"))]
    );
    assert_eq!(
        p.exited("b", &StopReason::Normal, ms(0)),
        [Action::Stop(n("b")), Action::Shutdown]
    );
    // An operator's stop is not an exit the child caused.
    let mut p = significant(AutoShutdown::AnySignificant);
    assert_eq!(p.stop_child("a").unwrap(), [Action::Stop(n("a"))]);
    // A failure restarts a transient child: not done.
    assert_eq!(p.exited("b", &crash(), ms(0)), []);
    let mut p = significant(AutoShutdown::Never);
    assert_eq!(
        p.exited("a", &StopReason::Normal, ms(0)),
        [Action::Stop(n("a"))]
    );
}

#[test]
fn pool_children_are_forgotten_when_they_stop() {
    let mut p = Policy::new(
        OneForOne,
        10,
        ms(1000),
        Backoff::none(),
        DetRng::new(1),
        AutoShutdown::Never,
        true,
    );
    p.add(Child::new(n("w-1"), Restart::Transient, false), ms(0))
        .unwrap();
    assert_eq!(
        p.exited("w-1", &StopReason::Normal, ms(0)),
        [Action::Stop(n("w-1")), Action::Forget(n("w-1"))]
    );
    assert!(p.children().is_empty());
}

/// Exits of children the supervisor is already stopping or restarting change nothing.
#[test]
fn late_reports_are_ignored() {
    let mut p = policy(OneForAll, PERM, 10);
    p.exited("a", &crash(), ms(0));
    assert_eq!(
        p.exited("b", &crash(), ms(1)),
        [],
        "b was suspended for the restart"
    );
    assert_eq!(p.exited("zzz", &crash(), ms(1)), []);
    let stopping = p.shut_down();
    assert_eq!(stopping.len(), 3);
    assert_eq!(stopping[0].0, n("c"));
    assert_eq!(p.tick(ms(500)), None);
}

mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Ev {
        /// Child `k` ends by itself: crash or normal stop.
        Exit(usize, bool),
        /// Time passes by this many ms, then a step.
        Tick(u64),
        /// An operator stops child `k`.
        Stop(usize),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            (0usize..4, any::<bool>()).prop_map(|(k, crash)| Ev::Exit(k, crash)),
            (0u64..250).prop_map(Ev::Tick),
            (0usize..4).prop_map(Ev::Stop),
        ]
    }

    proptest! {
        /// Against any sequence of exits, steps and start outcomes: a restart names a
        /// child waiting for one; one child starts per step, the first due in start
        /// order; nothing is decided after giving up; and under one_for_all and
        /// rest_for_one no child runs after one that waits for a restart.
        #[test]
        fn invariants(
            strategy in prop_oneof![Just(OneForOne), Just(OneForAll), Just(RestForOne)],
            restarts in proptest::collection::vec(
                prop_oneof![Just(Restart::Permanent), Just(Restart::Transient), Just(Restart::Temporary)], 4),
            events in proptest::collection::vec(ev(), 1..80),
            start_fails in proptest::collection::vec(any::<bool>(), 80),
            seed: u64,
        ) {
            let names = ["a", "b", "c", "d"];
            let mut p = Policy::new(
                strategy, 20, ms(1000),
                Backoff::exponential(ms(10), 2.0, ms(200)).with_jitter(0.5),
                DetRng::new(seed), AutoShutdown::Never, false,
            );
            for (name, restart) in names.iter().zip(&restarts) {
                p.add(Child::new(n(name), *restart, false), ms(0)).unwrap();
            }
            let mut now = ms(0);
            let mut fails = start_fails.into_iter().cycle();
            let mut gave_up = false;
            for e in events {
                let mut actions = match e {
                    Ev::Exit(k, crashed) => {
                        let reason = if crashed { crash() } else { StopReason::Normal };
                        p.exited(names[k], &reason, now)
                    }
                    Ev::Tick(dt) => {
                        now += ms(dt);
                        let action = p.tick(now);
                        if let Some(Action::Restart { child, .. }) = &action {
                            let first_due = p.children().iter().find(|c| matches!(c.state, State::Restarting { due, .. } if due <= now)).map(|c| c.name.clone());
                            prop_assert_eq!(Some(child.clone()), first_due);
                        }
                        action.into_iter().collect()
                    }
                    Ev::Stop(k) => p.stop_child(names[k]).unwrap_or_default(),
                };
                while let Some(a) = actions.pop() {
                    if gave_up {
                        prop_assert!(false, "an action after giving up: {:?}", a);
                    }
                    match a {
                        Action::Restart { child, .. } => {
                            let waiting = matches!(p.state(&child), Some(State::Restarting { .. }));
                            prop_assert!(waiting, "restart of {} which does not wait", child);
                            if fails.next().unwrap_or(false) {
                                actions.extend(p.start_failed(&child, &crash(), now));
                            } else {
                                p.started(&child, now);
                            }
                        }
                        Action::GiveUp(_) => gave_up = true,
                        _ => {}
                    }
                }
                if gave_up {
                    prop_assert_eq!(p.tick(now + ms(10_000)), None);
                    prop_assert_eq!(p.next_due(), None);
                }
                if strategy != OneForOne && !gave_up {
                    let mut waiting = false;
                    for c in p.children() {
                        match c.state {
                            State::Restarting { .. } => waiting = true,
                            State::Running { .. } => prop_assert!(!waiting, "{:?} runs after a waiting child", c.name),
                            State::Stopped => {}
                        }
                    }
                }
            }
        }
    }
}

//! A foreign handler on a virtual-time bus that waits on the bus: the clock moves while it
//! waits (an ask to an actor that answers after a timer is answered at that bus time, an
//! ask's timeout passes in bus time) and stands still again from the answer on, and a run
//! repeats exactly. The bus's actors do not run while a foreign handler runs: the two take
//! turns.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::{
    Actor, ActorRef, AskError, BoxError, Bus, Clock, Context, Handler, SpawnOptions,
};
use mycelium_foreign::{poll_for, spawn, Foreign, ForeignMessage, ForeignRef};

/// Answers a number of milliseconds with the bus time (ns) once that much bus time has
/// passed.
struct Later;

impl Actor for Later {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Later)
    }
}

impl Handler<u64> for Later {
    type Reply = u64;
    async fn handle(&mut self, ms: u64, ctx: &mut Context<Self>) -> u64 {
        ctx.bus().clock().sleep(Duration::from_millis(ms)).await;
        nanos(ctx.bus().clock())
    }
}

fn nanos(clock: &Clock) -> u64 {
    u64::try_from(clock.now().as_nanos()).unwrap()
}

/// What the foreign handler saw, in bus nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Asked `Later` for a wait: when it asked, the answer, and the bus time after a
    /// millisecond of wall time spent computing once answered.
    Waited { asked: u64, answer: u64, after: u64 },
    /// Asked with a timeout `Later` cannot meet: when it asked, and when it heard.
    TimedOut { asked: u64, heard: u64 },
    /// Computed for 5 ms of wall time: what a busy Rust actor had counted before and after.
    Computed { before: u64, after: u64 },
}

/// A Rust actor that tells itself, counting, until told `false`: busy on the bus all along,
/// yielding to the runtime's other tasks once per message.
struct Spinner {
    spins: Arc<AtomicU64>,
}

impl Actor for Spinner {
    type Args = Arc<AtomicU64>;
    async fn on_start(spins: Arc<AtomicU64>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.actor_ref().try_tell(true)?;
        Ok(Spinner { spins })
    }
}

impl Handler<bool> for Spinner {
    type Reply = ();
    async fn handle(&mut self, go_on: bool, ctx: &mut Context<Self>) {
        if go_on {
            tokio::task::yield_now().await;
            self.spins.fetch_add(1, Ordering::SeqCst);
            let _ = ctx.actor_ref().try_tell(true);
        }
    }
}

/// A foreign actor whose handler asks a Rust actor and waits as a host thread does
/// ([`poll_for`]). `b"wait"` asks for 5 ms of bus time; `b"timeout"` asks for 50 ms with a
/// timeout of 3 ms.
struct Asker {
    later: ActorRef<Later>,
    clock: Clock,
    seen: Mutex<Vec<Seen>>,
    /// Told when a `b"long"` handler starts its wait.
    entered: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// Bus time (ns) at which `stop` ran.
    stopped_at: Mutex<Option<u64>>,
    /// What a [`Spinner`] has counted.
    spins: Arc<AtomicU64>,
}

impl Asker {
    /// An asker of a fresh [`Later`] on `bus`.
    fn on(bus: &Bus) -> Arc<Asker> {
        Arc::new(Asker {
            later: bus.spawn::<Later>(()),
            clock: bus.clock().clone(),
            seen: Mutex::default(),
            entered: Mutex::default(),
            stopped_at: Mutex::default(),
            spins: Arc::default(),
        })
    }
}

impl Foreign for Asker {
    type Args = ();
    type State = ();

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<(), String> {
        Ok(())
    }

    fn handle(&self, _: &mut (), msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        let runtime = tokio::runtime::Handle::current();
        let asked = nanos(&self.clock);
        let seen = match msg.body.as_slice() {
            b"wait" => {
                let ask = pin!(self.later.ask(5));
                let answer = poll_for(&runtime, ask, Duration::from_secs(60))
                    .expect("answered within a minute of wall time")
                    .map_err(|e| e.to_string())?;
                // Computing after the answer: the clock must stand still again.
                std::thread::sleep(Duration::from_millis(1));
                Seen::Waited {
                    asked,
                    answer,
                    after: nanos(&self.clock),
                }
            }
            b"timeout" => {
                let ask = pin!(self.later.ask_timeout(50, Duration::from_millis(3)));
                let heard = poll_for(&runtime, ask, Duration::from_secs(60))
                    .expect("heard within a minute of wall time");
                assert!(matches!(heard, Err(AskError::Timeout(_))), "{heard:?}");
                Seen::TimedOut {
                    asked,
                    heard: nanos(&self.clock),
                }
            }
            b"compute" => {
                // A millisecond of wall time computing: nothing on the bus may run meanwhile.
                let before = self.spins.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                Seen::Computed {
                    before,
                    after: self.spins.load(Ordering::SeqCst),
                }
            }
            b"long" => {
                // Waits ten seconds of bus time, told that a stop may come meanwhile.
                let ask = pin!(self.later.ask(10_000));
                if let Some(entered) = self.entered.lock().unwrap().take() {
                    let _ = entered.send(());
                }
                let answer = poll_for(&runtime, ask, Duration::from_secs(60))
                    .expect("answered within a minute of wall time")
                    .map_err(|e| e.to_string())?;
                Seen::Waited {
                    asked,
                    answer,
                    after: nanos(&self.clock),
                }
            }
            other => return Err(format!("unexpected message {other:?}")),
        };
        self.seen.lock().unwrap().push(seen);
        Ok(Some(msg))
    }

    fn stop(&self, _: (), _: &mycelium_actors::StopReason) {
        *self.stopped_at.lock().unwrap() = Some(nanos(&self.clock));
    }
}

/// Runs the foreign actor on a fresh virtual-time bus beside a Rust task that ticks every
/// 100 µs of bus time (so the clock would move at once if nothing held it): what the handler
/// saw, and the bus time at the end.
fn run(bodies: &[&[u8]]) -> (Vec<Seen>, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let foreign = Asker::on(&bus);
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        let clock = bus.clock().clone();
        let ticker = tokio::spawn(async move {
            loop {
                clock.sleep(Duration::from_micros(100)).await;
            }
        });
        for body in bodies {
            let reply = actor
                .ask(
                    ForeignMessage {
                        type_id: 900,
                        body: body.to_vec(),
                    },
                    None,
                )
                .await
                .unwrap();
            assert_eq!(reply.body, *body);
        }
        ticker.abort();
        let seen = foreign.seen.lock().unwrap().clone();
        (seen, nanos(bus.clock()))
    })
}

#[test]
fn a_handler_waiting_on_an_answer_lets_bus_time_pass_and_holds_it_again_once_answered() {
    let (seen, _) = run(&[b"wait", b"wait"]);
    let [Seen::Waited {
        asked,
        answer,
        after,
    }, Seen::Waited {
        asked: asked2,
        answer: answer2,
        after: after2,
    }] = seen.as_slice()
    else {
        panic!("two waits expected: {seen:?}");
    };
    assert_eq!(
        *answer,
        asked + 5_000_000,
        "answered 5 ms of bus time later"
    );
    assert_eq!(after, answer, "bus time moved while the handler computed");
    assert_eq!(*asked2, *after, "bus time moved between two handlers");
    assert_eq!(*answer2, asked2 + 5_000_000);
    assert_eq!(after2, answer2);
}

#[test]
fn an_ask_timeout_from_a_handler_passes_in_bus_time() {
    let (seen, _) = run(&[b"timeout", b"wait"]);
    let Seen::TimedOut { asked, heard } = seen[0] else {
        panic!("a timeout expected first: {seen:?}");
    };
    assert_eq!(heard, asked + 3_000_000, "timed out after 3 ms of bus time");
    let Seen::Waited { asked: next, .. } = seen[1] else {
        panic!("a wait expected second: {seen:?}");
    };
    assert_eq!(
        next, heard,
        "the clock held still again from the timeout on"
    );
}

#[test]
fn a_run_with_waiting_handlers_repeats_exactly() {
    let bodies: &[&[u8]] = &[b"wait", b"timeout", b"wait", b"timeout"];
    let first = run(bodies);
    assert_eq!(first.0.len(), 4);
    assert_eq!(run(bodies), first);
}

/// A foreign handler computing while a Rust actor of the same virtual-time bus is busy: the
/// actor does not run until the handler returns (they take turns), so what the two do does not
/// depend on the threads' timing.
#[test]
fn a_rust_actor_does_not_run_while_a_foreign_handler_computes() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let seen = rt.block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let foreign = Asker::on(&bus);
        let spinner = bus.spawn::<Spinner>(foreign.spins.clone());
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        for _ in 0..3 {
            let compute = ForeignMessage {
                type_id: 900,
                body: b"compute".to_vec(),
            };
            actor.ask(compute, None).await.unwrap();
        }
        spinner.tell(false).await.unwrap();
        let seen = foreign.seen.lock().unwrap().clone();
        seen
    });
    assert_eq!(seen.len(), 3, "{seen:?}");
    for computed in &seen {
        let Seen::Computed { before, after } = computed else {
            panic!("computations expected: {seen:?}");
        };
        assert_eq!(
            before, after,
            "the Rust actor ran while the handler computed"
        );
    }
    let (Seen::Computed { after: first, .. }, Seen::Computed { before: last, .. }) =
        (&seen[0], &seen[2])
    else {
        unreachable!()
    };
    assert!(
        last > first,
        "the Rust actor ran between the handlers: {seen:?}"
    );
}

/// A bus shut down while a foreign handler waits ten seconds of bus time for an answer: the
/// stop waits for the handler (foreign code cannot be preempted) without holding the clock
/// that handler waits for, so the answer comes at its bus time and the stop follows.
#[test]
fn a_stop_while_a_handler_waits_on_the_bus_lets_bus_time_pass_until_it_returns() {
    let (done, finished) = std::sync::mpsc::channel();
    // On a thread of its own, so that a hang fails the test instead of holding it.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let outcome = rt.block_on(async {
            let bus = Bus::builder().virtual_time().build().unwrap();
            let (entered, waiting) = tokio::sync::oneshot::channel();
            let foreign = Asker::on(&bus);
            *foreign.entered.lock().unwrap() = Some(entered);
            let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
                .await
                .unwrap();
            actor
                .try_tell(ForeignMessage {
                    type_id: 900,
                    body: b"long".to_vec(),
                })
                .unwrap();
            waiting.await.unwrap();
            bus.shutdown(Duration::from_secs(60)).await;
            let seen = foreign.seen.lock().unwrap().clone();
            let stopped_at = *foreign.stopped_at.lock().unwrap();
            (seen, stopped_at)
        });
        let _ = done.send(outcome);
    });
    let (seen, stopped_at) = finished
        .recv_timeout(Duration::from_secs(120))
        .expect("the shutdown finished: it did not hold the clock the handler waited for");
    let [Seen::Waited { asked, answer, .. }] = seen.as_slice() else {
        panic!("one wait expected: {seen:?}");
    };
    assert_eq!(
        *answer,
        asked + 10_000_000_000,
        "answered 10 s of bus time later"
    );
    assert_eq!(
        stopped_at,
        Some(*answer),
        "stopped once the handler returned"
    );
}

/// A program's own thread (no foreign callback) that asks with a timeout on a virtual-time
/// bus: once the answer comes, bus time does not jump to the timeout's deadline before the
/// thread drops it, so a run repeats exactly.
#[test]
fn an_ask_with_a_timeout_from_a_program_thread_leaves_the_clock_at_the_answer() {
    let hosted = mycelium_foreign::HostedBus::new(true, 1, 1).expect("a bus");
    let bus = hosted.bus().clone();
    let later = hosted.block_on(async { bus.spawn::<Later>(()) });
    for round in 0..40 {
        let asked = nanos(bus.clock());
        let answer = hosted
            .block_on(later.ask_timeout(5, Duration::from_secs(1)))
            .expect("answered before its timeout");
        assert!(
            answer >= asked + 5_000_000,
            "round {round}: {asked} then {answer}"
        );
        let now = nanos(bus.clock());
        assert_eq!(
            now, answer,
            "round {round}: the clock went on to {now} ns after the answer at {answer} ns"
        );
    }
}

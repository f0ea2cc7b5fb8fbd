//! The gate of a foreign actor: direct calls on the caller's thread, in order with the
//! mailbox, one handler at a time, and failures that are failures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions, StopReason};
use mycelium_foreign::{
    export_child, gated_child_spec, spawn, Direct, Foreign, ForeignActor, ForeignAskError,
    ForeignMessage, ForeignRef, ForeignSpawnError,
};
use mycelium_supervisor::{Backoff, RestartStrategy, Supervisor};

/// State: the bodies handled, in order. `b"boom"` fails; `b"wait"` blocks until released.
struct Logging {
    starts: AtomicU32,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    threads: Mutex<Vec<ThreadId>>,
    /// The threads `abandon` ran on.
    abandoned: Mutex<Vec<ThreadId>>,
    /// Notified by each `abandon`.
    abandon_seen: Condvar,
}

impl Logging {
    /// Waits, up to `within`, until `abandon` has run `n` times; returns how many times it
    /// has. A killed incarnation's state is abandoned on the blocking pool after it leaves
    /// the gate, which may be after the next incarnation has answered.
    fn abandons(&self, n: usize, within: Duration) -> usize {
        let abandoned = self.abandoned.lock().unwrap();
        let (abandoned, _) = self
            .abandon_seen
            .wait_timeout_while(abandoned, within, |a| a.len() < n)
            .unwrap();
        abandoned.len()
    }
}

fn logging() -> (Arc<Logging>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let foreign = Arc::new(Logging {
        starts: AtomicU32::new(0),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
        threads: Mutex::new(Vec::new()),
        abandoned: Mutex::new(Vec::new()),
        abandon_seen: Condvar::new(),
    });
    (foreign, entered_rx, release_tx)
}

impl Foreign for Logging {
    type Args = ();
    type State = Vec<Vec<u8>>;

    fn start(&self, _args: &(), _me: &ForeignRef<Self>) -> Result<Vec<Vec<u8>>, String> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(Vec::new())
    }

    fn handle(
        &self,
        log: &mut Vec<Vec<u8>>,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        match msg.body.as_slice() {
            b"boom" => return Err("boom in a direct call".into()),
            b"wait" => {
                self.entered.lock().unwrap().send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            _ => {}
        }
        log.push(msg.body);
        Ok(Some(ForeignMessage {
            type_id: msg.type_id,
            body: log.join(&b","[..]),
        }))
    }

    fn stop(&self, _log: Vec<Vec<u8>>, _reason: &StopReason) {}

    fn abandon(&self, _log: Vec<Vec<u8>>) {
        self.abandoned
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.abandon_seen.notify_all();
    }
}

fn msg(body: &[u8]) -> ForeignMessage {
    ForeignMessage {
        type_id: 900,
        body: body.to_vec(),
    }
}

/// A direct call that hands the message to the actor's handler.
fn handle(actor: &ForeignRef<Logging>, body: &[u8]) -> Direct<Option<ForeignMessage>> {
    let m = msg(body);
    actor.try_direct(move |foreign, state| foreign.handle(state, m))
}

/// `foreign` as the child `model` of a one-for-one tree with a short backoff (hibernating
/// or not), and its gated ref; the tree's ref keeps it running.
async fn supervised_model(
    bus: &Bus,
    foreign: &Arc<Logging>,
    hibernate: bool,
) -> (mycelium_supervisor::SupervisorRef, ForeignRef<Logging>) {
    let (spec, gate) = gated_child_spec("model", foreign.clone(), ());
    let spec = if hibernate { spec.hibernate() } else { spec };
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(10),
        ))
        .child(spec)
        .spawn(bus)
        .await
        .unwrap();
    let model = ForeignRef::from_actor_ref(tree.child::<ForeignActor<Logging>>("model").unwrap())
        .with_gate(gate);
    (tree, model)
}

fn runtime() -> tokio::runtime::Runtime {
    runtime_of(2)
}

fn runtime_of(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_direct_call_runs_on_the_calling_thread_with_the_actors_state() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        assert!(actor.gate().is_some());
        match handle(&actor, b"a") {
            Direct::Done(Some(reply)) => assert_eq!(reply.body, b"a"),
            other => panic!("expected a direct reply, got {other:?}"),
        }
        assert_eq!(
            foreign.threads.lock().unwrap().as_slice(),
            &[std::thread::current().id()]
        );
        // The mailbox path sees the same state.
        let reply = actor.ask(msg(b"b"), None).await.unwrap();
        assert_eq!(reply.body, b"a,b");
        assert_eq!(actor.gate().unwrap().pending(), 0);
        // A ref without the gate never calls directly.
        let plain = ForeignRef::from_actor_ref(actor.actor_ref().clone());
        assert!(matches!(handle(&plain, b"c"), Direct::Busy));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

#[test]
fn a_direct_call_never_overtakes_a_queued_message_nor_runs_beside_a_handler() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, entered, release) = logging();
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        actor.try_tell(msg(b"wait")).unwrap();
        actor.try_tell(msg(b"queued")).unwrap();
        // Counted at once: busy even before the first handler starts.
        assert!(matches!(handle(&actor, b"x"), Direct::Busy));
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        assert!(matches!(handle(&actor, b"x"), Direct::Busy));
        release.send(()).unwrap();
        // The ask goes behind both: the log shows them in order, and no "x".
        let reply = actor.ask(msg(b"last"), None).await.unwrap();
        assert_eq!(reply.body, b"wait,queued,last");
        assert_eq!(actor.gate().unwrap().pending(), 0);
        assert!(matches!(handle(&actor, b"y"), Direct::Done(Some(_))));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

#[test]
fn a_failed_direct_call_fails_the_actor_which_restarts_in_place() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        let (_tree, model) = supervised_model(&bus, &foreign, false).await;
        assert!(matches!(handle(&model, b"a"), Direct::Done(Some(_))));
        match handle(&model, b"boom") {
            Direct::Failed(ForeignAskError::Failed { failure }) => {
                assert!(failure.to_string().contains("boom in a direct call"))
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        // No direct call on the failed state: until the new incarnation is in, a call is
        // refused; once it is (the backoff is a millisecond, so a loaded machine may get
        // there first), the call runs on its state, whose log starts empty.
        let after = match handle(&model, b"b") {
            Direct::Busy => &b"c"[..],
            Direct::Done(Some(reply)) => {
                assert_eq!(reply.body, b"b", "a direct call ran on the failed state");
                &b"b,c"[..]
            }
            other => panic!("expected busy or a call on the new state, got {other:?}"),
        };
        let reply = model.ask(msg(b"c"), None).await.unwrap();
        assert_eq!(reply.body, after);
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 2);
        let letters = bus.dead_letters().drain();
        assert_eq!(letters.len(), 1);
        assert!(letters[0]
            .reason
            .to_string()
            .contains("boom in a direct call"));
        // A panic in the call is a failure too.
        match model.try_direct(|_, _| -> Result<(), String> { panic!("a panic in a call") }) {
            Direct::Failed(ForeignAskError::Failed { failure }) => {
                assert!(failure.to_string().contains("a panic in a call"))
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        let reply = model.ask(msg(b"d"), None).await.unwrap();
        assert_eq!(reply.body, b"d");
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 3);
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

#[test]
fn no_direct_call_after_a_stop_nor_on_virtual_time() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        actor.stop();
        assert!(matches!(handle(&actor, b"a"), Direct::Busy));
        actor.wait_for_stop().await;
        assert!(matches!(handle(&actor, b"a"), Direct::Busy));
        bus.shutdown(Duration::from_secs(10)).await;
    });
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(async {
            let bus = Bus::builder().virtual_time().build().unwrap();
            let (foreign, _entered, _release) = logging();
            let actor = spawn(&bus, foreign, (), SpawnOptions::new()).await.unwrap();
            assert!(matches!(handle(&actor, b"a"), Direct::Busy));
            assert_eq!(actor.ask(msg(b"b"), None).await.unwrap().body, b"b");
        });
}

/// A kill closes the actor's mailbox and marks it stopped before its state leaves the gate
/// (the state is abandoned on the blocking pool, whose one thread is held busy here): a direct
/// call in between is refused, and does not run on the killed incarnation's state.
#[test]
fn no_direct_call_on_a_killed_actors_state_before_it_is_abandoned() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let bus = Bus::new();
            let (foreign, _entered, _release) = logging();
            let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
                .await
                .unwrap();
            assert!(matches!(handle(&actor, b"a"), Direct::Done(_)));
            let (occupied, is_occupied) = tokio::sync::oneshot::channel();
            let (free, freed) = mpsc::channel::<()>();
            let blocker = tokio::task::spawn_blocking(move || {
                let _ = occupied.send(());
                let _ = freed.recv();
            });
            is_occupied.await.unwrap();
            actor.actor_ref().kill();
            actor.wait_for_stop().await;
            assert!(
                matches!(handle(&actor, b"b"), Direct::Busy),
                "a direct call ran on a killed actor's state"
            );
            assert!(
                foreign.abandoned.lock().unwrap().is_empty(),
                "the state was still in the gate"
            );
            free.send(()).unwrap();
            blocker.await.unwrap();
            bus.shutdown(Duration::from_secs(10)).await;
        });
}

/// Tells `released` when the callbacks are dropped.
struct Releasing {
    _released: tokio::sync::oneshot::Sender<()>,
}

impl Foreign for Releasing {
    type Args = ();
    type State = ();

    fn start(&self, _args: &(), _me: &ForeignRef<Self>) -> Result<(), String> {
        Ok(())
    }

    fn handle(&self, _: &mut (), msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        Ok(Some(msg))
    }

    fn stop(&self, _: (), _reason: &StopReason) {}
}

/// A runtime of one worker: a test that something holds no worker sees everything stop
/// when it does.
fn one_worker() -> tokio::runtime::Runtime {
    runtime_of(1)
}

#[test]
fn a_kill_during_a_handler_holds_no_worker_and_abandons_the_state_off_the_workers_after_it() {
    // One worker: if the kill waited for the handler there, nothing else would run.
    let rt = one_worker();
    let within = Duration::from_secs(20);
    let (tx, done) = mpsc::channel();
    let (foreign, entered, release) = logging();
    let bus = rt.block_on(async { Bus::new() });
    let actor = rt
        .block_on(spawn(&bus, foreign.clone(), (), SpawnOptions::new()))
        .unwrap();
    let worker = rt.block_on(rt.spawn(async { std::thread::current().id() }));
    actor.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(within).expect("the handler started");
    // The deadline passes with the handler inside foreign code: the actor is killed.
    let shutdown = bus.clone();
    rt.spawn(async move {
        let report = shutdown.shutdown(Duration::from_millis(10)).await;
        tx.send(report.killed.len()).unwrap();
    });
    assert_eq!(done.recv_timeout(within).expect("the shutdown returned"), 1);
    let (tx, stopped) = mpsc::channel();
    let waiting = actor.clone();
    rt.spawn(async move {
        waiting.wait_for_stop().await;
        tx.send(()).unwrap();
    });
    stopped
        .recv_timeout(within)
        .expect("the killed actor counts as stopped while its handler still runs");
    assert!(foreign.abandoned.lock().unwrap().is_empty());
    // Once the handler returns, the state is abandoned once, on the blocking pool.
    release.send(()).unwrap();
    let deadline = std::time::Instant::now() + within;
    while foreign.abandoned.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the state was never abandoned"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let abandoned = foreign.abandoned.lock().unwrap().clone();
    assert_eq!(abandoned.len(), 1);
    assert_ne!(
        abandoned[0],
        worker.unwrap(),
        "abandon ran on the runtime's worker"
    );
}

#[test]
fn a_restart_after_a_kill_during_a_handler_holds_no_worker_while_the_handler_runs() {
    // One worker, as above. `model` is killed at once (one-for-all, `Immediate`) when `b`
    // fails, while its handler still runs; its new incarnation waits for that handler off
    // the worker, so `b`, restarted first, answers meanwhile.
    let rt = one_worker();
    let within = Duration::from_secs(20);
    let (model_foreign, entered, release) = logging();
    let (b_foreign, _b_entered, _b_release) = logging();
    let bus = rt.block_on(async { Bus::new() });
    let (model_spec, model_gate) = gated_child_spec("model", model_foreign.clone(), ());
    let (b_spec, b_gate) = gated_child_spec("b", b_foreign.clone(), ());
    let tree = rt
        .block_on(
            Supervisor::builder(RestartStrategy::OneForAll)
                .backoff(Backoff::exponential(
                    Duration::from_millis(1),
                    2.0,
                    Duration::from_millis(10),
                ))
                .child(b_spec)
                .child(model_spec.shutdown(mycelium_supervisor::Shutdown::Immediate))
                .spawn(&bus),
        )
        .unwrap();
    let gated = |name: &str, gate| {
        ForeignRef::from_actor_ref(tree.child::<ForeignActor<Logging>>(name).unwrap())
            .with_gate(gate)
    };
    // Exported by name: the service follows the child when it is spawned anew.
    export_child(&bus, &tree, "model", Some(&model_gate), "model", &[900]).unwrap();
    let model = gated("model", model_gate);
    let b = gated("b", b_gate);
    model.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(within).expect("the handler started");
    // Still queued at the kill: a dead letter, never handled.
    model.try_tell(msg(b"queued")).unwrap();
    b.try_tell(msg(b"boom")).unwrap();
    // The new incarnation's start callback has run (on the pool); what follows it, putting
    // the state in the gate, waits for the old handler. Meanwhile `b` (restarted in place:
    // its ref stays valid) answers a hundred asks, which a worker waiting there could not.
    let deadline = std::time::Instant::now() + within;
    while model_foreign.starts.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "model was not restarted"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let (tx, answered) = mpsc::channel();
    let asking = b.clone();
    rt.spawn(async move {
        let mut n = 0;
        while n < 100 {
            if asking.ask(msg(b"after"), None).await.is_ok() {
                n += 1;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        tx.send(n).unwrap();
    });
    assert_eq!(
        answered
            .recv_timeout(within)
            .expect("b answered while model's handler ran"),
        100
    );
    release.send(()).unwrap();
    // The new incarnation starts with a fresh state once the old handler is done: a killed
    // child is spawned anew, so its ref is the tree's new one (`model` stays dead).
    let (tx, replied) = mpsc::channel();
    let finding = tree.clone();
    rt.spawn(async move {
        loop {
            let Some(now) = finding.child::<ForeignActor<Logging>>("model") else {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            match ForeignRef::from_actor_ref(now)
                .ask(msg(b"fresh"), None)
                .await
            {
                Ok(reply) => break tx.send(reply.body).unwrap(),
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    });
    assert_eq!(
        replied.recv_timeout(within).expect("model answered"),
        b"fresh"
    );
    assert!(!model.is_alive());
    // The old incarnation's state is abandoned once; the new one may have answered first.
    assert_eq!(model_foreign.abandons(1, within), 1);
    // An ask by service name reaches the new child, not the dead one.
    let (tx, exported) = mpsc::channel();
    let asking = bus.clone();
    rt.spawn(async move {
        let answer = asking.exports().ask("model", 900, b"by name").await;
        tx.send(answer.map_err(|e| e.to_string())).unwrap();
    });
    let (_, body) = exported
        .recv_timeout(within)
        .expect("the export answered")
        .expect("the export reached the running child");
    assert_eq!(body, b"fresh,by name");
    // What was counted for the dead child is not counted against the new one: it is idle,
    // and takes direct calls.
    let now = ForeignRef::from_actor_ref(tree.child::<ForeignActor<Logging>>("model").unwrap())
        .with_gate(model.gate().unwrap());
    assert_eq!(model.gate().unwrap().pending(), 0);
    assert!(matches!(handle(&now, b"direct"), Direct::Done(Some(_))));
}

#[test]
fn refs_kept_after_the_stop_do_not_keep_the_callbacks() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (released, on_release) = tokio::sync::oneshot::channel();
        let foreign = Arc::new(Releasing {
            _released: released,
        });
        let actor = spawn(&bus, foreign, (), SpawnOptions::new()).await.unwrap();
        actor.export(&bus, "kept", &[900]).unwrap();
        assert_eq!(actor.ask(msg(b"a"), None).await.unwrap().body, b"a");
        let kept = actor.clone();
        actor.stop();
        actor.wait_for_stop().await;
        drop(actor);
        // Still a ref here and one in the export table: the callbacks go all the same.
        tokio::time::timeout(Duration::from_secs(30), on_release)
            .await
            .expect("the callbacks were released")
            .unwrap_err();
        assert!(kept.gate().is_none());
        assert!(matches!(
            kept.ask(msg(b"b"), None).await,
            Err(ForeignAskError::Stopped { .. })
        ));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

/// Tasks alive on the current runtime.
fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[test]
fn a_hibernating_foreign_actor_holds_no_task_takes_direct_calls_and_restarts_in_place() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        // Ten unsupervised ones, and one under a supervisor.
        let mut idle = Vec::new();
        for _ in 0..10 {
            let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new().hibernate())
                .await
                .unwrap();
            assert_eq!(actor.ask(msg(b"a"), None).await.unwrap().body, b"a");
            idle.push(actor);
        }
        let (_tree, model) = supervised_model(&bus, &foreign, true).await;
        // The state lives behind the gate, not in a task: direct calls go on while it sleeps.
        assert!(matches!(handle(&model, b"a"), Direct::Done(Some(_))));
        assert_eq!(model.ask(msg(b"b"), None).await.unwrap().body, b"a,b");
        // Asleep, the eleven hold no task: the bus's driver and the supervisor are all that
        // may be left (the supervisor has a task only once it has had mail, which depends on
        // timing). The last to answer may still be on its way back to sleep on another
        // worker: the condition is polled, within a bound reached only when the test fails.
        let start = std::time::Instant::now();
        let mut asleep = false;
        while start.elapsed() < Duration::from_secs(20) {
            if tasks() <= 2 {
                asleep = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(asleep, "{} tasks alive", tasks());
        // A failed direct call fails the sleeping actor, which restarts with a fresh state.
        assert!(matches!(handle(&model, b"boom"), Direct::Failed(_)));
        let reply = model.ask(msg(b"c"), None).await.unwrap();
        assert_eq!(reply.body, b"c");
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 12);
        for actor in &idle {
            assert_eq!(actor.ask(msg(b"b"), None).await.unwrap().body, b"a,b");
        }
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

/// Its start blocks until released; it counts starts, stops and abandons, and tells
/// `released` each time a state is dropped, whoever drops it.
struct SlowStart {
    starts: AtomicU32,
    stops: AtomicU32,
    abandons: AtomicU32,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    released: Mutex<mpsc::Sender<()>>,
}

/// Tells its channel when dropped.
struct Owned(mpsc::Sender<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl Foreign for SlowStart {
    type Args = ();
    type State = Owned;

    fn start(&self, _args: &(), _me: &ForeignRef<Self>) -> Result<Owned, String> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.entered.lock().unwrap().send(()).unwrap();
        self.release.lock().unwrap().recv().unwrap();
        Ok(Owned(self.released.lock().unwrap().clone()))
    }

    fn handle(&self, _: &mut Owned, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        Ok(Some(msg))
    }

    fn stop(&self, _: Owned, _reason: &StopReason) {
        self.stops.fetch_add(1, Ordering::SeqCst);
    }

    fn abandon(&self, _: Owned) {
        self.abandons.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_kill_during_the_start_abandons_the_state_the_start_makes_after_it() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let (released_tx, released) = mpsc::channel();
        let foreign = Arc::new(SlowStart {
            starts: AtomicU32::new(0),
            stops: AtomicU32::new(0),
            abandons: AtomicU32::new(0),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
            released: Mutex::new(released_tx),
        });
        let spawning = tokio::spawn({
            let (bus, foreign) = (bus.clone(), foreign.clone());
            async move {
                spawn(&bus, foreign, (), SpawnOptions::new())
                    .await
                    .map(drop)
            }
        });
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        // The deadline passes with the start inside foreign code: the actor is killed.
        let report = bus.shutdown(Duration::from_millis(10)).await;
        assert_eq!(report.killed.len(), 1);
        match spawning.await.unwrap() {
            Err(ForeignSpawnError::StartFailed(_)) => {}
            other => panic!("expected a failed start, got {other:?}"),
        }
        // The start finishes after the kill: the state it made is released all the same.
        release.send(()).unwrap();
        tokio::task::spawn_blocking(move || released.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap()
            .expect("the state was released");
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 1);
        assert_eq!(
            foreign.stops.load(Ordering::SeqCst) + foreign.abandons.load(Ordering::SeqCst),
            1,
            "the state was dropped without `stop` or `abandon`"
        );
    });
}

#[test]
fn an_ask_that_times_out_waiting_for_room_leaves_no_count_behind() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, entered, release) = logging();
        let options = SpawnOptions::new().mailbox(mycelium_actors::MailboxConfig::Bounded(1));
        let actor = spawn(&bus, foreign.clone(), (), options).await.unwrap();
        actor.try_tell(msg(b"wait")).unwrap();
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        actor.try_tell(msg(b"queued")).unwrap();
        // The mailbox is full: the ask gives up while it waits for room.
        assert!(matches!(
            actor.ask(msg(b"x"), Some(Duration::from_millis(10))).await,
            Err(ForeignAskError::Timeout(_))
        ));
        release.send(()).unwrap();
        // Answered once the two before it are done; the timed-out ask was never queued.
        let reply = actor.ask(msg(b"last"), None).await.unwrap();
        assert_eq!(reply.body, b"wait,queued,last");
        assert_eq!(actor.gate().unwrap().pending(), 0);
        assert!(matches!(handle(&actor, b"y"), Direct::Done(Some(_))));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

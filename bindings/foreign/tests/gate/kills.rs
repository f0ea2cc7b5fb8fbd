//! Kills during foreign code: during a handler they hold no worker and the state is
//! abandoned off the workers once the handler returns; during a start the state the start
//! makes after the kill is released all the same.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions, StopReason};
use mycelium_foreign::{
    export_child, gated_child_spec, spawn, Direct, Foreign, ForeignActor, ForeignMessage,
    ForeignRef, ForeignSpawnError,
};
use mycelium_supervisor::{Backoff, RestartStrategy, Supervisor};

use crate::logging::{handle, logging, msg, Logging};
use crate::{runtime, runtime_of};

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

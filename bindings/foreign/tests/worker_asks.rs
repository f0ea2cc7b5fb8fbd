//! An ask from a task of a multi-thread runtime (a Rust actor's, an ask by service name) to an
//! idle foreign actor runs the handler on the asking thread, inside `block_in_place`: same
//! state, in order with what was queued before, a failure failing the actor, a timeout that
//! cannot cut the handler short. A busy actor, a current-thread runtime or a virtual-time bus
//! take the mailbox.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions, StopReason};
use mycelium_foreign::{spawn, Foreign, ForeignAskError, ForeignMessage, ForeignRef};

/// Adds each body's first byte to its state and answers the total; logs the thread of each
/// call. `b"boom"` fails; `b"wait"` tells `entered` and blocks until `release`; `b"slow"`
/// takes 20 ms of wall time.
struct Adder {
    starts: AtomicU32,
    threads: Mutex<Vec<ThreadId>>,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

fn adder() -> (Arc<Adder>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let foreign = Arc::new(Adder {
        starts: AtomicU32::new(0),
        threads: Mutex::default(),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    (foreign, entered, release)
}

impl Adder {
    fn last_thread(&self) -> Option<ThreadId> {
        self.threads.lock().unwrap().last().copied()
    }
}

impl Foreign for Adder {
    type Args = ();
    type State = u64;

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<u64, String> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(0)
    }

    fn handle(
        &self,
        total: &mut u64,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        match msg.body.as_slice() {
            b"boom" => return Err("boom".into()),
            b"wait" => {
                self.entered.lock().unwrap().send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            b"slow" => std::thread::sleep(Duration::from_millis(20)),
            body => *total += u64::from(body.first().copied().unwrap_or(0)),
        }
        Ok(Some(ForeignMessage {
            type_id: msg.type_id,
            body: total.to_le_bytes().to_vec(),
        }))
    }

    fn stop(&self, _: u64, _: &StopReason) {}

    fn label(&self) -> &'static str {
        "Adder"
    }

    fn message_name(&self, _type_id: u16) -> &'static str {
        "Add"
    }
}

fn msg(body: &[u8]) -> ForeignMessage {
    ForeignMessage {
        type_id: 901,
        body: body.to_vec(),
    }
}

fn total(reply: &ForeignMessage) -> u64 {
    u64::from_le_bytes(reply.body.as_slice().try_into().expect("an 8-byte total"))
}

/// The actor and its channels: `entered` hears when a `wait` message is being handled,
/// `release` lets it return.
struct Spawned {
    actor: ForeignRef<Adder>,
    seen: Arc<Adder>,
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

/// Runs `test` with an `Adder` spawned on a bus of `rt`, then stops it and shuts the bus down.
fn with_adder<T: Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    test: impl FnOnce(Spawned) -> T,
) {
    let (foreign, entered, release) = adder();
    let seen = foreign.clone();
    rt.block_on(async move {
        let bus = Bus::new();
        let actor = spawn(&bus, foreign, (), SpawnOptions::default())
            .await
            .expect("spawned");
        test(Spawned {
            actor: actor.clone(),
            seen,
            entered,
            release,
        })
        .await;
        actor.stop();
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_task_asking_an_idle_actor_runs_the_handler_on_its_thread() {
    with_adder(&multi_thread(), |Spawned { actor, seen, .. }| async move {
        // From a spawned task: a worker of the runtime.
        let asked = actor.clone();
        let (reply, asker) = tokio::spawn(async move {
            let reply = asked.ask(msg(&[5]), None).await;
            (reply, std::thread::current().id())
        })
        .await
        .expect("the task");
        assert_eq!(total(&reply.expect("a reply")), 5);
        assert_eq!(
            seen.last_thread(),
            Some(asker),
            "the handler ran on the asker's thread"
        );
        // Many in a row keep the state, one at a time.
        let last = tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..100 {
                let reply = actor.ask(msg(&[1]), Some(Duration::from_secs(60))).await;
                last = total(&reply.expect("a reply"));
            }
            last
        })
        .await
        .expect("the task");
        assert_eq!(last, 105);
    });
}

#[test]
fn a_busy_actor_is_asked_through_its_mailbox_in_order() {
    with_adder(&multi_thread(), |spawned| async move {
        let Spawned {
            actor,
            seen,
            entered,
            release,
        } = spawned;
        // The actor is busy with `wait`; tells and an ask queue behind it.
        actor.tell(msg(b"wait")).await.expect("told");
        tokio::task::spawn_blocking(move || entered.recv().expect("entered"))
            .await
            .expect("the wait");
        for _ in 0..3 {
            actor.tell(msg(&[2])).await.expect("told");
        }
        let asked = actor.clone();
        let ask = tokio::spawn(async move {
            let reply = asked.ask(msg(&[10]), None).await;
            (reply, std::thread::current().id())
        });
        // Released once the ask is counted behind the wait and the tells (five pending):
        // released before, the actor could be idle again when the ask starts, and take it
        // as a direct call.
        let gate = actor.gate().expect("the spawned ref has the gate");
        let mut looks = 0;
        while gate.pending() < 5 {
            looks += 1;
            assert!(looks < 1_000_000, "the ask was never counted");
            tokio::task::yield_now().await;
        }
        release.send(()).expect("released");
        let (reply, asker) = ask.await.expect("the task");
        assert_eq!(
            total(&reply.expect("a reply")),
            16,
            "the tells queued first count"
        );
        assert_ne!(seen.last_thread(), Some(asker), "a host thread served it");
    });
}

#[test]
fn a_failure_on_the_asking_thread_fails_the_actor() {
    with_adder(&multi_thread(), |Spawned { actor, .. }| async move {
        let asked = actor.clone();
        let failed = tokio::spawn(async move { asked.ask(msg(b"boom"), None).await })
            .await
            .expect("the task");
        match failed {
            Err(ForeignAskError::Failed { failure }) => {
                assert!(failure.to_string().contains("boom"), "{failure}");
            }
            other => panic!("expected the failure, got {other:?}"),
        }
        let stop = actor.actor_ref().wait_for_stop().await;
        assert!(matches!(stop, StopReason::Failed(_)), "{stop:?}");
    });
}

#[test]
fn a_handler_past_the_timeout_on_the_asking_thread_times_out_handled() {
    with_adder(&multi_thread(), |Spawned { actor, seen, .. }| async move {
        let asked = actor.clone();
        let (late, asker) = tokio::spawn(async move {
            let late = asked
                .ask(msg(b"slow"), Some(Duration::from_millis(1)))
                .await;
            (late, std::thread::current().id())
        })
        .await
        .expect("the task");
        assert_eq!(
            late,
            Err(ForeignAskError::Timeout(Duration::from_millis(1)))
        );
        assert_eq!(
            seen.last_thread(),
            Some(asker),
            "it ran here, and was handled"
        );
        assert_eq!(
            total(&actor.ask(msg(&[1]), None).await.expect("a reply")),
            1
        );
    });
}

#[test]
fn a_current_thread_runtime_asks_through_the_mailbox() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    with_adder(&rt, |Spawned { actor, seen, .. }| async move {
        let reply = actor.ask(msg(&[7]), None).await.expect("a reply");
        assert_eq!(total(&reply), 7);
        assert_ne!(
            seen.last_thread(),
            Some(std::thread::current().id()),
            "never on the runtime's only thread"
        );
    });
}

//! Mail served in batches on a host thread: order, a failure in the middle of a batch (the
//! rest handled by the restarted incarnation, in order), virtual time held still while a
//! batch runs, a kill while a batch runs, what waits in the mailbox handed over as one
//! batch, and a link's receipts signed once handled.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mycelium_actors::{Bus, DeadLetterReason, Receipt, ReceiptBook, SpawnOptions, StopReason};
use mycelium_foreign::{
    gated_child_spec, spawn, Foreign, ForeignActor, ForeignGate, ForeignMessage, ForeignRef,
};
use mycelium_supervisor::{Backoff, RestartStrategy, Supervisor};

/// What the foreign actor saw: `(incarnation, body)` for each message handled, in order,
/// and the size of each batch.
#[derive(Default)]
struct Seen {
    handled: Vec<(u32, Vec<u8>)>,
    batches: Vec<usize>,
}

/// A foreign actor that logs what it handles. `b"boom"` fails; `b"wait"` tells `entered`
/// and blocks until `release`; `b"slow"` takes a millisecond of wall time. Its state is the
/// number of its incarnation; each message records the bus time it was handled at.
struct Recorder {
    starts: AtomicU32,
    seen: Mutex<Seen>,
    /// Bus time (ns) at each handled message, when a clock is given.
    times: Mutex<Vec<u64>>,
    clock: Mutex<Option<mycelium_actors::Clock>>,
    in_batch: AtomicU64,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    /// States released: by `stop` or by `abandon`.
    released: AtomicU32,
}

fn recorder() -> (Arc<Recorder>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let foreign = Arc::new(Recorder {
        starts: AtomicU32::new(0),
        seen: Mutex::default(),
        times: Mutex::default(),
        clock: Mutex::default(),
        in_batch: AtomicU64::new(0),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
        released: AtomicU32::new(0),
    });
    (foreign, entered, release)
}

impl Foreign for Recorder {
    type Args = ();
    type State = u32;

    fn start(&self, _: &(), _me: &ForeignRef<Self>) -> Result<u32, String> {
        Ok(self.starts.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn handle(&self, n: &mut u32, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        self.in_batch.fetch_add(1, Ordering::SeqCst);
        if let Some(clock) = &*self.clock.lock().unwrap() {
            let now = u64::try_from(clock.now().as_nanos()).unwrap();
            self.times.lock().unwrap().push(now);
        }
        match msg.body.as_slice() {
            b"boom" => return Err("boom".into()),
            b"wait" => {
                self.entered.lock().unwrap().send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            b"slow" => std::thread::sleep(Duration::from_millis(1)),
            _ => {}
        }
        self.seen
            .lock()
            .unwrap()
            .handled
            .push((*n, msg.body.clone()));
        Ok(Some(msg))
    }

    fn run_batch(&self, batch: &mut dyn FnMut()) {
        self.in_batch.store(0, Ordering::SeqCst);
        batch();
        let n = self.in_batch.load(Ordering::SeqCst) as usize;
        self.seen.lock().unwrap().batches.push(n);
    }

    fn stop(&self, _: u32, _: &StopReason) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }

    fn label(&self) -> &'static str {
        "Recorder"
    }

    fn message_name(&self, _type_id: u16) -> &'static str {
        "Tick"
    }

    fn abandon(&self, _: u32) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

fn msg(body: &[u8]) -> ForeignMessage {
    ForeignMessage {
        type_id: 900,
        body: body.to_vec(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

const WITHIN: Duration = Duration::from_secs(20);

/// Waits (bounded) until the actor's task has handed `n` messages to its host queue.
fn until_queued<F: Foreign>(gate: &ForeignGate<F>, n: usize) {
    let deadline = Instant::now() + WITHIN;
    while gate.queued() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} were queued",
            gate.queued()
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_batch_runs_the_queued_messages_in_order_in_one_call_of_run_batch() {
    let rt = runtime();
    let (foreign, entered, release) = recorder();
    let bus = rt.block_on(async { Bus::new() });
    let actor = rt
        .block_on(spawn(&bus, foreign.clone(), (), SpawnOptions::new()))
        .unwrap();
    let gate = actor.gate().unwrap();
    actor.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(WITHIN).expect("the first handler ran");
    let bodies: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_le_bytes().to_vec()).collect();
    for body in &bodies {
        actor.try_tell(msg(body)).unwrap();
    }
    until_queued(&gate, 100);
    release.send(()).unwrap();
    let last = rt
        .block_on(actor.ask(msg(b"last"), Some(WITHIN)))
        .expect("answered after the others");
    assert_eq!(last.body, b"last");
    let seen = foreign.seen.lock().unwrap();
    let handled: Vec<Vec<u8>> = seen.handled.iter().map(|(_, b)| b.clone()).collect();
    let mut expected = vec![b"wait".to_vec()];
    expected.extend(bodies);
    expected.push(b"last".to_vec());
    assert_eq!(handled, expected, "handled in the order sent");
    // The hundred queued while the first ran went in batches of more than one message.
    assert!(
        seen.batches.iter().any(|&n| n > 1),
        "batches: {:?}",
        seen.batches
    );
}

#[test]
fn a_failure_in_the_middle_of_a_batch_leaves_the_rest_to_the_restarted_incarnation_in_order() {
    let rt = runtime();
    let (foreign, entered, release) = recorder();
    let bus = rt.block_on(async { Bus::new() });
    let (spec, gate) = gated_child_spec("rec", foreign.clone(), ());
    let tree = rt
        .block_on(
            Supervisor::builder(RestartStrategy::OneForOne)
                .backoff(Backoff::exponential(
                    Duration::from_millis(1),
                    2.0,
                    Duration::from_millis(10),
                ))
                .child(spec)
                .spawn(&bus),
        )
        .unwrap();
    let actor = ForeignRef::from_actor_ref(tree.child::<ForeignActor<Recorder>>("rec").unwrap())
        .with_gate(gate.clone());
    actor.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(WITHIN).expect("the first handler ran");
    for body in [&b"1"[..], b"2", b"3", b"boom", b"4", b"5", b"6"] {
        actor.try_tell(msg(body)).unwrap();
    }
    until_queued(&gate, 7);
    release.send(()).unwrap();
    let last = rt
        .block_on(actor.ask(msg(b"last"), Some(WITHIN)))
        .expect("the restarted actor answers");
    assert_eq!(last.body, b"last");
    let seen = foreign.seen.lock().unwrap();
    let expect: Vec<(u32, Vec<u8>)> = [
        (1, &b"wait"[..]),
        (1, b"1"),
        (1, b"2"),
        (1, b"3"),
        (2, b"4"),
        (2, b"5"),
        (2, b"6"),
        (2, b"last"),
    ]
    .iter()
    .map(|(n, b)| (*n, b.to_vec()))
    .collect();
    assert_eq!(seen.handled, expect);
    // All seven were queued when `wait` returned: one batch took them, and `boom` failed in
    // its middle (four handler calls ran in it).
    assert_eq!(seen.batches[..2], [1, 4], "batches: {:?}", seen.batches);
    drop(seen);
    let failed: Vec<_> = bus
        .dead_letters()
        .drain()
        .into_iter()
        .filter(|l| matches!(l.reason, DeadLetterReason::HandlerFailed(_)))
        .collect();
    assert_eq!(failed.len(), 1, "one failure: {failed:?}");
    // Named as the language names its actor and message, not by the foreign layer's types.
    assert_eq!(
        (failed[0].actor_type, failed[0].message_type),
        ("Recorder", "Tick")
    );
    assert_eq!(foreign.starts.load(Ordering::SeqCst), 2);
}

#[test]
fn a_kill_while_a_batch_runs_runs_nothing_more_and_leaves_the_rest_to_the_dead_letters() {
    let rt = runtime();
    let (foreign, entered, release) = recorder();
    let bus = rt.block_on(async { Bus::new() });
    let actor = rt
        .block_on(spawn(&bus, foreign.clone(), (), SpawnOptions::new()))
        .unwrap();
    let gate = actor.gate().unwrap();
    actor.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(WITHIN).expect("the first handler ran");
    for i in 0..10u32 {
        actor.try_tell(msg(&i.to_le_bytes())).unwrap();
    }
    until_queued(&gate, 10);
    // The shutdown's deadline passes while foreign code runs: the actor is killed.
    let report = rt.block_on(bus.shutdown(Duration::from_millis(10)));
    assert_eq!(report.killed.len(), 1);
    release.send(()).unwrap();
    // The killed incarnation's state is released once its handler has returned (by `stop`,
    // whose call the kill could not stop either, or by `abandon`); the ten queued behind it
    // were never handled: they are dead letters.
    let deadline = Instant::now() + WITHIN;
    while foreign.released.load(Ordering::SeqCst) == 0 || bus.dead_letters().total() < 10 {
        assert!(
            Instant::now() < deadline,
            "released {}, dead letters {}, queued {}",
            foreign.released.load(Ordering::SeqCst),
            bus.dead_letters().total(),
            gate.queued()
        );
        std::thread::yield_now();
    }
    let seen = foreign.seen.lock().unwrap();
    assert_eq!(seen.handled, vec![(1, b"wait".to_vec())]);
    let stopped: Vec<_> = bus
        .dead_letters()
        .drain()
        .into_iter()
        .filter(|l| matches!(l.reason, DeadLetterReason::ActorStopped(_)))
        .map(|l| (l.actor_type, l.message_type))
        .collect();
    assert_eq!(stopped, vec![("Recorder", "Tick"); 10]);
    assert_eq!(foreign.released.load(Ordering::SeqCst), 1);
}

#[test]
fn mail_left_when_an_actor_stops_goes_to_the_dead_letters_named_as_the_language_names_it() {
    let rt = runtime();
    let (foreign, entered, release) = recorder();
    let bus = rt.block_on(async { Bus::new() });
    let actor = rt
        .block_on(spawn(&bus, foreign.clone(), (), SpawnOptions::new()))
        .unwrap();
    let gate = actor.gate().unwrap();
    actor.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(WITHIN).expect("the first handler ran");
    actor.try_tell(msg(b"boom")).unwrap();
    for i in 0..3u32 {
        actor.try_tell(msg(&i.to_le_bytes())).unwrap();
    }
    until_queued(&gate, 4);
    // `boom` fails the unsupervised actor, which stops: the three queued behind it go back
    // to its mailbox, which the stop closes, and become its dead letters.
    release.send(()).unwrap();
    let deadline = Instant::now() + WITHIN;
    while bus.dead_letters().total() < 4 {
        assert!(
            Instant::now() < deadline,
            "{} dead letters",
            bus.dead_letters().total()
        );
        std::thread::yield_now();
    }
    let letters: Vec<_> = bus
        .dead_letters()
        .drain()
        .into_iter()
        .filter(|l| matches!(l.reason, DeadLetterReason::ActorStopped(_)))
        .map(|l| (l.actor_type, l.message_type))
        .collect();
    assert_eq!(letters, vec![("Recorder", "Tick"); 3]);
    assert_eq!(seen_bodies(&foreign), [&b"wait"[..]]);
}

/// The bodies the actor handled, in order.
fn seen_bodies(foreign: &Recorder) -> Vec<Vec<u8>> {
    let seen = foreign.seen.lock().unwrap();
    seen.handled.iter().map(|(_, b)| b.clone()).collect()
}

/// The bus times a foreign actor saw for a burst of slow messages, and the bus time a Rust
/// task's one-millisecond sleep, begun with the burst, ended at.
fn slow_burst_on_virtual_time() -> (Vec<u64>, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let (foreign, _entered, _release) = recorder();
        *foreign.clock.lock().unwrap() = Some(bus.clock().clone());
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        for _ in 0..20 {
            actor.try_tell(msg(b"slow")).unwrap();
        }
        let clock = bus.clock().clone();
        let woke = tokio::spawn(async move {
            clock.sleep(Duration::from_millis(1)).await;
            u64::try_from(clock.now().as_nanos()).unwrap()
        });
        actor.ask(msg(b"last"), None).await.unwrap();
        let woke = woke.await.unwrap();
        let times = foreign.times.lock().unwrap().clone();
        (times, woke)
    })
}

#[test]
fn virtual_time_stands_still_while_a_batch_runs_and_a_run_repeats_exactly() {
    let (times, woke) = slow_burst_on_virtual_time();
    assert_eq!(times.len(), 21);
    // Twenty milliseconds of wall time in handlers, and not a nanosecond of bus time: the
    // sleep's deadline passed only once the queue was empty.
    assert!(
        times.iter().all(|&t| t == times[0]),
        "bus time moved during the burst: {times:?}"
    );
    assert_eq!(woke, times[0] + 1_000_000);
    assert_eq!(slow_burst_on_virtual_time(), (times, woke));
}

/// Mail already in the mailbox when the actor's task takes it goes to the host thread as one
/// batch: the task starts the thread once it has queued the last of it, and the clock of a
/// virtual-time bus stands still meanwhile.
#[test]
fn mail_waiting_in_the_mailbox_is_handed_to_the_host_thread_as_one_batch() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let (foreign, _entered, _release) = recorder();
    let (handled, batches, times) = rt.block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        *foreign.clock.lock().unwrap() = Some(bus.clock().clone());
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        // Sent without yielding: the actor's task finds all of them in its mailbox.
        let bodies: Vec<Vec<u8>> = (0..50u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for body in &bodies {
            actor.try_tell(msg(body)).unwrap();
        }
        let last = actor.ask(msg(b"last"), None).await.unwrap();
        assert_eq!(last.body, b"last");
        let seen = foreign.seen.lock().unwrap();
        let handled: Vec<Vec<u8>> = seen.handled.iter().map(|(_, b)| b.clone()).collect();
        let mut expected = bodies;
        expected.push(b"last".to_vec());
        assert_eq!(handled, expected, "handled in the order sent");
        let times = foreign.times.lock().unwrap().clone();
        (handled.len(), seen.batches.clone(), times)
    });
    assert_eq!(batches, vec![handled], "one batch for the whole mailbox");
    assert!(
        times.iter().all(|&t| t == times[0]),
        "bus time moved: {times:?}"
    );
}

/// A link's record of the receipts signed.
#[derive(Default)]
struct Book(Mutex<Vec<u64>>);

impl ReceiptBook for Book {
    fn handled(&self, seq: u64) {
        self.0.lock().unwrap().push(seq);
    }
}

#[test]
fn a_receipt_of_a_tell_to_a_foreign_service_is_signed_once_its_handler_has_run() {
    let rt = runtime();
    let (foreign, entered, release) = recorder();
    let bus = rt.block_on(async { Bus::new() });
    let actor = rt
        .block_on(spawn(&bus, foreign.clone(), (), SpawnOptions::new()))
        .unwrap();
    actor.export(&bus, "rec", &[900]).unwrap();
    let book = Arc::new(Book::default());
    actor.try_tell(msg(b"wait")).unwrap();
    entered.recv_timeout(WITHIN).expect("the first handler ran");
    bus.exports()
        .try_deliver_receipted("rec", 900, b"x", Receipt::new(book.clone(), 7))
        .unwrap();
    until_queued(&actor.gate().unwrap(), 1);
    assert!(
        book.0.lock().unwrap().is_empty(),
        "signed while still queued"
    );
    release.send(()).unwrap();
    rt.block_on(actor.ask(msg(b"last"), Some(WITHIN))).unwrap();
    assert_eq!(*book.0.lock().unwrap(), vec![7]);
}

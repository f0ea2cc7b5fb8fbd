//! A tell a recorded actor makes that is refused (a full mailbox, a stopped receiver) is
//! recorded (`refused`, after its `sent` record) and returned again at the same tell of its
//! replay, though the replay's receiver would take it: the actor takes the same branch. A
//! batch (`tell_many`) a stopped receiver handed back in part comes back in part again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use mycelium_actors::{
    actor_from_args, Actor, ActorRef, BoxError, Bus, Context, Handler, MailboxConfig, SpawnOptions,
    TrySendError,
};
use mycelium_journal::{
    ActorAddr, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Origin,
    Recording, Replay, ReplayMode,
};

/// Places each quantity it is asked for with its venue, without waiting (`try_tell`), and
/// answers what the venue's mailbox said.
#[derive(Clone)]
struct Desk(ActorRef<Venue>);
actor_from_args!(Desk);

impl Handler<u32> for Desk {
    type Reply = String;
    async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> String {
        match self.0.try_tell(qty) {
            Ok(()) => format!("placed {qty}"),
            Err(TrySendError::Full(q)) => format!("venue busy, kept {q}"),
            Err(TrySendError::Closed(q)) => format!("venue gone, kept {q}"),
        }
    }
}

/// Places a quantity waiting for room (`tell`).
#[derive(serde::Serialize, serde::Deserialize)]
struct Wait(u32);

impl Handler<Wait> for Desk {
    type Reply = String;
    async fn handle(&mut self, Wait(qty): Wait, _ctx: &mut Context<Self>) -> String {
        match self.0.tell(qty).await {
            Ok(()) => format!("placed {qty}"),
            Err(e) => format!("venue gone, kept {}", e.0),
        }
    }
}

/// Takes quantities; live, each handler waits until `open` lets it through, so that its
/// mailbox fills.
struct Venue {
    begun: Arc<AtomicUsize>,
    open: Arc<tokio::sync::Semaphore>,
}

impl Actor for Venue {
    type Args = (Arc<AtomicUsize>, Arc<tokio::sync::Semaphore>);
    async fn on_start(
        (begun, open): Self::Args,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Venue { begun, open })
    }
}

impl Handler<u32> for Venue {
    type Reply = ();
    async fn handle(&mut self, _: u32, _ctx: &mut Context<Self>) {
        self.begun.fetch_add(1, Ordering::SeqCst);
        if let Ok(permit) = self.open.acquire().await {
            permit.forget();
        }
    }
}

/// Lets the runtime's other tasks run until `done` (bounded: the tests' actors are on this
/// thread and need a few turns).
async fn until(done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the venue never got there");
}

/// What a recording needs: a journal in a temporary directory, the recorder of the tests'
/// messages, a live bus on virtual time, and a venue (a mailbox of one) whose handlers wait,
/// counting those begun.
struct Live {
    dir: tempfile::TempDir,
    journal: JournalWriter,
    recording: Arc<Recording>,
    bus: Bus,
    venue: ActorRef<Venue>,
    begun: Arc<AtomicUsize>,
}

fn live() -> Live {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u32>()
            .serde::<Wait>()
            .serde::<Batch>()
            .serde::<String>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let begun = Arc::new(AtomicUsize::new(0));
    let venue = bus
        .spawn_with::<Venue>(
            (begun.clone(), Arc::new(tokio::sync::Semaphore::new(0))),
            SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)),
        )
        .unwrap();
    Live {
        dir,
        journal,
        recording,
        bus,
        venue,
        begun,
    }
}

/// Records a desk whose venue takes the first quantity, queues the second, is full for the
/// third, and has stopped for the fourth and fifth; returns the journal and the desk's
/// number.
async fn record() -> (tempfile::TempDir, u64, Vec<String>) {
    let Live {
        dir,
        journal,
        recording,
        bus: live,
        venue,
        begun,
    } = live();
    let desk = live
        .spawn_with::<Desk>(Desk(venue.clone()), SpawnOptions::new().record(recording))
        .unwrap();
    let mut answers = vec![desk.ask(1u32).await.unwrap()];
    until(|| begun.load(Ordering::SeqCst) == 1).await;
    answers.push(desk.ask(2u32).await.unwrap());
    answers.push(desk.ask(3u32).await.unwrap());
    venue.kill();
    until(|| venue.is_closed()).await;
    answers.push(desk.ask(4u32).await.unwrap());
    answers.push(desk.ask(Wait(5)).await.unwrap());
    journal.close().unwrap();
    (dir, desk.id().local(), answers)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_refused_tell_is_recorded_after_its_send() {
    let (dir, desk, answers) = record().await;
    assert_eq!(
        answers,
        [
            "placed 1",
            "placed 2",
            "venue busy, kept 3",
            "venue gone, kept 4",
            "venue gone, kept 5"
        ]
    );
    let records: Vec<_> = JournalReader::open(dir.path())
        .unwrap()
        .records()
        .map(Result::unwrap)
        .filter(|r| r.actor.id == desk)
        .collect();
    let refused: Vec<_> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == Kind::Refused)
        .collect();
    let why: Vec<&[u8]> = refused.iter().map(|(_, r)| &r.payload[..]).collect();
    assert_eq!(why, [&b"full"[..], b"stopped", b"stopped"]);
    for (i, r) in refused {
        // Right after the send it refuses, caused by the input being handled, from the venue.
        let sent = &records[i - 1];
        assert_eq!(sent.kind, Kind::Sent);
        assert_eq!(r.cause, sent.cause);
        assert_eq!(r.origin, sent.origin);
        assert!(matches!(r.origin, Origin::Actor(ActorAddr { .. })));
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_replay_returns_the_recorded_refusals_though_its_venue_takes_everything() {
    let (dir, desk, _) = record().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    // An open venue with room for everything: only the journal says it refused.
    let open = Arc::new(tokio::sync::Semaphore::new(100));
    let venue = bus.spawn::<Venue>((Arc::default(), open));
    let report = Replay::<Desk>::new(Desk(venue.clone()))
        .serde::<u32>()
        .serde::<Wait>()
        .sends_serde::<u32>()
        .run(&journal, desk, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 5, "{report}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_set_returns_the_recorded_refusals_too() {
    let (dir, desk, _) = record().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = mycelium_journal::ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<u32>();
    let open = Arc::new(tokio::sync::Semaphore::new(100));
    let venue = bus.spawn::<Venue>((Arc::default(), open));
    let desk_now = set.spawn::<Desk>(&bus, desk, Desk(venue)).unwrap();
    set.serde::<Desk, u32>(&desk_now);
    set.serde::<Desk, Wait>(&desk_now);
    let report = set.run(ReplayMode::Compare).await.unwrap();
    assert!(report.is_same(), "{report}");
}

/// Places a batch of quantities with its venue (`tell_many`), and answers how many were
/// placed and which came back.
#[derive(Clone)]
struct Batcher {
    venue: ActorRef<Venue>,
    /// Set as it begins a batch.
    sending: Arc<AtomicBool>,
}
actor_from_args!(Batcher);

#[derive(serde::Serialize, serde::Deserialize)]
struct Batch(Vec<u32>);

impl Handler<Batch> for Batcher {
    type Reply = String;
    async fn handle(&mut self, Batch(qty): Batch, _ctx: &mut Context<Self>) -> String {
        let count = qty.len();
        self.sending.store(true, Ordering::SeqCst);
        match self.venue.tell_many(qty).await {
            Ok(()) => format!("placed {count}"),
            Err(e) => format!("placed {} of {count}, kept {:?}", count - e.0.len(), e.0),
        }
    }
}

/// Records a batcher whose venue takes the first of a batch of three and stops while the
/// batcher waits for room for the second, then has stopped for a batch of two; returns the
/// journal, the batcher's number and its answers.
async fn record_batches() -> (tempfile::TempDir, u64, Vec<String>) {
    let Live {
        dir,
        journal,
        recording,
        bus: live,
        venue,
        begun,
    } = live();
    let sending = Arc::new(AtomicBool::new(false));
    let batcher = Batcher {
        venue: venue.clone(),
        sending: sending.clone(),
    };
    let batcher = live
        .spawn_with::<Batcher>(batcher, SpawnOptions::new().record(recording))
        .unwrap();
    let mut answers = vec![batcher.ask(Batch(vec![1])).await.unwrap()];
    until(|| begun.load(Ordering::SeqCst) == 1).await;
    // The venue holds 1; the batch queues 2 and waits for room for 20 while the venue stops.
    sending.store(false, Ordering::SeqCst);
    let asking = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.ask(Batch(vec![2, 20, 21])).await.unwrap() }
    });
    until(|| sending.load(Ordering::SeqCst)).await;
    venue.kill();
    answers.push(asking.await.unwrap());
    answers.push(batcher.ask(Batch(vec![6, 7])).await.unwrap());
    journal.close().unwrap();
    (dir, batcher.id().local(), answers)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_batch_a_stopped_receiver_hands_back_is_recorded_and_replayed() {
    let (dir, batcher, answers) = record_batches().await;
    assert_eq!(
        answers,
        [
            "placed 1",
            "placed 1 of 3, kept [20, 21]",
            "placed 0 of 2, kept [6, 7]"
        ]
    );
    let journal = JournalReader::open(dir.path()).unwrap();
    let why: Vec<Vec<u8>> = journal
        .records()
        .map(Result::unwrap)
        .filter(|r| r.actor.id == batcher && r.kind == Kind::Refused)
        .map(|r| r.payload)
        .collect();
    assert_eq!(
        why,
        [
            &b"stopped: 2 of 3 came back"[..],
            b"stopped: 2 of 2 came back"
        ]
    );
    // A venue with room for everything: only the journal says what came back, alone and in a
    // set.
    let bus = Bus::builder().virtual_time().build().unwrap();
    let open = Arc::new(tokio::sync::Semaphore::new(100));
    let venue = bus.spawn::<Venue>((Arc::default(), open));
    let replayed = Batcher {
        venue: venue.clone(),
        sending: Arc::default(),
    };
    let report = Replay::<Batcher>::new(replayed.clone())
        .serde::<Batch>()
        .sends_serde::<u32>()
        .run(&journal, batcher, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 3, "{report}");
    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = mycelium_journal::ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<u32>();
    let now = set.spawn::<Batcher>(&bus, batcher, replayed).unwrap();
    set.serde::<Batcher, Batch>(&now);
    let report = set.run(ReplayMode::Compare).await.unwrap();
    assert!(report.is_same(), "{report}");
}

//! A tell a recorded actor makes that is refused (a full mailbox, a stopped receiver) is
//! recorded (`refused`, after its `sent` record) and returned again at the same tell of its
//! replay, though the replay's receiver would take it: the actor takes the same branch.

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Records a desk whose venue (a mailbox of one) takes the first quantity, queues the second,
/// is full for the third, and has stopped for the fourth and fifth; returns the journal and
/// the desk's number.
async fn record() -> (tempfile::TempDir, u64, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u32>()
            .serde::<Wait>()
            .serde::<String>(),
    );
    let live = Bus::builder().virtual_time().build().unwrap();
    let begun = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let venue = live
        .spawn_with::<Venue>(
            (begun.clone(), open.clone()),
            SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)),
        )
        .unwrap();
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

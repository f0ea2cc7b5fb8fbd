//! What an actor sends from `on_start` and `on_stop` comes from that actor: a recorded
//! receiver names it as the origin, and a set that replays both regenerates the message
//! rather than feeding it again.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{
    actor_from_args, Actor, ActorRef, BoxError, Bus, Context, Handler, SpawnOptions,
};
use mycelium_journal::{
    ActorAddr, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Origin,
    Recording, ReplayMode, ReplaySet,
};

/// Adds up what it is told.
#[derive(Clone)]
struct Book(u64);
actor_from_args!(Book);

impl Handler<u64> for Book {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
        self.0 = self.0 * 10 + n;
        self.0
    }
}

/// Tells the book 1 as it starts and 9 as it stops; passes on what it is told.
struct Desk(ActorRef<Book>);

impl Actor for Desk {
    type Args = ActorRef<Book>;
    async fn on_start(book: ActorRef<Book>, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        book.tell(1u64).await?;
        Ok(Desk(book))
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &mycelium_actors::StopReason) {
        let _ = self.0.tell(9u64).await;
    }
}

impl Handler<u64> for Desk {
    type Reply = ();
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) {
        let _ = self.0.tell(n).await;
    }
}

#[tokio::test(start_paused = true)]
async fn sends_from_on_start_and_on_stop_come_from_the_actor_and_replay_regenerated() {
    let dir = tempfile::tempdir().expect("a directory");
    let journal = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none()))
        .expect("a journal");
    let recording = Arc::new(Recording::new(journal.clone()).serde::<u64>());
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let book = bus
        .spawn_with::<Book>(Book(0), SpawnOptions::new().record(recording.clone()))
        .expect("the book");
    let desk = bus
        .spawn_with::<Desk>(book.clone(), SpawnOptions::new().record(recording))
        .expect("the desk");
    tokio::time::sleep(Duration::from_secs(1)).await;
    desk.tell(5u64).await.expect("told");
    desk.drain_and_stop().await;
    desk.wait_for_stop().await;
    assert_eq!(book.ask(0u64).await.expect("answers"), 1590);
    book.drain_and_stop().await;
    book.wait_for_stop().await;
    journal.close().expect("closes");

    let journal = JournalReader::open(dir.path()).expect("reads");
    let records: Vec<_> = journal.records().map(|r| r.expect("whole")).collect();
    let (book_id, desk_id) = (book.id().local(), desk.id().local());
    let origins: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::Handled && r.actor.id == book_id)
        .map(|r| r.origin)
        .collect();
    let from_desk = Origin::Actor(ActorAddr {
        node: 0,
        id: desk_id,
    });
    assert_eq!(origins, [from_desk, from_desk, from_desk, Origin::Outside]);

    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal)
        .expect("reads")
        .sends_serde::<u64>();
    let book = set.spawn::<Book>(&bus, book_id, Book(0)).expect("the book");
    let desk = set
        .spawn::<Desk>(&bus, desk_id, book.clone())
        .expect("the desk");
    set.serde::<Book, u64>(&book).serde::<Desk, u64>(&desk);
    let report = set.run(ReplayMode::StopAtFirst).await.expect("replays");
    assert!(report.is_same(), "{report}");
}

//! A recorded actor: what it handles, in handling order, with bus time, its answers, and its
//! start and failures, land in the journal; and recording changes nothing the actor does.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, BoxError, Bus, Context, Failure, Handler, OnFailure, SpawnOptions};
use mycelium_journal::{
    Encoding, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Record, Recording,
};

#[derive(serde::Serialize)]
struct Fill {
    qty: u32,
}

#[derive(serde::Serialize)]
struct Crash;

/// A type no codec is chosen for (but in the test of a complete recording).
#[derive(serde::Serialize)]
struct Peek;

struct Book {
    position: u32,
}

impl Actor for Book {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Book { position: 0 })
    }
    async fn on_failure(&mut self, _ctx: &mut Context<Self>, _failure: &Failure) -> OnFailure {
        OnFailure::Continue
    }
}

impl Handler<Fill> for Book {
    type Reply = u32;
    async fn handle(&mut self, fill: Fill, _ctx: &mut Context<Self>) -> u32 {
        self.position += fill.qty;
        self.position
    }
}

impl Handler<Crash> for Book {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
        panic!("boom");
    }
}

impl Handler<Peek> for Book {
    type Reply = u32;
    async fn handle(&mut self, _: Peek, _ctx: &mut Context<Self>) -> u32 {
        self.position
    }
}

/// The scenario: tells, asks, bus time passing, a failure; returns what the asks got.
async fn scenario(recording: Option<Arc<Recording>>) -> Vec<u32> {
    let bus = Bus::builder().virtual_time().seed(7).build().unwrap();
    let mut options = SpawnOptions::new();
    if let Some(r) = recording {
        options = options.record(r);
    }
    let book = bus.spawn_with::<Book>((), options).unwrap();
    let mut replies = Vec::new();
    book.tell(Fill { qty: 3 }).await.unwrap();
    replies.push(book.ask(Fill { qty: 4 }).await.unwrap());
    tokio::time::sleep(Duration::from_millis(10)).await;
    replies.push(book.ask(Fill { qty: 1 }).await.unwrap());
    book.tell(Crash).await.unwrap();
    replies.push(book.ask(Peek).await.unwrap());
    tokio::time::sleep(Duration::from_millis(10)).await;
    replies.push(book.ask(Fill { qty: 2 }).await.unwrap());
    replies
}

fn summary(r: &Record) -> (Kind, u64, String, bool, String) {
    (
        r.kind,
        r.time_ns,
        r.name.clone(),
        r.asked,
        String::from_utf8_lossy(&r.payload).into_owned(),
    )
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_recorded_actor_leaves_its_inputs_and_failures_in_order_and_behaves_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Fill>()
            .serde::<Crash>()
            .serde::<u32>(),
    );
    let recorded = scenario(Some(recording.clone())).await;
    let plain = scenario(None).await;
    assert_eq!(recorded, plain, "recording changed what the actor answered");
    assert_eq!(recorded, [7, 8, 8, 10]);
    journal.close().unwrap();
    assert_eq!(recording.unrecorded(), ["Peek"]);
    assert_eq!(recording.errors(), 0);

    let records: Vec<Record> = JournalReader::open(dir.path())
        .unwrap()
        .records()
        .collect::<Result<_, _>>()
        .unwrap();
    let ms = 1_000_000;
    let seen: Vec<_> = records.iter().map(summary).collect();
    let s = |k, t, n: &str, a, p: &str| (k, t, n.to_owned(), a, p.to_owned());
    assert_eq!(seen[0].0, Kind::Started);
    assert_eq!(records[0].payload_u64(), Some(0));
    assert_eq!(records[7].kind, Kind::Failed);
    assert!(records[7].payload_text().unwrap().contains("boom"));
    assert_eq!(
        seen,
        [
            seen[0].clone(),
            s(Kind::Handled, 0, "Fill", false, r#"{"qty":3}"#),
            s(Kind::Handled, 0, "Fill", true, r#"{"qty":4}"#),
            s(Kind::Replied, 0, "u32", false, "7"),
            s(Kind::Handled, 10 * ms, "Fill", true, r#"{"qty":1}"#),
            s(Kind::Replied, 10 * ms, "u32", false, "8"),
            s(Kind::Handled, 10 * ms, "Crash", false, "null"),
            seen[7].clone(),
            s(Kind::Handled, 10 * ms, "Peek", true, ""),
            s(Kind::Replied, 10 * ms, "u32", false, "8"),
            s(Kind::Handled, 20 * ms, "Fill", true, r#"{"qty":2}"#),
            s(Kind::Replied, 20 * ms, "u32", false, "10"),
        ]
    );
    assert_eq!(records[8].encoding, Encoding::Empty);
    for r in records.iter().filter(|r| r.kind == Kind::Replied) {
        let cause = &records[r.cause.unwrap() as usize];
        assert_eq!((cause.kind, cause.asked), (Kind::Handled, true), "{r:?}");
        assert_eq!(cause.seq + 1, r.seq);
    }
    assert!(records.iter().all(|r| r.actor.id == records[0].actor.id));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_closed_journal_is_counted_not_a_failure_of_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    journal.close().unwrap();
    let recording = Arc::new(Recording::new(journal).serde::<Fill>());
    let replies = scenario(Some(recording.clone())).await;
    assert_eq!(replies, [7, 8, 8, 10]);
    // Started, six handlings, one failure, four answers.
    assert_eq!(recording.errors(), 12);
}

impl mycelium_journal::Recorded for Book {
    fn recorded_types() -> Vec<mycelium_journal::RecordedType> {
        use mycelium_journal::RecordedType;
        vec![
            RecordedType::ask::<Self, Fill>(),
            RecordedType::tell::<Self, Crash>(),
            RecordedType::ask::<Self, Peek>(),
        ]
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_types_a_recording_has_no_codec_for_are_named_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let partial = Arc::new(Recording::new(journal.clone()).serde::<Fill>());
    let err = partial.check::<Book>().unwrap_err();
    assert!(partial.spawn_options::<Book>().is_err());
    // Fill's reply (u32), Crash and Peek have no codec (Peek's reply, u32, is named once).
    assert_eq!(err.actor, "Book");
    assert_eq!(err.types, ["u32", "Crash", "Peek"]);
    assert!(
        err.to_string().starts_with(
            "actor Book cannot be recorded completely: no codec was chosen for u32, Crash, Peek"
        ),
        "{err}"
    );

    let peek_too = Arc::new(
        Recording::new(journal.clone())
            .serde::<Fill>()
            .serde::<Crash>()
            .serde::<u32>(),
    );
    let err = peek_too.check::<Book>().unwrap_err();
    assert_eq!(err.types, ["Peek"]);

    // Every type chosen: the options record the actor.
    let complete = Arc::new(
        Recording::new(journal.clone())
            .serde::<Fill>()
            .serde::<Crash>()
            .serde::<u32>()
            .serde::<Peek>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let book = bus
        .spawn_with::<Book>((), complete.spawn_options::<Book>().unwrap())
        .unwrap();
    assert_eq!(book.ask(Fill { qty: 2 }).await.unwrap(), 2);
    journal.close().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let kinds: Vec<Kind> = reader.records().map(|r| r.unwrap().kind).collect();
    assert_eq!(kinds, [Kind::Started, Kind::Handled, Kind::Replied]);
}

#[derive(serde::Serialize)]
struct Note(u32);

struct Sink;

impl Actor for Sink {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink)
    }
}

impl Handler<Note> for Sink {
    type Reply = ();
    async fn handle(&mut self, _: Note, _ctx: &mut Context<Self>) {}
}

/// Sends three notes per number it handles, giving its task up between them.
struct Relay {
    peer: mycelium_actors::ActorRef<Sink>,
}

impl Actor for Relay {
    type Args = mycelium_actors::ActorRef<Sink>;
    async fn on_start(
        peer: mycelium_actors::ActorRef<Sink>,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Relay { peer })
    }
}

impl Handler<u32> for Relay {
    type Reply = u32;
    async fn handle(&mut self, n: u32, _ctx: &mut Context<Self>) -> u32 {
        for _ in 0..3 {
            tokio::task::yield_now().await;
            self.peer.tell(Note(n)).await.unwrap();
        }
        n
    }
}

/// Each sent record's cause is the input its actor was handling, with actors of two
/// recordings handling at once on a multi-thread runtime, their handlers moving between
/// threads as they give their task up.
#[test]
fn what_an_actor_sends_is_caused_by_its_own_input_across_threads_and_recordings() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let journals = dirs.each_ref().map(|d| {
        JournalWriter::open(d.path(), JournalOptions::new(JournalSchema::none())).unwrap()
    });
    let recordings = journals
        .each_ref()
        .map(|j| Arc::new(Recording::new(j.clone()).serde::<u32>().serde::<Note>()));
    runtime.block_on(async {
        // One bus per recording, spawning in the same order: their actors have the same
        // addresses in the two journals.
        let mut relays = Vec::new();
        for recording in &recordings {
            let bus = Bus::new();
            let sink = bus.spawn::<Sink>(());
            for _ in 0..2 {
                let options = SpawnOptions::new().record(recording.clone());
                relays.push(bus.spawn_with::<Relay>(sink.clone(), options).unwrap());
            }
        }
        assert_eq!(relays[0].id().local(), relays[2].id().local());
        for n in 0..40u32 {
            for relay in &relays {
                relay.tell(n).await.unwrap();
            }
        }
        for relay in &relays {
            assert_eq!(relay.ask(99).await.unwrap(), 99);
        }
    });
    for (journal, dir) in journals.iter().zip(&dirs) {
        journal.close().unwrap();
        let records: Vec<Record> = JournalReader::open(dir.path())
            .unwrap()
            .records()
            .collect::<Result<_, _>>()
            .unwrap();
        let sent: Vec<_> = records.iter().filter(|r| r.kind == Kind::Sent).collect();
        assert!(sent.len() >= 2 * 41 * 3, "{} sent records", sent.len());
        for r in sent {
            let cause = &records[r.cause.expect("a sent record has a cause") as usize];
            assert_eq!(cause.kind, Kind::Handled, "{r:?}");
            assert_eq!(cause.actor, r.actor, "{r:?} caused by {cause:?}");
            assert_eq!(cause.payload, r.payload, "{r:?} caused by {cause:?}");
        }
    }
}

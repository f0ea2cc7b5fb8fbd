//! The answers to a recorded actor's own asks are recorded (`answered`) and served again to
//! its replay: a reply as it was, an error as an error that quotes it, and an ask beyond the
//! recorded ones as an error that says so.

use std::sync::Arc;

use mycelium_actors::{
    actor_from_args, Actor, ActorRef, Bus, Context, Handler, ReplyRecipient, SpawnOptions,
};
use mycelium_journal::{
    ActorAddr, Encoding, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Origin,
    RecordedAnswers, Recording, Replay, ReplayMode, ReplayReport, ReplaySet,
};

/// Asks a pricer for each quantity it is asked, and answers what it got (or the error).
#[derive(Clone)]
struct Trader(ReplyRecipient<u32, u64>);
actor_from_args!(Trader);

impl Handler<u32> for Trader {
    type Reply = String;
    async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> String {
        priced(self.0.ask(qty).await)
    }
}

/// What a trader answers: the price it got, or why it got none.
fn priced<E: std::fmt::Display>(answer: Result<u64, E>) -> String {
    match answer {
        Ok(price) => format!("price {price}"),
        Err(e) => format!("no price: {e}"),
    }
}

/// A pricer and a trader of type `A` (made by `make` from the pricer's address) on a live
/// virtual-time bus, the trader recorded into `recording`.
fn live<A: Actor>(
    recording: Arc<Recording>,
    make: impl FnOnce(ReplyRecipient<u32, u64>) -> A::Args,
) -> (Bus, ActorRef<Pricer>, ActorRef<A>) {
    let live = Bus::builder().virtual_time().build().unwrap();
    let pricer = live.spawn::<Pricer>(Pricer);
    let trader = live
        .spawn_with::<A>(
            make(pricer.reply_recipient()),
            SpawnOptions::new().record(recording),
        )
        .unwrap();
    (live, pricer, trader)
}

#[derive(Clone)]
struct Pricer;
actor_from_args!(Pricer);

impl Handler<u32> for Pricer {
    type Reply = u64;
    async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> u64 {
        u64::from(qty) * 10
    }
}

/// A journal in a directory of its own, and a recording into it of the types these tests
/// send and answer.
fn journal() -> (tempfile::TempDir, JournalWriter, Arc<Recording>) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u32>()
            .serde::<u64>()
            .serde::<String>(),
    );
    (dir, journal, recording)
}

/// Replays recorded actor `number` of `reader` as an `A` made by `make` from the address that
/// serves the recorded answers, on a bus of its own.
async fn replayed<A>(
    reader: &JournalReader,
    number: u64,
    make: impl FnOnce(ReplyRecipient<u32, u64>) -> A::Args,
    mode: ReplayMode,
) -> ReplayReport
where
    A: Handler<u32, Reply = String>,
{
    let bus = Bus::builder().virtual_time().build().unwrap();
    let served = RecordedAnswers::<u32, u64>::serde(reader, number)
        .unwrap()
        .reply_recipient(&bus);
    Replay::<A>::new(make(served))
        .serde::<u32>()
        .run(reader, number, &bus, mode)
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn answers_and_failed_asks_are_recorded_and_served_again() {
    let (dir, journal, recording) = journal();
    let (_live, pricer, trader) = live::<Trader>(recording, Trader);
    assert_eq!(trader.ask(2u32).await.unwrap(), "price 20");
    pricer.stop();
    pricer.wait_for_stop().await;
    let failed = trader.ask(3u32).await.unwrap();
    assert!(failed.starts_with("no price: "), "{failed}");
    journal.close().unwrap();

    // The journal: each answer an `answered` record, caused by the input being handled.
    let reader = JournalReader::open(dir.path()).unwrap();
    let records: Vec<_> = reader.records().map(Result::unwrap).collect();
    let answered: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::Answered)
        .collect();
    assert_eq!(answered.len(), 2);
    assert_eq!(answered[0].name, "u64");
    assert_eq!(answered[0].encoding, Encoding::Json);
    assert_eq!(answered[0].payload_text(), Some("20"));
    let handled: Vec<_> = records.iter().filter(|r| r.kind == Kind::Handled).collect();
    assert_eq!(answered[0].cause, Some(handled[0].seq));
    // Its origin: the actor asked (a remote one's node and number for an ask across a link).
    let pricer_addr = ActorAddr {
        node: 0,
        id: pricer.id().local(),
    };
    assert_eq!(answered[0].origin, Origin::Actor(pricer_addr));
    assert_eq!(answered[1].origin, Origin::Actor(pricer_addr));
    assert_eq!(answered[1].encoding, Encoding::Text);
    let error = answered[1].payload_text().unwrap().to_owned();
    assert_eq!(failed, format!("no price: {error}"));

    // Served again, in order: the reply, then the recorded error, then nothing left.
    let answers = RecordedAnswers::<u32, u64>::serde(&reader, trader.id().local()).unwrap();
    assert_eq!(answers.len(), 2);
    let bus = Bus::builder().virtual_time().build().unwrap();
    let served = answers.reply_recipient(&bus);
    assert_eq!(served.ask(7).await.unwrap(), 20);
    let second = served.ask(7).await.unwrap_err().to_string();
    assert!(
        second.contains("the recorded answer to ask 2 was an error") && second.contains(&error),
        "{second}"
    );
    let third = served.ask(7).await.unwrap_err().to_string();
    assert!(
        third.contains("the journal holds no answer for ask 3"),
        "{third}"
    );
}

/// As `Trader`, but asks with `ask_queued` and awaits the answer after.
#[derive(Clone)]
struct QueuedTrader(ReplyRecipient<u32, u64>);
actor_from_args!(QueuedTrader);

impl Handler<u32> for QueuedTrader {
    type Reply = String;
    async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> String {
        let pending = match self.0.ask_queued(qty).await {
            Ok(pending) => pending,
            Err(e) => return format!("not asked: {e}"),
        };
        priced(pending.await)
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_answers_to_queued_asks_are_recorded_and_served_to_a_replay() {
    let (dir, journal, recording) = journal();
    let (_live, _pricer, trader) = live::<QueuedTrader>(recording, QueuedTrader);
    assert_eq!(trader.ask(2u32).await.unwrap(), "price 20");
    assert_eq!(trader.ask(5u32).await.unwrap(), "price 50");
    journal.close().unwrap();

    let reader = JournalReader::open(dir.path()).unwrap();
    let answered: Vec<_> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| r.kind == Kind::Answered)
        .collect();
    assert_eq!(answered.len(), 2, "each queued ask's answer is recorded");
    assert_eq!(answered[1].payload_text(), Some("50"));

    // Replayed alone: the pricer's answers come from the journal.
    let number = trader.id().local();
    let report =
        replayed::<QueuedTrader>(&reader, number, QueuedTrader, ReplayMode::StopAtFirst).await;
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 2);
}

/// A new version of `Trader`: it asks twice for a quantity of 3 (the second ask's price is
/// the one it answers with), once for any other.
#[derive(Clone)]
struct TwiceForThree(ReplyRecipient<u32, u64>);
actor_from_args!(TwiceForThree);

impl Handler<u32> for TwiceForThree {
    type Reply = String;
    async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> String {
        if qty == 3 {
            let _ = self.0.ask(qty).await;
        }
        priced(self.0.ask(qty).await)
    }
}

/// Replayed, each input's asks get the answers recorded while that input was handled: a
/// version that asks once more for one input differs there only, and the inputs after it
/// get their own answers (served in recorded order instead, every later input would differ).
/// An unchanged replay of the same journal matches everywhere.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_input_gets_the_answers_recorded_during_it() {
    let (dir, journal, recording) = journal();
    let (_live, _pricer, trader) = live::<Trader>(recording, Trader);
    for qty in [2u32, 3, 4, 5] {
        assert_eq!(
            trader.ask(qty).await.unwrap(),
            format!("price {}", qty * 10)
        );
    }
    journal.close().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let number = trader.id().local();

    let report = replayed::<Trader>(&reader, number, Trader, ReplayMode::Compare).await;
    assert!(report.differences.is_empty(), "{report}");

    let report =
        replayed::<TwiceForThree>(&reader, number, TwiceForThree, ReplayMode::Compare).await;
    assert_eq!(report.inputs, 4);
    assert_eq!(report.differences.len(), 1, "{report}");
    let difference = &report.differences[0];
    assert_eq!(difference.input, 1, "{report}");
    assert!(
        difference.now.contains("no price: ")
            && difference
                .now
                .contains("the recorded actor asked fewer times while handling record"),
        "{report}"
    );
}

/// Asks a trader (a `Trader` or a `TwiceForThree`) for each quantity it is asked, and answers
/// what the trader answered.
#[derive(Clone)]
struct Desk(ReplyRecipient<u32, String>);
actor_from_args!(Desk);

impl Handler<u32> for Desk {
    type Reply = String;
    async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> String {
        self.0
            .ask(qty)
            .await
            .unwrap_or_else(|e| format!("no answer: {e}"))
    }
}

/// Replays the desk and the trader of `reader` together, the trader an `A` made from the
/// address that serves the pricer's recorded answers (the pricer is outside the set).
async fn replayed_with_desk<A>(
    reader: &JournalReader,
    (desk, trader): (u64, u64),
    make: impl FnOnce(ReplyRecipient<u32, u64>) -> A::Args,
) -> mycelium_journal::SetReport
where
    A: Handler<u32, Reply = String>,
{
    let bus = Bus::builder().virtual_time().build().unwrap();
    let served = RecordedAnswers::<u32, u64>::serde(reader, trader)
        .unwrap()
        .reply_recipient(&bus);
    let mut set = ReplaySet::new(reader)
        .unwrap()
        .sends_serde::<u32>()
        .sends_serde::<u64>()
        .sends_serde::<String>();
    let replayed_trader = set.spawn::<A>(&bus, trader, make(served)).unwrap();
    let replayed_desk = set
        .spawn::<Desk>(&bus, desk, Desk(replayed_trader.reply_recipient()))
        .unwrap();
    set.serde::<A, u32>(&replayed_trader);
    set.serde::<Desk, u32>(&replayed_desk);
    set.run(ReplayMode::Compare).await.unwrap()
}

/// In a set, too, each input's asks get the answers recorded while that input was handled,
/// whether the input was fed from outside the set or regenerated by another replayed actor:
/// a trader that asks once more for one input differs there (and its desk, which passed on
/// its answer, at the same input), and nowhere else.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn in_a_set_each_input_gets_the_answers_recorded_during_it() {
    let (dir, journal, recording) = journal();
    let (live, _pricer, trader) = live::<Trader>(recording.clone(), Trader);
    let desk = live
        .spawn_with::<Desk>(
            Desk(trader.reply_recipient()),
            SpawnOptions::new().record(recording),
        )
        .unwrap();
    // Inputs of the trader: 2 from outside, then 3, 4 and 5 through the desk, then 6 again
    // from outside.
    assert_eq!(trader.ask(2u32).await.unwrap(), "price 20");
    for qty in [3u32, 4, 5] {
        assert_eq!(desk.ask(qty).await.unwrap(), format!("price {}", qty * 10));
    }
    assert_eq!(trader.ask(6u32).await.unwrap(), "price 60");
    journal.close().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let numbers = (desk.id().local(), trader.id().local());

    let report = replayed_with_desk::<Trader>(&reader, numbers, Trader).await;
    assert!(report.is_same(), "{report}");

    let report = replayed_with_desk::<TwiceForThree>(&reader, numbers, TwiceForThree).await;
    let [trader_report, desk_report] = &report.actors[..] else {
        panic!("two actors replayed: {report}");
    };
    assert_eq!(trader_report.inputs, 5, "{report}");
    assert_eq!(trader_report.differences.len(), 1, "{report}");
    let difference = &trader_report.differences[0];
    assert_eq!(difference.input, 1, "{report}");
    assert!(
        difference
            .now
            .contains("the recorded actor asked fewer times while handling record"),
        "{report}"
    );
    assert_eq!(desk_report.differences.len(), 1, "{report}");
    assert_eq!(desk_report.differences[0].input, 0, "{report}");
}

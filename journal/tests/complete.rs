//! What makes a record complete enough to replay an actor exactly: its timers' firings and
//! the messages they send told apart from other tells (a replay regenerates them on virtual
//! time), its clock readings (a replay serves them back), and its type on each start.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, SpawnOptions};
use mycelium_journal::{
    ActorAddr, Encoding, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind,
    Origin, Recording, Replay, ReplayMode,
};
use mycelium_supervisor::{ChildSpec, RestartStrategy, Supervisor};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Tick;

/// Asks for the readings of the clock made at each tick so far.
#[derive(serde::Serialize, serde::Deserialize)]
struct Readings;

/// Sets a timer every `period` milliseconds and reads the clock at each tick.
struct Sampler {
    seen: Vec<u64>,
}

impl Actor for Sampler {
    type Args = u64;
    async fn on_start(period: u64, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.send_interval(Tick, Duration::from_millis(period));
        Ok(Sampler { seen: Vec::new() })
    }
}

impl Handler<Tick> for Sampler {
    type Reply = ();
    async fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
        let now = ctx.now();
        self.seen.push(u64::try_from(now.as_nanos()).unwrap());
    }
}

impl Handler<Readings> for Sampler {
    type Reply = Vec<u64>;
    async fn handle(&mut self, _: Readings, ctx: &mut Context<Self>) -> Vec<u64> {
        let mut seen = self.seen.clone();
        seen.push(u64::try_from(ctx.now().as_nanos()).unwrap());
        seen
    }
}

/// Records a sampler ticking every 5 ms, asked for its readings at 12 ms and 23 ms.
async fn record() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Tick>()
            .serde::<Readings>()
            .serde::<Vec<u64>>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let sampler = bus
        .spawn_with::<Sampler>(5, SpawnOptions::new().record(recording.clone()))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(12)).await;
    assert_eq!(sampler.ask(Readings).await.unwrap().len(), 3);
    tokio::time::sleep(Duration::from_millis(11)).await;
    assert_eq!(sampler.ask(Readings).await.unwrap().len(), 5);
    sampler.stop();
    sampler.wait_for_stop().await;
    journal.close().unwrap();
    assert!(recording.unrecorded().is_empty());
    assert_eq!(recording.errors(), 0);
    (dir, sampler.id().local())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timer_firings_timer_inputs_clock_readings_and_the_actor_type_are_recorded() {
    let (dir, _) = record().await;
    let records: Vec<_> = JournalReader::open(dir.path())
        .unwrap()
        .records()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records[0].kind, Kind::Started);
    assert_eq!(records[0].name, "Sampler");
    let fired: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::TimerFired)
        .map(|r| (r.time_ns / 1_000_000, r.origin, r.timer_schedule()))
        .collect();
    // Each firing keeps the deadline it fired for and the timer's period.
    assert_eq!(
        fired,
        (1..=4)
            .map(|n| {
                let schedule = (n * 5_000_000, Some(5_000_000));
                (n * 5, Origin::Timer { id: 0 }, Some(schedule))
            })
            .collect::<Vec<_>>()
    );
    // Each tick is a handled input from timer 0, after its firing, and the reading made
    // while handling it names that input as its cause.
    let ticks: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::Handled && r.name == "Tick")
        .collect();
    assert_eq!(ticks.len(), 4);
    for tick in &ticks {
        assert_eq!(tick.origin, Origin::Timer { id: 0 });
        let reading = records
            .iter()
            .find(|r| r.kind == Kind::ClockRead && r.cause == Some(tick.seq))
            .expect("the tick's clock reading");
        assert_eq!(reading.payload_u64(), Some(tick.time_ns));
    }
    // The asks came from outside the actor's timers.
    let asks: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::Handled && r.name == "Readings")
        .collect();
    assert!(asks.iter().all(|r| r.asked && r.origin == Origin::Outside));
    // Its stop ends the record.
    let last = records.last().unwrap();
    assert_eq!(last.kind, Kind::Stopped);
    assert!(last.payload_text().is_some_and(|t| !t.is_empty()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_replay_regenerates_timer_inputs_on_virtual_time() {
    let (dir, actor) = record().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Sampler>::new(5)
        .serde::<Tick>()
        .serde::<Readings>()
        .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 6);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_changed_timer_is_a_difference_at_the_first_input_it_moves() {
    let (dir, actor) = record().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    // Every 4 ms instead of 5: the first tick comes at 4 ms, not 5.
    let report = Replay::<Sampler>::new(4)
        .serde::<Tick>()
        .serde::<Readings>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(!report.differences.is_empty(), "{report}");
    let first = &report.differences[0];
    assert_eq!(first.input, 0, "{report}");
    assert!(first.message.starts_with("Tick"), "{report}");
    assert_eq!(
        first.recorded, "timer 0 sent Tick at 0.005000000s",
        "{report}"
    );
    assert_eq!(first.now, "timer 0 sent Tick at 0.004000000s", "{report}");
}

/// A reading served back: the replayed actor sees the recorded time, not its own bus's.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_replayed_actor_reads_the_recorded_clock() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let actor = ActorAddr { node: 0, id: 1 };
    // A live run on a real-time bus: the ask handled at 1 ms read the clock at 1.000777 ms.
    let handled = journal
        .append(&Entry {
            name: "Readings",
            asked: true,
            encoding: Encoding::Json,
            payload: b"null",
            ..Entry::new(Kind::Handled, 1_000_000, actor)
        })
        .unwrap()
        .seq();
    journal
        .append(&Entry {
            cause: Some(handled),
            encoding: Encoding::U64,
            payload: &1_000_777u64.to_le_bytes(),
            ..Entry::new(Kind::ClockRead, 1_000_777, actor)
        })
        .unwrap();
    journal
        .append(&Entry {
            cause: Some(handled),
            name: "Vec<u64>",
            encoding: Encoding::Json,
            payload: b"[1000777]",
            ..Entry::new(Kind::Replied, 1_000_777, actor)
        })
        .unwrap();
    journal.close().unwrap();
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    // A period long enough that no tick comes.
    let report = Replay::<Sampler>::new(1_000)
        .serde::<Readings>()
        .run(&journal, 1, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Price(u32);

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Order {
    qty: u32,
}

/// Receives orders.
struct Venue {
    seen: u32,
}

impl Actor for Venue {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Venue { seen: 0 })
    }
}

impl Handler<Order> for Venue {
    type Reply = ();
    async fn handle(&mut self, order: Order, _ctx: &mut Context<Self>) {
        self.seen += order.qty;
    }
}

/// On each price above 10, tells the venue an order of `price / divisor` and publishes it.
struct Trader {
    venue: mycelium_actors::ActorRef<Venue>,
    divisor: u32,
}

impl Actor for Trader {
    type Args = (mycelium_actors::ActorRef<Venue>, u32);
    async fn on_start(
        (venue, divisor): Self::Args,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Trader { venue, divisor })
    }
}

impl Handler<Price> for Trader {
    type Reply = ();
    async fn handle(&mut self, price: Price, ctx: &mut Context<Self>) {
        if price.0 > 10 {
            let order = Order {
                qty: price.0 / self.divisor,
            };
            self.venue.tell(order.clone()).await.unwrap();
            ctx.publish("orders", order).await.unwrap();
        }
    }
}

async fn record_trading() -> (tempfile::TempDir, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Price>()
            .serde::<Order>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let options = || SpawnOptions::new().record(recording.clone());
    let venue = bus.spawn_with::<Venue>((), options()).unwrap();
    let trader = bus
        .spawn_with::<Trader>((venue.clone(), 2), options())
        .unwrap();
    for price in [5, 12, 30] {
        tokio::time::sleep(Duration::from_millis(1)).await;
        trader.tell(Price(price)).await.unwrap();
    }
    trader.drain_and_stop().await;
    trader.wait_for_stop().await;
    venue.drain_and_stop().await;
    venue.wait_for_stop().await;
    journal.close().unwrap();
    assert_eq!(recording.errors(), 0);
    (dir, trader.id().local(), venue.id().local())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sends_publications_and_the_origin_of_an_actors_message_are_recorded() {
    let (dir, trader, venue) = record_trading().await;
    let records: Vec<_> = JournalReader::open(dir.path())
        .unwrap()
        .records()
        .collect::<Result<_, _>>()
        .unwrap();
    let trader = ActorAddr {
        node: 0,
        id: trader,
    };
    let venue = ActorAddr { node: 0, id: venue };
    let sent: Vec<_> = records
        .iter()
        .filter(|r| r.actor == trader && r.kind == Kind::Sent)
        .map(|r| {
            (
                r.origin,
                r.payload_text().unwrap().to_owned(),
                r.cause.is_some(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            (Origin::Actor(venue), r#"{"qty":6}"#.to_owned(), true),
            (Origin::Actor(venue), r#"{"qty":15}"#.to_owned(), true),
        ]
    );
    let published: Vec<_> = records
        .iter()
        .filter(|r| r.actor == trader && r.kind == Kind::Published)
        .map(|r| (r.topic.as_str(), r.payload_text().unwrap()))
        .collect();
    assert_eq!(
        published,
        [("orders", r#"{"qty":6}"#), ("orders", r#"{"qty":15}"#)]
    );
    // The venue's inputs name the trader as their origin; the trader's came from code
    // outside the actors (the test).
    let handled: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::Handled)
        .map(|r| (r.actor, r.origin))
        .collect();
    assert_eq!(
        handled,
        [
            (trader, Origin::Outside),
            (trader, Origin::Outside),
            (venue, Origin::Actor(trader)),
            (trader, Origin::Outside),
            (venue, Origin::Actor(trader)),
        ]
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_changed_send_is_the_first_difference() {
    let (dir, trader, _) = record_trading().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let venue = bus.spawn::<Venue>(());
    // The same code replays with every send as recorded.
    let report = Replay::<Trader>::new((venue.clone(), 2))
        .serde::<Price>()
        .sends_serde::<Order>()
        .run(&journal, trader, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    // Orders of a third rather than a half: the first order sent differs.
    let report = Replay::<Trader>::new((venue, 3))
        .serde::<Price>()
        .sends_serde::<Order>()
        .run(&journal, trader, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 1, "{report}");
    let first = &report.differences[0];
    assert_eq!(first.input, 1);
    assert_eq!(first.message, "Price 12");
    assert_eq!(
        first.recorded,
        r#"sent Order {"qty":6}; published Order on orders {"qty":6}"#
    );
    assert_eq!(
        first.now,
        r#"sent Order {"qty":4}; published Order on orders {"qty":4}"#
    );
}

/// The trader and the venue replayed together: the prices are fed, the orders regenerated.
async fn replay_trading(divisor: u32, mode: ReplayMode) -> mycelium_journal::SetReport {
    let (dir, trader, venue) = record_trading().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = mycelium_journal::ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<Order>();
    assert_eq!(
        set.recorded_actors(),
        [(venue, "Venue".to_owned()), (trader, "Trader".to_owned())]
    );
    let venue_now = set.spawn::<Venue>(&bus, venue, ()).unwrap();
    let trader_now = set
        .spawn::<Trader>(&bus, trader, (venue_now, divisor))
        .unwrap();
    set.serde::<Trader, Price>(&trader_now);
    set.run(mode).await.unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_set_replays_with_messages_between_its_actors_regenerated() {
    let report = replay_trading(2, ReplayMode::StopAtFirst).await;
    assert!(report.is_same(), "{report}");
    assert_eq!(report.actors.len(), 2);
    // The venue's two orders were regenerated by the trader, not fed.
    assert_eq!(report.actors[0].inputs, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_set_with_a_changed_actor_reports_where_each_actor_diverged() {
    let report = replay_trading(3, ReplayMode::Compare).await;
    assert!(!report.is_same());
    // The trader's orders differ, and so do the venue's regenerated inputs.
    let venue = &report.actors[0];
    assert_eq!(venue.differences.len(), 2, "{report}");
    assert_eq!(venue.differences[0].recorded, r#"received Order {"qty":6}"#);
    assert_eq!(venue.differences[0].now, r#"received Order {"qty":4}"#);
    let trader = &report.actors[1];
    assert_eq!(trader.differences.len(), 2, "{report}");
    let csv = report.to_csv();
    assert!(csv.starts_with("actor,input,seq,time_ns,message,recorded,now,before\n"));
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // The report begins with the first difference in journal order: the trader's, whose
    // order the venue then received changed (listed first, in spawning order).
    let (actor, first) = report.first().unwrap();
    assert_eq!((actor, first.input), (trader.actor, 1), "{report}");
    let text = report.to_string();
    assert!(
        text.starts_with(&format!(
            "first difference in journal order: actor #{}, input 1 (record {})\n",
            trader.actor, first.seq
        )),
        "{text}"
    );
    // Stopping at the first keeps the earliest in the journal: the trader's order.
    let first = replay_trading(3, ReplayMode::StopAtFirst).await;
    let left: Vec<_> = first
        .actors
        .iter()
        .flat_map(|a| a.differences.iter().map(move |d| (a.actor, d.input)))
        .collect();
    assert_eq!(left.len(), 1, "{first}");
    assert_eq!(left[0].1, 1, "{first}");
}

/// Draws a random price offset for each quantity it is asked, from `Context::rng`, and fails
/// on a quantity of 0 (a restart in place keeps its numbers' stream).
struct Dealer;

impl Actor for Dealer {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Dealer)
    }
}

impl Handler<u32> for Dealer {
    type Reply = u64;
    async fn handle(&mut self, qty: u32, ctx: &mut Context<Self>) -> u64 {
        assert!(qty > 0, "a quantity of 0");
        u64::from(qty) * 100 + ctx.rng().next_u64() % 100
    }
}

/// A dealer recorded on a bus of seed 7 as actor number 4 (three actors spawned before it),
/// asked for quantities 1, 2, 0 (a failure and a restart in place), 3.
async fn record_dealer() -> (tempfile::TempDir, u64, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u32>()
            .serde::<u64>(),
    );
    let bus = Bus::builder().virtual_time().seed(7).build().unwrap();
    for _ in 0..2 {
        bus.spawn::<Dealer>(());
    }
    // The supervisor is the third actor.
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Dealer>("dealer", ()).record(recording))
        .spawn(&bus)
        .await
        .unwrap();
    let mut answers = Vec::new();
    for qty in [1u32, 2, 0, 3] {
        let dealer = sup.child::<Dealer>("dealer").unwrap();
        if let Ok(answer) = dealer.ask(qty).await {
            answers.push(answer);
        }
    }
    let dealer = sup.child::<Dealer>("dealer").unwrap();
    sup.stop().await;
    journal.close().unwrap();
    assert_eq!(sup.restarts(Some("dealer")), 1);
    (dir, dealer.id().local(), answers)
}

/// A replayed actor draws the random numbers it drew live: its seeding is recorded (the bus
/// seed and its number live) and served again, whatever its number and its bus's seed in the
/// replay, alone or in a set, after a restart too.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_replayed_actor_draws_the_random_numbers_it_drew_live() {
    let (dir, number, answers) = record_dealer().await;
    assert_eq!(answers.len(), 3);
    let journal = JournalReader::open(dir.path()).unwrap();
    let seeded: Vec<_> = journal
        .records()
        .map(Result::unwrap)
        .filter(|r| r.kind == Kind::Seeded)
        .collect();
    assert_eq!(seeded.len(), 1, "seeded once, kept across the restart");
    assert_eq!(seeded[0].seeded(), Some((7, number)));
    assert_eq!(seeded[0].encoding, Encoding::Journal);

    // Alone: the replayed dealer is actor 1 of a bus of seed 0.
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Dealer>::new(())
        .serde::<u32>()
        .run(&journal, number, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");

    // In a set, on a bus of another seed.
    let bus = Bus::builder().virtual_time().seed(99).build().unwrap();
    let mut set = mycelium_journal::ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<u64>();
    let dealer = set.spawn::<Dealer>(&bus, number, ()).unwrap();
    set.serde::<Dealer, u32>(&dealer);
    let report = set.run(ReplayMode::Compare).await.unwrap();
    assert!(report.is_same(), "{report}");
}

/// A copy of the recording of `record` (in `dir`) with its four ticks (at 5, 10, 15 and
/// 20 ms; asks at 12 and 23 ms), each firing and handling moved later by `lateness_us`, as on
/// a loaded machine.
fn late_copy(dir: &std::path::Path, lateness_us: [u64; 4]) -> tempfile::TempDir {
    let late = tempfile::tempdir().unwrap();
    let copy =
        JournalWriter::open(late.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let (mut fired, mut handled) = (0, 0);
    for r in JournalReader::open(dir).unwrap().records() {
        let r = r.unwrap();
        let mut entry = r.as_entry();
        if let Origin::Timer { .. } = r.origin {
            let n = if r.kind == Kind::TimerFired {
                &mut fired
            } else {
                &mut handled
            };
            entry.time_ns += lateness_us[*n] * 1_000;
            *n += 1;
        }
        copy.append(&entry).unwrap();
    }
    copy.close().unwrap();
    assert_eq!((fired, handled), (4, 4));
    late
}

/// A live timer fires a little after its deadline, by as much as the machine's load makes it:
/// each firing is matched with the replay's by the deadline it was fired for (recorded in its
/// `timer-fired` record), however late it came, and fires in the replay when it fired live.
/// (Here each tick is later than a quarter of the 5 ms period.)
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timer_that_fired_late_live_replays_at_its_recorded_times() {
    let (dir, actor) = record().await;
    let late = late_copy(dir.path(), [1_600, 1_500, 2_200, 1_400]);

    let journal = JournalReader::open(late.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Sampler>::new(5)
        .serde::<Tick>()
        .serde::<Readings>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 6);

    // A changed schedule is still told apart: every 4 ms, the first tick differs.
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Sampler>::new(4)
        .serde::<Tick>()
        .serde::<Readings>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert_eq!(
        report.differences.first().map(|d| d.input),
        Some(0),
        "{report}"
    );
}

/// A tick that fired live so late that the replay's millisecond clock reaches the next
/// tick's deadline as it fires it (here the tick due at 10 ms fired at 14.8 ms) does not make
/// the replayed timer skip the next tick, which fired live: the replayed timer keeps to the
/// schedule the recording shows, and every tick after it fires when it fired live.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_tick_late_by_almost_a_period_does_not_shift_the_ticks_after_it() {
    let (dir, actor) = record().await;
    let late = late_copy(dir.path(), [0, 4_800, 0, 300]);
    let journal = JournalReader::open(late.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Sampler>::new(5)
        .serde::<Tick>()
        .serde::<Readings>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 6);
}

/// Counts down by telling itself the next number, and answers asks with how many it counted.
struct Countdown(u64);

impl Actor for Countdown {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Countdown(0))
    }
}

impl Handler<u32> for Countdown {
    type Reply = ();
    async fn handle(&mut self, n: u32, ctx: &mut Context<Self>) {
        self.0 += 1;
        if n > 0 {
            ctx.actor_ref().tell(n - 1).await.unwrap();
        }
    }
}

impl Handler<Readings> for Countdown {
    type Reply = u64;
    async fn handle(&mut self, _: Readings, _: &mut Context<Self>) -> u64 {
        self.0
    }
}

/// What an actor tells itself is regenerated by its replay, not fed: fed as well, each would
/// be handled twice, and a chain of them would never end.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn what_an_actor_told_itself_is_regenerated_not_fed() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u32>()
            .serde::<Readings>()
            .serde::<u64>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let countdown = bus
        .spawn_with::<Countdown>((), SpawnOptions::new().record(recording))
        .unwrap();
    countdown.tell(3u32).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(countdown.ask(Readings).await.unwrap(), 4);
    countdown.stop();
    countdown.wait_for_stop().await;
    journal.close().unwrap();
    let number = countdown.id().local();

    let journal = JournalReader::open(dir.path()).unwrap();
    let own = journal
        .records()
        .map(Result::unwrap)
        .filter(|r| {
            r.kind == Kind::Handled
                && r.origin
                    == Origin::Actor(ActorAddr {
                        node: 0,
                        id: number,
                    })
        })
        .count();
    assert_eq!(own, 3);
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Countdown>::new(())
        .serde::<u32>()
        .serde::<Readings>()
        .run(&journal, number, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 5);
}

/// Tells itself the next number forever (a polling loop), counting.
struct Poller(u64);

impl Actor for Poller {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Poller(0))
    }
}

impl Handler<u32> for Poller {
    type Reply = ();
    async fn handle(&mut self, n: u32, ctx: &mut Context<Self>) {
        self.0 += 1;
        if self.0 == 50 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        ctx.actor_ref().tell(n.wrapping_add(1)).await.unwrap();
    }
}

/// An actor that tells itself without end, stopped live mid-chain, replays to the input it
/// was stopped after and no further: the replay ends.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_endless_chain_of_self_told_messages_replays_to_where_it_was_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(Recording::new(journal.clone()).serde::<u32>());
    let bus = Bus::builder().virtual_time().build().unwrap();
    let poller = bus
        .spawn_with::<Poller>((), SpawnOptions::new().record(recording))
        .unwrap();
    poller.tell(0u32).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    poller.stop();
    poller.wait_for_stop().await;
    journal.close().unwrap();
    let journal = JournalReader::open(dir.path()).unwrap();
    let handled = journal
        .records()
        .map(Result::unwrap)
        .filter(|r| r.kind == Kind::Handled)
        .count();
    assert!(handled >= 50, "{handled}");
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Poller>::new(())
        .serde::<u32>()
        .run(&journal, poller.id().local(), &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs as usize, handled);

    // In a set, the same.
    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = mycelium_journal::ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<u32>();
    let replayed = set.spawn::<Poller>(&bus, poller.id().local(), ()).unwrap();
    set.serde::<Poller, u32>(&replayed);
    let report = set.run(ReplayMode::Compare).await.unwrap();
    assert!(report.is_same(), "{report}");
}

/// A number the journal has no actor of is an error that lists the actors it has, alone or
/// in a set: never a replay of nothing that reports no difference.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn replaying_an_actor_the_journal_does_not_have_is_an_error_naming_those_it_has() {
    let (dir, actor) = record().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let missing = actor + 7;
    let error = Replay::<Sampler>::new(5)
        .serde::<Tick>()
        .run(&journal, missing, &bus, ReplayMode::Compare)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("actor #{missing} is not in the journal (it records #{actor} Sampler)")
    );
    let mut set = mycelium_journal::ReplaySet::new(&journal).unwrap();
    let error = set.spawn::<Sampler>(&bus, missing, 5).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("it records #{actor} Sampler")),
        "{error}"
    );
}

/// A new trader: orders on every price, not only above 10.
struct EagerTrader(Trader);

impl Actor for EagerTrader {
    type Args = (mycelium_actors::ActorRef<Venue>, u32);
    async fn on_start(args: Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let _ = ctx;
        Ok(EagerTrader(Trader {
            venue: args.0,
            divisor: args.1,
        }))
    }
}

impl Handler<Price> for EagerTrader {
    type Reply = ();
    async fn handle(&mut self, price: Price, ctx: &mut Context<Self>) {
        let order = Order {
            qty: price.0 / self.0.divisor,
        };
        self.0.venue.tell(order.clone()).await.unwrap();
        ctx.publish("orders", order).await.unwrap();
    }
}

/// What a member handles beyond its recorded inputs (sent by a changed member) is reported
/// too, with what it did then: none of it goes unseen.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_set_reports_the_inputs_a_member_handled_beyond_the_recorded_ones() {
    let (dir, trader, venue) = record_trading().await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = mycelium_journal::ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<Order>();
    let venue_now = set.spawn::<Venue>(&bus, venue, ()).unwrap();
    let trader_now = set
        .spawn::<EagerTrader>(&bus, trader, (venue_now, 2))
        .unwrap();
    set.serde::<EagerTrader, Price>(&trader_now);
    let report = set.run(ReplayMode::Compare).await.unwrap();
    let venue_report = &report.actors[0];
    assert_eq!(venue_report.inputs, 2, "{report}");
    let beyond = venue_report.differences.last().expect("differences");
    assert_eq!(beyond.input, 2, "{report}");
    assert_eq!(beyond.seq, u64::MAX, "{report}");
    assert_eq!(beyond.message, r#"Order {"qty":15}"#, "{report}");
    assert!(beyond.recorded.starts_with("no such input"), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("input 2 (beyond the recorded inputs)"),
        "{text}"
    );
    assert!(report.to_csv().contains(",2,,0,"), "{}", report.to_csv());
}

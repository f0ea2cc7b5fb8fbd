//! A set's replay of timers recorded on a real-time bus, where a live timer fires a little
//! after its deadline and its message waits in the mailbox before it is handled: the
//! replayed timers fire when they fired live, so that another member's message that came
//! after a firing (in the same millisecond as its handling) is handled after it, as live.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, ActorRef, BoxError, Bus, Context, Handler, SpawnOptions};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Origin, Recording,
    ReplayMode, ReplaySet,
};

const PERIOD: Duration = Duration::from_millis(10);

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Beat;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Recompute;

/// A quote, numbered.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Quote(u64);

/// What the strategy made of a quote: the quote, and how many recomputes it had seen.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Seen(u64, u64);

/// Outside the set: takes what the strategy sends.
struct Sink;

impl Actor for Sink {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink)
    }
}

impl Handler<Seen> for Sink {
    type Reply = ();
    async fn handle(&mut self, _: Seen, _: &mut Context<Self>) {}
}

/// Recomputes every period, and tells the sink how many recomputes each quote came after.
struct Strategy {
    recomputes: u64,
    sink: ActorRef<Sink>,
}

impl Actor for Strategy {
    type Args = ActorRef<Sink>;
    async fn on_start(sink: ActorRef<Sink>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        // After the feed's start: at each tick the feed's timer fires first.
        tokio::task::yield_now().await;
        ctx.send_interval(Recompute, PERIOD);
        Ok(Strategy {
            recomputes: 0,
            sink,
        })
    }
}

impl Handler<Recompute> for Strategy {
    type Reply = ();
    async fn handle(&mut self, _: Recompute, _: &mut Context<Self>) {
        self.recomputes += 1;
    }
}

impl Handler<Quote> for Strategy {
    type Reply = ();
    async fn handle(&mut self, q: Quote, _: &mut Context<Self>) {
        self.sink.tell(Seen(q.0, self.recomputes)).await.unwrap();
    }
}

/// Tells the strategy a quote every period.
struct Feed {
    quotes: u64,
    strategy: ActorRef<Strategy>,
}

impl Actor for Feed {
    type Args = ActorRef<Strategy>;
    async fn on_start(
        strategy: ActorRef<Strategy>,
        ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        ctx.send_interval(Beat, PERIOD);
        Ok(Feed {
            quotes: 0,
            strategy,
        })
    }
}

impl Handler<Beat> for Feed {
    type Reply = ();
    async fn handle(&mut self, _: Beat, _: &mut Context<Self>) {
        self.quotes += 1;
        self.strategy.tell(Quote(self.quotes)).await.unwrap();
    }
}

/// Records the feed and the strategy for three periods on virtual time: at each tick both
/// timers fire, the feed quotes, the strategy recomputes and then takes the quote.
async fn record() -> (tempfile::TempDir, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Beat>()
            .serde::<Recompute>()
            .serde::<Quote>()
            .serde::<Seen>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let sink = bus.spawn::<Sink>(());
    let strategy = bus
        .spawn_with::<Strategy>(sink, SpawnOptions::new().record(recording.clone()))
        .unwrap();
    let feed = bus
        .spawn_with::<Feed>(
            strategy.clone(),
            SpawnOptions::new().record(recording.clone()),
        )
        .unwrap();
    tokio::time::sleep(PERIOD * 3 + PERIOD / 2).await;
    feed.stop();
    feed.wait_for_stop().await;
    strategy.drain_and_stop().await;
    strategy.wait_for_stop().await;
    journal.close().unwrap();
    assert!(recording.unrecorded().is_empty());
    (dir, strategy.id().local(), feed.id().local())
}

/// A copy of the recording in `dir` as a loaded real-time bus would have made it: the
/// records of each tick (all at the tick's deadline on virtual time) spread out after
/// `late_us` of lateness, `apart_us` apart in journal order. Each start is recorded 1.05 ms
/// after the timer it set (a slow `on_start`): the replay, which starts an actor when its
/// start was recorded, on a millisecond tick, sets its timer 2 ms later than live.
fn real_time_copy(dir: &std::path::Path, late_us: u64, apart_us: u64) -> tempfile::TempDir {
    copy_with(dir, late_us, apart_us, 0)
}

/// [`real_time_copy`], each actor's stop recorded `stop_late_us` later: a shutdown that
/// ended the timers at once and took that long to stop the actors.
fn copy_with(
    dir: &std::path::Path,
    late_us: u64,
    apart_us: u64,
    stop_late_us: u64,
) -> tempfile::TempDir {
    let copy_dir = tempfile::tempdir().unwrap();
    let copy =
        JournalWriter::open(copy_dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let period = u64::try_from(PERIOD.as_nanos()).unwrap();
    let (mut tick, mut place) = (0, 0);
    for r in JournalReader::open(dir).unwrap().records() {
        let r = r.unwrap();
        let mut entry = r.as_entry();
        if r.kind == Kind::Started {
            entry.time_ns += 1_050_000;
        }
        if r.kind == Kind::Stopped {
            entry.time_ns += stop_late_us * 1_000;
        }
        if r.time_ns > 0 && r.time_ns % period == 0 {
            if r.time_ns != tick {
                (tick, place) = (r.time_ns, 0);
            }
            entry.time_ns += (late_us + apart_us * place) * 1_000;
            place += 1;
        }
        copy.append(&entry).unwrap();
    }
    copy.close().unwrap();
    copy_dir
}

async fn replay(dir: &std::path::Path, strategy: u64, feed: u64) -> mycelium_journal::SetReport {
    let journal = JournalReader::open(dir).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let sink = bus.spawn::<Sink>(());
    let mut set = ReplaySet::new(&journal)
        .unwrap()
        .sends_serde::<Quote>()
        .sends_serde::<Seen>();
    let strategy = set.spawn::<Strategy>(&bus, strategy, sink).unwrap();
    set.spawn::<Feed>(&bus, feed, strategy).unwrap();
    set.run(ReplayMode::Compare).await.unwrap()
}

/// The strategy's timer fired, and its message was handled after the quote the feed sent,
/// in the millisecond (as a replay's clock ticks) after the one the feed's timer fired in:
/// `(feed fired, strategy fired, feed handled, strategy's recompute handled)`.
fn order(dir: &std::path::Path, strategy: u64, feed: u64) -> (u64, u64, u64, u64) {
    let records: Vec<_> = JournalReader::open(dir)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .filter(|r| r.time_ns > 10_000_000 && r.time_ns < 20_000_000)
        .collect();
    let at = |kind: Kind, actor: u64, timer: bool| {
        let r = records
            .iter()
            .find(|r| {
                r.kind == kind
                    && r.actor.id == actor
                    && matches!(r.origin, Origin::Timer { .. }) == timer
            })
            .unwrap();
        (r.seq, r.time_ns / 1_000)
    };
    let (strategy_fired, feed_fired) = (
        at(Kind::TimerFired, strategy, true),
        at(Kind::TimerFired, feed, true),
    );
    let (feed_handled, quoted) = (at(Kind::Handled, feed, true), at(Kind::Sent, feed, false));
    let recomputed = at(Kind::Handled, strategy, true);
    // Journal order: the feed's firing, the strategy's, the feed's beat and its quote, the
    // strategy's recompute.
    assert!(feed_fired.0 < strategy_fired.0, "{records:?}");
    assert!(
        strategy_fired.0 < feed_handled.0 && quoted.0 < recomputed.0,
        "{records:?}"
    );
    (feed_fired.1, strategy_fired.1, feed_handled.1, recomputed.1)
}

/// Both timers fire in the tick's first millisecond: the strategy's recompute, handled in
/// the next, fires in the first in the replay, ahead of the quote.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_set_replays_timers_that_fired_before_another_members_message_in_their_place() {
    let (dir, strategy, feed) = record().await;
    let report = replay(dir.path(), strategy, feed).await;
    assert!(report.is_same(), "{report}");

    let real = real_time_copy(dir.path(), 700, 100);
    assert_eq!(
        order(real.path(), strategy, feed),
        (10_700, 10_800, 10_900, 11_100)
    );
    let report = replay(real.path(), strategy, feed).await;
    assert!(report.is_same(), "{report}");
}

/// The feed's timer fires in one millisecond, the strategy's in the next, before the feed
/// handles its beat: the feed, whose timer fires first in the replay too, begins its beat
/// once the strategy's timer has fired.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_member_begins_an_input_after_the_other_members_timers_that_fired_before_it_live() {
    let (dir, strategy, feed) = record().await;
    let real = real_time_copy(dir.path(), 950, 100);
    assert_eq!(
        order(real.path(), strategy, feed),
        (10_950, 11_050, 11_150, 11_350)
    );
    let report = replay(real.path(), strategy, feed).await;
    assert!(report.is_same(), "{report}");
}

/// The recording stopped the actors 10 ms after their last inputs, past the next tick's
/// deadline, at which no timer fired live (the stop had ended them): the replay's timers
/// fire no more after each actor's last recorded input either.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_set_fires_no_timer_past_the_last_input_of_an_actor_the_recording_stopped() {
    let (dir, strategy, feed) = record().await;
    let late = copy_with(dir.path(), 700, 100, 10_000);
    let stops: Vec<_> = JournalReader::open(late.path())
        .unwrap()
        .records()
        .map(Result::unwrap)
        .filter(|r| r.kind == Kind::Stopped)
        .map(|r| r.time_ns / 1_000_000)
        .collect();
    assert_eq!(stops, [45, 45]);
    let report = replay(late.path(), strategy, feed).await;
    assert!(report.is_same(), "{report}");
}

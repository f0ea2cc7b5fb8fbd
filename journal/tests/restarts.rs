//! A supervised actor that failed and was restarted live replays as recorded: the replay
//! restarts it in place at the recorded bus time (its `on_start` timer then ticks as it did
//! live, whatever the live supervisor's backoff), and no more often than the recording did.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Recording, Replay,
    ReplayMode, ReplaySet,
};
use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Tick;

/// Adds up the numbers it is asked; fails on `fail_on` (13 live); a timer set in `on_start`
/// ticks every 300 ms, and each tick reads the clock.
struct Risk {
    sum: u64,
    fail_on: u64,
}

impl Actor for Risk {
    type Args = u64;
    async fn on_start(fail_on: u64, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.send_interval(Tick, Duration::from_millis(300));
        Ok(Risk { sum: 0, fail_on })
    }
}

impl Handler<u64> for Risk {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
        if n == 13 || n == self.fail_on {
            panic!("no {n}");
        }
        self.sum += n;
        self.sum
    }
}

impl Handler<Tick> for Risk {
    type Reply = ();
    async fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
        self.sum += ctx.now().as_millis() as u64 % 7;
    }
}

const INPUTS: [u64; 6] = [1, 2, 13, 4, 5, 6];

/// Records `Risk` under a supervisor whose backoff is 450 ms; returns its recorded number.
async fn record(dir: &std::path::Path) -> u64 {
    let journal =
        JournalWriter::open(dir, JournalOptions::new(JournalSchema::none())).expect("a journal");
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u64>()
            .serde::<Tick>(),
    );
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(450),
            2.0,
            Duration::from_secs(5),
        ))
        .child(ChildSpec::new::<Risk>("risk", 0).record(recording))
        .spawn(&bus)
        .await
        .expect("the supervisor");
    for n in INPUTS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let risk = sup.child::<Risk>("risk").expect("the child");
        let _ = risk.ask(n).await; // 13 fails
    }
    let risk = sup.child::<Risk>("risk").expect("the child");
    sup.stop().await;
    journal.close().expect("closes");
    assert_eq!(sup.restarts(Some("risk")), 1);
    risk.id().local()
}

#[tokio::test(start_paused = true)]
async fn a_restarted_actor_replays_with_its_restart_at_the_recorded_time() {
    let dir = tempfile::tempdir().expect("a directory");
    let actor = record(dir.path()).await;
    let journal = JournalReader::open(dir.path()).expect("reads");
    let records: Vec<_> = journal.records().map(|r| r.expect("whole")).collect();
    let of = |kind| {
        records
            .iter()
            .filter(|r| r.actor.id == actor && r.kind == kind)
            .count()
    };
    assert_eq!(of(Kind::Restarted), 1);
    assert_eq!(of(Kind::Failed), 1);
    assert!(
        of(Kind::TimerFired) >= 10,
        "the timer ticked in both incarnations"
    );

    // The same code, alone: every output as recorded, the restart's timer included.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let report = Replay::<Risk>::new(0)
        .serde::<u64>()
        .serde::<Tick>()
        .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
        .await
        .expect("replays");
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs as usize, of(Kind::Handled));

    // In a set, the same.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    assert_eq!(set.restarts(actor), 1);
    let risk = set.spawn::<Risk>(&bus, actor, 0).expect("spawns");
    set.serde::<Risk, u64>(&risk).serde::<Risk, Tick>(&risk);
    let report = set.run(ReplayMode::StopAtFirst).await.expect("replays");
    assert!(report.is_same(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_changed_actor_that_fails_once_more_is_not_restarted_again() {
    let dir = tempfile::tempdir().expect("a directory");
    let actor = record(dir.path()).await;
    let journal = JournalReader::open(dir.path()).expect("reads");

    // This version also fails on 4: the recording restarted the actor once, so it stops
    // there, and the inputs after it are reported as not handled.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let report = Replay::<Risk>::new(4)
        .serde::<u64>()
        .serde::<Tick>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect("replays");
    let first = report.differences.first().expect("a difference");
    assert!(first.message.contains('4'), "{report}");
    assert!(first.now.contains("no 4"), "{report}");
    let last = report.differences.last().expect("a difference");
    assert!(last.now.contains("not handled"), "{report}");
}

/// A journal whose writer never closed it (killed after its last whole record; here, its
/// index is gone, which takes its closing entry with it) replays to its end as cut short:
/// the supervised actor's last stop, which ended the run from outside, is not compared even
/// though the cut comes after it.
#[tokio::test(start_paused = true)]
async fn a_journal_never_closed_replays_without_comparing_the_stop_that_ended_the_run() {
    let dir = tempfile::tempdir().expect("a directory");
    let actor = record(dir.path()).await;
    for segment in JournalReader::open(dir.path()).expect("reads").segments() {
        std::fs::remove_file(mycelium_journal::index_path(dir.path(), segment.number))
            .expect("removes the index");
    }
    let journal = JournalReader::open(dir.path()).expect("reads");
    assert!(!journal.closed());
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let report = Replay::<Risk>::new(0)
        .serde::<u64>()
        .serde::<Tick>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect("replays");
    assert!(report.differences.is_empty(), "{report}");
    assert!(report.cut.is_some(), "{report}");
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    let risk = set.spawn::<Risk>(&bus, actor, 0).expect("spawns");
    set.serde::<Risk, u64>(&risk).serde::<Risk, Tick>(&risk);
    let report = set.run(ReplayMode::Compare).await.expect("replays");
    assert!(report.is_same(), "{report}");
}

/// A journal cut by kill -9 right after a restart (the `restarted` record its last, before the
/// restarted actor handled anything) replays to its end: the failure compares as recorded,
/// and the restart the recording never saw through is not waited for.
#[tokio::test(start_paused = true)]
async fn a_journal_cut_right_after_a_restart_replays_to_its_end() {
    let dir = tempfile::tempdir().expect("a directory");
    let actor = record(dir.path()).await;
    let cut = tempfile::tempdir().expect("a directory");
    {
        let journal = JournalReader::open(dir.path()).expect("reads");
        let copy = JournalWriter::open(
            cut.path(),
            JournalOptions::new(JournalSchema::none()).index_every(1 << 30),
        )
        .expect("a journal");
        for record in journal.records() {
            let record = record.expect("whole");
            copy.append(&record.as_entry()).expect("appends");
            if record.kind == Kind::Restarted {
                break;
            }
        }
        copy.close().expect("closes");
    }
    let journal = JournalReader::open(cut.path()).expect("reads");
    for segment in journal.segments() {
        std::fs::remove_file(mycelium_journal::index_path(cut.path(), segment.number))
            .expect("removes the index");
    }
    let journal = JournalReader::open(cut.path()).expect("reads");
    assert!(!journal.closed());
    let last = journal.records().last().expect("a record").expect("whole");
    assert_eq!(last.kind, Kind::Restarted);

    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let report = Replay::<Risk>::new(0)
        .serde::<u64>()
        .serde::<Tick>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect("replays");
    assert!(report.differences.is_empty(), "{report}");
    assert!(report.cut.is_some(), "{report}");

    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    let risk = set.spawn::<Risk>(&bus, actor, 0).expect("spawns");
    set.serde::<Risk, u64>(&risk).serde::<Risk, Tick>(&risk);
    let report = set.run(ReplayMode::Compare).await.expect("replays");
    assert!(report.is_same(), "{report}");
}

/// Counts the ticks of its 5 ms timer, and answers an ask with the count plus the number
/// asked. 13 fails it after `slow` of work: the bus time a live handler computes for, during
/// which the timer fires twice; those firings, left in the mailbox, are handled by the
/// restarted incarnation. A replay's clock stands still while a handler runs, so its failing
/// handler takes no time (`slow` zero here): the replay feeds those two firings.
struct Ticker {
    ticks: u64,
    slow: Duration,
}

impl Actor for Ticker {
    type Args = Duration;
    async fn on_start(slow: Duration, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.send_interval(Tick, Duration::from_millis(5));
        Ok(Ticker { ticks: 0, slow })
    }
}

impl Handler<u64> for Ticker {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
        if n == 13 {
            tokio::time::sleep(self.slow).await;
            panic!("no 13");
        }
        self.ticks + n
    }
}

impl Handler<Tick> for Ticker {
    type Reply = ();
    async fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) {
        self.ticks += 1;
    }
}

#[tokio::test(start_paused = true)]
async fn timer_messages_a_failure_left_in_the_mailbox_are_fed_to_the_restarted_actor() {
    let dir = tempfile::tempdir().expect("a directory");
    let journal = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none()))
        .expect("a journal");
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u64>()
            .serde::<Tick>(),
    );
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(20),
            2.0,
            Duration::from_secs(1),
        ))
        .child(ChildSpec::new::<Ticker>("ticker", Duration::from_millis(12)).record(recording))
        .spawn(&bus)
        .await
        .expect("the supervisor");
    let start = tokio::time::Instant::now();
    let mut answers = Vec::new();
    for (at, n) in [(7, 1), (14, 2), (21, 13), (60, 4), (67, 5)] {
        tokio::time::sleep_until(start + Duration::from_millis(at)).await;
        let ticker = sup.child::<Ticker>("ticker").expect("the child");
        answers.push(ticker.ask(n).await.ok());
    }
    let ticker = sup.child::<Ticker>("ticker").expect("the child");
    sup.stop().await;
    journal.close().expect("closes");
    // After the restart (at 53 ms), the two ticks left over and one of its own timer.
    assert_eq!(answers, [Some(2), Some(4), None, Some(7), Some(9)]);
    let actor = ticker.id().local();

    let journal = JournalReader::open(dir.path()).expect("reads");
    let records: Vec<_> = journal.records().map(|r| r.expect("whole")).collect();
    let restarted = records
        .iter()
        .position(|r| r.actor.id == actor && r.kind == Kind::Restarted)
        .expect("restarted");
    let after: Vec<_> = records[restarted..]
        .iter()
        .filter(|r| r.actor.id == actor && r.kind == Kind::Handled)
        .take(3)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(after.len(), 3);
    assert!(
        after[..2].iter().all(|name| name.ends_with("Tick")),
        "{after:?}"
    );

    // Without a decoder for the timer's message, the replay says why it needs one.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let err = Replay::<Ticker>::new(Duration::ZERO)
        .serde::<u64>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect_err("a leftover timer message it cannot feed");
    assert!(err.to_string().contains("left in the mailbox"), "{err}");
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    let ticker = set
        .spawn::<Ticker>(&bus, actor, Duration::ZERO)
        .expect("spawns");
    set.serde::<Ticker, u64>(&ticker);
    let err = set
        .run(ReplayMode::Compare)
        .await
        .expect_err("a leftover timer message it cannot feed");
    assert!(err.to_string().contains("left in the mailbox"), "{err}");

    // Fed them, the replay alone and a set make every output as recorded.
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let report = Replay::<Ticker>::new(Duration::ZERO)
        .serde::<u64>()
        .serde::<Tick>()
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect("replays");
    assert!(report.differences.is_empty(), "{report}");
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    let ticker = set
        .spawn::<Ticker>(&bus, actor, Duration::ZERO)
        .expect("spawns");
    set.serde::<Ticker, u64>(&ticker)
        .serde::<Ticker, Tick>(&ticker);
    let report = set.run(ReplayMode::Compare).await.expect("replays");
    assert!(report.is_same(), "{report}");
}

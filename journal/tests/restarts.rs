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
    set.serde::<Risk, u64>(&risk);
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
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect("replays");
    assert!(report.differences.is_empty(), "{report}");
    assert!(report.cut.is_some(), "{report}");
    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    let risk = set.spawn::<Risk>(&bus, actor, 0).expect("spawns");
    set.serde::<Risk, u64>(&risk);
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
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .expect("replays");
    assert!(report.differences.is_empty(), "{report}");
    assert!(report.cut.is_some(), "{report}");

    let bus = Bus::builder().virtual_time().build().expect("a bus");
    let mut set = ReplaySet::new(&journal).expect("reads");
    let risk = set.spawn::<Risk>(&bus, actor, 0).expect("spawns");
    set.serde::<Risk, u64>(&risk);
    let report = set.run(ReplayMode::Compare).await.expect("replays");
    assert!(report.is_same(), "{report}");
}

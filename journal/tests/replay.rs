//! Replaying a recorded actor: the same code reproduces every output; changed code is
//! stopped at its first difference, or compared to the end with every difference reported.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, BoxError, Bus, Context, Failure, Handler, OnFailure, SpawnOptions};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Recording, Replay, ReplayError,
    ReplayMode, RunStart,
};

#[derive(serde::Serialize, serde::Deserialize)]
struct Fill {
    qty: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Crash;

/// A message type recorded without a codec.
struct Peek;

/// The recorded version; `Args` is a version number: 2 counts large fills twice, 3 stops at
/// its first failure.
struct Book {
    position: u32,
    version: u32,
}

impl Actor for Book {
    type Args = u32;
    async fn on_start(version: u32, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Book {
            position: 0,
            version,
        })
    }
    async fn on_failure(&mut self, _ctx: &mut Context<Self>, _failure: &Failure) -> OnFailure {
        // Version 3 stops at its first failure.
        if self.version == 3 {
            OnFailure::Stop
        } else {
            OnFailure::Continue
        }
    }
}

impl Handler<Fill> for Book {
    type Reply = u32;
    async fn handle(&mut self, fill: Fill, _ctx: &mut Context<Self>) -> u32 {
        let factor = if self.version == 2 && fill.qty >= 4 {
            2
        } else {
            1
        };
        self.position += fill.qty * factor;
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

/// Records version 1 through a scenario; returns the journal's directory and the actor's
/// number.
async fn record(peek: bool) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Fill>()
            .serde::<Crash>()
            .serde::<u32>(),
    );
    let bus = Bus::builder().virtual_time().seed(3).build().unwrap();
    let book = bus
        .spawn_with::<Book>(1, SpawnOptions::new().record(recording))
        .unwrap();
    book.tell(Fill { qty: 3 }).await.unwrap();
    assert_eq!(book.ask(Fill { qty: 4 }).await.unwrap(), 7);
    tokio::time::sleep(Duration::from_millis(10)).await;
    book.tell(Crash).await.unwrap();
    assert_eq!(book.ask(Fill { qty: 1 }).await.unwrap(), 8);
    if peek {
        book.ask(Peek).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(book.ask(Fill { qty: 5 }).await.unwrap(), 13);
    journal.close().unwrap();
    (dir, book.id().local())
}

fn replay(version: u32) -> Replay<Book> {
    Replay::<Book>::new(version)
        .serde::<Fill>()
        .serde::<Crash>()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_same_actor_reproduces_every_recorded_output() {
    let (dir, actor) = record(false).await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().seed(3).build().unwrap();
    let report = replay(1)
        .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert_eq!(report.inputs, 5);
    assert!(report.differences.is_empty(), "{report}");
    // The recorded bus times were reached on the replay's virtual clock.
    assert_eq!(bus.clock().now(), Duration::from_millis(20));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_run_of_a_journal_opened_again_replays_on_its_own() {
    let (dir, first_actor) = record(false).await;
    // A second process opens the journal again: a new run, its actors numbered anew.
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Fill>()
            .serde::<u32>(),
    );
    let bus = Bus::builder().virtual_time().seed(3).build().unwrap();
    let book = bus
        .spawn_with::<Book>(1, SpawnOptions::new().record(recording))
        .unwrap();
    assert_eq!(book.ask(Fill { qty: 10 }).await.unwrap(), 10);
    assert_eq!(book.ask(Fill { qty: 20 }).await.unwrap(), 30);
    journal.close().unwrap();
    let second_actor = book.id().local();

    let journal = JournalReader::open(dir.path()).unwrap();
    let runs = journal.runs().unwrap();
    let starts: Vec<_> = runs.iter().map(|r| r.start).collect();
    assert_eq!(starts, [RunStart::First, RunStart::Resumed]);
    for (run, actor, inputs) in [(0, first_actor, 5), (1, second_actor, 2)] {
        let bus = Bus::builder().virtual_time().seed(3).build().unwrap();
        let report = replay(1)
            .run(
                &journal.run(run).unwrap(),
                actor,
                &bus,
                ReplayMode::StopAtFirst,
            )
            .await
            .unwrap();
        assert_eq!(report.inputs, inputs, "run {run}");
        assert!(report.differences.is_empty(), "run {run}: {report}");
    }
    // The whole journal replays as its first run; a changed actor differs in the second.
    let bus = Bus::builder().virtual_time().seed(3).build().unwrap();
    let whole = replay(1)
        .run(&journal, first_actor, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert_eq!(whole.inputs, 5);
    let bus = Bus::builder().virtual_time().seed(3).build().unwrap();
    let changed = replay(2)
        .run(
            &journal.run(1).unwrap(),
            second_actor,
            &bus,
            ReplayMode::StopAtFirst,
        )
        .await
        .unwrap();
    assert_eq!(changed.differences.len(), 1, "{changed}");
    let missing = journal.run(2).unwrap_err().to_string();
    assert!(
        missing.contains("2 run(s)") && missing.contains("no run 2"),
        "{missing}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_changed_actor_stops_at_its_first_difference_with_the_inputs_before_it() {
    let (dir, actor) = record(false).await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = replay(2)
        .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 1, "{report}");
    let d = &report.differences[0];
    assert_eq!((d.input, d.time_ns), (1, 0));
    assert_eq!(d.message, r#"Fill {"qty":4}"#);
    assert_eq!(d.recorded, "replied u32 7");
    assert_eq!(d.now, "replied u32 11");
    assert_eq!(
        d.before,
        [format!("record {}: Fill {{\"qty\":3}}", d.seq - 1)]
    );
    let text = report.to_string();
    assert!(text.contains("- recorded: replied u32 7"), "{text}");
    assert!(text.contains("+ now:      replied u32 11"), "{text}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn compare_mode_reports_every_difference_as_text_and_csv() {
    let (dir, actor) = record(false).await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = replay(2)
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert_eq!(report.inputs, 5);
    let diffs: Vec<_> = report
        .differences
        .iter()
        .map(|d| (d.input, d.recorded.as_str(), d.now.as_str()))
        .collect();
    assert_eq!(
        diffs,
        [
            (1, "replied u32 7", "replied u32 11"),
            (3, "replied u32 8", "replied u32 12"),
            (4, "replied u32 13", "replied u32 22"),
        ]
    );
    let csv = report.to_csv();
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines[0], "input,seq,time_ns,message,recorded,now,before");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("1,"), "{csv}");
    assert!(lines[1].contains(r#""Fill {""qty"":4}""#), "{csv}");
    // Last, the inputs before it.
    assert!(lines[1].contains(",\"record "), "{csv}");
    assert!(lines[3].contains(",20000000,"), "{csv}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_input_recorded_without_its_payload_is_refused_by_name() {
    let (dir, actor) = record(true).await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let err = replay(1)
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReplayError::Input { ref name, .. } if name == "Peek"),
        "{err}"
    );
    assert!(err.to_string().contains("no decoder"), "{err}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_actor_that_now_stops_reports_its_stop_and_the_first_input_it_no_longer_handles() {
    let (dir, actor) = record(false).await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = replay(3)
        .run(&journal, actor, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 2, "{report}");
    // The recorded actor went on after the failure; this one's incarnation ended with it.
    let d = &report.differences[0];
    assert_eq!(d.input, 2);
    assert_eq!(d.recorded, "failed: panicked while handling `Crash`: boom");
    assert_eq!(
        d.now,
        "failed: panicked while handling `Crash`: boom; \
         stopped: failed: it panicked while handling `Crash`: boom"
    );
    let d = &report.differences[1];
    assert_eq!(d.input, 3);
    assert_eq!(d.recorded, "replied u32 8");
    assert!(
        d.now
            .starts_with("not handled: the replayed actor had stopped"),
        "{report}"
    );
    assert_eq!(d.before.len(), 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_recorded_stop_that_the_replay_does_not_make_is_a_difference() {
    // Recorded: version 3 ends its incarnation at the crash.
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Fill>()
            .serde::<Crash>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let book = bus
        .spawn_with::<Book>(3, SpawnOptions::new().record(recording))
        .unwrap();
    book.tell(Fill { qty: 3 }).await.unwrap();
    book.tell(Crash).await.unwrap();
    book.wait_for_stop().await;
    journal.close().unwrap();

    // Version 1 goes on after the same failure: the stop it no longer makes is reported.
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = replay(1)
        .run(&journal, book.id().local(), &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 1, "{report}");
    let d = &report.differences[0];
    assert_eq!(d.input, 1);
    assert_eq!(
        d.recorded,
        "failed: panicked while handling `Crash`: boom; \
         stopped: failed: it panicked while handling `Crash`: boom"
    );
    assert_eq!(d.now, "failed: panicked while handling `Crash`: boom");
    // The same version reproduces the stop.
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = replay(3)
        .run(&journal, book.id().local(), &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
}

/// Publishes `n` fills for each burst it is told of; version 2 publishes one more.
struct Burster {
    version: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Burst(u32);

impl Actor for Burster {
    type Args = u32;
    async fn on_start(version: u32, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Burster { version })
    }
}

impl Handler<Burst> for Burster {
    type Reply = ();
    async fn handle(&mut self, burst: Burst, ctx: &mut Context<Self>) {
        let n = burst.0 + u32::from(self.version == 2);
        for qty in 0..n {
            let _ = ctx.publish("fills", Fill { qty }).await;
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_report_line_shows_the_first_outputs_and_a_count_while_the_csv_has_all() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<Burst>()
            .serde::<Fill>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let burster = bus
        .spawn_with::<Burster>(1, SpawnOptions::new().record(recording))
        .unwrap();
    burster.tell(Burst(3000)).await.unwrap();
    burster.drain_and_stop().await;
    burster.wait_for_stop().await;
    journal.close().unwrap();

    let reader = JournalReader::open(dir.path()).unwrap();
    let replay_bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Burster>::new(2)
        .serde::<Burst>()
        .sends_serde::<Fill>()
        .run(
            &reader,
            burster.id().local(),
            &replay_bus,
            ReplayMode::Compare,
        )
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 1, "{report:?}");
    let d = &report.differences[0];
    assert_eq!(d.recorded_outputs.len(), 3000);
    assert_eq!(d.now_outputs.len(), 3001);
    let text = report.to_string();
    assert!(text.len() < 10_000, "a report of {} bytes", text.len());
    assert!(
        text.contains("... and 2992 more (3000 outputs; the CSV lists every one)"),
        "{text}"
    );
    assert!(text.contains("... and 2993 more (3001 outputs"), "{text}");
    // The CSV keeps every output.
    let csv = report.to_csv();
    assert_eq!(csv.matches("published Fill on fills").count(), 3000 + 3001);
}

//! A process that records actors, killed with SIGKILL mid-run: its journal replays up to the
//! last whole record, every output as recorded, and the report says what the kill cut.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use mycelium_actors::{actor_from_args, Bus, Context, Handler, SpawnOptions};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Recording, Replay,
    ReplayMode,
};

const CHILD_DIR: &str = "MYCELIUM_JOURNAL_CRASH_REPLAY_CHILD_DIR";
const TEST: &str = "a_killed_recording_replays_to_its_last_whole_record";

/// Keeps a running sum of what it is told, and answers asks with it.
#[derive(Clone)]
struct Sum(u64);
actor_from_args!(Sum);

impl Handler<u64> for Sum {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
        self.0 = self.0.wrapping_mul(31).wrapping_add(n);
        self.0
    }
}

/// The child: asks its actor numbers until it is killed, saying what is flushed.
fn child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the child's runtime");
    runtime.block_on(async {
        let options = JournalOptions::new(JournalSchema::none())
            .segment_bytes(256 << 10)
            .buffer_bytes(64 << 10);
        let journal = JournalWriter::open(dir, options).expect("the child opens its journal");
        let recording = Arc::new(Recording::new(journal.clone()).serde::<u64>());
        let bus = Bus::new();
        let sum = bus
            .spawn_with::<Sum>(Sum(0), SpawnOptions::new().record(recording))
            .expect("the child spawns its actor");
        println!("recorded actor {}", sum.id().local());
        for n in 0..u64::MAX {
            sum.ask(n).await.expect("the actor answers");
            if n % 2_000 == 1_999 {
                journal.flush().expect("the child flushes");
                println!("flushed {}", n + 1);
            }
        }
    });
}

#[test]
fn a_killed_recording_replays_to_its_last_whole_record() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, stdout) = common::spawn_child(TEST, CHILD_DIR, dir.path());
    let (mut actor, mut flushed) = (None, 0);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // The harness's own `test ... ` may lead the first line.
        if let Some(at) = line.find("recorded actor ") {
            actor = Some(line[at + 15..].parse::<u64>().unwrap());
        }
        if let Some(n) = line.strip_prefix("flushed ") {
            flushed = n.parse::<u64>().unwrap();
            if flushed >= 10_000 {
                break;
            }
        }
    }
    assert!(flushed >= 10_000, "the child stopped early");
    // SIGKILL, while the child goes on recording.
    child.0.kill().unwrap();
    assert!(!child.0.wait().unwrap().success());
    let actor = actor.expect("the child named its actor");

    let journal = JournalReader::open(dir.path()).unwrap();
    let mut records = journal.records();
    let handled = records
        .by_ref()
        .map(Result::unwrap)
        .filter(|r| r.kind == Kind::Handled)
        .count() as u64;
    let cut = records.cut();
    assert!(
        handled >= flushed,
        "{handled} inputs back, {flushed} were flushed"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        Replay::<Sum>::new(Sum(0))
            .serde::<u64>()
            .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
            .await
            .unwrap()
    });
    eprintln!("{report}");
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, handled);
    assert!(!journal.closed());
    let said = report
        .cut
        .as_deref()
        .expect("the report says the recording was cut short");
    assert!(
        report.to_string().contains("the recording was cut short"),
        "{report}"
    );
    match cut {
        Some(cut) => assert!(said.contains(&cut.to_string()), "{said}"),
        // The kill fell between two batches: no record was cut, the journal was not closed.
        None => assert!(said.contains("was not closed"), "{said}"),
    }
}

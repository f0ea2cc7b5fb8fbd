//! A process killed with SIGKILL while it writes: its journal reads back, in order, to the
//! last whole record, and a writer opened on it continues after that record.

mod common;

use std::io::{BufRead, BufReader};

use mycelium_journal::{
    ActorAddr, Encoding, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind,
    Origin, RunStart,
};

const CHILD_DIR: &str = "MYCELIUM_JOURNAL_CRASH_CHILD_DIR";
const TEST: &str = "a_journal_written_by_a_killed_process_reads_back_to_its_last_whole_record";
/// Records the child writes if nobody kills it (it is killed long before).
const CHILD_LIMIT: u64 = 50_000_000;

fn options() -> JournalOptions {
    JournalOptions::new(JournalSchema::from_digest([5; 32]))
        .node("crash")
        .segment_bytes(256 << 10)
        .buffer_bytes(64 << 10)
}

fn payload(seq: u64) -> Vec<u8> {
    // Lengths vary so that records straddle the writer's batches and segment ends.
    let len = (seq % 97) as usize;
    (0..len).map(|i| (seq as usize + i) as u8).collect()
}

/// The child: writes numbered records until it is killed, saying how many are flushed.
fn child(dir: &str) {
    let writer = JournalWriter::open(dir, options()).expect("the child opens its journal");
    for seq in 0..CHILD_LIMIT {
        let p = payload(seq);
        writer
            .append(&Entry {
                origin: Origin::Outside,
                name: "Tick",
                encoding: Encoding::Raw,
                payload: &p,
                ..Entry::new(Kind::Handled, seq * 1_000, ActorAddr { node: 0, id: 1 })
            })
            .expect("the child appends");
        if seq % 5_000 == 4_999 {
            writer.flush().expect("the child flushes");
            println!("flushed {}", seq + 1);
        }
    }
}

#[test]
fn a_journal_written_by_a_killed_process_reads_back_to_its_last_whole_record() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, stdout) = common::spawn_child(TEST, CHILD_DIR, dir.path());
    let mut flushed = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("flushed ") {
            flushed = n.parse::<u64>().unwrap();
            if flushed >= 20_000 {
                break;
            }
        }
    }
    assert!(flushed >= 20_000, "the child stopped early");
    // SIGKILL, while the child goes on appending.
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert!(!status.success());

    let journal = JournalReader::open(dir.path()).unwrap();
    assert!(journal.segments().len() > 1, "the child rotated segments");
    let mut records = journal.records();
    let mut count = 0;
    for r in records.by_ref() {
        let r = r.unwrap();
        assert_eq!(r.seq, count);
        assert_eq!(r.time_ns, count * 1_000);
        assert_eq!(r.payload, payload(count));
        count += 1;
    }
    assert!(
        count >= flushed,
        "{count} records back, {flushed} were flushed"
    );
    if let Some(cut) = records.cut() {
        assert!(cut.bytes > 0);
        eprintln!("the kill cut {cut}");
    }
    let cut = records.cut();
    let last_segment = journal.segments().last().unwrap().number;
    assert!(
        !journal.closed(),
        "a killed writer never closed its journal"
    );

    // A writer opened again continues after the last whole record, after a cut record that
    // says where the killed run ended (with the bytes cut, if the kill cut a record).
    let writer = JournalWriter::open(dir.path(), options()).unwrap();
    let next = writer
        .append(&Entry::new(Kind::Started, 0, ActorAddr { node: 0, id: 1 }))
        .unwrap();
    writer.close().unwrap();
    assert_eq!(next.seq(), count + 1);
    let journal = JournalReader::open(dir.path()).unwrap();
    let mut again = journal.records();
    let last: Vec<_> = again
        .by_ref()
        .map(Result::unwrap)
        .skip(count as usize)
        .collect();
    assert_eq!(again.cut(), None);
    let recorded_cut = last[0].cut().expect("a cut record first");
    match cut {
        Some(cut) => assert_eq!(recorded_cut, cut),
        None => {
            assert_eq!(recorded_cut.segment, last_segment);
            assert_eq!(recorded_cut.bytes, 0);
            assert!(
                recorded_cut.to_string().contains("never closed"),
                "{recorded_cut}"
            );
        }
    }
    assert_eq!(last[1].kind, Kind::Started);

    // Two runs: the killed one, never closed, and the one after the crash, without the cut
    // record that began it.
    let runs = journal.runs().unwrap();
    let starts: Vec<_> = runs.iter().map(|r| r.start).collect();
    assert_eq!(starts, [RunStart::First, RunStart::AfterCrash]);
    assert_eq!(runs[1].first_seq, count);
    let killed = journal.run(0).unwrap();
    assert!(!killed.closed());
    assert_eq!(killed.records().count() as u64, count);
    let after = journal.run(1).unwrap();
    assert!(after.closed());
    let kinds: Vec<_> = after.records().map(|r| r.unwrap().kind).collect();
    assert_eq!(kinds, [Kind::Started]);
}

//! Records come back as written: across segments, after rotation and retention, from the
//! time index, and across a writer opened again.

use std::time::Duration;

use mycelium_journal::{
    ActorAddr, Encoding, Entry, JournalError, JournalOptions, JournalReader, JournalSchema,
    JournalWriter, Kind, Origin, Record,
};
use proptest::prelude::*;

fn read_all(dir: &std::path::Path) -> Vec<Record> {
    JournalReader::open(dir)
        .unwrap()
        .records()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn handled(time_ns: u64, payload: &[u8]) -> Entry<'_> {
    Entry {
        origin: Origin::Outside,
        name: "Tick",
        encoding: Encoding::Raw,
        payload,
        ..Entry::new(Kind::Handled, time_ns, ActorAddr { node: 0, id: 2 })
    }
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        Just(Origin::None),
        (any::<u32>(), any::<u64>()).prop_map(|(node, id)| Origin::Actor(ActorAddr { node, id })),
        any::<u32>().prop_map(|node| Origin::Remote { node }),
        any::<u64>().prop_map(|id| Origin::Timer { id }),
        Just(Origin::Outside),
        any::<u32>().prop_map(|language| Origin::Foreign { language }),
    ]
}

#[derive(Debug, Clone)]
struct Owned {
    kind: Kind,
    time_ns: u64,
    actor: ActorAddr,
    origin: Origin,
    cause: Option<u64>,
    asked: bool,
    type_id: u16,
    name: String,
    topic: String,
    encoding: Encoding,
    payload: Vec<u8>,
}

fn owned() -> impl Strategy<Value = Owned> {
    let kind = prop::sample::select(
        [
            Kind::Handled,
            Kind::Sent,
            Kind::Published,
            Kind::Replied,
            Kind::TimerFired,
            Kind::ClockRead,
            Kind::Started,
            Kind::Failed,
            Kind::Restarted,
            Kind::Stopped,
        ]
        .to_vec(),
    );
    let encoding = prop::sample::select(
        [
            Encoding::Empty,
            Encoding::Contract,
            Encoding::Json,
            Encoding::Text,
            Encoding::Raw,
            Encoding::U64,
        ]
        .to_vec(),
    );
    (
        (kind, any::<u64>(), any::<u32>(), any::<u64>(), origin()),
        (
            prop::option::of(0..u64::MAX),
            any::<bool>(),
            any::<u16>(),
            "\\PC{0,12}",
            "[a-z.]{0,12}",
            encoding,
            prop::collection::vec(any::<u8>(), 0..300),
        ),
    )
        .prop_map(
            |(
                (kind, time_ns, node, id, origin),
                (cause, asked, type_id, name, topic, encoding, payload),
            )| {
                Owned {
                    kind,
                    time_ns,
                    actor: ActorAddr { node, id },
                    origin,
                    cause,
                    asked,
                    type_id,
                    name,
                    topic,
                    encoding,
                    payload,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_field_of_every_record_comes_back(
        entries in prop::collection::vec(owned(), 0..60),
        segment_bytes in 200u64..4000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::new(JournalSchema::none())
            .node("n1")
            .segment_bytes(segment_bytes)
            .index_every(300);
        let writer = JournalWriter::open(dir.path(), options).unwrap();
        for (i, e) in entries.iter().enumerate() {
            let entry = Entry {
                kind: e.kind,
                time_ns: e.time_ns,
                actor: e.actor,
                origin: e.origin,
                cause: e.cause,
                asked: e.asked,
                type_id: e.type_id,
                name: &e.name,
                topic: &e.topic,
                encoding: e.encoding,
                payload: &e.payload,
            };
            prop_assert_eq!(writer.append(&entry).unwrap().seq(), i as u64);
        }
        writer.close().unwrap();
        let back = read_all(dir.path());
        prop_assert_eq!(back.len(), entries.len());
        for (i, (r, e)) in back.iter().zip(&entries).enumerate() {
            prop_assert_eq!(r.seq, i as u64);
            prop_assert_eq!(r.kind, e.kind);
            prop_assert_eq!(r.time_ns, e.time_ns);
            prop_assert_eq!(r.actor, e.actor);
            prop_assert_eq!(r.origin, e.origin);
            prop_assert_eq!(r.cause, e.cause);
            prop_assert_eq!(r.asked, e.asked);
            prop_assert_eq!(r.type_id, e.type_id);
            prop_assert_eq!(&r.name, &e.name);
            prop_assert_eq!(&r.topic, &e.topic);
            prop_assert_eq!(r.encoding, e.encoding);
            prop_assert_eq!(&r.payload, &e.payload);
        }
    }

    #[test]
    fn reading_from_a_time_returns_exactly_the_records_from_that_time(
        gaps in prop::collection::vec(0u64..1000, 1..200),
        from in 0u64..100_000,
        index_every in 1u64..2000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::new(JournalSchema::none())
            .segment_bytes(3000)
            .index_every(index_every);
        let writer = JournalWriter::open(dir.path(), options).unwrap();
        let mut t = 0;
        for g in &gaps {
            t += g;
            writer.append(&handled(t, b"p")).unwrap();
        }
        writer.close().unwrap();
        let journal = JournalReader::open(dir.path()).unwrap();
        let all: Vec<_> = journal.records().map(Result::unwrap).collect();
        let from_index: Vec<_> = journal.records_from(from).map(Result::unwrap).collect();
        let expected: Vec<_> = all.into_iter().filter(|r| r.time_ns >= from).collect();
        prop_assert_eq!(from_index, expected);
    }
}

#[test]
fn segments_rotate_by_size_and_number_their_records_without_a_break() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::new(JournalSchema::none()).segment_bytes(1000);
    let writer = JournalWriter::open(dir.path(), options).unwrap();
    for i in 0..100 {
        writer.append(&handled(i, &[7; 40])).unwrap();
    }
    let stats = writer.close().unwrap();
    assert!(stats.segments > 5, "{stats:?}");
    let journal = JournalReader::open(dir.path()).unwrap();
    assert_eq!(journal.segments().len() as u64, stats.segments);
    let firsts: Vec<u64> = journal
        .segments()
        .iter()
        .map(|s| {
            assert!(s.file_len <= 1000, "{s:?}");
            s.header.as_ref().unwrap().first_seq
        })
        .collect();
    assert_eq!(firsts[0], 0);
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
    let back = read_all(dir.path());
    assert_eq!(
        back.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
}

#[test]
fn a_segment_older_than_its_age_limit_is_closed_before_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    // Every segment is already old enough once it holds a record.
    let options = JournalOptions::new(JournalSchema::none()).segment_age(Duration::ZERO);
    let writer = JournalWriter::open(dir.path(), options).unwrap();
    for i in 0..5 {
        writer.append(&handled(i, b"x")).unwrap();
        writer.flush().unwrap();
    }
    writer.close().unwrap();
    let journal = JournalReader::open(dir.path()).unwrap();
    let firsts: Vec<_> = journal
        .segments()
        .iter()
        .map(|s| s.header.as_ref().unwrap().first_seq)
        .collect();
    assert_eq!(&firsts[..5], &[0, 1, 2, 3, 4]);
    assert_eq!(read_all(dir.path()).len(), 5);
}

#[test]
fn retention_by_size_deletes_the_oldest_closed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::new(JournalSchema::none())
        .segment_bytes(1000)
        .retain_bytes(3000);
    let writer = JournalWriter::open(dir.path(), options).unwrap();
    for i in 0..200 {
        writer.append(&handled(i, &[1; 40])).unwrap();
    }
    let stats = writer.close().unwrap();
    assert!(stats.deleted > 0, "{stats:?}");
    let journal = JournalReader::open(dir.path()).unwrap();
    let total: u64 = journal.segments().iter().map(|s| s.file_len).sum();
    // The limit holds when each segment closes; the newest may have grown since.
    assert!(total <= 3000 + 1000, "{total}");
    let back = read_all(dir.path());
    let first = back[0].seq;
    assert!(first > 0);
    assert_eq!(journal.deleted_before(), Some(first));
    assert_eq!(back.last().unwrap().seq, 199);
    assert_eq!(back.len() as u64, 200 - first);
}

#[test]
fn retention_by_age_deletes_closed_segments_past_it_and_keeps_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::new(JournalSchema::none())
        .segment_bytes(500)
        .retain_age(Duration::ZERO);
    let writer = JournalWriter::open(dir.path(), options).unwrap();
    for i in 0..50 {
        writer.append(&handled(i, &[1; 40])).unwrap();
    }
    writer.close().unwrap();
    let journal = JournalReader::open(dir.path()).unwrap();
    assert_eq!(journal.segments().len(), 1);
    assert_eq!(read_all(dir.path()).last().unwrap().seq, 49);
}

#[test]
fn the_header_carries_the_schema_and_it_reads_back_to_the_same_digest() {
    let yaml = "package: p\nmessages:\n  Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: n, type: u64 }\n";
    let schema = mycelium_codegen::model::parse_str("a.yaml", yaml).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let writer = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::from_schema(&schema)).node("pricing"),
    )
    .unwrap();
    writer.close().unwrap();
    let journal = JournalReader::open(dir.path()).unwrap();
    let header = journal.header();
    assert_eq!(header.node, "pricing");
    assert_eq!(
        header.schema.digest,
        mycelium_codegen::digest::digest(&schema)
    );
    let back = header.schema.schema().unwrap().unwrap();
    assert_eq!(back.messages.len(), 1);
    assert!(journal.records().next().is_none());
    assert_eq!(journal.deleted_before(), None);
}

#[test]
fn a_journal_opened_again_continues_its_numbering_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let writer =
            JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
        // After the first run, each begins with its `resumed` record.
        for i in 0..4 {
            assert_eq!(
                writer.append(&handled(i, b"a")).unwrap().seq(),
                round * 5 + i
            );
        }
        writer.close().unwrap();
    }
    let journal = JournalReader::open(dir.path()).unwrap();
    assert_eq!(journal.segments().len(), 3);
    let back = read_all(dir.path());
    assert_eq!(back.len(), 14);
    let resumed: Vec<u64> = back
        .iter()
        .filter(|r| r.kind == Kind::Resumed)
        .map(|r| r.seq)
        .collect();
    assert_eq!(resumed, vec![4, 9]);
}

#[test]
fn a_journal_of_another_node_or_schema_is_not_continued() {
    let dir = tempfile::tempdir().unwrap();
    let writer = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::none()).node("a"),
    )
    .unwrap();
    writer.close().unwrap();
    let err = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::none()).node("b"),
    )
    .unwrap_err();
    assert!(matches!(err, JournalError::Discontinuous { .. }), "{err}");
    assert!(err.to_string().contains("another directory"), "{err}");
    let err = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::from_digest([9; 32])).node("a"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("0909"), "{err}");
}

#[test]
fn what_the_format_cannot_hold_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let writer =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let big = vec![0; mycelium_journal::MAX_RECORD];
    let err = writer.append(&handled(0, &big)).unwrap_err();
    assert!(matches!(err, JournalError::RecordTooLarge { .. }), "{err}");
    let long = "x".repeat(70_000);
    let err = writer
        .append(&Entry {
            name: &long,
            ..handled(0, b"")
        })
        .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    writer.close().unwrap();
    assert!(matches!(
        writer.append(&handled(0, b"")).unwrap_err(),
        JournalError::Closed
    ));
}

#[test]
fn an_empty_directory_is_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let err = JournalReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, JournalError::NoSegments { .. }), "{err}");
}

/// A journal its writer closed and a new process opens again holds two runs, told apart by
/// a `resumed` record; a replay of an actor of the first run stops there, as at the end of
/// the journal, rather than feeding it the second run's inputs of the actor numbered alike.
#[path = "common/sum.rs"]
mod sum;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_journal_opened_again_after_a_close_begins_a_new_run_that_a_replay_stops_before() {
    use std::sync::Arc;
    use sum::Sum;

    use mycelium_actors::{Bus, SpawnOptions};
    use mycelium_journal::{Recording, Replay, ReplayMode};

    let dir = tempfile::tempdir().unwrap();
    let mut actors = Vec::new();
    for run in [[1u64, 2, 3], [10, 20, 30]] {
        let journal =
            JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
        let recording = Arc::new(Recording::new(journal.clone()).serde::<u64>());
        // A bus of its own, as a new process has: its first actor is numbered as before.
        let bus = Bus::builder().virtual_time().build().unwrap();
        let sum = bus
            .spawn_with::<Sum>((), SpawnOptions::new().record(recording))
            .unwrap();
        for n in run {
            sum.ask(n).await.unwrap();
        }
        sum.stop();
        sum.wait_for_stop().await;
        journal.close().unwrap();
        actors.push(sum.id().local());
    }
    assert_eq!(actors[0], actors[1], "numbered anew by the new run");
    let records = read_all(dir.path());
    let resumed: Vec<_> = records.iter().filter(|r| r.kind == Kind::Resumed).collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].origin, Origin::Journal);

    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Sum>::new(())
        .serde::<u64>()
        .run(&journal, actors[0], &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 3, "the first run's inputs, not the second's");
}

//! A journal cut anywhere reads back to its last whole record and says what was cut; a
//! damaged byte anywhere is refused with the segment and offset, never returned as data.

use std::fs;
use std::path::{Path, PathBuf};

use mycelium_journal::{
    segment_path, ActorAddr, Encoding, Entry, JournalError, JournalOptions, JournalReader,
    JournalSchema, JournalWriter, Kind, Origin, Record,
};

/// Writes a one-segment journal of `n` records; returns its directory, the segment's bytes
/// and the offsets where records end.
fn journal(n: u64) -> (tempfile::TempDir, Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let writer = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::from_digest([3; 32])).node("n"),
    )
    .unwrap();
    for i in 0..n {
        let payload = format!("{{\"i\":{i}}}");
        writer
            .append(&Entry {
                origin: Origin::Timer { id: i },
                name: "Wake",
                topic: if i % 2 == 0 { "t.a" } else { "" },
                encoding: Encoding::Json,
                payload: payload.as_bytes(),
                ..Entry::new(Kind::TimerFired, i * 10, ActorAddr { node: 0, id: 4 })
            })
            .unwrap();
    }
    writer.close().unwrap();
    let bytes = fs::read(segment_path(dir.path(), 1)).unwrap();
    let journal = JournalReader::open(dir.path()).unwrap();
    let header_len = journal.segments()[0].header_len;
    // Record ends: walk the frames by their declared lengths.
    let mut ends = vec![header_len];
    let mut pos = header_len;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 12 + len;
        ends.push(pos);
    }
    assert_eq!(pos, bytes.len());
    (dir, bytes, ends)
}

fn copy_with(dir: &Path, bytes: &[u8]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    fs::write(segment_path(out.path(), 1), bytes).unwrap();
    // The index too: its points past a cut must be ignored.
    let index = mycelium_journal::index_path(dir, 1);
    fs::copy(index, mycelium_journal::index_path(out.path(), 1)).unwrap();
    out
}

fn read(
    dir: &Path,
) -> (
    Vec<Record>,
    Option<JournalError>,
    Option<mycelium_journal::Cut>,
) {
    let journal = match JournalReader::open(dir) {
        Ok(j) => j,
        Err(e) => return (Vec::new(), Some(e), None),
    };
    let mut records = journal.records();
    let mut good = Vec::new();
    let mut error = None;
    for r in records.by_ref() {
        match r {
            Ok(r) => good.push(r),
            Err(e) => error = Some(e),
        }
    }
    let cut = records.cut();
    (good, error, cut)
}

#[test]
fn a_journal_cut_at_every_byte_reads_back_to_its_last_whole_record() {
    let (dir, bytes, ends) = journal(12);
    let (all, _, _) = read(dir.path());
    let header_len = ends[0];
    for len in header_len..=bytes.len() {
        let copy = copy_with(dir.path(), &bytes[..len]);
        let (records, error, cut) = read(copy.path());
        assert!(error.is_none(), "cut at {len}: {error:?}");
        let whole = ends.iter().filter(|&&e| e <= len).count() - 1;
        assert_eq!(records, all[..whole], "cut at {len}");
        let boundary = ends[whole];
        if boundary == len {
            assert_eq!(cut, None, "cut at {len}");
        } else {
            let cut = cut.unwrap_or_else(|| panic!("cut at {len} not reported"));
            assert_eq!(
                (cut.segment, cut.offset, cut.bytes),
                (1, boundary as u64, (len - boundary) as u64)
            );
        }
        // Time-indexed reading never crosses the cut either.
        let journal = JournalReader::open(copy.path()).unwrap();
        let from: Vec<_> = journal.records_from(50).map(Result::unwrap).collect();
        let expected: Vec<_> = all[..whole]
            .iter()
            .filter(|r| r.time_ns >= 50)
            .cloned()
            .collect();
        assert_eq!(from, expected, "cut at {len}");
    }
}

#[test]
fn a_journal_cut_inside_its_first_header_is_refused() {
    let (dir, bytes, ends) = journal(2);
    for len in [0, 5, 8, 20, ends[0] - 1] {
        let copy = copy_with(dir.path(), &bytes[..len]);
        let err = JournalReader::open(copy.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                JournalError::BadHeader { .. } | JournalError::NotAJournal { .. }
            ),
            "{len}: {text}"
        );
        assert!(text.contains("00000000000000000001.journal"), "{text}");
    }
}

#[test]
fn a_flipped_bit_anywhere_is_refused_and_names_the_segment_and_offset() {
    let (dir, bytes, ends) = journal(8);
    let (all, _, _) = read(dir.path());
    let header_len = ends[0];
    for at in 0..bytes.len() {
        for bit in [at % 8, (at + 3) % 8] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << bit;
            let copy = copy_with(dir.path(), &damaged);
            let (records, error, _) = read(copy.path());
            let error = error.unwrap_or_else(|| panic!("flip at {at} bit {bit} not detected"));
            let text = error.to_string();
            assert!(text.contains("00000000000000000001.journal"), "{text}");
            if at < header_len {
                assert!(records.is_empty());
                continue;
            }
            // The records before the damaged one come back whole; it and those after it do not.
            let damaged_record = ends.iter().filter(|&&e| e <= at).count() - 1;
            assert_eq!(records, all[..damaged_record], "flip at {at}");
            match error {
                JournalError::Corrupt { offset, .. } => {
                    assert_eq!(offset, ends[damaged_record] as u64, "flip at {at}: {text}");
                    assert!(text.contains(&format!("offset {offset}")), "{text}");
                }
                other => panic!("flip at {at}: {other}"),
            }
        }
    }
}

/// A segment is read 256 KiB at a time: records that straddle a window's edge read back
/// whole, and a cut or a flipped bit next to an edge is found where it is.
#[test]
fn records_across_the_readers_windows_read_back_and_damage_next_to_an_edge_is_found() {
    const WINDOW: usize = 256 * 1024;
    let (dir, bytes, ends) = journal(15_000);
    assert!(bytes.len() > ends[0] + 3 * WINDOW, "{} bytes", bytes.len());
    let (all, error, cut) = read(dir.path());
    assert!(error.is_none() && cut.is_none(), "{error:?} {cut:?}");
    assert_eq!(all.len(), 15_000);
    assert!(all.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    // Borrowed from the reader's buffer, the same records.
    let journal = JournalReader::open(dir.path()).unwrap();
    let mut records = journal.records();
    let mut borrowed = Vec::new();
    while let Some(record) = records.next_ref() {
        borrowed.push(record.unwrap().to_record());
    }
    assert_eq!(borrowed, all);
    // The record holding byte `at`.
    let holding = |at: usize| ends.iter().filter(|&&e| e <= at).count() - 1;
    for edge in [1, 2, 3].map(|k| ends[0] + k * WINDOW) {
        let straddling = holding(edge);
        for at in [
            edge - 1,
            edge,
            edge + 1,
            ends[straddling],
            ends[straddling + 1] - 1,
        ] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            let copy = copy_with(dir.path(), &damaged);
            let (records, error, _) = read(copy.path());
            let hit = holding(at);
            assert_eq!(records, all[..hit], "flip at {at}");
            assert!(
                matches!(error, Some(JournalError::Corrupt { offset, .. }) if offset == ends[hit] as u64),
                "flip at {at}: {error:?}"
            );

            let copy = copy_with(dir.path(), &bytes[..at]);
            let (records, error, cut) = read(copy.path());
            assert!(error.is_none(), "cut at {at}: {error:?}");
            assert_eq!(records, all[..hit], "cut at {at}");
            let expected =
                (ends[hit] != at).then_some((1, ends[hit] as u64, (at - ends[hit]) as u64));
            assert_eq!(
                cut.map(|c| (c.segment, c.offset, c.bytes)),
                expected,
                "cut at {at}"
            );
        }
    }
}

#[test]
fn damage_in_the_middle_of_a_journal_stops_the_reading_there() {
    let (dir, mut bytes, ends) = journal(6);
    // Zeros over the third record: not a cut (records follow), so damage.
    for b in &mut bytes[ends[2]..ends[3]] {
        *b = 0;
    }
    let copy = copy_with(dir.path(), &bytes);
    let (records, error, _) = read(copy.path());
    assert_eq!(records.len(), 2);
    assert!(
        matches!(error, Some(JournalError::Corrupt { offset, .. }) if offset == ends[2] as u64)
    );
}

#[test]
fn a_writer_opened_on_a_cut_journal_truncates_it_and_records_the_cut() {
    let (dir, bytes, ends) = journal(5);
    let (all, _, _) = read(dir.path());
    let len = ends[3] + 7;
    let copy = copy_with(dir.path(), &bytes[..len]);
    let writer = JournalWriter::open(
        copy.path(),
        JournalOptions::new(JournalSchema::from_digest([3; 32])).node("n"),
    )
    .unwrap();
    let next = writer
        .append(&Entry::new(Kind::Started, 0, ActorAddr { node: 0, id: 4 }))
        .unwrap();
    writer.close().unwrap();
    assert_eq!(
        fs::metadata(segment_path(copy.path(), 1)).unwrap().len(),
        ends[3] as u64
    );

    let (records, error, cut) = read(copy.path());
    assert!(error.is_none(), "{error:?}");
    assert_eq!(cut, None);
    assert_eq!(records[..3], all[..3]);
    let reported = records[3].cut().expect("a cut record after the whole ones");
    assert_eq!(
        (reported.segment, reported.offset, reported.bytes),
        (1, ends[3] as u64, 7)
    );
    assert_eq!(records[3].seq, 3);
    assert_eq!((records[4].seq, records[4].kind), (4, Kind::Started));
    assert_eq!(next.seq(), 4);
}

#[test]
fn a_last_segment_cut_inside_its_header_is_reported_and_replaced() {
    let (dir, _, _) = journal(3);
    // A crash between creating segment 2 and writing its header.
    fs::write(segment_path(dir.path(), 2), b"MYCJ").unwrap();
    let (records, error, cut) = read(dir.path());
    assert!(error.is_none(), "{error:?}");
    assert_eq!(records.len(), 3);
    assert_eq!(cut.map(|c| (c.segment, c.offset, c.bytes)), Some((2, 0, 4)));

    let writer = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::from_digest([3; 32])).node("n"),
    )
    .unwrap();
    writer.close().unwrap();
    let (records, error, cut) = read(dir.path());
    assert!(error.is_none() && cut.is_none(), "{error:?} {cut:?}");
    assert_eq!(records[3].cut().map(|c| (c.segment, c.bytes)), Some((2, 4)));
    let names: Vec<PathBuf> = JournalReader::open(dir.path())
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        names,
        [segment_path(dir.path(), 1), segment_path(dir.path(), 2)]
    );
}

#[test]
fn a_missing_segment_in_the_middle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let writer = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::none()).segment_bytes(300),
    )
    .unwrap();
    for i in 0..20 {
        writer
            .append(&Entry {
                payload: &[0; 64],
                encoding: Encoding::Raw,
                ..Entry::new(Kind::Handled, i, ActorAddr::default())
            })
            .unwrap();
    }
    writer.close().unwrap();
    fs::remove_file(segment_path(dir.path(), 2)).unwrap();
    let err = JournalReader::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("segment 2 is missing"), "{err}");
}

#[test]
fn a_flipped_bit_in_a_later_segment_header_is_refused_not_taken_for_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let writer = JournalWriter::open(
        dir.path(),
        JournalOptions::new(JournalSchema::none()).segment_bytes(400),
    )
    .unwrap();
    for i in 0..12 {
        writer
            .append(&Entry {
                payload: &[1; 64],
                encoding: Encoding::Raw,
                ..Entry::new(Kind::Handled, i, ActorAddr::default())
            })
            .unwrap();
    }
    writer.close().unwrap();
    let segments = JournalReader::open(dir.path()).unwrap().segments().to_vec();
    let last = segments.last().unwrap();
    let original = fs::read(&last.path).unwrap();
    for at in 0..last.header_len {
        let mut damaged = original.clone();
        damaged[at] ^= 1 << (at % 8);
        fs::write(&last.path, &damaged).unwrap();
        let (_, error, cut) = read(dir.path());
        let error = error.unwrap_or_else(|| panic!("flip at {at} not detected (cut: {cut:?})"));
        assert!(
            error.to_string().contains(&last.path.display().to_string()),
            "{error}"
        );
    }
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes after a valid header, or over any stretch of a valid journal: the reader
        /// never panics, and whatever it returns is a prefix of what was written.
        #[test]
        fn any_bytes_read_back_as_a_prefix_or_an_error(
            start in 0usize..2000,
            garbage in prop::collection::vec(any::<u8>(), 0..400),
        ) {
            let (dir, bytes, ends) = journal(10);
            let (all, _, _) = read(dir.path());
            let start = ends[0] + start % (bytes.len() - ends[0]);
            let mut damaged = bytes[..start].to_vec();
            damaged.extend_from_slice(&garbage);
            if start + garbage.len() < bytes.len() {
                damaged.extend_from_slice(&bytes[start + garbage.len()..]);
            }
            let copy = copy_with(dir.path(), &damaged);
            let (records, _, _) = read(copy.path());
            prop_assert!(records.len() <= all.len());
            prop_assert_eq!(&records[..], &all[..records.len()]);
        }
    }
}

//! w15: the journal writer beside its floor, plain sequential writes of the same bytes to
//! the same file system.
//!
//! The writer: one thread appends `n` records (a `handled` record of a 48-byte contract
//! payload, the size of a `Quote`) to a `JournalWriter`, then closes it; the time runs from
//! the first append to the end of `close` (every byte written, the segments and indexes
//! closed). The floor: the segment files the writer wrote, read back, written again to a new
//! file in the same directory with `write_all` in 1 MiB chunks, then closed. Neither syncs
//! (the journal's default). Each round measures both, in turn; the best round of each is
//! kept. Each round's line on stderr also splits the writer's time: the appends (the
//! caller's encoding into the batch, while the writer thread checksums and writes what it
//! has taken), then `close` (what was left to checksum and write). Lines:
//!
//! ```text
//! w15 journal-writer records=N bytes=B secs=S bytes_per_sec=X records_per_sec=Y
//! w15 floor-write bytes=B secs=S bytes_per_sec=Z
//! # journal writer / floor bytes_per_sec: writer=X floor=Z ratio=R goal=0.8
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mycelium_journal::{
    ActorAddr, Encoding, Entry, JournalOptions, JournalSchema, JournalWriter, Kind, Origin,
};

/// What `compare` does with w15.
pub struct Selection {
    pub run: bool,
    pub quick: bool,
    pub rounds: usize,
}

/// Takes w15 out of `args` (`--only`): the selection, and the arguments left for the other
/// workloads (`None` when `--only` named w15 alone).
pub fn split_args(args: &[String]) -> (Selection, Option<Vec<String>>) {
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(if quick { 1 } else { 3 });
    let mut rest = Vec::with_capacity(args.len());
    let mut run = true;
    let mut others_left = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a != "--only" {
            rest.push(a.clone());
            continue;
        }
        let Some(list) = it.next() else {
            rest.push(a.clone());
            continue;
        };
        let names: Vec<&str> = list.split(',').collect();
        run = names.contains(&"w15");
        let others: Vec<&str> = names.into_iter().filter(|n| *n != "w15").collect();
        if others.is_empty() {
            others_left = false;
        } else {
            rest.push(a.clone());
            rest.push(others.join(","));
        }
    }
    (
        Selection { run, quick, rounds },
        others_left.then_some(rest),
    )
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("mycelium-bench-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory in the temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn segment_bytes(dir: &Path) -> Vec<u8> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the journal's directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == mycelium_journal::SEGMENT_EXT)
        })
        .collect();
    files.sort();
    let mut bytes = Vec::new();
    for f in files {
        bytes.extend(std::fs::read(f).expect("a segment"));
    }
    bytes
}

/// Appends `n` records and closes the journal: (seconds, seconds of the appends alone, the
/// segments' bytes).
fn writer(dir: &Path, n: u64) -> (f64, f64, Vec<u8>) {
    let journal = JournalWriter::open(dir, JournalOptions::new(JournalSchema::none()))
        .expect("a journal in the temporary directory");
    let payload = [0x5au8; 48];
    let actor = ActorAddr { node: 0, id: 3 };
    let t0 = Instant::now();
    for i in 0..n {
        journal
            .append(&Entry {
                origin: Origin::Actor(ActorAddr { node: 0, id: 1 }),
                type_id: 100,
                name: "Quote",
                encoding: Encoding::Contract,
                payload: &payload,
                ..Entry::new(Kind::Handled, i * 1_000, actor)
            })
            .expect("append");
    }
    let appends = t0.elapsed().as_secs_f64();
    journal.close().expect("close");
    let secs = t0.elapsed().as_secs_f64();
    (secs, appends, segment_bytes(dir))
}

/// Writes `bytes` to a new file in `dir` in 1 MiB chunks and closes it: seconds.
fn floor(dir: &Path, bytes: &[u8]) -> f64 {
    let path = dir.join("floor.bin");
    let t0 = Instant::now();
    let mut file = std::fs::File::create(&path).expect("a file in the temporary directory");
    for chunk in bytes.chunks(1 << 20) {
        file.write_all(chunk).expect("write");
    }
    drop(file);
    let secs = t0.elapsed().as_secs_f64();
    std::fs::remove_file(&path).expect("remove the floor's file");
    secs
}

/// Runs w15 and prints its lines.
pub fn compare(sel: &Selection) {
    if !sel.run {
        return;
    }
    let n: u64 = if sel.quick { 20_000 } else { 2_000_000 };
    let (mut best_writer, mut best_floor, mut size) = (f64::INFINITY, f64::INFINITY, 0);
    for round in 0..sel.rounds {
        let dir = TempDir::new("w15");
        let journal_dir = dir.0.join("journal");
        let (w, appends, bytes) = writer(&journal_dir, n);
        let f = floor(&dir.0, &bytes);
        size = bytes.len();
        eprintln!(
            "# w15 round {}: writer {:.1} MB/s (appends {:.3} ms, then close {:.3} ms), floor {:.1} MB/s",
            round + 1,
            size as f64 / w / 1e6,
            appends * 1e3,
            (w - appends) * 1e3,
            size as f64 / f / 1e6
        );
        best_writer = best_writer.min(w);
        best_floor = best_floor.min(f);
    }
    let (wr, fr) = (size as f64 / best_writer, size as f64 / best_floor);
    println!(
        "w15 journal-writer records={n} bytes={size} secs={best_writer:.4} bytes_per_sec={wr:.0} records_per_sec={:.0}",
        n as f64 / best_writer
    );
    println!("w15 floor-write bytes={size} secs={best_floor:.4} bytes_per_sec={fr:.0}");
    println!(
        "# journal writer / floor bytes_per_sec: writer={wr:.0} floor={fr:.0} ratio={:.2} goal=0.8",
        wr / fr
    );
}

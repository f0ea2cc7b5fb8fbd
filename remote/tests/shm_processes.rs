//! Shared-memory links between two processes: the test binary runs itself as the other
//! process, with `MYC_SHM_ROLE` naming what the child does.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use mycelium_remote::shm::{self, RingError, ShmError, ShmOptions, WaitPolicy};

const ROLE: &str = "MYC_SHM_ROLE";
const DIGEST: [u8; 32] = [0x5a; 32];
/// No test waits longer than this for the other process.
const PATIENCE: Duration = Duration::from_secs(60);

fn options(prefix: &str, ring_bytes: usize) -> ShmOptions {
    let mut o = ShmOptions::new(DIGEST);
    o.prefix = prefix.to_owned();
    o.ring_bytes = ring_bytes;
    o.wait = WaitPolicy {
        spin: Duration::from_micros(20),
        liveness_check: Duration::from_millis(20),
    };
    o
}

/// A child process that is killed and reaped whatever happens to the test.
struct Proc {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(role: &str, prefix: &str, extra: &[(&str, String)]) -> Proc {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "child_role",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE, role)
        .env("MYC_SHM_PREFIX", prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Proc { child, out }
    }

    /// The next line the child printed that starts with `tag=`, without the tag.
    fn expect(&mut self, tag: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.out.read_line(&mut line).unwrap() > 0,
                "child ended before printing {tag}"
            );
            if let Some(v) = line.trim().strip_prefix(&format!("{tag}=")) {
                return v.to_owned();
            }
        }
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn finish(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prefix(tag: &str) -> String {
    format!("myc-test-{}-{tag}", std::process::id())
}

/// Whether the segment of `link` exists (looked up by name, without attaching).
fn exists(prefix: &str, link: &str) -> bool {
    let name = format!("/{prefix}.{link}");
    rustix::shm::open(
        name.as_str(),
        rustix::shm::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .is_ok()
}

fn seq_msg(seq: u64, buf: &mut [u8; 24]) -> &[u8] {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&(!seq).to_le_bytes());
    buf[16..].copy_from_slice(&seq.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    &buf[..]
}

fn seq_of(m: &[u8]) -> u64 {
    assert_eq!(m.len(), 24, "a message changed length");
    let seq = u64::from_le_bytes(m[..8].try_into().unwrap());
    assert_eq!(
        u64::from_le_bytes(m[8..16].try_into().unwrap()),
        !seq,
        "a message was torn"
    );
    assert_eq!(
        u64::from_le_bytes(m[16..].try_into().unwrap()),
        seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        "a message was torn"
    );
    seq
}

/// Entry point of the child process; does nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let prefix = std::env::var("MYC_SHM_PREFIX").unwrap();
    let var = |k: &str| std::env::var(k).unwrap().parse::<u64>().unwrap();
    match role.as_str() {
        // Attaches and receives sequence numbers from START on, each checked, until the
        // parent closes; then answers with the count and the last one.
        "reader" => {
            let opts = options(&prefix, var("MYC_SHM_RING") as usize);
            let (mut tx, mut rx) = attach("link", &opts);
            let mut expected = var("MYC_SHM_START");
            println!("attached=1");
            loop {
                match rx.recv_with(seq_of) {
                    Ok(seq) => {
                        if seq != expected {
                            println!("error=expected {expected} got {seq}");
                            std::process::exit(3);
                        }
                        expected += 1;
                    }
                    Err(ShmError::Ring(RingError::Closed)) => break,
                    Err(e) => {
                        println!("error={e}");
                        std::process::exit(4);
                    }
                }
            }
            tx.send(&(expected - 1).to_le_bytes()).unwrap();
            println!("last={}", expected - 1);
        }
        // Creates the segment and sends sequence numbers from START to END.
        "writer" => {
            let opts = options(&prefix, var("MYC_SHM_RING") as usize);
            let (mut tx, _rx) = shm::create("link", &opts).unwrap();
            println!("created=1");
            let mut buf = [0u8; 24];
            for seq in var("MYC_SHM_START")..=var("MYC_SHM_END") {
                tx.send(seq_msg(seq, &mut buf)).unwrap();
            }
            println!("sent=1");
        }
        // Creates the segment, says where it came from, and waits to be killed or released.
        "creator" => {
            let opts = options(&prefix, 4096);
            let (_tx, mut rx) = shm::create("link", &opts).unwrap();
            let from = _tx.segment().reclaimed_from().map(|p| p.to_string());
            println!("reclaimed={}", from.unwrap_or_else(|| "none".into()));
            // Ends when the parent attaches and closes (or dies).
            let _ = rx.recv_with(|_| ());
        }
        // Attaches and writes random bytes over the whole segment through the file.
        "scribbler" => {
            let opts = options(&prefix, 4096);
            let (mut tx, _rx) = attach("link", &opts);
            let mut buf = [0u8; 24];
            for seq in 1..=10 {
                tx.send(seq_msg(seq, &mut buf)).unwrap();
            }
            let name = format!("/{prefix}.link");
            let fd = rustix::shm::open(
                name.as_str(),
                rustix::shm::OFlags::RDWR,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            let len = rustix::fs::fstat(&fd).unwrap().st_size as u64;
            let mut x = var("MYC_SHM_SEED") | 1;
            for i in 0..20_000 {
                // Keep sending while scribbling: the reader reads while the bytes change.
                if i % 50 == 0 {
                    let _ = tx.try_send(seq_msg(i, &mut buf));
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = x % (len - 8);
                rustix::io::pwrite(&fd, &x.to_le_bytes(), at).unwrap();
            }
            // Ring 1 (attacher to creator) has its write index at offset 896: make it
            // impossible, so that the reader meets at least this corruption.
            rustix::io::pwrite(&fd, &3u64.to_le_bytes(), 896).unwrap();
            println!("scribbled=1");
            // Stay alive until the parent has closed the link.
            let _ = BufReader::new(std::io::stdin()).read_line(&mut String::new());
        }
        other => panic!("unknown role {other}"),
    }
}

/// Attaches to the segment that the other process created (it said so before we got here).
fn attach(link: &str, opts: &ShmOptions) -> (shm::ShmSender, shm::ShmReceiver) {
    shm::open(link, opts).unwrap_or_else(|e| panic!("cannot attach: {e}"))
}

fn messages() -> u64 {
    std::env::var("MYC_SHM_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

#[test]
fn two_processes_stream_millions_of_messages_each_checked() {
    let p = prefix("stream");
    let n = messages();
    let opts = options(&p, 1 << 16);
    let (mut tx, mut rx) = shm::create("link", &opts).unwrap();
    let mut child = Proc::spawn(
        "reader",
        &p,
        &[
            ("MYC_SHM_RING", (1 << 16).to_string()),
            ("MYC_SHM_START", "1".into()),
        ],
    );
    let mut buf = [0u8; 24];
    for seq in 1..=n {
        tx.send(seq_msg(seq, &mut buf)).unwrap();
    }
    drop(tx); // closes our outgoing ring: the reader stops after the last message
    let last = rx
        .recv_timeout_with(Some(PATIENCE), |m| {
            u64::from_le_bytes(m.try_into().unwrap())
        })
        .unwrap()
        .expect("the reader answers");
    assert_eq!(last, n);
    assert_eq!(child.expect("last"), n.to_string());
    assert!(child.finish().success());
    drop(rx);
    assert!(!exists(&p, "link"));
}

#[test]
fn a_reader_killed_mid_stream_leaves_an_exact_report_and_a_restart_resumes() {
    let p = prefix("killreader");
    let opts = options(&p, 4096);
    let total = 60_000u64;
    let mut resume_at = 1;
    for round in 0..3 {
        let (mut tx, rx) = shm::create("link", &opts).unwrap();
        let mut child = Proc::spawn(
            "reader",
            &p,
            &[
                ("MYC_SHM_RING", "4096".into()),
                ("MYC_SHM_START", resume_at.to_string()),
            ],
        );
        child.expect("attached");
        let mut buf = [0u8; 24];
        let upto = resume_at + 10_000;
        for seq in resume_at..upto {
            tx.send(seq_msg(seq, &mut buf)).unwrap();
        }
        // The ring holds ~128 more: the reader is in the middle of them.
        child.kill9();
        assert!(!tx.peer_alive());
        let lost: Vec<u64> = tx.unconsumed().unwrap().iter().map(|m| seq_of(m)).collect();
        // Exact: what the reader never consumed is a contiguous tail ending at the last sent.
        if let (Some(&first), Some(&last)) = (lost.first(), lost.last()) {
            assert_eq!(last, upto - 1, "round {round}");
            assert_eq!(lost, (first..=last).collect::<Vec<_>>(), "round {round}");
            resume_at = first;
        } else {
            resume_at = upto;
        }
        // The next sender refuses to write into a dead reader's ring.
        let err = loop {
            match tx.send(seq_msg(upto, &mut buf)) {
                Ok(()) => continue,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, ShmError::PeerGone { .. }), "{err}");
        drop((tx, rx));
        assert!(
            !exists(&p, "link"),
            "round {round}: segment left after the reader died"
        );
    }
    // A last reader takes the rest from where the report said, and everything arrives once.
    let (mut tx, mut rx) = shm::create("link", &opts).unwrap();
    let child = Proc::spawn(
        "reader",
        &p,
        &[
            ("MYC_SHM_RING", "4096".into()),
            ("MYC_SHM_START", resume_at.to_string()),
        ],
    );
    let mut buf = [0u8; 24];
    for seq in resume_at..=total {
        tx.send(seq_msg(seq, &mut buf)).unwrap();
    }
    drop(tx);
    let last = rx
        .recv_timeout_with(Some(PATIENCE), |m| {
            u64::from_le_bytes(m.try_into().unwrap())
        })
        .unwrap();
    assert_eq!(last, Some(total));
    assert!(child.finish().success());
}

#[test]
fn a_writer_killed_mid_stream_is_detected_and_a_restart_resumes() {
    let p = prefix("killwriter");
    let mut next = 1u64;
    let end = 40_000u64;
    for round in 0..3 {
        let mut child = Proc::spawn(
            "writer",
            &p,
            &[
                ("MYC_SHM_RING", "4096".into()),
                ("MYC_SHM_START", next.to_string()),
                ("MYC_SHM_END", end.to_string()),
            ],
        );
        child.expect("created");
        let (_tx, mut rx) = attach("link", &options(&p, 4096));
        for _ in 0..5_000 {
            let seq = rx
                .recv_timeout_with(Some(PATIENCE), seq_of)
                .unwrap()
                .unwrap();
            assert_eq!(seq, next, "round {round}");
            next += 1;
        }
        child.kill9();
        // Everything the writer published arrives, in order; then its death is reported.
        let err = loop {
            match rx.recv_timeout_with(Some(PATIENCE), seq_of) {
                Ok(Some(seq)) => {
                    assert_eq!(seq, next, "round {round}");
                    next += 1;
                }
                Ok(None) => panic!("neither a message nor the writer's death"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, ShmError::PeerGone { .. }), "{err}");
        drop((_tx, rx));
        assert!(
            !exists(&p, "link"),
            "round {round}: segment left after the writer died"
        );
    }
    let mut child = Proc::spawn(
        "writer",
        &p,
        &[
            ("MYC_SHM_RING", "4096".into()),
            ("MYC_SHM_START", next.to_string()),
            ("MYC_SHM_END", end.to_string()),
        ],
    );
    child.expect("created");
    let (_tx, mut rx) = attach("link", &options(&p, 4096));
    while next <= end {
        let seq = rx
            .recv_timeout_with(Some(PATIENCE), seq_of)
            .unwrap()
            .unwrap();
        assert_eq!(seq, next);
        next += 1;
    }
    assert!(child.finish().success());
}

#[test]
fn a_segment_left_by_kill_9_is_reclaimed_by_the_restart() {
    let p = prefix("reclaim");
    let mut first = Proc::spawn("creator", &p, &[]);
    assert_eq!(first.expect("reclaimed"), "none");
    let dead = first.child.id();
    first.kill9();
    assert!(exists(&p, "link"), "kill -9 leaves the segment behind");
    let mut second = Proc::spawn("creator", &p, &[]);
    assert_eq!(second.expect("reclaimed"), dead.to_string());
    // Attach, then close: the creator returns, both sides are done, nothing is left.
    let ends = attach("link", &options(&p, 4096));
    drop(ends);
    assert!(second.finish().success());
    assert!(!exists(&p, "link"));
}

#[test]
fn a_hostile_peer_scribbling_over_the_segment_closes_the_link_without_a_crash() {
    for seed in [1u64, 2, 3] {
        let p = prefix(&format!("hostile{seed}"));
        let (_tx, mut rx) = shm::create("link", &options(&p, 4096)).unwrap();
        let child = Proc::spawn("scribbler", &p, &[("MYC_SHM_SEED", seed.to_string())]);
        let mut received = 0;
        let err = loop {
            match rx.recv_timeout_with(Some(PATIENCE), |m| m.len()) {
                Ok(Some(len)) => {
                    assert!(len <= 4096 / 2);
                    received += 1;
                    assert!(
                        received < 10_000,
                        "a corrupt ring must not yield messages forever"
                    );
                }
                Ok(None) => panic!("no verdict on a scribbled ring"),
                Err(e) => break e,
            }
        };
        // A scribble over the peer's closed flag reads as a close: the link still ends, with
        // a reason, and nothing crashed.
        assert!(
            matches!(
                err,
                ShmError::Ring(RingError::Corrupt(_) | RingError::Closed)
                    | ShmError::PeerGone { .. }
            ),
            "seed {seed}: {err}"
        );
        drop((_tx, rx));
        drop(child);
        assert!(!exists(&p, "link"));
    }
}

//! Unit tests of segment management.

use super::*;
use crate::shm::owner::{owner_alive, owner_alive_for};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    segment_name(
        &format!("myc-unit-{}", std::process::id()),
        &format!("{tag}-{n}"),
    )
    .unwrap()
}

/// A segment name under a prefix of its own (`myc-<tag>-<pid>`), and the prefix: for a test
/// that sweeps, whose sweep must not reach the other tests' segments (a dead owner's, which
/// one of them leaves for a moment, would go).
fn alone(tag: &str) -> (String, String) {
    let prefix = format!("myc-{tag}-{}", std::process::id());
    let name = segment_name(&prefix, "x").unwrap();
    (prefix, name)
}

fn exists(name: &str) -> bool {
    shm::open(name, shm::OFlags::RDONLY, Mode::empty()).is_ok()
}

const D: [u8; 32] = [3; 32];

#[test]
fn names_are_checked() {
    assert_eq!(segment_name("myc", "a-b").unwrap(), "/myc.a-b");
    assert!(segment_name("myc", "a/b").is_err());
    assert!(segment_name("", "a").is_err());
    assert!(segment_name("myc", &"x".repeat(300)).is_err());
}

#[test]
fn create_open_and_both_drops_unlink() {
    let name = unique("pair");
    let a = Arc::new(Segment::create(&name, 4096, D).unwrap());
    let st = rustix::fs::fstat(&a.fd).unwrap();
    assert_eq!(st.st_mode & 0o777, 0o600);
    assert_eq!(a.peer_pid(), None);
    let b = Arc::new(Segment::open(&name, D).unwrap());
    assert_eq!(b.ring_bytes(), 4096);
    assert_eq!(a.peer_pid(), Some(std::process::id()));
    let ((mut a_tx, _a_rx), (_b_tx, mut b_rx)) = (a.ends(), b.ends());
    a_tx.try_push(b"over shared memory").unwrap();
    assert_eq!(
        b_rx.try_pop_with(|m| m.to_vec()).unwrap().as_deref(),
        Some(&b"over shared memory"[..])
    );
    drop((a_tx, _a_rx, a));
    assert!(exists(&name), "the attacher still uses it");
    drop((_b_tx, b_rx, b));
    assert!(!exists(&name));
}

#[test]
fn a_creator_alone_unlinks_on_drop() {
    let name = unique("alone");
    drop(Segment::create(&name, 4096, D).unwrap());
    assert!(!exists(&name));
}

#[test]
fn a_second_attach_is_refused() {
    let name = unique("twice");
    let _a = Segment::create(&name, 4096, D).unwrap();
    let _b = Segment::open(&name, D).unwrap();
    let err = Segment::open(&name, D).unwrap_err();
    assert!(err.to_string().contains("already attached"), "{err}");
}

#[test]
fn a_failed_second_attach_leaves_the_attacher_alive() {
    let name = unique("twice-alive");
    let a = Segment::create(&name, 4096, D).unwrap();
    let b = Segment::open(&name, D).unwrap();
    assert!(a.peer_alive());
    // Another process (another start time) tries to attach too, and loses.
    let other = Me {
        start: me().start + 1,
        ..me()
    };
    let err = Segment::open_as(&name, D, other).unwrap_err();
    assert!(err.to_string().contains("already attached"), "{err}");
    assert!(a.peer_alive(), "the live attacher still counts as alive");
    assert_eq!(
        a.header().owners[1].start.load(Ordering::Relaxed),
        me().start
    );
    drop(a);
    assert!(
        exists(&name),
        "the creator did not unlink the live attacher's segment"
    );
    drop(b);
    assert!(!exists(&name));
}

#[test]
fn a_different_schema_is_refused_with_both_digests() {
    let name = unique("schema");
    let _a = Segment::create(&name, 4096, D).unwrap();
    let err = Segment::open(&name, [4; 32]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&"03".repeat(32)) && msg.contains(&"04".repeat(32)),
        "{msg}"
    );
    // The refused attempt did not take the attacher's place.
    Segment::open(&name, D).unwrap();
}

#[test]
fn a_live_owner_keeps_its_segment() {
    let name = unique("live");
    let _a = Segment::create(&name, 4096, D).unwrap();
    match Segment::create(&name, 4096, D) {
        Err(ShmError::InUse { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected InUse, got {other:?}"),
    }
}

/// A pid that surely belonged to a process that is now dead.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_segment_whose_owners_died_is_replaced() {
    let name = unique("stale");
    let a = Segment::create(&name, 4096, D).unwrap();
    let dead = dead_pid();
    a.header().owners[0].pid.store(dead, Ordering::Relaxed);
    a.abandon();
    let fresh = Segment::create(&name, 8192, D).unwrap();
    assert_eq!(fresh.reclaimed_from(), Some(dead));
    assert_eq!(fresh.ring_bytes(), 8192);
    drop(fresh);
    assert!(!exists(&name));
}

#[test]
fn a_reused_pid_is_not_mistaken_for_the_owner() {
    let name = unique("reused");
    let a = Segment::create(&name, 4096, D).unwrap();
    // Our own pid, but another start time: the process that created it is gone.
    a.header().owners[0].start.fetch_add(1, Ordering::Relaxed);
    a.abandon();
    let fresh = Segment::create(&name, 4096, D).unwrap();
    assert_eq!(fresh.reclaimed_from(), Some(std::process::id()));
}

#[test]
fn garbage_under_the_name_is_replaced_and_refused_by_open() {
    let name = unique("garbage");
    let fd = shm::open(
        name.as_str(),
        shm::OFlags::CREATE | shm::OFlags::RDWR,
        Mode::RUSR | Mode::WUSR,
    )
    .unwrap();
    rustix::fs::ftruncate(&fd, 100).unwrap();
    let err = Segment::open(&name, D).unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");
    rustix::fs::ftruncate(&fd, 10_000).unwrap();
    rustix::io::write(&fd, &[0xAB; 512]).unwrap();
    let err = Segment::open(&name, D).unwrap_err();
    assert!(
        err.to_string().contains("not finished") || err.to_string().contains("magic"),
        "{err}"
    );
    let fresh = Segment::create(&name, 4096, D).unwrap();
    assert_eq!(fresh.reclaimed_from(), Some(0));
}

#[test]
fn a_segment_open_to_others_is_refused() {
    let name = unique("mode");
    let _a = Segment::create(&name, 4096, D).unwrap();
    rustix::fs::fchmod(&_a.fd, Mode::from_raw_mode(0o644)).unwrap();
    let err = Segment::open(&name, D).unwrap_err();
    assert!(err.to_string().contains("other users"), "{err}");
}

#[test]
fn a_missing_segment_is_an_io_error_naming_it() {
    let name = unique("missing");
    let err = Segment::open(&name, D).unwrap_err();
    assert!(
        matches!(err, ShmError::Io { .. }) && err.to_string().contains(&name),
        "{err}"
    );
}

#[test]
fn liveness_of_owners() {
    let me = me();
    assert!(me.can_judge(), "this test needs /proc: {me:?}");
    assert!(owner_alive(me.pid, me.start, me.ns));
    assert!(!owner_alive(me.pid, me.start + 1, me.ns));
    let dead = dead_pid();
    assert!(!owner_alive(dead, me.start, me.ns));
}

#[test]
fn an_owner_in_another_pid_namespace_counts_as_alive() {
    let me = me();
    let dead = dead_pid();
    // A dead pid, another start time: in our namespace it would be dead.
    assert!(!owner_alive_for(&me, dead, me.start + 1, me.ns));
    assert!(owner_alive_for(&me, dead, me.start + 1, me.ns + 1));
    assert!(owner_alive_for(&me, me.pid, me.start + 1, me.ns ^ 0x5a5a));
}

#[test]
fn an_owner_whose_liveness_cannot_be_told_counts_as_alive() {
    let me = me();
    let dead = dead_pid();
    // Recorded without a start time, or without a namespace.
    assert!(owner_alive_for(&me, dead, 0, me.ns));
    assert!(owner_alive_for(&me, dead, me.start, 0));
    // Judged by a process that cannot read /proc of its namespace.
    let blind = Me { start: 0, ..me };
    assert!(owner_alive_for(&blind, dead, me.start, me.ns));
    let lost = Me { ns: 0, ..me };
    assert!(owner_alive_for(&lost, dead, me.start, me.ns));
}

#[test]
fn a_segment_of_another_pid_namespace_is_kept() {
    let (prefix, name) = alone("foreign");
    let a = Segment::create(&name, 4096, D).unwrap();
    // As another container would leave it: an owner pid that is dead here, its namespace.
    let owner = &a.header().owners[0];
    owner.pid.store(dead_pid(), Ordering::Relaxed);
    owner.ns.fetch_add(1, Ordering::Relaxed);
    a.abandon();
    let err = Segment::create(&name, 4096, D).unwrap_err();
    assert!(matches!(err, ShmError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("another pid namespace"), "{err}");
    let taken = Segment::create(&name, 4096, D).unwrap_err();
    assert!(matches!(taken, ShmError::InUse { .. }), "{taken}");
    assert!(!sweep(&prefix).contains(&name));
    assert!(exists(&name), "neither create nor sweep removed it");
    shm::unlink(name.as_str()).unwrap();
}

/// Leaves `seg`'s attacher slot as an attacher that died after claiming it and before
/// recording its start time and namespace would.
fn claimed_by_a_dead_attacher(seg: &Segment) -> u32 {
    let dead = dead_pid();
    seg.header().owners[1].pid.store(dead, Ordering::Release);
    dead
}

#[test]
fn an_attacher_that_died_while_claiming_does_not_keep_a_dead_creators_segment() {
    let name = unique("halfclaim");
    let a = Segment::create(&name, 4096, D).unwrap();
    let creator = dead_pid();
    a.header().owners[0].pid.store(creator, Ordering::Relaxed);
    claimed_by_a_dead_attacher(&a);
    a.abandon();
    let fresh = Segment::create(&name, 4096, D).unwrap();
    assert_eq!(fresh.reclaimed_from(), Some(creator));
    drop(fresh);
    assert!(!exists(&name));
}

#[test]
fn a_creator_unlinks_on_drop_past_an_attacher_that_died_while_claiming() {
    let name = unique("halfclaimdrop");
    let a = Segment::create(&name, 4096, D).unwrap();
    claimed_by_a_dead_attacher(&a);
    // While the creator runs, the half-recorded attacher is not judged dead: its start time
    // is unknown (the creator learns of its death from the link's socket).
    assert!(a.peer_alive());
    drop(a);
    assert!(!exists(&name));
}

#[test]
fn a_recorded_attacher_of_unknown_liveness_keeps_a_dead_creators_segment() {
    let name = unique("recorded");
    let a = Segment::create(&name, 4096, D).unwrap();
    let b = Segment::open(&name, D).unwrap();
    // The attacher recorded itself without a start time (its `/proc` was not readable).
    a.header().owners[1].start.store(0, Ordering::Relaxed);
    a.header().owners[0]
        .pid
        .store(dead_pid(), Ordering::Relaxed);
    a.abandon();
    b.abandon();
    let err = Segment::create(&name, 4096, D).unwrap_err();
    assert!(matches!(err, ShmError::InUse { .. }), "{err}");
    shm::unlink(name.as_str()).unwrap();
}

#[test]
fn a_segment_without_an_owner_start_time_is_kept() {
    let name = unique("nostart");
    let a = Segment::create(&name, 4096, D).unwrap();
    let owner = &a.header().owners[0];
    owner.pid.store(dead_pid(), Ordering::Relaxed);
    owner.start.store(0, Ordering::Relaxed);
    a.abandon();
    let err = Segment::create(&name, 4096, D).unwrap_err();
    assert!(matches!(err, ShmError::InUse { .. }), "{err}");
    assert!(exists(&name));
    shm::unlink(name.as_str()).unwrap();
}

#[test]
fn a_segment_of_another_layout_version_is_kept() {
    let name = unique("version");
    let a = Segment::create(&name, 4096, D).unwrap();
    a.header().version.store(1, Ordering::Relaxed);
    a.header().owners[0]
        .pid
        .store(dead_pid(), Ordering::Relaxed);
    a.abandon();
    let err = Segment::create(&name, 4096, D).unwrap_err();
    assert!(err.to_string().contains("layout version 1"), "{err}");
    assert!(err.to_string().contains("remove /dev/shm"), "{err}");
    assert!(exists(&name));
    shm::unlink(name.as_str()).unwrap();
}

#[test]
fn sweep_removes_dead_segments_of_its_prefix_only() {
    let prefix = format!("myc-sweep-{}", std::process::id());
    let dead = segment_name(&prefix, "dead").unwrap();
    let live = segment_name(&prefix, "live").unwrap();
    let other = unique("other-prefix");
    for name in [&dead, &other] {
        let seg = Segment::create(name, 4096, D).unwrap();
        seg.header().owners[0]
            .pid
            .store(dead_pid(), Ordering::Relaxed);
        seg.abandon();
    }
    let _live = Segment::create(&live, 4096, D).unwrap();
    assert_eq!(sweep(&prefix), vec![dead.clone()]);
    assert!(!exists(&dead));
    assert!(exists(&live));
    assert!(exists(&other), "another prefix is not swept");
    Segment::reclaim(&other).unwrap();
}

#[test]
fn of_two_creators_racing_for_a_name_at_most_one_succeeds() {
    use std::sync::Barrier;
    const ROUNDS: usize = 500;
    let name = unique("race");
    let barrier = Barrier::new(2);
    let oks = std::thread::scope(|scope| {
        let racer = || {
            let mut oks = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                barrier.wait();
                let seg = Segment::create(&name, 4096, D);
                oks.push(seg.is_ok());
                // Both have tried before either lets its segment go.
                barrier.wait();
                drop(seg);
                barrier.wait();
            }
            oks
        };
        let a = scope.spawn(racer);
        let b = scope.spawn(racer);
        (a.join().unwrap(), b.join().unwrap())
    });
    let both: Vec<usize> = (0..ROUNDS).filter(|&i| oks.0[i] && oks.1[i]).collect();
    assert!(
        both.is_empty(),
        "both creators succeeded in rounds {both:?}"
    );
    assert!(!exists(&name));
}

#[test]
fn an_unfinished_segment_is_left_alone_until_it_is_stale() {
    let (prefix, name) = alone("unfinished");
    // As a creator leaves it between creating the object and sizing it.
    let fd = shm::open(
        name.as_str(),
        shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
        Mode::RUSR | Mode::WUSR,
    )
    .unwrap();
    let err = Segment::create(&name, 4096, D).unwrap_err();
    assert!(err.to_string().contains("setting it up"), "{err}");
    // Sized, header not written yet.
    rustix::fs::ftruncate(&fd, total_len(4096) as u64).unwrap();
    let err = Segment::create(&name, 4096, D).unwrap_err();
    assert!(err.to_string().contains("setting it up"), "{err}");
    assert!(sweep(&prefix).is_empty());
    assert!(exists(&name));
    // Once stale (here: declared so), it goes.
    Segment::reclaim_if(&name, |_| true).unwrap();
    assert!(!exists(&name));
}

/// Set for the child of `a_live_segment_of_another_pid_namespace_survives_create`: the name
/// of the segment it creates.
const NS_CHILD: &str = "MYCELIUM_SHM_TEST_NS_CHILD";

/// In that child only (otherwise it does nothing): creates the segment, holds it until its
/// standard input closes, then drops it.
#[test]
fn ns_child_holds_a_segment() {
    let Ok(name) = std::env::var(NS_CHILD) else {
        return;
    };
    let seg = Segment::create(&name, 4096, D).unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(seg);
}

/// Kills and reaps the child when the test ends, however it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_live_segment_of_another_pid_namespace_survives_create() {
    use std::process::{Command, Stdio};
    let userns = Command::new("unshare")
        .args(["-Urpf", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(userns, Ok(s) if s.success()) {
        eprintln!("skipped: unprivileged user and pid namespaces are not available here");
        return;
    }
    let (prefix, name) = alone("ns");
    let child = Command::new("unshare")
        .args(["-Urpf", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "shm::segment::tests::ns_child_holds_a_segment",
            "--test-threads=1",
            "--quiet",
        ])
        .env(NS_CHILD, &name)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    // What `create` does when it finds the name taken, tried until the child has set the
    // segment up (before: missing, or being set up).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let err = loop {
        match Segment::reclaim(&name) {
            Err(e @ ShmError::InUse { .. }) => break e,
            Err(_) if std::time::Instant::now() < deadline => {}
            Ok(_) => panic!("the live segment of another pid namespace was removed"),
            Err(e) => panic!("the child did not set its segment up: {e}"),
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the child ended early: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(err.to_string().contains("another pid namespace"), "{err}");
    let taken = Segment::create(&name, 4096, D).unwrap_err();
    assert!(matches!(taken, ShmError::InUse { .. }), "{taken}");
    assert!(sweep(&prefix).is_empty());
    assert!(exists(&name));
    drop(child.0.stdin.take());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!exists(&name), "the child removed its segment");
}

/// Set for the child of `a_full_dev_shm_is_an_error_not_a_sigbus`, which runs with a 256 KiB
/// tmpfs on `/dev/shm`.
const FULL_CHILD: &str = "MYCELIUM_SHM_TEST_FULL_CHILD";

/// In that child only (otherwise it does nothing): creates a segment larger than its
/// `/dev/shm`.
#[test]
fn full_child_creates_a_segment() {
    if std::env::var_os(FULL_CHILD).is_none() {
        return;
    }
    let name = unique("full");
    match Segment::create(&name, 1 << 20, D) {
        Err(e @ ShmError::NoSpace { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("/dev/shm") && text.contains("ring_bytes"),
                "{text}"
            );
        }
        Err(e) => panic!("another error than NoSpace: {e}"),
        Ok(seg) => {
            // What a link would do with it: writing the ring reaches a page that tmpfs
            // cannot back (a SIGBUS).
            let seg = Arc::new(seg);
            let (mut tx, _rx) = seg.ends();
            while let Ok(true) = tx.try_push(&[7; 4096]) {}
            panic!("a segment larger than /dev/shm was created and filled");
        }
    }
    assert!(
        !exists(&name),
        "the name of the failed segment was left behind"
    );
}

#[test]
fn a_full_dev_shm_is_an_error_not_a_sigbus() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let mount = "mount -t tmpfs -o size=256k none /dev/shm";
    let userns = Command::new("unshare")
        .args(["-Urm", "sh", "-c", mount])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(userns, Ok(s) if s.success()) {
        eprintln!("skipped: unprivileged user and mount namespaces are not available here");
        return;
    }
    let status = Command::new("unshare")
        .args(["-Urm", "sh", "-c"])
        .arg(format!("{mount} && exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "shm::segment::tests::full_child_creates_a_segment",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(FULL_CHILD, "1")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        None,
        "the child died by a signal: {status}"
    );
    assert!(status.success(), "{status}");
}

/// Creates a segment of `name` while `fake` stands in for `fallocate` on this thread, and
/// counts the calls.
fn create_with_fallocate(
    name: &str,
    mut fake: impl FnMut(u32) -> Result<(), Errno> + 'static,
) -> (Result<Segment, ShmError>, u32) {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    FAKE_FALLOCATE.set(Some(Box::new(move || {
        fake(counted.fetch_add(1, Ordering::Relaxed) + 1)
    })));
    // Cleared even if `create` panics, so that no other test on this thread sees it.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            FAKE_FALLOCATE.set(None);
        }
    }
    let _clear = Clear;
    let created = Segment::create(name, 4096, D);
    (created, calls.load(Ordering::Relaxed))
}

/// The segment carries a message from one end to the other.
fn works(seg: Segment) {
    let name = seg.name().to_owned();
    let a = Arc::new(seg);
    let b = Arc::new(Segment::open(&name, D).unwrap());
    let ((mut a_tx, _a_rx), (_b_tx, mut b_rx)) = (a.ends(), b.ends());
    a_tx.try_push(b"reserved").unwrap();
    assert_eq!(
        b_rx.try_pop_with(|m| m.to_vec()).unwrap().as_deref(),
        Some(&b"reserved"[..])
    );
}

#[test]
fn a_reservation_interrupted_a_few_times_is_retried() {
    let name = unique("eintr");
    let (created, calls) =
        create_with_fallocate(
            &name,
            |call| if call <= 3 { Err(Errno::INTR) } else { Ok(()) },
        );
    works(created.unwrap());
    assert_eq!(calls, 4);
    assert!(!exists(&name));
}

#[test]
fn a_reservation_interrupted_every_time_gives_up_after_its_bound_and_says_so() {
    let name = unique("eintr-forever");
    let (created, calls) = create_with_fallocate(&name, |_| Err(Errno::INTR));
    assert_eq!(calls, RESERVE_TRIES);
    let Err(err) = created else {
        panic!("created despite the failed reservation")
    };
    assert!(matches!(err, ShmError::Io { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&name)
            && text.contains(&format!("interrupted by a signal {RESERVE_TRIES} times")),
        "{text}"
    );
    assert!(!exists(&name), "a segment that failed is unlinked");
}

#[test]
fn a_file_system_that_cannot_reserve_leaves_pages_to_their_first_touch() {
    for errno in [Errno::OPNOTSUPP, Errno::NOSYS] {
        let name = unique("no-fallocate");
        let (created, calls) = create_with_fallocate(&name, move |_| Err(errno));
        works(created.unwrap_or_else(|e| panic!("{errno:?}: {e}")));
        assert_eq!(calls, 1, "{errno:?} is not retried");
        assert!(!exists(&name));
    }
}

#[test]
fn no_space_is_no_space_and_another_failure_names_what_failed() {
    for errno in [Errno::NOSPC, Errno::NOMEM, Errno::FBIG] {
        let name = unique("nospace");
        let (created, _) = create_with_fallocate(&name, move |_| Err(errno));
        let Err(err) = created else {
            panic!("created despite the failed reservation")
        };
        assert!(
            matches!(err, ShmError::NoSpace { .. }),
            "{errno:?}: {err:?}"
        );
        assert!(err.to_string().contains("df /dev/shm"), "{err}");
        assert!(!exists(&name));
    }
    let name = unique("eio");
    let (created, calls) = create_with_fallocate(&name, |_| Err(Errno::IO));
    assert_eq!(calls, 1, "an I/O error is not retried");
    let Err(err) = created else {
        panic!("created despite the failed reservation")
    };
    let text = err.to_string();
    assert!(matches!(err, ShmError::Io { .. }), "{err:?}");
    assert!(
        text.contains(&name) && text.contains("reserve its memory (fallocate)"),
        "{text}"
    );
    assert!(
        text.contains(&std::io::Error::from(Errno::IO).to_string()),
        "{text}"
    );
    assert!(!exists(&name));
}

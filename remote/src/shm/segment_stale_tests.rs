//! Unit tests of segment management: a name already taken, replaced when its owners are dead
//! and kept otherwise (a live owner, one of another pid namespace, one whose liveness cannot
//! be told, another layout version, a segment still being set up), and sweeping a prefix.

use super::create_tests::{exists, unique, D};
use super::*;
use crate::shm::owner::{owner_alive, owner_alive_for};

/// A segment name under a prefix of its own (`myc-<tag>-<pid>`), and the prefix: for a test
/// that sweeps, whose sweep must not reach the other tests' segments (a dead owner's, which
/// one of them leaves for a moment, would go).
fn alone(tag: &str) -> (String, String) {
    let prefix = format!("myc-{tag}-{}", std::process::id());
    let name = segment_name(&prefix, "x").unwrap();
    (prefix, name)
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
            "shm::segment::stale_tests::ns_child_holds_a_segment",
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

//! Unit tests of segment management: names, creating and attaching, what each drop leaves,
//! and creators racing for one name; and the helpers the other segment tests share.

use super::*;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other test (or test run) uses.
pub(super) fn unique(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    segment_name(
        &format!("myc-unit-{}", std::process::id()),
        &format!("{tag}-{n}"),
    )
    .unwrap()
}

pub(super) fn exists(name: &str) -> bool {
    shm::open(name, shm::OFlags::RDONLY, Mode::empty()).is_ok()
}

pub(super) const D: [u8; 32] = [3; 32];

#[test]
fn names_are_checked() {
    assert_eq!(segment_name("myc", "a-b").unwrap(), "/myc.a-b");
    assert!(segment_name("myc", "a/b").is_err());
    assert!(segment_name("", "a").is_err());
    assert!(segment_name("myc", &"x".repeat(300)).is_err());
}

#[test]
fn create_open_and_the_first_drop_unlinks() {
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
    assert!(
        !exists(&name),
        "the creator's drop ended the segment's life"
    );
    // The attacher's mapping stays until it drops it: it reads that the writer closed.
    assert!(matches!(
        b_rx.try_pop_with(|m| m.to_vec()),
        Err(crate::shm::error::RingError::Closed)
    ));
    drop((_b_tx, b_rx, b));
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
    // Either side's drop ends the segment's one life and removes its name; the other keeps
    // its mapping.
    drop(a);
    assert!(!exists(&name));
    assert_eq!(b.header().done.load(Ordering::Relaxed), 1);
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

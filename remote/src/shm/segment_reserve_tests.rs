//! Unit tests of segment management: reserving the memory of a segment (`fallocate`
//! interrupted, unsupported or failing) and a `/dev/shm` too small for it.

use super::create_tests::{exists, unique, D};
use super::*;

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
            "shm::segment::reserve_tests::full_child_creates_a_segment",
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

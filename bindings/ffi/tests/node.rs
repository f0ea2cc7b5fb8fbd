//! The entry points added for hosts that are programs of their own (the OCaml binding):
//! nodes of a topology, asks measured from Rust, and failed starts that return only once the
//! callbacks are released.

use std::ffi::{c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use mycelium_codec::WireMessage;
use mycelium_contracts::Heartbeat;
use mycelium_ffi::*;

mod common;
use common::{handle, start_fails};

fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string valid until the next call.
    unsafe { CStr::from_ptr(myc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn heartbeat(seq: u64) -> Vec<u8> {
    let mut body = Vec::new();
    Heartbeat {
        ts_ns: 0,
        seq,
        sender: "test".into(),
    }
    .encode_body(&mut body);
    body
}

fn empty() -> MycBytes {
    MycBytes {
        data: null_mut(),
        len: 0,
        capacity: 0,
    }
}

/// Asks `service` through `node`; the reply's seq.
unsafe fn node_ask(node: *const MycNode, service: &CStr, seq: u64) -> Result<u64, MycStatus> {
    let body = heartbeat(seq);
    let (mut t, mut reply) = (0u16, empty());
    // SAFETY: live node, valid pointers.
    let st = unsafe {
        myc_node_ask(
            node,
            service.as_ptr(),
            900,
            body.as_ptr(),
            body.len(),
            20_000,
            &mut t,
            &mut reply,
        )
    };
    if st != MycStatus::Ok {
        return Err(st);
    }
    assert_eq!(t, 900);
    // SAFETY: filled by the library.
    let bytes = unsafe { std::slice::from_raw_parts(reply.data, reply.len) }.to_vec();
    // SAFETY: filled by the library, freed once.
    unsafe { myc_bytes_free(&mut reply) };
    Ok(Heartbeat::decode_body(&bytes).expect("a heartbeat").seq)
}

/// A private temporary directory, removed on drop (also when the test fails).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private temporary directory with `topology.toml` holding nodes `a` (service `left`) and
/// `b` (service `right`) over Unix sockets, `link` (a `[link]` table, or nothing) before them,
/// and the secret in the environment variable `secret_env`. Returns the directory and the
/// file's path.
fn two_node_topology(tag: &str, secret_env: &str, link: &str) -> (TempDir, CString) {
    let dir = std::env::temp_dir().join(format!("mycelium-ffi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .expect("temp dir");
    let file = dir.join("topology.toml");
    std::fs::write(
        &file,
        format!(
            "secret_env = \"{secret_env}\"\n{link}\
             [[node]]\nname = \"a\"\nendpoint = \"unix:a.sock\"\nservices = [\"left\"]\n\
             [[node]]\nname = \"b\"\nendpoint = \"unix:b.sock\"\nservices = [\"right\"]\n"
        ),
    )
    .expect("topology");
    std::env::set_var(secret_env, "a secret of at least sixteen bytes");
    let path = CString::new(file.to_string_lossy().into_owned()).expect("path");
    (TempDir(dir), path)
}

#[test]
fn two_buses_are_two_nodes_of_a_topology_over_unix_sockets() {
    let (_dir, path) = two_node_topology("node", "MYCELIUM_FFI_NODE_TEST_SECRET", "");
    unsafe {
        let (mut a, mut b) = (null_mut(), null_mut());
        assert_eq!(myc_bus_new(false, 1, &mut a), MycStatus::Ok);
        assert_eq!(myc_bus_new(false, 2, &mut b), MycStatus::Ok);
        assert_eq!(
            myc_spawn_rust(a, c"counter".as_ptr(), null(), c"left".as_ptr()),
            MycStatus::Ok
        );
        assert_eq!(
            myc_spawn_rust(b, c"counter".as_ptr(), null(), c"right".as_ptr()),
            MycStatus::Ok
        );

        // Errors: an unknown node, a missing file, null pointers.
        let mut node = null_mut();
        assert_eq!(
            myc_node_start(a, path.as_ptr(), c"nobody".as_ptr(), &mut node),
            MycStatus::InvalidArgument
        );
        assert!(
            last_error().contains("no node `nobody`"),
            "{}",
            last_error()
        );
        assert_eq!(
            myc_node_start(
                a,
                c"/nonexistent/topology.toml".as_ptr(),
                c"a".as_ptr(),
                &mut node
            ),
            MycStatus::InvalidArgument
        );
        assert_eq!(
            myc_node_start(a, null(), c"a".as_ptr(), &mut node),
            MycStatus::InvalidArgument
        );

        let (mut na, mut nb) = (null_mut(), null_mut());
        assert_eq!(
            myc_node_start(a, path.as_ptr(), c"a".as_ptr(), &mut na),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        assert_eq!(
            myc_node_start(b, path.as_ptr(), c"b".as_ptr(), &mut nb),
            MycStatus::Ok
        );
        let mut remote = false;
        assert_eq!(
            myc_node_is_remote(na, c"right".as_ptr(), &mut remote),
            MycStatus::Ok
        );
        assert!(remote);
        assert_eq!(
            myc_node_is_remote(na, c"left".as_ptr(), &mut remote),
            MycStatus::Ok
        );
        assert!(!remote);

        // Across the link both ways, a tell before an ask, and a local service.
        assert_eq!(node_ask(na, c"right", 5), Ok(5));
        let body = heartbeat(10);
        assert_eq!(
            myc_node_tell(na, c"right".as_ptr(), 900, body.as_ptr(), body.len()),
            MycStatus::Ok
        );
        assert_eq!(node_ask(na, c"right", 1), Ok(16));
        assert_eq!(node_ask(nb, c"left", 2), Ok(2));
        assert_eq!(node_ask(na, c"left", 3), Ok(5));
        assert_eq!(node_ask(na, c"nobody", 1), Err(MycStatus::UnknownService));
        // The remote side refuses a type its service does not take: the same kind as on one
        // bus.
        assert_eq!(
            node_ask(na, c"right", 1).and_then(|_| {
                let (mut t, mut reply) = (0u16, empty());
                let st = myc_node_ask(
                    na,
                    c"right".as_ptr(),
                    100,
                    body.as_ptr(),
                    body.len(),
                    20_000,
                    &mut t,
                    &mut reply,
                );
                if st == MycStatus::Ok {
                    Ok(0)
                } else {
                    Err(st)
                }
            }),
            Err(MycStatus::WrongType)
        );
        // A body larger than a frame (1 MiB by default) is the caller's argument to fix:
        // refused before anything is queued, and the link lives on.
        let huge = vec![0u8; 2 << 20];
        assert_eq!(
            myc_node_tell(na, c"right".as_ptr(), 900, huge.as_ptr(), huge.len()),
            MycStatus::InvalidArgument
        );
        assert!(
            last_error().contains("exceeds the link's maximum"),
            "{}",
            last_error()
        );
        let (mut t, mut reply) = (0u16, empty());
        assert_eq!(
            myc_node_ask(
                na,
                c"right".as_ptr(),
                900,
                huge.as_ptr(),
                huge.len(),
                20_000,
                &mut t,
                &mut reply
            ),
            MycStatus::InvalidArgument
        );
        assert_eq!(node_ask(na, c"right", 1), Ok(18));
        assert_eq!(
            myc_node_ask(
                na,
                c"right".as_ptr(),
                900,
                body.as_ptr(),
                body.len(),
                -1,
                null_mut(),
                null_mut()
            ),
            MycStatus::InvalidArgument
        );

        // Topics across the link: b forwards heartbeats, a subscribes to `hb.*` there.
        let publish_on_b = |seq: u64| {
            let body = heartbeat(seq);
            let mut delivered = usize::MAX;
            let st = myc_publish(
                b,
                900,
                c"hb.b".as_ptr(),
                body.as_ptr(),
                body.len(),
                null(),
                &mut delivered,
            );
            assert_eq!(st, MycStatus::Ok, "{}", last_error());
            delivered
        };
        assert_eq!(myc_node_forward_topic(nb, 900), MycStatus::Ok);
        assert_eq!(myc_node_forward_topic(nb, 1), MycStatus::WrongType);
        assert_eq!(publish_on_b(1), 0, "nobody subscribed yet");
        assert_eq!(
            myc_node_subscribe_remote(na, 900, c"hb.*.x".as_ptr()),
            MycStatus::InvalidArgument
        );
        assert!(
            last_error().contains("may only stand alone as the last segment"),
            "{}",
            last_error()
        );
        assert_eq!(
            myc_node_subscribe_remote(na, 1, c"hb.*".as_ptr()),
            MycStatus::WrongType
        );
        assert_eq!(
            myc_node_subscribe_remote(na, 900, null()),
            MycStatus::InvalidArgument
        );
        assert_eq!(
            myc_node_subscribe_remote(na, 900, c"hb.*".as_ptr()),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        // The ask follows the subscription on the link: once answered, b serves it, and a
        // publication there has one subscriber more, the link to a (the bad pattern above
        // sent nothing).
        assert_eq!(node_ask(na, c"right", 0), Ok(18));
        assert_eq!(publish_on_b(2), 1);
        // The policy, by name: refused with the names allowed, or a capacity it does not
        // take, before anything is sent; a known one changes the subscription's policy.
        assert_eq!(
            myc_node_subscribe_remote_with(na, 900, c"hb.*".as_ptr(), c"newest".as_ptr(), 0),
            MycStatus::InvalidArgument
        );
        assert!(
            last_error().contains(
                "overflow must be one of block, drop_newest, drop_oldest, latest_per_key; got `newest`"
            ),
            "{}",
            last_error()
        );
        assert_eq!(
            myc_node_subscribe_remote_with(na, 900, c"hb.*".as_ptr(), c"drop_newest".as_ptr(), 8),
            MycStatus::InvalidArgument
        );
        assert!(
            last_error().contains("capacity applies to overflow `drop_oldest` only"),
            "{}",
            last_error()
        );
        assert_eq!(
            myc_node_subscribe_remote_with(na, 900, c"hb.*".as_ptr(), null(), 8),
            MycStatus::InvalidArgument
        );
        for (policy, capacity) in [
            (c"drop_oldest", 16),
            (c"latest_per_key", 0),
            (c"drop_newest", 0),
            (c"block", 0),
        ] {
            assert_eq!(
                myc_node_subscribe_remote_with(
                    na,
                    900,
                    c"hb.*".as_ptr(),
                    policy.as_ptr(),
                    capacity
                ),
                MycStatus::Ok,
                "{policy:?}: {}",
                last_error()
            );
        }
        assert_eq!(
            myc_node_subscribe_remote_with(na, 900, c"hb.*".as_ptr(), null(), 0),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        // Still one subscription on b (the policy replaced, not a second one).
        assert_eq!(node_ask(na, c"right", 0), Ok(18));
        assert_eq!(publish_on_b(2), 1);
        assert_eq!(
            myc_node_subscribe_gaps(na, null(), &mut null_mut()),
            MycStatus::InvalidArgument
        );
        // Withdrawn the same way: once the next ask is answered, b forwards nothing more.
        assert_eq!(
            myc_node_unsubscribe_remote(na, 900, c"hb.*".as_ptr()),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        assert_eq!(node_ask(na, c"right", 0), Ok(18));
        assert_eq!(publish_on_b(3), 0);

        assert_eq!(myc_node_free(na), MycStatus::Ok);
        assert_eq!(myc_node_free(nb), MycStatus::Ok);
        assert_eq!(myc_node_free(null_mut()), MycStatus::Ok);
        myc_bus_free(a);
        myc_bus_free(b);
    }
}

#[test]
fn asks_are_measured_from_rust() {
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        assert_eq!(
            myc_spawn_rust(bus, c"counter".as_ptr(), null(), c"counter".as_ptr()),
            MycStatus::Ok
        );
        let body = heartbeat(1);
        let mut times = [0u64; 20];
        assert_eq!(
            myc_measure_asks(
                bus,
                c"counter".as_ptr(),
                900,
                body.as_ptr(),
                body.len(),
                20,
                times.as_mut_ptr()
            ),
            MycStatus::Ok
        );
        assert!(times.iter().all(|&t| t > 0));
        // The counter saw the 20 asks.
        let (mut t, mut reply) = (0u16, empty());
        assert_eq!(
            myc_ask(
                bus,
                c"counter".as_ptr(),
                900,
                body.as_ptr(),
                body.len(),
                -1,
                &mut t,
                &mut reply
            ),
            MycStatus::Ok
        );
        let bytes = std::slice::from_raw_parts(reply.data, reply.len).to_vec();
        myc_bytes_free(&mut reply);
        assert_eq!(Heartbeat::decode_body(&bytes).expect("heartbeat").seq, 21);

        assert_eq!(
            myc_measure_asks(
                bus,
                c"nobody".as_ptr(),
                900,
                body.as_ptr(),
                body.len(),
                3,
                times.as_mut_ptr()
            ),
            MycStatus::UnknownService
        );
        assert_eq!(
            myc_measure_asks(
                bus,
                c"counter".as_ptr(),
                900,
                body.as_ptr(),
                body.len(),
                3,
                null_mut()
            ),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("out_ns is null"));
        myc_bus_free(bus);
    }
}

static FREED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_free(_user: *mut c_void) {
    FREED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_failed_start_returns_once_the_callbacks_are_released() {
    let cb = MycActorCallbacks {
        user_data: null_mut(),
        start: Some(start_fails),
        handle: Some(handle),
        stop: None,
        free_user_data: Some(count_free),
        batch: None,
    };
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let before = FREED.load(Ordering::SeqCst);
        let mut actor = null_mut();
        assert_eq!(
            myc_actor_spawn(bus, &cb, null(), 0, &mut actor),
            MycStatus::StartFailed
        );
        assert_eq!(FREED.load(Ordering::SeqCst), before + 1);

        let mut tree = null_mut();
        assert_eq!(
            myc_tree_new(0, 3, 1000, 10, 2.0, 100, &mut tree),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_rust(tree, c"c".as_ptr(), c"counter".as_ptr(), null(), null()),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_foreign(tree, c"broken".as_ptr(), &cb, null(), 0, null(), null(), 0),
            MycStatus::Ok
        );
        let mut sup = null_mut();
        assert_eq!(myc_tree_start(bus, tree, &mut sup), MycStatus::StartFailed);
        assert!(last_error().contains("broken"));
        assert_eq!(FREED.load(Ordering::SeqCst), before + 2);
        myc_bus_free(bus);
    }
}

/// A node whose link gave up (its peer never came): asks to the peer's services fail with
/// `Stopped`, and so does a remote subscription, which says the link is closed.
#[test]
fn a_link_that_gave_up_refuses_asks_and_remote_subscriptions() {
    // `a` dials `b`, which never starts, and gives up after its first attempt.
    let (_dir, path) = two_node_topology(
        "gaveup",
        "MYCELIUM_FFI_GAVEUP_TEST_SECRET",
        "[link]\nmax_attempts = 1\n",
    );
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let mut node = null_mut();
        assert_eq!(
            myc_node_start(bus, path.as_ptr(), c"a".as_ptr(), &mut node),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        // Queued while the link dials, or refused once it gave up: either way it was never
        // sent (`Stopped`), it fails when the link gives up, not at its timeout, and says why.
        let asked = node_ask(node, c"right", 1);
        assert_eq!(asked, Err(MycStatus::Stopped), "{}", last_error());
        assert!(
            last_error().contains("the request was not sent: the link to b is closed")
                && last_error().contains("the connection attempt failed because: cannot connect"),
            "{}",
            last_error()
        );
        assert_eq!(
            myc_node_subscribe_remote(node, 900, c"hb.*".as_ptr()),
            MycStatus::Stopped
        );
        assert!(
            last_error().contains("the link to b is closed"),
            "{}",
            last_error()
        );
        // Nothing was recorded: withdrawing it is not an error.
        assert_eq!(
            myc_node_unsubscribe_remote(node, 900, c"hb.*".as_ptr()),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        assert_eq!(myc_node_free(node), MycStatus::Ok);
        myc_bus_free(bus);
    }
}

#[test]
fn a_null_out_pointer_starts_no_node() {
    let (dir, path) = two_node_topology("out", "MYCELIUM_FFI_OUT_TEST_SECRET", "");
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        assert_eq!(
            myc_node_start(bus, path.as_ptr(), c"a".as_ptr(), null_mut()),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("out is null"), "{}", last_error());
        assert!(!dir.0.join("a.sock").exists(), "the node listens");
        let mut node = null_mut();
        assert_eq!(
            myc_node_start(bus, path.as_ptr(), c"a".as_ptr(), &mut node),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        assert!(dir.0.join("a.sock").exists(), "the node listens");
        assert_eq!(myc_node_free(node), MycStatus::Ok);
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
    }
}

//! A null out pointer is refused before the call does anything: no runtime, actor, tree or
//! subscription is left behind without a handle. One test in this binary, so the count of
//! the process's threads is its own.

use std::ffi::c_void;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use mycelium_codec::WireMessage;
use mycelium_contracts::Heartbeat;
use mycelium_ffi::*;

mod common;
use common::handle;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// user_data: [starts, frees].
unsafe extern "C" fn count_start(
    user: *mut c_void,
    _args: *const u8,
    _len: usize,
    _state: *mut *mut c_void,
    _call: *mut MycCall,
) -> i32 {
    // SAFETY: the test passes two live counters as user_data.
    let counts = unsafe { &*(user as *const [AtomicUsize; 2]) };
    counts[0].fetch_add(1, Ordering::SeqCst);
    0
}

unsafe extern "C" fn count_free(user: *mut c_void) {
    // SAFETY: as above.
    let counts = unsafe { &*(user as *const [AtomicUsize; 2]) };
    counts[1].fetch_add(1, Ordering::SeqCst);
}

fn callbacks(counts: &[AtomicUsize; 2]) -> MycActorCallbacks {
    MycActorCallbacks {
        user_data: counts as *const [AtomicUsize; 2] as *mut c_void,
        start: Some(count_start),
        handle: Some(handle),
        stop: None,
        free_user_data: Some(count_free),
        batch: None,
    }
}

fn counts(c: &[AtomicUsize; 2]) -> (usize, usize) {
    (c[0].load(Ordering::SeqCst), c[1].load(Ordering::SeqCst))
}

#[test]
fn a_null_out_pointer_leaves_nothing_running() {
    unsafe {
        // No runtime (its worker threads) is created.
        let before = threads();
        assert_eq!(
            myc_bus_new(false, 1, null_mut()),
            MycStatus::InvalidArgument
        );
        assert_eq!(threads(), before, "threads after a refused myc_bus_new");

        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);

        // No actor is started; its callbacks are released.
        let c = [AtomicUsize::new(0), AtomicUsize::new(0)];
        assert_eq!(
            myc_actor_spawn(bus, &callbacks(&c), null(), 0, null_mut()),
            MycStatus::InvalidArgument
        );
        assert_eq!(counts(&c), (0, 1), "(starts, frees) of a refused spawn");

        // No tree is started (the tree is consumed, its children's callbacks released).
        let c = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let mut tree = null_mut();
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        let ids = [Heartbeat::TYPE_ID];
        assert_eq!(
            myc_tree_add_foreign(
                tree,
                c"w".as_ptr(),
                &callbacks(&c),
                null(),
                0,
                c"w".as_ptr(),
                ids.as_ptr(),
                1
            ),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_start(bus, tree, null_mut()),
            MycStatus::InvalidArgument
        );
        assert_eq!(
            counts(&c),
            (0, 1),
            "(starts, frees) of a refused tree start"
        );
        let mut t = 0u16;
        let mut reply = MycBytes {
            data: null_mut(),
            len: 0,
            capacity: 0,
        };
        assert_eq!(
            myc_ask(bus, c"w".as_ptr(), 900, null(), 0, -1, &mut t, &mut reply),
            MycStatus::UnknownService
        );

        // No subscription is left delivering.
        let c = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let mut actor = null_mut();
        assert_eq!(
            myc_actor_spawn(bus, &callbacks(&c), null(), 0, &mut actor),
            MycStatus::Ok
        );
        assert_eq!(
            myc_actor_subscribe(actor, Heartbeat::TYPE_ID, c"beats".as_ptr(), null_mut()),
            MycStatus::InvalidArgument
        );
        let mut body = Vec::new();
        Heartbeat {
            ts_ns: 0,
            seq: 1,
            sender: "test".into(),
        }
        .encode_body(&mut body);
        let mut delivered = usize::MAX;
        assert_eq!(
            myc_publish(
                bus,
                Heartbeat::TYPE_ID,
                c"beats".as_ptr(),
                body.as_ptr(),
                body.len(),
                null(),
                &mut delivered
            ),
            MycStatus::Ok
        );
        assert_eq!(delivered, 0, "subscribers after a refused subscribe");
        assert_eq!(myc_actor_free(actor), MycStatus::Ok);
        assert_eq!(counts(&c), (1, 1));
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
    }
}

//! Who owns `user_data` after a failed call: the library, on every path. Each failure of
//! `myc_actor_spawn` and `myc_tree_add_foreign` (with non-null callbacks) has called
//! `free_user_data` exactly once when it returns.

use std::ffi::{c_char, c_void};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use mycelium_ffi::*;

mod common;
use common::{handle, start_fails};

unsafe extern "C" fn start_ok(
    _user: *mut c_void,
    _args: *const u8,
    _len: usize,
    _state: *mut *mut c_void,
    _call: *mut MycCall,
) -> i32 {
    0
}

unsafe extern "C" fn count_free(user: *mut c_void) {
    // SAFETY: every test passes a live counter as user_data.
    unsafe { &*(user as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
}

fn callbacks(freed: &AtomicUsize) -> MycActorCallbacks {
    MycActorCallbacks {
        user_data: freed as *const AtomicUsize as *mut c_void,
        start: Some(start_ok),
        handle: Some(handle),
        stop: None,
        free_user_data: Some(count_free),
        batch: None,
    }
}

/// Runs `call` with fresh callbacks counting their releases; checks it fails with `status`
/// and has released `user_data` exactly once by the time it returns.
fn released_once_on_failure(
    what: &str,
    status: MycStatus,
    call: impl FnOnce(&MycActorCallbacks) -> MycStatus,
) {
    let freed = AtomicUsize::new(0);
    let cb = callbacks(&freed);
    assert_eq!(call(&cb), status, "{what}");
    assert_eq!(
        freed.load(Ordering::SeqCst),
        1,
        "{what}: free_user_data calls"
    );
}

#[test]
fn a_failed_spawn_releases_user_data_once_on_every_path() {
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let mut out = null_mut();
        released_once_on_failure("null bus", MycStatus::InvalidArgument, |cb| {
            myc_actor_spawn(null(), cb, null(), 0, &mut out)
        });
        released_once_on_failure(
            "args null with a length",
            MycStatus::InvalidArgument,
            |cb| myc_actor_spawn(bus, cb, null(), 3, &mut out),
        );
        released_once_on_failure("null handle callback", MycStatus::InvalidArgument, |cb| {
            let cb = MycActorCallbacks {
                handle: None,
                ..*cb
            };
            myc_actor_spawn(bus, &cb, null(), 0, &mut out)
        });
        released_once_on_failure("failed start", MycStatus::StartFailed, |cb| {
            let cb = MycActorCallbacks {
                start: Some(start_fails),
                ..*cb
            };
            myc_actor_spawn(bus, &cb, null(), 0, &mut out)
        });
        assert!(out.is_null());
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
    }
}

#[test]
fn a_refused_tree_child_releases_user_data_once_on_every_path() {
    unsafe {
        let mut tree = null_mut();
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        let add = |tree, name: *const c_char, cb, args: *const u8, len, ids: &[u16]| {
            myc_tree_add_foreign(
                tree,
                name,
                cb,
                args,
                len,
                c"svc".as_ptr(),
                ids.as_ptr(),
                ids.len(),
            )
        };
        let heartbeat = [900u16];
        released_once_on_failure("null tree", MycStatus::InvalidArgument, |cb| {
            add(null_mut(), c"a".as_ptr(), cb, null(), 0, &heartbeat)
        });
        released_once_on_failure("null name", MycStatus::InvalidArgument, |cb| {
            add(tree, null(), cb, null(), 0, &heartbeat)
        });
        let bad_utf8 = [0xffu8, 0];
        released_once_on_failure("name not UTF-8", MycStatus::InvalidArgument, |cb| {
            add(tree, bad_utf8.as_ptr().cast(), cb, null(), 0, &heartbeat)
        });
        released_once_on_failure(
            "args null with a length",
            MycStatus::InvalidArgument,
            |cb| add(tree, c"a".as_ptr(), cb, null(), 3, &heartbeat),
        );
        released_once_on_failure("null start callback", MycStatus::InvalidArgument, |cb| {
            let cb = MycActorCallbacks { start: None, ..*cb };
            add(tree, c"a".as_ptr(), &cb, null(), 0, &heartbeat)
        });
        // A child that is accepted keeps its callbacks until the tree lets go of them.
        let kept = AtomicUsize::new(0);
        let cb = callbacks(&kept);
        assert_eq!(
            add(tree, c"a".as_ptr(), &cb, null(), 0, &heartbeat),
            MycStatus::Ok
        );
        released_once_on_failure("duplicate name", MycStatus::InvalidArgument, |cb| {
            add(tree, c"a".as_ptr(), cb, null(), 0, &heartbeat)
        });
        assert_eq!(kept.load(Ordering::SeqCst), 0);
        assert_eq!(myc_tree_free(tree), MycStatus::Ok);
        assert_eq!(kept.load(Ordering::SeqCst), 1);
    }
}

/// What a blocking `handle` callback shares with its test: whether it has begun, whether it
/// may return, and how many times `free_user_data` ran.
#[derive(Default)]
struct Stuck {
    state: std::sync::Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
    freed: AtomicUsize,
}

impl Stuck {
    fn wait_until(&self, what: &str, done: impl Fn(&(bool, bool)) -> bool) {
        let guard = self.state.lock().unwrap();
        let (_guard, timed_out) = self
            .changed
            .wait_timeout_while(guard, std::time::Duration::from_secs(20), |s| !done(s))
            .unwrap();
        assert!(!timed_out.timed_out(), "{what} did not happen within 20 s");
    }
}

unsafe extern "C" fn handle_until_released(
    user: *mut c_void,
    _state: *mut c_void,
    _type_id: u16,
    _body: *const u8,
    _len: usize,
    _call: *mut MycCall,
) -> i32 {
    // SAFETY: the test passes a `Stuck` that outlives every callback as user_data.
    let stuck = unsafe { &*(user as *const Stuck) };
    stuck.state.lock().unwrap().0 = true;
    stuck.changed.notify_all();
    stuck.wait_until("the release of the handler", |s| s.1);
    0
}

unsafe extern "C" fn free_stuck(user: *mut c_void) {
    // SAFETY: as above.
    let stuck = unsafe { &*(user as *const Stuck) };
    stuck.freed.fetch_add(1, Ordering::SeqCst);
    stuck.changed.notify_all();
}

#[test]
fn a_callback_the_shutdown_could_not_stop_outlives_the_bus_and_then_releases_user_data() {
    let stuck = Stuck::default();
    let cb = MycActorCallbacks {
        user_data: &stuck as *const Stuck as *mut c_void,
        start: Some(start_ok),
        handle: Some(handle_until_released),
        stop: None,
        free_user_data: Some(free_stuck),
        batch: None,
    };
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let mut actor = null_mut();
        assert_eq!(
            myc_actor_spawn(bus, &cb, null(), 0, &mut actor),
            MycStatus::Ok
        );
        assert_eq!(myc_actor_tell(actor, 900, null(), 0), MycStatus::Ok);
        stuck.wait_until("the handler's start", |s| s.0);
        // The deadline passes with the callback inside C code: the actor is killed, the bus
        // freed, and the callback still runs.
        assert_eq!(myc_bus_shutdown(bus, 10), MycStatus::Ok);
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
        assert_eq!(
            stuck.freed.load(Ordering::SeqCst),
            0,
            "user_data freed under a callback"
        );
        // The killed actor counts as stopped once the runtime has dropped its task (its
        // worker does so as the runtime ends), while its callback still runs.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let mut alive = true;
            assert_eq!(myc_actor_is_alive(actor, &mut alive), MycStatus::Ok);
            if !alive {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the killed actor stays alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            stuck.freed.load(Ordering::SeqCst),
            0,
            "user_data freed under a callback"
        );
        // Once it returns, `free_user_data` runs once; freeing the handle waits for it.
        stuck.state.lock().unwrap().1 = true;
        stuck.changed.notify_all();
        assert_eq!(myc_actor_free(actor), MycStatus::Ok);
        assert_eq!(stuck.freed.load(Ordering::SeqCst), 1);
    }
}

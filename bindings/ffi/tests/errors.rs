//! Error paths of the C ABI, called from Rust: each returns its status and a message.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};

use mycelium_codec::WireMessage;
use mycelium_contracts::{Heartbeat, Quote};
use mycelium_ffi::*;

mod common;
use common::{handle, start_fails};

fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string valid until the next call.
    unsafe { CStr::from_ptr(myc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn callbacks() -> MycActorCallbacks {
    MycActorCallbacks {
        user_data: null_mut(),
        start: Some(start_fails),
        handle: Some(handle),
        stop: None,
        free_user_data: None,
        batch: None,
    }
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);

        // Null handles and strings.
        assert_eq!(myc_bus_shutdown(null(), 10), MycStatus::InvalidArgument);
        assert!(last_error().contains("bus is null"));
        let body = [0u8; 4];
        assert_eq!(
            myc_tell(bus, null(), 900, body.as_ptr(), body.len()),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("service is null"));
        assert_eq!(
            myc_tell(bus, c"x".as_ptr(), 900, null(), 3),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("body is null but its length is 3"));
        let bad_utf8 = [0xffu8, 0];
        assert_eq!(
            myc_tell(bus, bad_utf8.as_ptr() as *const c_char, 900, null(), 0),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("not UTF-8"));
        assert_eq!(myc_warn(null()), MycStatus::InvalidArgument);
        assert!(last_error().contains("message is null"));
        assert_eq!(myc_warn(c"a binding's own warning".as_ptr()), MycStatus::Ok);

        // By name: unknown service, unknown built-in kind, a missing arg.
        let mut t = 0u16;
        let mut reply = MycBytes {
            data: null_mut(),
            len: 0,
            capacity: 0,
        };
        assert_eq!(
            myc_ask(
                bus,
                c"nobody".as_ptr(),
                900,
                null(),
                0,
                10,
                &mut t,
                &mut reply
            ),
            MycStatus::UnknownService
        );
        assert!(last_error().contains("nobody"));
        assert_eq!(
            myc_spawn_rust(bus, c"teapot".as_ptr(), null(), c"t".as_ptr()),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("no built-in Rust actor `teapot`"));
        assert_eq!(
            myc_spawn_rust(bus, c"relay".as_ptr(), null(), c"r".as_ptr()),
            MycStatus::InvalidArgument
        );
        // A body that does not decode as the service's type.
        assert_eq!(
            myc_spawn_rust(bus, c"counter".as_ptr(), null(), c"counter".as_ptr()),
            MycStatus::Ok
        );
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
            MycStatus::WrongType
        );
        assert_eq!(
            myc_ask(
                bus,
                c"counter".as_ptr(),
                100,
                null(),
                0,
                -1,
                &mut t,
                &mut reply
            ),
            MycStatus::WrongType
        );
        assert_eq!(myc_bytes_free(&mut reply), MycStatus::Ok);
        assert_eq!(myc_bytes_free(null_mut()), MycStatus::Ok);

        // A start that fails, with its message; missing callbacks.
        let mut actor = null_mut();
        let cb = callbacks();
        assert_eq!(
            myc_actor_spawn(bus, &cb, null(), 0, &mut actor),
            MycStatus::StartFailed
        );
        assert!(last_error().contains("no config"));
        let mut no_handle = callbacks();
        no_handle.handle = None;
        assert_eq!(
            myc_actor_spawn(bus, &no_handle, null(), 0, &mut actor),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("callbacks.handle is null"));
        assert_eq!(
            myc_call_fail(null_mut(), c"x".as_ptr()),
            MycStatus::InvalidArgument
        );
        assert_eq!(
            myc_call_reply(null_mut(), 1, null(), 0),
            MycStatus::InvalidArgument
        );

        // Topics: an unknown type id, a bad topic name.
        assert_eq!(
            myc_publish(bus, 4242, c"x".as_ptr(), null(), 0, null(), null_mut()),
            MycStatus::WrongType
        );
        assert_eq!(
            myc_publish(
                bus,
                900,
                c"sys.heartbeat".as_ptr(),
                null(),
                0,
                null(),
                null_mut()
            ),
            MycStatus::WrongType
        );
        assert!(last_error().contains("does not decode"));
        let mut hb = Vec::new();
        Heartbeat {
            ts_ns: 0,
            seq: 1,
            sender: String::new(),
        }
        .encode_body(&mut hb);
        assert_eq!(
            myc_publish(
                bus,
                900,
                c"bad topic!".as_ptr(),
                hb.as_ptr(),
                hb.len(),
                null(),
                null_mut()
            ),
            MycStatus::InvalidArgument
        );

        // Trees: a bad strategy, a bad factor, a duplicate child, a failing start.
        let mut tree = null_mut();
        assert_eq!(
            myc_tree_new(7, 1, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("strategy 7"));
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 1, 1000, 1, 0.5, 10, &mut tree),
            MycStatus::InvalidArgument
        );
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ALL, 0, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_rust(tree, c"a".as_ptr(), c"counter".as_ptr(), null(), null()),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_rust(tree, c"a".as_ptr(), c"counter".as_ptr(), null(), null()),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("already has a child named `a`"));
        assert_eq!(myc_tree_free(tree), MycStatus::Ok);

        // A child whose first start fails fails the whole start, naming the child.
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_rust(tree, c"a".as_ptr(), c"counter".as_ptr(), null(), null()),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_foreign(tree, c"feed".as_ptr(), &cb, null(), 0, null(), null(), 0),
            MycStatus::Ok
        );
        let mut sup = null_mut();
        assert_eq!(myc_tree_start(bus, tree, &mut sup), MycStatus::StartFailed);
        let text = last_error();
        assert!(text.contains("child `feed` could not start"), "{text}");
        assert!(text.contains("no config"), "{text}");
        assert!(sup.is_null());

        // A tree handle can be started once.
        assert_eq!(
            myc_tree_start(bus, null_mut(), null_mut()),
            MycStatus::InvalidArgument
        );

        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
        assert_eq!(myc_bus_free(null_mut()), MycStatus::Ok);
        assert_eq!(myc_actor_free(null_mut()), MycStatus::Ok);
        assert_eq!(myc_subscription_free(null_mut()), MycStatus::Ok);
        assert_eq!(myc_supervisor_free(null_mut()), MycStatus::Ok);
    }
}

#[test]
fn a_built_in_actor_that_cannot_start_or_be_exported_is_refused_and_left_stopped() {
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let quote = |bus, topic: &CStr| {
            let mut body = Vec::new();
            Quote {
                ts_ns: 1,
                instrument: 1,
                bid_px: 1.0,
                bid_qty: 1.0,
                ask_px: 1.0,
                ask_qty: 1.0,
            }
            .encode_body(&mut body);
            let mut delivered = usize::MAX;
            let st = myc_publish(
                bus,
                Quote::TYPE_ID,
                topic.as_ptr(),
                body.as_ptr(),
                body.len(),
                null(),
                &mut delivered,
            );
            assert_eq!(st, MycStatus::Ok, "{}", last_error());
            delivered
        };

        // A pattern that breaks the topic grammar: refused, and nothing is exported.
        assert_eq!(
            myc_spawn_rust(
                bus,
                c"quote_recorder".as_ptr(),
                c"bad pattern!".as_ptr(),
                c"rec".as_ptr()
            ),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("could not start"), "{}", last_error());
        let mut t = 0u16;
        let mut reply = MycBytes {
            data: null_mut(),
            len: 0,
            capacity: 0,
        };
        assert_eq!(
            myc_ask(bus, c"rec".as_ptr(), 900, null(), 0, -1, &mut t, &mut reply),
            MycStatus::UnknownService
        );

        // A recorder that starts but whose service name is taken: refused, and stopped (no
        // subscriber is left for its pattern).
        assert_eq!(
            myc_spawn_rust(bus, c"counter".as_ptr(), null(), c"taken".as_ptr()),
            MycStatus::Ok
        );
        assert_eq!(
            myc_spawn_rust(
                bus,
                c"quote_recorder".as_ptr(),
                c"md.*".as_ptr(),
                c"taken".as_ptr()
            ),
            MycStatus::InvalidArgument
        );
        assert_eq!(quote(bus, c"md.x"), 0);

        // The same recorder under a free name runs and is reached.
        assert_eq!(
            myc_spawn_rust(
                bus,
                c"quote_recorder".as_ptr(),
                c"md.*".as_ptr(),
                c"rec".as_ptr()
            ),
            MycStatus::Ok
        );
        assert_eq!(quote(bus, c"md.x"), 1);
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
    }
}

unsafe extern "C" fn start_ok(
    _user: *mut c_void,
    _args: *const u8,
    _len: usize,
    _state: *mut *mut c_void,
    _call: *mut MycCall,
) -> i32 {
    0
}

#[test]
fn a_supervisor_child_is_not_stopped_through_its_handle() {
    unsafe {
        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let mut tree = null_mut();
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        let cb = MycActorCallbacks {
            start: Some(start_ok),
            ..callbacks()
        };
        assert_eq!(
            myc_tree_add_foreign(tree, c"w".as_ptr(), &cb, null(), 0, null(), null(), 0),
            MycStatus::Ok
        );
        let mut sup = null_mut();
        assert_eq!(myc_tree_start(bus, tree, &mut sup), MycStatus::Ok);
        let mut child = null_mut();
        assert_eq!(
            myc_supervisor_child(sup, c"w".as_ptr(), &mut child),
            MycStatus::Ok
        );
        // Its supervisor would restart it: refused at once, and it keeps running. (A thread,
        // so a call that never returns fails the test instead of hanging it.)
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = child as usize;
        std::thread::spawn(move || {
            let st = myc_actor_stop(handle as *const MycActor);
            let _ = tx.send((st, last_error()));
        });
        let (st, msg) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("myc_actor_stop on a child returns");
        assert_eq!(st, MycStatus::InvalidArgument);
        assert!(msg.contains("myc_supervisor_free"), "{msg}");
        let mut alive = false;
        assert_eq!(myc_actor_is_alive(child, &mut alive), MycStatus::Ok);
        assert!(alive);
        // Its number: the tree is #1 on this bus, its one child #2.
        let mut number = 0u64;
        assert_eq!(myc_actor_number(child, &mut number), MycStatus::Ok);
        assert_eq!(number, 2);
        assert_eq!(
            myc_actor_number(child, null_mut()),
            MycStatus::InvalidArgument
        );
        assert_eq!(
            myc_actor_number(null(), &mut number),
            MycStatus::InvalidArgument
        );
        assert_eq!(myc_actor_free(child), MycStatus::Ok);
        assert_eq!(myc_supervisor_free(sup), MycStatus::Ok);
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
    }
}

/// What a start callback's timer calls returned, in order: a plain value's type id, a zero
/// period, and a good one-shot timer.
static TIMER_STATUSES: std::sync::Mutex<Vec<(MycStatus, String)>> =
    std::sync::Mutex::new(Vec::new());

unsafe extern "C" fn start_setting_timers(
    _user: *mut c_void,
    _args: *const u8,
    _len: usize,
    _state: *mut *mut c_void,
    call: *mut MycCall,
) -> i32 {
    let body = [0u8; 1];
    let mut timer = null_mut();
    let mut statuses = TIMER_STATUSES.lock().unwrap();
    // SAFETY: `call` is the live call of this callback; `body` and `timer` live.
    unsafe {
        let st = myc_call_send_after(call, 0xFFFF, body.as_ptr(), 1, 1_000, null_mut());
        statuses.push((st, last_error()));
        let st = myc_call_send_interval(call, 900, body.as_ptr(), 1, 0, null_mut());
        statuses.push((st, last_error()));
        let st = myc_call_send_after(call, 900, body.as_ptr(), 1, 1_000_000, &mut timer);
        statuses.push((st, String::new()));
        let mut active = false;
        assert_eq!(myc_timer_is_active(timer, &mut active), MycStatus::Ok);
        assert!(active, "a timer not yet fired is active");
        assert_eq!(myc_timer_cancel(timer), MycStatus::Ok);
        assert_eq!(myc_timer_is_active(timer, &mut active), MycStatus::Ok);
        assert!(!active, "a cancelled timer is not");
        assert_eq!(myc_timer_free(timer), MycStatus::Ok);
    }
    0
}

#[test]
fn timers_refuse_a_missing_call_a_plain_value_and_a_zero_period() {
    unsafe {
        let body = [0u8; 1];
        assert_eq!(
            myc_call_send_after(null_mut(), 900, body.as_ptr(), 1, 1, null_mut()),
            MycStatus::InvalidArgument
        );
        assert!(last_error().contains("call is null"));
        assert_eq!(myc_timer_cancel(null()), MycStatus::InvalidArgument);
        assert_eq!(myc_timer_free(null_mut()), MycStatus::Ok);

        let mut bus = null_mut();
        assert_eq!(myc_bus_new(false, 1, &mut bus), MycStatus::Ok);
        let cb = MycActorCallbacks {
            start: Some(start_setting_timers),
            ..callbacks()
        };
        let mut actor = null_mut();
        assert_eq!(
            myc_actor_spawn(bus, &cb, null(), 0, &mut actor),
            MycStatus::Ok,
            "{}",
            last_error()
        );
        let statuses = TIMER_STATUSES.lock().unwrap().clone();
        assert_eq!(statuses[0].0, MycStatus::WrongType);
        assert!(
            statuses[0].1.contains("contract message"),
            "{}",
            statuses[0].1
        );
        assert_eq!(statuses[1].0, MycStatus::InvalidArgument);
        assert!(
            statuses[1].1.contains("period_ns is 0"),
            "{}",
            statuses[1].1
        );
        assert_eq!(statuses[2].0, MycStatus::Ok);
        assert_eq!(myc_actor_free(actor), MycStatus::Ok);
        assert_eq!(myc_bus_free(bus), MycStatus::Ok);
    }
}

//! Timers a foreign actor sets from its callbacks ([`myc_call_send_after`]).

use std::time::Duration;

use mycelium_foreign::{ForeignMessage, ForeignTimer, TimerError};

use crate::call::MycCall;
use crate::error::{bytes, guard, put, Error, MycStatus};

/// A timer an actor set. Free with [`myc_timer_free`] (which does not cancel it).
pub struct MycTimer {
    timer: ForeignTimer,
}

/// Sets a timer of the actor whose callback (`start` or `handle`) was given `call`: it sends
/// the actor the contract message `type_id` with `body` (copied) once, `delay_ns` of bus time
/// from now, through its mailbox, in order with its other messages. The timer belongs to the
/// incarnation that set it: a stop, a failure and restart, or a kill cancels it, as
/// [`myc_timer_cancel`] does. A recorded actor's firings are recorded as a Rust actor's
/// timers' are. `out` may be null (the timer then ends after its message, or with the
/// incarnation); otherwise it receives a handle to free. `WrongType` for type id 0xFFFF (a
/// value of the host language, which a timer cannot keep), `Stopped` once the actor is not
/// running.
///
/// # Safety
/// `call` is the pointer the callback was given, used during that callback; `body` points to
/// `len` bytes; `out` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn myc_call_send_after(
    call: *mut MycCall,
    type_id: u16,
    body: *const u8,
    len: usize,
    delay_ns: u64,
    out: *mut *mut MycTimer,
) -> MycStatus {
    // SAFETY: the caller's promises, passed on.
    guard(|| unsafe { set(call, (type_id, body, len), delay_ns, None, out) })
}

/// As [`myc_call_send_after`], every `period_ns` of bus time (1 ms or more: the bus clock's
/// timers tick in milliseconds, as a one-shot timer's delay is rounded up to the next
/// tick), the first one period from now, on a fixed grid: a firing that finds the mailbox full waits for room,
/// and those missed meanwhile are skipped.
///
/// # Safety
/// As for [`myc_call_send_after`].
#[no_mangle]
pub unsafe extern "C" fn myc_call_send_interval(
    call: *mut MycCall,
    type_id: u16,
    body: *const u8,
    len: usize,
    period_ns: u64,
    out: *mut *mut MycTimer,
) -> MycStatus {
    guard(|| {
        if period_ns == 0 {
            return Err(Error::invalid(
                "period_ns is 0: a periodic timer's period is 1 ms or more",
            ));
        }
        // SAFETY: the caller's promises, passed on.
        unsafe { set(call, (type_id, body, len), period_ns, Some(period_ns), out) }
    })
}

/// Sets the timer of [`myc_call_send_after`] (`every`: [`myc_call_send_interval`]'s period).
///
/// # Safety
/// As for [`myc_call_send_after`].
unsafe fn set(
    call: *mut MycCall,
    (type_id, body, len): (u16, *const u8, usize),
    delay_ns: u64,
    every: Option<u64>,
    out: *mut *mut MycTimer,
) -> Result<(), Error> {
    // SAFETY: the caller passes the call it was given, live during the callback.
    let call = unsafe { call.as_ref() }.ok_or_else(|| Error::invalid("call is null"))?;
    // SAFETY: `actor` is the `CForeign` whose callback got `call`, which it borrows for the
    // whole callback (`CForeign::call`, `Foreign::start`): alive while `call` is.
    let actor = unsafe { call.actor.as_ref() }
        .ok_or_else(|| Error::invalid("call belongs to no actor's callback"))?;
    if type_id == u16::MAX {
        return Err(Error::new(
            MycStatus::WrongType,
            "a timer sends a contract message: a value of the host language (type id 0xFFFF) \
             is passed by reference and cannot be kept for a timer",
        ));
    }
    // SAFETY: the caller promises `len` readable bytes.
    let body = unsafe { bytes(body, len, "body") }?.to_vec();
    let msg = ForeignMessage { type_id, body };
    let stopped = || {
        Error::new(
            MycStatus::Stopped,
            "the actor is not running: it sets no timer",
        )
    };
    let me = actor.me().ok_or_else(stopped)?;
    let timer = match every {
        None => me.send_after(msg, Duration::from_nanos(delay_ns)),
        Some(period) => me.send_interval(msg, Duration::from_nanos(period)),
    }
    .map_err(|e| match e {
        TimerError::NotRunning => stopped(),
        e @ TimerError::PeriodTooShort(_) => Error::invalid(e.to_string()),
    })?;
    if out.is_null() {
        return Ok(());
    }
    let boxed = Box::into_raw(Box::new(MycTimer { timer }));
    // SAFETY: per contract.
    unsafe { put(out, boxed, "out") }
}

/// Cancels the timer: it sends nothing more (a message already in the mailbox is handled).
///
/// # Safety
/// `timer` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn myc_timer_cancel(timer: *const MycTimer) -> MycStatus {
    guard(|| {
        // SAFETY: a live handle per contract.
        let timer = unsafe { timer.as_ref() }.ok_or_else(|| Error::invalid("timer is null"))?;
        timer.timer.cancel();
        Ok(())
    })
}

/// Whether the timer will send again: false once a one-shot timer has sent its message, or
/// the timer is cancelled or its incarnation has ended.
///
/// # Safety
/// `timer` is null or a live handle; `active` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_timer_is_active(
    timer: *const MycTimer,
    active: *mut bool,
) -> MycStatus {
    guard(|| {
        // SAFETY: a live handle per contract.
        let timer = unsafe { timer.as_ref() }.ok_or_else(|| Error::invalid("timer is null"))?;
        // SAFETY: per contract.
        unsafe { put(active, timer.timer.is_active(), "active") }
    })
}

/// Frees the handle; the timer goes on (cancel it first to stop it).
///
/// # Safety
/// `timer` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_timer_free(timer: *mut MycTimer) -> MycStatus {
    guard(|| {
        if !timer.is_null() {
            // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
            drop(unsafe { Box::from_raw(timer) });
        }
        Ok(())
    })
}

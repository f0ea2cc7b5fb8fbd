//! What a callback gets to answer with ([`MycCall`]), and byte buffers the library hands out
//! ([`MycBytes`]).

use std::ffi::c_char;

use mycelium_foreign::ForeignMessage;

use crate::error::{bytes, guard, text, Error, MycStatus};

/// The answer a callback is building: a reply (for `handle`) or a failure message. Valid
/// only during the callback it was passed to.
pub struct MycCall {
    pub(crate) reply: Option<ForeignMessage>,
    pub(crate) error: Option<String>,
    /// The actor whose callback this is (`myc_call_send_after`), alive for the callback's
    /// duration.
    pub(crate) actor: *const crate::actor::CForeign,
}

impl MycCall {
    /// The call of a callback of `actor`.
    pub(crate) fn of(actor: &crate::actor::CForeign) -> MycCall {
        MycCall {
            reply: None,
            error: None,
            actor: actor as *const _,
        }
    }
}

/// Sets the reply of a `handle` callback: the contract message `type_id` with `body`
/// (copied). Ignored for a tell.
///
/// # Safety
/// `call` is the pointer the callback was given; `body` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn myc_call_reply(
    call: *mut MycCall,
    type_id: u16,
    body: *const u8,
    len: usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: the caller passes the call it was given, live during the callback.
        let call = unsafe { call.as_mut() }.ok_or_else(|| Error::invalid("call is null"))?;
        // SAFETY: the caller promises `len` readable bytes.
        let body = unsafe { bytes(body, len, "body") }?.to_vec();
        call.reply = Some(ForeignMessage { type_id, body });
        Ok(())
    })
}

/// Sets the failure message of a callback that then returns non-zero.
///
/// # Safety
/// `call` is the pointer the callback was given; `message` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn myc_call_fail(call: *mut MycCall, message: *const c_char) -> MycStatus {
    guard(|| {
        // SAFETY: as above.
        let call = unsafe { call.as_mut() }.ok_or_else(|| Error::invalid("call is null"))?;
        // SAFETY: the caller promises a NUL-terminated string.
        call.error = Some(unsafe { text(message, "message") }?.to_string());
        Ok(())
    })
}

/// Bytes the library allocated (a reply body). Free with [`myc_bytes_free`].
#[repr(C)]
pub struct MycBytes {
    /// The bytes (null when empty).
    pub data: *mut u8,
    /// How many.
    pub len: usize,
    /// The allocation's capacity (for the library's use).
    pub capacity: usize,
}

impl MycBytes {
    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        MycBytes {
            data: v.as_mut_ptr(),
            len: v.len(),
            capacity: v.capacity(),
        }
    }
}

/// Frees bytes the library returned, and empties the struct. Safe to call on an empty one.
///
/// # Safety
/// `bytes` is null or points to a `MycBytes` filled by this library and not freed since.
#[no_mangle]
pub unsafe extern "C" fn myc_bytes_free(bytes: *mut MycBytes) -> MycStatus {
    guard(|| {
        // SAFETY: the caller promises a live MycBytes when non-null.
        let Some(b) = (unsafe { bytes.as_mut() }) else {
            return Ok(());
        };
        if !b.data.is_null() && b.capacity > 0 {
            // SAFETY: data/len/capacity came from a Vec<u8> in `from_vec` and were not freed.
            drop(unsafe { Vec::from_raw_parts(b.data, b.len, b.capacity) });
        }
        b.data = std::ptr::null_mut();
        b.len = 0;
        b.capacity = 0;
        Ok(())
    })
}

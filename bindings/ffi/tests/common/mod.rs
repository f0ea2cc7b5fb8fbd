//! Callbacks the C ABI tests share.

#![allow(dead_code)] // each test binary uses its own part

use std::ffi::c_void;

use mycelium_ffi::*;

/// A start callback that fails, saying "no config".
pub unsafe extern "C" fn start_fails(
    _user: *mut c_void,
    _args: *const u8,
    _len: usize,
    _state: *mut *mut c_void,
    call: *mut MycCall,
) -> i32 {
    // SAFETY: `call` is the live call of this callback.
    unsafe { myc_call_fail(call, c"no config".as_ptr()) };
    1
}

/// A handle callback that takes every message and does nothing.
pub unsafe extern "C" fn handle(
    _user: *mut c_void,
    _state: *mut c_void,
    _type_id: u16,
    _body: *const u8,
    _len: usize,
    _call: *mut MycCall,
) -> i32 {
    0
}

//! Status codes, the per-thread last error, and the guard around every entry point.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};

use mycelium_actors::export::DeliveryError;
use mycelium_actors::recording::{self, Language};
use mycelium_foreign::{ForeignAskError, ForeignTopicError};

/// What a call did. `Ok` is 0; anything else comes with a message from [`myc_last_error`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MycStatus {
    /// Success.
    Ok = 0,
    /// A null pointer, a bad length, a string that is not UTF-8, an unknown name.
    InvalidArgument = 1,
    /// No service of that name is exported on the bus.
    UnknownService = 2,
    /// The target does not take that type id, or the bytes do not decode as it.
    WrongType = 3,
    /// The mailbox is full; nothing was queued.
    MailboxFull = 4,
    /// The actor has stopped for good.
    Stopped = 5,
    /// The actor failed handling the request.
    Failed = 6,
    /// No reply within the timeout (bus time).
    Timeout = 7,
    /// A start callback failed: the actor (or tree) did not start.
    StartFailed = 8,
    /// A panic inside the library was caught (a bug: please report it with the message).
    Panic = 9,
    /// The runtime could not be started, or the bus has shut down.
    Runtime = 10,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// An error on its way out of an entry point.
pub(crate) struct Error {
    pub(crate) status: MycStatus,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: MycStatus, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(MycStatus::InvalidArgument, message)
    }
}

impl From<DeliveryError> for Error {
    fn from(e: DeliveryError) -> Self {
        let status = match &e {
            DeliveryError::UnknownService { .. } => MycStatus::UnknownService,
            DeliveryError::UnknownType { .. }
            | DeliveryError::NotAnAsk { .. }
            | DeliveryError::Decode { .. }
            | DeliveryError::UnknownTopicType { .. } => MycStatus::WrongType,
            DeliveryError::Topic(_) => MycStatus::InvalidArgument,
            DeliveryError::Full { .. } => MycStatus::MailboxFull,
            DeliveryError::Stopped { .. } => MycStatus::Stopped,
            DeliveryError::Failed { .. } | DeliveryError::Lost { .. } => MycStatus::Failed,
            DeliveryError::Timeout { .. } => MycStatus::Timeout,
        };
        Error::new(status, e.to_string())
    }
}

impl From<ForeignAskError> for Error {
    fn from(e: ForeignAskError) -> Self {
        let status = match &e {
            ForeignAskError::Failed { .. } | ForeignAskError::Lost(_) => MycStatus::Failed,
            ForeignAskError::Stopped { .. } => MycStatus::Stopped,
            ForeignAskError::Timeout(_) => MycStatus::Timeout,
            ForeignAskError::NoReply { .. } => MycStatus::WrongType,
            ForeignAskError::AskedItself => MycStatus::InvalidArgument,
        };
        Error::new(status, e.to_string())
    }
}

impl From<ForeignTopicError> for Error {
    fn from(e: ForeignTopicError) -> Self {
        match e {
            ForeignTopicError::Delivery(d) => d.into(),
            ForeignTopicError::UnknownType(_) => Error::new(MycStatus::WrongType, e.to_string()),
            ForeignTopicError::Topic(_) => Error::invalid(e.to_string()),
            ForeignTopicError::Link(ref link) => {
                Error::new(crate::node::send_status(link), e.to_string())
            }
        }
    }
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

/// The language of the code calling this library, for a recorded actor's journal: C unless
/// [`myc_set_host_language`] said otherwise.
static LANGUAGE: AtomicU8 = AtomicU8::new(3);

/// Names the language of the program calling this library: `2` OCaml, `3` C (the default).
/// A recorded actor's journal says that what such code sends from outside any actor came
/// from that language. `InvalidArgument` for another code.
#[no_mangle]
pub extern "C" fn myc_set_host_language(language: u32) -> MycStatus {
    guard(|| match language {
        2 | 3 => {
            LANGUAGE.store(language as u8, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(Error::invalid(format!(
            "the host language {language} is not known: 2 is OCaml, 3 is C"
        ))),
    })
}

pub(crate) fn host_language() -> Language {
    match LANGUAGE.load(Ordering::Relaxed) {
        2 => Language::OCaml,
        _ => Language::C,
    }
}

/// Runs an entry point's body: catches panics, records the error message. What the body
/// sends comes from the calling program's language (or the actor whose handler calls it).
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Error>) -> MycStatus {
    let body = || recording::sending_from(host_language(), body);
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => MycStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-string payload".into());
            set_last_error(&format!("mycelium panicked (a bug): {text}"));
            MycStatus::Panic
        }
    }
}

/// The message of the last error on this thread ("" if none): a NUL-terminated string owned
/// by the library, valid until the next `myc_` call on this thread.
#[no_mangle]
pub extern "C" fn myc_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// A borrowed C string as UTF-8.
///
/// # Safety
/// `s` is null or a NUL-terminated string valid for the call.
pub(crate) unsafe fn text<'a>(s: *const c_char, what: &str) -> Result<&'a str, Error> {
    if s.is_null() {
        return Err(Error::invalid(format!("{what} is null")));
    }
    // SAFETY: non-null, and the caller promises a NUL-terminated string valid for the call.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| Error::invalid(format!("{what} is not UTF-8")))
}

/// A borrowed optional C string (null: `None`).
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn optional_text<'a>(
    s: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Error> {
    if s.is_null() {
        Ok(None)
    } else {
        // SAFETY: as the caller promised.
        unsafe { text(s, what) }.map(Some)
    }
}

/// A borrowed byte slice (`len` 0 may come with a null pointer).
///
/// # Safety
/// `ptr` is null with `len` 0, or points to `len` readable bytes valid for the call.
pub(crate) unsafe fn bytes<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!(
            "{what} is null but its length is {len}"
        )));
    }
    // SAFETY: non-null, and the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A handle argument as a reference.
///
/// # Safety
/// `ptr` is null or a live handle of this type from this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller promises a live handle when non-null.
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid(format!("{what} is null")))
}

/// Refuses a null out pointer: checked before a call does anything, so a refused call leaves
/// nothing running or allocated.
pub(crate) fn writable<T>(out: *mut T, what: &str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::invalid(format!("{what} is null")));
    }
    Ok(())
}

/// Writes `value` to an out pointer.
///
/// # Safety
/// `out` is null or valid for a write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::invalid(format!("{what} is null")));
    }
    // SAFETY: non-null, and the caller promises it is writable.
    unsafe { out.write(value) };
    Ok(())
}

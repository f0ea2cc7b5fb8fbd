//! Waiting for a Rust future from Python without holding the GIL.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use mycelium_foreign::poll_for;
use pyo3::prelude::*;
use tokio::runtime::Handle;

use crate::callbacks;
use crate::errors::BusClosed;

/// How often a waiting thread takes the GIL back to look for Ctrl-C (the main thread only
/// sees signals between Python bytecodes).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Drives `fut` on the calling thread with the GIL released, inside `handle`'s runtime
/// context (so bus timers work), checking for signals every 100 ms: Ctrl-C raises
/// `KeyboardInterrupt` here and drops the future. Works from any thread, including the
/// blocking-pool threads Python handlers run on (a handler that asks waits here without
/// holding the GIL, so other Python actors keep running). Once the interpreter is exiting, a
/// wait inside a handler raises `BusClosed` (see `callbacks`), so the handler can return.
pub(crate) fn wait<F>(py: Python<'_>, handle: &Handle, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = pin!(fut);
    loop {
        let polled = py.detach(|| poll_for(handle, fut.as_mut(), SIGNAL_CHECK));
        match polled {
            Some(v) => return Ok(v),
            None => {
                py.check_signals()?;
                if callbacks::exiting_in_call() {
                    return Err(BusClosed::new_err(callbacks::EXITING));
                }
            }
        }
    }
}

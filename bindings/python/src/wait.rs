//! Waiting for a Rust future from Python without holding the GIL.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Handle;

/// How often a waiting thread takes the GIL back to look for Ctrl-C (the main thread only
/// sees signals between Python bytecodes).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on the calling thread with the GIL released, inside `handle`'s runtime
/// context (so bus timers work), checking for signals every 100 ms: Ctrl-C raises
/// `KeyboardInterrupt` here and drops the future. Works from any thread, including the
/// blocking-pool threads Python handlers run on (a handler that asks waits here without
/// holding the GIL, so other Python actors keep running).
pub(crate) fn wait<F>(py: Python<'_>, handle: &Handle, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    loop {
        let polled = py.detach(|| {
            let _runtime = handle.enter();
            let mut cx = Context::from_waker(&waker);
            let deadline = std::time::Instant::now() + SIGNAL_CHECK;
            loop {
                if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                    return Some(v);
                }
                let now = std::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
        });
        match polled {
            Some(v) => return Ok(v),
            None => py.check_signals()?,
        }
    }
}

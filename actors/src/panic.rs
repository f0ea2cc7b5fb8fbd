//! Catching panics in actor code.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

/// Runs `fut`, turning a panic in any of its polls into `Err(payload)`.
///
/// The actor's state may be half-updated after a panic; that is why a panic is a failure that
/// the actor's `on_failure` hook and its supervisor decide about, never silently ignored.
pub(crate) async fn catch_unwind_future<F: Future>(
    fut: F,
) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut fut = pin!(fut);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

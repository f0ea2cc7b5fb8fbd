//! Catching panics in actor code.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// The future of [`catch_unwind_future`].
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

/// Runs `fut`, turning a panic in any of its polls into `Err(payload)`.
///
/// The actor's state may be half-updated after a panic; that is why a panic is a failure that
/// the actor's `on_failure` hook and its supervisor decide about, never silently ignored.
///
/// A struct rather than an `async fn`: an `async fn` would keep `fut` as its argument and move
/// it into a pinned local on its first poll, a copy of the whole handler future per message.
pub(crate) fn catch_unwind_future<F: Future>(fut: F) -> CatchUnwind<F> {
    CatchUnwind { fut }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

//! Catching panics in actor code.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// The future of [`catch_unwind_future`].
    #[project = CatchUnwindProj]
    pub(crate) enum CatchUnwind<F> {
        /// The future was made: it runs.
        Running {
            #[pin]
            fut: F,
        },
        /// Making the future panicked: the payload, given on the first poll.
        Panicked {
            payload: Option<Box<dyn Any + Send>>,
        },
    }
}

/// Makes the future with `make` and runs it, turning a panic in `make` or in any of the
/// future's polls into `Err(payload)`.
///
/// `make` runs inside the guard because a handler or hook declared as a plain `fn` returning
/// `impl Future` may run code (and panic) before its future exists.
///
/// The actor's state may be half-updated after a panic; that is why a panic is a failure that
/// the actor's `on_failure` hook and its supervisor decide about, never silently ignored.
///
/// A struct rather than an `async fn`: an `async fn` would keep the future as its argument and
/// move it into a pinned local on its first poll, a copy of the whole handler future per
/// message.
#[inline(always)]
pub(crate) fn catch_unwind_future<F: Future>(make: impl FnOnce() -> F) -> CatchUnwind<F> {
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(fut) => CatchUnwind::Running { fut },
        Err(payload) => CatchUnwind::Panicked {
            payload: Some(payload),
        },
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CatchUnwindProj::Running { fut } => {
                match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                    Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(payload) => Poll::Ready(Err(payload)),
                }
            }
            CatchUnwindProj::Panicked { payload } => Poll::Ready(Err(take_payload(payload))),
        }
    }
}

/// The payload of a panic in making the future. Polled again after it reported the panic
/// (which no caller here does), the same answer without the payload, rather than a panic of
/// its own. Out of line and cold: the poll is the frame that catches a panic of the future,
/// and the unwinder reads its rules and call sites on every panic.
#[cold]
#[inline(never)]
fn take_payload(payload: &mut Option<Box<dyn Any + Send>>) -> Box<dyn Any + Send> {
    payload
        .take()
        .unwrap_or_else(|| Box::new("a future polled again after it panicked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll<F: Future>(
        fut: Pin<&mut CatchUnwind<F>>,
    ) -> Poll<Result<F::Output, Box<dyn Any + Send>>> {
        fut.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// The panic's message, read as a failure reads it.
    fn message(payload: Box<dyn Any + Send>) -> String {
        crate::failure::Failure::from_panic(crate::failure::Phase::Start, payload)
            .reason
            .to_string()
    }

    #[test]
    fn a_future_that_completes_gives_its_output() {
        let mut fut = std::pin::pin!(catch_unwind_future(|| async { 7 }));
        assert!(matches!(poll(fut.as_mut()), Poll::Ready(Ok(7))));
    }

    #[test]
    fn a_panic_in_a_poll_is_its_payload() {
        let mut fut = std::pin::pin!(catch_unwind_future(|| async {
            if std::hint::black_box(true) {
                panic!("in the poll");
            }
        }));
        match poll(fut.as_mut()) {
            Poll::Ready(Err(payload)) => assert_eq!(message(payload), "in the poll"),
            _ => panic!("the panic was not caught"),
        }
    }

    #[test]
    fn a_panic_in_making_the_future_is_its_payload_and_a_second_poll_says_so() {
        fn make() -> std::future::Ready<u8> {
            panic!("before the future");
        }
        let mut fut = std::pin::pin!(catch_unwind_future(make));
        match poll(fut.as_mut()) {
            Poll::Ready(Err(payload)) => assert_eq!(message(payload), "before the future"),
            _ => panic!("the panic was not caught"),
        }
        match poll(fut.as_mut()) {
            Poll::Ready(Err(payload)) => {
                assert_eq!(message(payload), "a future polled again after it panicked")
            }
            _ => panic!("a second poll must report the panic again"),
        }
    }
}

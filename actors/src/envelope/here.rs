//! An ask made by the direct call, answered in the asker's own place.
//!
//! An ask through the mailbox needs a channel for its answer: the handler runs on the actor's
//! task, later, while the asker waits on its own. The direct call runs the handler on the
//! asker's task, and most handlers finish in that one poll; a channel there was an allocation,
//! its free and a handful of atomic operations per ask, about 40% of the instructions of an
//! in-process ask (measured at bafc9cf, 2026-11-27: docs/perf/actors.md). So a direct call's
//! handler writes its answer straight into a place the asker holds ([`Answer`]), and only a
//! handler that does not finish in that poll makes a channel: at the end of the poll, before
//! the asker's task goes on, it leaves the channel's receiving end in the place and keeps the
//! sending end for the actor's task, which polls it to the end. An ask through the mailbox
//! takes the same future with its channel in place from the start ([`through_channel`]).

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::Poll;

use tokio::sync::oneshot;

use super::{message_name, Outcome, Payload};
use crate::error::NoReply;
use crate::failure::{Failure, Phase};
use crate::handler::Handler;
use crate::panic::{catch_unwind_future, CatchUnwind};
use crate::recording::ReplyRecord;
use crate::{Context, StopReason};
use std::sync::Arc;

/// The asker's place for the answer of an ask made by the direct call.
pub(crate) enum Answer<R> {
    /// Nothing came: the handler has not run.
    Empty,
    /// The handler finished in the direct call's poll, or failed in it: its answer.
    Ready(Result<R, NoReply>),
    /// The handler went on after that poll, on the actor's task: its answer comes on this.
    Later(oneshot::Receiver<Result<R, NoReply>>),
}

/// An ask's message with the place its answer goes to, for the direct call only (never in a
/// mailbox: see [`HereAsk::new`]).
pub(crate) struct HereAsk<M, R> {
    msg: M,
    place: Place<R>,
}

/// A pointer to the asker's [`Answer`].
struct Place<R>(NonNull<Answer<R>>);

// SAFETY: the pointer is written through only during the first poll of the handler's future
// (or by `undeliverable` before any poll), which the asker makes on its own thread while its
// place is alive and untouched ([`HereAsk::new`]'s contract); after that poll the future no
// longer holds it. Moving the pointer to another thread moves no access with it.
unsafe impl<R: Send> Send for Place<R> {}

impl<M, R> HereAsk<M, R> {
    /// `msg`, answered in `place`.
    ///
    /// # Safety
    ///
    /// Until this payload has been consumed and, if consumed by [`Payload::run`], the future
    /// it makes has returned from its first poll (or been dropped unpolled), `place` must stay
    /// where it is, be read or written by no one else, and that first poll must be made on
    /// the thread that owns `place`. So it is never put in an envelope: a mailbox would hold
    /// it past any such bound.
    pub(crate) unsafe fn new(msg: M, place: &mut Answer<R>) -> Self {
        HereAsk {
            msg,
            place: Place(NonNull::from(place)),
        }
    }

    /// The message, for an ask that the direct call declined.
    pub(crate) fn into_message(self) -> M {
        self.msg
    }
}

/// Where the handler's answer goes.
enum To<R> {
    /// The asker's place, during the first poll.
    Place(Place<R>),
    /// The asker's channel, after a first poll that did not finish.
    Channel(oneshot::Sender<Result<R, NoReply>>),
    /// Answered.
    Done,
}

impl<R> To<R> {
    fn answer(&mut self, answer: Result<R, NoReply>) {
        match std::mem::replace(self, To::Done) {
            // SAFETY: a `Place` is only held until the end of the first poll, during which
            // the asker's place is alive and untouched (`HereAsk::new`'s contract).
            To::Place(place) => unsafe { *place.0.as_ptr() = Answer::Ready(answer) },
            // The asker may have given up (timeout, dropped future): nothing to do.
            To::Channel(tx) => drop(tx.send(answer)),
            To::Done => {}
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of an ask made by the direct call: its handler's, the answer written to the
    /// asker's place or, once the first poll is over, sent on a channel.
    struct AskedHere<F, M, R> {
        #[pin]
        handling: CatchUnwind<F>,
        to: To<R>,
        // Set for an ask of a recorded actor.
        record: Option<Arc<ReplyRecord>>,
        _msg: PhantomData<fn() -> M>,
    }
}

impl<F, M, R> Future for AskedHere<F, M, R>
where
    F: Future<Output = R>,
    R: 'static,
{
    type Output = Outcome;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Outcome> {
        let this = self.project();
        let polled = match this.record {
            None => this.handling.poll(cx),
            Some(record) => crate::recording::poll_handling(record, this.handling, cx),
        };
        match polled {
            Poll::Ready(Ok(reply)) => {
                if let Some(record) = this.record {
                    record.report(&reply);
                }
                this.to.answer(Ok(reply));
                Poll::Ready(Outcome::Done)
            }
            Poll::Ready(Err(payload)) => Poll::Ready(here_panicked::<M, R>(payload, this.to)),
            Poll::Pending => {
                if let To::Place(_) = this.to {
                    went_on(this.to);
                }
                Poll::Pending
            }
        }
    }
}

/// The future of an asked `M` whose answer goes on `reply` (an ask through the mailbox):
/// the same as a direct ask's once its first poll is over.
pub(super) fn through_channel<F, M, R>(
    handling: CatchUnwind<F>,
    reply: oneshot::Sender<Result<R, NoReply>>,
    record: Option<Arc<ReplyRecord>>,
) -> impl Future<Output = Outcome> + Send
where
    F: Future<Output = R> + Send,
    R: Send + 'static,
{
    AskedHere::<F, M, R> {
        handling,
        to: To::Channel(reply),
        record,
        _msg: PhantomData,
    }
}

/// The end of a first poll that did not finish: the asker gets a channel's receiving end in
/// its place, and the future keeps the sending end.
#[cold]
#[inline(never)]
fn went_on<R>(to: &mut To<R>) {
    let (tx, rx) = oneshot::channel();
    if let To::Place(place) = std::mem::replace(to, To::Channel(tx)) {
        // SAFETY: still in the first poll: the asker's place is alive and untouched
        // (`HereAsk::new`'s contract).
        unsafe { *place.0.as_ptr() = Answer::Later(rx) };
    }
}

/// The outcome of an `M` asked by the direct call whose handler panicked, the asker told of
/// it. Out of line and cold, as `envelope`'s failure paths are.
#[cold]
#[inline(never)]
fn here_panicked<M, R>(payload: Box<dyn Any + Send>, to: &mut To<R>) -> Outcome {
    let failure = Failure::from_panic(Phase::Message(message_name::<M>()), payload);
    to.answer(Err(NoReply::Failed(failure.clone())));
    Outcome::Failed(Box::new(failure))
}

impl<A, M> Payload<A> for HereAsk<M, <A as Handler<M>>::Reply>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type() -> &'static str {
        message_name::<M>()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        let HereAsk { msg, place } = self;
        ctx.record_handled(crate::recording::Delivery::Ask, &msg);
        let record = ctx.reply_record();
        AskedHere::<_, M, _> {
            handling: catch_unwind_future(|| actor.handle(msg, ctx)),
            to: To::Place(place),
            record,
            _msg: PhantomData,
        }
    }

    fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send> {
        To::Place(self.place).answer(Err(NoReply::Stopped(reason)));
        Box::new(self.msg)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }
}

#[cfg(test)]
mod tests {
    // Exercised through the direct call's tests (`tests/direct_ask.rs`, also run under
    // AddressSanitizer, valgrind memcheck and ThreadSanitizer in CI); these check the future
    // on its own, polled by hand.
    use super::*;

    use std::task::{Context as TaskContext, Waker};

    /// A handler's future that finishes at its second poll.
    struct Twice(bool, u32);

    impl Future for Twice {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<u32> {
            if self.0 {
                Poll::Ready(self.1)
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn asked<F: Future<Output = u32>>(
        make: impl FnOnce() -> F,
        place: &mut Answer<u32>,
    ) -> AskedHere<F, (), u32> {
        AskedHere {
            handling: catch_unwind_future(make),
            to: To::Place(Place(NonNull::from(place))),
            record: None,
            _msg: PhantomData,
        }
    }

    #[test]
    fn a_handler_that_finishes_at_once_answers_in_the_place() {
        let mut place = Answer::Empty;
        let mut fut = Box::pin(asked(|| Twice(true, 7), &mut place));
        let mut cx = TaskContext::from_waker(Waker::noop());
        assert!(matches!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready(Outcome::Done)
        ));
        drop(fut);
        assert!(matches!(place, Answer::Ready(Ok(7))));
    }

    #[test]
    fn a_handler_that_goes_on_leaves_a_channel_in_the_place() {
        let mut place = Answer::Empty;
        let mut fut = Box::pin(asked(|| Twice(false, 9), &mut place));
        let mut cx = TaskContext::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let Answer::Later(mut rx) = std::mem::replace(&mut place, Answer::Empty) else {
            panic!("no channel left in the place");
        };
        assert!(rx.try_recv().is_err(), "nothing yet");
        // The rest of the handler, as the actor's task would run it: the place is no longer
        // written (it is `Empty` again, and stays so).
        assert!(matches!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready(Outcome::Done)
        ));
        assert!(matches!(rx.try_recv(), Ok(Ok(9))));
        assert!(matches!(place, Answer::Empty));
    }

    #[test]
    fn a_handler_that_goes_on_and_is_dropped_closes_the_channel() {
        let mut place = Answer::Empty;
        let mut fut = Box::pin(asked(|| Twice(false, 9), &mut place));
        let mut cx = TaskContext::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(fut);
        let Answer::Later(mut rx) = place else {
            panic!("no channel left in the place");
        };
        assert!(matches!(
            rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }

    #[test]
    fn a_handler_that_panics_answers_with_the_failure() {
        let mut place = Answer::Empty;
        let mut fut = Box::pin(asked(|| async { panic!("boom") as u32 }, &mut place));
        let mut cx = TaskContext::from_waker(Waker::noop());
        assert!(matches!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready(Outcome::Failed(_))
        ));
        drop(fut);
        assert!(matches!(place, Answer::Ready(Err(NoReply::Failed(_)))));
    }
}

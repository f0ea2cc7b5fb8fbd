//! The messages through which topics reach an actor besides `Published<T>` itself: the
//! drain, how an actor takes messages out of its side buffer one at a time, and the timed
//! sink, which records the delivery latency on a bus that records metrics.

use std::sync::Arc;

use crate::envelope::{BoxFuture, PreludedTell};
use crate::error::{SendError, TrySendError};
use crate::handler::Reply;
use crate::shared::Shared;
use crate::topic::entry::Entry;
use crate::topic::Published;
use crate::{ActorId, Context, Handler, MessageSink};

/// The message that tells an actor to take the next message out of a subscription's side
/// buffer. Handled by the blanket `Handler` impl below; it never needs naming.
#[doc(hidden)]
pub struct TopicDrain<T: Send + Sync + 'static>(pub(super) Arc<Entry<T>>);

/// The reply of a drain message: the actor's own reply to the message drained, if any.
#[doc(hidden)]
pub struct DrainReply<R>(Option<R>);

impl<R: Reply> Reply for DrainReply<R> {
    fn failure(&self) -> Option<String> {
        self.0.as_ref().and_then(Reply::failure)
    }
}

impl<A, T> Handler<TopicDrain<T>> for A
where
    A: Handler<Published<T>>,
    T: Send + Sync + 'static,
{
    type Reply = DrainReply<<A as Handler<Published<T>>>::Reply>;

    async fn handle(&mut self, drain: TopicDrain<T>, ctx: &mut Context<A>) -> Self::Reply {
        match drain.0.take_next() {
            Some(msg) => DrainReply(Some(
                <A as Handler<Published<T>>>::handle(self, msg, ctx).await,
            )),
            None => DrainReply(None),
        }
    }
}

/// An actor's mailbox as a subscription target of a bus that records metrics: handling a
/// message records its delivery latency first, then runs the actor's
/// `Handler<Published<T>>` (a [`PreludedTell`], so failures, dead letters and refusals
/// still name and carry the `Published<T>`).
pub(super) struct TimedSink<A: crate::Actor>(pub(super) Arc<Shared<A>>);

impl<A, T> MessageSink<Published<T>> for TimedSink<A>
where
    A: Handler<Published<T>>,
    T: Send + Sync + 'static,
{
    fn try_tell(&self, msg: Published<T>) -> Result<(), TrySendError<Published<T>>> {
        self.0.try_tell_payload(timed(msg))
    }

    fn tell(&self, msg: Published<T>) -> BoxFuture<'_, Result<(), SendError<Published<T>>>> {
        Box::pin(self.0.tell_payload(timed(msg)))
    }

    fn id(&self) -> ActorId {
        self.0.id()
    }

    fn is_alive(&self) -> bool {
        self.0.stop_reason().is_none()
    }
}

/// `msg` as a tell that records its delivery latency when the actor takes it.
fn timed<T: Send + Sync + 'static>(msg: Published<T>) -> PreludedTell<Published<T>> {
    PreludedTell {
        msg,
        prelude: Published::record_delivery,
    }
}

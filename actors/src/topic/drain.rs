//! The drain message: how an actor takes messages out of its side buffer one at a time.

use std::sync::Arc;

use crate::handler::Reply;
use crate::topic::entry::Entry;
use crate::topic::Published;
use crate::{Context, Handler};

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

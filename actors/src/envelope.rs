//! Envelopes: a message with its reply slot, type-erased so one mailbox carries every message
//! type an actor handles.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use tokio::sync::oneshot;

use crate::error::NoReply;
use crate::failure::{Failure, Phase};
use crate::handler::{Handler, Reply};
use crate::panic::catch_unwind_future;
use crate::{Actor, Context, StopReason};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What handling one envelope came to.
pub(crate) enum Outcome {
    Done,
    Failed(Failure),
}

pub(crate) trait Envelope<A: Actor>: Send {
    fn message_type(&self) -> &'static str;
    /// Runs the handler, catching a panic. An ask's reply slot always gets an answer: the
    /// reply, or the failure.
    fn handle<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> BoxFuture<'a, Outcome>;
    /// The actor will never handle this message: tell an asker why and hand the message back.
    fn undeliverable(self: Box<Self>, reason: StopReason) -> Box<dyn Any + Send>;
    /// The message back, for a send that failed.
    fn into_message(self: Box<Self>) -> Box<dyn Any + Send>;
}

pub(crate) type BoxEnvelope<A> = Box<dyn Envelope<A>>;

/// What travels through an actor's mailbox.
pub(crate) enum Signal<A: Actor> {
    Message(BoxEnvelope<A>),
    /// End the current incarnation (`ActorRef::stop`).
    Stop,
    /// Stop for good, from the supervisor or the bus; no restart decision is asked for.
    Terminate(StopReason),
    /// End the current incarnation for a sibling's restart; ack when the state is dropped.
    Suspend(oneshot::Sender<()>),
    /// Build a new incarnation; ack once `on_start` has finished (either way).
    Restart(Option<oneshot::Sender<()>>),
}

pub(crate) struct TellEnvelope<M> {
    pub(crate) msg: M,
}

pub(crate) struct AskEnvelope<M, R> {
    pub(crate) msg: M,
    pub(crate) reply: oneshot::Sender<Result<R, NoReply>>,
}

fn message_name<M>() -> &'static str {
    crate::actor::short_type_name(std::any::type_name::<M>())
}

impl<A, M> Envelope<A> for TellEnvelope<M>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type(&self) -> &'static str {
        message_name::<M>()
    }

    fn handle<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> BoxFuture<'a, Outcome> {
        let msg = self.msg;
        Box::pin(async move {
            match catch_unwind_future(actor.handle(msg, ctx)).await {
                Ok(reply) => match reply.failure() {
                    None => Outcome::Done,
                    Some(err) => Outcome::Failed(Failure::from_error(
                        Phase::Message(message_name::<M>()),
                        err,
                    )),
                },
                Err(payload) => Outcome::Failed(Failure::from_panic(
                    Phase::Message(message_name::<M>()),
                    payload,
                )),
            }
        })
    }

    fn undeliverable(self: Box<Self>, _reason: StopReason) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }

    fn into_message(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }
}

impl<A, M> Envelope<A> for AskEnvelope<M, <A as Handler<M>>::Reply>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type(&self) -> &'static str {
        message_name::<M>()
    }

    fn handle<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> BoxFuture<'a, Outcome> {
        let AskEnvelope { msg, reply } = *self;
        Box::pin(async move {
            match catch_unwind_future(actor.handle(msg, ctx)).await {
                Ok(value) => {
                    // The asker may have given up (timeout, dropped future): nothing to do.
                    let _ = reply.send(Ok(value));
                    Outcome::Done
                }
                Err(payload) => {
                    let failure = Failure::from_panic(Phase::Message(message_name::<M>()), payload);
                    let _ = reply.send(Err(NoReply::Failed(failure.clone())));
                    Outcome::Failed(failure)
                }
            }
        })
    }

    fn undeliverable(self: Box<Self>, reason: StopReason) -> Box<dyn Any + Send> {
        let _ = self.reply.send(Err(NoReply::Stopped(reason)));
        Box::new(self.msg)
    }

    fn into_message(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }
}

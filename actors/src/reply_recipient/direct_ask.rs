//! `DirectAsk<M, R>`, the direct call of a local actor behind a reply recipient: an ask's
//! handler runs on the asker's task when the actor is idle. `Direct` and `Declined` say what
//! such a call came to.

use std::marker::PhantomData;

use crate::direct::Attempt;
use crate::envelope::{HereAsk, SystemSignal};
use crate::error::AskError;
use crate::shared::Shared;
use crate::{ActorRef, Handler};

use super::PendingReply;

/// The direct call of a local actor, behind its reply recipient (see `direct`).
pub(crate) trait DirectAsk<M, R>: Send + Sync {
    /// Runs the ask's handler on the calling task if the actor is idle, its answer written
    /// in the asker's place, or hands the request back.
    fn try_run(
        &self,
        here: HereAsk<M, R>,
        cx: &mut std::task::Context<'_>,
    ) -> Attempt<HereAsk<M, R>>;
}

impl<A, M> DirectAsk<M, <A as Handler<M>>::Reply> for Shared<A>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn try_run(
        &self,
        here: HereAsk<M, <A as Handler<M>>::Reply>,
        cx: &mut std::task::Context<'_>,
    ) -> Attempt<HereAsk<M, <A as Handler<M>>::Reply>> {
        self.direct.try_run(
            here,
            cx,
            || self.mailbox.is_idle(),
            || drop(self.mailbox.send_system(SystemSignal::Resume.envelope())),
        )
    }
}

/// The direct call of whichever actor
/// [`ReplyRecipient::following`](super::ReplyRecipient::following)'s `current` gives.
pub(super) struct Following<A, F> {
    pub(super) current: F,
    pub(super) actor: PhantomData<fn() -> A>,
}

impl<A, M, F> DirectAsk<M, <A as Handler<M>>::Reply> for Following<A, F>
where
    A: Handler<M>,
    M: Send + 'static,
    F: Fn() -> ActorRef<A> + Send + Sync,
{
    fn try_run(
        &self,
        here: HereAsk<M, <A as Handler<M>>::Reply>,
        cx: &mut std::task::Context<'_>,
    ) -> Attempt<HereAsk<M, <A as Handler<M>>::Reply>> {
        // The actor's task keeps its cell alive while it runs a handler handed to it; this
        // ref only needs to outlive the attempt.
        let actor = (self.current)();
        actor.shared.try_run(here, cx)
    }
}

/// What the direct call of an ask came to
/// ([`ReplyRecipient::try_direct`](super::ReplyRecipient::try_direct)).
pub(crate) enum Direct<M, R> {
    /// The handler ran here and answered.
    Answered(Result<R, AskError<()>>),
    /// The handler ran here (or failed) and its answer comes later.
    Later(PendingReply<R>),
    /// The actor could not take it now: the request, to be queued.
    Declined(Declined<M, R>),
}

/// A request the direct call declined, to be queued with a channel for its reply
/// ([`ReplyRecipient::queue_declined`](super::ReplyRecipient::queue_declined)).
pub(crate) struct Declined<M, R> {
    pub(super) msg: M,
    reply: PhantomData<fn() -> R>,
}

impl<M, R> Declined<M, R> {
    pub(super) fn of(msg: M) -> Self {
        Declined {
            msg,
            reply: PhantomData,
        }
    }
}

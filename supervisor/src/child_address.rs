//! [`ChildAddress`]: the sink behind [`SupervisorRef::child_recipient`] and
//! [`SupervisorRef::child_reply_recipient`], an address that follows a supervised child by
//! name. A child restarted in place keeps its ref, but one that was killed is spawned anew
//! with a new ref: an address that kept the first ref would answer `Stopped` from then on.

use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_actors::{
    Actor, ActorId, ActorRef, AskError, BoxFuture, Clock, Handler, MessageSink, Queued,
    ReplySender, RequestSink, SendError, StopReason, TrySendError,
};

use crate::directory::{Directory, Path};

/// Sends to the incarnation of the child `name` that runs now. The last one found is cached;
/// the directory is read again only once its mailbox is closed (killed, or stopped for good),
/// so a send to a running child costs an uncontended lock, an atomic load and a reference
/// count more than a send through its own ref. The child's supervisor is found again by its
/// path from the tree's root, so a nested supervisor spawned anew is followed too.
pub(crate) struct ChildAddress<A: Actor> {
    home: Path,
    name: Arc<str>,
    clock: Clock,
    cached: Mutex<ActorRef<A>>,
}

impl<A: Actor> ChildAddress<A> {
    /// The address of the child `name` of the supervisor at `home` (whose directory is
    /// `directory` now), if it has one and it is an `A`.
    pub(crate) fn find(
        home: &Path,
        directory: &Directory,
        clock: &Clock,
        name: &str,
    ) -> Option<Self> {
        let found = ActorRef::from_handle(&directory.find(name)?.handle)?;
        Some(ChildAddress {
            home: home.clone(),
            name: Arc::from(name),
            clock: clock.clone(),
            cached: Mutex::new(found),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ActorRef<A>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The incarnation that runs now or, between a kill and the restart that spawns the child
    /// anew (or once the tree has given it up), the last one, whose sends are refused.
    pub(crate) fn current(&self) -> ActorRef<A> {
        let mut cached = self.lock();
        if cached.is_closed() {
            if let Some(found) = self
                .home
                .resolve()
                .and_then(|(_, directory)| directory.find(&self.name))
                .and_then(|e| ActorRef::from_handle(&e.handle))
            {
                *cached = found;
            }
        }
        cached.clone()
    }
}

impl<A, M> MessageSink<M> for ChildAddress<A>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        self.current().try_tell(msg)
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        let actor = self.current();
        Box::pin(async move { actor.tell(msg).await })
    }

    fn id(&self) -> ActorId {
        self.current().id()
    }

    // See `SupervisorRef::child_recipient`: true while the tree still means to run the child.
    fn is_alive(&self) -> bool {
        if !self.current().is_closed() {
            return true;
        }
        self.home.resolve().is_some_and(|(supervisor, directory)| {
            supervisor.is_alive()
                && directory
                    .find(&self.name)
                    .is_some_and(|e| e.running || e.restarting)
        })
    }
}

impl<A, M> RequestSink<M, <A as Handler<M>>::Reply> for ChildAddress<A>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn send_request(&self, msg: M, reply: ReplySender<<A as Handler<M>>::Reply>) -> Queued<'_, M> {
        self.current().send_request(msg, reply)
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    // A local reply slot is dropped unanswered only when the incarnation's task is aborted.
    fn unanswered(&self) -> AskError<M> {
        AskError::Stopped(StopReason::Killed)
    }
}

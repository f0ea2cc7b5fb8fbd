//! `RequestSink<M, R>`: the seam a proxy for an actor in another process implements to answer
//! asks. `ReplySender` is where the answer to one request goes; `Placed` and the `*_placed`
//! methods serve a sink that keeps each answer where its asker waits.

use std::fmt;
use std::task::Poll;

use tokio::sync::oneshot;

use crate::envelope::{AskEnvelope, BoxFuture, Envelope};
use crate::error::{AskError, NoReply, SendError, TrySendError};
use crate::shared::{unwrap_message, Shared};
use crate::{Clock, Failure, Handler, MessageSink, NodeId, StopReason};

/// Where the answer to one request goes. A [`RequestSink`] receives it with the request and
/// must answer exactly once: with the reply ([`send`](Self::send)), or, for an actor of this
/// process behind the sink, with its failure or stop ([`failed`](Self::failed),
/// [`stopped`](Self::stopped)), or, for a request that has left the process, with
/// [`lost`](Self::lost) when the link drops or the peer reports a failure, or, for one that
/// was queued but never left, with [`unsent`](Self::unsent). One dropped unanswered gives the
/// asker [`RequestSink::unanswered`].
pub struct ReplySender<R> {
    pub(super) tx: oneshot::Sender<Result<R, NoReply>>,
}

impl<R> ReplySender<R> {
    pub(crate) fn into_inner(self) -> oneshot::Sender<Result<R, NoReply>> {
        self.tx
    }

    /// Answers with the reply. Hands it back when the asker has given up (timed out, or
    /// dropped its future).
    pub fn send(self, reply: R) -> Result<(), R> {
        self.tx.send(Ok(reply)).map_err(|back| match back {
            Ok(reply) => reply,
            Err(_) => unreachable!("the value sent was an `Ok`"),
        })
    }

    /// Answers that the request left this process for `node` and its answer is lost: the
    /// asker gets [`AskError::Lost`] at once, not at its timeout.
    pub fn lost(self, node: NodeId, reason: impl Into<String>) {
        let _ = self.tx.send(Err(NoReply::Lost {
            node,
            reason: reason.into(),
        }));
    }

    /// Answers that the actor failed while handling the request (a sink in front of an actor
    /// of this process that reports its failures itself, such as one hosted in another
    /// language): the asker gets [`AskError::Failed`] with `failure`.
    pub fn failed(self, failure: Failure) {
        let _ = self.tx.send(Err(NoReply::Failed(failure)));
    }

    /// Answers that the actor stopped, for `reason`, before it answered: the asker gets
    /// [`AskError::Stopped`].
    pub fn stopped(self, reason: StopReason) {
        let _ = self.tx.send(Err(NoReply::Stopped(reason)));
    }

    /// Answers that the request never left this process after all (its link closed for good
    /// before writing it), and hands it back: the asker gets [`AskError::Closed`] with it, to
    /// send again elsewhere or later. `request` is the asked message, of the type `M` the
    /// asker sent.
    pub fn unsent<M: Send + 'static>(self, node: NodeId, request: M) {
        let _ = self.tx.send(Err(NoReply::Unsent {
            node,
            request: Box::new(request),
        }));
    }

    /// True once the asker has given up: the answer would go nowhere.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<R> fmt::Debug for ReplySender<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplySender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// What [`RequestSink::send_request`] did with a request.
pub enum Queued<'a, M> {
    /// Decided at once: queued (`Ok`), or refused before leaving with the request handed back.
    Ready(Result<(), SendError<M>>),
    /// The queue is full: awaiting this waits for room, then decides as `Ready` does.
    Waiting(BoxFuture<'a, Result<(), SendError<M>>>),
}

/// Anything that accepts requests of type `M` answered with an `R`: a local actor whose
/// `Handler<M>` replies with `R`, or a proxy for one in another process. Implement it to put
/// a remote actor behind a [`ReplyRecipient`](super::ReplyRecipient).
///
/// A proxy keeps the [`ReplySender`] of each request it sends (keyed by a correlation id, say)
/// and answers it when the reply arrives, or with [`ReplySender::lost`] when the link drops.
/// While a request is still in this process, a refusal hands it back
/// ([`Queued::Ready`]`(Err(SendError(msg)))`); once it has left, only `lost` can answer. A
/// request queued but never sent (its link closed for good first) can be handed back later
/// with [`ReplySender::unsent`].
///
/// A proxy whose "link" is a channel to a task that plays the peer:
///
/// ```
/// use std::sync::Arc;
/// use mycelium_actors::{
///     ActorId, AskError, BoxFuture, Bus, Clock, MessageSink, NodeId, Queued, ReplyRecipient,
///     ReplySender, RequestSink, SendError, TrySendError,
/// };
/// use tokio::sync::mpsc;
///
/// struct Proxy { link: mpsc::UnboundedSender<(u32, ReplySender<u32>)>, clock: Clock }
///
/// impl MessageSink<u32> for Proxy {
///     fn try_tell(&self, msg: u32) -> Result<(), TrySendError<u32>> {
///         Err(TrySendError::Closed(msg)) // this proxy only carries asks
///     }
///     fn tell(&self, msg: u32) -> BoxFuture<'_, Result<(), SendError<u32>>> {
///         Box::pin(async move { Err(SendError(msg)) })
///     }
///     fn id(&self) -> ActorId { ActorId::new(NodeId::new(1), 4) }
///     fn is_alive(&self) -> bool { !self.link.is_closed() }
/// }
///
/// impl RequestSink<u32, u32> for Proxy {
///     fn send_request(&self, msg: u32, reply: ReplySender<u32>) -> Queued<'_, u32> {
///         match self.link.send((msg, reply)) {
///             Ok(()) => Queued::Ready(Ok(())),
///             // Still in this process: hand the request back.
///             Err(back) => Queued::Ready(Err(SendError(back.0 .0))),
///         }
///     }
///     fn clock(&self) -> &Clock { &self.clock }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let (link, mut peer) = mpsc::unbounded_channel::<(u32, ReplySender<u32>)>();
/// tokio::spawn(async move {
///     while let Some((n, reply)) = peer.recv().await {
///         if n == 0 {
///             reply.lost(NodeId::new(1), "connection reset"); // the link dropped
///         } else {
///             let _ = reply.send(n * 2);
///         }
///     }
/// });
/// let remote = ReplyRecipient::new(Arc::new(Proxy { link, clock: bus.clock().clone() }));
/// assert_eq!(remote.ask(21).await.unwrap(), 42);
/// assert!(matches!(remote.ask(0).await, Err(AskError::Lost { .. })));
/// # });
/// ```
pub trait RequestSink<M, R>: MessageSink<M> {
    /// Queues `msg` with the slot its answer goes to, without waiting when there is room.
    fn send_request(&self, msg: M, reply: ReplySender<R>) -> Queued<'_, M>;

    /// The bus clock that [`ReplyRecipient::ask_timeout`](super::ReplyRecipient::ask_timeout)
    /// measures timeouts on.
    fn clock(&self) -> &Clock;

    /// Called by an asker once [`send_request`](Self::send_request) has queued its request,
    /// before it waits for the answer, with a test of whether the answer has come. A proxy
    /// whose answers arrive on a channel that the asker's own thread can read (a link that
    /// polls its socket or ring rather than park on it) may read it here, for a short time,
    /// so that the answer reaches the asker without a hop through another task. Does nothing
    /// by default.
    fn read_answer(&self, answered: &dyn Fn() -> bool) {
        let _ = answered;
    }

    /// What the asker gets when a [`ReplySender`] is dropped unanswered. By default: the
    /// answer from [`id`](MessageSink::id)'s node is lost.
    fn unanswered(&self) -> AskError<M> {
        AskError::Lost {
            node: self.id().node(),
            reason: "the request's reply slot was dropped unanswered".to_string(),
        }
    }

    /// Queues `msg` as an ask whose answer the sink keeps for the asker itself, under a
    /// ticket of the sink's choosing, instead of sending it down a reply channel: the asker
    /// then takes it with [`read_placed`](Self::read_placed) or
    /// [`poll_placed`](Self::poll_placed), and gives the ticket up with
    /// [`forget_placed`](Self::forget_placed) if it stops waiting. A sink that answers its
    /// asks where they wait (a link's table of asks in flight) saves the channel and its
    /// allocation per ask. [`Placed::Declined`] (the default, and for a queue without room)
    /// sends the request through [`send_request`](Self::send_request) instead.
    fn ask_placed(&self, msg: M) -> Placed<M> {
        Placed::Declined(msg)
    }

    /// Right after [`ask_placed`](Self::ask_placed): the answer to ask `ticket`, if this
    /// thread can get it at once (a link that polls its socket reads it here, as
    /// [`read_answer`](Self::read_answer) does).
    fn read_placed(&self, ticket: u64) -> Option<Result<R, AskError<M>>> {
        let _ = ticket;
        None
    }

    /// The answer to ask `ticket`, once it has come.
    fn poll_placed(
        &self,
        ticket: u64,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<R, AskError<M>>> {
        let _ = (ticket, cx);
        Poll::Ready(Err(self.unanswered()))
    }

    /// The asker of `ticket` stopped waiting (it timed out, or dropped its future) before it
    /// took the answer.
    fn forget_placed(&self, ticket: u64) {
        let _ = ticket;
    }
}

/// What [`RequestSink::ask_placed`] did with a request.
#[derive(Debug)]
pub enum Placed<M> {
    /// Queued under this ticket.
    Sent(u64),
    /// Not taken this way: send it with [`RequestSink::send_request`].
    Declined(M),
    /// Refused for good (the sink is closed): the asker gets [`AskError::Closed`] with it.
    Closed(M),
}

/// Gives up an ask placed with [`RequestSink::ask_placed`] when dropped before its answer
/// was taken.
pub(super) struct PlacedTicket<'a, M: 'static, R: 'static> {
    pub(super) sink: &'a dyn RequestSink<M, R>,
    pub(super) ticket: u64,
}

impl<M: 'static, R: 'static> Drop for PlacedTicket<'_, M, R> {
    fn drop(&mut self) {
        self.sink.forget_placed(self.ticket);
    }
}

impl<A, M> RequestSink<M, <A as Handler<M>>::Reply> for Shared<A>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn send_request(&self, msg: M, reply: ReplySender<<A as Handler<M>>::Reply>) -> Queued<'_, M> {
        let env = Envelope::new(AskEnvelope {
            msg,
            reply: reply.into_inner(),
        });
        match self.mailbox.try_send(env) {
            Ok(()) => Queued::Ready(Ok(())),
            Err(TrySendError::Closed(sig)) => {
                Queued::Ready(Err(SendError(unwrap_message::<A, M>(sig))))
            }
            Err(TrySendError::Full(sig)) => Queued::Waiting(Box::pin(async move {
                self.mailbox
                    .send(sig)
                    .await
                    .map_err(|SendError(sig)| SendError(unwrap_message::<A, M>(sig)))
            })),
        }
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    // A local reply slot is dropped unanswered only when the actor's task is aborted.
    fn unanswered(&self) -> AskError<M> {
        AskError::Stopped(self.stop_reason().unwrap_or(StopReason::Killed))
    }
}

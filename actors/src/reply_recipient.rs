//! `ReplyRecipient<M, R>`: a typed request/reply address, and `RequestSink<M, R>`, the seam a
//! proxy for an actor in another process implements to answer asks.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::direct::{self, Attempt};
use crate::envelope::{Answer, AskEnvelope, BoxFuture, Envelope, HereAsk, SystemSignal};
use crate::error::{AskError, NoReply, SendError, TrySendError};
use crate::shared::{unwrap_message, Shared};
use crate::{ActorId, ActorRef, Clock, Handler, MessageSink, NodeId, Recipient, StopReason};

/// Where the answer to one request goes. A [`RequestSink`] receives it with the request and
/// must answer exactly once: with the reply ([`send`](Self::send)), or, for a request that
/// has left the process, with [`lost`](Self::lost) when the link drops or the peer reports a
/// failure, or, for one that was queued but never left, with [`unsent`](Self::unsent). One
/// dropped unanswered gives the asker [`RequestSink::unanswered`].
pub struct ReplySender<R> {
    tx: oneshot::Sender<Result<R, NoReply>>,
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
/// a remote actor behind a [`ReplyRecipient`].
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

    /// The bus clock that [`ReplyRecipient::ask_timeout`] measures timeouts on.
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
struct PlacedTicket<'a, M: 'static, R: 'static> {
    sink: &'a dyn RequestSink<M, R>,
    ticket: u64,
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

/// The reply to a request already queued ([`ReplyRecipient::ask_queued`]); the request itself
/// can no longer be handed back, so errors carry no message.
pub type PendingReply<R> = BoxFuture<'static, Result<R, AskError<()>>>;

/// A type-erased request/reply address: the caller needs only the request type `M` and the
/// reply type `R`, and the same calls work whether the actor is in this process or behind a
/// proxy for another one. For a local actor, `R` is its `Handler<M>::Reply`.
///
/// ```
/// use std::time::Duration;
/// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, ReplyRecipient};
///
/// struct Doubler;
/// impl Actor for Doubler {
///     type Args = ();
///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Doubler) }
/// }
/// impl Handler<u32> for Doubler {
///     type Reply = u64;
///     async fn handle(&mut self, n: u32, _ctx: &mut Context<Self>) -> u64 { 2 * n as u64 }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let doubler: ReplyRecipient<u32, u64> = bus.spawn::<Doubler>(()).reply_recipient();
/// assert_eq!(doubler.ask(21).await.unwrap(), 42);
/// assert_eq!(doubler.ask_timeout(4, Duration::from_secs(1)).await.unwrap(), 8);
/// doubler.tell(1).await.unwrap(); // a tell: the reply is dropped
/// let plain = doubler.recipient(); // a Recipient<u32> for code that only tells
/// assert_eq!(plain.id(), doubler.id());
/// # });
/// ```
pub struct ReplyRecipient<M, R> {
    sink: Arc<dyn RequestSink<M, R>>,
    /// For a local actor: its direct call (`ActorRef::ask`'s fast path).
    local: Option<Arc<dyn DirectAsk<M, R>>>,
}

impl<M, R> Clone for ReplyRecipient<M, R> {
    fn clone(&self) -> Self {
        ReplyRecipient {
            sink: self.sink.clone(),
            local: self.local.clone(),
        }
    }
}

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

/// The direct call of whichever actor [`ReplyRecipient::following`]'s `current` gives.
struct Following<A, F> {
    current: F,
    actor: PhantomData<fn() -> A>,
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

impl<M: 'static, R: 'static> fmt::Debug for ReplyRecipient<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyRecipient({})", self.sink.id())
    }
}

impl<M: Send + 'static, R: Send + 'static> ReplyRecipient<M, R> {
    /// Wraps any request sink, local or remote.
    pub fn new(sink: Arc<dyn RequestSink<M, R>>) -> Self {
        ReplyRecipient { sink, local: None }
    }

    /// An address of local actors found anew at each ask: `sink` queues requests, and
    /// `current` gives the actor that runs now, whose direct call an ask takes when that
    /// actor is idle (as [`ActorRef::ask`](crate::ActorRef::ask) does), so that an address
    /// that follows an actor across restarts (`SupervisorRef::child_reply_recipient`) asks as
    /// fast as the actor's own ref. `current` is called once per ask; when the direct call
    /// is declined (the actor is busy), the request goes to `sink`, which picks its actor
    /// itself.
    pub fn following<A, F>(sink: Arc<dyn RequestSink<M, R>>, current: F) -> Self
    where
        A: Handler<M, Reply = R>,
        F: Fn() -> ActorRef<A> + Send + Sync + 'static,
    {
        ReplyRecipient {
            sink,
            local: Some(Arc::new(Following {
                current,
                actor: PhantomData,
            })),
        }
    }

    /// A local actor's: its asks take the direct call when it is idle.
    pub(crate) fn local<S>(shared: Arc<S>) -> Self
    where
        S: RequestSink<M, R> + DirectAsk<M, R> + 'static,
    {
        ReplyRecipient {
            sink: shared.clone(),
            local: Some(shared),
        }
    }

    /// Sends `msg` and waits for the reply: waits for room in a full queue first. A local
    /// actor that is idle runs the handler on this task (see [`ActorRef::ask`](crate::ActorRef::ask)).
    ///
    /// Before the request leaves this process a refusal hands it back
    /// ([`AskError::Closed`]); after, a lost answer is [`AskError::Lost`].
    pub async fn ask(&self, msg: M) -> Result<R, AskError<M>> {
        let msg = match &self.local {
            // An idle local actor's handler runs here, as `ActorRef::ask`'s does, and answers
            // in `answer`.
            Some(local) => {
                let mut answer = Answer::Empty;
                // SAFETY: `answer` stays where it is in this future's state, untouched, until
                // `offer` returns, and the handler's first poll is made inside `offer`, on
                // this thread; a declined payload is taken apart below, never put in a
                // mailbox.
                let here = unsafe { HereAsk::new(msg, &mut answer) };
                match direct::offer(here, |here, cx| local.try_run(here, cx)).await {
                    Some(declined) => declined.into_message(),
                    None => {
                        return match answer {
                            Answer::Ready(answer) => answer.map_err(NoReply::into_ask_error),
                            Answer::Later(rx) => self.answer(rx.await),
                            // Never: a handler that ran answered or left a channel.
                            Answer::Empty => Err(self.sink.unanswered()),
                        };
                    }
                }
            }
            // A sink that keeps the answer for its asker (a link's asks in flight) needs no
            // reply channel.
            None => match self.sink.ask_placed(msg) {
                Placed::Sent(ticket) => {
                    let placed = PlacedTicket {
                        sink: &*self.sink,
                        ticket,
                    };
                    let answer = match self.sink.read_placed(ticket) {
                        Some(answer) => answer,
                        None => std::future::poll_fn(|cx| self.sink.poll_placed(ticket, cx)).await,
                    };
                    // Taken: the sink has let the ticket go.
                    std::mem::forget(placed);
                    return answer;
                }
                Placed::Closed(msg) => return Err(AskError::Closed(msg)),
                Placed::Declined(msg) => msg,
            },
        };
        let rx = self.queue(msg).await?;
        self.sink.read_answer(&|| !rx.is_empty());
        self.answer(rx.await)
    }

    /// The asker's side of what came on its reply channel.
    fn answer(
        &self,
        answer: Result<Result<R, NoReply>, oneshot::error::RecvError>,
    ) -> Result<R, AskError<M>> {
        match answer {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(no_reply)) => Err(no_reply.into_ask_error()),
            Err(_) => Err(self.sink.unanswered()),
        }
    }

    /// Queues a request the direct call declined or could not take (waiting for room), with
    /// the channel its answer comes on; a refusal hands the message back.
    async fn queue(&self, msg: M) -> Result<oneshot::Receiver<Result<R, NoReply>>, AskError<M>> {
        let (tx, rx) = oneshot::channel();
        let queued = match self.sink.send_request(msg, ReplySender { tx }) {
            Queued::Ready(result) => result,
            Queued::Waiting(wait) => wait.await,
        };
        queued.map_err(|SendError(msg)| AskError::Closed(msg))?;
        Ok(rx)
    }

    /// [`ask`](Self::ask) in two steps: returns once `msg` is queued (after waiting for room
    /// in a full queue), with the reply still to come as a [`PendingReply`]. A caller that
    /// must keep its own sends in order (a link reading a stream of requests and tells) awaits
    /// this before sending the next message, and the reply on its own.
    ///
    /// A local actor that is idle runs the handler on this task first, as for `ask` (the
    /// reply is then ready at once): a link reading requests answers them without a hop
    /// through the actor's task, at the price of reading its next frame only after the
    /// handler's first poll.
    ///
    /// ```
    /// # use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, ReplyRecipient};
    /// # struct Doubler;
    /// # impl Actor for Doubler {
    /// #     type Args = ();
    /// #     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Doubler) }
    /// # }
    /// # impl Handler<u32> for Doubler {
    /// #     type Reply = u64;
    /// #     async fn handle(&mut self, n: u32, _ctx: &mut Context<Self>) -> u64 { 2 * n as u64 }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let doubler: ReplyRecipient<u32, u64> = bus.spawn::<Doubler>(()).reply_recipient();
    /// let reply = doubler.ask_queued(21).await.unwrap(); // queued: a later tell comes after it
    /// doubler.tell(1).await.unwrap();
    /// assert_eq!(reply.await.unwrap(), 42);
    /// # });
    /// ```
    pub async fn ask_queued(&self, msg: M) -> Result<PendingReply<R>, AskError<M>> {
        // An idle local actor's handler runs here, as for `ask`: then the request is past the
        // mailbox already, and a later send still comes after it.
        let mut msg = Some(msg);
        let direct = std::future::poll_fn(|cx| match msg.take() {
            Some(msg) => Poll::Ready(self.try_direct(msg, cx)),
            // Polled again after it returned Ready: never, `poll_fn` is awaited once.
            None => Poll::Pending,
        })
        .await;
        match direct {
            Direct::Answered(answer) => Ok(Box::pin(std::future::ready(answer))),
            Direct::Later(reply) => Ok(reply),
            Direct::Declined(declined) => self.queue_declined(declined).await,
        }
    }

    /// The direct call of an ask, made with the asker's task context: the actor's handler
    /// runs here if it is idle on this runtime. For a request that cannot take it (the actor
    /// is busy, on another runtime, or not in this process) the request comes back, to be
    /// queued ([`queue_declined`](Self::queue_declined)). A handler that ran here answers in a
    /// place on this frame: a channel is made only for one that goes on after its first poll.
    pub(crate) fn try_direct(&self, msg: M, cx: &mut std::task::Context<'_>) -> Direct<M, R> {
        let Some(local) = &self.local else {
            return Direct::Declined(Declined::of(msg));
        };
        let mut answer = Answer::Empty;
        // SAFETY: `answer` is on this frame, untouched until `try_run` returns, which makes
        // the handler's first poll on this thread; a declined payload is taken apart here,
        // never put in a mailbox.
        let here = unsafe { HereAsk::new(msg, &mut answer) };
        let attempt = local.try_run(here, cx);
        match (attempt, answer) {
            (Attempt::Declined(here), _) => Direct::Declined(Declined::of(here.into_message())),
            (Attempt::Ran, Answer::Ready(answer)) => {
                Direct::Answered(answer_of(Ok(answer), &*self.sink))
            }
            (Attempt::Ran, Answer::Later(rx)) => Direct::Later(self.pending(rx)),
            // The answer (the failure) is given once the actor's task has dealt with the
            // failure, as when the handler fails there.
            (Attempt::Failed(handled), Answer::Ready(answer)) => {
                let sink = self.sink.clone();
                Direct::Later(Box::pin(async move {
                    let _ = handled.await;
                    answer_of(Ok(answer), &*sink)
                }))
            }
            // Never: a handler that ran answered or left a channel, and one that failed
            // answered with its failure.
            (Attempt::Ran | Attempt::Failed(_), _) => {
                Direct::Answered(Err(self.sink.unanswered().without_message()))
            }
        }
    }

    /// Queues a request the direct call declined (waiting for room); returns its reply to
    /// come.
    pub(crate) async fn queue_declined(
        &self,
        declined: Declined<M, R>,
    ) -> Result<PendingReply<R>, AskError<M>> {
        let rx = self.queue(declined.msg).await?;
        Ok(self.pending(rx))
    }

    /// The reply coming on `rx`.
    fn pending(&self, rx: oneshot::Receiver<Result<R, NoReply>>) -> PendingReply<R> {
        let sink = self.sink.clone();
        Box::pin(async move { answer_of(rx.await, &*sink) })
    }

    /// Like [`ask`](Self::ask), giving up after `timeout` of bus time (waiting for room in
    /// the queue counts). The request may still be handled after the timeout.
    pub async fn ask_timeout(&self, msg: M, timeout: Duration) -> Result<R, AskError<M>> {
        match self.sink.clock().timeout(timeout, self.ask(msg)).await {
            Ok(result) => result,
            Err(_) => Err(AskError::Timeout(timeout)),
        }
    }

    /// Sends `msg` as a tell, waiting for room; the reply, if any, is dropped.
    pub async fn tell(&self, msg: M) -> Result<(), SendError<M>> {
        match self.sink.try_tell(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(m)) => Err(SendError(m)),
            Err(TrySendError::Full(m)) => self.sink.tell(m).await,
        }
    }

    /// Sends `msg` as a tell without waiting; a full or closed queue hands it back.
    pub fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        self.sink.try_tell(msg)
    }

    /// The receiving actor's id.
    pub fn id(&self) -> ActorId {
        self.sink.id()
    }

    /// False once the receiver has stopped for good.
    pub fn is_alive(&self) -> bool {
        self.sink.is_alive()
    }

    /// The same address as a [`Recipient<M>`], for code that only tells.
    pub fn recipient(&self) -> Recipient<M> {
        Recipient::new(Arc::new(TellsOf(self.sink.clone())))
    }
}

impl<M: Send + 'static, R: Send + 'static> From<ReplyRecipient<M, R>> for Recipient<M> {
    fn from(r: ReplyRecipient<M, R>) -> Recipient<M> {
        r.recipient()
    }
}

/// What the direct call of an ask came to ([`ReplyRecipient::try_direct`]).
pub(crate) enum Direct<M, R> {
    /// The handler ran here and answered.
    Answered(Result<R, AskError<()>>),
    /// The handler ran here (or failed) and its answer comes later.
    Later(PendingReply<R>),
    /// The actor could not take it now: the request, to be queued.
    Declined(Declined<M, R>),
}

/// A request the direct call declined, to be queued with a channel for its reply
/// ([`ReplyRecipient::queue_declined`]).
pub(crate) struct Declined<M, R> {
    msg: M,
    reply: PhantomData<fn() -> R>,
}

impl<M, R> Declined<M, R> {
    fn of(msg: M) -> Self {
        Declined {
            msg,
            reply: PhantomData,
        }
    }
}

/// The asker's side of what came on a reply channel.
fn answer_of<M: 'static, R: 'static>(
    answer: Result<Result<R, NoReply>, oneshot::error::RecvError>,
    sink: &dyn RequestSink<M, R>,
) -> Result<R, AskError<()>> {
    match answer {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(no_reply)) => Err(no_reply.into_ask_error_without_message()),
        Err(_) => Err(sink.unanswered().without_message()),
    }
}

/// A request sink seen as a plain message sink.
struct TellsOf<M, R>(Arc<dyn RequestSink<M, R>>);

impl<M: Send + 'static, R: Send + 'static> MessageSink<M> for TellsOf<M, R> {
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        self.0.try_tell(msg)
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        self.0.tell(msg)
    }

    fn id(&self) -> ActorId {
        self.0.id()
    }

    fn is_alive(&self) -> bool {
        self.0.is_alive()
    }
}

//! `ReplyRecipient<M, R>`: a typed request/reply address, and `RequestSink<M, R>`, the seam a
//! proxy for an actor in another process implements to answer asks.

mod direct_ask;
mod request_sink;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::direct::{self, Attempt};
use crate::envelope::{Answer, BoxFuture, HereAsk};
use crate::error::{AskError, NoReply, SendError, TrySendError};
use crate::{ActorId, ActorRef, Handler, MessageSink, Recipient};

use direct_ask::{Declined, Following};
pub(crate) use direct_ask::{Direct, DirectAsk};
use request_sink::PlacedTicket;
pub use request_sink::{Placed, Queued, ReplySender, RequestSink};

/// The reply to a request already queued ([`ReplyRecipient::ask_queued`]); the request itself
/// can no longer be handed back, so errors carry no message.
pub type PendingReply<R> = BoxFuture<'static, Result<R, AskError<()>>>;

/// `pending`, whose answer is reported to the recorder of the recorded actor whose handler
/// awaits it (an input of that actor, as [`ReplyRecipient::ask`]'s answer is).
fn answer_recorded<R: Send + 'static>(pending: PendingReply<R>) -> PendingReply<R> {
    if !crate::recording::is_on() {
        return pending;
    }
    Box::pin(async move {
        let answer = pending.await;
        crate::recording::answered(&answer);
        answer
    })
}

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
        let answer = self.ask_unrecorded(msg).await;
        crate::recording::answered(&answer);
        answer
    }

    /// [`ask`](Self::ask) but for the report of its answer.
    async fn ask_unrecorded(&self, msg: M) -> Result<R, AskError<M>> {
        crate::recording::sent(|| crate::recording::Sent::Ask { to: self.id() }, &msg);
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
        crate::recording::sent(|| crate::recording::Sent::Ask { to: self.id() }, &msg);
        // An idle local actor's handler runs here, as for `ask`: then the request is past the
        // mailbox already, and a later send still comes after it.
        let mut msg = Some(msg);
        let direct = std::future::poll_fn(|cx| match msg.take() {
            Some(msg) => Poll::Ready(self.try_direct(msg, cx)),
            // Polled again after it returned Ready: never, `poll_fn` is awaited once.
            None => Poll::Pending,
        })
        .await;
        let pending = match direct {
            Direct::Answered(answer) => Box::pin(std::future::ready(answer)),
            Direct::Later(reply) => reply,
            Direct::Declined(declined) => self.queue_declined(declined).await?,
        };
        Ok(answer_recorded(pending))
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
        if crate::recording::told(|| self.id(), &msg).is_some() {
            return Err(SendError(msg));
        }
        let told = match self.sink.try_tell(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(m)) => Err(SendError(m)),
            Err(TrySendError::Full(m)) => self.sink.tell(m).await,
        };
        crate::recording::tell_returned(|| self.id(), &told);
        told
    }

    /// Sends `msg` as a tell without waiting; a full or closed queue hands it back.
    pub fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        let msg = crate::recording::try_told(|| self.id(), msg)?;
        let told = self.sink.try_tell(msg);
        crate::recording::try_tell_returned(|| self.id(), &told);
        told
    }

    /// [`try_tell`](Self::try_tell) with a [`Receipt`](crate::Receipt), signed once the
    /// message's handler has run; a refusal leaves it unsigned.
    pub fn try_tell_receipted(
        &self,
        msg: M,
        receipt: crate::Receipt,
    ) -> Result<(), TrySendError<M>> {
        let msg = crate::recording::try_told(|| self.id(), msg)?;
        let told = self.sink.try_tell_receipted(msg, receipt);
        crate::recording::try_tell_returned(|| self.id(), &told);
        told
    }

    /// [`try_tell_receipted`](Self::try_tell_receipted), waiting for room.
    pub async fn tell_receipted(
        &self,
        msg: M,
        receipt: crate::Receipt,
    ) -> Result<(), SendError<M>> {
        if crate::recording::told(|| self.id(), &msg).is_some() {
            return Err(SendError(msg));
        }
        let told = self.sink.tell_receipted(msg, receipt).await;
        crate::recording::tell_returned(|| self.id(), &told);
        told
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

    fn try_tell_receipted(&self, msg: M, receipt: crate::Receipt) -> Result<(), TrySendError<M>> {
        self.0.try_tell_receipted(msg, receipt)
    }

    fn tell_receipted(
        &self,
        msg: M,
        receipt: crate::Receipt,
    ) -> BoxFuture<'_, Result<(), SendError<M>>> {
        self.0.tell_receipted(msg, receipt)
    }

    fn id(&self) -> ActorId {
        self.0.id()
    }

    fn is_alive(&self) -> bool {
        self.0.is_alive()
    }
}

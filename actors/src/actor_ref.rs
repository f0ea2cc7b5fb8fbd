//! `ActorRef`: the typed address of an actor.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::direct;
use crate::envelope::{
    Answer, AskEnvelope, DrainStop, Envelope, HereAsk, SystemSignal, TellEnvelope,
};
use crate::error::{AskError, NoReply, SendError, TrySendError};
use crate::reply_recipient::DirectAsk;
use crate::shared::{unwrap_message, Shared};
use crate::supervision::ChildHandle;
use crate::{Actor, ActorId, Handler, Queued, Recipient, ReplyRecipient, ReplySender, StopReason};

/// The typed address of an actor of type `A`, in this process.
///
/// An `ActorRef` is local only: it names the actor's type, which another process cannot
/// hold. The location-transparent addresses are [`Recipient<M>`] (tells) and
/// [`ReplyRecipient<M, R>`] (tells and asks), which a proxy for an actor in another process
/// implements too; get them with [`recipient`](Self::recipient) and
/// [`reply_recipient`](Self::reply_recipient).
///
/// Cheap to clone. It stays valid across restarts: same id, same mailbox, the queued messages
/// kept. Once the actor has stopped for good, sends fail and hand the message back.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
///
/// struct Echo;
/// impl Actor for Echo {
///     type Args = ();
///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Echo) }
/// }
/// impl Handler<String> for Echo {
///     type Reply = String;
///     async fn handle(&mut self, s: String, _ctx: &mut Context<Self>) -> String { s }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let echo = bus.spawn::<Echo>(());
/// assert_eq!(echo.ask("hi".to_string()).await.unwrap(), "hi");
/// echo.tell("fire and forget".to_string()).await.unwrap();
/// echo.stop();
/// echo.wait_for_stop().await;
/// assert!(echo.try_tell("too late".to_string()).is_err());
/// # });
/// ```
pub struct ActorRef<A: Actor> {
    pub(crate) shared: Arc<Shared<A>>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef {
            shared: self.shared.clone(),
        }
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<A: Actor> Eq for ActorRef<A> {}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef<{}>({}", A::type_name(), self.shared.id())?;
        if let Some(n) = &self.shared.name {
            write!(f, " `{n}`")?;
        }
        f.write_str(")")
    }
}

impl<A: Actor> ActorRef<A> {
    /// The actor's id on its bus.
    pub fn id(&self) -> ActorId {
        self.shared.id()
    }

    /// The name it was spawned with, if any.
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// False once the actor has stopped for good.
    pub fn is_alive(&self) -> bool {
        self.shared.stop_reason().is_none()
    }

    /// True once the actor's mailbox is closed: it is ending (a kill, its last stop) or has
    /// stopped for good, so nothing sent from now on is handled. Closed before
    /// [`is_alive`](Self::is_alive) turns false; one atomic load, where `is_alive` takes a
    /// lock.
    pub fn is_closed(&self) -> bool {
        self.shared.mailbox.is_closed()
    }

    /// Why it stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.shared.stop_reason()
    }

    /// Sends `msg`, waiting for room in a bounded mailbox. Fails only when the actor has
    /// stopped for good; the message is handed back.
    ///
    /// On a current-thread runtime, when the actor is idle (waiting for mail, nothing queued)
    /// and runs on this runtime, the handler runs right here on the sender's task, on the
    /// actor's state, as an [`ask`](Self::ask) does: one handler at a time, after everything
    /// queued before, a panic failing the actor (the tell still returns `Ok`: the message was
    /// delivered), and a handler that awaits finished by the actor's task while this returns.
    /// On a multi-thread runtime, where the actor's task may run in parallel with the sender,
    /// and with [`try_tell`](Self::try_tell), the message always goes through the mailbox.
    pub async fn tell<M>(&self, msg: M) -> Result<(), SendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        if crate::recording::told(|| self.id(), &msg).is_some() {
            return Err(SendError(msg));
        }
        let told = self.shared.tell_msg(msg).await;
        crate::recording::tell_returned(|| self.id(), &told);
        told
    }

    /// Sends every message of `msgs`, in order, as `tell` would one by one, but taking the
    /// mailbox's lock once per run of messages that fit and waking the actor once per run:
    /// for a sender with many messages for one actor (a fan-out loop, a feed replaying a
    /// batch). Waits for room when the mailbox fills. On a stopped actor the messages not yet
    /// queued come back in the error, in order; those before them were delivered.
    ///
    /// ```
    /// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
    ///
    /// struct Sum(u64);
    /// impl Actor for Sum {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Sum(0)) }
    /// }
    /// impl Handler<u64> for Sum {
    ///     type Reply = u64;
    ///     async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 { self.0 += n; self.0 }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let sum = Bus::new().spawn::<Sum>(());
    /// sum.tell_many(1..=4u64).await.unwrap();
    /// assert_eq!(sum.ask(0).await.unwrap(), 10);
    /// # });
    /// ```
    pub async fn tell_many<M>(
        &self,
        msgs: impl IntoIterator<Item = M>,
    ) -> Result<(), SendError<Vec<M>>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        if !crate::recording::on() {
            return self.shared.tell_many_msgs(msgs).await;
        }
        let to = self.id();
        let mut msgs: Vec<M> = msgs.into_iter().collect();
        for msg in &msgs {
            crate::recording::sent(|| crate::recording::Sent::Tell { to }, msg);
        }
        // A replay: the messages that came back when it was recorded come back again.
        if let Some(back) = crate::recording::refusal_many() {
            let returned = msgs.split_off(msgs.len().saturating_sub(back));
            if msgs.is_empty() {
                return Err(SendError(returned));
            }
            return match self.shared.tell_many_msgs(msgs).await {
                Ok(()) if returned.is_empty() => Ok(()),
                Ok(()) => Err(SendError(returned)),
                Err(SendError(mut more)) => {
                    more.extend(returned);
                    Err(SendError(more))
                }
            };
        }
        let count = msgs.len();
        let told = self.shared.tell_many_msgs(msgs).await;
        crate::recording::tell_many_returned(to, count, &told);
        told
    }

    /// Sends `msg` without waiting. On a full or closed mailbox the message is handed back.
    pub fn try_tell<M>(&self, msg: M) -> Result<(), TrySendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let msg = crate::recording::try_told(|| self.id(), msg)?;
        let told = self.shared.try_tell_msg(msg);
        crate::recording::try_tell_returned(|| self.id(), &told);
        told
    }

    /// Sends `msg` ahead of every queued user message, ignoring the mailbox's capacity. Meant
    /// for control messages (supervision events, cancellations), not for data.
    pub fn tell_priority<M>(&self, msg: M) -> Result<(), SendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let env = Envelope::new(TellEnvelope { msg });
        self.shared
            .mailbox
            .send_system(env)
            .map_err(|sig| SendError(unwrap_message::<A, M>(sig)))
    }

    /// Sends `msg` and waits for the handler's reply.
    ///
    /// If the handler panics on this very message, the error says the actor failed (and its
    /// supervisor may be restarting it); if the actor stops first, it says so.
    ///
    /// When the actor is idle (waiting for mail, nothing queued) and the asker runs on the
    /// actor's runtime, the handler runs right here on the asker's task, on the actor's state,
    /// with no task switch: the same handler, one at a time with the actor's own task, after
    /// everything queued before, and a panic fails the actor as it would on its task. A
    /// handler that awaits is finished by the actor's task. Otherwise the ask goes through
    /// the mailbox.
    pub async fn ask<M>(&self, msg: M) -> Result<<A as Handler<M>>::Reply, AskError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let answer = self.ask_unrecorded(msg).await;
        crate::recording::answered(&answer);
        answer
    }

    /// [`ask`](Self::ask) but for the report of its answer.
    async fn ask_unrecorded<M>(&self, msg: M) -> Result<<A as Handler<M>>::Reply, AskError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        crate::recording::sent(|| crate::recording::Sent::Ask { to: self.id() }, &msg);
        let shared = &*self.shared;
        // The direct call (`direct`): an idle actor's handler runs here, on this task, and
        // answers in `answer`.
        let mut answer = Answer::Empty;
        // SAFETY: `answer` stays where it is in this future's state, untouched, until `offer`
        // returns, and the handler's first poll is made inside `offer`, on this thread; a
        // declined payload is taken apart below, never put in a mailbox.
        let here = unsafe { HereAsk::new(msg, &mut answer) };
        let declined = direct::offer(here, |here, cx| DirectAsk::try_run(shared, here, cx)).await;
        let rx = match declined {
            None => match answer {
                Answer::Ready(answer) => return answer.map_err(NoReply::into_ask_error),
                Answer::Later(rx) => rx,
                // Never: a handler that ran answered or left a channel.
                Answer::Empty => return Err(AskError::Stopped(self.stop_reason_or_killed())),
            },
            Some(here) => {
                let (reply, rx) = oneshot::channel();
                let env = Envelope::new(AskEnvelope {
                    msg: here.into_message(),
                    reply,
                });
                if let Err(SendError(sig)) = shared.mailbox.send(env).await {
                    return Err(AskError::Closed(unwrap_message::<A, M>(sig)));
                }
                rx
            }
        };
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(no_reply)) => Err(no_reply.into_ask_error()),
            // The reply slot was dropped unanswered: the task was killed mid-handler.
            Err(_) => Err(AskError::Stopped(self.stop_reason_or_killed())),
        }
    }

    /// Why the actor stopped, or `Killed` when that is not known (its task was aborted).
    fn stop_reason_or_killed(&self) -> StopReason {
        self.shared.stop_reason().unwrap_or(StopReason::Killed)
    }

    /// Queues a request whose answer goes to `reply`, as
    /// [`RequestSink::send_request`](crate::RequestSink::send_request) does for this actor,
    /// except that the future it gives on a full mailbox holds the actor rather than
    /// borrowing this ref: for a [`RequestSink`](crate::RequestSink) of your own that picks
    /// a local actor at each send (a supervisor's address that follows a child does). Boxes
    /// a future only on a full mailbox.
    pub fn send_request<M>(
        &self,
        msg: M,
        reply: ReplySender<<A as Handler<M>>::Reply>,
    ) -> Queued<'static, M>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let env = Envelope::new(AskEnvelope {
            msg,
            reply: reply.into_inner(),
        });
        match self.shared.mailbox.try_send(env) {
            Ok(()) => Queued::Ready(Ok(())),
            Err(TrySendError::Closed(sig)) => {
                Queued::Ready(Err(SendError(unwrap_message::<A, M>(sig))))
            }
            Err(TrySendError::Full(sig)) => {
                let shared = self.shared.clone();
                Queued::Waiting(Box::pin(async move {
                    shared
                        .mailbox
                        .send(sig)
                        .await
                        .map_err(|SendError(sig)| SendError(unwrap_message::<A, M>(sig)))
                }))
            }
        }
    }

    /// Like [`ask`](Self::ask), giving up after `timeout` of bus time (waiting for room in
    /// the mailbox counts).
    pub async fn ask_timeout<M>(
        &self,
        msg: M,
        timeout: Duration,
    ) -> Result<<A as Handler<M>>::Reply, AskError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        match self.shared.clock.timeout(timeout, self.ask(msg)).await {
            Ok(result) => result,
            Err(_) => Err(AskError::Timeout(timeout)),
        }
    }

    /// A type-erased handle that accepts `M`: the caller needs only the message type.
    pub fn recipient<M>(&self) -> Recipient<M>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        Recipient::new(self.shared.clone())
    }

    /// A type-erased request/reply address for `M`: the caller needs only the message and
    /// reply types, and code written against it works unchanged when the actor is moved to
    /// another process behind a proxy.
    pub fn reply_recipient<M>(&self) -> ReplyRecipient<M, <A as Handler<M>>::Reply>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        ReplyRecipient::local(self.shared.clone())
    }

    /// Asks the actor to stop: the signal overtakes queued messages; the current message is
    /// finished, `on_stop` runs, and what is still queued goes to the bus's dead letters. A
    /// supervised actor's supervisor then applies its restart policy (a permanent child is
    /// restarted).
    pub fn stop(&self) {
        let _ = self
            .shared
            .mailbox
            .send_system(SystemSignal::Stop.envelope());
    }

    /// Stops the actor once it has handled every message already in its mailbox: a graceful
    /// stop, where [`stop`](Self::stop) overtakes the queue and dead-letters it. The request
    /// queues behind what is there (waiting for room in a full mailbox, as a tell does);
    /// when the actor reaches it, its incarnation ends normally (`StopReason::Normal`, as
    /// [`Context::stop`](crate::Context::stop)), `on_stop` runs, and the messages sent after
    /// the request are not handled: they go to the bus's dead letters. Their senders are not
    /// refused at once (a tell only queues): to know when the actor is done, await
    /// [`wait_for_stop`](Self::wait_for_stop). Returns once the request is queued; on an
    /// actor that has stopped already it does nothing.
    ///
    /// A signal that overtakes the queue wins: a [`stop`](Self::stop) or
    /// [`kill`](Self::kill) meanwhile, or a failure, ends the actor before it drains. A
    /// supervised actor's supervisor then applies its restart policy, as after `stop`: a
    /// permanent child is restarted in place and handles what was sent after the request
    /// (stop a supervised child with its supervisor's `stop_child`).
    ///
    /// ```
    /// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, StopReason};
    ///
    /// struct Sum(u64);
    /// impl Actor for Sum {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Sum(0)) }
    ///     async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &StopReason) {
    ///         println!("total {}", self.0);
    ///     }
    /// }
    /// impl Handler<u64> for Sum {
    ///     type Reply = u64;
    ///     async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 { self.0 += n; self.0 }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let sum = bus.spawn::<Sum>(());
    /// for n in 1..=3 {
    ///     sum.try_tell(n).unwrap(); // queued
    /// }
    /// sum.drain_and_stop().await; // after the three
    /// assert_eq!(sum.wait_for_stop().await, StopReason::Normal);
    /// assert_eq!(bus.dead_letters().total(), 0, "all three were handled");
    /// # });
    /// ```
    pub async fn drain_and_stop(&self) {
        let env = Envelope::new(DrainStop);
        let env = match self.shared.mailbox.try_send(env) {
            Err(TrySendError::Full(env)) => env,
            // Queued, or the actor has stopped already.
            _ => return,
        };
        let _ = self.shared.mailbox.send(env).await;
    }

    /// Aborts the actor's task at its next await point: `on_stop` does not run; queued
    /// messages go to dead letters.
    pub fn kill(&self) {
        self.shared.kill();
    }

    /// Waits until the actor has stopped for good, and says why.
    pub async fn wait_for_stop(&self) -> StopReason {
        self.shared.wait_for_stop().await
    }

    /// Recovers a typed ref from a type-erased child handle.
    pub fn from_handle(handle: &Arc<dyn ChildHandle>) -> Option<ActorRef<A>> {
        let any: Arc<dyn Any + Send + Sync> = handle.clone().into_any();
        any.downcast::<Shared<A>>()
            .ok()
            .map(|shared| ActorRef { shared })
    }

    /// This actor as a type-erased child handle, for supervisors and the bus.
    pub fn handle(&self) -> Arc<dyn ChildHandle> {
        self.shared.clone()
    }
}

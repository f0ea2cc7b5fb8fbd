//! The actor cell: what every address of one actor shares (id, name, mailbox sender, clock)
//! and its stop state, behind one `Arc`.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_mailbox::{Mailbox, MailboxConfig, Unless};
use tokio::sync::{oneshot, Notify};
use tokio::task::AbortHandle;

use crate::direct::{self, Attempt, Direct};
use crate::envelope::{BoxFuture, Envelope, Payload, ReceiptTell, SystemSignal, TellEnvelope};
use crate::error::{SendError, TrySendError};
use crate::supervision::ChildHandle;
use crate::{Actor, ActorId, Clock, Handler, StopReason};

/// The actor cell of an actor of type `A`: every `ActorRef`, `Recipient` and supervisor link
/// of it holds one `Arc<Shared<A>>`. The mailbox lives inline (its receiving side's batch is
/// in the actor's task), so an actor costs two allocations: this cell and its task.
///
/// Every field counts: with glibc, an actor's task (a 384-byte tokio task cell, aligned to
/// 128 bytes) and this cell take 640 bytes together only while the cell's allocation fits in
/// the 240 bytes left to the next aligned task; a few bytes more make it 768 (a unit test
/// keeps the budget, docs/perf/actors.md has the measurements).
pub(crate) struct Shared<A: Actor> {
    /// The actor's number on its (local) bus: see [`Shared::id`].
    local_id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) mailbox: Mailbox<Envelope<A>>,
    pub(crate) clock: Clock,
    /// Where the actor's task lends its state to askers while it is idle.
    pub(crate) direct: Direct<A>,
    control: Mutex<Control>,
}

#[derive(Default)]
struct Control {
    /// Boxed: set once, at the end, and every idle actor's cell carries the field.
    stop_reason: Option<Box<StopReason>>,
    abort: Option<AbortHandle>,
    kill_requested: bool,
    /// Woken when the actor stops; made by the first waiter, taken by the stop.
    stopped: Option<Arc<Notify>>,
}

impl<A: Actor> Shared<A> {
    /// The cell of local actor number `local_id`.
    pub(crate) fn new(
        local_id: u64,
        name: Option<Arc<str>>,
        mailbox: MailboxConfig,
        clock: Clock,
    ) -> Self {
        Shared {
            local_id,
            name,
            mailbox: Mailbox::new(mailbox),
            clock,
            direct: Direct::default(),
            control: Mutex::new(Control::default()),
        }
    }

    /// The actor's id (a cell is always a local actor's: remote ones are proxies).
    pub(crate) fn id(&self) -> ActorId {
        ActorId::local_id(self.local_id)
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        let mut c = self.control();
        if c.kill_requested {
            handle.abort();
        }
        c.abort = Some(handle);
    }

    pub(crate) fn mark_stopped(&self, reason: StopReason) {
        let mut c = self.control();
        if c.stop_reason.is_none() {
            c.stop_reason = Some(Box::new(reason));
        }
        c.abort = None;
        let stopped = c.stopped.take();
        drop(c);
        if let Some(stopped) = stopped {
            stopped.notify_waiters();
        }
    }

    /// Whether the actor has been killed (or is being killed).
    pub(crate) fn kill_requested(&self) -> bool {
        self.control().kill_requested
    }

    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.control().stop_reason.as_deref().cloned()
    }

    pub(crate) async fn tell_msg<M>(&self, msg: M) -> Result<(), SendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let mut payload = TellEnvelope { msg };
        // Every way to the queue goes through one await of `tell_payload`, so that the
        // future's finished states need no drop of their own.
        let queue = loop {
            if !self.direct.may_take_tells() {
                break payload;
            }
            // The state is lent: one lock queues the message behind mail already there, or
            // finds the mailbox idle, and then the direct call (`direct`) may run the handler
            // here, on the sender's task.
            payload = match self.mailbox.try_send_unless_idle(payload, Envelope::new) {
                Unless::Sent => return Ok(()),
                Unless::Closed(payload) => return Err(SendError(payload.msg)),
                Unless::Full(payload) => break payload,
                Unless::Idle(payload) => payload,
            };
            // A sender that tells idle actors in a loop never waits for room: it gives the
            // other tasks of its thread a turn every so many handlers run here (and looks at
            // the mailbox again after it), outside any handler run here when it can
            // (`direct::turn_due`).
            if direct::turn_due() {
                direct::give_turn().await;
                continue;
            }
            let resume = || drop(self.mailbox.send_system(SystemSignal::Resume.envelope()));
            let attempt =
                direct::attempt(payload, |env, cx| self.direct.try_tell(env, cx, resume)).await;
            match attempt {
                Attempt::Declined(payload) => break payload,
                // Ran, or handed to the actor's task (a handler that awaits, a failure, which
                // the task deals with as if it had failed there): the sender goes on, after a
                // turn if the tells nested in the handler made one due.
                Attempt::Ran | Attempt::Failed(_) => {
                    if direct::turn_due_after() {
                        direct::give_turn().await;
                    }
                    return Ok(());
                }
            }
        };
        self.tell_payload::<M, _>(queue).await
    }

    /// Queues `payload`, a tell whose message is an `M` (its `into_message` gives an `M`),
    /// waiting for room; a closed mailbox hands the `M` back.
    #[inline]
    pub(crate) async fn tell_payload<M, P>(&self, payload: P) -> Result<(), SendError<M>>
    where
        M: Send + 'static,
        P: Payload<A>,
    {
        let env = Envelope::new(payload);
        // Fast path: room in the mailbox, no future to build.
        let sig = match self.mailbox.try_send(env) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(sig)) => return Err(SendError(unwrap_message::<A, M>(sig))),
            Err(TrySendError::Full(sig)) => sig,
        };
        match self.mailbox.send(sig).await {
            Ok(()) => Ok(()),
            Err(SendError(sig)) => Err(SendError(unwrap_message::<A, M>(sig))),
        }
    }

    pub(crate) async fn tell_many_msgs<M>(
        &self,
        msgs: impl IntoIterator<Item = M>,
    ) -> Result<(), SendError<Vec<M>>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let envelopes: Vec<Envelope<A>> = msgs
            .into_iter()
            .map(|msg| Envelope::new(TellEnvelope { msg }))
            .collect();
        self.mailbox
            .send_many(envelopes)
            .await
            .map_err(|SendError(back)| {
                SendError(back.into_iter().map(unwrap_message::<A, M>).collect())
            })
    }

    pub(crate) fn try_tell_msg<M>(&self, msg: M) -> Result<(), TrySendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        self.try_tell_payload::<M, _>(TellEnvelope { msg })
    }

    /// Queues `payload`, a tell whose message is an `M`, if there is room; otherwise hands the
    /// `M` back.
    #[inline]
    pub(crate) fn try_tell_payload<M, P>(&self, payload: P) -> Result<(), TrySendError<M>>
    where
        M: Send + 'static,
        P: Payload<A>,
    {
        let env = Envelope::new(payload);
        self.mailbox.try_send(env).map_err(|e| match e {
            TrySendError::Full(sig) => TrySendError::Full(unwrap_message::<A, M>(sig)),
            TrySendError::Closed(sig) => TrySendError::Closed(unwrap_message::<A, M>(sig)),
        })
    }

    /// [`try_tell_msg`](Self::try_tell_msg) of a message with a receipt; a refusal hands
    /// both back, the receipt unsigned.
    pub(crate) fn try_tell_receipted<M>(
        &self,
        msg: M,
        receipt: crate::Receipt,
    ) -> Result<(), TrySendError<(M, crate::Receipt)>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        self.try_tell_payload::<(M, crate::Receipt), _>(ReceiptTell { msg, receipt })
    }

    /// [`try_tell_receipted`](Self::try_tell_receipted), waiting for room.
    pub(crate) async fn tell_receipted<M>(
        &self,
        msg: M,
        receipt: crate::Receipt,
    ) -> Result<(), SendError<(M, crate::Receipt)>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        self.tell_payload::<(M, crate::Receipt), _>(ReceiptTell { msg, receipt })
            .await
    }

    async fn wait_for_stop(&self) -> StopReason {
        loop {
            let stopped = {
                let mut c = self.control();
                if let Some(reason) = &c.stop_reason {
                    return StopReason::clone(reason);
                }
                c.stopped.get_or_insert_default().clone()
            };
            // A stop between the lock above and `enable` is seen by the check below.
            let notified = stopped.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.stop_reason() {
                return reason;
            }
            notified.await;
        }
    }

    fn kill(&self) {
        let mut c = self.control();
        if c.stop_reason.is_some() {
            return;
        }
        c.kill_requested = true;
        self.direct.close();
        if let Some(h) = &c.abort {
            h.abort();
        }
        drop(c);
        // A hibernating actor has no task to abort: its mailbox's waker is what holds it,
        // and waking it hands it to its bus's driver, which drops it (`hibernation.rs`).
        self.mailbox.wake_receiver();
    }
}

impl<A: Actor> ChildHandle for Shared<A> {
    fn id(&self) -> ActorId {
        Shared::id(self)
    }

    fn type_name(&self) -> &'static str {
        A::type_name()
    }

    fn name(&self) -> Option<Arc<str>> {
        self.name.clone()
    }

    fn restart(&self) -> Option<oneshot::Receiver<Result<(), StopReason>>> {
        let (tx, rx) = oneshot::channel();
        self.mailbox
            .send_system(SystemSignal::Restart(Some(tx)).envelope())
            .ok()
            .map(|_| rx)
    }

    fn suspend(&self) -> Option<oneshot::Receiver<()>> {
        let (tx, rx) = oneshot::channel();
        self.mailbox
            .send_system(SystemSignal::Suspend(tx).envelope())
            .ok()
            .map(|_| rx)
    }

    fn terminate(&self, reason: StopReason) -> bool {
        self.mailbox
            .send_system(SystemSignal::Terminate(Box::new(reason)).envelope())
            .is_ok()
    }

    fn kill(&self) {
        Shared::kill(self)
    }

    fn stop_reason(&self) -> Option<StopReason> {
        Shared::stop_reason(self)
    }

    fn wait_for_stop(&self) -> BoxFuture<'_, StopReason> {
        Box::pin(Shared::wait_for_stop(self))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The message inside an envelope built by a send of `M`.
pub(crate) fn unwrap_message<A: Actor, M: 'static>(env: Envelope<A>) -> M {
    match env.into_message().downcast::<M>() {
        Ok(m) => *m,
        Err(_) => unreachable!("an envelope built for `M` holds an `M`"),
    }
}

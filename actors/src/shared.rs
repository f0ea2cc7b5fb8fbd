//! The actor cell: what every address of one actor shares (id, name, mailbox sender, clock)
//! and its stop state, behind one `Arc`.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_mailbox::Sender;
use tokio::sync::{oneshot, Notify};
use tokio::task::AbortHandle;

use crate::direct::Direct;
use crate::envelope::{BoxFuture, Envelope, Signal, TellEnvelope};
use crate::error::{SendError, TrySendError};
use crate::supervision::ChildHandle;
use crate::{Actor, ActorId, Clock, Handler, StopReason};

/// The actor cell of an actor of type `A`: every `ActorRef`, `Recipient` and supervisor link
/// of it holds one `Arc<Shared<A>>`.
pub(crate) struct Shared<A: Actor> {
    pub(crate) id: ActorId,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) tx: Sender<Signal<A>>,
    pub(crate) clock: Clock,
    /// Where the actor's task lends its state to askers while it is idle.
    pub(crate) direct: Direct<A>,
    control: Mutex<Control>,
    stopped: Notify,
}

#[derive(Default)]
struct Control {
    stop_reason: Option<StopReason>,
    abort: Option<AbortHandle>,
    kill_requested: bool,
}

impl<A: Actor> Shared<A> {
    pub(crate) fn new(
        id: ActorId,
        name: Option<Arc<str>>,
        tx: Sender<Signal<A>>,
        clock: Clock,
    ) -> Self {
        Shared {
            id,
            name,
            tx,
            clock,
            direct: Direct::default(),
            control: Mutex::new(Control::default()),
            stopped: Notify::new(),
        }
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
            c.stop_reason = Some(reason);
        }
        c.abort = None;
        drop(c);
        self.stopped.notify_waiters();
    }

    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.control().stop_reason.clone()
    }

    pub(crate) async fn tell_msg<M>(&self, msg: M) -> Result<(), SendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let env = Envelope::new(TellEnvelope { msg });
        // Fast path: room in the mailbox, no future to build.
        let sig = match self.tx.try_send(Signal::Message(env)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(sig)) => return Err(SendError(unwrap_message::<A, M>(sig))),
            Err(TrySendError::Full(sig)) => sig,
        };
        match self.tx.send(sig).await {
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
        let signals: Vec<Signal<A>> = msgs
            .into_iter()
            .map(|msg| Signal::Message(Envelope::new(TellEnvelope { msg })))
            .collect();
        self.tx.send_many(signals).await.map_err(|SendError(back)| {
            SendError(back.into_iter().map(unwrap_message::<A, M>).collect())
        })
    }

    pub(crate) fn try_tell_msg<M>(&self, msg: M) -> Result<(), TrySendError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let env = Envelope::new(TellEnvelope { msg });
        self.tx.try_send(Signal::Message(env)).map_err(|e| match e {
            TrySendError::Full(sig) => TrySendError::Full(unwrap_message::<A, M>(sig)),
            TrySendError::Closed(sig) => TrySendError::Closed(unwrap_message::<A, M>(sig)),
        })
    }

    async fn wait_for_stop(&self) -> StopReason {
        loop {
            let notified = self.stopped.notified();
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
    }
}

impl<A: Actor> ChildHandle for Shared<A> {
    fn id(&self) -> ActorId {
        self.id
    }

    fn type_name(&self) -> &'static str {
        A::type_name()
    }

    fn name(&self) -> Option<Arc<str>> {
        self.name.clone()
    }

    fn restart(&self) -> Option<oneshot::Receiver<Result<(), StopReason>>> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send_system(Signal::Restart(Some(tx)))
            .ok()
            .map(|_| rx)
    }

    fn suspend(&self) -> Option<oneshot::Receiver<()>> {
        let (tx, rx) = oneshot::channel();
        self.tx.send_system(Signal::Suspend(tx)).ok().map(|_| rx)
    }

    fn terminate(&self, reason: StopReason) -> bool {
        self.tx
            .send_system(Signal::Terminate(Box::new(reason)))
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

/// The message inside a signal built by a send of `M`.
pub(crate) fn unwrap_message<A: Actor, M: 'static>(signal: Signal<A>) -> M {
    match signal {
        Signal::Message(env) => match env.into_message().downcast::<M>() {
            Ok(m) => *m,
            Err(_) => unreachable!("an envelope built for `M` holds an `M`"),
        },
        _ => unreachable!("a message send carries a message signal"),
    }
}

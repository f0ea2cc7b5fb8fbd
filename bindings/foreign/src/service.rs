//! [`ForeignRef`]: the address of a foreign actor, by bytes, and its place in the export table.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mycelium_actors::export::{ByteRefusal, ByteReply, ByteService, ExportError};
use mycelium_actors::recording::Refusal;
use mycelium_actors::{
    ActorId, ActorRef, AskError, BoxFuture, Bus, Failure, Phase, Receipt, SendError, SpawnError,
    SpawnOptions, StopReason, TrySendError,
};
use tokio::sync::oneshot;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use crate::actor::{handler_failure, panic_text, ForeignCall};
use crate::gate::{ForeignGate, GateInner, Slot};
use crate::DeliverySwitch;
use crate::{Foreign, ForeignActor, ForeignMessage, ForeignReply, ForeignSpec};

/// The address of a foreign actor: tells and asks of contract messages as bytes. Cheap to
/// clone; it stays valid across restarts in place.
///
/// A ref with the actor's [`ForeignGate`] (the one [`spawn`] returns, or one given
/// [`with_gate`](Self::with_gate)) counts what it sends, answers asks from the callback
/// thread directly, and can run the handler on the calling thread
/// ([`try_direct`](Self::try_direct)). A ref without it (from
/// [`from_actor_ref`](Self::from_actor_ref)) sends through the mailbox only.
pub struct ForeignRef<F: Foreign> {
    actor: ActorRef<ForeignActor<F>>,
    /// Weak: a ref kept after the actor has stopped for good (in an export table, say) does
    /// not keep its callbacks alive.
    gate: Option<Weak<GateInner<F>>>,
}

impl<F: Foreign> Clone for ForeignRef<F> {
    fn clone(&self) -> Self {
        ForeignRef {
            actor: self.actor.clone(),
            gate: self.gate.clone(),
        }
    }
}

/// What [`ForeignRef::try_direct`] did.
#[derive(Debug)]
pub enum Direct<R> {
    /// The handler ran on the calling thread and returned this.
    Done(R),
    /// The handler ran on the calling thread and failed: the actor fails as if its task had
    /// run it (dead letter, supervisor restart); an asker gets this error.
    Failed(ForeignAskError),
    /// The actor is not idle (a message is queued or running), is between incarnations, has
    /// stopped, or is on a virtual-time bus: send through the mailbox instead. Nothing ran.
    Busy,
}

/// Why an ask to a foreign actor got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignAskError {
    /// The actor failed handling the request (an exception, an error status, a panic).
    #[error("the actor {failure}")]
    Failed {
        /// The failure, with the foreign error text.
        failure: Failure,
    },
    /// The actor had stopped, or stopped before answering.
    #[error("the actor has stopped{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Stopped {
        /// Why, when known.
        reason: Option<StopReason>,
    },
    /// No reply within the timeout (bus time).
    #[error("no reply within {0:?} of bus time")]
    Timeout(Duration),
    /// The handler returned without a reply, so the ask has no answer.
    #[error("the handler of type id {type_id} returned no reply: return a contract message from a handler that is asked")]
    NoReply {
        /// The request's type id.
        type_id: u16,
    },
    /// The answer was lost on the way from another node.
    #[error("{0}")]
    Lost(String),
    /// Asked from one of the actor's own callbacks on this thread (its handler asking
    /// itself, or an actor it asked on this thread asking it back): the ask would wait for
    /// the very callback that makes it, for ever.
    #[error("the actor was asked from its own handler, which the ask would wait for without end: tell it the message instead (it is handled after this one), or call the code directly")]
    AskedItself,
}

impl ForeignAskError {
    fn from_ask(e: AskError<ForeignMessage>) -> Self {
        match e {
            AskError::Closed(_) => ForeignAskError::Stopped { reason: None },
            AskError::Stopped(reason) => ForeignAskError::Stopped {
                reason: Some(reason),
            },
            AskError::Failed(failure) => ForeignAskError::Failed { failure },
            AskError::Timeout(after) => ForeignAskError::Timeout(after),
            AskError::Lost { node, reason } => ForeignAskError::Lost(format!("{node}: {reason}")),
        }
    }
}

impl<F: Foreign> ForeignRef<F> {
    pub(crate) fn new(actor: ActorRef<ForeignActor<F>>) -> Self {
        ForeignRef { actor, gate: None }
    }

    /// A ref from the typed ref of a foreign actor (a supervised child's, say), without its
    /// gate: see [`with_gate`](Self::with_gate).
    pub fn from_actor_ref(actor: ActorRef<ForeignActor<F>>) -> Self {
        ForeignRef { actor, gate: None }
    }

    /// This ref with the actor's gate ([`ForeignSpec::gate`], or
    /// [`gated_child_spec`]): its sends are counted, its asks answered from the callback
    /// thread, and [`try_direct`](Self::try_direct) can run the handler on the caller's
    /// thread. Every ref that may send to the actor while another calls it directly should
    /// carry the gate: a message sent around it can be overtaken by a direct call.
    ///
    /// The ref holds the gate weakly: once the actor has stopped for good and its spec is
    /// gone, the callbacks are released even while refs remain, and the ref sends around the
    /// gate (to a closed mailbox).
    pub fn with_gate(mut self, gate: ForeignGate<F>) -> Self {
        self.gate = Some(Arc::downgrade(&gate.inner));
        self
    }

    /// This ref with the gate `gate` holds (or none).
    pub(crate) fn with_weak_gate(mut self, gate: Option<Weak<GateInner<F>>>) -> Self {
        self.gate = gate;
        self
    }

    /// The actor's gate, if this ref carries it and the actor's callbacks are still held.
    pub fn gate(&self) -> Option<ForeignGate<F>> {
        self.gate
            .as_ref()
            .and_then(Weak::upgrade)
            .map(|inner| ForeignGate { inner })
    }

    /// Runs `call` with the actor's callbacks and state on the calling thread, if the actor is
    /// idle: no message sent through a gated ref is queued or running, no handler runs, the
    /// actor is running (not stopping, failing or restarting) on a real-time bus. It is the
    /// same handler call the actor's task would make, one at a time with it and in order with
    /// what gated refs queued before. `Err(reason)` from `call` (or a panic) on a message of
    /// `type_id` (what the failure names: [`Foreign::message_name`]) fails the actor
    /// exactly like a failure on the blocking pool: [`Direct::Failed`] for this caller, then
    /// the dead letter and the supervisor's restart. [`Direct::Busy`]: nothing ran; send
    /// through the mailbox.
    pub fn try_direct<R>(
        &self,
        type_id: u16,
        call: impl FnOnce(&F, &mut F::State) -> Result<R, String>,
    ) -> Direct<R> {
        let Some(gate) = self.gate() else {
            return Direct::Busy;
        };
        let inner = &gate.inner;
        if !inner.direct_enabled.load(Ordering::Acquire) || !inner.counts.begin_direct() {
            return Direct::Busy;
        }
        let Some(mut slot) = gate.try_lock() else {
            // A message sent around the gate is running.
            inner.counts.end_direct();
            return Direct::Busy;
        };
        let Slot::Running { state, .. } = &mut *slot else {
            drop(slot);
            inner.counts.end_direct();
            return Direct::Busy;
        };
        // Not once the actor is ending: a kill closes its mailbox (and marks it stopped)
        // before its task lets go of the state, and no call may run after that is visible.
        if self.actor.is_closed() {
            drop(slot);
            inner.counts.end_direct();
            return Direct::Busy;
        }
        let foreign = inner.foreign.clone();
        // The handler is the actor's, not that of a recorded caller on this thread.
        let result = crate::recording::outside(|| {
            let _here = crate::gate::RunningHere::enter(inner);
            catch_unwind(AssertUnwindSafe(|| call(&foreign, state)))
        })
        .unwrap_or_else(|payload| Err(panic_text(payload)));
        match result {
            Ok(r) => {
                drop(slot);
                inner.counts.end_direct();
                Direct::Done(r)
            }
            Err(reason) => {
                let failure = handler_failure(&*foreign, type_id, &reason);
                crate::actor::mark_failed(&mut slot, failure.clone());
                drop(slot);
                // The marker is counted until the task has failed (counted before this call
                // ends, so no other direct call starts in between); refused, it is dropped
                // and counted off.
                let marker = ForeignCall::Failed(inner.counts.count(self.actor.id()));
                inner.counts.end_direct();
                let _ = self.actor.tell_priority(marker);
                Direct::Failed(ForeignAskError::Failed { failure })
            }
        }
    }

    /// The typed ref underneath.
    pub fn actor_ref(&self) -> &ActorRef<ForeignActor<F>> {
        &self.actor
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.actor.id()
    }

    /// False once the actor has stopped for good.
    pub fn is_alive(&self) -> bool {
        self.actor.is_alive()
    }

    /// Tells without waiting; a full mailbox or a stopped actor hands the message back.
    pub fn try_tell(&self, msg: ForeignMessage) -> Result<(), TrySendError<ForeignMessage>> {
        let to = self.actor.id();
        let told = match crate::recording::report_told(to, &msg) {
            // A replay: refused as it was when recorded.
            Some(refusal) => Err(refusal.try_error(msg)),
            None => self.try_tell_quiet(msg),
        };
        match &told {
            // A `tell` of this receiver that follows on this thread is this send's retry.
            Err(TrySendError::Full(_)) => crate::recording::retry_of(to),
            Err(TrySendError::Closed(_)) => crate::recording::report_refused(to, Refusal::Stopped),
            Ok(()) => {}
        }
        told
    }

    fn try_tell_quiet(&self, msg: ForeignMessage) -> Result<(), TrySendError<ForeignMessage>> {
        let Some(gate) = self.gate() else {
            return self.actor.try_tell(msg);
        };
        let count = gate.inner.counts.count(self.actor.id());
        // Refused, the call comes back and its count goes with it.
        self.actor
            .try_tell(ForeignCall::Tell(msg, count, None))
            .map_err(|e| match e {
                TrySendError::Full(c) => TrySendError::Full(c.into_message()),
                TrySendError::Closed(c) => TrySendError::Closed(c.into_message()),
            })
    }

    /// Tells, waiting for room in a full mailbox.
    pub async fn tell(&self, msg: ForeignMessage) -> Result<(), SendError<ForeignMessage>> {
        let to = self.actor.id();
        if !crate::recording::is_retry(to) && crate::recording::report_told(to, &msg).is_some() {
            // A replay: refused as it was when recorded.
            return Err(SendError(msg));
        }
        let told = match self.gate() {
            None => self.actor.tell(msg).await,
            Some(gate) => {
                // Counted off when the call is dropped: refused, or with this future if it
                // is dropped while it waits for room.
                let count = gate.inner.counts.count(to);
                self.actor
                    .tell(ForeignCall::Tell(msg, count, None))
                    .await
                    .map_err(|SendError(c)| SendError(c.into_message()))
            }
        };
        if told.is_err() {
            crate::recording::report_refused(to, Refusal::Stopped);
        }
        told
    }

    /// Stops the actor once it has handled everything sent to it before this call: a stop
    /// queued behind those messages, through the host thread that serves them (the typed
    /// ref's [`ActorRef::drain_and_stop`] would stop it once they are handed to that
    /// thread, before they run). What is sent after it goes to the dead letters. Waits for
    /// room in a full mailbox; `Err` if the actor has stopped already.
    pub async fn drain_and_stop(&self) -> Result<(), SendError<()>> {
        let Some(gate) = self.gate() else {
            if !self.actor.is_alive() {
                return Err(SendError(()));
            }
            self.actor.drain_and_stop().await;
            return Ok(());
        };
        let count = gate.inner.counts.count(self.actor.id());
        self.actor
            .tell(ForeignCall::Drain(count))
            .await
            .map_err(|_| SendError(()))
    }

    /// Asks; `timeout` is bus time.
    pub async fn ask(
        &self,
        msg: ForeignMessage,
        timeout: Option<Duration>,
    ) -> Result<ForeignMessage, ForeignAskError> {
        crate::recording::report_sent(self.actor.id(), true, &msg);
        let answer = self.ask_unrecorded(msg, timeout).await;
        match &answer {
            Ok(reply) => crate::recording::report_answered(Ok(reply)),
            Err(e) => crate::recording::report_answered(Err(&e.to_string())),
        }
        answer
    }

    /// [`ask`](Self::ask) but for the reports of the ask and its answer.
    async fn ask_unrecorded(
        &self,
        msg: ForeignMessage,
        timeout: Option<Duration>,
    ) -> Result<ForeignMessage, ForeignAskError> {
        let type_id = msg.type_id;
        if let Some(gate) = self.gate() {
            if gate.runs_here() {
                return Err(ForeignAskError::AskedItself);
            }
            return self.gated_ask(&gate, msg, timeout).await;
        }
        let answer = match timeout {
            Some(t) => self.actor.ask_timeout(msg, t).await,
            None => self.actor.ask(msg).await,
        };
        match answer {
            Ok(ForeignReply(Some(reply))) => Ok(reply),
            Ok(ForeignReply(None)) => Err(ForeignAskError::NoReply { type_id }),
            Err(e) => Err(ForeignAskError::from_ask(e)),
        }
    }

    /// An ask through the gate: counted, answered by the callback thread.
    async fn gated_ask(
        &self,
        gate: &ForeignGate<F>,
        msg: ForeignMessage,
        timeout: Option<Duration>,
    ) -> Result<ForeignMessage, ForeignAskError> {
        let mut msg = Some(msg);
        if let Some(answer) = self.direct_on_worker(&mut msg, timeout) {
            return answer;
        }
        // `try_direct` takes the message only where it answers (`Done`, `Failed`): busy, it
        // is still here.
        let Some(msg) = msg else {
            return Err(ForeignAskError::Lost(
                "the direct call took the message without answering".into(),
            ));
        };
        let (reply, answer) = oneshot::channel();
        // Counted off when the call is dropped: handled, refused, or with this future if it
        // is dropped (a timeout, say) while it waits for room.
        let count = gate.inner.counts.count(self.actor.id());
        let asking = async {
            if self
                .actor
                .tell(ForeignCall::Ask(msg, reply, count))
                .await
                .is_err()
            {
                return Err(ForeignAskError::Stopped {
                    reason: self.actor.stop_reason(),
                });
            }
            let mut answer = std::pin::pin!(answer);
            tokio::select! {
                biased;
                got = &mut answer => got.unwrap_or_else(|_| Err(self.stopped())),
                // An ask still queued when the actor stops for good is kept (with its reply
                // channel) in the dead letters: the stop is the answer.
                reason = self.actor.wait_for_stop() => match answer.try_recv() {
                    Ok(got) => got,
                    Err(_) => Err(ForeignAskError::Stopped { reason: Some(reason) }),
                },
            }
        };
        match timeout {
            None => asking.await,
            Some(t) => {
                let waited = match gate.inner.clock.get() {
                    Some(clock) => clock.timeout(t, asking).await,
                    None => tokio::time::timeout(t, asking).await,
                };
                waited.unwrap_or(Err(ForeignAskError::Timeout(t)))
            }
        }
    }

    /// An ask of an idle actor from a task of a multi-thread runtime (a Rust actor, an ask
    /// by service name): the handler runs on the asking thread, as it does for a language's
    /// own thread ([`try_direct`](Self::try_direct)), inside `block_in_place`, which hands
    /// the thread's worker role to another thread for as long as the handler runs, so the
    /// runtime's workers never run foreign code and never wait for a language's lock. Two
    /// thread wakes per ask (to a host thread and back) become none. `None`: the actor is
    /// busy (or this is no multi-thread runtime), nothing ran, `msg` is still there; send
    /// through the mailbox. A handler that returns after `timeout` cannot have been cut
    /// short: the asker gets [`ForeignAskError::Timeout`], as through the mailbox, and the
    /// message was handled.
    fn direct_on_worker(
        &self,
        msg: &mut Option<ForeignMessage>,
        timeout: Option<Duration>,
    ) -> Option<Result<ForeignMessage, ForeignAskError>> {
        let type_id = msg.as_ref()?.type_id;
        // A first look, without stepping out of the runtime: an actor with messages pending
        // or direct calls off (a recorded actor, virtual time, a stop) takes the mailbox.
        let gate = self.gate()?;
        if gate.pending() > 0
            || !gate.inner.direct_enabled.load(Ordering::Acquire)
            || crate::runtime::waiting_in_poll_for()
        {
            return None;
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        let started = Instant::now();
        let direct = tokio::task::block_in_place(|| {
            self.try_direct(type_id, |foreign, state| match msg.take() {
                Some(m) => foreign.handle(state, m),
                None => Ok(None),
            })
        });
        match direct {
            Direct::Busy => None,
            Direct::Done(_) if timeout.is_some_and(|t| started.elapsed() > t) => {
                Some(Err(ForeignAskError::Timeout(timeout.unwrap_or_default())))
            }
            Direct::Done(Some(reply)) => Some(Ok(reply)),
            Direct::Done(None) => Some(Err(ForeignAskError::NoReply { type_id })),
            Direct::Failed(e) => Some(Err(e)),
        }
    }

    fn stopped(&self) -> ForeignAskError {
        ForeignAskError::Stopped {
            reason: Some(self.actor.stop_reason().unwrap_or(StopReason::Killed)),
        }
    }

    /// Asks the actor to stop after the message it is handling. An actor whose handler has
    /// just failed is left to end with that failure (its supervisor, if it has one, restarts
    /// it): a stop would overtake the marker that fails its task, and end it normally.
    pub fn stop(&self) {
        if let Some(gate) = self.gate() {
            if gate.failing() {
                return;
            }
            // No direct call once a stop is asked for, and no more of the queue taken from
            // the mailbox (the next start allows both again).
            gate.inner.direct_enabled.store(false, Ordering::Release);
            gate.inner.mail.close();
        }
        self.actor.stop();
    }

    /// Sends the actor `msg` after `delay` of bus time, through its mailbox: a Rust actor's
    /// [`Context::send_after`](mycelium_actors::Context::send_after) for a foreign one. The
    /// timer belongs to the incarnation running now (a stop, a restart or a kill cancels
    /// it); set it with the actor's own ref (the one its `start` was given), from its
    /// callbacks. A recorded actor's firings are recorded as a Rust actor's are.
    /// [`TimerError::NotRunning`](crate::TimerError::NotRunning) if this ref has no gate or
    /// the actor is not running.
    pub fn send_after(
        &self,
        msg: ForeignMessage,
        delay: Duration,
    ) -> Result<crate::ForeignTimer, crate::TimerError> {
        self.set_timer(msg, delay, None)
    }

    /// Sends the actor `msg` every `period` of bus time, the first a period from now, on a
    /// fixed grid; a firing that finds the mailbox full waits for room, and those missed
    /// meanwhile are skipped. Otherwise as [`send_after`](Self::send_after).
    pub fn send_interval(
        &self,
        msg: ForeignMessage,
        period: Duration,
    ) -> Result<crate::ForeignTimer, crate::TimerError> {
        self.set_timer(msg, period, Some(period))
    }

    fn set_timer(
        &self,
        msg: ForeignMessage,
        delay: Duration,
        every: Option<Duration>,
    ) -> Result<crate::ForeignTimer, crate::TimerError> {
        let gate = self.gate().ok_or(crate::TimerError::NotRunning)?;
        let inner = &gate.inner;
        let clock = inner
            .clock
            .get()
            .cloned()
            .ok_or(crate::TimerError::NotRunning)?;
        let (record, fed) = match inner.recording.get() {
            Some(recording) => {
                let (recorder, fed) = recording.timer_recorder();
                let own = recording.allows_own_serialization();
                let name = inner.foreign.recorded(&msg, own).name;
                (Some((recorder, name)), fed)
            }
            None => (None, false),
        };
        let target = crate::timers::Target {
            actor: self.actor.clone(),
            counts: inner.counts.clone(),
            clock,
            record,
            fed,
            foreign: inner.foreign.clone(),
        };
        crate::timers::set(&inner.timers, target, msg, delay, every)
    }

    /// Waits until the actor has stopped for good; its `stop` callback has returned by then.
    pub async fn wait_for_stop(&self) -> StopReason {
        self.actor.wait_for_stop().await
    }

    /// A subscriber for [`subscribe_bytes`](crate::subscribe_bytes) that tells this actor
    /// each publication with `switch`: once [`DeliverySwitch::close`] has returned, none
    /// reaches the handler, not even one already queued (see [`DeliverySwitch`]). A ref
    /// without the actor's gate sends around the switch.
    pub fn switched(&self, switch: Arc<DeliverySwitch>) -> Arc<dyn ByteService> {
        Arc::new(Switched {
            actor: self.clone(),
            switch,
        })
    }

    /// Exports this actor in its bus's export table under `service`, for the contract
    /// messages `type_ids`: from then on `Exports::deliver`/`ask` (and every binding's
    /// tell/ask by service name) reach it.
    pub fn export(&self, bus: &Bus, service: &str, type_ids: &[u16]) -> Result<(), ExportError> {
        bus.exports()
            .export_bytes(service, type_ids, Arc::new(self.clone()))
    }
}

impl<F: Foreign> ByteService for ForeignRef<F> {
    fn id(&self) -> ActorId {
        self.actor.id()
    }

    fn is_alive(&self) -> bool {
        self.actor.is_alive()
    }

    fn try_tell(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal> {
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        // Through the gate, if this ref has it: counted like any other send.
        ForeignRef::try_tell(self, msg).map_err(|e| match e {
            TrySendError::Full(_) => ByteRefusal::Full,
            TrySendError::Closed(_) => ByteRefusal::Stopped,
        })
    }

    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let me = self.clone();
        Box::pin(async move {
            ForeignRef::tell(&me, msg)
                .await
                .map_err(|_| ByteRefusal::Stopped)
        })
    }

    /// Through the gate, the receipt travels with the message and is signed once its handler
    /// has run; around it (no gate), it is signed once queued.
    fn try_tell_receipted(
        &self,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Result<(), (ByteRefusal, Receipt)> {
        let Some(gate) = self.gate() else {
            return match ByteService::try_tell(self, type_id, body) {
                Ok(()) => {
                    receipt.sign();
                    Ok(())
                }
                Err(refusal) => Err((refusal, receipt)),
            };
        };
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let count = gate.inner.counts.count(self.actor.id());
        match self
            .actor
            .try_tell(ForeignCall::Tell(msg, count, Some(receipt)))
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let (refusal, call) = match e {
                    TrySendError::Full(c) => (ByteRefusal::Full, c),
                    TrySendError::Closed(c) => (ByteRefusal::Stopped, c),
                };
                match call {
                    ForeignCall::Tell(_, _, Some(receipt)) => Err((refusal, receipt)),
                    // Only a tell was sent: this arm is never taken.
                    _ => Ok(()),
                }
            }
        }
    }

    fn tell_receipted(
        &self,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        let Some(gate) = self.gate() else {
            let told = ByteService::tell(self, type_id, body);
            return Box::pin(async move {
                let told = told.await;
                drop(receipt);
                told
            });
        };
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let count = gate.inner.counts.count(self.actor.id());
        let actor = self.actor.clone();
        Box::pin(async move {
            // Refused for good, the call is dropped here: reported, and so signed.
            actor
                .tell(ForeignCall::Tell(msg, count, Some(receipt)))
                .await
                .map_err(|_| ByteRefusal::Stopped)
        })
    }

    fn ask(
        &self,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> BoxFuture<'static, ByteReply> {
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let me = self.clone();
        Box::pin(async move {
            match me.ask(msg, timeout).await {
                Ok(reply) => Ok((reply.type_id, reply.body)),
                Err(ForeignAskError::Failed { failure }) => Err(AskError::Failed(failure)),
                Err(ForeignAskError::Stopped { reason: Some(r) }) => Err(AskError::Stopped(r)),
                Err(ForeignAskError::Stopped { reason: None }) => Err(AskError::Closed(())),
                Err(ForeignAskError::Timeout(t)) => Err(AskError::Timeout(t)),
                Err(e @ ForeignAskError::NoReply { .. }) => Err(AskError::Failed(
                    Failure::from_error(Phase::Message("ForeignMessage"), e),
                )),
                Err(ForeignAskError::Lost(reason)) => Err(AskError::Failed(Failure::from_error(
                    Phase::Message("ForeignMessage"),
                    reason,
                ))),
                Err(e @ ForeignAskError::AskedItself) => Err(AskError::Failed(
                    Failure::from_error(Phase::Message("ForeignMessage"), e),
                )),
            }
        })
    }
}

/// What [`ForeignRef::switched`] gives: the actor's publications, each with the switch.
struct Switched<F: Foreign> {
    actor: ForeignRef<F>,
    switch: Arc<DeliverySwitch>,
}

impl<F: Foreign> Switched<F> {
    /// The publication as a counted call, or `None` when it goes around the switch.
    fn call(&self, type_id: u16, body: &[u8]) -> Option<ForeignCall> {
        let gate = self.actor.gate()?;
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let count = gate.inner.counts.count(self.actor.id());
        Some(ForeignCall::Published(msg, self.switch.clone(), count))
    }
}

impl<F: Foreign> ByteService for Switched<F> {
    fn id(&self) -> ActorId {
        self.actor.id()
    }

    fn is_alive(&self) -> bool {
        self.actor.is_alive()
    }

    fn try_tell(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal> {
        if !self.switch.is_open() {
            return Ok(());
        }
        let Some(call) = self.call(type_id, body) else {
            return ByteService::try_tell(&self.actor, type_id, body);
        };
        // Refused, the call comes back and its count goes with it.
        self.actor.actor.try_tell(call).map_err(|e| match e {
            TrySendError::Full(_) => ByteRefusal::Full,
            TrySendError::Closed(_) => ByteRefusal::Stopped,
        })
    }

    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        if !self.switch.is_open() {
            return Box::pin(async { Ok(()) });
        }
        let Some(call) = self.call(type_id, body) else {
            return ByteService::tell(&self.actor, type_id, body);
        };
        let actor = self.actor.actor.clone();
        Box::pin(async move { actor.tell(call).await.map_err(|_| ByteRefusal::Stopped) })
    }

    fn ask(
        &self,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> BoxFuture<'static, ByteReply> {
        ByteService::ask(&self.actor, type_id, body, timeout)
    }
}

/// Spawns a foreign actor (unsupervised) and waits for its first `start` to finish: the
/// actor's ref, or why it stopped (the start callback's error is a `StopReason::Failed`).
pub async fn spawn<F: Foreign>(
    bus: &Bus,
    foreign: Arc<F>,
    args: F::Args,
    options: SpawnOptions,
) -> Result<ForeignRef<F>, ForeignSpawnError> {
    spawn_maybe_recorded(bus, foreign, args, options, None).await
}

/// [`spawn`], the actor recorded from its first start as `recording` says (see
/// [`crate::recording`]).
pub async fn spawn_recorded<F: Foreign>(
    bus: &Bus,
    foreign: Arc<F>,
    args: F::Args,
    options: SpawnOptions,
    recording: crate::ForeignRecording,
) -> Result<ForeignRef<F>, ForeignSpawnError> {
    spawn_maybe_recorded(bus, foreign, args, options, Some(recording)).await
}

/// Spawns a recorded foreign actor without waiting for its first start, which `options` may
/// put at a later bus time (a set's replayed member: [`crate::recording::spawn_replayed`]);
/// a start that fails is recorded as the actor's failure.
pub(crate) fn spawn_recorded_unawaited<F: Foreign>(
    bus: &Bus,
    foreign: Arc<F>,
    args: F::Args,
    options: SpawnOptions,
    recording: crate::ForeignRecording,
) -> Result<ForeignRef<F>, ForeignSpawnError> {
    let (actor, gate) = spawn_spec(
        bus,
        ForeignSpec::new(foreign, args),
        options,
        Some(recording),
    )?;
    Ok(ForeignRef::new(actor).with_gate(gate))
}

/// Spawns the actor of `spec`, recorded as `recording` says if given; its ref and gate.
fn spawn_spec<F: Foreign>(
    bus: &Bus,
    spec: ForeignSpec<F>,
    options: SpawnOptions,
    recording: Option<crate::ForeignRecording>,
) -> Result<(ActorRef<ForeignActor<F>>, ForeignGate<F>), ForeignSpawnError> {
    let gate = spec.gate();
    if let Some(recording) = recording {
        // A new gate: nothing has recorded it yet.
        let _ = gate.record(recording);
    }
    let actor = bus
        .spawn_with::<ForeignActor<F>>(spec, options)
        .map_err(ForeignSpawnError::Spawn)?;
    Ok((actor, gate))
}

async fn spawn_maybe_recorded<F: Foreign>(
    bus: &Bus,
    foreign: Arc<F>,
    args: F::Args,
    options: SpawnOptions,
    recording: Option<crate::ForeignRecording>,
) -> Result<ForeignRef<F>, ForeignSpawnError> {
    let (report, first_start) = oneshot::channel();
    let spec = ForeignSpec::reporting(foreign, args, report);
    let (actor, gate) = spawn_spec(bus, spec, options, recording)?;
    match first_start.await {
        Ok(Ok(())) => Ok(ForeignRef::new(actor).with_gate(gate)),
        Ok(Err(error)) => Err(ForeignSpawnError::StartFailed(error)),
        // Dropped unsent: the task ended before its start ran (the bus shut down).
        Err(_) => Err(ForeignSpawnError::StartFailed(
            actor.wait_for_stop().await.to_string(),
        )),
    }
}

/// Why [`spawn`] gave no actor.
#[derive(Debug, thiserror::Error)]
pub enum ForeignSpawnError {
    /// The bus refused the spawn (a name already taken, the bus shut down).
    #[error(transparent)]
    Spawn(SpawnError),
    /// The start callback failed (its error text); the actor has stopped.
    #[error("the actor failed to start: {0}")]
    StartFailed(String),
}

/// A child spec for a foreign actor, to place in a supervision tree next to Rust actors.
/// Each restart re-runs the start callback with a clone of `args`.
pub fn child_spec<F: Foreign>(
    name: impl Into<String>,
    foreign: Arc<F>,
    args: F::Args,
) -> mycelium_supervisor::ChildSpec {
    mycelium_supervisor::ChildSpec::new::<ForeignActor<F>>(name, ForeignSpec::new(foreign, args))
}

/// [`child_spec`], and the gate of the actor it starts (see [`ForeignRef::with_gate`]).
pub fn gated_child_spec<F: Foreign>(
    name: impl Into<String>,
    foreign: Arc<F>,
    args: F::Args,
) -> (mycelium_supervisor::ChildSpec, ForeignGate<F>) {
    let spec = ForeignSpec::new(foreign, args);
    let gate = spec.gate();
    (
        mycelium_supervisor::ChildSpec::new::<ForeignActor<F>>(name, spec),
        gate,
    )
}

//! [`ForeignRef`]: the address of a foreign actor, by bytes, and its place in the export table.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::export::{ByteRefusal, ByteReply, ByteService, ExportError};
use mycelium_actors::{
    ActorId, ActorRef, AskError, BoxFuture, Bus, Failure, Phase, SendError, SpawnError,
    SpawnOptions, StopReason, TrySendError,
};
use tokio::sync::oneshot;

use crate::{Foreign, ForeignActor, ForeignMessage, ForeignReply, ForeignSpec};

/// The address of a foreign actor: tells and asks of contract messages as bytes. Cheap to
/// clone; it stays valid across restarts in place.
pub struct ForeignRef<F: Foreign> {
    actor: ActorRef<ForeignActor<F>>,
}

impl<F: Foreign> Clone for ForeignRef<F> {
    fn clone(&self) -> Self {
        ForeignRef {
            actor: self.actor.clone(),
        }
    }
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
        ForeignRef { actor }
    }

    /// The ref of the supervised child `name` of `supervisor`, if it is a foreign actor of
    /// this kind.
    pub fn from_actor_ref(actor: ActorRef<ForeignActor<F>>) -> Self {
        ForeignRef { actor }
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
        self.actor.try_tell(msg)
    }

    /// Tells, waiting for room in a full mailbox.
    pub async fn tell(&self, msg: ForeignMessage) -> Result<(), SendError<ForeignMessage>> {
        self.actor.tell(msg).await
    }

    /// Asks; `timeout` is bus time.
    pub async fn ask(
        &self,
        msg: ForeignMessage,
        timeout: Option<Duration>,
    ) -> Result<ForeignMessage, ForeignAskError> {
        let type_id = msg.type_id;
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

    /// Asks the actor to stop after the message it is handling.
    pub fn stop(&self) {
        self.actor.stop();
    }

    /// Waits until the actor has stopped for good; its `stop` callback has returned by then.
    pub async fn wait_for_stop(&self) -> StopReason {
        self.actor.wait_for_stop().await
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
        self.actor.try_tell(msg).map_err(|e| match e {
            TrySendError::Full(_) => ByteRefusal::Full,
            TrySendError::Closed(_) => ByteRefusal::Stopped,
        })
    }

    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let actor = self.actor.clone();
        Box::pin(async move { actor.tell(msg).await.map_err(|_| ByteRefusal::Stopped) })
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
            }
        })
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
    let (report, first_start) = oneshot::channel();
    let actor = bus
        .spawn_with::<ForeignActor<F>>(ForeignSpec::reporting(foreign, args, report), options)
        .map_err(ForeignSpawnError::Spawn)?;
    match first_start.await {
        Ok(Ok(())) => Ok(ForeignRef::new(actor)),
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

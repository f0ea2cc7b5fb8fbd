//! Errors of refs and buses.

use std::fmt;
use std::time::Duration;

use crate::{Failure, NodeId, StopReason};

pub use mycelium_mailbox::{SendError, TrySendError};

/// Why an `ask` got no reply.
///
/// The contract for every address, local or remote: while the request is still in this
/// process it comes back to the caller ([`Closed`](AskError::Closed)); once it has left for
/// another process it cannot, and a failure after that point is
/// [`Lost`](AskError::Lost).
pub enum AskError<M> {
    /// The actor had already stopped (or, for a remote address, the link refused the request
    /// before sending it); the request was not queued and is returned here.
    Closed(M),
    /// No reply within the timeout (bus time). The request may still be handled later.
    Timeout(Duration),
    /// The actor failed while handling this very request.
    Failed(Failure),
    /// The actor stopped (or was killed) before answering; the request went to dead letters
    /// or was dropped with the actor.
    Stopped(StopReason),
    /// The request left this process for `node` and no answer will come: the link to it
    /// dropped, or the peer reported that it could not deliver or handle the request. The
    /// request may or may not have been handled there.
    Lost {
        /// The node the request was sent to.
        node: NodeId,
        /// What the link or the peer reported.
        reason: String,
    },
}

impl<M> AskError<M> {
    /// The request, when it was never queued.
    pub fn into_message(self) -> Option<M> {
        match self {
            AskError::Closed(m) => Some(m),
            _ => None,
        }
    }

    /// The same error without the message it may hold (a closed queue's message is dropped).
    pub(crate) fn without_message(self) -> AskError<()> {
        match self {
            AskError::Closed(_) => AskError::Closed(()),
            AskError::Timeout(d) => AskError::Timeout(d),
            AskError::Failed(f) => AskError::Failed(f),
            AskError::Stopped(r) => AskError::Stopped(r),
            AskError::Lost { node, reason } => AskError::Lost { node, reason },
        }
    }
}

impl<M> fmt::Debug for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Closed(_) => f.write_str("Closed(..)"),
            AskError::Timeout(d) => f.debug_tuple("Timeout").field(d).finish(),
            AskError::Failed(x) => f.debug_tuple("Failed").field(x).finish(),
            AskError::Stopped(r) => f.debug_tuple("Stopped").field(r).finish(),
            AskError::Lost { node, reason } => f
                .debug_struct("Lost")
                .field("node", node)
                .field("reason", reason)
                .finish(),
        }
    }
}

impl<M> fmt::Display for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Closed(_) => f.write_str(
                "the actor has stopped: the request was not delivered and is returned in the error",
            ),
            AskError::Timeout(d) => write!(
                f,
                "no reply within {d:?} of bus time: the actor is busy or stuck; the request may still be handled"
            ),
            AskError::Failed(failure) => write!(
                f,
                "the actor failed while handling this request (it {failure}); it is restarting if its supervisor's policy allows: resend if the request is safe to repeat"
            ),
            AskError::Stopped(reason) => {
                write!(f, "the actor {reason} before answering; the request was not handled")
            }
            AskError::Lost { node, reason } => write!(
                f,
                "the request left this process for {node} and its answer was lost ({reason}); it may or may not have been handled: resend only if it is safe to repeat"
            ),
        }
    }
}

impl<M> std::error::Error for AskError<M> {}

/// Why a spawn was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// Another live actor on this bus has the name.
    #[error(
        "an actor named `{0}` already runs on this bus: pick another name or stop that actor first"
    )]
    NameTaken(String),
    /// The bus is shutting down or has shut down.
    #[error("the bus is shutting down and accepts no new actors")]
    BusStopped,
    /// A pinned actor's thread or runtime could not be created.
    #[error("could not start a dedicated thread for a pinned actor: {0}")]
    Thread(String),
    /// A supervisor's child failed in `on_start` while the supervisor started (or while it
    /// was being added): the children started before it were stopped in reverse order and
    /// the later ones never started.
    #[error(
        "child `{child}` could not start: it {cause}; the supervisor stopped the children it had started and did not start the later ones: fix the child's start (or its arguments) and spawn again"
    )]
    StartFailed {
        /// The child's name within its supervisor.
        child: String,
        /// How its `on_start` failed.
        cause: Failure,
    },
    /// A supervisor's spec cannot work (duplicate child names, a zero restart period, ...);
    /// nothing was started.
    #[error("invalid supervisor spec: {0}")]
    InvalidSpec(String),
}

/// What a reply slot carries when there is no reply.
#[derive(Debug)]
pub(crate) enum NoReply {
    Failed(Failure),
    Stopped(StopReason),
    Lost { node: NodeId, reason: String },
}

impl NoReply {
    pub(crate) fn into_ask_error<M>(self) -> AskError<M> {
        match self {
            NoReply::Failed(f) => AskError::Failed(f),
            NoReply::Stopped(r) => AskError::Stopped(r),
            NoReply::Lost { node, reason } => AskError::Lost { node, reason },
        }
    }
}

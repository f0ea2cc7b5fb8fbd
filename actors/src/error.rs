//! Every error of this crate: sends and asks, spawns, buses, topics and the export table.

use std::fmt;
use std::time::Duration;

use mycelium_codec::DecodeError;

use crate::{ActorId, Failure, NodeId, StopReason};

pub use mycelium_mailbox::{SendError, TrySendError};

/// Why an `ask` got no reply.
///
/// The contract for every address, local or remote: while the request is still in this
/// process it comes back to the caller ([`Closed`](AskError::Closed)); once it has left for
/// another process it cannot, and a failure after that point is
/// [`Lost`](AskError::Lost).
pub enum AskError<M> {
    /// The actor had already stopped (or, for a remote address, the link refused the request,
    /// or closed for good before writing it); the request was not delivered and is returned
    /// here.
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
    /// [`SpawnOptions::pinned`](crate::SpawnOptions::pinned) and
    /// [`SpawnOptions::hibernate`](crate::SpawnOptions::hibernate) were both asked for.
    #[error(
        "an actor cannot be both pinned and hibernating: a pinned actor keeps its own thread whether or not it has mail; drop one of the two options"
    )]
    PinnedHibernating,
    /// [`Context::spawn_child_with`](crate::Context::spawn_child_with) was given a
    /// supervisor: a linked child is stopped by its owner.
    #[error(
        "a linked child cannot also have a supervisor: its owner stops it; drop `supervised_by`, or spawn it on the bus under its supervisor"
    )]
    OwnedAndSupervised,
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
    Lost {
        node: NodeId,
        reason: String,
    },
    /// The request never left this process after all, and is handed back
    /// ([`ReplySender::unsent`](crate::ReplySender::unsent)).
    Unsent {
        node: NodeId,
        request: Box<dyn std::any::Any + Send>,
    },
}

impl NoReply {
    pub(crate) fn into_ask_error<M: 'static>(self) -> AskError<M> {
        match self {
            NoReply::Failed(f) => AskError::Failed(f),
            NoReply::Stopped(r) => AskError::Stopped(r),
            NoReply::Lost { node, reason } => AskError::Lost { node, reason },
            NoReply::Unsent { node, request } => match request.downcast::<M>() {
                Ok(request) => AskError::Closed(*request),
                Err(_) => AskError::Lost {
                    node,
                    reason: "the request was not sent, but came back as another type".into(),
                },
            },
        }
    }

    /// [`into_ask_error`](Self::into_ask_error) for an asker that no longer holds the
    /// request: one handed back is [`AskError::Closed`]`(())`.
    pub(crate) fn into_ask_error_without_message(self) -> AskError<()> {
        match self {
            NoReply::Unsent { .. } => AskError::Closed(()),
            other => other.into_ask_error(),
        }
    }
}

/// Why a bus could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// No tokio runtime was given or current.
    #[error(
        "a bus needs a tokio runtime: build it inside one, or pass one with `BusBuilder::runtime`"
    )]
    NoRuntime,
    /// Virtual time needs a current-thread runtime.
    #[error("virtual time needs a current-thread tokio runtime with a paused clock (`Builder::new_current_thread().enable_time().start_paused(true)`)")]
    VirtualNeedsCurrentThread,
}

/// A name or pattern as an error message shows it: control characters, bidirectional
/// formatting characters and line separators escaped (`\u{1b}`, `\u{202e}`), so that a name
/// from a peer or a file cannot break the message's line, drive a terminal or show reordered.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    mycelium_codec::text::escape_controls(text.chars(), &mut out);
    out
}

/// Why a topic operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic name breaks the grammar.
    #[error("`{}` is not a topic name: {problem}; a name is dot-separated, non-empty segments such as `md.quote.AAPL`, without `*`, whitespace or control characters", shown(.name))]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The subscription pattern breaks the grammar.
    #[error("`{}` is not a subscription pattern: {problem}; use a topic name (`md.quote.AAPL`), a name followed by `.*` (`md.quote.*`), or `*` alone", shown(.pattern))]
    InvalidPattern {
        /// The pattern given.
        pattern: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Why an export was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The service already takes a message with this type id.
    #[error("service `{service}` already takes `{message}` (type id {type_id}) for an actor that is running: export under another name, or once that actor has stopped for good (its name then comes free)")]
    AlreadyExported {
        /// The service name.
        service: String,
        /// The message's type id.
        type_id: u16,
        /// The message's schema name.
        message: &'static str,
    },
    /// Incoming publications of this type are already published on this bus.
    #[error("topic messages `{message}` (type id {type_id}) are already exported on this bus")]
    TopicAlreadyExported {
        /// The message's type id.
        type_id: u16,
        /// The message's schema name.
        message: &'static str,
    },
    /// A service name must not be empty.
    #[error("a service name must not be empty")]
    EmptyServiceName,
    /// A byte service was exported with no type id: nothing could reach it.
    #[error(
        "service `{service}` was exported with no message types: give the type ids it handles"
    )]
    NoTypes {
        /// The service name.
        service: String,
    },
    /// The message's contract topic breaks the topic-name grammar.
    #[error("`{message}` cannot be exported as a topic: {source}")]
    InvalidTopic {
        /// The message's schema name.
        message: &'static str,
        /// What is wrong with its topic.
        #[source]
        source: TopicError,
    },
}

/// Why an incoming message was not delivered, or an incoming request got no reply. The bytes
/// stay with the caller (they are borrowed), so a link can report them or retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No service of that name is exported on this bus.
    #[error("no service `{service}` is exported on this bus: check the name and the peer's topology, or export an actor under it")]
    UnknownService {
        /// The service name asked for.
        service: String,
    },
    /// The service takes no message with that type id.
    #[error("service `{service}` takes no message with type id {type_id} (it takes {accepted:?}): the peers' contracts differ, or the message went to the wrong service")]
    UnknownType {
        /// The service name.
        service: String,
        /// The type id asked for.
        type_id: u16,
        /// The type ids the service takes, ascending.
        accepted: Vec<u16>,
    },
    /// The service takes this message as a tell only: it was exported with `export`, not
    /// `export_ask`.
    #[error("service `{service}` takes `{message}` (type id {type_id}) as a tell only, so it cannot answer an ask: export it with `Exports::export_ask`")]
    NotAnAsk {
        /// The service name.
        service: String,
        /// The type id.
        type_id: u16,
        /// The message's schema name.
        message: &'static str,
    },
    /// The body does not decode as the message its type id names.
    #[error("the body of `{message}` (type id {type_id}) for `{target}` does not decode: {source}; the peer's schema differs or the frame is corrupt")]
    Decode {
        /// The service name, or the topic name for a publication.
        target: String,
        /// The type id.
        type_id: u16,
        /// The message's schema name.
        message: &'static str,
        /// Why it does not decode.
        #[source]
        source: DecodeError,
    },
    /// The receiving mailbox is full; nothing was queued.
    #[error("the mailbox of service `{service}` ({actor}) is full: nothing was queued; retry later with the same bytes, or use `deliver`, which waits for room")]
    Full {
        /// The service name.
        service: String,
        /// The receiving actor.
        actor: ActorId,
    },
    /// The receiving actor has stopped for good; the message was not handled.
    #[error("service `{service}` ({actor}) has stopped{}: the message was not handled; an actor exported under the name again takes its place", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Stopped {
        /// The service name.
        service: String,
        /// The receiving actor.
        actor: ActorId,
        /// Why, when known (an ask queued before the stop); `None` when the actor had
        /// already stopped and the message was not queued.
        reason: Option<StopReason>,
    },
    /// The actor failed while handling this request.
    #[error("service `{service}` failed while handling this request (it {failure}); resend only if the request is safe to repeat")]
    Failed {
        /// The service name.
        service: String,
        /// The failure.
        failure: Failure,
    },
    /// No reply within the timeout given to `Exports::ask_timeout` (bus time).
    #[error("service `{service}` gave no reply within {after:?} of bus time; the request may still be handled")]
    Timeout {
        /// The service name.
        service: String,
        /// The timeout.
        after: Duration,
    },
    /// The exported address is itself a proxy for another node, and that answer was lost.
    #[error("service `{service}` forwards to {node}, and the answer was lost there ({reason})")]
    Lost {
        /// The service name.
        service: String,
        /// The node the request was forwarded to.
        node: NodeId,
        /// What the link or the peer reported.
        reason: String,
    },
    /// No exported topic message has that type id.
    #[error("no topic message with type id {type_id} is exported on this bus (exported: {accepted:?}): export it with `Exports::export_topic`")]
    UnknownTopicType {
        /// The type id asked for.
        type_id: u16,
        /// The exported topic type ids, ascending.
        accepted: Vec<u16>,
    },
    /// The topic name of an incoming publication breaks the grammar.
    #[error("incoming publication: {0}")]
    Topic(#[from] TopicError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsent(request: impl std::any::Any + Send) -> NoReply {
        NoReply::Unsent {
            node: NodeId::new(2),
            request: Box::new(request),
        }
    }

    #[test]
    fn a_request_handed_back_is_the_askers_again() {
        assert!(matches!(
            unsent(String::from("order 7")).into_ask_error::<String>(),
            AskError::Closed(back) if back == "order 7"
        ));
        assert!(matches!(
            unsent(7u32).into_ask_error_without_message(),
            AskError::Closed(())
        ));
    }

    #[test]
    fn a_request_handed_back_as_another_type_is_a_lost_answer_that_says_so() {
        match unsent(7u32).into_ask_error::<String>() {
            AskError::Lost { node, reason } => {
                assert_eq!(node, NodeId::new(2));
                assert!(reason.contains("came back as another type"), "{reason}");
            }
            other => panic!("expected Lost, got {other:?}"),
        }
    }
}

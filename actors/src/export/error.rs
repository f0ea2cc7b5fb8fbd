//! Errors of the export table: refused registrations, and deliveries that did not happen.

use std::time::Duration;

use mycelium_codec::DecodeError;

use crate::topic::TopicError;
use crate::{ActorId, Failure, NodeId, StopReason};

/// Why an export was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The service already takes a message with this type id.
    #[error("service `{service}` already takes `{message}` (type id {type_id}): unexport the service first, or export under another name")]
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
    #[error("no service `{service}` is exported on this bus: check the peer's topology, or export it with `Exports::export`")]
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
    #[error("service `{service}` ({actor}) has stopped{}: the message was not handled; unexport the service or export its replacement", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
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

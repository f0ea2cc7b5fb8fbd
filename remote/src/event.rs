//! What a link tells its observer: state changes and loss reports.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::frame::Kind;

/// One event of one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// Bus time of the event.
    pub at: Duration,
    /// The peer node's name.
    pub peer: String,
    /// What happened.
    pub kind: LinkEventKind,
}

/// What happened to a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEventKind {
    /// Dialling the peer; `attempt` counts failures since the link was last up.
    Connecting {
        /// Failed attempts before this one.
        attempt: u32,
    },
    /// The handshake succeeded; `resent` unacknowledged frames were sent again.
    Up {
        /// The peer's instance id.
        peer_instance: u64,
        /// Frames resent from the resend buffer.
        resent: u64,
    },
    /// The connection ended; the link will reconnect (dialling side) or wait for the peer.
    Down {
        /// Why.
        reason: String,
        /// The peer closed its end on purpose (a Close frame: its link was closed or its node
        /// shut down), as opposed to a failure seen on this side (a dead socket, a heartbeat
        /// timeout, a malformed frame). Logged at info instead of as a warning.
        by_peer: bool,
    },
    /// A handshake was refused (by us or by the peer).
    Refused {
        /// Why.
        reason: String,
    },
    /// The link stopped trying; queued and unacknowledged messages are reported lost.
    GaveUp {
        /// Why.
        reason: String,
    },
    /// Messages that may not have been delivered.
    Loss(LossReport),
    /// Publications of a topic this node subscribed to on the peer were lost on their way
    /// here: the peer said so. Also published on this node's bus, on [`GAP_TOPIC`].
    TopicGap(TopicGap),
}

/// The topic on which a node publishes each [`TopicGap`] it is told of, on its own bus: an
/// actor subscribes to it (`bus.subscribe_actor::<A, TopicGap>(GAP_TOPIC, ..)`) to re-request
/// a snapshot or halt trading when its stream has a hole.
pub const GAP_TOPIC: &str = "mycelium.remote.gap";

/// Publications of one topic, sent (or due) to this node by a peer, that will never arrive:
/// `count` of them, the first numbered `first_seq` and the last `last_seq` in the peer's
/// numbering of the link (frames of other topics may lie between). The publishing node tells
/// the subscribing node as soon as it can send again, in the same order as the
/// publications, so the gap comes after what arrived before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicGap {
    /// The node that published them.
    pub source: String,
    /// The topic they were published on.
    pub topic: String,
    /// Their contract type id.
    pub type_id: u16,
    /// The first lost publication's sequence number on the link.
    pub first_seq: u64,
    /// The last lost publication's sequence number on the link.
    pub last_seq: u64,
    /// How many were lost.
    pub count: u64,
    /// Why.
    pub reason: GapReason,
}

/// Why publications never reached a subscribing node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
    /// This node's process restarted: what was sent to its predecessor and not acknowledged
    /// may or may not have been handled there.
    Restarted,
    /// The publishing node found this node's state for the link held by another process of
    /// the same name (two took turns under it).
    Forgot,
    /// They do not fit in a frame this node accepts (or any frame).
    TooLarge,
    /// The subscription's overflow policy ([`RemoteOverflow`](crate::RemoteOverflow))
    /// dropped them at the publishing node while the link's queue was full. They never had a
    /// sequence number: `first_seq` and `last_seq` are 0, and `topic` is the subscription's
    /// pattern.
    Dropped,
    /// The publishing node's link to this node was closed (it gave up waiting for this
    /// node, or was closed by hand) when they were published, and has opened again since.
    /// They never had a sequence number: `first_seq` and `last_seq` are 0, and `topic` is
    /// the subscription's pattern.
    Closed,
    /// A reason this version does not know (from a newer peer).
    Other,
}

impl GapReason {
    /// The reason's code in a gap notice on the wire, and in the gap bodies foreign code
    /// reads: 1 `Restarted`, 2 `Forgot`, 3 `TooLarge`, 4 `Dropped`, 5 `Closed`, 0 `Other`.
    pub fn to_u8(self) -> u8 {
        match self {
            GapReason::Restarted => 1,
            GapReason::Forgot => 2,
            GapReason::TooLarge => 3,
            GapReason::Dropped => 4,
            GapReason::Closed => 5,
            GapReason::Other => 0,
        }
    }

    /// The reason of a code [`to_u8`](Self::to_u8) gives; `Other` for a code this version
    /// does not know.
    pub fn from_u8(b: u8) -> GapReason {
        match b {
            1 => GapReason::Restarted,
            2 => GapReason::Forgot,
            3 => GapReason::TooLarge,
            4 => GapReason::Dropped,
            5 => GapReason::Closed,
            _ => GapReason::Other,
        }
    }
}

impl fmt::Display for TopicGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            GapReason::Restarted => "this process restarted",
            GapReason::Forgot => "the publishing node took this node for another process",
            GapReason::TooLarge => "too large for a frame",
            GapReason::Dropped => "dropped by the subscription's overflow policy",
            GapReason::Closed => "the publishing node's link to this node was closed",
            GapReason::Other => "a reason this version does not know",
        };
        if self.reason == GapReason::Dropped {
            return write!(
                f,
                "{} publication(s) matching `{}` from node `{}` were dropped by the \
                 subscription's overflow policy (the link's queue was full)",
                self.count, self.topic, self.source
            );
        }
        if self.reason == GapReason::Closed {
            return write!(
                f,
                "{} publication(s) matching `{}` from node `{}` were not sent: its link to \
                 this node was closed (gave up waiting) when they were published",
                self.count, self.topic, self.source
            );
        }
        write!(
            f,
            "{} publication(s) of `{}` from node `{}` were lost between seq {} and {} ({why})",
            self.count, self.topic, self.source, self.first_seq, self.last_seq
        )
    }
}

/// Why messages were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// The peer restarted (a new incarnation, whatever its instance id): what its
    /// predecessor had not acknowledged may or may not have been handled.
    PeerRestarted,
    /// The peer, the process heard from before, holds its state for this link about another
    /// process of this node's name (two took turns under it): what it had not acknowledged
    /// may or may not have been handled.
    PeerForgot,
    /// The link gave up or was shut down with messages still queued or unacknowledged.
    GaveUp,
    /// Messages queued before the link knew the peer's largest frame body (while it was
    /// away, or before it restarted with a smaller `max_frame`) do not fit in it. They were
    /// never sent: they are taken out of the log, and the frames after them take their
    /// sequence numbers.
    TooLargeForPeer,
}

/// Messages sent on a link that cannot be confirmed delivered: the sequence range and each
/// message's kind, type id and service or topic. Never silent: every such message is in a
/// report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LossReport {
    /// The peer node.
    pub peer: String,
    /// The peer instance the messages were meant for, if one was known.
    pub peer_instance: Option<u64>,
    /// Why.
    pub reason: LossReason,
    /// First lost sequence number.
    pub first_seq: u64,
    /// Last lost sequence number (inclusive).
    pub last_seq: u64,
    /// The lost messages, in sequence order.
    pub messages: Vec<LostMessage>,
}

/// One lost message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostMessage {
    /// Its sequence number.
    pub seq: u64,
    /// Tell, ask, publish...
    pub kind: Kind,
    /// Its contract type id.
    pub type_id: u16,
    /// The service or topic it was sent to.
    pub name: Arc<str>,
    /// The message type's name, when the sender knew it (typed sends).
    pub message: &'static str,
}

impl fmt::Display for LossReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} message(s) to {} lost ({:?}): seq {}..={}",
            self.messages.len(),
            self.peer,
            self.reason,
            self.first_seq,
            self.last_seq
        )
    }
}

/// Receives link events. Called synchronously: keep it short (push to a channel).
pub type Observer = Arc<dyn Fn(&LinkEvent) + Send + Sync>;

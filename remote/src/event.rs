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

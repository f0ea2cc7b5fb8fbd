//! Errors of the remote layer.

use std::path::PathBuf;

use mycelium_codec::FrameError;

use crate::frame::Kind;

/// A frame that can never be valid; the link that read it closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The 32-byte header is wrong (magic, version, or a body above the maximum).
    #[error("bad frame header: {0}")]
    Header(FrameError),
    /// The body is shorter than the 20-byte link header.
    #[error("frame body of {body_len} bytes is shorter than the 20-byte link header")]
    ShortBody {
        /// Bytes of body.
        body_len: usize,
    },
    /// The link header names no known frame kind.
    #[error("unknown frame kind {kind}")]
    UnknownKind {
        /// The byte read.
        kind: u8,
    },
    /// A data frame without a sequence number, or a control frame with one.
    #[error("{kind:?} frame with sequence number {seq} is on the wrong lane")]
    WrongLane {
        /// The frame's kind.
        kind: Kind,
        /// Its sequence number.
        seq: u64,
    },
    /// An ask or reply without a correlation id.
    #[error("{kind:?} frame without a correlation id")]
    MissingCorrelation {
        /// The frame's kind.
        kind: Kind,
    },
    /// The name is longer than 255 bytes or than the body.
    #[error("name length {len} exceeds 255 bytes or the frame body")]
    NameTooLong {
        /// The announced length.
        len: usize,
    },
    /// The name is not UTF-8.
    #[error("service or topic name is not UTF-8")]
    NameNotUtf8,
    /// A frame to send is larger than the link's maximum.
    #[error("a frame body of {body_len} bytes exceeds the link's maximum of {max}; raise `max_frame` on both sides or send smaller messages")]
    TooLargeToSend {
        /// The body's length.
        body_len: usize,
        /// The maximum.
        max: u32,
    },
    /// A frame to send is larger than the peer accepts: within this node's `max_frame`, above
    /// the peer's, which it declared in its hello.
    #[error("a frame body of {body_len} bytes exceeds the maximum of {peer_max} bytes that node `{peer}` accepts (its `max_frame`; this node's is {own_max}); raise `max_frame` on `{peer}` or send smaller messages")]
    TooLargeForPeer {
        /// The peer node.
        peer: String,
        /// The body's length.
        body_len: usize,
        /// The peer's maximum.
        peer_max: u32,
        /// This node's maximum.
        own_max: u32,
    },
}

/// The shared secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file can be read by other users.
    #[error(
        "secret file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The path is not a regular file of this user (a symbolic link, a directory or device,
    /// or a file another user owns).
    #[error("secret file {path} {problem}")]
    NotOwnFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// The environment variable is not set.
    #[error("environment variable {name} holding the link secret is not set")]
    MissingEnv {
        /// The variable.
        name: String,
    },
    /// The secret is too short to be worth anything.
    #[error("the link secret has {len} bytes; use at least 16")]
    TooShort {
        /// Its length.
        len: usize,
    },
}

/// Why a handshake did not establish a link. Nothing from the peer reached an actor.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer closed the connection, or reset it, before a byte of it came: a probe of
    /// whether the node listens, a health check, a port scan.
    #[error("peer {peer} closed the connection before sending anything")]
    Silent {
        /// The peer's address.
        peer: String,
    },
    /// Seen by the dialling side: the accepting node closed the connection before its
    /// verdict, without a reason (a refusal sends one). It closes a connection that has not
    /// authenticated when its handshake slots are full and a newer connection needs one, and
    /// when the handshake deadline passed; the link tries again.
    #[error(
        "node at {peer} closed the connection during the handshake without a verdict: most \
         likely its handshake slots were all taken by connections that had not authenticated \
         (it closes the oldest to make room for a new one), or this handshake did not finish \
         within its deadline (`handshake_timeout`); trying again"
    )]
    Dropped {
        /// The peer's address.
        peer: String,
    },
    /// The socket failed.
    #[error("i/o error during handshake with {peer}: {source}")]
    Io {
        /// The peer's address.
        peer: String,
        /// Why.
        source: std::io::Error,
    },
    /// The deadline (bus time) passed.
    #[error("handshake with {peer} did not finish within its deadline")]
    Timeout {
        /// The peer's address.
        peer: String,
    },
    /// The peer sent bytes that are not a valid handshake.
    #[error("peer {peer} broke the handshake protocol: {reason}")]
    Protocol {
        /// The peer's address.
        peer: String,
        /// What was wrong.
        reason: String,
    },
    /// The peer could not prove that it knows the shared secret.
    #[error("peer {peer} failed authentication (wrong or missing shared secret); refused")]
    AuthFailed {
        /// The peer's address.
        peer: String,
    },
    /// The schemas cannot talk: refused on both sides.
    #[error("schema mismatch with {peer}: local digest {local}, peer digest {remote}: {detail}")]
    SchemaMismatch {
        /// The peer's address.
        peer: String,
        /// Our digest, hex.
        local: String,
        /// The peer's digest, hex.
        remote: String,
        /// The first incompatibility.
        detail: String,
    },
    /// The peer refused us; its reason.
    #[error("peer {peer} refused the link: {reason}")]
    Refused {
        /// The peer's address.
        peer: String,
        /// The reason it gave.
        reason: String,
    },
    /// The peer is not the node we dialled, or not a node of this topology.
    #[error("peer {peer} introduced itself as node `{node}`, which is not {expected}")]
    UnexpectedNode {
        /// The peer's address.
        peer: String,
        /// The name it gave.
        node: String,
        /// What was expected.
        expected: String,
    },
}

/// A message could not be queued on a link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The link's queue is full (only from `try_` calls).
    #[error("the link's queue is full")]
    Full,
    /// The link gave up or was shut down; nothing more will be sent on it.
    #[error("the link to {peer} is closed: {reason}")]
    Closed {
        /// The peer node.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The message does not fit in one frame: this node's (`WireError::TooLargeToSend`) or
    /// the one the peer accepts (`WireError::TooLargeForPeer`, once the link has met the
    /// peer). Nothing was queued; the link lives on.
    #[error(transparent)]
    TooLarge(WireError),
}

/// Why [`Link::drain`](crate::Link::drain) returned before the peer acknowledged everything
/// it waited for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    /// The deadline passed first. The messages stay queued and the link goes on sending
    /// them; nothing is lost yet.
    #[error("{unacknowledged} message(s) to {peer} still unacknowledged after {waited:?}: the peer is away or slow; drain again to wait longer, or close the link and read its loss report")]
    Timeout {
        /// The peer node.
        peer: String,
        /// Messages queued before the drain that the peer has not acknowledged yet.
        unacknowledged: usize,
        /// How long the drain waited (bus time).
        waited: std::time::Duration,
    },
    /// The link closed for good (it gave up, or was closed): its loss report names what the
    /// peer had not acknowledged.
    #[error("the link to {peer} closed while draining ({reason}); its loss report names what the peer had not acknowledged")]
    Closed {
        /// The peer node.
        peer: String,
        /// Why the link closed.
        reason: String,
    },
    /// Messages were taken out of the link's log unacknowledged while it waited (the peer
    /// restarted, say): a loss report names them.
    #[error("{count} message(s) to {peer} were reported lost while draining (the peer restarted, say); the link's loss report names them")]
    Lost {
        /// The peer node.
        peer: String,
        /// How many left the log unacknowledged meanwhile.
        count: u64,
    },
}

/// Why a subscription to other nodes' publications was not made
/// ([`Node::subscribe_remote`](crate::Node::subscribe_remote)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The pattern breaks the topic grammar (nothing was sent).
    #[error(transparent)]
    Pattern(#[from] mycelium_actors::TopicError),
    /// The subscription could not be queued on a link.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Why a remote ask got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteAskError {
    /// The request could not be queued: the link is closed, or the request does not fit in
    /// a frame ([`SendError::TooLarge`], the caller's to fix).
    #[error("the request was not sent: {0}")]
    NotSent(SendError),
    /// The request was queued, but the link closed for good (gave up, or was closed) before
    /// writing it: it was not handled. `request` is its body, for the asker to have back.
    #[error("the request was not sent: {error}")]
    Unsent {
        /// Why the link closed ([`SendError::Closed`]).
        error: SendError,
        /// The request's encoded body.
        request: Vec<u8>,
    },
    /// The link went down after the request was queued: the request may or may not have been
    /// handled; its reply, if any, is dropped.
    #[error("the link to {peer} went down while the ask was in flight ({reason}); it may or may not have been handled (one not handled yet is sent again when the link reconnects to the same process, or named in its loss report)")]
    LinkDown {
        /// The peer node.
        peer: String,
        /// Why the link went down.
        reason: String,
    },
    /// The receiving node could not handle it; its reason.
    #[error("the remote handler failed: {0}")]
    Failed(String),
    /// The reply is not of the expected type or does not decode.
    #[error("the reply cannot be read: {0}")]
    BadReply(String),
}

/// A node could not be set up from its topology.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The topology file is wrong.
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    /// The secret could not be loaded.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The node could not listen.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The TLS files of the topology cannot be used.
    #[cfg(feature = "tls")]
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The topology asks for TLS, which this build of `mycelium-remote` leaves out.
    #[error("node `{node}` has `tls` in its topology, but this program was built without TLS: build `mycelium-remote` with its `tls` feature")]
    TlsNotBuilt {
        /// The node.
        node: String,
    },
}

/// A dispatch of an incoming message to local actors failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// No local service of that name is exported.
    #[error("no exported service `{0}` on this node")]
    UnknownService(String),
    /// The service does not take that message type.
    #[error("service `{service}` does not accept type id {type_id}")]
    UnknownType {
        /// The service.
        service: String,
        /// The type id.
        type_id: u16,
    },
    /// The body did not decode.
    #[error("cannot decode type id {type_id}: {reason}")]
    Decode {
        /// The type id.
        type_id: u16,
        /// The decoder's error.
        reason: String,
    },
    /// The local actor is gone or failed.
    #[error("{0}")]
    Failed(String),
}

/// A transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket could not be bound, connected or configured.
    #[error("{what} {endpoint}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: std::io::Error,
    },
    /// The socket directory is not safe to use.
    #[error("socket directory {path} {problem}; use a directory owned by this user and closed to others (chmod 700)")]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

//! Errors of the shared-memory transport.

use std::io;

use thiserror::Error;

/// Why a ring operation failed. Everything but [`RingError::TooLarge`] ends the ring: the
/// link is closed and, for a live peer, set up again on a fresh segment.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RingError {
    /// The message does not fit in one ring record. Nothing was written; the ring stays
    /// usable. Send it in parts, or give the link a larger ring (`ring_bytes`).
    #[error(
        "a message of {len} bytes does not fit in this ring (at most {max} bytes per message); \
         split it or configure a larger ring"
    )]
    TooLarge {
        /// Length of the message.
        len: usize,
        /// Largest message this ring carries.
        max: usize,
    },
    /// The peer closed its end of the ring (and, for the reader, everything it wrote has
    /// been read).
    #[error("the peer closed its end of the ring")]
    Closed,
    /// The shared memory holds an index or a record that the protocol cannot produce: the
    /// peer is broken or hostile, or something else wrote into the segment. The ring must
    /// not be used again.
    #[error("shared-memory ring is corrupt: {0}; the link is closed")]
    Corrupt(String),
}

/// Why a shared-memory segment or channel could not be set up or used.
#[derive(Debug, Error)]
pub enum ShmError {
    /// A system call on the segment failed.
    #[error("shared-memory segment {name}: cannot {what}: {source}")]
    Io {
        /// The segment's name.
        name: String,
        /// What was attempted.
        what: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The memory of a new segment could not be reserved: `/dev/shm` (a tmpfs) is full or
    /// too small, or a memory limit was reached. Segments are reserved whole when they are
    /// created, so a full `/dev/shm` is this error rather than a SIGBUS later.
    #[error(
        "shared-memory segment {name}: cannot reserve its {bytes} bytes (two rings of \
         {ring_bytes} bytes and a 4 KiB header) in /dev/shm: {source}; free space in /dev/shm \
         (see `df /dev/shm`; a container's /dev/shm is often 64 MiB, raised with --shm-size), \
         or configure smaller rings (`ring_bytes`)"
    )]
    NoSpace {
        /// The segment's name.
        name: String,
        /// The segment's total size.
        bytes: usize,
        /// The size of each of its rings.
        ring_bytes: usize,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The segment name (prefix and link) is not a valid POSIX shared-memory name.
    #[error(
        "invalid shared-memory segment name {0:?}: use at most 200 characters among \
         letters, digits, '.', '_' and '-'"
    )]
    InvalidName(String),
    /// Another process owns a segment of this name, and it is alive, or it runs in another
    /// pid namespace (another container sharing `/dev/shm`), or whether it runs cannot be
    /// read from `/proc`: the segment is never removed then.
    #[error(
        "shared-memory segment {name} is in use by process {pid} (alive, or in another pid \
         namespace, or its liveness cannot be read from /proc); is another node running with \
         the same name or prefix? If no process uses it any more, remove /dev/shm{name}"
    )]
    InUse {
        /// The segment's name.
        name: String,
        /// The live owner.
        pid: u32,
    },
    /// The segment exists but is not one this layout version can use (or not yet set up).
    #[error("shared-memory segment {name} is not usable: {problem}")]
    BadSegment {
        /// The segment's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The two sides speak different schemas.
    #[error(
        "shared-memory segment {name} was created for schema {theirs}, this process speaks \
         {ours}; rebuild both sides from the same contracts"
    )]
    SchemaMismatch {
        /// The segment's name.
        name: String,
        /// Our digest (hex).
        ours: String,
        /// The digest in the segment (hex).
        theirs: String,
    },
    /// The ring configuration is out of range.
    #[error("ring of {0} bytes: use a power of two between 4 KiB and 1 GiB")]
    BadRingSize(usize),
    /// The peer process died (or its end was dropped without closing the link).
    #[error("the peer process {pid} of shared-memory segment {name} is gone")]
    PeerGone {
        /// The segment's name.
        name: String,
        /// The peer's pid.
        pid: u32,
    },
    /// A ring failed.
    #[error(transparent)]
    Ring(#[from] RingError),
}

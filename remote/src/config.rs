//! Options of a link.

use std::time::Duration;

use mycelium_supervisor::Backoff;

use crate::frame::{DEFAULT_MAX_BODY, HANDSHAKE_MAX_BODY};

/// The smallest [`LinkConfig::max_frame`]: room for the link's own frames (a subscription
/// with the longest pattern, a failed reply's reason, a Close frame's reason), as much as a
/// handshake frame may take.
pub const MIN_MAX_FRAME: u32 = HANDSHAKE_MAX_BODY;

/// [`LinkConfig::queue_bytes`] by default: 16 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// How a link's reader waits for bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Park on the socket until it is readable.
    #[default]
    Block,
    /// Poll the socket without parking for up to this long (measured in CPU time, not bus
    /// time: it is a cost, not an event) after the last bytes arrived (read by the link's
    /// reader or by an asker reading its reply), then park. Spares the
    /// wake-up of a parked thread, which costs tens of microseconds across cores, at the
    /// price of a busy core. A Unix or TCP socket stays out of the runtime's reactor while
    /// its reader spins, and registers only to wait.
    Spin(Duration),
}

/// Options of a link; the defaults suit a local network.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Messages queued or awaiting acknowledgement, at most. `tell` waits for room,
    /// `try_tell` hands the message back. Default 1024.
    pub queue_capacity: usize,
    /// Bytes of the frames queued or awaiting acknowledgement, at most (beside
    /// [`queue_capacity`](Self::queue_capacity), whichever is reached first). A message is
    /// queued while the bytes queued are below it, so the queue holds at most this plus one
    /// frame, and a message larger than it still goes, alone. Reached, it acts as the
    /// message bound does: `tell` waits for room, `try_tell` hands the message back. Default
    /// 16 MiB.
    pub queue_bytes: usize,
    /// Largest frame body accepted or sent. Default 1 MiB; at least [`MIN_MAX_FRAME`] (a
    /// smaller value is taken as it), so that the link's own frames always fit. Each side
    /// declares its value in its hello, and the two may differ: a message larger than the
    /// peer's value is refused when sent (`WireError::TooLargeForPeer`), and one queued
    /// before the peer's value was known is reported lost when the connection is installed.
    pub max_frame: u32,
    /// A heartbeat goes out when nothing else was sent for this long (bus time). Default 1 s.
    pub heartbeat_interval: Duration,
    /// The peer is declared dead when nothing arrived for this long (bus time). Default 5 s.
    pub heartbeat_timeout: Duration,
    /// Deadline of a handshake (bus time). Default 5 s. On the accepting side it bounds all
    /// the time a connection spends unauthenticated, from the accept to the peer's proof
    /// verified (a TLS handshake included), while it holds one of the listener's handshake
    /// slots ([`MAX_HANDSHAKES`](crate::MAX_HANDSHAKES), at most
    /// [`MAX_HANDSHAKES_PER_SOURCE`](crate::MAX_HANDSHAKES_PER_SOURCE) from one TCP address;
    /// a new connection takes the oldest one's slot when they are full); then the rest of
    /// the handshake gets as long again. On the dialling side it bounds the whole handshake.
    pub handshake_timeout: Duration,
    /// Deadline of one connection attempt (bus time). Default 5 s.
    pub connect_timeout: Duration,
    /// Delay between reconnection attempts, with seeded jitter.
    pub backoff: Backoff,
    /// Consecutive failed attempts after which the dialling side gives up (and consecutive
    /// panicking connections after which either side does). Default 30; 0 is taken as 1:
    /// a link always makes its first attempt.
    pub max_attempts: u32,
    /// How long the accepting side waits for a lost peer to come back before giving up.
    /// Default 60 s.
    pub give_up_after: Duration,
    /// How long [`Node::close`](crate::Node::close) waits for the peers to acknowledge what
    /// is queued (bus time). Default 5 s. What is still unacknowledged then is reported lost
    /// before `close` returns.
    pub close_timeout: Duration,
    /// Block or spin.
    pub mode: Mode,
    /// At most this many frames in one write. Default 64.
    pub batch_frames: usize,
    /// At most about this many bytes in one write. Default 256 KiB.
    pub batch_bytes: usize,
}

impl LinkConfig {
    /// [`max_frame`](Self::max_frame), at least [`MIN_MAX_FRAME`].
    pub(crate) fn with_frame_floor(mut self) -> Self {
        self.max_frame = self.max_frame.max(MIN_MAX_FRAME);
        self
    }

    /// [`max_attempts`](Self::max_attempts), at least 1.
    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            queue_capacity: 1024,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            max_frame: DEFAULT_MAX_BODY,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::exponential(Duration::from_millis(20), 2.0, Duration::from_secs(5))
                .with_jitter(0.2),
            max_attempts: 30,
            give_up_after: Duration::from_secs(60),
            close_timeout: Duration::from_secs(5),
            mode: Mode::Block,
            batch_frames: 64,
            batch_bytes: 256 * 1024,
        }
    }
}

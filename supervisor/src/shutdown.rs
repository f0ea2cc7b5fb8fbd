//! How long a child may take to stop.

use std::time::Duration;

/// How a supervisor stops a child: within a deadline of bus time, at once, or waiting as long
/// as it takes (OTP's `brutal_kill`, a timeout, and `infinity`).
///
/// A worker defaults to `Timeout(5 s)`; a nested supervisor to `Infinity`, so that its whole
/// subtree stops in order before it counts as stopped. A `Duration` converts to `Timeout`.
///
/// ```
/// use mycelium_supervisor::Shutdown;
/// use std::time::Duration;
///
/// assert_eq!(Shutdown::from(Duration::from_millis(500)), Shutdown::Timeout(Duration::from_millis(500)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once: `on_stop` does not run (its messages go to dead letters).
    Immediate,
    /// Asked to stop; killed if still running after this much bus time. Must not be zero
    /// (use `Immediate`).
    Timeout(Duration),
    /// Asked to stop, and waited for as long as it takes.
    Infinity,
}

impl From<Duration> for Shutdown {
    fn from(deadline: Duration) -> Self {
        Shutdown::Timeout(deadline)
    }
}

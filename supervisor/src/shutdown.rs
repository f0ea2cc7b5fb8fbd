//! How long a child may take to stop.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{ChildHandle, Clock, StopReason};

use crate::directory::Directory;

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

/// Kills a task and, if it is a supervisor, its whole subtree (which a killed supervisor
/// cannot stop itself), and waits until all are down.
pub(crate) async fn kill_tree(handle: &Arc<dyn ChildHandle>, sub: Option<&Directory>) {
    let below = sub.map(|d| d.descendants()).unwrap_or_default();
    handle.kill();
    handle.wait_for_stop().await;
    for h in below.iter().rev() {
        h.kill();
    }
    for h in &below {
        h.wait_for_stop().await;
    }
}

/// Stops a task for good by its shutdown; returns its final reason once it (and its subtree)
/// is down.
pub(crate) async fn stop_task(
    handle: &Arc<dyn ChildHandle>,
    sub: Option<&Directory>,
    shutdown: Shutdown,
    clock: &Clock,
) -> StopReason {
    if let Some(reason) = handle.stop_reason() {
        return reason;
    }
    match shutdown {
        Shutdown::Immediate => kill_tree(handle, sub).await,
        Shutdown::Timeout(d) => {
            // `within` arms its timer only if the child has not stopped once the tasks its
            // stop woke have had a turn: most children stop in that turn.
            if handle.terminate(StopReason::Shutdown)
                && clock.within(d, handle.wait_for_stop()).await.is_none()
            {
                tracing::warn!(
                    target: "mycelium::supervisor",
                    id = %handle.id(),
                    deadline = ?d,
                    "child did not stop within its shutdown deadline; killed"
                );
                kill_tree(handle, sub).await;
            }
        }
        Shutdown::Infinity => {
            handle.terminate(StopReason::Shutdown);
        }
    }
    handle.wait_for_stop().await
}

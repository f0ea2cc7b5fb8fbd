//! Supervision events: emitted as `tracing` events (target `mycelium::supervisor`) and given
//! to the observer set with [`SupervisorBuilder::on_event`](crate::SupervisorBuilder::on_event).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{ActorId, StopReason};

/// Something a supervisor did or saw.
///
/// Fields, in every variant that has them: `at`, the bus time; `supervisor`, the
/// supervisor's id; `child`, the child's name; `id`, the child's actor id; `reason`, why an
/// incarnation ended (or, for `GaveUp` and `Escalated`, why the supervisor gave up);
/// `delay` and `attempt`, the backoff waited and the restart's number since the child last
/// ran cleanly (from 0); `to_bus`, whether the escalation failed the bus (at the root).
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // the fields are described above, once for all variants
pub enum SupervisionEvent {
    /// A child started for the first time (its `on_start` succeeded), or was started again by
    /// `restart_child`.
    Started {
        at: Duration,
        supervisor: ActorId,
        child: Arc<str>,
        id: ActorId,
    },
    /// An incarnation of a child failed (a panic, an error, or a start failure).
    Failed {
        at: Duration,
        supervisor: ActorId,
        child: Arc<str>,
        id: ActorId,
        reason: StopReason,
    },
    /// An incarnation of a child ended without failing (it stopped itself, or was stopped).
    Exited {
        at: Duration,
        supervisor: ActorId,
        child: Arc<str>,
        id: ActorId,
        reason: StopReason,
    },
    /// A child was restarted after `delay` (its backoff) and its `on_start` succeeded;
    /// `attempt` counts restarts since it last ran cleanly, from 0.
    Restarted {
        at: Duration,
        supervisor: ActorId,
        child: Arc<str>,
        id: ActorId,
        delay: Duration,
        attempt: u32,
    },
    /// A restart attempt failed in `on_start`. It counts as a failure (intensity, backoff):
    /// the child is restarted again or the supervisor gives up.
    RestartFailed {
        at: Duration,
        supervisor: ActorId,
        child: Arc<str>,
        id: ActorId,
        reason: StopReason,
        attempt: u32,
    },
    /// A child stopped for good: by its restart type it is not restarted, or it was stopped
    /// by its supervisor (`reason` is its own final reason: `Shutdown` when asked to stop).
    Stopped {
        at: Duration,
        supervisor: ActorId,
        child: Arc<str>,
        id: ActorId,
        reason: StopReason,
    },
    /// More restarts than the intensity allows: the supervisor stops all its children.
    GaveUp {
        at: Duration,
        supervisor: ActorId,
        reason: Arc<str>,
    },
    /// The supervisor fails to its parent (or, at the root, fails the bus).
    Escalated {
        at: Duration,
        supervisor: ActorId,
        reason: Arc<str>,
        to_bus: bool,
    },
}

impl SupervisionEvent {
    /// Bus time of the event.
    pub fn at(&self) -> Duration {
        match self {
            SupervisionEvent::Started { at, .. }
            | SupervisionEvent::Failed { at, .. }
            | SupervisionEvent::Exited { at, .. }
            | SupervisionEvent::Restarted { at, .. }
            | SupervisionEvent::RestartFailed { at, .. }
            | SupervisionEvent::Stopped { at, .. }
            | SupervisionEvent::GaveUp { at, .. }
            | SupervisionEvent::Escalated { at, .. } => *at,
        }
    }

    /// The child's name, for child events.
    pub fn child(&self) -> Option<&str> {
        match self {
            SupervisionEvent::Started { child, .. }
            | SupervisionEvent::Failed { child, .. }
            | SupervisionEvent::Exited { child, .. }
            | SupervisionEvent::Restarted { child, .. }
            | SupervisionEvent::RestartFailed { child, .. }
            | SupervisionEvent::Stopped { child, .. } => Some(child),
            _ => None,
        }
    }

    pub(crate) fn trace(&self) {
        const T: &str = "mycelium::supervisor";
        match self {
            SupervisionEvent::Started {
                supervisor,
                child,
                id,
                ..
            } => {
                tracing::info!(target: T, event = "started", %supervisor, %child, %id, "child started")
            }
            SupervisionEvent::Failed {
                supervisor,
                child,
                id,
                reason,
                ..
            } => {
                tracing::warn!(target: T, event = "failed", %supervisor, %child, %id, %reason, "child failed")
            }
            SupervisionEvent::Exited {
                supervisor,
                child,
                id,
                reason,
                ..
            } => {
                tracing::info!(target: T, event = "exited", %supervisor, %child, %id, %reason, "child exited")
            }
            SupervisionEvent::Restarted {
                supervisor,
                child,
                id,
                delay,
                attempt,
                ..
            } => {
                let delay_ns = delay.as_nanos() as u64;
                tracing::info!(target: T, event = "restarted", %supervisor, %child, %id, delay_ns, attempt, "child restarted")
            }
            SupervisionEvent::RestartFailed {
                supervisor,
                child,
                id,
                reason,
                attempt,
                ..
            } => {
                tracing::warn!(target: T, event = "restart_failed", %supervisor, %child, %id, %reason, attempt, "child restart failed")
            }
            SupervisionEvent::Stopped {
                supervisor,
                child,
                id,
                reason,
                ..
            } => {
                tracing::info!(target: T, event = "stopped", %supervisor, %child, %id, %reason, "child not restarted")
            }
            SupervisionEvent::GaveUp {
                supervisor, reason, ..
            } => {
                tracing::error!(target: T, event = "gave_up", %supervisor, %reason, "restart intensity exceeded")
            }
            SupervisionEvent::Escalated {
                supervisor,
                reason,
                to_bus,
                ..
            } => {
                tracing::error!(target: T, event = "escalated", %supervisor, %reason, to_bus, "supervisor failed")
            }
        }
    }
}

impl fmt::Display for SupervisionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at();
        match self {
            SupervisionEvent::Started { child, id, .. } => {
                write!(f, "[{t:?}] started `{child}` ({id})")
            }
            SupervisionEvent::Failed {
                child, id, reason, ..
            }
            | SupervisionEvent::Exited {
                child, id, reason, ..
            } => {
                write!(f, "[{t:?}] `{child}` ({id}) {reason}")
            }
            SupervisionEvent::Restarted {
                child,
                id,
                delay,
                attempt,
                ..
            } => write!(
                f,
                "[{t:?}] restarted `{child}` ({id}) after {delay:?} (attempt {attempt})"
            ),
            SupervisionEvent::RestartFailed {
                child,
                id,
                reason,
                attempt,
                ..
            } => write!(
                f,
                "[{t:?}] restart of `{child}` ({id}) failed (attempt {attempt}): {reason}"
            ),
            SupervisionEvent::Stopped {
                child, id, reason, ..
            } => {
                write!(f, "[{t:?}] `{child}` ({id}) is stopped for good ({reason})")
            }
            SupervisionEvent::GaveUp {
                supervisor, reason, ..
            } => {
                write!(f, "[{t:?}] supervisor {supervisor} gave up: {reason}")
            }
            SupervisionEvent::Escalated {
                supervisor,
                reason,
                to_bus,
                ..
            } => write!(
                f,
                "[{t:?}] supervisor {supervisor} escalated to its {}: {reason}",
                if *to_bus { "bus" } else { "parent" }
            ),
        }
    }
}

/// A callback that sees every supervision event of a supervisor and of the supervisors
/// nested under it (unless they set their own).
pub type Observer = Arc<dyn Fn(&SupervisionEvent) + Send + Sync>;

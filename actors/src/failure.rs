//! Why an actor failed or stopped.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Where in an actor's life a failure happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In [`Actor::on_start`](crate::Actor::on_start).
    Start,
    /// In a handler, with the message's type name.
    Message(&'static str),
    /// In [`Actor::on_failure`](crate::Actor::on_failure).
    FailureHook,
    /// A supervisor gave up on its children (restart intensity exceeded).
    Supervising,
}

/// How it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The code panicked; the panic was caught.
    Panic,
    /// The code returned an error.
    Error,
    /// A supervisor escalated a failure it could not handle within its restart intensity.
    Escalated,
    /// Code in another language raised an exception (a Python or OCaml handler), or a
    /// foreign callback reported a failure.
    Raised,
}

/// A failure of an actor: a caught panic or a returned error, and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Where it happened.
    pub phase: Phase,
    /// Panic, error or escalation.
    pub kind: FailureKind,
    /// The panic message or the error's text.
    pub reason: Arc<str>,
}

impl Failure {
    /// A failure from a caught panic payload. A payload that is itself a `Failure` (code that
    /// fails with `std::panic::resume_unwind(Box::new(failure))`, as a foreign actor does for
    /// an exception in its handler) is that failure, with its own phase and kind.
    pub fn from_panic(phase: Phase, payload: Box<dyn Any + Send>) -> Self {
        let payload = match payload.downcast::<Failure>() {
            Ok(failure) => return *failure,
            Err(payload) => payload,
        };
        let reason: Arc<str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Arc::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Arc::from(s.as_str())
        } else {
            Arc::from("panic with a non-string payload")
        };
        Failure {
            phase,
            kind: FailureKind::Panic,
            reason,
        }
    }

    /// A failure from a returned error.
    pub fn from_error(phase: Phase, error: impl fmt::Display) -> Self {
        Failure {
            phase,
            kind: FailureKind::Error,
            reason: Arc::from(error.to_string()),
        }
    }

    /// An exception raised by code in another language (or a foreign callback's failure)
    /// while it did what `phase` says.
    pub fn raised(phase: Phase, reason: impl Into<Arc<str>>) -> Self {
        Failure {
            phase,
            kind: FailureKind::Raised,
            reason: reason.into(),
        }
    }

    /// A supervisor's escalation.
    pub fn escalated(reason: impl Into<String>) -> Self {
        Failure {
            phase: Phase::Supervising,
            kind: FailureKind::Escalated,
            reason: Arc::from(reason.into()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.kind {
            FailureKind::Panic => "panicked",
            FailureKind::Error => "returned an error",
            FailureKind::Escalated => "escalated",
            FailureKind::Raised => "raised",
        };
        match &self.phase {
            Phase::Start => write!(f, "{verb} while starting: {}", self.reason),
            Phase::Message(m) => write!(f, "{verb} while handling `{m}`: {}", self.reason),
            Phase::FailureHook => write!(f, "{verb} in its failure hook: {}", self.reason),
            Phase::Supervising => write!(f, "{verb}: {}", self.reason),
        }
    }
}

/// Why an actor stopped (or why one incarnation of it ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// It stopped itself or was asked to stop with [`ActorRef::stop`](crate::ActorRef::stop).
    Normal,
    /// Its supervisor or the bus shut it down.
    Shutdown,
    /// Its supervisor is restarting it together with a failed sibling.
    Restarting,
    /// It was killed: its task was aborted without running the stop hook.
    Killed,
    /// It failed and was not restarted (or this incarnation failed).
    Failed(Failure),
}

impl StopReason {
    /// True for [`StopReason::Failed`].
    pub fn is_failure(&self) -> bool {
        matches!(self, StopReason::Failed(_))
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Normal => f.write_str("stopped normally"),
            StopReason::Shutdown => f.write_str("shut down"),
            StopReason::Restarting => f.write_str("stopped for a restart by its supervisor"),
            StopReason::Killed => f.write_str("killed"),
            StopReason::Failed(failure) => write!(f, "failed: it {failure}"),
        }
    }
}

/// What an actor decides in [`Actor::on_failure`](crate::Actor::on_failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// End this incarnation with the failure: its supervisor restarts it or not by its restart
    /// policy; an unsupervised actor stops.
    #[default]
    Stop,
    /// Keep the current state and go on with the next message.
    Continue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_as_the_payload_is_that_failure() {
        let raised = Failure::raised(Phase::Message("Order"), "OCaml exception: Not_found");
        let caught = Failure::from_panic(Phase::Message("ForeignCall"), Box::new(raised.clone()));
        assert_eq!(caught, raised);
        assert_eq!(
            StopReason::Failed(caught).to_string(),
            "failed: it raised while handling `Order`: OCaml exception: Not_found"
        );
        let text = Failure::from_panic(Phase::Message("Order"), Box::new("boom"));
        assert_eq!(text.kind, FailureKind::Panic);
        assert_eq!(text.to_string(), "panicked while handling `Order`: boom");
    }
}

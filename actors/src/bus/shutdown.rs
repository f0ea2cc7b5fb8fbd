//! How a bus ends: its shutdown (top-level actors stopped newest first, the rest killed at
//! the deadline), a failure that shuts it down, and what waiters are told.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Bus;
use crate::clock::until_deadline;
use crate::supervision::ChildHandle;
use crate::{ActorId, StopReason};

/// How a bus ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusExit {
    /// [`Bus::shutdown`] ran to completion.
    Shutdown,
    /// The root of a supervision tree failed (see [`Bus::fail`]); the bus shut down.
    Failed(String),
}

impl fmt::Display for BusExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusExit::Shutdown => f.write_str("the bus was shut down"),
            BusExit::Failed(reason) => write!(f, "the bus stopped because {reason}"),
        }
    }
}

/// An actor named in a [`ShutdownReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorSummary {
    /// Its id.
    pub id: ActorId,
    /// Its type's short name.
    pub type_name: &'static str,
    /// Its name, if it had one.
    pub name: Option<Arc<str>>,
}

impl ActorSummary {
    fn of(handle: &Arc<dyn ChildHandle>) -> Self {
        ActorSummary {
            id: handle.id(),
            type_name: handle.type_name(),
            name: handle.name(),
        }
    }
}

/// What [`Bus::shutdown`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Top-level actors that stopped gracefully, in the order they stopped (reverse start
    /// order). Supervised actors are stopped by their supervisors and not listed.
    pub stopped: Vec<ActorSummary>,
    /// Actors still alive at the deadline, killed, in reverse start order.
    pub killed: Vec<ActorSummary>,
}

impl Bus {
    /// Stops every actor: top-level actors (those without a supervisor) in reverse start
    /// order, each one waited for; supervisors stop their own children the same way. Actors
    /// still alive when `deadline` (bus time) has passed are killed and listed in the report.
    /// After this the bus accepts no new actors.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.registry().shutting_down = true;
        let clock = self.inner.clock.clone();
        // Saturating: a deadline of `Duration::MAX` means no deadline.
        let end = clock.now().saturating_add(deadline);
        let mut report = ShutdownReport::default();
        // One timer for the whole shutdown, armed only when an actor is still running after
        // the tasks its stop woke have had a turn: most actors stop in that turn, and a
        // timer costs its runtime a wake-up of its I/O driver (a system call) when armed.
        let mut deadline = std::pin::pin!(None::<tokio::time::Sleep>);
        for handle in self.actors_newest_first(true) {
            handle.terminate(StopReason::Shutdown);
            let stopping = handle.wait_for_stop();
            let stopped =
                until_deadline(stopping, deadline.as_mut(), || clock.sleep_until(end)).await;
            if stopped.is_none() {
                break;
            }
            report.stopped.push(ActorSummary::of(&handle));
        }
        for handle in self.actors_newest_first(false) {
            if handle.stop_reason().is_none() {
                tracing::warn!(
                    target: "mycelium::bus",
                    actor = %handle.id(),
                    actor_type = handle.type_name(),
                    "killed at the shutdown deadline"
                );
                handle.kill();
                report.killed.push(ActorSummary::of(&handle));
            }
        }
        let mut state = self.state();
        if state.exit.is_none() {
            state.exit = Some(match state.failure.clone() {
                Some(reason) => BusExit::Failed(reason),
                None => BusExit::Shutdown,
            });
        }
        drop(state);
        self.inner.stopped.notify_waiters();
        report
    }

    /// Records that the bus has failed (the root of a supervision tree gave up) and shuts it
    /// down in the background, with the builder's failure deadline. The first reason wins.
    pub fn fail(&self, reason: impl Into<String>) {
        let reason = reason.into();
        {
            let mut state = self.state();
            if state.failure.is_some() {
                return;
            }
            tracing::error!(target: "mycelium::bus", %reason, "bus failed; shutting down");
            state.failure = Some(reason);
        }
        let bus = self.clone();
        let deadline = self.inner.failure_deadline;
        self.inner.handle.spawn(async move {
            bus.shutdown(deadline).await;
        });
    }

    /// Waits until the bus has shut down (by [`shutdown`](Self::shutdown) or a failure).
    pub async fn wait_stopped(&self) -> BusExit {
        loop {
            let notified = self.inner.stopped.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(exit) = self.state().exit.clone() {
                return exit;
            }
            notified.await;
        }
    }

    /// How the bus ended, once it has.
    pub fn exit(&self) -> Option<BusExit> {
        self.state().exit.clone()
    }

    /// The failure recorded by [`fail`](Self::fail), if any.
    pub fn failure(&self) -> Option<String> {
        self.state().failure.clone()
    }

    /// Kills every actor of the bus (its runtime has shut down).
    pub(super) fn kill_every_actor(&self) {
        for handle in self.actors_newest_first(false) {
            handle.kill();
        }
    }

    /// The bus's actors (only those without a supervisor: `top_level`), newest first, taken
    /// out of the registry's lock so that stopping them can reach it.
    fn actors_newest_first(&self, top_level: bool) -> Vec<Arc<dyn ChildHandle>> {
        self.registry()
            .actors
            .newest_first()
            .filter(|e| !top_level || e.top_level)
            .map(|e| e.handle.clone())
            .collect()
    }
}

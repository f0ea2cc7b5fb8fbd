//! The seam between an actor and its supervisor.
//!
//! The `mycelium-supervisor` crate builds supervision trees on these two traits; they are
//! public so other supervisors can be written, but a user of supervision trees never needs
//! them.

use std::any::Any;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::envelope::BoxFuture;
use crate::{ActorId, StopReason};

/// How a supervised actor reports to its supervisor.
pub trait SupervisionLink: Send + Sync + 'static {
    /// Incarnation `incarnation` of `child` ended by itself: it failed, or stopped normally.
    /// The child then waits, with its mailbox and ref intact, for [`ChildHandle::restart`]
    /// or [`ChildHandle::terminate`]. Returns `false` when the supervisor can no longer
    /// decide (it has stopped); the child then stops for good.
    ///
    /// `incarnation` is the child's [`Context::incarnation`](crate::Context::incarnation)
    /// (0 for the first, one more for each [`ChildHandle::restart`]). A report can be
    /// overtaken: a supervisor that suspends and restarts a child whose report is still
    /// queued finds, when it reads the report, a newer incarnation running, and must ignore
    /// it, as OTP flushes a terminated child's pending `'EXIT'`.
    fn child_ended(&self, child: ActorId, incarnation: u32, reason: StopReason) -> bool;

    /// `child` has stopped for good (terminated, killed, or unable to reach its supervisor).
    fn child_exited(&self, child: ActorId, reason: StopReason);
}

/// Type-erased control of an actor's life, used by supervisors and the bus.
pub trait ChildHandle: Send + Sync + 'static {
    /// The actor's id.
    fn id(&self) -> ActorId;
    /// The actor type's short name.
    fn type_name(&self) -> &'static str;
    /// The name it was spawned with.
    fn name(&self) -> Option<Arc<str>>;
    /// Starts a new incarnation (after a failure, or after [`suspend`](Self::suspend)); the
    /// receiver resolves with the outcome once `on_start` has finished. A failed start is
    /// the caller's to handle: it is not also reported through
    /// [`SupervisionLink::child_ended`]; the actor waits for the next decision. `None` if it
    /// has stopped for good.
    fn restart(&self) -> Option<oneshot::Receiver<Result<(), StopReason>>>;
    /// Ends the current incarnation (running `on_stop` with [`StopReason::Restarting`]) and
    /// waits for a restart; the receiver resolves once the state is dropped.
    fn suspend(&self) -> Option<oneshot::Receiver<()>>;
    /// Stops the actor for good, running `on_stop` with `reason`. False if already stopped.
    fn terminate(&self, reason: StopReason) -> bool;
    /// Aborts the actor's task.
    fn kill(&self);
    /// Why it stopped, once it has.
    fn stop_reason(&self) -> Option<StopReason>;
    /// Waits until it has stopped for good.
    fn wait_for_stop(&self) -> BoxFuture<'_, StopReason>;
    /// For [`ActorRef::from_handle`](crate::ActorRef::from_handle).
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

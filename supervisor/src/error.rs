//! Errors of supervisors.

use mycelium_actors::SpawnError;

/// Why a call on a supervisor's children was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// A child with this name exists already.
    #[error(
        "the supervisor already has a child named `{0}`: remove it first or pick another name"
    )]
    AlreadyPresent(String),
    /// No child has this name.
    #[error("the supervisor has no child named `{0}`")]
    NotFound(String),
    /// The child is running: stop it first (`stop_child`).
    #[error("child `{0}` is running: stop it first with `stop_child`")]
    Running(String),
    /// The child is waiting for a restart: stop it first (`stop_child`).
    #[error("child `{0}` is restarting: stop it first with `stop_child`")]
    Restarting(String),
    /// The spec cannot work.
    #[error("{0}")]
    InvalidSpec(#[from] SpecError),
    /// The child could not be spawned or failed in `on_start`
    /// ([`SpawnError::StartFailed`]); nothing was kept.
    #[error("could not start the child: {0}")]
    Spawn(#[from] SpawnError),
    /// The supervisor has stopped.
    #[error("the supervisor has stopped")]
    Stopped,
}

/// A supervisor spec that cannot work, refused before anything starts (`spawn` returns it
/// as [`SpawnError::InvalidSpec`]; [`SupervisorBuilder::validate`](crate::SupervisorBuilder::validate)
/// returns it as is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Two children of one supervisor have the same name.
    #[error("two children are named `{0}`: child names must be unique within a supervisor")]
    DuplicateChild(String),
    /// A child has an empty name.
    #[error("a child has an empty name: give every child a name")]
    EmptyName,
    /// The intensity period is zero: any restart would be allowed at one instant forever.
    #[error(
        "the restart intensity period is zero: give `intensity(n, period)` a period above zero"
    )]
    ZeroPeriod,
    /// A child's shutdown timeout is zero.
    #[error("child `{0}` has a zero shutdown timeout: use `Shutdown::Immediate` to kill at once")]
    ZeroShutdown(String),
    /// A permanent child cannot be significant: it never ends by itself for good.
    #[error("child `{0}` is significant and permanent: make it transient or temporary")]
    SignificantPermanent(String),
    /// A significant child under a supervisor without auto-shutdown.
    #[error("child `{0}` is significant, but the supervisor's auto-shutdown is `Never`: set `auto_shutdown`")]
    SignificantWithoutAutoShutdown(String),
    /// A child is both pinned and hibernating.
    #[error("child `{0}` is both pinned and hibernating: a pinned child keeps its own thread whether or not it has mail; drop one of the two")]
    PinnedHibernating(String),
    /// A dynamic pool is given children of its own.
    #[error("a pool starts its children with `start_child`; it takes no declared children")]
    PoolWithChildren,
    /// A dynamic pool is given an auto-shutdown: its children cannot be significant, so it
    /// would never act (OTP refuses it for `simple_one_for_one` too).
    #[error("a pool's children cannot be significant, so an auto-shutdown would never act: leave it `Never`")]
    PoolAutoShutdown,
}

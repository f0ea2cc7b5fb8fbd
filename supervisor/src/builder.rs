//! Building a supervisor: strategy, intensity, backoff, children; checked before anything
//! starts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Bus, SpawnError, SpawnOptions, StopReason};
use tokio::sync::oneshot;

use crate::directory::Directory;
use crate::event::{Observer, SupervisionEvent};
use crate::supervisor_ref::SupervisorRef;
use crate::Restart;
use crate::{AutoShutdown, Backoff, ChildSpec, RestartStrategy, Shutdown, SpecError, Supervisor};

/// A dynamic pool's template, minus the actor type (which its `PoolRef` carries).
#[derive(Clone)]
pub(crate) struct PoolTemplate {
    pub(crate) prefix: Arc<str>,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
}

/// Everything a supervisor is built from. Cloned for each (re)start.
#[derive(Clone)]
pub struct SupervisorConfig {
    pub(crate) strategy: RestartStrategy,
    pub(crate) max_restarts: u32,
    pub(crate) within: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) observer: Option<Observer>,
    pub(crate) pool: Option<PoolTemplate>,
    pub(crate) root: bool,
    pub(crate) directory: Directory,
}

impl SupervisorConfig {
    pub(crate) fn validate(&self) -> Result<(), SpecError> {
        if self.within.is_zero() {
            return Err(SpecError::ZeroPeriod);
        }
        if self.pool.is_some() && !self.children.is_empty() {
            return Err(SpecError::PoolWithChildren);
        }
        if self.pool.is_some() && self.auto_shutdown != AutoShutdown::Never {
            return Err(SpecError::PoolAutoShutdown);
        }
        let mut names = BTreeSet::new();
        for spec in &self.children {
            if !names.insert(spec.name()) {
                return Err(SpecError::DuplicateChild(spec.name().to_string()));
            }
            spec.validate(self.auto_shutdown)?;
        }
        Ok(())
    }
}

/// Builds a supervisor: strategy, restart intensity, backoff and children.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Bus, Context};
/// use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
/// use std::time::Duration;
///
/// struct Worker;
/// impl Actor for Worker {
///     type Args = ();
///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Worker) }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let tree = Supervisor::builder(RestartStrategy::OneForOne)
///     .intensity(3, Duration::from_secs(5))
///     .backoff(Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1)))
///     .child(ChildSpec::new::<Worker>("worker", ()))
///     .spawn(&bus)
///     .await
///     .unwrap();
/// assert!(tree.child::<Worker>("worker").is_some());
/// # });
/// ```
#[derive(Clone)]
pub struct SupervisorBuilder {
    pub(crate) config: SupervisorConfig,
}

impl SupervisorBuilder {
    pub(crate) fn new(strategy: RestartStrategy) -> Self {
        SupervisorBuilder {
            config: SupervisorConfig {
                strategy,
                max_restarts: 3,
                within: Duration::from_secs(5),
                backoff: Backoff::default(),
                auto_shutdown: AutoShutdown::Never,
                children: Vec::new(),
                observer: None,
                pool: None,
                root: false,
                directory: Directory::default(),
            },
        }
    }

    /// At most `max_restarts` restarts within `within` of bus time across all children; one
    /// more and the supervisor stops its children and fails to its parent. The window
    /// includes its boundary (restarts at or after `now - within` count, as in OTP).
    /// Default: 3 in 5 s. `within` must be above zero.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.config.max_restarts = max_restarts;
        self.config.within = within;
        self
    }

    /// The backoff between restarts of a child. Default: [`Backoff::default`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Ends the supervisor when its significant children are done (see [`AutoShutdown`]).
    /// A pool's ([`PoolBuilder::into_supervisor`](crate::PoolBuilder::into_supervisor))
    /// must stay `Never`: its children cannot be significant, and the spec is refused with
    /// [`SpecError::PoolAutoShutdown`].
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.config.auto_shutdown = auto_shutdown;
        self
    }

    /// Adds a child; children start in the order they are added and stop in reverse.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.config.children.push(spec);
        self
    }

    /// Calls `observer` with every supervision event of this supervisor and of nested
    /// supervisors that set none of their own.
    pub fn on_event(
        mut self,
        observer: impl Fn(&SupervisionEvent) + Send + Sync + 'static,
    ) -> Self {
        self.config.observer = Some(Arc::new(observer));
        self
    }

    /// Checks the spec (and nested supervisors' specs) without starting anything: unique,
    /// non-empty child names, a restart period above zero, shutdown timeouts above zero,
    /// significant children only when transient or temporary and under an auto-shutdown, no
    /// auto-shutdown on a pool.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.config.validate()
    }

    pub(crate) fn into_config(self) -> SupervisorConfig {
        self.config
    }

    /// Spawns the supervisor as the root of a tree on `bus` and waits until its children
    /// have started, in order. If the root gives up, it fails the bus, which then shuts down
    /// with the reason (see `Bus::wait_stopped`).
    ///
    /// Errors: [`SpawnError::InvalidSpec`] if [`validate`](Self::validate) refuses the spec
    /// (nothing starts); [`SpawnError::StartFailed`] naming the first child whose `on_start`
    /// failed (the children started before it are stopped in reverse order, the later ones
    /// never start); the bus's own spawn errors.
    pub async fn spawn(self, bus: &Bus) -> Result<SupervisorRef, SpawnError> {
        self.validate()
            .map_err(|e| SpawnError::InvalidSpec(e.to_string()))?;
        let mut config = self.config;
        config.root = true;
        // A directory of its own: clones of one builder spawn supervisors that share nothing.
        config.directory = Directory::default();
        let directory = config.directory.clone();
        directory.lock().start_error = None;
        let (started, rx) = oneshot::channel();
        let actor =
            bus.spawn_with::<Supervisor>(config, SpawnOptions::new().on_start_outcome(started))?;
        let outcome = rx.await.unwrap_or(Err(StopReason::Killed));
        match outcome {
            Ok(()) => Ok(SupervisorRef::new(actor, directory, bus.clock().clone())),
            Err(reason) => {
                actor.wait_for_stop().await;
                let recorded = directory.lock().start_error.take();
                Err(recorded.unwrap_or_else(|| match reason {
                    StopReason::Failed(cause) => SpawnError::StartFailed {
                        child: "supervisor".to_string(),
                        cause,
                    },
                    _ => SpawnError::BusStopped,
                }))
            }
        }
    }
}

//! Child specs: how a supervisor starts, restarts and stops one child.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::recording::Recorder;
use mycelium_actors::{Actor, Bus, ChildHandle, MailboxConfig, SpawnError, SpawnOptions};

use crate::builder::SupervisorConfig;
use crate::{AutoShutdown, Shutdown, SpecError};

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always: after a failure and after a normal exit.
    #[default]
    Permanent,
    /// Only after a failure; a normal exit removes it.
    Transient,
    /// Never; any exit removes it.
    Temporary,
}

impl Restart {
    /// Whether an incarnation that ended this way is restarted.
    pub fn restarts_after(self, failed: bool) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => failed,
            Restart::Temporary => false,
        }
    }
}

type StartFn = dyn Fn(&Bus, SpawnOptions) -> Result<Arc<dyn ChildHandle>, SpawnError> + Send + Sync;

#[derive(Clone)]
pub(crate) enum ChildKind {
    Worker(Arc<StartFn>),
    Supervisor(Box<SupervisorConfig>),
}

/// One child of a supervisor: its name, how to start it (the factory a restart re-runs), its
/// restart type and how it is shut down.
///
/// A worker defaults to `Permanent` and `Shutdown::Timeout(5 s)`; a nested supervisor
/// ([`ChildSpec::supervisor`]) to `Permanent` and `Shutdown::Infinity`, so its whole subtree
/// stops before it counts as stopped.
///
/// ```
/// use mycelium_supervisor::{ChildSpec, Restart};
/// use mycelium_actors::{Actor, BoxError, Context};
/// use std::time::Duration;
///
/// struct Feed;
/// impl Actor for Feed {
///     type Args = &'static str;
///     async fn on_start(_venue: &'static str, _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Feed) }
/// }
///
/// let spec = ChildSpec::new::<Feed>("feed", "XNAS")
///     .restart(Restart::Transient)
///     .shutdown(Duration::from_millis(500));
/// assert_eq!(spec.name(), "feed");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) name: Arc<str>,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) significant: bool,
    pub(crate) mailbox: Option<MailboxConfig>,
    pub(crate) pinned: bool,
    pub(crate) hibernate: bool,
    pub(crate) register: bool,
    pub(crate) record: Option<Arc<dyn Recorder>>,
    pub(crate) kind: ChildKind,
}

impl ChildSpec {
    /// A child of actor type `A` built from `args` (cloned for every restart). Permanent, with
    /// a 5 s shutdown deadline.
    pub fn new<A: Actor>(name: impl Into<String>, args: A::Args) -> Self {
        let start: Arc<StartFn> = Arc::new(move |bus: &Bus, options: SpawnOptions| {
            bus.spawn_with::<A>(args.clone(), options)
                .map(|r| r.handle())
        });
        ChildSpec {
            name: Arc::from(name.into()),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            significant: false,
            mailbox: None,
            pinned: false,
            hibernate: false,
            register: false,
            record: None,
            kind: ChildKind::Worker(start),
        }
    }

    /// A nested supervisor, forming a tree. Its shutdown is `Infinity`: its children stop
    /// (each within its own shutdown) before it counts as stopped. A restarted nested
    /// supervisor comes back with its *declared* children only, as OTP's `init` does:
    /// children added to it at run time are not recreated.
    pub fn supervisor(name: impl Into<String>, builder: crate::SupervisorBuilder) -> Self {
        ChildSpec {
            name: Arc::from(name.into()),
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            significant: false,
            mailbox: None,
            pinned: false,
            hibernate: false,
            register: false,
            record: None,
            kind: ChildKind::Supervisor(Box::new(builder.into_config())),
        }
    }

    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How the child is stopped: a `Duration` (or `Shutdown::Timeout`) it may take before it
    /// is killed, `Shutdown::Immediate` or `Shutdown::Infinity`.
    pub fn shutdown(mut self, shutdown: impl Into<Shutdown>) -> Self {
        self.shutdown = shutdown.into();
        self
    }

    /// Marks the child significant for its supervisor's [`AutoShutdown`]: when it ends by
    /// itself and is not restarted, the supervisor may end too. Only transient and temporary
    /// children can be significant.
    pub fn significant(mut self, significant: bool) -> Self {
        self.significant = significant;
        self
    }

    /// The child's mailbox.
    pub fn mailbox(mut self, config: MailboxConfig) -> Self {
        self.mailbox = Some(config);
        self
    }

    /// Runs the child on a dedicated thread (see `SpawnOptions::pinned`).
    pub fn pinned(mut self) -> Self {
        self.pinned = true;
        self
    }

    /// The child gives up its task whenever its mailbox is empty (see
    /// `SpawnOptions::hibernate`): for many mostly idle children. Not with
    /// [`pinned`](Self::pinned): the spec is then refused (`SpecError::PinnedHibernating`).
    pub fn hibernate(mut self) -> Self {
        self.hibernate = true;
        self
    }

    /// Also registers the child on the bus under its name, so other actors find it with
    /// `Bus::lookup`. The name must then be unique on the bus.
    pub fn register(mut self) -> Self {
        self.register = true;
        self
    }

    /// Records the child (see `SpawnOptions::record`): every message it handles, what it
    /// sends, and each incarnation's start, failure and stop, restarts in place included, go
    /// to `recorder` (a flight recorder's `mycelium_journal::Recording`), under the same actor
    /// number across restarts.
    pub fn record(mut self, recorder: Arc<dyn Recorder>) -> Self {
        self.record = Some(recorder);
        self
    }

    /// The child's name within its supervisor.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its restart type.
    pub fn restart_type(&self) -> Restart {
        self.restart
    }

    /// How it is shut down.
    pub fn shutdown_type(&self) -> Shutdown {
        self.shutdown
    }

    /// Whether it is a nested supervisor.
    pub fn is_supervisor(&self) -> bool {
        matches!(self.kind, ChildKind::Supervisor(_))
    }

    /// Checks this spec under a supervisor with `auto_shutdown` (and a nested supervisor's
    /// own specs).
    pub(crate) fn validate(&self, auto_shutdown: AutoShutdown) -> Result<(), SpecError> {
        if self.name.is_empty() {
            return Err(SpecError::EmptyName);
        }
        if self.shutdown == Shutdown::Timeout(Duration::ZERO) {
            return Err(SpecError::ZeroShutdown(self.name.to_string()));
        }
        if self.significant {
            if self.restart == Restart::Permanent {
                return Err(SpecError::SignificantPermanent(self.name.to_string()));
            }
            if auto_shutdown == AutoShutdown::Never {
                return Err(SpecError::SignificantWithoutAutoShutdown(
                    self.name.to_string(),
                ));
            }
        }
        if self.pinned && self.hibernate {
            return Err(SpecError::PinnedHibernating(self.name.to_string()));
        }
        if let ChildKind::Supervisor(config) = &self.kind {
            config.validate()?;
        }
        Ok(())
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("significant", &self.significant)
            .field(
                "kind",
                &match self.kind {
                    ChildKind::Worker(_) => "worker",
                    ChildKind::Supervisor(_) => "supervisor",
                },
            )
            .finish()
    }
}

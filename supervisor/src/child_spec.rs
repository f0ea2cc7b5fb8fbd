//! Child specs: how a supervisor starts, restarts and stops one child.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, Bus, ChildHandle, MailboxConfig, SpawnError, SpawnOptions};

use crate::supervisor::SupervisorConfig;

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
/// restart type and its shutdown deadline.
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
    pub(crate) shutdown: Duration,
    pub(crate) mailbox: Option<MailboxConfig>,
    pub(crate) pinned: bool,
    pub(crate) register: bool,
    pub(crate) kind: ChildKind,
}

impl ChildSpec {
    /// A child of actor type `A` built from `args`. Permanent, with a 5 s shutdown deadline.
    pub fn new<A: Actor>(name: impl Into<String>, args: A::Args) -> Self {
        let start: Arc<StartFn> = Arc::new(move |bus: &Bus, options: SpawnOptions| {
            bus.spawn_with::<A>(args.clone(), options)
                .map(|r| r.handle())
        });
        ChildSpec {
            name: Arc::from(name.into()),
            restart: Restart::Permanent,
            shutdown: Duration::from_secs(5),
            mailbox: None,
            pinned: false,
            register: false,
            kind: ChildKind::Worker(start),
        }
    }

    /// A nested supervisor, forming a tree.
    pub fn supervisor(name: impl Into<String>, builder: crate::SupervisorBuilder) -> Self {
        ChildSpec {
            name: Arc::from(name.into()),
            restart: Restart::Permanent,
            shutdown: Duration::from_secs(30),
            mailbox: None,
            pinned: false,
            register: false,
            kind: ChildKind::Supervisor(Box::new(builder.into_config())),
        }
    }

    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How long the child may take to stop (bus time) before it is killed.
    pub fn shutdown(mut self, deadline: Duration) -> Self {
        self.shutdown = deadline;
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

    /// Also registers the child on the bus under its name, so other actors find it with
    /// `Bus::lookup`. The name must then be unique on the bus.
    pub fn register(mut self) -> Self {
        self.register = true;
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
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
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

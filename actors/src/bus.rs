//! The `Bus`: one isolated instance of everything actors share.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mycelium_mailbox::MailboxConfig;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, Notify};

use crate::actor_table::ActorTable;
use crate::export::{ExportTable, Exports};
use crate::hibernation::{self, Driver, DriverCell};
use crate::runner::{self, Life, Runner, StartAck};
use crate::shared::Shared;
use crate::supervision::{ChildHandle, SupervisionLink};
use crate::topic::TopicRegistry;
use crate::{
    Actor, ActorId, ActorRef, Clock, Context, DeadLetters, DetRng, SpawnError, StopReason,
};

mod builder;
mod shutdown;

pub use builder::BusBuilder;
pub use shutdown::{ActorSummary, BusExit, ShutdownReport};

/// One isolated actor system: its actor ids, name registry, clock, seeded random numbers,
/// dead letters and [topics](crate::topic). There is no process-global state: two buses in
/// one process never see each other's actors, names, time or topics, which is what lets one
/// process run thousands of independent backtests.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
/// use std::time::Duration;
///
/// struct Counter(u64);
/// impl Actor for Counter {
///     type Args = u64;
///     async fn on_start(n: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Counter(n)) }
/// }
/// impl Handler<u64> for Counter {
///     type Reply = u64;
///     async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 { self.0 += n; self.0 }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let a = Bus::builder().seed(1).build().unwrap();
/// let b = Bus::builder().seed(1).build().unwrap();
/// let ca = a.spawn_with::<Counter>(0, mycelium_actors::SpawnOptions::new().name("c")).unwrap();
/// let cb = b.spawn_with::<Counter>(100, mycelium_actors::SpawnOptions::new().name("c")).unwrap();
/// assert_eq!(ca.ask(1).await.unwrap(), 1);
/// assert_eq!(cb.ask(1).await.unwrap(), 101); // same name, different bus, different actor
/// let report = a.shutdown(Duration::from_secs(1)).await;
/// assert_eq!(report.stopped.len(), 1);
/// # });
/// ```
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct BusInner {
    handle: Handle,
    clock: Clock,
    seed: u64,
    next_id: AtomicU64,
    default_mailbox: MailboxConfig,
    failure_deadline: Duration,
    registry: Mutex<Registry>,
    dead_letters: DeadLetters,
    state: Mutex<BusState>,
    stopped: Notify,
    topics: TopicRegistry,
    exports: ExportTable,
    metrics: bool,
    /// Runs woken hibernating actors; started by the first one.
    hibernation: DriverCell,
}

#[derive(Default)]
struct Registry {
    actors: ActorTable<Entry>,
    names: HashMap<Arc<str>, ActorId>,
    /// Set when `shutdown` begins, under this lock: a spawn either registers before the
    /// shutdown takes its list of actors, or sees the flag and starts nothing.
    shutting_down: bool,
}

struct Entry {
    handle: Arc<dyn ChildHandle>,
    top_level: bool,
}

#[derive(Default)]
struct BusState {
    exit: Option<BusExit>,
    failure: Option<String>,
}

/// Options for [`Bus::spawn_with`].
#[derive(Default)]
pub struct SpawnOptions {
    name: Option<String>,
    mailbox: Option<MailboxConfig>,
    pinned: bool,
    link: Option<Arc<dyn SupervisionLink>>,
    started: Option<StartAck>,
    owned: bool,
    hibernate: bool,
    record: Option<Arc<dyn crate::recording::Recorder>>,
    start_at: Option<Duration>,
}

impl SpawnOptions {
    /// Default options: no name, the bus's default mailbox, on the bus's runtime.
    pub fn new() -> Self {
        Self::default()
    }

    /// A name unique on the bus, for [`Bus::lookup`] and logs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The actor's mailbox.
    pub fn mailbox(mut self, config: MailboxConfig) -> Self {
        self.mailbox = Some(config);
        self
    }

    /// Runs the actor on a dedicated OS thread with its own current-thread runtime, for state
    /// that must stay on one thread (an embedded interpreter, a thread-affine C library). Its
    /// timers and timeouts still follow the bus clock.
    pub fn pinned(mut self) -> Self {
        self.pinned = true;
        self
    }

    /// The actor gives up its task whenever its mailbox is empty, and its state waits in a
    /// small allocation until the next message or signal (every actor does so until its first
    /// mail; this one for good): an idle actor then costs about 40% less memory than one with
    /// a task (docs/perf/actors.md, w3). Waking costs a queue hop and a few allocations, and
    /// asks always go through the mailbox, so this suits many mostly idle actors (one per
    /// instrument, order or session) rather than a busy one. Everything else (supervision,
    /// stopping, dead letters) is the same. Not for a [`pinned`](Self::pinned) actor, which
    /// keeps its thread anyway.
    pub fn hibernate(mut self) -> Self {
        self.hibernate = true;
        self
    }

    /// Records the actor: every message it handles, in handling order, and its incarnations'
    /// starts and failures go to `recorder` ([`crate::recording`]).
    pub fn record(mut self, recorder: Arc<dyn crate::recording::Recorder>) -> Self {
        self.record = Some(recorder);
        self
    }

    /// Runs the actor's first `on_start` at bus time `at` rather than at once (a replay
    /// starts a recorded actor when it started live, so that the timers its `on_start` sets
    /// fire at the recorded times). Messages sent to it before wait in its mailbox; a time
    /// already past starts it at once.
    pub fn start_at(mut self, at: Duration) -> Self {
        self.start_at = Some(at);
        self
    }

    /// Places the actor under a supervisor (used by `mycelium-supervisor`).
    pub fn supervised_by(mut self, link: Arc<dyn SupervisionLink>) -> Self {
        self.link = Some(link);
        self
    }

    /// Resolves `started` once the first `on_start` has finished (successfully or not).
    pub fn on_started(mut self, started: oneshot::Sender<()>) -> Self {
        self.started = Some(StartAck::Done(started));
        self
    }

    /// Resolves `outcome` with how the first `on_start` went. A failed start is then the
    /// receiver's to handle: a supervised actor does not also report it to its supervisor
    /// and waits for the supervisor's decision; an unsupervised one stops with the failure.
    pub fn on_start_outcome(mut self, outcome: oneshot::Sender<Result<(), StopReason>>) -> Self {
        self.started = Some(StartAck::Outcome(outcome));
        self
    }

    /// Whether a supervisor was given (`supervised_by`).
    pub(crate) fn is_supervised(&self) -> bool {
        self.link.is_some()
    }

    /// An actor owned by another one (`Context::spawn_child`): stopped by its owner, not
    /// by the bus's shutdown of top-level actors.
    pub(crate) fn owned(mut self) -> Self {
        self.owned = true;
        self
    }
}

impl Bus {
    /// A bus with default settings (real time, seed 0) on the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime, like `tokio::spawn`. Use [`Bus::builder`] to get
    /// an error instead.
    pub fn new() -> Bus {
        match Bus::builder().build() {
            Ok(bus) => bus,
            Err(e) => panic!("{e}"),
        }
    }

    /// A builder for a bus with a seed, a clock mode, a default mailbox.
    pub fn builder() -> BusBuilder {
        BusBuilder::default()
    }

    /// The bus clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Bus time now.
    pub fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    /// True when this bus records metrics ([`BusBuilder::metrics`]).
    pub fn metrics_enabled(&self) -> bool {
        self.inner.metrics
    }

    /// The seed this bus was built with.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// A random number generator for one stream, derived from the bus seed.
    pub fn rng(&self, stream: u64) -> DetRng {
        DetRng::derive(self.inner.seed, stream)
    }

    /// The runtime actors are spawned on.
    pub fn runtime(&self) -> &Handle {
        &self.inner.handle
    }

    /// The dead-letter office.
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.inner.dead_letters
    }

    /// How many actors are alive on this bus.
    pub fn actor_count(&self) -> usize {
        self.registry().actors.len()
    }

    /// This bus's export table: how a link to another process reaches actors and topics of
    /// this bus by (service, type id, bytes). Per bus: two buses never see each other's
    /// exports.
    pub fn exports(&self) -> Exports {
        Exports::new(self.clone())
    }

    pub(crate) fn export_table(&self) -> &ExportTable {
        &self.inner.exports
    }

    /// True when both values are the same bus.
    pub fn same_bus(&self, other: &Bus) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Spawns an actor built from `args` and returns its ref at once; `on_start` runs on the
    /// bus's driver and messages sent meanwhile wait in its mailbox. The actor has no task of
    /// its own until its first mail, which gives it one for good.
    ///
    /// A bus's starts run in turn on its one driver, so CPU-heavy `on_start`s do not run
    /// beside each other on a multi-thread runtime (one that awaits moves into a task of its
    /// own until it is done). Give an actor whose start must not wait behind others a
    /// dedicated thread ([`SpawnOptions::pinned`]).
    ///
    /// On a bus that is shutting down, the actor stops at once with
    /// [`StopReason::Shutdown`] and sends to it hand the message back.
    pub fn spawn<A: Actor>(&self, args: A::Args) -> ActorRef<A> {
        match self.spawn_inner(args, SpawnOptions::new(), true) {
            Ok(r) => r,
            Err(_) => unreachable!("an unnamed, unpinned spawn cannot fail"),
        }
    }

    /// Spawns an actor with options (a name, a mailbox, a dedicated thread).
    pub fn spawn_with<A: Actor>(
        &self,
        args: A::Args,
        options: SpawnOptions,
    ) -> Result<ActorRef<A>, SpawnError> {
        self.spawn_inner(args, options, false)
    }

    fn spawn_inner<A: Actor>(
        &self,
        args: A::Args,
        options: SpawnOptions,
        lenient: bool,
    ) -> Result<ActorRef<A>, SpawnError> {
        if options.pinned && options.hibernate {
            return Err(SpawnError::PinnedHibernating);
        }
        let id = ActorId::local_id(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let name: Option<Arc<str>> = options.name.map(Arc::from);
        let mailbox = options.mailbox.unwrap_or(self.inner.default_mailbox);
        let shared = Arc::new(Shared::new(
            id.local(),
            name.clone(),
            mailbox,
            self.inner.clock.clone(),
        ));
        let me = ActorRef { shared };
        {
            let mut reg = self.registry();
            if reg.shutting_down {
                drop(reg);
                if !lenient {
                    return Err(SpawnError::BusStopped);
                }
                // Nothing runs: the ref reports a stopped actor and hands messages back.
                let mut runner = Runner::new(me.clone(), self.clone(), None);
                runner.finish(StopReason::Shutdown);
                return Ok(me);
            }
            if let Some(n) = &name {
                if reg.names.contains_key(n) {
                    return Err(SpawnError::NameTaken(n.to_string()));
                }
                reg.names.insert(n.clone(), id);
            }
            reg.actors.insert(
                id.local(),
                Entry {
                    handle: me.handle(),
                    top_level: options.link.is_none() && !options.owned,
                },
            );
        }
        let mut ctx = Context::new(me.clone(), self.clone());
        if let Some(recorder) = options.record {
            crate::recording::recording_on();
            ctx.set_recorder(recorder);
        }
        let runner = Runner::new(me.clone(), self.clone(), options.link);
        if !options.pinned {
            // No task yet: the bus's driver starts the actor, which then sleeps until its
            // first mail (a hibernating actor, whenever it has none).
            let life = Life {
                runner,
                args,
                ctx,
                ack: options.started,
                incarnation: 0,
                actor: None,
            };
            let hibernate = options.hibernate;
            let schedule = move || {
                if hibernate {
                    hibernation::schedule(life);
                } else {
                    hibernation::schedule_until_mail(life);
                }
            };
            match options.start_at.filter(|at| *at > self.clock().now()) {
                Some(at) => {
                    let clock = self.clock().clone();
                    self.runtime().spawn(async move {
                        clock.sleep_until(at).await;
                        schedule();
                    });
                }
                None => schedule(),
            }
            return Ok(me);
        }
        let start_at = options.start_at;
        let clock = self.clock().clone();
        let task = async move {
            if let Some(at) = start_at {
                clock.sleep_until(at).await;
            }
            runner::run(runner, args, ctx, options.started).await;
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                self.unregister(id);
                return Err(SpawnError::Thread(e.to_string()));
            }
        };
        let join = rt.spawn(task);
        me.shared.set_abort(join.abort_handle());
        // The runtime goes to the thread once the thread exists. Were it moved into the
        // closure, a failed spawn would drop it here, and dropping a runtime waits for
        // its blocking pool, which panics inside an async context (a spawn from an
        // actor).
        let (give, take) = std::sync::mpsc::sync_channel::<tokio::runtime::Runtime>(1);
        let spawned = std::thread::Builder::new()
            .name(format!("mycelium-{}{}", A::type_name(), id))
            .spawn(move || {
                if let Ok(rt) = take.recv() {
                    rt.block_on(async {
                        let _ = join.await;
                    })
                }
            });
        let refused = match spawned {
            Ok(_) => give.send(rt).err().map(|back| {
                (
                    back.0,
                    "the actor's thread ended before it started".to_string(),
                )
            }),
            Err(e) => Some((rt, e.to_string())),
        };
        if let Some((rt, why)) = refused {
            // Shutting the runtime down drops the task, whose drop guard finalises the
            // actor as killed; in the background, so nothing blocks.
            rt.shutdown_background();
            return Err(SpawnError::Thread(why));
        }
        Ok(me)
    }

    /// Finds a live actor by name. `None` if no actor has the name or it is not an `A`.
    pub fn lookup<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        let reg = self.registry();
        let id = reg.names.get(name)?;
        let entry = reg.actors.get(id.local())?;
        ActorRef::from_handle(&entry.handle)
    }

    pub(crate) fn unregister(&self, id: ActorId) {
        let mut reg = self.registry();
        if let Some(entry) = reg.actors.remove(id.local()) {
            if let Some(name) = entry.handle.name() {
                if reg.names.get(&name) == Some(&id) {
                    reg.names.remove(&name);
                }
            }
        }
    }

    /// The driver of this bus's actors that have no task, started on first use.
    pub(crate) fn hibernation(&self) -> &Arc<Driver> {
        self.inner.hibernation.get(&self.inner.handle, || {
            let bus = Arc::downgrade(&self.inner);
            Box::new(move || {
                if let Some(inner) = bus.upgrade() {
                    Bus { inner }.kill_every_actor();
                }
            })
        })
    }

    pub(crate) fn topics(&self) -> &TopicRegistry {
        &self.inner.topics
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self) -> MutexGuard<'_, BusState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("seed", &self.inner.seed)
            .field("clock", &self.inner.clock.mode())
            .field("actors", &self.actor_count())
            .finish()
    }
}

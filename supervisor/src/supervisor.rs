//! The supervisor actor and its builder.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mycelium_actors::{
    Actor, ActorId, ActorRef, BoxError, Bus, ChildHandle, Context, Failure, Handler, SpawnError,
    SpawnOptions, StopReason, SupervisionLink,
};
use tokio::sync::oneshot;

use crate::child_spec::{ChildKind, ChildSpec};
use crate::event::{Observer, SupervisionEvent};
use crate::intensity::RestartWindow;
use crate::{Backoff, Strategy};

/// Everything a supervisor is built from. Cloned for each (re)start.
#[derive(Clone)]
pub struct SupervisorConfig {
    strategy: Strategy,
    max_restarts: u32,
    within: Duration,
    backoff: Backoff,
    children: Vec<ChildSpec>,
    observer: Option<Observer>,
    root: bool,
    directory: Directory,
}

/// The children a supervisor has now, shared with its [`SupervisorRef`] and kept across the
/// supervisor's own restarts.
#[derive(Clone, Default)]
pub(crate) struct Directory(Arc<Mutex<DirState>>);

#[derive(Default)]
struct DirState {
    /// The current child specs, once the supervisor has started (includes children added at
    /// run time, so a restarted supervisor starts them too).
    specs: Option<Vec<ChildSpec>>,
    entries: Vec<DirEntry>,
}

#[derive(Clone)]
struct DirEntry {
    name: Arc<str>,
    handle: Arc<dyn ChildHandle>,
    sub: Option<Directory>,
}

impl Directory {
    fn lock(&self) -> MutexGuard<'_, DirState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find(&self, name: &str) -> Option<DirEntry> {
        self.lock()
            .entries
            .iter()
            .find(|e| &*e.name == name)
            .cloned()
    }

    fn upsert(&self, entry: DirEntry) {
        let mut st = self.lock();
        match st.entries.iter_mut().find(|e| e.name == entry.name) {
            Some(e) => *e = entry,
            None => st.entries.push(entry),
        }
    }

    fn remove(&self, name: &str) {
        self.lock().entries.retain(|e| &*e.name != name);
    }
}

/// Builds a supervisor: strategy, restart intensity, backoff and children.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Bus, Context};
/// use mycelium_supervisor::{Backoff, ChildSpec, Strategy, Supervisor};
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
/// let tree = Supervisor::builder(Strategy::OneForOne)
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
    config: SupervisorConfig,
}

impl SupervisorBuilder {
    /// At most `max_restarts` restarts within `within` of bus time across all children; one
    /// more and the supervisor stops its children and fails to its parent. Default: 3 in 5 s.
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

    pub(crate) fn into_config(self) -> SupervisorConfig {
        self.config
    }

    /// Spawns the supervisor as the root of a tree on `bus` and waits until its children have
    /// started (in order). If the root gives up, it fails the bus, which then shuts down with
    /// the reason (see `Bus::wait_stopped`).
    pub async fn spawn(self, bus: &Bus) -> Result<SupervisorRef, SpawnError> {
        let mut config = self.config;
        config.root = true;
        let directory = config.directory.clone();
        let (started, rx) = oneshot::channel();
        let actor =
            bus.spawn_with::<Supervisor>(config, SpawnOptions::new().on_started(started))?;
        let _ = rx.await;
        if let Some(StopReason::Failed(f)) = actor.stop_reason() {
            return Err(SpawnError::Thread(format!(
                "the supervisor could not start: {f}"
            )));
        }
        Ok(SupervisorRef { actor, directory })
    }
}

/// A handle on a running supervisor.
#[derive(Clone)]
pub struct SupervisorRef {
    actor: ActorRef<Supervisor>,
    directory: Directory,
}

/// Why a run-time change to a supervisor's children was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// A child with this name exists already.
    #[error(
        "the supervisor already has a child named `{0}`: remove it first or pick another name"
    )]
    DuplicateName(String),
    /// No child has this name.
    #[error("the supervisor has no child named `{0}`")]
    NoSuchChild(String),
    /// The child could not be spawned.
    #[error("could not spawn the child: {0}")]
    Spawn(#[from] SpawnError),
    /// The supervisor has stopped.
    #[error("the supervisor has stopped")]
    Stopped,
}

impl SupervisorRef {
    /// The current ref of the child named `name`, if it is an `A`. The same ref stays valid
    /// across the child's restarts (it changes only if the child had to be spawned anew after
    /// being killed).
    pub fn child<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        ActorRef::from_handle(&self.directory.find(name)?.handle)
    }

    /// The nested supervisor named `name`.
    pub fn child_supervisor(&self, name: &str) -> Option<SupervisorRef> {
        let entry = self.directory.find(name)?;
        Some(SupervisorRef {
            actor: ActorRef::from_handle(&entry.handle)?,
            directory: entry.sub?,
        })
    }

    /// The children's names and ids, in start order.
    pub fn children(&self) -> Vec<(String, ActorId)> {
        self.directory
            .lock()
            .entries
            .iter()
            .map(|e| (e.name.to_string(), e.handle.id()))
            .collect()
    }

    /// Starts a new child at the end of the start order.
    pub async fn add_child(&self, spec: ChildSpec) -> Result<ActorId, SupervisorError> {
        match self.actor.ask(AddChild(spec)).await {
            Ok(result) => result,
            Err(_) => Err(SupervisorError::Stopped),
        }
    }

    /// Stops the child named `name` (within its shutdown deadline) and forgets it.
    pub async fn remove_child(&self, name: &str) -> Result<(), SupervisorError> {
        match self.actor.ask(RemoveChild(name.to_string())).await {
            Ok(result) => result,
            Err(_) => Err(SupervisorError::Stopped),
        }
    }

    /// The supervisor's own actor ref.
    pub fn actor_ref(&self) -> &ActorRef<Supervisor> {
        &self.actor
    }

    /// The supervisor's id.
    pub fn id(&self) -> ActorId {
        self.actor.id()
    }

    /// Stops the supervisor: its children stop in reverse start order first.
    pub fn stop(&self) {
        self.actor.stop();
    }

    /// Waits until the supervisor has stopped for good.
    pub async fn wait_for_stop(&self) -> StopReason {
        self.actor.wait_for_stop().await
    }
}

/// A supervisor: an actor that starts children in order and restarts them by its strategy.
/// Build one with [`Supervisor::builder`].
pub struct Supervisor {
    config: SupervisorConfig,
    children: Vec<Child>,
    window: RestartWindow,
    link: Arc<Link>,
}

struct Child {
    spec: ChildSpec,
    handle: Arc<dyn ChildHandle>,
    sub: Option<Directory>,
    /// Its task lives (it may be waiting for a decision).
    alive: bool,
    /// It has a live incarnation.
    running: bool,
    /// A restart is scheduled.
    pending: bool,
    attempt: u32,
    started_at: Duration,
}

struct Link {
    supervisor: ActorRef<Supervisor>,
}

impl SupervisionLink for Link {
    fn child_ended(&self, child: ActorId, reason: StopReason) -> bool {
        self.supervisor
            .tell_priority(ChildEnded { id: child, reason })
            .is_ok()
    }

    fn child_exited(&self, child: ActorId, reason: StopReason) {
        let _ = self
            .supervisor
            .tell_priority(ChildExited { id: child, reason });
    }
}

/// An incarnation of a child ended by itself.
pub struct ChildEnded {
    id: ActorId,
    reason: StopReason,
}

/// A child stopped for good.
pub struct ChildExited {
    id: ActorId,
    reason: StopReason,
}

/// A backoff delay has passed: restart these children.
pub struct RestartDue {
    ids: Vec<ActorId>,
    delay: Duration,
}

/// Add a child at run time.
pub struct AddChild(ChildSpec);

/// Remove a child at run time.
pub struct RemoveChild(String);

impl Supervisor {
    /// Starts building a supervisor with `strategy`.
    pub fn builder(strategy: Strategy) -> SupervisorBuilder {
        SupervisorBuilder {
            config: SupervisorConfig {
                strategy,
                max_restarts: 3,
                within: Duration::from_secs(5),
                backoff: Backoff::default(),
                children: Vec::new(),
                observer: None,
                root: false,
                directory: Directory::default(),
            },
        }
    }

    fn emit(&self, event: SupervisionEvent) {
        event.trace();
        if let Some(observer) = &self.config.observer {
            observer(&event);
        }
    }

    fn index(&self, id: ActorId) -> Option<usize> {
        self.children.iter().position(|c| c.handle.id() == id)
    }

    /// Spawns a child from its spec and waits for its first `on_start` to finish.
    async fn spawn_spec(
        &self,
        spec: &ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<(Arc<dyn ChildHandle>, Option<Directory>), SpawnError> {
        let (started, rx) = oneshot::channel();
        let mut options = SpawnOptions::new()
            .supervised_by(self.link.clone())
            .on_started(started);
        if let Some(mailbox) = spec.mailbox {
            options = options.mailbox(mailbox);
        }
        if spec.pinned {
            options = options.pinned();
        }
        if spec.register {
            options = options.name(spec.name.to_string());
        }
        let spawned = match &spec.kind {
            ChildKind::Worker(start) => (start(ctx.bus(), options)?, None),
            ChildKind::Supervisor(config) => {
                let mut config = (**config).clone();
                config.root = false;
                if config.observer.is_none() {
                    config.observer = self.config.observer.clone();
                }
                let dir = config.directory.clone();
                let r = ctx.bus().spawn_with::<Supervisor>(config, options)?;
                (r.handle(), Some(dir))
            }
        };
        let _ = rx.await;
        Ok(spawned)
    }

    async fn start_child(
        &mut self,
        spec: ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<ActorId, SpawnError> {
        let (handle, sub) = self.spawn_spec(&spec, ctx).await?;
        let id = handle.id();
        self.config.directory.upsert(DirEntry {
            name: spec.name.clone(),
            handle: handle.clone(),
            sub: sub.clone(),
        });
        self.emit(SupervisionEvent::Started {
            at: ctx.now(),
            supervisor: ctx.id(),
            child: spec.name.clone(),
            id,
        });
        self.children.push(Child {
            spec,
            handle,
            sub,
            alive: true,
            running: true,
            pending: false,
            attempt: 0,
            started_at: ctx.now(),
        });
        Ok(id)
    }

    /// The children a failure of child `i` restarts, in start order.
    fn group(&self, i: usize) -> Vec<usize> {
        match self.config.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => (0..self.children.len()).collect(),
            Strategy::RestForOne => (i..self.children.len()).collect(),
        }
    }

    async fn on_child_ended(&mut self, id: ActorId, reason: StopReason, ctx: &mut Context<Self>) {
        let Some(i) = self.index(id) else { return };
        let now = ctx.now();
        self.children[i].running = false;
        let name = self.children[i].spec.name.clone();
        let event = if reason.is_failure() {
            SupervisionEvent::Failed {
                at: now,
                supervisor: ctx.id(),
                child: name.clone(),
                id,
                reason: reason.clone(),
            }
        } else {
            SupervisionEvent::Exited {
                at: now,
                supervisor: ctx.id(),
                child: name.clone(),
                id,
                reason: reason.clone(),
            }
        };
        self.emit(event);
        let abnormal = !matches!(reason, StopReason::Normal | StopReason::Shutdown);
        if !self.children[i].spec.restart.restarts_after(abnormal) {
            let child = self.children.remove(i);
            self.config.directory.remove(&child.spec.name);
            child.handle.terminate(reason.clone());
            self.emit(SupervisionEvent::Stopped {
                at: now,
                supervisor: ctx.id(),
                child: name,
                id,
                reason,
            });
            return;
        }
        if !self.window.try_record(now) {
            let why = format!(
                "more than {} restarts within {:?}; the last: `{}` {}",
                self.config.max_restarts, self.config.within, name, reason
            );
            self.give_up(why, ctx).await;
            return;
        }
        let group = self.group(i);
        for &j in group.iter().rev() {
            if j != i {
                self.suspend_child(j, ctx).await;
            }
        }
        let child = &mut self.children[i];
        if now.saturating_sub(child.started_at) >= self.config.backoff.reset_interval() {
            child.attempt = 0;
        }
        let attempt = child.attempt;
        child.attempt = child.attempt.saturating_add(1);
        let delay = self.config.backoff.delay(attempt, ctx.rng());
        let ids: Vec<ActorId> = group
            .iter()
            .map(|&j| self.children[j].handle.id())
            .collect();
        for &j in &group {
            self.children[j].pending = true;
        }
        if delay.is_zero() {
            self.restart_group(&ids, delay, ctx).await;
        } else {
            ctx.send_after(RestartDue { ids, delay }, delay);
        }
    }

    /// Ends a running child's incarnation for a sibling's restart, within its shutdown
    /// deadline; a child that does not make it is killed (and later spawned anew).
    async fn suspend_child(&mut self, j: usize, ctx: &mut Context<Self>) {
        let child = &mut self.children[j];
        if !child.running {
            return;
        }
        child.running = false;
        let acked = match child.handle.suspend() {
            Some(rx) => matches!(
                ctx.clock().timeout(child.spec.shutdown, rx).await,
                Ok(Ok(()))
            ),
            None => false,
        };
        if !acked {
            child.handle.kill();
            child.alive = false;
        }
    }

    /// Restarts the children with these ids, in start order.
    async fn restart_group(&mut self, ids: &[ActorId], delay: Duration, ctx: &mut Context<Self>) {
        for j in 0..self.children.len() {
            let id = self.children[j].handle.id();
            if !ids.contains(&id) || self.children[j].running {
                continue;
            }
            self.children[j].pending = false;
            let restarted = match self.children[j].handle.restart() {
                Some(rx) if self.children[j].alive => rx.await.is_ok(),
                _ => false,
            };
            if !restarted {
                // Its task is gone: spawn it anew from the spec.
                let spec = self.children[j].spec.clone();
                match self.spawn_spec(&spec, ctx).await {
                    Ok((handle, sub)) => {
                        self.config.directory.upsert(DirEntry {
                            name: spec.name.clone(),
                            handle: handle.clone(),
                            sub: sub.clone(),
                        });
                        let child = &mut self.children[j];
                        child.handle = handle;
                        child.sub = sub;
                        child.alive = true;
                    }
                    Err(e) => {
                        let why = format!("could not respawn `{}`: {e}", spec.name);
                        self.give_up(why, ctx).await;
                        return;
                    }
                }
            }
            let now = ctx.now();
            let child = &mut self.children[j];
            child.running = true;
            child.started_at = now;
            let event = SupervisionEvent::Restarted {
                at: now,
                supervisor: ctx.id(),
                child: child.spec.name.clone(),
                id: child.handle.id(),
                delay,
                attempt: child.attempt.saturating_sub(1),
            };
            self.emit(event);
        }
    }

    /// Intensity exceeded: stop every child, then fail to the parent (or the bus).
    async fn give_up(&mut self, why: String, ctx: &mut Context<Self>) {
        let reason: Arc<str> = Arc::from(why);
        self.emit(SupervisionEvent::GaveUp {
            at: ctx.now(),
            supervisor: ctx.id(),
            reason: reason.clone(),
        });
        self.stop_all(StopReason::Shutdown, ctx).await;
        let to_bus = self.config.root;
        self.emit(SupervisionEvent::Escalated {
            at: ctx.now(),
            supervisor: ctx.id(),
            reason: reason.clone(),
            to_bus,
        });
        if to_bus {
            ctx.bus().fail(format!(
                "the root supervisor {} gave up: {reason}",
                ctx.id()
            ));
        }
        ctx.fail(Failure::escalated(reason.to_string()));
    }

    /// Stops all children in reverse start order, each within its shutdown deadline.
    async fn stop_all(&mut self, reason: StopReason, ctx: &mut Context<Self>) {
        while let Some(child) = self.children.pop() {
            self.config.directory.remove(&child.spec.name);
            stop_child(&child, reason.clone(), ctx).await;
        }
    }
}

async fn stop_child(child: &Child, reason: StopReason, ctx: &mut Context<Supervisor>) {
    if !child.alive || !child.handle.terminate(reason) {
        return;
    }
    let stopped = ctx
        .clock()
        .timeout(child.spec.shutdown, child.handle.wait_for_stop())
        .await;
    if stopped.is_err() {
        tracing::warn!(
            target: "mycelium::supervisor",
            child = %child.spec.name,
            id = %child.handle.id(),
            deadline = ?child.spec.shutdown,
            "child did not stop within its shutdown deadline; killed"
        );
        child.handle.kill();
    }
}

impl Actor for Supervisor {
    type Args = SupervisorConfig;

    async fn on_start(config: SupervisorConfig, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let link = Arc::new(Link {
            supervisor: ctx.actor_ref().clone(),
        });
        let specs = {
            let mut dir = config.directory.lock();
            dir.entries.clear();
            dir.specs
                .get_or_insert_with(|| config.children.clone())
                .clone()
        };
        let mut sup = Supervisor {
            window: RestartWindow::new(config.max_restarts, config.within),
            config,
            children: Vec::new(),
            link,
        };
        for spec in specs {
            sup.start_child(spec, ctx).await?;
        }
        Ok(sup)
    }

    async fn on_stop(&mut self, ctx: &mut Context<Self>, _reason: &StopReason) {
        self.stop_all(StopReason::Shutdown, ctx).await;
    }
}

impl Handler<ChildEnded> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: ChildEnded, ctx: &mut Context<Self>) {
        self.on_child_ended(msg.id, msg.reason, ctx).await;
    }
}

impl Handler<ChildExited> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        let Some(i) = self.index(msg.id) else { return };
        let child = &mut self.children[i];
        let was_alive = child.alive;
        child.alive = false;
        // Already waiting for a restart (which will respawn it), or already known dead.
        if child.pending || !was_alive {
            return;
        }
        self.on_child_ended(msg.id, msg.reason, ctx).await;
    }
}

impl Handler<RestartDue> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: RestartDue, ctx: &mut Context<Self>) {
        self.restart_group(&msg.ids, msg.delay, ctx).await;
    }
}

impl Handler<AddChild> for Supervisor {
    type Reply = Result<ActorId, SupervisorError>;
    async fn handle(&mut self, AddChild(spec): AddChild, ctx: &mut Context<Self>) -> Self::Reply {
        if self.children.iter().any(|c| c.spec.name == spec.name) {
            return Err(SupervisorError::DuplicateName(spec.name.to_string()));
        }
        self.config
            .directory
            .lock()
            .specs
            .get_or_insert_with(Vec::new)
            .push(spec.clone());
        Ok(self.start_child(spec, ctx).await?)
    }
}

impl Handler<RemoveChild> for Supervisor {
    type Reply = Result<(), SupervisorError>;
    async fn handle(
        &mut self,
        RemoveChild(name): RemoveChild,
        ctx: &mut Context<Self>,
    ) -> Self::Reply {
        let Some(i) = self.children.iter().position(|c| *c.spec.name == *name) else {
            return Err(SupervisorError::NoSuchChild(name));
        };
        let child = self.children.remove(i);
        {
            let mut dir = self.config.directory.lock();
            dir.entries.retain(|e| *e.name != *name);
            if let Some(specs) = dir.specs.as_mut() {
                specs.retain(|s| *s.name != *name);
            }
        }
        stop_child(&child, StopReason::Shutdown, ctx).await;
        Ok(())
    }
}

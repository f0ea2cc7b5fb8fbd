//! The supervisor actor: it feeds the [`policy`](crate::policy) the events it sees and
//! carries out the actions the policy decides (starting, suspending, stopping children).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::telemetry::SupervisorMetrics;
use mycelium_actors::{
    Actor, ActorId, ActorRef, BoxError, ChildHandle, Context, Failure, Handler, Phase, SpawnError,
    SpawnOptions, StopReason, SupervisionLink, TimerHandle,
};
use tokio::sync::oneshot;

use crate::builder::SupervisorConfig;
use crate::child_spec::{ChildKind, ChildSpec};
use crate::directory::{DirEntry, Directory};
use crate::event::SupervisionEvent;
use crate::policy::{Action, Child, Policy, State};
use crate::shutdown::{kill_tree, stop_task};
use crate::supervisor_ref::{ChildInfo, ChildRef, ChildState};
use crate::{RestartStrategy, Shutdown, SupervisorBuilder};

mod admin;
#[cfg(test)]
mod tests;

/// A supervisor: an actor that starts children in order and restarts them by its
/// [`RestartStrategy`]. Build one with [`Supervisor::builder`].
pub struct Supervisor {
    config: SupervisorConfig,
    policy: Policy,
    /// The children's specs and tasks, in the policy's start order.
    slots: Vec<Slot>,
    link: Arc<Link>,
    /// The pending wake-up for the next due restart, and when it is due.
    wake: Option<(Duration, TimerHandle)>,
    /// Numbers the children of a pool.
    pool_seq: u64,
    /// Failure and restart counters, on a bus that records metrics.
    metrics: SupervisorMetrics,
}

struct Slot {
    spec: ChildSpec,
    /// Its task (alive, waiting for a restart, or stopped for good).
    handle: Option<Arc<dyn ChildHandle>>,
    /// The incarnation of that task this supervisor last started (0 for a new task, one
    /// more for each restart in place). A child's report of an older one is stale: it was
    /// queued before the child was suspended and restarted with its group.
    incarnation: u32,
    sub: Option<Directory>,
}

struct Link {
    supervisor: ActorRef<Supervisor>,
    /// Set when the supervisor stops its children itself (`stop_all`, or its `Drop` after a
    /// kill): it waits for each of them there (or is gone), so their exit notices would only
    /// be left in its mailbox, to be reported as dead letters when it stops.
    stopping: AtomicBool,
}

impl SupervisionLink for Link {
    fn child_ended(&self, child: ActorId, incarnation: u32, reason: StopReason) -> bool {
        self.supervisor
            .tell_priority(ChildEnded {
                id: child,
                incarnation,
                reason,
            })
            .is_ok()
    }

    fn child_exited(&self, child: ActorId, reason: StopReason) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let _ = self
            .supervisor
            .tell_priority(ChildExited { id: child, reason });
    }
}

/// An incarnation of a child ended by itself.
pub(crate) struct ChildEnded {
    id: ActorId,
    incarnation: u32,
    reason: StopReason,
}

/// A child's task ended for good.
pub(crate) struct ChildExited {
    id: ActorId,
    reason: StopReason,
}

/// A restart may be due.
pub(crate) struct Step;

pub(crate) struct AddChild {
    pub(crate) spec: ChildSpec,
    pub(crate) pooled: bool,
}
pub(crate) struct RemoveChild(pub(crate) String);
pub(crate) struct StopChild(pub(crate) String);
pub(crate) struct RestartChild(pub(crate) String);
pub(crate) struct DeleteChild(pub(crate) String);
pub(crate) struct WhichChildren;
pub(crate) struct CountChildren;

/// Why a child did not start.
enum StartError {
    /// It could not be spawned at all.
    Spawn(SpawnError),
    /// Its `on_start` failed; its task (if any) waits for a decision.
    Failed(StopReason),
}

impl StartError {
    fn reason(&self) -> StopReason {
        match self {
            StartError::Spawn(e) => StopReason::Failed(Failure::from_error(Phase::Start, e)),
            StartError::Failed(reason) => reason.clone(),
        }
    }

    fn into_spawn_error(self, child: &str) -> SpawnError {
        match self {
            StartError::Spawn(e) => e,
            StartError::Failed(reason) => SpawnError::StartFailed {
                child: child.to_string(),
                cause: match reason {
                    StopReason::Failed(f) => f,
                    other => Failure::from_error(Phase::Start, other),
                },
            },
        }
    }
}

impl Supervisor {
    /// Starts building a supervisor with `strategy`.
    pub fn builder(strategy: RestartStrategy) -> SupervisorBuilder {
        SupervisorBuilder::new(strategy)
    }

    fn emit(&self, event: SupervisionEvent) {
        event.trace();
        match &event {
            SupervisionEvent::Failed { .. } | SupervisionEvent::RestartFailed { .. } => {
                self.metrics.failed()
            }
            SupervisionEvent::Restarted { .. } => self.metrics.restarted(),
            _ => {}
        }
        if let Some(observer) = &self.config.observer {
            observer(&event);
        }
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.spec.name() == name)
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.spec.name() == name)
    }

    fn slot_of(&self, id: ActorId) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.handle.as_ref().is_some_and(|h| h.id() == id))
    }

    fn name_of(&self, id: ActorId) -> Option<Arc<str>> {
        self.slot_of(id).map(|s| s.spec.name.clone())
    }

    fn child_id(&self, name: &str) -> Option<ActorId> {
        self.slot(name)?.handle.as_ref().map(|h| h.id())
    }

    /// Writes what the refs may read: every child with a task, in start order. An entry
    /// that names the same child and task as before is updated in place (a restart in place
    /// changes only whether it runs): no allocation and no reference count touched per step.
    fn publish(&self) {
        let mut directory = self.config.directory.lock();
        let entries = &mut directory.entries;
        let mut n = 0;
        for slot in &self.slots {
            let Some(handle) = &slot.handle else { continue };
            let state = self.policy.state(slot.spec.name());
            let running = matches!(state, Some(State::Running { .. }));
            let restarting = matches!(state, Some(State::Restarting { .. }));
            match entries.get_mut(n) {
                Some(e)
                    if Arc::ptr_eq(&e.name, &slot.spec.name) && Arc::ptr_eq(&e.handle, handle) =>
                {
                    e.running = running;
                    e.restarting = restarting;
                    if e.sub.as_ref().map(Directory::id) != slot.sub.as_ref().map(Directory::id) {
                        e.sub = slot.sub.clone();
                    }
                }
                found => {
                    let entry = DirEntry {
                        name: slot.spec.name.clone(),
                        handle: handle.clone(),
                        sub: slot.sub.clone(),
                        running,
                        restarting,
                    };
                    match found {
                        Some(e) => *e = entry,
                        None => entries.push(entry),
                    }
                }
            }
            n += 1;
        }
        entries.truncate(n);
    }

    fn spawn_options(&self, spec: &ChildSpec) -> SpawnOptions {
        let mut options = SpawnOptions::new().supervised_by(self.link.clone());
        if let Some(mailbox) = spec.mailbox {
            options = options.mailbox(mailbox);
        }
        if spec.pinned {
            options = options.pinned();
        }
        if spec.hibernate {
            options = options.hibernate();
        }
        if spec.register {
            options = options.name(spec.name.to_string());
        }
        options
    }

    /// Spawns a new task for `spec` and waits for its first `on_start`. On a start failure
    /// the task is returned too: it waits for a decision.
    async fn spawn_spec(
        &self,
        spec: &ChildSpec,
        ctx: &mut Context<Self>,
    ) -> (
        Option<(Arc<dyn ChildHandle>, Option<Directory>)>,
        Result<(), StartError>,
    ) {
        let (started, rx) = oneshot::channel();
        let options = self.spawn_options(spec).on_start_outcome(started);
        let spawned = match &spec.kind {
            ChildKind::Worker(start) => start(ctx.bus(), options).map(|h| (h, None)),
            ChildKind::Supervisor(config) => {
                let mut config = (**config).clone();
                config.root = false;
                // A directory of its own for each task: two children from one builder (or a
                // child and a root) share nothing. A restart in place keeps the task's.
                config.directory = Directory::default();
                if config.observer.is_none() {
                    config.observer = self.config.observer.clone();
                }
                let dir = config.directory.clone();
                ctx.bus()
                    .spawn_with::<Supervisor>(config, options)
                    .map(|r| (r.handle(), Some(dir)))
            }
        };
        match spawned {
            Err(e) => (None, Err(StartError::Spawn(e))),
            Ok(task) => {
                let outcome = rx.await.unwrap_or(Err(StopReason::Killed));
                (Some(task), outcome.map_err(StartError::Failed))
            }
        }
    }

    /// Starts a child that has no task yet (initial start, `add_child`, `restart_child`).
    /// On failure its task is stopped and nothing is kept.
    async fn start_new(
        &mut self,
        spec: &ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<(Arc<dyn ChildHandle>, Option<Directory>), SpawnError> {
        match self.spawn_spec(spec, ctx).await {
            (Some(task), Ok(())) => Ok(task),
            (task, Err(e)) => {
                if let Some((handle, _)) = task {
                    handle.terminate(StopReason::Shutdown);
                    handle.wait_for_stop().await;
                }
                Err(e.into_spawn_error(spec.name()))
            }
            (None, Ok(())) => Err(SpawnError::BusStopped),
        }
    }

    /// Starts a new incarnation of a child waiting for a restart: in place when its task
    /// waits, spawned anew when its task is gone (it was killed).
    async fn restart_slot(
        &mut self,
        name: &str,
        ctx: &mut Context<Self>,
    ) -> Result<ActorId, StartError> {
        let Some(slot) = self.slot(name) else {
            return Err(StartError::Spawn(SpawnError::BusStopped));
        };
        if let Some(handle) = slot.handle.clone() {
            if handle.stop_reason().is_none() {
                if let Some(rx) = handle.restart() {
                    if let Some(slot) = self.slot_mut(name) {
                        slot.incarnation = slot.incarnation.saturating_add(1);
                    }
                    return match rx.await {
                        Ok(Ok(())) => Ok(handle.id()),
                        Ok(Err(reason)) => Err(StartError::Failed(reason)),
                        Err(_) => Err(StartError::Failed(
                            handle.stop_reason().unwrap_or(StopReason::Killed),
                        )),
                    };
                }
            }
        }
        let spec = slot.spec.clone();
        let (task, outcome) = self.spawn_spec(&spec, ctx).await;
        if let Some((handle, sub)) = task {
            let id = handle.id();
            if let Some(slot) = self.slot_mut(name) {
                slot.handle = Some(handle);
                slot.incarnation = 0;
                slot.sub = sub;
            }
            outcome.map(|()| id)
        } else {
            match outcome {
                Err(e) => Err(e),
                Ok(()) => Err(StartError::Spawn(SpawnError::BusStopped)),
            }
        }
    }

    /// Carries out the policy's actions, feeding back the outcome of each start; then, with
    /// `step_at`, one restart step: the first restart due by that bus time. A [`Step`] is
    /// one; so is the end of a child's incarnation, whose restart (due at once without
    /// backoff) starts in the handling of the exit, as OTP's supervisor restarts in handling
    /// the `'EXIT'`. Further due restarts go one per `Step`.
    async fn act(
        &mut self,
        actions: Vec<Action>,
        mut step_at: Option<Duration>,
        ctx: &mut Context<Self>,
    ) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue
            .pop_front()
            .or_else(|| self.policy.tick(step_at.take()?))
        {
            match action {
                Action::Suspend(name) => self.suspend(&name, ctx).await,
                Action::Stop(name) => self.stop_for_good(&name, false, ctx).await,
                Action::Forget(name) => self.slots.retain(|s| s.spec.name != name),
                Action::Restart {
                    child,
                    delay,
                    attempt,
                } => match self.restart_slot(&child, ctx).await {
                    Ok(id) => {
                        let now = ctx.now();
                        self.policy.started(&child, now);
                        // Listed running before the event is out: an observer that reads
                        // the children on it sees this child among them.
                        self.publish();
                        self.emit(SupervisionEvent::Restarted {
                            at: now,
                            supervisor: ctx.id(),
                            child: child.clone(),
                            id,
                            delay,
                            attempt,
                        });
                    }
                    Err(e) => {
                        let reason = e.reason();
                        let now = ctx.now();
                        self.emit(SupervisionEvent::RestartFailed {
                            at: now,
                            supervisor: ctx.id(),
                            child: child.clone(),
                            id: self.child_id(&child).unwrap_or(ctx.id()),
                            reason: reason.clone(),
                            attempt,
                        });
                        let next = self.policy.start_failed(&child, &reason, now);
                        for a in next.into_iter().rev() {
                            queue.push_front(a);
                        }
                    }
                },
                Action::GiveUp(why) => {
                    queue.clear();
                    self.give_up(why, ctx).await;
                }
                Action::Shutdown => {
                    queue.clear();
                    ctx.stop();
                }
            }
        }
        self.publish();
        self.schedule(ctx);
    }

    /// Keeps one timer for the next due restart. Restarts run one child per step, each step
    /// a message at the back of the mailbox, so calls to the supervisor are served between
    /// steps even when restarts are due at once.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        match self.policy.next_due() {
            None => {
                if let Some((_, timer)) = self.wake.take() {
                    timer.cancel();
                }
            }
            Some(due) => {
                if let Some((at, timer)) = &self.wake {
                    if *at == due && !timer.is_finished() {
                        return;
                    }
                    timer.cancel();
                }
                self.wake = None;
                // Due now (no backoff): the step goes to the back of the mailbox at once,
                // without a timer task; through one only if the mailbox is full.
                let now = ctx.now();
                if due <= now && ctx.actor_ref().try_tell(Step).is_ok() {
                    return;
                }
                let timer = ctx.send_after(Step, due.saturating_sub(now));
                self.wake = Some((due, timer));
            }
        }
    }

    /// Ends a running child's incarnation for a group restart, by its shutdown; a child that
    /// does not make it is killed with its subtree (and spawned anew later).
    async fn suspend(&mut self, name: &str, ctx: &mut Context<Self>) {
        let Some(slot) = self.slot(name) else { return };
        let Some(handle) = slot.handle.clone() else {
            return;
        };
        let sub = slot.sub.clone();
        let shutdown = slot.spec.shutdown;
        // An `Immediate` child is killed without being asked first: a suspension queued
        // before the kill could still run its `on_stop` (on another worker, say).
        let acked = match shutdown {
            Shutdown::Immediate => false,
            Shutdown::Timeout(d) => match handle.suspend() {
                Some(rx) => matches!(ctx.clock().within(d, rx).await, Some(Ok(()))),
                None => false,
            },
            Shutdown::Infinity => match handle.suspend() {
                Some(rx) => rx.await.is_ok(),
                None => false,
            },
        };
        if !acked {
            kill_tree(&handle, sub.as_ref()).await;
        }
    }

    /// Stops a child's task for good, by its shutdown, and reports how it ended.
    async fn stop_for_good(&mut self, name: &str, was_running: bool, ctx: &mut Context<Self>) {
        let Some(slot) = self.slot(name) else { return };
        let Some(handle) = slot.handle.clone() else {
            return;
        };
        let reason = stop_task(&handle, slot.sub.as_ref(), slot.spec.shutdown, ctx.clock()).await;
        self.report_stop(name, &handle, reason, was_running, ctx);
    }

    fn report_stop(
        &self,
        name: &str,
        handle: &Arc<dyn ChildHandle>,
        reason: StopReason,
        was_running: bool,
        ctx: &Context<Self>,
    ) {
        let child: Arc<str> = Arc::from(name);
        if was_running && reason.is_failure() {
            // It crashed while being stopped: its own failure, reported as such.
            self.emit(SupervisionEvent::Failed {
                at: ctx.now(),
                supervisor: ctx.id(),
                child: child.clone(),
                id: handle.id(),
                reason: reason.clone(),
            });
        }
        self.emit(SupervisionEvent::Stopped {
            at: ctx.now(),
            supervisor: ctx.id(),
            child,
            id: handle.id(),
            reason,
        });
    }

    /// Stops every child in reverse start order (a pool's in parallel), each by its
    /// shutdown; returns once all are down.
    async fn stop_all(&mut self, ctx: &mut Context<Self>) {
        self.link.stopping.store(true, Ordering::Release);
        if let Some((_, timer)) = self.wake.take() {
            timer.cancel();
        }
        let stopping = self.policy.shut_down();
        if self.config.pool.is_some() {
            let clock = ctx.clock().clone();
            let begun = clock.now();
            let mut waiting = Vec::new();
            for (name, was_running) in &stopping {
                let Some(slot) = self.slot(name) else {
                    continue;
                };
                let Some(handle) = slot.handle.clone() else {
                    continue;
                };
                match slot.spec.shutdown {
                    Shutdown::Immediate => handle.kill(),
                    _ => {
                        handle.terminate(StopReason::Shutdown);
                    }
                }
                waiting.push((name.clone(), handle, slot.spec.shutdown, *was_running));
            }
            for (name, handle, shutdown, was_running) in waiting {
                if let Shutdown::Timeout(d) = shutdown {
                    // A deadline past what bus time can hold (`Duration::MAX`) never comes.
                    let left = match begun.checked_add(d) {
                        Some(deadline) => deadline.saturating_sub(clock.now()),
                        None => Duration::MAX,
                    };
                    if clock.within(left, handle.wait_for_stop()).await.is_none() {
                        handle.kill();
                    }
                }
                let reason = handle.wait_for_stop().await;
                self.report_stop(&name, &handle, reason, was_running, ctx);
            }
        } else {
            for (name, was_running) in stopping {
                self.stop_for_good(&name, was_running, ctx).await;
            }
        }
        self.slots.clear();
        self.config.directory.lock().entries.clear();
    }

    /// Intensity exceeded: stop every child, then fail to the parent (or the bus).
    async fn give_up(&mut self, why: String, ctx: &mut Context<Self>) {
        let reason: Arc<str> = Arc::from(why);
        self.emit(SupervisionEvent::GaveUp {
            at: ctx.now(),
            supervisor: ctx.id(),
            reason: reason.clone(),
        });
        self.stop_all(ctx).await;
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

    /// A child's incarnation ended (by itself, or it was killed while running): the event,
    /// then the policy's actions and, at the same bus time, the restart step that may be due.
    async fn child_down(
        &mut self,
        name: Arc<str>,
        id: ActorId,
        reason: StopReason,
        ctx: &mut Context<Self>,
    ) {
        let now = ctx.now();
        self.emit(self.ended_event(name.clone(), id, reason.clone(), now, ctx));
        let actions = self.policy.exited(&name, &reason, now);
        self.act(actions, Some(now), ctx).await;
    }

    fn ended_event(
        &self,
        name: Arc<str>,
        id: ActorId,
        reason: StopReason,
        at: Duration,
        ctx: &Context<Self>,
    ) -> SupervisionEvent {
        if reason.is_failure() {
            SupervisionEvent::Failed {
                at,
                supervisor: ctx.id(),
                child: name,
                id,
                reason,
            }
        } else {
            SupervisionEvent::Exited {
                at,
                supervisor: ctx.id(),
                child: name,
                id,
                reason,
            }
        }
    }

    fn info(&self) -> Vec<ChildInfo> {
        self.policy
            .children()
            .iter()
            .filter_map(|c| {
                let slot = self.slot(&c.name)?;
                let state = match c.state {
                    State::Running { .. } => ChildState::Running(ChildRef(slot.handle.clone()?)),
                    State::Restarting { since, .. } => ChildState::Restarting { since },
                    State::Stopped => ChildState::Stopped,
                };
                Some(ChildInfo {
                    name: c.name.to_string(),
                    state,
                    restart: c.restart,
                    supervisor: slot.spec.is_supervisor(),
                })
            })
            .collect()
    }
}

impl Actor for Supervisor {
    type Args = SupervisorConfig;

    async fn on_start(config: SupervisorConfig, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let link = Arc::new(Link {
            supervisor: ctx.actor_ref().clone(),
            stopping: AtomicBool::new(false),
        });
        config.directory.lock().entries.clear();
        let policy = Policy::new(
            config.strategy,
            config.max_restarts,
            config.within,
            config.backoff.clone(),
            ctx.rng().clone(),
            config.auto_shutdown,
            config.pool.is_some(),
        );
        let specs = config.children.clone();
        let mut sup = Supervisor {
            config,
            policy,
            slots: Vec::new(),
            link,
            wake: None,
            pool_seq: 0,
            metrics: SupervisorMetrics::new(
                ctx.bus(),
                ctx.actor_ref().name().unwrap_or("supervisor"),
            ),
        };
        for spec in specs {
            match sup.start_new(&spec, ctx).await {
                Ok((handle, sub)) => {
                    let id = handle.id();
                    sup.add_started(spec, handle, sub, ctx);
                    sup.emit(SupervisionEvent::Started {
                        at: ctx.now(),
                        supervisor: ctx.id(),
                        child: sup.slots[sup.slots.len() - 1].spec.name.clone(),
                        id,
                    });
                }
                Err(e) => {
                    sup.stop_all(ctx).await;
                    sup.config.directory.lock().start_error = Some(e.clone());
                    return Err(Box::new(e));
                }
            }
        }
        sup.publish();
        Ok(sup)
    }

    async fn on_stop(&mut self, ctx: &mut Context<Self>, _reason: &StopReason) {
        self.stop_all(ctx).await;
    }
}

impl Supervisor {
    fn add_started(
        &mut self,
        spec: ChildSpec,
        handle: Arc<dyn ChildHandle>,
        sub: Option<Directory>,
        ctx: &Context<Self>,
    ) {
        let child = Child::new(spec.name.clone(), spec.restart, spec.significant);
        // Names were checked before the start.
        let _ = self.policy.add(child, ctx.now());
        self.slots.push(Slot {
            spec,
            handle: Some(handle),
            incarnation: 0,
            sub,
        });
    }
}

impl Drop for Supervisor {
    /// Reached with children left only when the supervisor's task was killed: its children
    /// must not outlive it.
    fn drop(&mut self) {
        self.link.stopping.store(true, Ordering::Release);
        for slot in self.slots.iter().rev() {
            if let Some(handle) = &slot.handle {
                handle.kill();
            }
        }
    }
}

impl Handler<ChildEnded> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: ChildEnded, ctx: &mut Context<Self>) {
        let Some(slot) = self.slot_of(msg.id) else {
            return;
        };
        // A report that a group restart overtook: the child was suspended and started again
        // after sending it, and its new incarnation runs.
        if msg.incarnation < slot.incarnation {
            return;
        }
        let name = slot.spec.name.clone();
        self.child_down(name, msg.id, msg.reason, ctx).await;
    }
}

impl Handler<ChildExited> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        let Some(name) = self.name_of(msg.id) else {
            return;
        };
        // Only a running child's death is news (it was killed); the others are being
        // stopped or restarted by this supervisor already.
        if !matches!(self.policy.state(&name), Some(State::Running { .. })) {
            return;
        }
        self.child_down(name, msg.id, msg.reason, ctx).await;
    }
}

impl Handler<Step> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, _: Step, ctx: &mut Context<Self>) {
        self.act(Vec::new(), Some(ctx.now()), ctx).await;
    }
}

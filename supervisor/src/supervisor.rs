//! The supervisor actor: it feeds the [`policy`](crate::policy) the events it sees and
//! carries out the actions the policy decides (starting, suspending, stopping children).
//!
//! Starting children is in `start.rs`, stopping them in `stop.rs`, and the calls of a
//! [`SupervisorRef`](crate::SupervisorRef) in `admin.rs`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::telemetry::SupervisorMetrics;
use mycelium_actors::{
    Actor, ActorId, ActorRef, BoxError, ChildHandle, Context, Failure, Handler, Phase, SpawnError,
    StopReason, SupervisionLink, TimerHandle,
};

use crate::builder::SupervisorConfig;
use crate::child_spec::ChildSpec;
use crate::directory::{DirEntry, Directory};
use crate::event::SupervisionEvent;
use crate::policy::{Action, Child, Policy, State};
use crate::supervisor_ref::{ChildInfo, ChildRef, ChildState};
use crate::{RestartStrategy, SupervisorBuilder};

mod admin;
mod start;
mod stop;
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

    /// Drops a child's spec and task (it was stopped first when needed), and its count of
    /// restarts.
    fn forget(&mut self, name: &str) {
        self.slots.retain(|s| &*s.spec.name != name);
        self.config
            .directory
            .lock()
            .restarts
            .send_if_modified(|count| count.forget(name));
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
                Action::Forget(name) => self.forget(&name),
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
                        self.config
                            .directory
                            .lock()
                            .restarts
                            .send_modify(|count| count.record(&child));
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
                    State::Restarting { since, .. } => ChildState::Restarting {
                        since,
                        child: slot
                            .handle
                            .clone()
                            .filter(|h| h.stop_reason().is_none())
                            .map(ChildRef),
                    },
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

    /// A child's exit (or a due restart) left queued when the tree stops: the tree's events
    /// report the exit, and nobody waits for either.
    fn unreported(message: &(dyn std::any::Any + Send)) -> bool {
        message.is::<ChildExited>() || message.is::<Step>()
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

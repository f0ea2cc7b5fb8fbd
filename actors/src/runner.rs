//! The actor's task: one loop that starts, serves, and restarts an actor in place.
//!
//! An actor lives as a sequence of *incarnations*. Each starts with `on_start(args)` and ends
//! when the actor fails, stops itself, or is stopped. A supervised actor then reports to its
//! supervisor and waits, mailbox and ref intact, for a restart or a termination; an
//! unsupervised one stops for good. When the task ends for any reason, a drop guard closes the
//! mailbox, sends what is left to the dead letters and wakes everyone waiting for the stop,
//! so even a killed actor loses nothing silently.

use std::collections::VecDeque;
use std::sync::Arc;

use mycelium_mailbox::{Empty, Receiver};
use tokio::sync::oneshot;

use crate::envelope::{Outcome, Signal};
use crate::failure::Phase;
use crate::panic::catch_unwind_future;
use crate::slot::FutureSlot;
use crate::supervision::SupervisionLink;
use crate::{
    Actor, ActorRef, Bus, Context, DeadLetter, DeadLetterReason, Failure, OnFailure, StopReason,
};

pub(crate) struct Runner<A: Actor> {
    rx: Receiver<Signal<A>>,
    me: ActorRef<A>,
    bus: Bus,
    link: Option<Arc<dyn SupervisionLink>>,
    /// Priority messages that arrived while the actor waited for its supervisor.
    stash: VecDeque<Signal<A>>,
    /// Where handler futures run, reused message after message.
    slot: FutureSlot,
    finished: bool,
}

/// How an incarnation's service ended.
enum Served {
    /// It ended by itself (failure, `ctx.stop()`, `ActorRef::stop`).
    Ended(StopReason),
    /// Its supervisor or the bus stopped it for good.
    Terminated(StopReason),
    /// Its supervisor suspended it to restart it with a sibling.
    Suspended(oneshot::Sender<()>),
    /// Its supervisor restarts it directly.
    Restart(Option<oneshot::Sender<()>>),
}

/// What the supervisor decided after an incarnation ended.
enum Decision {
    Restart(Option<oneshot::Sender<()>>),
    Exit(StopReason),
}

impl<A: Actor> Runner<A> {
    pub(crate) fn new(
        rx: Receiver<Signal<A>>,
        me: ActorRef<A>,
        bus: Bus,
        link: Option<Arc<dyn SupervisionLink>>,
    ) -> Self {
        Runner {
            rx,
            me,
            bus,
            link,
            stash: VecDeque::new(),
            slot: FutureSlot::default(),
            finished: false,
        }
    }

    async fn next(&mut self) -> Option<Signal<A>> {
        if let Some(sig) = self.stash.pop_front() {
            return Some(sig);
        }
        // The common case under load: the batch already holds the next message; take it
        // without going through a wake-up registration.
        match self.rx.try_next() {
            Ok(sig) => Some(sig),
            Err(Empty::Closed) => None,
            Err(Empty::Pending) => self.rx.recv().await,
        }
    }

    async fn serve(&mut self, actor: &mut A, ctx: &mut Context<A>) -> Served {
        loop {
            let Some(signal) = self.next().await else {
                return Served::Terminated(StopReason::Killed);
            };
            match signal {
                Signal::Message(env) => {
                    let outcome = env.handle(actor, ctx, &mut self.slot).await;
                    if let Outcome::Failed(failure) = outcome {
                        let decided = Box::pin(self.on_failure(actor, ctx, failure)).await;
                        if let Some(reason) = decided {
                            return Served::Ended(reason);
                        }
                    }
                    if let Some(reason) = ctx.take_stop() {
                        return Served::Ended(reason);
                    }
                }
                Signal::Stop => return Served::Ended(StopReason::Normal),
                Signal::Terminate(reason) => return Served::Terminated(reason),
                Signal::Suspend(ack) => return Served::Suspended(ack),
                Signal::Restart(ack) => return Served::Restart(ack),
            }
        }
    }

    /// Records the failed message and asks the actor's failure hook. `Some(reason)` ends the
    /// incarnation. Callers box this future, like the start and stop hooks: they run rarely,
    /// and inline they would grow every idle actor's task by their size.
    async fn on_failure(
        &mut self,
        actor: &mut A,
        ctx: &mut Context<A>,
        failure: Failure,
    ) -> Option<StopReason> {
        let message_type = match failure.phase {
            Phase::Message(m) => m,
            _ => "?",
        };
        tracing::warn!(
            target: "mycelium::actor",
            actor = %self.me.id(),
            actor_type = A::type_name(),
            %failure,
            "handler failed"
        );
        self.bus.dead_letters().post(DeadLetter {
            actor: self.me.id(),
            actor_type: A::type_name(),
            message_type,
            reason: DeadLetterReason::HandlerFailed(failure.clone()),
            message: None,
        });
        match catch_unwind_future(actor.on_failure(ctx, &failure)).await {
            Ok(OnFailure::Continue) => None,
            Ok(OnFailure::Stop) => Some(StopReason::Failed(failure)),
            Err(payload) => {
                let hook = Failure::from_panic(Phase::FailureHook, payload);
                tracing::warn!(target: "mycelium::actor", actor = %self.me.id(), failure = %hook, "failure hook panicked");
                Some(StopReason::Failed(failure))
            }
        }
    }
}

/// Runs `on_stop`, catching a panic in it (logged: the actor is stopping anyway).
async fn stop_hook<A: Actor>(actor: &mut A, ctx: &mut Context<A>, reason: &StopReason) {
    if let Err(payload) = Box::pin(catch_unwind_future(actor.on_stop(ctx, reason))).await {
        let failure = Failure::from_panic(Phase::FailureHook, payload);
        tracing::warn!(
            target: "mycelium::actor",
            actor = %ctx.id(),
            actor_type = A::type_name(),
            reason = %failure.reason,
            "on_stop panicked"
        );
    }
}

impl<A: Actor> Runner<A> {
    /// Waits on the system lane for the supervisor's decision; user messages stay queued.
    async fn await_decision(&mut self, ended: &StopReason) -> Decision {
        loop {
            match self.rx.recv_system().await {
                Some(Signal::Restart(ack)) => return Decision::Restart(ack),
                Some(Signal::Terminate(reason)) => return Decision::Exit(reason),
                Some(Signal::Suspend(ack)) => {
                    let _ = ack.send(());
                }
                Some(Signal::Stop) => {}
                Some(sig @ Signal::Message(_)) => self.stash.push_back(sig),
                None => return Decision::Exit(ended.clone()),
            }
        }
    }

    /// Ends the actor for good: closes the mailbox, sends what is left to the dead letters,
    /// wakes waiters, leaves the registry and tells the supervisor.
    pub(crate) fn finish(&mut self, reason: StopReason) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.rx.close();
        let mut leftover: Vec<Signal<A>> = self.stash.drain(..).collect();
        leftover.extend(self.rx.drain());
        let id = self.me.id();
        for signal in leftover {
            if let Signal::Message(env) = signal {
                let message_type = env.message_type();
                let message = env.undeliverable(reason.clone());
                self.bus.dead_letters().post(DeadLetter {
                    actor: id,
                    actor_type: A::type_name(),
                    message_type,
                    reason: DeadLetterReason::ActorStopped(reason.clone()),
                    message: Some(message),
                });
            }
        }
        tracing::debug!(target: "mycelium::actor", actor = %id, actor_type = A::type_name(), %reason, "stopped");
        self.me.shared.mark_stopped(reason.clone());
        self.bus.unregister(id);
        if let Some(link) = &self.link {
            link.child_exited(id, reason);
        }
    }
}

impl<A: Actor> Drop for Runner<A> {
    fn drop(&mut self) {
        // Reached without `finish` only when the task was aborted (kill) or its runtime shut
        // down.
        self.finish(StopReason::Killed);
    }
}

/// The whole life of one actor.
pub(crate) async fn run<A: Actor>(
    mut runner: Runner<A>,
    args: A::Args,
    mut ctx: Context<A>,
    mut ack: Option<oneshot::Sender<()>>,
) {
    let mut incarnation = 0u32;
    loop {
        ctx.begin_incarnation(incarnation);
        incarnation = incarnation.saturating_add(1);
        let started = Box::pin(catch_unwind_future(A::on_start(args.clone(), &mut ctx))).await;
        if let Some(a) = ack.take() {
            let _ = a.send(());
        }
        // `Some(reason)`: ask the supervisor; `None`: it already decided (suspend).
        let ended: Option<StopReason> = match started {
            Ok(Ok(mut actor)) => match runner.serve(&mut actor, &mut ctx).await {
                Served::Terminated(reason) => {
                    stop_hook(&mut actor, &mut ctx, &reason).await;
                    drop(actor);
                    runner.finish(reason);
                    return;
                }
                Served::Ended(reason) => {
                    stop_hook(&mut actor, &mut ctx, &reason).await;
                    Some(reason)
                }
                Served::Suspended(suspended) => {
                    stop_hook(&mut actor, &mut ctx, &StopReason::Restarting).await;
                    drop(actor);
                    let _ = suspended.send(());
                    None
                }
                Served::Restart(restart) => {
                    stop_hook(&mut actor, &mut ctx, &StopReason::Restarting).await;
                    ack = restart;
                    continue;
                }
            },
            Ok(Err(error)) => Some(StopReason::Failed(Failure::from_error(Phase::Start, error))),
            Err(payload) => Some(StopReason::Failed(Failure::from_panic(
                Phase::Start,
                payload,
            ))),
        };
        let Some(link) = runner.link.clone() else {
            runner.finish(ended.unwrap_or(StopReason::Restarting));
            return;
        };
        let reason = match ended {
            Some(reason) => {
                if !link.child_ended(runner.me.id(), reason.clone()) {
                    runner.finish(reason);
                    return;
                }
                reason
            }
            None => StopReason::Restarting,
        };
        match runner.await_decision(&reason).await {
            Decision::Restart(restart) => ack = restart,
            Decision::Exit(exit) => {
                runner.finish(exit);
                return;
            }
        }
    }
}

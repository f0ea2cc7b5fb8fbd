//! The actor's task: one loop that starts, serves, and restarts an actor in place.
//!
//! An actor lives as a sequence of *incarnations*. Each starts with `on_start(args)` and ends
//! when the actor fails, stops itself, or is stopped. A supervised actor then reports to its
//! supervisor and waits, mailbox and ref intact, for a restart or a termination; an
//! unsupervised one stops for good. When the task ends for any reason, a drop guard closes the
//! mailbox, sends what is left to the dead letters and wakes everyone waiting for the stop,
//! so even a killed actor loses nothing silently.
//!
//! Every actor with a task carries this loop's future, so it is kept small (a unit test holds
//! it within 240 bytes): only the serving loop lives inline; starts, stop hooks, failure
//! handling, supervisor round trips and the takeover of a direct call's handoff run in boxed
//! futures; the loop waits for readiness before it takes a message, so no signal sits in its
//! state while the actor is idle; and the start's result is matched as a temporary, so the
//! actor's state is kept once. The context keeps its rarely used parts (a stop request, the
//! rng, timers, linked children, subscriptions) in one box made on first use.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use mycelium_mailbox::{Empty, Inbox, Mailbox};
use tokio::sync::oneshot;

use crate::direct::{Direct, Handoff};
use crate::envelope::{Envelope, Outcome, Signal};
use crate::failure::Phase;
use crate::panic::catch_unwind_future;
use crate::slot::{FutureSlot, SlotFuture};
use crate::supervision::SupervisionLink;
use crate::telemetry::ActorMetrics;
use crate::{
    Actor, ActorRef, Bus, Context, DeadLetter, DeadLetterReason, Failure, OnFailure, StopReason,
};

mod ending;
mod starting;
#[cfg(test)]
mod tests;

use ending::Next;
pub(crate) use starting::next_incarnation;

pub(crate) struct Runner<A: Actor> {
    /// The receiving side of the mailbox in `me`'s cell.
    inbox: Inbox<Envelope<A>>,
    me: ActorRef<A>,
    bus: Bus,
    link: Option<Arc<dyn SupervisionLink>>,
    /// Priority messages that arrived while the actor waited for its supervisor (boxed: it
    /// is rarely used, and every idle actor would carry an empty queue inline).
    #[allow(clippy::box_collection)]
    stash: Option<Box<VecDeque<Envelope<A>>>>,
    /// Where handler futures run, reused message after message.
    slot: FutureSlot,
    finished: bool,
    /// Messages a hibernating actor has handled in its current (or last) call of `serve`;
    /// for another actor, messages since it last took a unit of its task's budget.
    turns: u8,
    /// Its instruments, when the bus records metrics (boxed: most buses do not).
    metrics: Option<Box<ActorMetrics>>,
}

/// How many messages a hibernating actor handles before `serve` returns, so that its task can
/// let others run: on its bus's driver, a busy sleeper then moves into a task of its own.
const HIBERNATING_TURN: u8 = 64;

/// How many messages an actor handles per unit of its task's tokio budget (128 units a
/// poll): an actor whose mailbox never empties (one that tells itself, or a fast feed) gives
/// its thread to the runtime's other tasks every 4,096 messages, as a task reading a tokio
/// channel does every 128, instead of holding it for as long as it has mail. One unit per 32
/// messages keeps the budget's thread-local read off the per-message path.
const MESSAGES_PER_BUDGET_UNIT: u8 = 32;

/// Takes the lent state back if `serve`'s future is dropped while the actor waits, before
/// the state itself is dropped; a handler future an asker left running is dropped with it.
struct TakeBack<'a, A: Actor>(&'a Direct<A>);

impl<A: Actor> Drop for TakeBack<'_, A> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only between the task's `lend` and its `reclaim`, on the
        // task (see `serve`).
        drop(unsafe { self.0.reclaim() });
    }
}

/// What the next signal comes to.
enum Step<'a> {
    /// A message: its handler's future.
    Handle(SlotFuture<'a, Outcome>),
    /// Nothing to handle after all: wait again.
    Again,
    /// The incarnation ends (or waits for its supervisor).
    End(Served),
}

/// What the actor's task does after taking over an asker's handoff.
enum Resumed {
    /// The incarnation ends.
    Ended(Served),
    /// Wait for mail again (or take the next of a batch).
    Again,
    /// Go on to the next signal.
    Next,
}

/// Who waits for an incarnation's start, and what they are told.
pub(crate) enum StartAck {
    /// Told only that `on_start` has finished; a failed start is reported to the supervisor
    /// as an ended incarnation.
    Done(oneshot::Sender<()>),
    /// Told how it went; a failed start is then theirs to handle.
    Outcome(oneshot::Sender<Result<(), StopReason>>),
}

type OutcomeAck = Option<oneshot::Sender<Result<(), StopReason>>>;

/// How an incarnation's service ended.
enum Served {
    /// It ended by itself (failure, `ctx.stop()`, `ActorRef::stop`).
    Ended(StopReason),
    /// Its supervisor or the bus stopped it for good.
    Terminated(StopReason),
    /// Its supervisor suspended it to restart it with a sibling.
    Suspended(oneshot::Sender<()>),
    /// Its supervisor restarts it directly.
    Restart(OutcomeAck),
}

impl<A: Actor> Runner<A> {
    pub(crate) fn new(me: ActorRef<A>, bus: Bus, link: Option<Arc<dyn SupervisionLink>>) -> Self {
        let metrics = ActorMetrics::new::<A>(&bus, me.shared.name.as_deref());
        Runner {
            inbox: Inbox::new(),
            me,
            bus,
            metrics,
            link,
            stash: None,
            slot: FutureSlot::default(),
            finished: false,
            turns: 0,
        }
    }

    /// What of the runner outlives its task while the actor hibernates, boxed, and `None`
    /// when there is nothing (an unsupervised actor without metrics): the rest (the empty
    /// batch, the handler-future slot and its buffer) is dropped, and the actor's ref and bus
    /// are in its context.
    #[allow(clippy::box_collection)] // as `Runner::stash`
    pub(crate) fn put_away(mut self) -> Option<Box<Kept<A>>> {
        debug_assert!(
            self.inbox.batched_len() == 0,
            "an actor hibernates with no mail in hand"
        );
        let kept =
            (self.link.is_some() || self.stash.is_some() || self.metrics.is_some()).then(|| {
                Box::new(Kept {
                    link: self.link.take(),
                    stash: self.stash.take(),
                    metrics: self.metrics.take(),
                })
            });
        // Not finished: it sleeps. Dropping the rest must not finalise the actor.
        self.finished = true;
        kept
    }

    /// Whether a hibernating actor's last call of `serve` handled a message.
    pub(crate) fn handled_in_turn(&self) -> bool {
        self.turns > 0
    }

    /// Whether mail is waiting: in the batch taken, or in either lane of the mailbox.
    pub(crate) fn has_mail(&self) -> bool {
        self.inbox.has_batched(&self.me.shared.mailbox) || !self.me.shared.mailbox.is_idle()
    }

    /// The runner of a hibernated actor, woken.
    pub(crate) fn woken(kept: Option<Box<Kept<A>>>, ctx: &Context<A>) -> Self {
        let kept = kept.map(|kept| *kept).unwrap_or(Kept {
            link: None,
            stash: None,
            metrics: None,
        });
        Runner {
            inbox: Inbox::new(),
            me: ctx.actor_ref().clone(),
            bus: ctx.bus().clone(),
            metrics: kept.metrics,
            link: kept.link,
            stash: kept.stash,
            slot: FutureSlot::default(),
            finished: false,
            turns: 0,
        }
    }

    /// Serves messages until the incarnation ends, or, for a hibernating actor (`HIBERNATE`,
    /// `SpawnOptions::hibernate`), until it has no mail or has had its turn of
    /// [`HIBERNATING_TURN`] messages (`None`: see `hibernation.rs`). A constant, so that the
    /// default actor's loop carries no test of it.
    // Not an `async fn`: its arguments would be stored twice in the future's state.
    #[allow(clippy::manual_async_fn)]
    fn serve<'a, const HIBERNATE: bool>(
        &'a mut self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Option<Served>> + Send + 'a {
        async move {
            if let Some(metrics) = &mut self.metrics {
                metrics.reset();
            }
            if HIBERNATE {
                self.turns = 0;
            }
            loop {
                let stash_empty = self.stash.as_ref().is_none_or(|s| s.is_empty());
                let waited = stash_empty && !self.inbox.has_batched(&self.me.shared.mailbox);
                // A hibernating actor never waits here: it takes what is queued below, and
                // gives its task up when there is nothing.
                if waited && !HIBERNATE {
                    let direct = &self.me.shared.direct;
                    // SAFETY: the state, context, slot and instruments outlive the loan: it
                    // is taken back right after the wait below, or by `guard` if this future
                    // is dropped while waiting (before `actor` and `ctx`, which the caller
                    // of `serve` owns and which outlive this future). Nothing here touches
                    // them until then; the wait touches only `self.rx`.
                    unsafe {
                        direct.lend(actor, ctx, &mut self.slot, &mut self.metrics);
                    }
                    let guard = TakeBack(direct);
                    // Wait without taking: the await yields `()`, so no signal is held in this
                    // future's state while the actor is idle. Skipped while the batch taken
                    // from the mailbox still holds messages.
                    std::future::poll_fn(|cx| self.inbox.poll_ready(&self.me.shared.mailbox, cx))
                        .await;
                    std::mem::forget(guard);
                    // Scoped so that the handoff, moved into the boxed future, holds no
                    // storage in this future's state.
                    // SAFETY: the actor's task lent its state above.
                    let handoff = unsafe { self.me.shared.direct.reclaim() };
                    let resumed = handoff.map(|handoff| Box::pin(self.resume(actor, ctx, handoff)));
                    if let Some(resumed) = resumed {
                        match resumed.await {
                            Resumed::Ended(served) => return Some(served),
                            Resumed::Again => continue,
                            Resumed::Next => {}
                        }
                    }
                }
                if !HIBERNATE {
                    // Left at up to HIBERNATING_TURN by a sleeper that moved to a task.
                    self.turns = self.turns.wrapping_add(1);
                    if self.turns >= MESSAGES_PER_BUDGET_UNIT {
                        self.turns = 0;
                        // Returns pending (the task is woken at once) once the budget is spent.
                        std::future::poll_fn(|cx| {
                            tokio::task::coop::poll_proceed(cx).map(|r| r.made_progress())
                        })
                        .await;
                    }
                }
                // Scoped: the step holds no storage in this future's state across the await.
                let handling = {
                    let step = Self::next_handling(
                        &mut self.stash,
                        &mut self.inbox,
                        &self.me.shared.mailbox,
                        &mut self.slot,
                        actor,
                        ctx,
                    );
                    match step {
                        Step::Handle(handling) => handling,
                        Step::Again if HIBERNATE => return None,
                        Step::Again => continue,
                        Step::End(served) => return Some(served),
                    }
                };
                let started = self.metrics.as_ref().map(|m| m.start(waited));
                // Scoped: the outcome (a failure's size) is not kept in this future's state
                // while the failure is handled.
                let recovering = {
                    let outcome = handling.await;
                    if let (Some(metrics), Some(started)) = (&mut self.metrics, started) {
                        metrics.handled(started, self.inbox.batched_len());
                    }
                    match outcome {
                        Outcome::Failed(failure) => {
                            Some(Box::pin(self.after_failure(actor, ctx, *failure)))
                        }
                        _ => None,
                    }
                };
                let ended = {
                    // Moved into this block, so that its borrow of `ctx` ends here.
                    let recovering = recovering;
                    match recovering {
                        Some(recovering) => recovering.await,
                        None => None,
                    }
                };
                if let Some(reason) = ended {
                    return Some(Served::Ended(reason));
                }
                if let Some(reason) = ctx.take_stop() {
                    return Some(Served::Ended(reason));
                }
                if HIBERNATE {
                    self.turns += 1;
                    if self.turns == HIBERNATING_TURN {
                        return None;
                    }
                }
            }
        }
    }

    /// Takes over what an asker left after running a handler on the lent state. Rare (a
    /// handler that stopped the actor, failed or awaited), so callers box it: inline it would
    /// grow every idle actor's task.
    async fn resume(&mut self, actor: &mut A, ctx: &mut Context<A>, handoff: Handoff) -> Resumed {
        match handoff {
            Handoff::Stopped => match ctx.take_stop() {
                Some(reason) => Resumed::Ended(Served::Ended(reason)),
                None => Resumed::Next,
            },
            Handoff::Failed(failure, ack) => {
                let decided = Box::pin(self.after_failure(actor, ctx, failure)).await;
                // The asker learns of the failure once the failure hook has decided, as
                // an asker through the mailbox would.
                drop(ack);
                // A stop the handler asked for before it failed ends the incarnation when
                // the hook lets it go on, as it does after a failure through the mailbox.
                match decided.or_else(|| ctx.take_stop()) {
                    Some(reason) => Resumed::Ended(Served::Ended(reason)),
                    None => Resumed::Again,
                }
            }
            Handoff::Running(handling, started) => {
                match self.finish_handling(actor, ctx, handling, started).await {
                    Some(served) => Resumed::Ended(served),
                    None => Resumed::Again,
                }
            }
        }
    }

    /// Runs to its end a handler an asker started on the lent state.
    async fn finish_handling(
        &mut self,
        actor: &mut A,
        ctx: &mut Context<A>,
        handling: SlotFuture<'static, Outcome>,
        started: Option<std::time::Duration>,
    ) -> Option<Served> {
        let outcome = handling.await;
        if let (Some(metrics), Some(started)) = (&mut self.metrics, started) {
            metrics.handled(started, self.inbox.batched_len());
        }
        if let Outcome::Failed(failure) = outcome {
            if let Some(reason) = Box::pin(self.after_failure(actor, ctx, *failure)).await {
                return Some(Served::Ended(reason));
            }
        }
        ctx.take_stop().map(Served::Ended)
    }

    /// A handler failed: the failure hook, then `Some(reason)` if the incarnation ends.
    async fn after_failure(
        &mut self,
        actor: &mut A,
        ctx: &mut Context<A>,
        failure: Failure,
    ) -> Option<StopReason> {
        // Inline: callers box this future already.
        let decided = self.on_failure(actor, ctx, failure).await;
        if let Some(metrics) = &mut self.metrics {
            metrics.reset();
        }
        decided
    }

    /// Takes the next signal and starts handling it. A plain function: the signal and the
    /// envelope it moves out of never take storage in `serve`'s future. Always inlined into
    /// the serving loop: left to the compiler, an unrelated change to the cold paths can make
    /// it a call, and every message pays for it (w1 rt=ct 33 to 26 M msgs/s, w4 and w6 20%
    /// slower; measured at 4549c3a, 2026-11-23: docs/perf/actors.md).
    #[allow(clippy::box_collection)] // the stash is boxed on purpose (see the field)
    #[inline(always)]
    fn next_handling<'a>(
        stash: &mut Option<Box<VecDeque<Envelope<A>>>>,
        inbox: &mut Inbox<Envelope<A>>,
        mailbox: &Mailbox<Envelope<A>>,
        slot: &'a mut FutureSlot,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Step<'a> {
        let envelope = match stash.as_mut().and_then(|s| s.pop_front()) {
            Some(env) => env,
            None => match inbox.try_next(mailbox) {
                Ok(env) => env,
                Err(Empty::Closed) => return Step::End(Served::Terminated(StopReason::Killed)),
                Err(Empty::Pending) => return Step::Again,
            },
        };
        match envelope.into_signal() {
            Signal::Message(env) => {
                ctx.set_more(inbox.batched_len() != 0);
                // SAFETY: `serve` awaits the handle right away and never leaks it: it is
                // dropped when the handler completes, or with `serve`'s future if the actor's
                // task is dropped mid-handler, before the slot is used again.
                Step::Handle(unsafe { env.handle(actor, ctx, slot) })
            }
            Signal::Stop => Step::End(Served::Ended(StopReason::Normal)),
            Signal::Terminate(reason) => Step::End(Served::Terminated(*reason)),
            Signal::Suspend(ack) => Step::End(Served::Suspended(ack)),
            Signal::Restart(ack) => Step::End(Served::Restart(ack)),
            // Woken for an asker's handoff, already taken over: nothing to handle.
            Signal::Resume => Step::Again,
        }
    }

    /// Records the failed message and asks the actor's failure hook. `Some(reason)` ends the
    /// incarnation. It runs inside `after_failure`'s future, which callers box like the start
    /// and stop hooks: they run rarely, and inline they would grow every idle actor's task by
    /// their size.
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
        ctx.record_lifecycle(|record| {
            record(crate::recording::Lifecycle::Failed {
                reason: &failure.to_string(),
            })
        });
        tracing::warn!(
            target: "mycelium::actor",
            actor = %self.me.id(),
            actor_type = actor.label(),
            %failure,
            "handler failed"
        );
        self.bus.dead_letters().post(DeadLetter {
            actor: self.me.id(),
            actor_type: actor.label(),
            message_type,
            reason: DeadLetterReason::HandlerFailed(failure.clone()),
            message: None,
        });
        match catch_unwind_future(|| actor.on_failure(ctx, &failure)).await {
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

/// The whole life of one actor from its start. Used by a pinned actor, on its own thread;
/// every other actor starts on its bus's hibernation driver and gets a task of its own,
/// [`run_woken`], with its first mail.
pub(crate) async fn run<A: Actor>(
    mut runner: Runner<A>,
    args: A::Args,
    mut ctx: Context<A>,
    ack: Option<StartAck>,
) {
    let mut incarnation = 0u32;
    let started = Box::pin(next_incarnation(
        &mut runner,
        &args,
        &mut ctx,
        &mut incarnation,
        ack,
    ))
    .await;
    if let Some(actor) = started {
        run_woken(runner, args, ctx, incarnation, actor).await;
    }
}

/// The life of a started actor, in a task of its own, from its current incarnation on (the
/// next one is numbered `incarnation`). Only the serving loop lives inline in this future;
/// stops, restarts and supervision round trips are rare and run in boxed futures, so an idle
/// actor's task stays small. (A block that uses its captures in place, rather than an
/// `async fn`, whose arguments would be stored twice; `actor` too is reused in place, so the
/// state is stored once.)
#[allow(clippy::manual_async_fn)]
pub(crate) fn run_woken<A: Actor>(
    mut runner: Runner<A>,
    args: A::Args,
    mut ctx: Context<A>,
    mut incarnation: u32,
    mut actor: A,
) -> impl Future<Output = ()> + Send {
    async move {
        loop {
            // Never `None`: that comes only to a hibernating actor's loop.
            let served = loop {
                if let Some(served) = runner.serve::<false>(&mut actor, &mut ctx).await {
                    break served;
                }
            };
            let ack = match Box::pin(runner.after_serve(actor, &mut ctx, served)).await {
                Next::Restart(restart) => restart.map(StartAck::Outcome),
                Next::Exit => return,
            };
            // Nothing is awaited between the start's result and `actor`, so the result is not
            // kept in this future's state beside the state it holds while the actor serves.
            actor = match Box::pin(next_incarnation(
                &mut runner,
                &args,
                &mut ctx,
                &mut incarnation,
                ack,
            ))
            .await
            {
                Some(actor) => actor,
                None => return,
            };
        }
    }
}

/// What of a [`Runner`] a hibernating actor keeps while it has no task.
pub(crate) struct Kept<A: Actor> {
    link: Option<Arc<dyn SupervisionLink>>,
    #[allow(clippy::box_collection)] // as `Runner::stash`
    stash: Option<Box<VecDeque<Envelope<A>>>>,
    metrics: Option<Box<ActorMetrics>>,
}

/// Everything a hibernating actor's task holds: its runner, its context, its start arguments
/// and, once started, its state.
pub(crate) struct Life<A: Actor> {
    pub(crate) runner: Runner<A>,
    pub(crate) args: A::Args,
    pub(crate) ctx: Context<A>,
    pub(crate) ack: Option<StartAck>,
    /// The number of the next incarnation.
    pub(crate) incarnation: u32,
    /// `None` until `on_start` has returned it (and between incarnations).
    pub(crate) actor: Option<A>,
}

/// A hibernating actor's life from where it was put down: starts the actor if it has not
/// started and serves its mail; `true` when it is out of mail or has had its turn (see
/// `sleepwalk`, which tells the two apart), `false` when the actor has stopped for good. The
/// steps are those of [`run`].
pub(crate) async fn live<A: Actor>(life: &mut Life<A>) -> bool {
    loop {
        if life.actor.is_none() {
            let ack = life.ack.take();
            let started = Box::pin(next_incarnation(
                &mut life.runner,
                &life.args,
                &mut life.ctx,
                &mut life.incarnation,
                ack,
            ))
            .await;
            match started {
                Some(actor) => life.actor = Some(actor),
                None => return false,
            }
        }
        let served = match &mut life.actor {
            Some(actor) => life.runner.serve::<true>(actor, &mut life.ctx).await,
            None => continue,
        };
        let Some(served) = served else {
            return true;
        };
        let Some(actor) = life.actor.take() else {
            continue;
        };
        match Box::pin(life.runner.after_serve(actor, &mut life.ctx, served)).await {
            Next::Restart(restart) => life.ack = restart.map(StartAck::Outcome),
            Next::Exit => return false,
        }
    }
}

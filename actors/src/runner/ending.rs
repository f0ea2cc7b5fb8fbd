//! How an incarnation ends: the stop hook, the supervisor's decision, and the final stop
//! that closes the mailbox and sends what is left to the dead letters.

use super::{OutcomeAck, Runner, Served};
use crate::envelope::{Envelope, Signal};
use crate::failure::Phase;
use crate::panic::catch_unwind_future;
use crate::{Actor, Context, DeadLetter, DeadLetterReason, Failure, StopReason};

/// What the supervisor decided after an incarnation ended.
enum Decision {
    Restart(OutcomeAck),
    Exit(StopReason),
}

/// Runs `on_stop`, catching a panic in it (logged: the actor is stopping anyway).
async fn stop_hook<A: Actor>(actor: &mut A, ctx: &mut Context<A>, reason: &StopReason) {
    // Inline: its one caller, `after_serve`, runs boxed.
    // What it sends comes from it (for a recorded receiver's origin).
    let me = crate::recording::Source::Actor(ctx.id());
    let stopped = catch_unwind_future(|| actor.on_stop(ctx, reason));
    if let Err(payload) = crate::recording::sending_as(me, stopped).await {
        let failure = Failure::from_panic(Phase::FailureHook, payload);
        tracing::warn!(
            target: "mycelium::actor",
            actor = %ctx.id(),
            actor_type = actor.label(),
            reason = %failure.reason,
            "on_stop panicked"
        );
    }
}

impl<A: Actor> Runner<A> {
    /// Waits on the system lane for the supervisor's decision; user messages stay queued.
    async fn await_decision(&mut self, ended: &StopReason) -> Decision {
        loop {
            let mailbox = &self.me.shared.mailbox;
            let inbox = &mut self.inbox;
            let Some(env) = std::future::poll_fn(|cx| inbox.poll_recv_system(mailbox, cx)).await
            else {
                return Decision::Exit(ended.clone());
            };
            match env.into_signal() {
                Signal::Restart(ack) => return Decision::Restart(ack),
                Signal::Terminate(reason) => return Decision::Exit(*reason),
                Signal::Suspend(ack) => {
                    let _ = ack.send(());
                }
                Signal::Stop | Signal::Resume => {}
                Signal::Message(env) => self.stash.get_or_insert_default().push_back(env),
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
        self.inbox.close(&self.me.shared.mailbox);
        let mut leftover: Vec<Envelope<A>> = self
            .stash
            .take()
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        leftover.extend(self.inbox.drain(&self.me.shared.mailbox));
        if let Some(metrics) = &self.metrics {
            metrics.stopped();
        }
        let id = self.me.id();
        // One event: its first letters are logged one by one, the rest counted in one line.
        self.bus
            .dead_letters()
            .post_all(leftover.into_iter().filter_map(|env| {
                let Signal::Message(env) = env.into_signal() else {
                    return None;
                };
                let message_type = env.message_type();
                let message = env.undeliverable(reason.clone());
                if A::unreported(&*message) {
                    return None;
                }
                let (actor_type, message_type) =
                    A::letter_names(&*message).unwrap_or((A::type_name(), message_type));
                Some(DeadLetter {
                    actor: id,
                    actor_type,
                    message_type,
                    reason: DeadLetterReason::ActorStopped(reason.clone()),
                    message: Some(message),
                })
            }));
        tracing::debug!(target: "mycelium::actor", actor = %id, actor_type = A::type_name(), %reason, "stopped");
        // Out of the registry before anyone waiting for the stop is woken: whoever sees the
        // actor stopped (a supervisor about to start it again under its name) finds its name
        // free and the bus's count without it.
        self.bus.unregister(id);
        self.me.shared.mark_stopped(reason.clone());
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

/// What comes after an incarnation.
pub(super) enum Next {
    Restart(OutcomeAck),
    Exit,
}

impl<A: Actor> Runner<A> {
    /// After `serve`: runs the stop hook and settles what happens next.
    pub(super) async fn after_serve(
        &mut self,
        mut actor: A,
        ctx: &mut Context<A>,
        served: Served,
    ) -> Next {
        let reason = match &served {
            Served::Terminated(reason) | Served::Ended(reason) => reason.clone(),
            Served::Suspended(_) | Served::Restart(_) => StopReason::Restarting,
        };
        ctx.record_lifecycle(|record| {
            record(crate::recording::Lifecycle::Stopped {
                reason: &reason.to_string(),
            })
        });
        stop_hook(&mut actor, ctx, &reason).await;
        drop(actor);
        ctx.end_incarnation();
        ctx.stop_children().await;
        match served {
            Served::Terminated(reason) => {
                self.finish(reason);
                Next::Exit
            }
            Served::Ended(reason) => self.after_end(Some(reason), false, ctx.incarnation()).await,
            Served::Suspended(suspended) => {
                let _ = suspended.send(());
                self.after_end(None, false, ctx.incarnation()).await
            }
            Served::Restart(restart) => Next::Restart(restart),
        }
    }

    /// Incarnation `incarnation` ended (`Some(reason)`: by itself, so the supervisor is told
    /// unless it already `knows` from a start outcome; `None`: the supervisor suspended it and
    /// knows).
    /// Unsupervised actors stop for good. An incarnation that ended by itself keeps its own
    /// reason as the final one when the supervisor then terminates it: giving up or shutting
    /// down does not overwrite why a child stopped.
    pub(super) async fn after_end(
        &mut self,
        ended: Option<StopReason>,
        knows: bool,
        incarnation: u32,
    ) -> Next {
        let Some(link) = self.link.clone() else {
            self.finish(ended.unwrap_or(StopReason::Restarting));
            return Next::Exit;
        };
        let reason = match &ended {
            Some(reason) => {
                if !knows && !link.child_ended(self.me.id(), incarnation, reason.clone()) {
                    self.finish(reason.clone());
                    return Next::Exit;
                }
                reason.clone()
            }
            None => StopReason::Restarting,
        };
        match self.await_decision(&reason).await {
            Decision::Restart(restart) => Next::Restart(restart),
            Decision::Exit(exit) => {
                self.finish(ended.unwrap_or(exit));
                Next::Exit
            }
        }
    }
}

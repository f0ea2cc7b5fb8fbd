//! How an incarnation starts: `on_start` run with its panic caught, whoever waits for the
//! start told, and a failed start handed to the supervisor.

use super::ending::Next;
use super::{Runner, StartAck};
use crate::failure::Phase;
use crate::panic::catch_unwind_future;
use crate::recording::Lifecycle;
use crate::{Actor, Context, Failure, StopReason};

/// How an incarnation's start went.
enum Began<A> {
    /// `on_start` returned the actor's state.
    Serving(A),
    /// It failed, and this comes next.
    Over(Next),
}

impl<A: Actor> Runner<A> {
    /// Starts an incarnation and tells whoever waits for it; a failed start is handled here.
    async fn begin(
        &mut self,
        args: &A::Args,
        ctx: &mut Context<A>,
        incarnation: u32,
        ack: &mut Option<StartAck>,
    ) -> Began<A> {
        match start(args, ctx, incarnation).await {
            Ok(actor) => {
                match ack.take() {
                    Some(StartAck::Done(a)) => drop(a.send(())),
                    Some(StartAck::Outcome(a)) => drop(a.send(Ok(()))),
                    None => {}
                }
                Began::Serving(actor)
            }
            Err(reason) => Began::Over(self.after_failed_start(ctx, reason, ack.take()).await),
        }
    }

    /// `on_start` failed: its linked children stop, and whoever waits for the outcome hears
    /// it (and then handles the failure itself).
    async fn after_failed_start(
        &mut self,
        ctx: &mut Context<A>,
        reason: StopReason,
        ack: Option<StartAck>,
    ) -> Next {
        ctx.end_incarnation();
        ctx.stop_children().await;
        let knows = match ack {
            Some(StartAck::Outcome(a)) => a.send(Err(reason.clone())).is_ok(),
            Some(StartAck::Done(a)) => {
                let _ = a.send(());
                false
            }
            None => false,
        };
        self.after_end(Some(reason), knows, ctx.incarnation()).await
    }
}

/// Runs `on_start` for one incarnation, catching a panic.
async fn start<A: Actor>(
    args: &A::Args,
    ctx: &mut Context<A>,
    incarnation: u32,
) -> Result<A, StopReason> {
    ctx.begin_incarnation(incarnation);
    // What it sends comes from it (for a recorded receiver's origin).
    let me = crate::recording::Source::Actor(ctx.id());
    let started = catch_unwind_future(|| A::on_start(args.clone(), ctx));
    let failure = match crate::recording::sending_as(me, started).await {
        Ok(Ok(actor)) => {
            ctx.record_lifecycle(|record| {
                record(Lifecycle::Started {
                    incarnation,
                    actor_type: A::type_name(),
                })
            });
            return Ok(actor);
        }
        Ok(Err(error)) => Failure::from_error(Phase::Start, error),
        Err(payload) => Failure::from_panic(Phase::Start, payload),
    };
    ctx.record_lifecycle(|record| {
        record(Lifecycle::Failed {
            reason: &failure.to_string(),
        })
    });
    Err(StopReason::Failed(failure))
}

/// Starts the actor's next incarnation (numbered `*incarnation`, which then counts on), and
/// again after each failed start that its supervisor restarts: `Some(state)` once `on_start`
/// has returned it, `None` when the actor has stopped for good. Callers box it: it is rare,
/// and inline it would grow every idle actor's task.
pub(crate) async fn next_incarnation<A: Actor>(
    runner: &mut Runner<A>,
    args: &A::Args,
    ctx: &mut Context<A>,
    incarnation: &mut u32,
    mut ack: Option<StartAck>,
) -> Option<A> {
    loop {
        let first = *incarnation;
        *incarnation = first.saturating_add(1);
        match runner.begin(args, ctx, first, &mut ack).await {
            Began::Serving(actor) => return Some(actor),
            Began::Over(Next::Restart(restart)) => ack = restart.map(StartAck::Outcome),
            Began::Over(Next::Exit) => return None,
        }
    }
}

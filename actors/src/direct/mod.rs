//! The direct call: an `ask` of an idle actor runs the handler on the asker's task.
//!
//! An ask through the mailbox costs two task switches (asker to actor, actor to asker) on
//! top of the handler; measured, they are most of an ask's round trip (docs/perf/actors.md,
//! w2). When the actor is idle, nothing is queued, and the asker runs on the actor's runtime,
//! nothing would happen between the two switches but the handler, so the asker runs it
//! itself, on the actor's state, while the actor's task stays parked.
//!
//! The actor's task *lends* its state when it is about to wait for mail: it writes pointers
//! to the state, its context, its handler-future slot and its instruments into the actor
//! cell's [`Direct`] and marks it `PARKED` (the protocol is [`Loan`], in `loan.rs`, checked
//! under loom in `loom_tests.rs`). An asker takes the loan (`PARKED` -> `CALLER`),
//! checks that the mailbox is open and empty in both lanes, polls the handler's future
//! once, and gives the loan back. Whatever the actor's task must still do is handed over with it
//! (`HANDOFF`): a handler that did not finish at once (its future stays in the slot and the
//! actor's task polls it to the end), a handler that failed (the task runs the failure hook
//! and supervision exactly as if it had failed there), or a handler that stopped the actor.
//! The task is woken by a `Signal::Resume` on its system lane. When it wakes for any
//! reason it takes the loan back first (`PARKED`/`HANDOFF` -> `BUSY`), waiting for an asker
//! that holds it: a loan is held only for one synchronous poll of a handler, never across an
//! await. A task dropped while its state is lent (killed, or its runtime shut down) takes the
//! loan back in the same way before the state is dropped.
//!
//! So one handler runs at a time, a message queued before the ask is handled before it (the
//! asker declines when anything is queued), stop and kill requests win (a queued signal, or
//! the sticky `CLOSED` flag set by a kill, makes the asker decline), and a failure is a failure of the
//! actor's task.

mod loan;
#[cfg(all(test, mycelium_loom))]
mod loom_tests;
mod sync;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

use self::loan::{Borrowed, Loan};
use crate::envelope::{Outcome, Payload};
use crate::failure::Failure;
use crate::slot::{FutureSlot, SlotFuture};
use crate::telemetry::ActorMetrics;
use crate::{Actor, Context};

/// The part of an actor cell through which its task lends its state.
pub(crate) struct Direct<A: Actor> {
    /// The runtime the actor's task runs on, set when it first lends its state.
    runtime: OnceLock<tokio::runtime::Id>,
    loan: Loan<Lease<A>>,
}

/// What is lent: pointers into the actor's task, and what an asker leaves for the task.
struct Lease<A: Actor> {
    actor: *mut A,
    ctx: *mut Context<A>,
    slot: *mut FutureSlot,
    metrics: *mut Option<Box<ActorMetrics>>,
    /// Boxed: rare, and every actor cell carries the lease.
    handoff: Option<Box<Handoff>>,
}

/// Work an asker leaves to the actor's task.
pub(crate) enum Handoff {
    /// The handler finished and asked the actor to stop (`Context::stop`).
    Stopped,
    /// The handler failed; the asker waits on the sender until the task has dealt with it.
    Failed(Failure, oneshot::Sender<()>),
    /// The handler is still running: its future is in the actor's slot, started at the
    /// given bus time (when the actor records metrics).
    Running(SlotFuture<'static, Outcome>, Option<Duration>),
}

// SAFETY: the raw pointers in the lease point into the actor's task (its state `A: Send`,
// its context, slot and instruments, all `Send` as the task is), and are dereferenced only
// by the one party that holds the loan (`Loan`); a `Handoff` is `Send`.
unsafe impl<A: Actor> Send for Lease<A> {}

impl<A: Actor> Default for Direct<A> {
    fn default() -> Self {
        Direct {
            runtime: OnceLock::new(),
            loan: Loan::new(Lease {
                actor: std::ptr::null_mut(),
                ctx: std::ptr::null_mut(),
                slot: std::ptr::null_mut(),
                metrics: std::ptr::null_mut(),
                handoff: None,
            }),
        }
    }
}

/// Offers an ask to an actor's direct call from an async asker (`ActorRef::ask`, a local
/// `ReplyRecipient::ask`): `None` when the handler ran here or was handed to the actor's task
/// (the reply comes through the envelope's channel; after a failure, once the task has dealt
/// with it, as when the handler fails there), or the payload back for the mailbox.
pub(crate) async fn offer<P>(
    payload: P,
    try_run: impl FnOnce(P, &mut std::task::Context<'_>) -> Attempt<P>,
) -> Option<P> {
    match attempt(payload, try_run).await {
        Attempt::Declined(payload) => Some(payload),
        Attempt::Failed(handled) => {
            let _ = handled.await;
            None
        }
        Attempt::Ran => None,
    }
}

/// Makes the attempt with the asker's task context and returns what it came to, without
/// waiting for a failure to be dealt with (`ReplyRecipient::ask_queued` waits for that with
/// the reply).
pub(crate) async fn attempt<P>(
    payload: P,
    try_run: impl FnOnce(P, &mut std::task::Context<'_>) -> Attempt<P>,
) -> Attempt<P> {
    let mut pending = Some((payload, try_run));
    std::future::poll_fn(|cx| match pending.take() {
        Some((payload, try_run)) => Poll::Ready(try_run(payload, cx)),
        // Polled again after it returned Ready: never, `poll_fn` is awaited once.
        None => Poll::Pending,
    })
    .await
}

/// What an asker's attempt came to.
pub(crate) enum Attempt<P> {
    /// The actor was not idle (or not on this runtime): send the payload through the mailbox.
    Declined(P),
    /// The handler ran (or is running on the actor's task): the reply comes as usual.
    Ran,
    /// The handler failed; wait on this until the actor's task has handled the failure.
    Failed(oneshot::Receiver<()>),
}

impl<A: Actor> Direct<A> {
    /// Called by the actor's task, holding the loan, before it waits for mail.
    ///
    /// # Safety
    ///
    /// Only the actor's task calls this, before each wait and after [`reclaim`](Self::reclaim).
    /// The pointers must stay valid, and the task must not touch what they point to, until
    /// it has taken the loan back with `reclaim` (which a drop guard must also call if the
    /// task is dropped while parked).
    pub(crate) unsafe fn lend(
        &self,
        actor: *mut A,
        ctx: *mut Context<A>,
        slot: *mut FutureSlot,
        metrics: *mut Option<Box<ActorMetrics>>,
    ) {
        if self.runtime.get().is_none() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let _ = self.runtime.set(handle.id());
            }
        }
        // SAFETY: the actor's task is the owner and holds the loan (this function's contract).
        unsafe {
            self.loan.lend(|lease| {
                lease.actor = actor;
                lease.ctx = ctx;
                lease.slot = slot;
                lease.metrics = metrics;
            })
        }
    }

    /// Called by the actor's task when it wakes: takes the loan back, waiting for an asker
    /// that holds it (for one poll of a handler at most), and returns the asker's handoff.
    ///
    /// # Safety
    ///
    /// Only the actor's task calls this, after [`lend`](Self::lend).
    pub(crate) unsafe fn reclaim(&self) -> Option<Handoff> {
        // SAFETY: the actor's task is the owner and has lent (this function's contract).
        unsafe { self.loan.reclaim(|lease| lease.handoff.take()).map(|h| *h) }
    }

    /// No asker takes the loan from now on (the actor is being killed).
    pub(crate) fn close(&self) {
        self.loan.close();
    }

    /// Runs `payload` on the lent state if the actor is idle: parked, nothing queued
    /// (`idle` checks the mailbox under the loan), and on the runtime of the caller.
    ///
    /// `resume` wakes the actor's task for a handoff.
    pub(crate) fn try_run<P: Payload<A>>(
        &self,
        payload: P,
        cx: &mut std::task::Context<'_>,
        idle: impl FnOnce() -> bool,
        resume: impl FnOnce(),
    ) -> Attempt<P> {
        if !self.loan.is_parked() {
            return Attempt::Declined(payload);
        }
        let Some(mut held) = self.loan.borrow() else {
            return Attempt::Declined(payload);
        };
        // The runtime last: finding the caller's clones a handle (an atomic increment and
        // decrement), while an actor with mail waiting declines with its mailbox's flags.
        if !idle() {
            return Attempt::Declined(payload);
        }
        match (self.runtime.get(), tokio::runtime::Handle::try_current()) {
            (Some(id), Ok(here)) if *id == here.id() => {}
            _ => return Attempt::Declined(payload),
        }
        let (actor, ctx, slot, metrics) =
            held.with(|lease| (lease.actor, lease.ctx, lease.slot, lease.metrics));
        // SAFETY: this asker holds the loan (`held`, taken after the task lent its state): the
        // task does not touch its state, context, slot or instruments until it takes the loan
        // back, which waits for this asker to give it back; the pointers are valid until then
        // (contract of `lend`). No other asker holds the loan.
        let (actor, ctx, slot, metrics) =
            unsafe { (&mut *actor, &mut *ctx, &mut *slot, &mut *metrics) };
        let started = metrics.as_ref().map(|m| m.start(true));
        // SAFETY: the handle is either dropped below or handed to the actor's task, which
        // awaits it or drops it (its drop guard calls `reclaim`): it is never leaked.
        let mut handling = unsafe { slot.place(|| payload.run(actor, ctx)) };
        let outcome = match Pin::new(&mut handling).poll(cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                // SAFETY: only the lifetime changes. The future borrows the lent state,
                // which stays valid and untouched by the task until the task takes the
                // handle (in `reclaim`, under the loan) and awaits or drops it.
                let handling: SlotFuture<'static, Outcome> =
                    unsafe { std::mem::transmute(handling) };
                hand_off(held, Handoff::Running(handling, started), resume);
                return Attempt::Ran;
            }
        };
        drop(handling);
        if let (Some(metrics), Some(started)) = (metrics.as_mut(), started) {
            metrics.handled(started, 0);
        }
        match outcome {
            Outcome::Done if !ctx.stop_requested() => Attempt::Ran,
            Outcome::Done => {
                hand_off(held, Handoff::Stopped, resume);
                Attempt::Ran
            }
            Outcome::Failed(failure) => {
                let (tx, rx) = oneshot::channel();
                hand_off(held, Handoff::Failed(*failure, tx), resume);
                Attempt::Failed(rx)
            }
        }
    }
}

/// Gives the loan back with work for the actor's task, and wakes it.
fn hand_off<A: Actor>(mut held: Borrowed<'_, Lease<A>>, handoff: Handoff, resume: impl FnOnce()) {
    held.with(|lease| lease.handoff = Some(Box::new(handoff)));
    held.hand_off();
    resume();
}

#[cfg(test)]
mod tests {
    use crate::{Actor, AskError, BoxError, Bus, Context, Handler};

    /// Counts the asks it handles.
    struct Counter(u64);

    impl Actor for Counter {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Counter(0))
        }
    }

    struct Bump;

    impl Handler<Bump> for Counter {
        type Reply = u64;
        async fn handle(&mut self, _: Bump, _ctx: &mut Context<Self>) -> u64 {
            self.0 += 1;
            self.0
        }
    }

    /// Every actor cell carries a `Direct`: a budget, so that growing it shows up here
    /// (docs/perf/actors.md, w3).
    #[test]
    fn the_direct_part_of_an_actor_cell_stays_small() {
        let size = std::mem::size_of::<super::Direct<crate::test_actors::Idle>>();
        assert!(size <= 64, "Direct grew to {size} bytes");
    }

    /// The asker checks under the loan that the mailbox is still open (`Mailbox::is_idle`):
    /// an ask that finds the state lent but the mailbox closed is refused as an ask of a
    /// stopped actor, and its handler does not run. The actor's own stop never closes the
    /// mailbox while its state is lent (it takes the loan back first), so the test closes it
    /// by hand, behind the parked task's back.
    #[tokio::test]
    async fn a_direct_ask_after_the_mailbox_closed_does_not_run_the_handler() {
        let bus = Bus::new();
        let counter = bus.spawn::<Counter>(());
        // The first mail gives the actor its task (it has none before). On this one-thread
        // runtime that task lends the state right after it replies to the second ask,
        // before the asker runs again.
        assert_eq!(counter.ask(Bump).await.ok(), Some(1));
        assert_eq!(counter.ask(Bump).await.ok(), Some(2));
        assert!(counter.shared.direct.loan.is_parked(), "the state is lent");
        mycelium_mailbox::Inbox::new().close(&counter.shared.mailbox);
        match counter.ask(Bump).await {
            Err(AskError::Closed(Bump)) => {}
            Err(other) => panic!("expected the ask refused as closed, got {other}"),
            Ok(n) => panic!("the handler ran on a closed mailbox (count {n})"),
        }
    }
}

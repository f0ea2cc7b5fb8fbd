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
//! cell's [`Direct`] and marks it `PARKED`. An asker takes the loan (`PARKED` -> `CALLER`),
//! checks that the mailbox is empty in both lanes, polls the handler's future once, and gives
//! the loan back. Whatever the actor's task must still do is handed over with it
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
//! the sticky `KILLED` flag, makes the asker decline), and a failure is a failure of the
//! actor's task.

use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::envelope::{Outcome, Payload};
use crate::failure::Failure;
use crate::slot::{FutureSlot, SlotFuture};
use crate::telemetry::ActorMetrics;
use crate::{Actor, Context};

/// The actor's task owns its state.
const BUSY: u8 = 0;
/// The task waits for mail; its state is lent to the cell.
const PARKED: u8 = 1;
/// An asker runs a handler on the lent state.
const CALLER: u8 = 2;
/// The loan is back, with work for the task (`Lease::handoff`).
const HANDOFF: u8 = 3;
const LOAN: u8 = 0b11;
/// Sticky: the actor is being killed; no asker takes the loan any more.
const KILLED: u8 = 0b100;

/// The part of an actor cell through which its task lends its state.
pub(crate) struct Direct<A: Actor> {
    state: AtomicU8,
    /// The runtime the actor's task runs on, set when it first lends its state.
    runtime: OnceLock<tokio::runtime::Id>,
    lease: UnsafeCell<Lease<A>>,
}

/// What is lent. Written by the actor's task while it holds the loan (`BUSY`), read and
/// written by an asker while it holds it (`CALLER`); the state transitions order the two.
struct Lease<A: Actor> {
    actor: *mut A,
    ctx: *mut Context<A>,
    slot: *mut FutureSlot,
    metrics: *mut Option<Box<ActorMetrics>>,
    handoff: Option<Handoff>,
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
// by the one party that holds the loan, as the state word says; a `Handoff` is `Send`.
unsafe impl<A: Actor> Send for Direct<A> {}
// SAFETY: as above: every access to the `UnsafeCell` happens under the loan, which one
// party holds at a time (acquire/release transitions of `state`).
unsafe impl<A: Actor> Sync for Direct<A> {}

impl<A: Actor> Default for Direct<A> {
    fn default() -> Self {
        Direct {
            state: AtomicU8::new(BUSY),
            runtime: OnceLock::new(),
            lease: UnsafeCell::new(Lease {
                actor: std::ptr::null_mut(),
                ctx: std::ptr::null_mut(),
                slot: std::ptr::null_mut(),
                metrics: std::ptr::null_mut(),
                handoff: None,
            }),
        }
    }
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
    /// The pointers must stay valid, and the task must not touch what they point to, until
    /// it has taken the loan back with [`reclaim`](Self::reclaim) (which a drop guard must
    /// also call if the task is dropped while parked).
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
        // SAFETY: the state is `BUSY` (the task holds the loan), so no asker reads the lease.
        let lease = unsafe { &mut *self.lease.get() };
        lease.actor = actor;
        lease.ctx = ctx;
        lease.slot = slot;
        lease.metrics = metrics;
        // BUSY -> PARKED, keeping the KILLED flag; publishes the lease.
        self.state.fetch_or(PARKED, Ordering::Release);
    }

    /// Called by the actor's task when it wakes: takes the loan back, waiting for an asker
    /// that holds it (for one poll of a handler at most), and returns the asker's handoff.
    pub(crate) fn reclaim(&self) -> Option<Handoff> {
        let mut spins = 0u32;
        loop {
            let s = self.state.load(Ordering::Acquire);
            match s & LOAN {
                BUSY => return None,
                CALLER => {
                    // Only on a multi-thread runtime: an asker on another worker is inside
                    // one synchronous poll of a handler.
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                _ => {
                    if self
                        .state
                        .compare_exchange(s, s & KILLED, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        // SAFETY: the task holds the loan again (`BUSY`).
                        return unsafe { (*self.lease.get()).handoff.take() };
                    }
                }
            }
        }
    }

    /// No asker takes the loan from now on (the actor is being killed).
    pub(crate) fn close(&self) {
        self.state.fetch_or(KILLED, Ordering::AcqRel);
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
        if self.state.load(Ordering::Relaxed) != PARKED {
            return Attempt::Declined(payload);
        }
        match (self.runtime.get(), tokio::runtime::Handle::try_current()) {
            (Some(id), Ok(here)) if *id == here.id() => {}
            _ => return Attempt::Declined(payload),
        }
        if self
            .state
            .compare_exchange(PARKED, CALLER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Attempt::Declined(payload);
        }
        let held = Held { direct: self };
        if !idle() {
            return Attempt::Declined(payload);
        }
        // SAFETY: this asker holds the loan (`CALLER`, acquired above after the task's
        // release in `lend`): the task does not touch its state, context, slot or instruments
        // until it takes the loan back, which waits for this asker; the pointers are valid
        // until then (contract of `lend`). No other asker holds the loan.
        let lease = unsafe { &mut *self.lease.get() };
        // SAFETY: as above.
        let (actor, ctx, slot, metrics) = unsafe {
            (
                &mut *lease.actor,
                &mut *lease.ctx,
                &mut *lease.slot,
                &mut *lease.metrics,
            )
        };
        let started = metrics.as_ref().map(|m| m.start(true));
        // SAFETY: the handle is either dropped below or handed to the actor's task, which
        // awaits it or drops it (its drop guard calls `reclaim`): it is never leaked.
        let mut handling = unsafe { slot.place(payload.run(actor, ctx)) };
        let outcome = match Pin::new(&mut handling).poll(cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                // SAFETY: only the lifetime changes. The future borrows the lent state,
                // which stays valid and untouched by the task until the task takes the
                // handle (in `reclaim`, under the loan) and awaits or drops it.
                let handling: SlotFuture<'static, Outcome> =
                    unsafe { std::mem::transmute(handling) };
                held.hand_off(Handoff::Running(handling, started), resume);
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
                held.hand_off(Handoff::Stopped, resume);
                Attempt::Ran
            }
            Outcome::Failed(failure) => {
                let (tx, rx) = oneshot::channel();
                held.hand_off(Handoff::Failed(failure, tx), resume);
                Attempt::Failed(rx)
            }
        }
    }
}

/// An asker's hold on the loan: gives it back when dropped (also on unwinding).
struct Held<'a, A: Actor> {
    direct: &'a Direct<A>,
}

impl<A: Actor> Held<'_, A> {
    fn hand_off(self, handoff: Handoff, resume: impl FnOnce()) {
        // SAFETY: the asker holds the loan (`CALLER`).
        unsafe { (*self.direct.lease.get()).handoff = Some(handoff) };
        // CALLER -> HANDOFF, keeping the KILLED flag; publishes the handoff.
        self.direct
            .state
            .fetch_add(HANDOFF - CALLER, Ordering::Release);
        std::mem::forget(self);
        resume();
    }
}

impl<A: Actor> Drop for Held<'_, A> {
    fn drop(&mut self) {
        // CALLER -> PARKED, keeping the KILLED flag.
        self.direct
            .state
            .fetch_sub(CALLER - PARKED, Ordering::Release);
    }
}

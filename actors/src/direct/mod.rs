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
//!
//! On a current-thread runtime a tell takes the same path (`Shared::tell_msg`): there the
//! actor's task would run the handler on this same thread anyway, after two trips through the
//! scheduler. The sender checks the mailbox before it takes the loan, in the lock that would
//! queue the message ([`Mailbox::try_send_unless_idle`](mycelium_mailbox::Mailbox)), and goes
//! on once the handler has finished or been handed over. Two limits: direct calls nest
//! [`MAX_DEPTH`] deep at most on a thread (a handler run here that tells or asks another idle
//! actor runs that one's inside its own poll), and a thread gives its other tasks a turn
//! after every [`TELLS_PER_TURN`] tells it took up to run directly.

mod loan;
#[cfg(all(test, mycelium_loom))]
mod loom_tests;
mod sync;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// The runtime the actor's task runs on, set when it first lends its state: its id's
    /// bits (`runtime_bits`) shifted left by one, the low bit set for a current-thread
    /// runtime; 0 until then. Eight bytes in every actor cell, where a `OnceLock` of the id
    /// and the flag took twenty-four.
    home: AtomicU64,
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
    /// The handler failed; an asker waits on the sender until the task has dealt with it (a
    /// teller does not wait: no sender).
    Failed(Failure, Option<oneshot::Sender<()>>),
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
            home: AtomicU64::new(0),
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
/// (the answer is in the asker's place, `envelope::Answer`; after a failure, once the task
/// has dealt with it, as when the handler fails there), or the payload back for the mailbox.
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
        Attempt::Ran => {
            // The answer came without a wait on a channel, whose poll would have spent a
            // unit of the task's budget with its runtime: spend it here, so that a long run
            // of direct asks still gives the other tasks their turn.
            tokio::task::coop::consume_budget().await;
            None
        }
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
        if self.home.load(Ordering::Relaxed) == 0 {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let one_thread =
                    handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread;
                // Published by the loan's release below; the hint in `may_take_tells` reads
                // it relaxed, and a stale 0 only sends a tell through the mailbox.
                self.home.store(
                    runtime_bits(handle.id()) << 1 | u64::from(one_thread),
                    Ordering::Relaxed,
                );
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

    /// Whether a tell may try the direct call: the state is lent (a hint, checked again
    /// when the loan is taken) by a task of a current-thread runtime. On a multi-thread
    /// runtime the actor's task may run the handler on another worker, in parallel with the
    /// sender, so tells to it always go through the mailbox.
    pub(crate) fn may_take_tells(&self) -> bool {
        self.loan.is_parked() && self.home.load(Ordering::Relaxed) & 1 == 1
    }

    /// [`try_run`](Self::try_run) for a tell whose sender found the mailbox idle (under the
    /// mailbox's lock, before taking the loan: a message another sender queues meanwhile is
    /// concurrent with this one, in either order), on the actor's current-thread runtime, where
    /// the actor's task would run it on this same thread anyway.
    pub(crate) fn try_tell<P: Payload<A>>(
        &self,
        payload: P,
        cx: &mut std::task::Context<'_>,
        resume: impl FnOnce(),
    ) -> Attempt<P> {
        // A failure handed to the actor's task is its to deal with: the teller goes on (`Ran`).
        self.run_here(payload, cx, || true, resume, false)
    }

    /// Runs `payload` on the lent state if the actor is idle: parked, nothing queued
    /// (`idle` checks the mailbox under the loan), and on the runtime of the caller; not nested
    /// deeper than [`MAX_DEPTH`] direct calls on this thread.
    ///
    /// `resume` wakes the actor's task for a handoff.
    pub(crate) fn try_run<P: Payload<A>>(
        &self,
        payload: P,
        cx: &mut std::task::Context<'_>,
        idle: impl FnOnce() -> bool,
        resume: impl FnOnce(),
    ) -> Attempt<P> {
        self.run_here(payload, cx, idle, resume, true)
    }

    /// [`try_run`](Self::try_run); with `wait_on_failure`, a failure comes back as
    /// [`Attempt::Failed`], to wait on until the actor's task has dealt with it.
    fn run_here<P: Payload<A>>(
        &self,
        payload: P,
        cx: &mut std::task::Context<'_>,
        idle: impl FnOnce() -> bool,
        resume: impl FnOnce(),
        wait_on_failure: bool,
    ) -> Attempt<P> {
        if !self.loan.is_parked() {
            return Attempt::Declined(payload);
        }
        let Some(_depth) = Depth::enter() else {
            return Attempt::Declined(payload);
        };
        let Some(mut held) = self.loan.borrow() else {
            return Attempt::Declined(payload);
        };
        // The runtime last: finding the caller's clones a handle (an atomic increment and
        // decrement), while an actor with mail waiting declines with its mailbox's flags.
        if !idle() {
            return Attempt::Declined(payload);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(here) if self.home.load(Ordering::Relaxed) >> 1 == runtime_bits(here.id()) => {}
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
        // Run on the sender's thread: the sender is who sends from here now.
        if crate::recording::on() {
            ctx.set_input_source(crate::recording::current_source());
        }
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
            Outcome::Failed(failure) if wait_on_failure => {
                let (tx, rx) = oneshot::channel();
                hand_off(held, Handoff::Failed(*failure, Some(tx)), resume);
                Attempt::Failed(rx)
            }
            Outcome::Failed(failure) => {
                hand_off(held, Handoff::Failed(*failure, None), resume);
                Attempt::Ran
            }
        }
    }
}

/// A runtime's id as a number (below 2^63: tokio counts its runtimes from 1). tokio has no
/// conversion, but its id hashes as that one number, which this hasher keeps as it is (any
/// other input it packs byte by byte, so distinct ids still give distinct numbers).
fn runtime_bits(id: tokio::runtime::Id) -> u64 {
    use std::hash::{Hash, Hasher};
    struct Bits(u64);
    impl Hasher for Bits {
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(*b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }
    let mut bits = Bits(0);
    id.hash(&mut bits);
    bits.finish() & (u64::MAX >> 1)
}

/// How deep direct calls may nest on one thread (a handler run here that tells or asks
/// another idle actor runs that one's handler inside its own poll): beyond it, the message
/// goes through the mailbox, so a long chain of actors cannot exhaust the stack.
const MAX_DEPTH: u32 = 16;

thread_local! {
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// One level of nested direct calls on this thread, left when dropped.
struct Depth;

impl Depth {
    fn enter() -> Option<Depth> {
        DEPTH.with(|d| {
            let now = d.get();
            (now < MAX_DEPTH).then(|| {
                d.set(now + 1);
                Depth
            })
        })
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Whether this thread is running a handler by a direct call (a tell's or an ask's): a turn
/// given from inside one would leave it pending, to be finished by its actor's task.
pub(crate) fn nested() -> bool {
    DEPTH.with(|d| d.get()) > 0
}

/// Tells a thread takes up to run directly (their senders found the actor idle) between two
/// turns it gives the other tasks ([`give_turn`]): as many as a full default mailbox holds,
/// after which a sender that tells through the mailbox would have waited for room.
///
/// The turn is given by the outermost tell, the one whose sender is not itself a handler run
/// here ([`turn_due`] before its handler, [`turn_due_after`] once the handler and the tells
/// nested in it are done). A nested tell that gave the turn would leave every handler around
/// it pending in mid-call, and each of those would go to its actor's task (the hand-off of a
/// handler that awaits) with the messages behind it: a turn in the middle of a pipeline made
/// the message in flight and the next ones wait for those tasks.
const TELLS_PER_TURN: u32 = 1024;

/// Tells run directly inside one outermost tell (a handler run here that tells in a loop)
/// before a nested tell gives the turn anyway: a handler cannot hold its thread for longer
/// than this many handlers run inside it.
const NESTED_TELLS_PER_TURN: u32 = 4 * TELLS_PER_TURN;

thread_local! {
    static TELLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts a tell about to run its handler here, and says whether the calling task must first
/// give the other tasks of its thread a turn: an outermost tell once every
/// [`TELLS_PER_TURN`] of them, a nested one only past [`NESTED_TELLS_PER_TURN`].
pub(crate) fn turn_due() -> bool {
    let limit = if nested() {
        NESTED_TELLS_PER_TURN
    } else {
        TELLS_PER_TURN
    };
    TELLS.with(|n| {
        let due = n.get() >= limit;
        n.set(if due { 0 } else { n.get() + 1 });
        due
    })
}

/// After an outermost tell that ran here: whether its sender gives the turn now, because the
/// tells nested in it took the count to [`TELLS_PER_TURN`] (the message is delivered, so the
/// turn delays no one's message but the sender's next one).
pub(crate) fn turn_due_after() -> bool {
    !nested()
        && TELLS.with(|n| {
            let due = n.get() >= TELLS_PER_TURN;
            if due {
                n.set(0);
            }
            due
        })
}

/// Gives the other tasks of this thread a turn: the task is woken at once and goes to the
/// back of its runtime's queue. Not `yield_now`, which waits for the runtime's next poll of
/// its I/O driver (a system call on every turn); the runtime polls that driver between its
/// tasks on its own every so many of them.
pub(crate) async fn give_turn() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
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

    /// The number kept for a runtime tells runtimes apart, and fits beside the flag.
    #[test]
    fn runtime_bits_tell_runtimes_apart() {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        };
        let (a, b) = (runtime(), runtime());
        let bits = |rt: &tokio::runtime::Runtime| super::runtime_bits(rt.handle().id());
        assert_eq!(bits(&a), bits(&a));
        assert_ne!(bits(&a), bits(&b));
        assert!(bits(&a) > 0 && bits(&a) < 1 << 63);
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

    /// The same for a tell on this one-thread runtime: the lock that would queue it finds the
    /// mailbox closed, and the message comes back.
    #[tokio::test]
    async fn a_direct_tell_after_the_mailbox_closed_comes_back() {
        let bus = Bus::new();
        let counter = bus.spawn::<Counter>(());
        assert_eq!(counter.ask(Bump).await.ok(), Some(1));
        assert_eq!(counter.ask(Bump).await.ok(), Some(2));
        assert!(
            counter.shared.direct.may_take_tells(),
            "the state is lent, on a current-thread runtime"
        );
        mycelium_mailbox::Inbox::new().close(&counter.shared.mailbox);
        assert!(
            matches!(counter.tell(Bump).await, Err(crate::SendError(Bump))),
            "the tell is refused with its message"
        );
    }
}

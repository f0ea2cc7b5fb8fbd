//! [`ForeignGate`]: the state of a foreign actor, shared between its task and the threads
//! that call its handler directly.
//!
//! A foreign actor's handlers run on the bus runtime's blocking pool, which costs a thread
//! hand-off each way. When a thread of the foreign language asks an actor that is idle (no
//! message queued or running), the gate lets that thread run the handler itself
//! ([`ForeignRef::try_direct`](crate::ForeignRef::try_direct)): same state, same one-at-a-time
//! rule, same order, and a failure is the same failure.
//!
//! The rules:
//! - `pending` counts the messages sent through the actor's gated refs that are queued or
//!   running, plus one while a direct call runs. A direct call starts only by moving it from
//!   0 to 1, so it never overtakes a message a gated ref queued before it. A message counts
//!   itself off when dropped, handled or not (see `count.rs`).
//! - The state sits in a mutex that a handler holds while it runs, on the blocking pool or on
//!   a direct caller's thread: one handler at a time, whatever the path.
//! - A direct call that fails leaves the state marked failed (no further direct call can
//!   start) and queues a marker that fails the actor's task with the same reason, so the
//!   runner posts the dead letter and the supervisor restarts the actor as for any failure.
//!   A message the task took from the mailbox meanwhile is queued again ahead of the others
//!   and handled by the next incarnation.
//! - Direct calls are off on a virtual-time bus: a callback on the blocking pool holds the
//!   virtual clock still, a direct caller's thread could not.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};

use mycelium_actors::Clock;

use crate::count::Counts;
use crate::mail::Mail;
use crate::Foreign;

/// Where the state of the current incarnation is.
pub(crate) enum Slot<S> {
    /// Between incarnations.
    Empty,
    /// The incarnation `incarnation` runs with `state`.
    Running { incarnation: u64, state: S },
    /// A handler failed with `failure`; the incarnation ends when the task learns it.
    Failed {
        incarnation: u64,
        state: S,
        failure: mycelium_actors::Failure,
    },
}

impl<S> Slot<S> {
    /// True while it holds the state of `incarnation` (running or failed).
    pub(crate) fn holds(&self, incarnation: u64) -> bool {
        matches!(
            self,
            Slot::Running { incarnation: n, .. } | Slot::Failed { incarnation: n, .. }
                if *n == incarnation
        )
    }
}

pub(crate) struct GateInner<F: Foreign> {
    pub(crate) foreign: Arc<F>,
    pub(crate) counts: Arc<Counts>,
    pub(crate) direct_enabled: AtomicBool,
    incarnations: AtomicU64,
    /// The bus clock (ask timeouts are bus time), known from the first start.
    pub(crate) clock: OnceLock<Clock>,
    pub(crate) slot: Mutex<Slot<F::State>>,
    /// Held by a `start` callback and the install that follows it: one start at a time, so
    /// the start of a restart waits for that of a killed incarnation, which goes on after
    /// the kill (foreign code cannot be preempted).
    starting: Mutex<()>,
    /// The messages taken from the mailbox and not yet handled, served in batches.
    pub(crate) mail: Mail<F>,
    /// The timers of the incarnation running now (`timers.rs`).
    pub(crate) timers: crate::timers::TimerBook,
    /// Foreign code waiting for the state's lock without holding a virtual clock.
    unlocked: crate::host::LockWaiters,
    /// How the actor is recorded, if it is (set before its first start).
    pub(crate) recording: OnceLock<crate::ForeignRecording>,
    /// The actor of the incarnation started last (set as its start begins; a killed child
    /// spawned anew by its supervisor is a new actor of the same gate).
    current: Mutex<Option<mycelium_actors::ActorRef<crate::ForeignActor<F>>>>,
}

impl<F: Foreign> GateInner<F> {
    /// The actor of the incarnation started last, if one has started.
    pub(crate) fn current(&self) -> Option<mycelium_actors::ActorRef<crate::ForeignActor<F>>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `actor` begins to start: from now on it is the gate's actor.
    pub(crate) fn starts(&self, actor: &mycelium_actors::ActorRef<crate::ForeignActor<F>>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(actor.clone());
    }

    /// Whether the actor's bus runs on virtual time (known once it has started).
    fn on_virtual_time(&self) -> bool {
        self.clock
            .get()
            .is_some_and(mycelium_actors::Clock::is_virtual)
    }
}

/// The state of one foreign actor, shared by its task and its direct callers. One per actor
/// for its whole life (restarts keep it); get it from [`ForeignSpec::gate`](crate::ForeignSpec::gate)
/// and attach it to a ref with [`ForeignRef::with_gate`](crate::ForeignRef::with_gate).
pub struct ForeignGate<F: Foreign> {
    pub(crate) inner: Arc<GateInner<F>>,
}

impl<F: Foreign> Clone for ForeignGate<F> {
    fn clone(&self) -> Self {
        ForeignGate {
            inner: self.inner.clone(),
        }
    }
}

impl<F: Foreign> ForeignGate<F> {
    pub(crate) fn new(foreign: Arc<F>) -> Self {
        let counts = Arc::new(crate::count::Counts::default());
        let names: Arc<dyn crate::count::Names> = foreign.clone();
        let _ = counts.names.set(Arc::downgrade(&names));
        ForeignGate {
            inner: Arc::new(GateInner {
                foreign,
                counts,
                direct_enabled: AtomicBool::new(false),
                incarnations: AtomicU64::new(0),
                clock: OnceLock::new(),
                slot: Mutex::new(Slot::Empty),
                starting: Mutex::new(()),
                mail: Mail::default(),
                timers: Default::default(),
                unlocked: crate::host::LockWaiters::default(),
                recording: OnceLock::new(),
                current: Mutex::new(None),
            }),
        }
    }

    /// The actor's callbacks.
    pub fn foreign(&self) -> &Arc<F> {
        &self.inner.foreign
    }

    /// True if both are the gate of one actor.
    pub fn same(&self, other: &ForeignGate<F>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Messages sent through gated refs that are queued or running (plus one while a direct
    /// call runs).
    pub fn pending(&self) -> usize {
        self.inner.counts.pending()
    }

    /// Records the actor from its next start on, as `recording` says (see
    /// [`crate::recording`]); set it before the actor starts (its spec is spawned) so that
    /// the journal holds its whole life. Direct calls are off for a recorded actor. `Err`
    /// gives `recording` back if the actor is recorded already.
    pub fn record(
        &self,
        recording: crate::ForeignRecording,
    ) -> Result<(), crate::ForeignRecording> {
        self.inner.recording.set(recording)
    }

    /// How the actor is recorded, if it is.
    pub fn recording(&self) -> Option<&crate::ForeignRecording> {
        self.inner.recording.get()
    }

    /// Runs the handler on `msg` (from `source`) with `state` for `actor`: recorded if the
    /// actor is.
    pub(crate) fn handle(
        &self,
        actor: mycelium_actors::ActorId,
        state: &mut F::State,
        msg: crate::ForeignMessage,
        delivery: mycelium_actors::recording::Delivery,
        source: mycelium_actors::recording::Source,
    ) -> Result<Option<crate::ForeignMessage>, String> {
        let inner = &self.inner;
        let _here = RunningHere::enter(inner);
        // What the handler sends comes from this actor.
        let sender = mycelium_actors::recording::Source::Actor(actor);
        mycelium_actors::recording::sending_as_now(sender, || {
            match (inner.recording.get(), inner.clock.get()) {
                (Some(recording), Some(clock)) if !inner.foreign.dropped(&msg) => recording.handle(
                    &inner.foreign,
                    actor,
                    clock,
                    (msg, source),
                    delivery,
                    |msg| inner.foreign.handle(state, msg),
                ),
                _ => inner.foreign.handle(state, msg),
            }
        })
    }

    /// True while one of the actor's callbacks runs on this thread, below the caller.
    pub(crate) fn runs_here(&self) -> bool {
        let me = Arc::as_ptr(&self.inner) as usize;
        RUNNING_HERE.with(|r| r.borrow().contains(&me))
    }

    /// Messages the actor's task has taken from its mailbox for the host thread that have
    /// not been handled yet (a part of [`pending`](Self::pending)).
    pub fn queued(&self) -> usize {
        self.inner.mail.len()
    }

    /// The state's lock. Foreign code of a virtual-time bus (a stop, a release) that waits
    /// for it lets the clock move meanwhile (`host.rs`), since the handler holding it may be
    /// waiting on the bus.
    pub(crate) fn lock(&self) -> SlotGuard<'_, F::State> {
        let guard = crate::host::lock_released(&self.inner.unlocked, || self.try_lock_raw())
            .unwrap_or_else(|| self.inner.slot.lock().unwrap_or_else(|e| e.into_inner()));
        self.guard(guard)
    }

    /// True once a handler of the current incarnation has failed and the incarnation waits
    /// for its task to end it (the asker may have heard of the failure already). False while
    /// a handler holds the state (it has not failed yet).
    pub(crate) fn failing(&self) -> bool {
        self.try_lock_raw()
            .is_some_and(|slot| matches!(*slot, Slot::Failed { .. }))
    }

    pub(crate) fn try_lock(&self) -> Option<SlotGuard<'_, F::State>> {
        self.try_lock_raw().map(|guard| self.guard(guard))
    }

    fn try_lock_raw(&self) -> Option<MutexGuard<'_, Slot<F::State>>> {
        match self.inner.slot.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn guard<'a>(&'a self, guard: MutexGuard<'a, Slot<F::State>>) -> SlotGuard<'a, F::State> {
        // Only foreign code of a virtual-time bus waits for the lock as a wait on the bus:
        // on real time, letting the lock go wakes nobody and costs nothing more.
        SlotGuard {
            guard: Some(guard),
            waiters: self.inner.on_virtual_time().then_some(&self.inner.unlocked),
        }
    }

    /// Runs a `start` callback and installs the state it gives, unless the start was killed
    /// meanwhile (`claim` given up): then the state is abandoned, since nobody owns it.
    /// Blocks (on the blocking pool) while another start of this actor runs.
    pub(crate) fn start_and_install(
        &self,
        start: impl FnOnce() -> Result<F::State, String>,
        direct: bool,
        claim: &Claim,
    ) -> Result<u64, String> {
        let _one = self
            .inner
            .starting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let state = start()?;
        let incarnation = self.inner.incarnations.fetch_add(1, Ordering::AcqRel) + 1;
        let mut slot = self.lock();
        if !claim.install(incarnation) {
            drop(slot);
            self.inner.foreign.abandon(state);
            return Err("the actor was killed during its start".into());
        }
        let old = std::mem::replace(&mut *slot, Slot::Running { incarnation, state });
        drop(slot);
        // A recorded actor's messages all go through its host thread, where they are
        // recorded in handling order.
        let direct = direct && self.inner.recording.get().is_none();
        self.inner.direct_enabled.store(direct, Ordering::Release);
        // A killed incarnation's state whose release has not run yet.
        if let Slot::Running { state, .. } | Slot::Failed { state, .. } = old {
            self.inner.foreign.abandon(state);
        }
        Ok(incarnation)
    }

    /// Takes the state of `incarnation` out, if it is still there.
    pub(crate) fn take(&self, incarnation: u64) -> Option<F::State> {
        let mut slot = self.lock();
        if !slot.holds(incarnation) {
            return None;
        }
        match std::mem::replace(&mut *slot, Slot::Empty) {
            Slot::Running { state, .. } | Slot::Failed { state, .. } => Some(state),
            Slot::Empty => None,
        }
    }
}

/// The state's lock, held; letting it go wakes the foreign code waiting for it
/// ([`crate::host::lock_released`]).
pub(crate) struct SlotGuard<'a, S> {
    guard: Option<MutexGuard<'a, Slot<S>>>,
    waiters: Option<&'a crate::host::LockWaiters>,
}

impl<S> std::ops::Deref for SlotGuard<'_, S> {
    type Target = Slot<S>;

    fn deref(&self) -> &Slot<S> {
        self.guard.as_deref().expect("held until dropped")
    }
}

impl<S> std::ops::DerefMut for SlotGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut Slot<S> {
        self.guard.as_deref_mut().expect("held until dropped")
    }
}

impl<S> Drop for SlotGuard<'_, S> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if let Some(waiters) = self.waiters {
            waiters.wake();
        }
    }
}

/// Who owns the state a `start` callback is making: the actor's task, until a kill drops
/// it. Shared by the task (through [`ClaimGuard`]) and the start running on the pool.
#[derive(Default)]
pub(crate) struct Claim(AtomicU64);

/// [`Claim`] values besides an installed incarnation's number.
const CLAIMED: u64 = 0;
const DROPPED: u64 = u64::MAX;

impl Claim {
    /// Records that the state of `incarnation` is installed; false if the claim was dropped
    /// (the state must not be installed).
    fn install(&self, incarnation: u64) -> bool {
        self.0
            .compare_exchange(CLAIMED, incarnation, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Held by the actor's task while its start runs: dropped undisarmed (the task was killed),
/// it gives up the claim, and releases the state if the start installed it already.
pub(crate) struct ClaimGuard<F: Foreign> {
    pub(crate) claim: Arc<Claim>,
    pub(crate) gate: ForeignGate<F>,
    pub(crate) armed: bool,
}

impl<F: Foreign> Drop for ClaimGuard<F> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.claim.0.swap(DROPPED, Ordering::AcqRel) {
            CLAIMED | DROPPED => {}
            // Installed, but the task that would own it is gone.
            incarnation => release_later(self.gate.clone(), incarnation, None),
        }
    }
}

/// Abandons the state of the killed `incarnation` on the blocking pool, once its lock is
/// free: the caller may be a runtime worker, which must neither wait for the state's lock (a
/// callback the kill could not stop holds it until it returns) nor run foreign code. What
/// the killed `actor` had queued for its host thread becomes dead letters then.
pub(crate) fn release_later<F: Foreign>(
    gate: ForeignGate<F>,
    incarnation: u64,
    actor: Option<mycelium_actors::ActorId>,
) {
    let release = Release {
        gate,
        incarnation,
        actor,
    };
    // On a host thread; on virtual time it waits for the state's lock as a wait on the bus,
    // since the callback holding it may be waiting on the bus. Out of a runtime (or on a
    // pool that is shutting down) the closure is dropped unrun: `release` then runs where it
    // is dropped.
    let virtual_time = release.gate.inner.on_virtual_time();
    crate::host::spawn_on_host(virtual_time, move || drop(release));
}

/// Abandons the state of a killed incarnation when dropped, once its lock is free.
struct Release<F: Foreign> {
    gate: ForeignGate<F>,
    incarnation: u64,
    actor: Option<mycelium_actors::ActorId>,
}

impl<F: Foreign> Drop for Release<F> {
    fn drop(&mut self) {
        if let Some(state) = self.gate.take(self.incarnation) {
            self.gate.inner.foreign.abandon(state);
        }
        if let Some(actor) = self.actor {
            self.gate.inner.mail.stopped(
                actor,
                &mycelium_actors::StopReason::Killed,
                &self.gate.inner.foreign,
            );
        }
    }
}

thread_local! {
    /// The gates whose actor's callback runs on this thread, innermost last.
    static RUNNING_HERE: std::cell::RefCell<Vec<usize>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks the actor of a gate as running one of its callbacks on this thread, until dropped:
/// an ask of it from there would wait for itself ([`ForeignAskError::AskedItself`]).
///
/// [`ForeignAskError::AskedItself`]: crate::ForeignAskError::AskedItself
pub(crate) struct RunningHere;

impl RunningHere {
    pub(crate) fn enter<F: Foreign>(inner: &Arc<GateInner<F>>) -> Self {
        let me = Arc::as_ptr(inner) as usize;
        RUNNING_HERE.with(|r| r.borrow_mut().push(me));
        RunningHere
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        RUNNING_HERE.with(|r| {
            r.borrow_mut().pop();
        });
    }
}

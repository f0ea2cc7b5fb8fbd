//! [`ForeignActor`]: the dynamic actor that runs a language's callbacks.
//!
//! Its task takes each message a gated ref sent from the mailbox and hands it to the actor's
//! mail (`mail.rs`): a queue served in batches by a host thread, which enters the language
//! once per batch, answers askers itself and gives the thread back once the queue is empty.
//! `start`, `stop`, a message sent around the gate and the release of a killed state also
//! run on a host thread, one call each.
//!
//! Host threads are pooled rather than threads of the binding's own, fixed in number: a
//! callback may block (a Python handler asks a Rust actor that asks a Python actor back),
//! and a fixed set of host threads would deadlock there while a pool lends another thread.
//! On a real-time bus they are the runtime's blocking pool. On a virtual-time bus the clock
//! stands still while a callback runs, so time does not jump to the next timer in the middle
//! of a handler and a backtest with foreign actors stays deterministic; and it moves while
//! a callback waits on the bus, so a handler that asks an actor which answers after a timer
//! or a backoff gets its answer at that bus time, and an ask's timeout passes in bus time
//! (`host.rs`). Pool threads are reused: a thousand foreign actors use as many threads as
//! have mail at once.
//!
//! A kill aborts the actor's task, but foreign code cannot be preempted: the callback goes
//! on, on its pool thread, holding the state, and its result is discarded; nothing more of
//! its batch runs. The task is dropped on a worker, which neither waits for the state's lock
//! nor runs foreign code: the release of a state still in the gate goes to the pool, where
//! it waits for the callback and then calls [`Foreign::abandon`]. A restart installs the new
//! state on the pool too, after the old callback, and a `start` that outlives a kill abandons
//! what it made. So the actor counts as stopped at once, no worker is held, and the callbacks
//! are released once the last one has returned (`tests/gate/kills.rs`,
//! `tests/gate/released_callbacks.rs`, `tests/batches.rs`).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mycelium_actors::recording::{Delivery, Source};
use mycelium_actors::{
    Actor, ActorRef, BoxError, Context, Failure, Handler, Phase, Receipt, Reply, StopReason,
};
use tokio::sync::oneshot;

use crate::count::Count;
use crate::gate::{release_later, Claim, ClaimGuard, ForeignGate, Slot};
use crate::host::Lost;
use crate::{DeliverySwitch, Foreign, ForeignAskError, ForeignMessage, ForeignRef};

/// Where the first start reports how it went (taken by it; restarts find it empty).
type FirstStart = Arc<Mutex<Option<oneshot::Sender<Result<(), String>>>>>;

/// What a foreign actor is started with: its callbacks and their arguments. A supervisor
/// keeps it in the child spec and starts every incarnation from a clone, so a restart re-runs
/// [`Foreign::start`] with the same arguments.
pub struct ForeignSpec<F: Foreign> {
    foreign: Arc<F>,
    args: F::Args,
    gate: ForeignGate<F>,
    /// Told how the first start went (taken by it; restarts find it empty).
    first_start: Option<FirstStart>,
}

impl<F: Foreign> ForeignSpec<F> {
    /// Callbacks and their arguments.
    pub fn new(foreign: Arc<F>, args: F::Args) -> Self {
        ForeignSpec {
            gate: ForeignGate::new(foreign.clone()),
            foreign,
            args,
            first_start: None,
        }
    }

    /// The gate of the actor started from this spec (and from its clones): attach it to the
    /// actor's ref with [`ForeignRef::with_gate`] to count its sends and allow direct calls.
    pub fn gate(&self) -> ForeignGate<F> {
        self.gate.clone()
    }

    /// Like [`new`](Self::new), and reports how the first start went to `report`.
    pub(crate) fn reporting(
        foreign: Arc<F>,
        args: F::Args,
        report: oneshot::Sender<Result<(), String>>,
    ) -> Self {
        ForeignSpec {
            first_start: Some(Arc::new(Mutex::new(Some(report)))),
            ..ForeignSpec::new(foreign, args)
        }
    }
}

impl<F: Foreign> Clone for ForeignSpec<F> {
    fn clone(&self) -> Self {
        ForeignSpec {
            foreign: self.foreign.clone(),
            args: self.args.clone(),
            gate: self.gate.clone(),
            first_start: self.first_start.clone(),
        }
    }
}

/// An actor whose state and handlers live in another language. It takes every message as a
/// [`ForeignMessage`] and hands it to [`Foreign::handle`] on the bus runtime's blocking pool,
/// in batches (or, through its [`ForeignGate`], on the thread of a direct caller).
pub struct ForeignActor<F: Foreign> {
    gate: ForeignGate<F>,
    incarnation: u64,
    me: ActorRef<ForeignActor<F>>,
}

/// The reply of a foreign handler: the reply message of an ask, if the handler gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignReply(pub Option<ForeignMessage>);

impl Reply for ForeignReply {}

/// The type name failures of a counted message carry (the runner names it so too).
pub(crate) const CALL_NAME: &str = "ForeignCall";

/// What a gated ref sends: a message counted in the gate's `pending` (by its [`Count`],
/// which counts it off when dropped, handled or not). An ask carries its reply channel, so
/// the callback thread answers the asker itself, and a message that meets a failed state can
/// be queued again whole.
pub(crate) enum ForeignCall {
    /// A tell, and the receipt of a link's delivery, signed once its handler has run.
    Tell(ForeignMessage, Count, Option<Receipt>),
    /// An ask and where its answer goes.
    Ask(
        ForeignMessage,
        oneshot::Sender<Result<ForeignMessage, ForeignAskError>>,
        Count,
    ),
    /// A handler failed (a direct call, or one of a batch): fail the incarnation it failed
    /// in.
    Failed(Count),
    /// A publication of a subscription made through [`ForeignRef::switched`]: handled only
    /// while its switch is open.
    Published(ForeignMessage, Arc<DeliverySwitch>, Count),
    /// A firing of the actor's timer of this number (`timers.rs`).
    Timer(ForeignMessage, Count, u64),
    /// [`ForeignRef::drain_and_stop`](crate::ForeignRef::drain_and_stop): queued behind what
    /// was sent before it, it stops the actor once the host thread reaches it.
    Drain(Count),
}

impl ForeignCall {
    /// Its share of the gate's count.
    fn count(&self) -> &Count {
        match self {
            ForeignCall::Tell(_, count, _)
            | ForeignCall::Ask(_, _, count)
            | ForeignCall::Failed(count)
            | ForeignCall::Drain(count)
            | ForeignCall::Published(_, _, count)
            | ForeignCall::Timer(_, count, _) => count,
        }
    }

    /// The message it carries (none for a failure).
    pub(crate) fn message(&self) -> Option<&ForeignMessage> {
        match self {
            ForeignCall::Tell(m, _, _)
            | ForeignCall::Ask(m, _, _)
            | ForeignCall::Published(m, _, _)
            | ForeignCall::Timer(m, _, _) => Some(m),
            ForeignCall::Failed(_) | ForeignCall::Drain(_) => None,
        }
    }

    /// The message, when a send hands it back (no longer counted).
    pub(crate) fn into_message(self) -> ForeignMessage {
        match self {
            ForeignCall::Tell(m, _, receipt) => {
                // Handed back to its sender, who still holds it.
                if let Some(receipt) = receipt {
                    receipt.forget();
                }
                m
            }
            ForeignCall::Ask(m, _, _)
            | ForeignCall::Published(m, _, _)
            | ForeignCall::Timer(m, _, _) => m,
            ForeignCall::Failed(_) | ForeignCall::Drain(_) => ForeignMessage {
                type_id: 0,
                body: Vec::new(),
            },
        }
    }
}

/// The text of a caught panic payload.
pub(crate) fn panic_text(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a callback panicked with a non-string payload".to_string()
    }
}

/// The failure of a handler that raised (or reported) `reason` on a message of `type_id`:
/// the one its asker is given, the runner records and the supervisor sees, in the words of
/// the actor's language ("raised while handling `Order`: ValueError: ..."), not those of the
/// Rust types that carry the call.
pub(crate) fn handler_failure<F: Foreign>(foreign: &F, type_id: u16, reason: &str) -> Failure {
    Failure::raised(Phase::Message(foreign.message_name(type_id)), reason)
}

/// Runs `f` on a host thread: off the workers that Rust actors need, and (on a virtual-time
/// bus) with the clock held still while it runs (`host.rs`).
async fn on_host<T: Send + 'static>(
    virtual_time: bool,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match crate::host::on_host(virtual_time, f).await {
        Ok(result) => result,
        Err(Lost::Panicked(payload)) => Err(panic_text(payload)),
        Err(Lost::Dropped) => Err(LOST_THREAD.into()),
    }
}

/// Why a callback gave no result when the runtime went down under it.
const LOST_THREAD: &str = "the callback thread was lost: the bus runtime is shutting down";

/// Fails the current handler with `failure` the way a Rust panic does (the runner catches
/// it: dead letter, `AskError::Failed` for an asker, the supervisor's restart), and the
/// runner takes `failure` as it is. `resume_unwind` skips the panic hook: a foreign exception
/// is reported through the failure, not printed twice.
fn fail(failure: Failure) -> ! {
    std::panic::resume_unwind(Box::new(failure))
}

/// Runs the handler on `msg` with the state of `incarnation`, holding the state's lock (it
/// waits while a direct call runs). `Err` is the failure that ends the incarnation.
fn run_handler<F: Foreign>(
    gate: &ForeignGate<F>,
    actor: mycelium_actors::ActorId,
    incarnation: u64,
    (msg, source): (ForeignMessage, Source),
) -> Result<Result<Option<ForeignMessage>, Failure>, Stale> {
    let mut slot = gate.lock();
    match &mut *slot {
        Slot::Running {
            incarnation: n,
            state,
        } if *n == incarnation => {
            let type_id = msg.type_id;
            // Sent around the gate, as an ask (its reply is the runner's to give).
            let result = catch_unwind(AssertUnwindSafe(|| {
                gate.handle(actor, state, msg, Delivery::Ask, source)
            }))
            .unwrap_or_else(|payload| Err(panic_text(payload)))
            .map_err(|reason| handler_failure(&*gate.inner.foreign, type_id, &reason));
            if let Err(failure) = &result {
                // No direct call may use a state whose incarnation is ending.
                mark_failed(&mut slot, failure.clone());
            }
            Ok(result)
        }
        Slot::Failed {
            incarnation: n,
            failure,
            ..
        } if *n == incarnation => Err(Stale::Failed(failure.clone())),
        _ => Err(Stale::Lost),
    }
}

pub(crate) fn mark_failed<S>(slot: &mut Slot<S>, failure: Failure) {
    let taken = std::mem::replace(slot, Slot::Empty);
    *slot = match taken {
        Slot::Running { incarnation, state }
        | Slot::Failed {
            incarnation, state, ..
        } => Slot::Failed {
            incarnation,
            state,
            failure,
        },
        Slot::Empty => Slot::Empty,
    };
}

/// Sets its flag when dropped: by a kill, when the future that holds it is dropped unfinished.
struct KilledIfDropped(Arc<AtomicBool>);

impl Drop for KilledIfDropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Why a handler did not run.
enum Stale {
    /// A direct call failed this incarnation (its failure); the message was not handled.
    Failed(Failure),
    /// The state is gone (a callback thread was lost).
    Lost,
}

impl<F: Foreign> Actor for ForeignActor<F> {
    type Args = ForeignSpec<F>;

    async fn on_start(spec: ForeignSpec<F>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let me = ctx.actor_ref().clone();
        // Spawned anew (after a kill), the actor has a new mailbox: what was counted for the
        // old one is in the dead letters.
        spec.gate.inner.counts.write_off_all_but(me.id());
        // Reachable through its gate from here on: a service exported before its tree started
        // finds it, so a later child's start can reach it by name.
        spec.gate.inner.starts(&me);
        let gated = ForeignRef::new(me.clone()).with_gate(spec.gate.clone());
        let report = spec
            .first_start
            .as_ref()
            .and_then(|r| r.lock().unwrap_or_else(|e| e.into_inner()).take());
        let gate = spec.gate.clone();
        let virtual_time = ctx.bus().clock().is_virtual();
        let _ = gate.inner.clock.set(ctx.bus().clock().clone());
        // The timers `start` sets are this incarnation's.
        gate.inner.timers.begin(ctx.bus().runtime());
        // Installed before the spawner hears of the start (its first ask may go direct), on
        // the pool: installing waits for the state's lock, which a callback of a killed
        // incarnation may still hold, and abandons a state left there. A kill while the start
        // runs drops `claimed`: the start, which goes on, then abandons what it made.
        let claim = Arc::new(Claim::default());
        let mut claimed = ClaimGuard {
            claim: claim.clone(),
            gate: gate.clone(),
            armed: true,
        };
        let installing = gate.clone();
        // What `start` sends comes from this actor, as what a handler sends does, and is
        // recorded as the actor's.
        let sender = mycelium_actors::recording::Source::Actor(me.id());
        let (id, clock) = (me.id(), ctx.bus().clock().clone());
        let started = on_host(virtual_time, move || {
            let direct = !virtual_time;
            installing.start_and_install(
                || {
                    mycelium_actors::recording::sending_as_now(sender, || {
                        let start = || spec.foreign.start(&spec.args, &gated);
                        match installing.inner.recording.get() {
                            Some(recording) => {
                                recording.start(&installing.inner.foreign, id, &clock, start)
                            }
                            None => start(),
                        }
                    })
                },
                direct,
                &claim,
            )
        })
        .await;
        // No await from here on: the actor value owns the state before a kill can come.
        claimed.armed = false;
        if let Some(report) = report {
            let _ = report.send(started.as_ref().map(|_| ()).map_err(|e| e.clone()));
        }
        if let Some(recording) = gate.inner.recording.get() {
            let clock = ctx.bus().clock();
            match &started {
                Ok(_) => recording.started(me.id(), clock),
                Err(reason) => recording.failed(me.id(), clock, reason),
            }
        }
        let incarnation = started.inspect_err(|_| gate.inner.timers.end())?;
        gate.inner.timers.started();
        crate::mail::Mail::open(&gate, me.clone(), incarnation, ctx.bus());
        Ok(ForeignActor {
            gate,
            incarnation,
            me,
        })
    }

    async fn on_stop(&mut self, ctx: &mut Context<Self>, reason: &StopReason) {
        let gate = self.gate.clone();
        let incarnation = self.incarnation;
        let me = self.me.clone();
        if let Some(recording) = gate.inner.recording.get() {
            recording.stopped(me.id(), ctx.bus().clock(), &reason.to_string());
        }
        let reason = reason.clone();
        // Nothing more of the queue runs, and no timer of the incarnation fires.
        gate.inner.mail.close();
        gate.inner.timers.end();
        // On the pool: taking the state waits for a direct call or a batch that is running,
        // which must not hold a worker. A failing stop callback changes nothing: the
        // incarnation is over either way. What waits in the queue then goes back into the
        // mailbox, for the next incarnation or the dead letters.
        // A kill while this waits for a running handler: the state is abandoned, as any
        // killed state, not stopped.
        let killed = Arc::new(AtomicBool::new(false));
        let _kill = KilledIfDropped(killed.clone());
        // What `stop` sends comes from this actor, as what a handler sends does.
        let sender = mycelium_actors::recording::Source::Actor(me.id());
        let _ = on_host(ctx.bus().clock().is_virtual(), move || {
            if let Some(state) = gate.take(incarnation) {
                if killed.load(Ordering::Acquire) {
                    gate.inner.foreign.abandon(state);
                } else {
                    mycelium_actors::recording::sending_as_now(sender, || {
                        gate.inner.foreign.stop(state, &reason)
                    });
                }
            }
            gate.inner.mail.requeue(&me, &gate.inner.foreign);
            Ok(())
        })
        .await;
    }

    fn type_name() -> &'static str {
        "ForeignActor"
    }

    fn label(&self) -> &'static str {
        self.gate.inner.foreign.label()
    }

    fn letter_names(message: &(dyn Any + Send)) -> Option<(&'static str, &'static str)> {
        let call = message.downcast_ref::<ForeignCall>()?;
        let type_id = call.message()?.type_id;
        call.count().names(type_id)
    }

    /// A drain still queued when the actor stopped stopped nothing: no letter of its own.
    fn unreported(message: &(dyn Any + Send)) -> bool {
        matches!(
            message.downcast_ref::<ForeignCall>(),
            Some(ForeignCall::Drain(_))
        )
    }
}

impl<F: Foreign> Handler<ForeignMessage> for ForeignActor<F> {
    type Reply = ForeignReply;

    /// A message sent around the gate (a typed ref used without its gate, or a ref whose
    /// gate went with the actor) runs alone on the pool, not through the host queue: its
    /// reply is the runner's to give, so the task waits for each such handler before it takes
    /// the next message and there is nothing to batch; and a task waiting on the queue
    /// would never see a stop that closed the queue before the message ran.
    async fn handle(&mut self, msg: ForeignMessage, ctx: &mut Context<Self>) -> ForeignReply {
        // What the task queued before this message goes to its server first.
        crate::mail::serve_queued(&self.gate);
        let gate = self.gate.clone();
        let incarnation = self.incarnation;
        let actor = self.me.id();
        let source = ctx.source();
        let type_id = msg.type_id;
        let joined = crate::host::on_host(ctx.bus().clock().is_virtual(), move || {
            run_handler(&gate, actor, incarnation, (msg, source))
        })
        .await;
        let lost = |reason: String| {
            Failure::from_error(
                Phase::Message(self.gate.inner.foreign.message_name(type_id)),
                reason,
            )
        };
        match joined {
            Ok(Ok(Ok(reply))) => ForeignReply(reply),
            Ok(Ok(Err(failure))) => fail(failure),
            // A message sent around the gate cannot be queued again as it came (its reply
            // channel is the runner's): it fails with the failure of the direct call.
            Ok(Err(Stale::Failed(failure))) => fail(failure),
            Ok(Err(Stale::Lost)) => fail(lost(
                "the actor's state was lost with a callback thread; it must restart".into(),
            )),
            Err(Lost::Panicked(payload)) => fail(lost(format!(
                "the callback thread was lost: {}",
                panic_text(payload)
            ))),
            Err(Lost::Dropped) => fail(lost(LOST_THREAD.into())),
        }
    }
}

impl<F: Foreign> Handler<ForeignCall> for ForeignActor<F> {
    type Reply = ();

    async fn handle(&mut self, call: ForeignCall, ctx: &mut Context<Self>) {
        let ForeignCall::Failed(count) = call else {
            // A set's replay may have the actor wait before it begins the message (the queue's
            // length is asked, under its lock, of a recorded actor only). A drain is no input.
            let turn = match call {
                ForeignCall::Drain(_) => None,
                _ => self
                    .gate
                    .recording()
                    .and_then(|r| r.input_turn(self.me.id(), self.gate.queued())),
            };
            if let Some(turn) = turn {
                // What the task queued before this message is not held back by its wait.
                crate::mail::serve_queued(&self.gate);
                turn.await;
            }
            // Served in batches on the blocking pool, which answers the asker (see `mail.rs`).
            let more = ctx.has_more();
            crate::mail::hand_over(&self.gate, self.me.id(), call, ctx.source(), more).await;
            return;
        };
        drop(count);
        let failed = match &*self.gate.lock() {
            Slot::Failed {
                incarnation: n,
                failure,
                ..
            } if *n == self.incarnation => Some(failure.clone()),
            _ => None,
        };
        // Otherwise a message before this marker already ended that incarnation.
        if let Some(failure) = failed {
            fail(failure);
        }
        // Jobs queued just before this marker, in the belief that more mail would follow
        // them, are served from here (a failing incarnation's go back to the mailbox).
        crate::mail::serve_queued(&self.gate);
    }
}

impl<F: Foreign> Drop for ForeignActor<F> {
    /// Reached with the state still in the gate only when the task was killed (a shutdown's
    /// deadline, the runtime's end): `on_stop` has taken it otherwise. The kill drops the task
    /// on a runtime worker, which must neither wait for the state's lock (a callback the kill
    /// could not stop holds it until it returns) nor run `abandon` (foreign code never runs
    /// on a worker): both go to the blocking pool.
    fn drop(&mut self) {
        if self
            .gate
            .try_lock()
            .is_some_and(|slot| !slot.holds(self.incarnation))
        {
            return;
        }
        // No batch starts for the killed incarnation, and none of its timers fires; its
        // release makes dead letters of what it had queued.
        self.gate.inner.mail.close_for(self.incarnation);
        self.gate.inner.timers.end();
        release_later(self.gate.clone(), self.incarnation, Some(self.me.id()));
    }
}

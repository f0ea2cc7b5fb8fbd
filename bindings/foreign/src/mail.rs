//! [`Mail`]: a foreign actor's mail, served in batches on a host thread.
//!
//! The actor's task takes each message a gated ref sent from its mailbox (on a runtime
//! worker, which costs a few hundred nanoseconds) and hands it to the actor's [`Mail`]: a
//! queue served by one host thread at a time (of the runtime's blocking pool; on virtual
//! time, of the host pool: `host.rs`). That thread takes what is queued as a batch, holds
//! the state's lock once and enters the language once ([`Foreign::run_batch`]: the GIL, the
//! OCaml runtime lock), runs the handlers one by one in order, answers each asker from
//! there, and goes back for more. Once the queue is empty it
//! gives its thread back to the pool (after a spin of `MYCELIUM_HOST_SPIN_US` microseconds on
//! a real-time bus, none by default: see [`SPIN`]); the next message starts a server again. A
//! hand-off between the two CPUs costs tens of microseconds when the receiver has parked: a
//! stream of messages pays it once per batch, not once per message. While the task has more
//! mail behind the message it queues (`Context::has_more`), it starts no server: it starts
//! one with the last message of what its mailbox held, or once a [`BATCH`] is queued, so a
//! server woken for a burst takes the burst as one batch rather than its first message.
//!
//! The queue is the front of the mailbox, and keeps its guarantees:
//! - Order: one server at a time, jobs in the order the task queued them.
//! - Bounded: the task waits for room while [`QUEUE_ROOM`] jobs are queued and the server serves,
//!   so a full queue fills the mailbox and senders meet its bound.
//! - Failure: a failing handler marks the state failed and queues the marker that fails the
//!   task (dead letter, supervisor's restart, as for a direct call); the server stops, and
//!   the rest of the batch goes back to the front of the queue, for the restarted
//!   incarnation, in order. Jobs wait in the queue while the actor restarts.
//! - Stop: [`ForeignRef::stop`](crate::ForeignRef::stop) and `on_stop` close the queue
//!   before the state is taken: the handler that runs finishes, nothing more starts. Once
//!   `on_stop` has the state, what is queued goes back into the mailbox, ahead of what waits
//!   there and in order: the next incarnation takes it first, and if the actor stops for
//!   good the runner makes dead letters of it with the rest of the mailbox.
//! - Kill: the server looks at the mailbox (and the queue) before each message; once it is
//!   closed it runs nothing more. A handler already running cannot be preempted: it
//!   finishes on its thread; the release of the state then makes dead letters of what was
//!   queued.
//! - Virtual time: the server runs in turns with the bus's runtime (`host.rs`): from its
//!   start to its end the runtime waits, so the clock stands still and no actor of the bus
//!   runs; it never spins. Time moves only when no foreign handler has work, or while a
//!   handler waits on the bus (an ask). A message queued with no server running has mail
//!   behind it that the task takes next without waiting, so the runtime has work until the
//!   server starts: the clock cannot move in between. When the task takes something else
//!   instead (a failure marker that ends nothing, a message sent around the gate) it starts
//!   the server for what it queued; a stop, a restart or a kill ends the incarnation, and
//!   what is queued goes back to the mailbox or to the dead letters as above.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mycelium_actors::recording::{Delivery, Source};
use mycelium_actors::{ActorId, ActorRef, Bus, DeadLetter, DeadLetterReason, Failure, StopReason};
use tokio::sync::{oneshot, Notify};

use crate::actor::{handler_failure, mark_failed, panic_text, ForeignCall, CALL_NAME};
use crate::gate::{ForeignGate, Slot};
use crate::{DeliverySwitch, Foreign, ForeignActor, ForeignAskError, ForeignMessage};

/// How many messages a foreign actor's task takes from its mailbox ahead of its host thread:
/// a sender meets a full mailbox once the mailbox and this queue are full.
pub const QUEUE_ROOM: usize = 1024;

/// The most jobs one batch takes (a batch holds the state's lock and the language's lock).
const BATCH: usize = 256;

/// How long a server on a real-time bus looks for more work before it gives its thread back,
/// unless `MYCELIUM_HOST_SPIN_US` says otherwise: none. On two vCPUs a spinning server takes
/// the CPU the publisher and the actor's task need, so batches shrink and throughput falls
/// (a Rust publisher to a Python subscriber: 316,000-429,000 messages a second without a
/// spin, 91,000-211,000 with 50 µs, four paired runs), while the latency of an ask from a
/// Rust actor did not move (its cost is the wake of the asker: docs/perf/python.md). On a
/// machine with cores to spare a spin saves the wake of the next batch.
const SPIN: Duration = Duration::ZERO;

/// The spin, read once per process.
fn spin() -> Duration {
    static SPIN_FOR: OnceLock<Duration> = OnceLock::new();
    *SPIN_FOR.get_or_init(|| {
        std::env::var("MYCELIUM_HOST_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(SPIN, Duration::from_micros)
    })
}

/// One message the task handed over, with the actor (by id) whose mailbox it came from.
struct Job {
    call: ForeignCall,
    actor: ActorId,
    /// Where the message came from, for a recorded actor's journal.
    source: Source,
}

struct Queue<F: Foreign> {
    jobs: VecDeque<Job>,
    /// A server is running (or spinning) on the pool.
    serving: bool,
    /// The running incarnation's actor and number, while the queue is open.
    current: Option<(ActorRef<ForeignActor<F>>, u64)>,
    /// The bus, for the dead letters (known from the first start).
    bus: Option<Bus>,
    /// No spinning, and the server runs in turns with the bus (`host.rs`).
    virtual_time: bool,
}

/// A foreign actor's queue of messages taken from its mailbox and not yet handled, and the
/// server that handles them (see the module doc).
pub(crate) struct Mail<F: Foreign> {
    queue: Mutex<Queue<F>>,
    /// Mirrors `current.is_some()`, read by the server between messages.
    open: AtomicBool,
    /// Signalled when room is made or the queue is closed.
    room: Notify,
}

impl<F: Foreign> Default for Mail<F> {
    fn default() -> Self {
        Mail {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                serving: false,
                current: None,
                bus: None,
                virtual_time: false,
            }),
            open: AtomicBool::new(false),
            room: Notify::new(),
        }
    }
}

impl<F: Foreign> Mail<F> {
    fn lock(&self) -> MutexGuard<'_, Queue<F>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages queued here (taken from the mailbox, not yet handled).
    pub(crate) fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Opens the queue for `incarnation` of `actor` (a start) and serves what waits.
    pub(crate) fn open(
        gate: &ForeignGate<F>,
        actor: ActorRef<ForeignActor<F>>,
        incarnation: u64,
        bus: &Bus,
    ) {
        let mail = &gate.inner.mail;
        let mut q = mail.lock();
        q.virtual_time = bus.clock().is_virtual();
        q.bus.get_or_insert_with(|| bus.clone());
        q.current = Some((actor, incarnation));
        mail.open.store(true, Ordering::Release);
        start_server(gate, &mut q);
    }

    /// Closes the queue: the handler that runs finishes, no other starts until the next
    /// [`open`](Self::open). What is queued stays.
    pub(crate) fn close(&self) {
        self.lock().current = None;
        self.open.store(false, Ordering::Release);
        self.room.notify_waiters();
    }

    /// Puts the jobs of `actor` back into its mailbox, ahead of what waits there, in order:
    /// its incarnation has ended, and the mailbox is where they wait for the next one (or,
    /// if there is none, become dead letters with what else is left there). A job the
    /// mailbox refuses (closed) becomes a dead letter here.
    pub(crate) fn requeue(&self, actor: &ActorRef<ForeignActor<F>>, foreign: &F) {
        let (mine, bus) = {
            let mut q = self.lock();
            let (mine, kept): (VecDeque<Job>, VecDeque<Job>) =
                q.jobs.drain(..).partition(|j| j.actor == actor.id());
            q.jobs = kept;
            (mine, q.bus.clone())
        };
        self.room.notify_waiters();
        let mut refused = Vec::new();
        for job in mine {
            // Queued again as from its first sender.
            let source = job.source;
            let told = mycelium_actors::recording::sending_as_now(source, || {
                actor.tell_priority(job.call)
            });
            if let Err(e) = told {
                refused.push(Job {
                    call: e.0,
                    actor: job.actor,
                    source,
                });
            }
        }
        if let (false, Some(bus)) = (refused.is_empty(), bus) {
            let reason = actor.stop_reason().unwrap_or(StopReason::Killed);
            dead_letters(&bus, foreign, refused, &reason);
        }
    }

    /// Dead letters for the jobs of `actor`, which has stopped for good with `reason`.
    pub(crate) fn stopped(&self, actor: ActorId, reason: &StopReason, foreign: &F) {
        let (gone, bus) = {
            let mut q = self.lock();
            let (gone, kept): (VecDeque<Job>, VecDeque<Job>) =
                q.jobs.drain(..).partition(|j| j.actor == actor);
            q.jobs = kept;
            (gone, q.bus.clone())
        };
        self.room.notify_waiters();
        if let Some(bus) = bus {
            dead_letters(&bus, foreign, gone, reason);
        }
    }
}

/// Posts `jobs` to the dead letters, named as `foreign` names its actors and messages: their
/// actor stopped for good with `reason` before they were handled (an ask's asker hears of the
/// stop from the actor).
fn dead_letters<F: Foreign>(
    bus: &Bus,
    foreign: &F,
    jobs: impl IntoIterator<Item = Job>,
    reason: &StopReason,
) {
    // A drain that never ran stopped nothing: no letter of its own.
    let jobs = jobs
        .into_iter()
        .filter(|job| !matches!(job.call, ForeignCall::Drain(_)));
    bus.dead_letters().post_all(jobs.map(|job| {
        DeadLetter {
            actor: job.actor,
            actor_type: foreign.label(),
            message_type: job
                .call
                .message()
                .map_or(CALL_NAME, |m| foreign.message_name(m.type_id)),
            reason: DeadLetterReason::ActorStopped(reason.clone()),
            message: Some(Box::new(job.call)),
        }
    }));
}

/// Queues `call` (taken from the mailbox of `actor`) and makes sure a server runs, unless
/// `more` says the task has more mail to queue right after this (`Context::has_more`) and
/// fewer than a [`BATCH`] are queued: the server then starts with the last of them, and
/// takes them as one batch. Waits while the queue is full and served: a full queue fills
/// the mailbox.
pub(crate) async fn hand_over<F: Foreign>(
    gate: &ForeignGate<F>,
    actor: ActorId,
    call: ForeignCall,
    source: Source,
    more: bool,
) {
    let mail = &gate.inner.mail;
    loop {
        let room = mail.room.notified();
        {
            let mut q = mail.lock();
            // While closed (a failure waits for its restart) nothing is handled, so waiting
            // for room would wait for the restart the task itself must make.
            if q.jobs.len() < QUEUE_ROOM || q.current.is_none() {
                q.jobs.push_back(Job {
                    call,
                    actor,
                    source,
                });
                if !more || q.jobs.len() >= BATCH {
                    start_server(gate, &mut q);
                }
                return;
            }
            // Full: what is queued is served before there is room (a no-op while a server
            // runs, which it does once a batch's worth is queued).
            start_server(gate, &mut q);
        }
        room.await;
    }
}

/// Makes sure a server runs if jobs are queued: the task, which queued them expecting more
/// mail, took something else instead (a failure marker of an ended incarnation, a message
/// sent around the gate).
pub(crate) fn serve_queued<F: Foreign>(gate: &ForeignGate<F>) {
    start_server(gate, &mut gate.inner.mail.lock());
}

/// Starts a server on a host thread if the queue is open, has work and none runs.
fn start_server<F: Foreign>(gate: &ForeignGate<F>, q: &mut Queue<F>) {
    if q.serving || q.current.is_none() || q.jobs.is_empty() {
        return;
    }
    let server = gate.clone();
    // Out of a runtime's context the runtime has ended: the jobs go with the gate.
    q.serving = crate::host::spawn_on_host(q.virtual_time, move || serve(&server));
}

/// The server: batches until the queue is empty (then a short spin on real time) or closed.
fn serve<F: Foreign>(gate: &ForeignGate<F>) {
    let mail = &gate.inner.mail;
    let mut spun_since: Option<Instant> = None;
    loop {
        let (batch, current, stale) = {
            let mut q = mail.lock();
            let Some((actor, incarnation)) = q.current.clone() else {
                q.serving = false;
                return;
            };
            // Jobs left by an actor killed before this one (a respawned child): dead letters.
            let mut stale = Vec::new();
            while q.jobs.front().is_some_and(|j| j.actor != actor.id()) {
                stale.extend(q.jobs.pop_front());
            }
            if q.jobs.is_empty() && stale.is_empty() {
                let spin = !q.virtual_time
                    && spun_since.get_or_insert_with(Instant::now).elapsed() < spin();
                if !spin {
                    q.serving = false;
                    return;
                }
                drop(q);
                std::thread::yield_now();
                continue;
            }
            let n = q
                .jobs
                .iter()
                .take(BATCH)
                .take_while(|j| j.actor == actor.id())
                .count();
            let batch: VecDeque<Job> = q.jobs.drain(..n).collect();
            (batch, (actor, incarnation), (stale, q.bus.clone()))
        };
        spun_since = None;
        mail.room.notify_waiters();
        if let (stale, Some(bus)) = stale {
            if !stale.is_empty() {
                dead_letters(&bus, &*gate.inner.foreign, stale, &StopReason::Killed);
            }
        }
        let (actor, incarnation) = current;
        run_batch(gate, &actor, incarnation, batch);
    }
}

/// Runs `batch` with the state of `incarnation`, holding its lock and the language's once.
/// The jobs not run (the queue closed, the mailbox closed, a handler failed) go back to the
/// front of the queue before the state's lock is let go: whoever takes the state next (the
/// end of the incarnation, a release after a kill) finds them there.
fn run_batch<F: Foreign>(
    gate: &ForeignGate<F>,
    actor: &ActorRef<ForeignActor<F>>,
    incarnation: u64,
    mut batch: VecDeque<Job>,
) {
    let inner = &gate.inner;
    let put_back = |batch: VecDeque<Job>| {
        if !batch.is_empty() {
            let mut q = inner.mail.lock();
            for job in batch.into_iter().rev() {
                q.jobs.push_front(job);
            }
        }
    };
    let mut slot = gate.lock();
    if !matches!(&*slot, Slot::Running { incarnation: n, .. } if *n == incarnation) {
        // Ended meanwhile (a failed direct call, a stop): the next start serves them.
        inner.mail.close_for(incarnation);
        put_back(batch);
        return;
    }
    let mut failed = None;
    let mut killed = false;
    // The answer to the batch's last message waits until the state's lock is let go (and the
    // language's): an asker that has it finds the actor idle, free for a direct call.
    let mut last_answer = None;
    inner.foreign.run_batch(&mut || {
        while !batch.is_empty() {
            if !inner.mail.open.load(Ordering::Acquire) {
                return;
            }
            if actor.is_closed() {
                killed = true;
                return;
            }
            let (Some(job), Slot::Running { state, .. }) = (batch.pop_front(), &mut *slot) else {
                return;
            };
            if let ForeignCall::Drain(_) = job.call {
                // Everything sent before it has run: the actor stops normally, and what came
                // after it goes to the dead letters as after any stop (the queue closes now,
                // so none of it runs before the stop takes effect).
                actor.stop();
                inner.mail.close_for(incarnation);
                return;
            }
            let (failure, answer) = run_job(gate, state, job);
            if let Some(answer) = answer {
                if batch.is_empty() || failure.is_some() {
                    last_answer = Some(answer);
                } else {
                    answer.send();
                }
            }
            if let Some(failure) = failure {
                failed = Some(failure);
                return;
            }
        }
    });
    if killed {
        // Nothing more runs for this actor: the release of its state makes dead letters of
        // what it had queued.
        inner.mail.close_for(incarnation);
        put_back(batch);
        drop(slot);
    } else if let Some(failure) = failed {
        // No direct call may use a state whose incarnation is ending, and no batch.
        mark_failed(&mut slot, failure);
        inner.mail.close_for(incarnation);
        put_back(batch);
        drop(slot);
        // Counted until the task has failed (counted before the asker hears of the failure);
        // refused (the actor is ending), it is dropped.
        let marker = ForeignCall::Failed(inner.counts.count(actor.id()));
        // The asker hears of the failure before the marker can stop the actor: an
        // unsupervised actor's stop would otherwise race the answer, and the asker could
        // hear `Stopped` instead of the failure.
        if let Some(answer) = last_answer.take() {
            answer.send();
        }
        let _ = actor.tell_priority(marker);
    } else {
        put_back(batch);
        // A stop asked for meanwhile (by the handler itself, say) closed the queue: the
        // actor may end as soon as the state's lock is let go, and its asker must hear the
        // answer before the stop, or it takes the stop for the answer.
        if !inner.mail.open.load(Ordering::Acquire) {
            if let Some(answer) = last_answer.take() {
                answer.send();
            }
        }
        drop(slot);
    }
    if let Some(answer) = last_answer {
        answer.send();
    }
}

/// An asker's answer, sent from the host thread.
struct Answer {
    reply: oneshot::Sender<Result<ForeignMessage, ForeignAskError>>,
    answer: Result<ForeignMessage, ForeignAskError>,
}

impl Answer {
    fn send(self) {
        let _ = self.reply.send(self.answer);
    }
}

/// Runs one job's handler: its failure if it failed, and the answer for its asker.
/// The job's count goes before the answer (an asker that has its reply finds the actor idle)
/// and its receipt is signed once the handler has returned.
fn run_job<F: Foreign>(
    gate: &ForeignGate<F>,
    state: &mut F::State,
    job: Job,
) -> (Option<Failure>, Option<Answer>) {
    let actor = job.actor;
    let mut delivery = Delivery::Tell;
    let (msg, reply, count, switch, receipt) = match job.call {
        ForeignCall::Tell(msg, count, receipt) => (msg, None, count, None, receipt),
        ForeignCall::Ask(msg, reply, count) => {
            delivery = Delivery::Ask;
            (msg, Some(reply), count, None, None)
        }
        ForeignCall::Published(msg, switch, count) => (msg, None, count, Some(switch), None),
        ForeignCall::Timer(msg, count, timer) => {
            delivery = Delivery::Timer { timer };
            (msg, None, count, None, None)
        }
        // Failure markers never reach the queue; a drain is taken by the batch's loop.
        ForeignCall::Failed(_) | ForeignCall::Drain(_) => return (None, None),
    };
    // Looked at under the actor's own handling: once the switch is closed nothing more of
    // its subscription reaches the handler, even what is already queued.
    let delivering = match switch.as_deref().map(DeliverySwitch::enter) {
        Some(None) => return (None, None),
        entered => entered.flatten(),
    };
    let type_id = msg.type_id;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gate.handle(actor, state, msg, delivery, job.source)
    }))
    .unwrap_or_else(|payload| Err(panic_text(payload)));
    drop(delivering);
    drop(receipt);
    drop(count);
    let (failure, answer) = match result {
        Ok(answer) => (None, answer.ok_or(ForeignAskError::NoReply { type_id })),
        Err(reason) => {
            let failure = handler_failure(&*gate.inner.foreign, type_id, &reason);
            let failed = Err(ForeignAskError::Failed {
                failure: failure.clone(),
            });
            (Some(failure), failed)
        }
    };
    (failure, reply.map(|reply| Answer { reply, answer }))
}

impl<F: Foreign> Mail<F> {
    /// Closes the queue if it is still open for `incarnation`.
    pub(crate) fn close_for(&self, incarnation: u64) {
        let mut q = self.lock();
        if q.current.as_ref().is_some_and(|(_, n)| *n == incarnation) {
            q.current = None;
            self.open.store(false, Ordering::Release);
        }
        drop(q);
        self.room.notify_waiters();
    }
}

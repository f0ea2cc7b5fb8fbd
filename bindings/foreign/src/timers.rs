//! A foreign actor's timers: [`ForeignRef::send_after`] and [`ForeignRef::send_interval`].
//!
//! They are a Rust actor's timers ([`mycelium_actors::Context::send_after`]) for an actor
//! whose handlers run on a host thread, which has no `Context`: each is a task on the bus
//! runtime that sleeps on the bus clock (virtual time included) and tells the actor its
//! message through the mailbox, in order with everything else it gets. They belong to the
//! incarnation that set them: its end (a stop, a failure and restart, a kill) cancels them,
//! as it does a Rust actor's. They are numbered from 0 in each incarnation in the order they
//! are set, and a recorded actor's firings are recorded as a Rust actor's are (a `timer-fired`
//! record, and its message handled with origin `timer N`), through the same [`Recorder`]
//! hooks, so a replay of a set regenerates them at their recorded times.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::recording::Recorder;
use mycelium_actors::{ActorId, ActorRef, Clock};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::actor::{ForeignActor, ForeignCall};
use crate::count::Counts;
use crate::{Foreign, ForeignMessage};

/// A timer a foreign actor set. Dropping it does not cancel it: [`cancel`](Self::cancel)
/// does, and so does the end of the incarnation that set it.
#[derive(Clone, Debug)]
pub struct ForeignTimer {
    number: u64,
    state: Arc<TimerState>,
}

/// What a timer's handle and its book share.
#[derive(Debug, Default)]
struct TimerState {
    /// Set by `cancel`, by the end of its incarnation, and for a timer that sends nothing.
    ended: AtomicBool,
    /// Its task, once spawned.
    task: Mutex<Option<AbortHandle>>,
}

impl TimerState {
    fn task(&self) -> std::sync::MutexGuard<'_, Option<AbortHandle>> {
        self.task.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        if let Some(task) = &*self.task() {
            task.abort();
        }
    }
}

impl ForeignTimer {
    /// Its number: from 0 in each incarnation, in the order the actor set its timers (the
    /// `timer N` of its firings in a journal).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Stops it: a firing not yet sent is not sent (one already in the mailbox is handled).
    pub fn cancel(&self) {
        self.state.end();
    }

    /// True until it has sent its last message (a one-shot timer), or is cancelled.
    pub fn is_active(&self) -> bool {
        !self.state.ended.load(Ordering::Relaxed)
            && self.state.task().as_ref().is_none_or(|t| !t.is_finished())
    }
}

/// Why a timer could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// The ref is not the actor's own (it has no gate), or the actor is not running.
    #[error("timers are set by a running actor on its own ref (the one it was started with)")]
    NotRunning,
    /// A period under the clock's tick.
    #[error(
        "a timer's period is 1 ms or more (the bus clock's timers tick in milliseconds), got {0:?}"
    )]
    PeriodTooShort(Duration),
}

/// The shortest period: tokio's timers, the bus clock's, tick in milliseconds, so a shorter
/// period would skip deadlines without saying so.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

/// A timer's task, made before its incarnation's start is over and spawned then.
type Pending = (
    std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    Arc<TimerState>,
);

/// The timers of the incarnation running now (see the module's doc).
#[derive(Default)]
pub(crate) struct TimerBook {
    inner: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    /// Where the tasks run, known from the first start.
    runtime: Option<Handle>,
    /// The number of the next timer set.
    next: u64,
    /// The timers set, for the incarnation's end to cancel (those ended are let go whenever
    /// the list has doubled).
    timers: Vec<Arc<TimerState>>,
    kept: usize,
    /// False between an incarnation's end and the next start: no timer is set then.
    open: bool,
    /// The tasks of the timers set by the incarnation's `start`, spawned in order once the
    /// start is over (and recorded), from the runtime's own thread: none fires (nor asks a
    /// replay's recorder for its time) before, and their order is that of their setting.
    /// `None` once the start is over.
    starting: Option<Vec<Pending>>,
}

impl TimerBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An incarnation starts on `runtime`: its timers count from 0.
    pub(crate) fn begin(&self, runtime: &Handle) {
        let mut book = self.lock();
        for timer in book.timers.drain(..) {
            timer.end();
        }
        book.runtime = Some(runtime.clone());
        book.next = 0;
        book.kept = 0;
        book.open = true;
        book.starting = Some(Vec::new());
    }

    /// The incarnation's start is over (and recorded): the timers it set begin.
    pub(crate) fn started(&self) {
        let mut book = self.lock();
        let (Some(pending), Some(runtime)) = (book.starting.take(), book.runtime.clone()) else {
            return;
        };
        for (task, state) in pending {
            if !state.ended.load(Ordering::Relaxed) {
                *state.task() = Some(runtime.spawn(task).abort_handle());
            }
        }
    }

    /// The incarnation ends: every timer it set is cancelled.
    pub(crate) fn end(&self) {
        let mut book = self.lock();
        book.open = false;
        book.starting = None;
        for timer in book.timers.drain(..) {
            timer.end();
        }
    }
}

/// What a timer needs to fire: the actor, and how it counts and records.
pub(crate) struct Target<F: Foreign> {
    pub(crate) actor: ActorRef<ForeignActor<F>>,
    pub(crate) counts: Arc<Counts>,
    pub(crate) clock: Clock,
    /// The recorder of a recorded actor, and the message's type name; `None` otherwise.
    pub(crate) record: Option<(Arc<dyn Recorder>, &'static str)>,
    /// A single actor's replay feeds the recorded firings: the timer then sends nothing.
    pub(crate) fed: bool,
    /// The actor's callbacks, told of each firing ([`Foreign::timer_firing`]).
    pub(crate) foreign: Arc<F>,
}

/// A firing on its way to the mailbox: unless [`queued`](Self::queued), its drop (the tell
/// failed, or the timer's task was aborted while it waited for room) tells the callbacks it
/// was not queued.
struct Firing<'a, F: Foreign> {
    foreign: &'a F,
    msg: &'a ForeignMessage,
    queued: bool,
}

impl<'a, F: Foreign> Firing<'a, F> {
    fn new(foreign: &'a F, msg: &'a ForeignMessage) -> Self {
        foreign.timer_firing(msg, true);
        Firing {
            foreign,
            msg,
            queued: false,
        }
    }
}

impl<F: Foreign> Drop for Firing<'_, F> {
    fn drop(&mut self) {
        if !self.queued {
            self.foreign.timer_firing(self.msg, false);
        }
    }
}

/// Sets a timer that tells `target` `msg` after `delay`, and then every `every` if given.
pub(crate) fn set<F: Foreign>(
    book: &TimerBook,
    target: Target<F>,
    msg: ForeignMessage,
    delay: Duration,
    every: Option<Duration>,
) -> Result<ForeignTimer, TimerError> {
    if let Some(period) = every.filter(|p| *p < MIN_PERIOD) {
        return Err(TimerError::PeriodTooShort(period));
    }
    let mut book = book.lock();
    let (true, Some(runtime)) = (book.open, book.runtime.clone()) else {
        return Err(TimerError::NotRunning);
    };
    let number = book.next;
    book.next += 1;
    let state = Arc::new(TimerState::default());
    let timer = ForeignTimer {
        number,
        state: state.clone(),
    };
    if target.fed {
        state.ended.store(true, Ordering::Relaxed);
        return Ok(timer);
    }
    if book.timers.len() >= 2 * book.kept.max(32) {
        book.timers.retain(|t| {
            !t.ended.load(Ordering::Relaxed) && t.task().as_ref().is_none_or(|t| !t.is_finished())
        });
        book.kept = book.timers.len();
    }
    book.timers.push(state.clone());
    let due = target.clock.now().saturating_add(delay);
    let task = fire(
        target,
        number,
        msg,
        due,
        every.unwrap_or(delay),
        every.is_some(),
    );
    match &mut book.starting {
        Some(pending) => pending.push((Box::pin(task), state)),
        None => *state.task() = Some(runtime.spawn(task).abort_handle()),
    }
    Ok(timer)
}

/// The timer's task (`step`: the delay of a one-shot timer, the period of a periodic one):
/// sleeps to each deadline on the bus clock and tells the actor its
/// message (waiting for room in a full mailbox; deadlines missed meanwhile are skipped), as
/// a Rust actor's timer does, through its recorder's hooks when the actor is recorded.
async fn fire<F: Foreign>(
    target: Target<F>,
    number: u64,
    msg: ForeignMessage,
    mut next: Duration,
    step: Duration,
    periodic: bool,
) {
    let Target {
        actor,
        counts,
        clock,
        record,
        foreign,
        ..
    } = target;
    let id: ActorId = actor.id();
    // A one-shot timer's schedule, as a replay's recorder reads it, repeats its delay.
    let period = periodic.then(|| step.max(Duration::from_nanos(1)));
    loop {
        let at = match &record {
            Some((recorder, _)) => {
                let due = recorder.timer_due(id, number, next, step);
                next = due.due;
                due.at
            }
            None => next,
        };
        // A one-shot timer of no delay sends at once: tokio rounds a sleep up to its tick.
        if period.is_some() || at > clock.now() {
            clock.sleep_until(at).await;
        }
        if let Some((recorder, name)) = &record {
            if let Some(turn) = recorder.timer_turn(id, number) {
                turn.await;
            }
            recorder.timer_fired(id, clock.now(), number, next, step, name);
        }
        let call = ForeignCall::Timer(msg.clone(), counts.count(id), number);
        let mut firing = Firing::new(&*foreign, &msg);
        if actor.tell(call).await.is_err() {
            // The actor has stopped: its timers end with it.
            return;
        }
        firing.queued = true;
        let Some(period) = period else { return };
        next = mycelium_actors::next_deadline(next, period, clock.now());
    }
}

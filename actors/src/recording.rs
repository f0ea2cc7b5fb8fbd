//! Recording hooks: a recorded actor reports what it handles, its answers to asks, and its
//! incarnations' starts and failures, to a [`Recorder`] (the `mycelium-journal` crate writes them to a
//! journal).
//!
//! ```
//! use std::any::Any;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use mycelium_actors::recording::{Delivery, Lifecycle, Recorder, Source};
//! use mycelium_actors::{actor_from_args, ActorId, Bus, Context, Handler, SpawnOptions};
//!
//! #[derive(Default)]
//! struct Log(Mutex<Vec<String>>);
//!
//! impl Recorder for Log {
//!     fn handled(&self, _: ActorId, _: Duration, _: Delivery, _: Source, type_name: &'static str, message: &dyn Any) {
//!         let n = message.downcast_ref::<u32>().copied();
//!         self.0.lock().unwrap().push(format!("{type_name} {n:?}"));
//!     }
//!     fn replied(&self, _: ActorId, _: Duration, type_name: &'static str, reply: &dyn Any) {
//!         let n = reply.downcast_ref::<u32>().copied();
//!         self.0.lock().unwrap().push(format!("reply {type_name} {n:?}"));
//!     }
//!     fn lifecycle(&self, _: ActorId, _: Duration, event: Lifecycle<'_>) {
//!         self.0.lock().unwrap().push(format!("{event:?}"));
//!     }
//! }
//!
//! #[derive(Clone)]
//! struct Counter(u32);
//! actor_from_args!(Counter);
//! impl Handler<u32> for Counter {
//!     type Reply = u32;
//!     async fn handle(&mut self, n: u32, _ctx: &mut Context<Self>) -> u32 {
//!         self.0 += n;
//!         self.0
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let log = Arc::new(Log::default());
//! let counter = bus
//!     .spawn_with::<Counter>(Counter(0), SpawnOptions::new().record(log.clone()))
//!     .unwrap();
//! assert_eq!(counter.ask(5u32).await.unwrap(), 5);
//! assert_eq!(
//!     *log.0.lock().unwrap(),
//!     ["Started { incarnation: 0, actor_type: \"Counter\" }", "u32 Some(5)", "reply u32 Some(5)"]
//! );
//! # });
//! ```
//!
//! The hooks run on the actor's thread, before the handler, so a recorder must be quick: the
//! journal's encodes the message into a batch under one short lock and leaves the writing to
//! a thread of its own. An actor that is not recorded pays one branch per message.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use crate::{ActorId, NodeId, SendError, TrySendError};

/// A wait a recorder asks a timer to make before it fires ([`Recorder::timer_turn`]).
pub type Turn = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// When a recorded actor's timer fires next ([`Recorder::timer_due`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerDue {
    /// The bus time to fire at.
    pub at: Duration,
    /// The deadline on the timer's schedule this firing is for; a periodic timer's next
    /// deadline is a period after it.
    pub due: Duration,
}

impl TimerDue {
    /// The firing at its deadline `due`.
    pub fn on_time(due: Duration) -> TimerDue {
        TimerDue { at: due, due }
    }
}

/// How a handled message reached the actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A tell (a topic's publication arrives as a tell too).
    Tell,
    /// An ask: the handler's return value is the reply.
    Ask,
    /// A tell sent by the actor's own timer, numbered as in [`Recorder::timer_fired`].
    Timer {
        /// The timer's number (from 0 in each incarnation, in the order they were set).
        timer: u64,
    },
}

/// Where a message a recorded actor handles came from, as the sending side knew it: carried
/// with each message sent while an actor is recorded in the process (and not otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// Not known: sent before recording began, or by a way that carries no source.
    #[default]
    Unknown,
    /// Sent by an actor of this process, from its handler (directly or from code it calls).
    Actor(ActorId),
    /// Delivered by the link from another node (the node's number in this process's
    /// addresses, as [`ActorId::node`] gives it).
    Node(NodeId),
    /// Sent by code outside any actor (`main`, a plain task or thread).
    Outside,
    /// Sent by code of another language outside its actors (Python, OCaml or C).
    Foreign(Language),
}

/// A language foreign code is written in ([`Source::Foreign`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Python.
    Python,
    /// OCaml.
    OCaml,
    /// C (or any code through the C ABI).
    C,
}

impl Language {
    /// The language's code in a journal: 1 Python, 2 OCaml, 3 C.
    pub fn code(self) -> u32 {
        match self {
            Language::Python => 1,
            Language::OCaml => 2,
            Language::C => 3,
        }
    }
}

/// A step in a recorded actor's life.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle<'a> {
    /// `on_start` returned: the incarnation numbered `incarnation` serves messages.
    Started {
        /// 0 for the first incarnation, then one more for each restart.
        incarnation: u32,
        /// The actor's type name ([`crate::Actor::type_name`]), so that a replay knows
        /// which code to run for it.
        actor_type: &'static str,
    },
    /// A handler or hook failed (panicked or returned an error).
    Failed {
        /// The failure as the dead letters and logs show it.
        reason: &'a str,
    },
    /// The incarnation ended (before `on_stop` runs): for good, or to be restarted.
    Stopped {
        /// The stop reason as the logs show it (`restarting` for a restart).
        reason: &'a str,
    },
}

impl fmt::Debug for Lifecycle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifecycle::Started {
                incarnation,
                actor_type,
            } => write!(
                f,
                "Started {{ incarnation: {incarnation}, actor_type: {actor_type:?} }}"
            ),
            Lifecycle::Failed { reason } => write!(f, "Failed {{ reason: {reason:?} }}"),
            Lifecycle::Stopped { reason } => write!(f, "Stopped {{ reason: {reason:?} }}"),
        }
    }
}

/// What a recorded actor sent, while handling a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent<'a> {
    /// A tell to `to` (an actor of this bus, or a remote one through a link).
    Tell {
        /// The receiver.
        to: ActorId,
    },
    /// An ask of `to`; its answer comes back as the handler goes on.
    Ask {
        /// The receiver.
        to: ActorId,
    },
    /// A publication on `topic`.
    Publish {
        /// The topic.
        topic: &'a str,
    },
}

/// Why a recorded actor's tell was refused: what its `tell` or `try_tell` returned, which a
/// replay returns again at the same tell (the message is then not sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The receiver's mailbox was full (`TrySendError::Full`).
    Full,
    /// The receiver had stopped (`SendError`, `TrySendError::Closed`).
    Stopped,
}

impl Refusal {
    /// `full` or `stopped`: the refusal as a journal keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Full => "full",
            Refusal::Stopped => "stopped",
        }
    }

    /// The refusal [`as_str`](Self::as_str) names, if it names one.
    pub fn parse(text: &str) -> Option<Refusal> {
        match text {
            "full" => Some(Refusal::Full),
            "stopped" => Some(Refusal::Stopped),
            _ => None,
        }
    }

    /// The error a `try_tell` that met this refusal returns, handing `msg` back.
    pub fn try_error<M>(self, msg: M) -> TrySendError<M> {
        match self {
            Refusal::Full => TrySendError::Full(msg),
            Refusal::Stopped => TrySendError::Closed(msg),
        }
    }
}

/// Receives what a recorded actor handles and how its life goes
/// ([`crate::SpawnOptions::record`]).
pub trait Recorder: Send + Sync + 'static {
    /// The actor `actor` is about to handle `message`, of type `type_name`, at bus time
    /// `time`; `from` says where it came from. Called on the actor's thread, in handling
    /// order.
    fn handled(
        &self,
        actor: ActorId,
        time: Duration,
        delivery: Delivery,
        from: Source,
        type_name: &'static str,
        message: &dyn Any,
    );

    /// The actor `actor` answered an ask with `reply`, of type `type_name`, at bus time `time`
    /// (after the [`handled`](Recorder::handled) call of that ask, before the asker sees it).
    fn replied(&self, actor: ActorId, time: Duration, type_name: &'static str, reply: &dyn Any);

    /// A step of the actor's life, at bus time `time`.
    fn lifecycle(&self, actor: ActorId, time: Duration, event: Lifecycle<'_>);

    /// The actor read the bus clock through [`crate::Context::now`], which says `reading`;
    /// the actor gets what this returns. A recorder returns `reading`; a replay returns the
    /// reading recorded at this point, so that an actor replayed on a virtual-time bus sees
    /// the times a live run saw. Called on the actor's thread, inside the handling of its
    /// current message (or in `on_start`).
    fn clock_read(&self, actor: ActorId, reading: Duration) -> Duration {
        let _ = actor;
        reading
    }

    /// The actor's random numbers ([`crate::Context::rng`]) are about to be seeded (once,
    /// when it first draws one) from the bus seed `seed` and the stream `stream` (its number), at
    /// bus time `time`. A recorder returns them as they are (and records them); a replay
    /// returns the recorded ones, so that a replayed actor draws the numbers it drew live
    /// whatever its number and its bus's seed are now. Called on the actor's thread.
    fn rng_seeded(&self, actor: ActorId, time: Duration, seed: u64, stream: u64) -> (u64, u64) {
        let _ = (actor, time);
        (seed, stream)
    }

    /// When the actor's timer numbered `timer` (as in [`timer_fired`](Self::timer_fired))
    /// fires next, which its schedule says is at bus time `due`, `every` after it was set
    /// or last fired (its delay or period). A recorder returns `due` as it is
    /// ([`TimerDue::on_time`]); a replay returns the time the recording says it fired where
    /// that is this schedule's firing (a live timer fires a little after its deadline), so
    /// that a replayed actor's timers fire when they fired live, and the deadline the
    /// recording shows where a periodic timer kept another one live (it fell behind and
    /// skipped ticks, or fired one so late that the replay's clock, in whole ticks, passes
    /// the next). Called from the timer's task before each wait.
    fn timer_due(&self, actor: ActorId, timer: u64, due: Duration, every: Duration) -> TimerDue {
        let _ = (actor, timer, every);
        TimerDue::on_time(due)
    }

    /// A wait before the actor's timer numbered `timer`, due now, sends its message: a
    /// replay's recorder makes a timer that fired live after other inputs of the same
    /// moment wait for them to be handled, as a live bus orders them to the nanosecond while
    /// a virtual-time bus's timers keep ticks of a millisecond. `None`: no wait. Called from
    /// the timer's task.
    fn timer_turn(&self, actor: ActorId, timer: u64) -> Option<Turn> {
        let _ = (actor, timer);
        None
    }

    /// A wait before the actor begins its next message (taken from its mailbox, before
    /// [`handled`](Self::handled)): a set's replay makes an actor begin an input no earlier
    /// than it began it live, and after the other actors' timer firings and inputs that came
    /// before it live, so that what its handler sends them comes where it came live. `None`:
    /// no wait.
    /// `ahead`: the messages the actor has taken before this one and not yet begun (a host
    /// of actors of another language, which begins them on its own thread). Called from the
    /// actor's task.
    fn input_turn(&self, actor: ActorId, ahead: usize) -> Option<Turn> {
        let _ = (actor, ahead);
        None
    }

    /// One of the actor's timers ([`crate::Context::send_after`],
    /// [`crate::Context::send_interval`]), numbered `timer` in the order the actor set them
    /// (from 0 in each incarnation), fired at bus time `time` and is about to send the actor
    /// its message, of type `type_name`. `due` is the bus time its schedule said (a live
    /// timer fires a little after it), which a replay matches its own schedule's with;
    /// `every` its delay (a one-shot timer) or period, by which a replay tells the same
    /// timer set a little earlier or later from a changed one.
    fn timer_fired(
        &self,
        actor: ActorId,
        time: Duration,
        timer: u64,
        due: Duration,
        every: Duration,
        type_name: &'static str,
    ) {
        let _ = (actor, time, timer, due, every, type_name);
    }

    /// The actor, handling a message, sent `message` (of type `type_name`) at bus time
    /// `time`: a tell, an ask or a publication, through an `ActorRef`, a `Recipient`, a
    /// `ReplyRecipient`, a `Publisher` or `publish`. Called on the sending thread before the
    /// message is queued.
    fn sent(
        &self,
        actor: ActorId,
        time: Duration,
        sent: Sent<'_>,
        type_name: &'static str,
        message: &dyn Any,
    ) {
        let _ = (actor, time, sent, type_name, message);
    }

    /// The tell the actor reported last through [`sent`](Self::sent), to `to`, was refused
    /// at bus time `time` (`refusal`): the send returned its error and the message was not
    /// queued. Called on the sending thread, inside the handling, as the send returns. What
    /// the send returned is an input of the actor, which a replay serves again
    /// ([`refusal`](Self::refusal)).
    fn refused(&self, actor: ActorId, time: Duration, to: ActorId, refusal: Refusal) {
        let _ = (actor, time, to, refusal);
    }

    /// A [`tell_many`](crate::ActorRef::tell_many) of the actor to `to`, of `count`
    /// messages each reported through [`sent`](Self::sent), met a stopped receiver at bus
    /// time `time`: its last `handed_back` messages came back in its error (those before them
    /// were queued). What it returned is an input of the actor, which a replay serves again
    /// ([`refusal_many`](Self::refusal_many)). By default, the refusal (`stopped`) of the
    /// batch's last tell.
    fn refused_many(
        &self,
        actor: ActorId,
        time: Duration,
        to: ActorId,
        handed_back: usize,
        count: usize,
    ) {
        let _ = (handed_back, count);
        self.refused(actor, time, to, Refusal::Stopped);
    }

    /// For a replay: whether the `tell_many` whose messages the actor reported just now
    /// through [`sent`](Self::sent) met a stopped receiver when it was recorded, and how
    /// many of its last messages came back (`Some(n)`: the others are sent, and the call
    /// returns those `n` in its error, as it did); a live recorder returns `None`. Called on
    /// the sending thread right after the batch's last `sent`.
    fn refusal_many(&self, actor: ActorId) -> Option<usize> {
        let _ = actor;
        None
    }

    /// For a replay: whether the tell the actor reported just now through
    /// [`sent`](Self::sent) was refused when it was recorded. `Some` makes the send return
    /// that refusal's error without sending the message; a live recorder returns `None`.
    /// Called on the sending thread right after `sent`, for tells only.
    fn refusal(&self, actor: ActorId) -> Option<Refusal> {
        let _ = actor;
        None
    }

    /// The recorded sequence number of the input the actor is handling, where this recorder
    /// knows it: a replay's recorder does (it fed the input), a live recorder returns `None`.
    /// A replay's stand-in that serves recorded answers asks it (through
    /// [`replayed_input`]) to serve each input the answers recorded while it was handled.
    /// Called on the actor's thread, inside the handling.
    fn replaying_input(&self, actor: ActorId) -> Option<u64> {
        let _ = actor;
        None
    }

    /// An ask the actor made while handling a message (of any actor: local, across a link,
    /// or in another language) was answered at bus time `time`: `Ok` with the reply, of type
    /// `type_name`, or `Err` with the asker's error as it reads. Called on the actor's
    /// thread, inside the handling, when the ask returns, before the handler sees it. The
    /// answer is an input of the asker: a replay of the asker alone serves it again.
    fn answered(
        &self,
        actor: ActorId,
        time: Duration,
        type_name: &'static str,
        answer: Result<&dyn Any, &str>,
    ) {
        let _ = (actor, time, type_name, answer);
    }
}

/// Set once an actor is recorded in this process: until then a send does not look for a
/// recorded sender (one load of this flag).
static RECORDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The actor whose handler is being polled on this thread, if any, while recording is
    /// on (a recorded one reports its sends through it).
    static HANDLING: Cell<*const ReplyRecord> = const { Cell::new(std::ptr::null()) };
    /// Who sends from this thread outside any actor's handler ([`sending_as`]).
    static SENDER: Cell<Source> = const { Cell::new(Source::Outside) };
}

/// An actor is recorded in this process from now on: sends carry their [`Source`], and
/// recorded actors' sends are reported. The foreign actors' recorder calls it too.
pub fn recording_on() {
    RECORDING.store(true, Ordering::Relaxed);
}

/// True once an actor is recorded in this process.
#[inline]
pub(crate) fn on() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// True once an actor is recorded in this process (sends carry their [`Source`]).
#[inline]
pub fn is_on() -> bool {
    on()
}

/// Runs `work`, a send made by code of `language`: attributed to the actor whose handler
/// runs on this thread, if any, else to the language's code outside its actors
/// ([`Source::Foreign`]). For a binding's entry points; one flag's load when nothing is
/// recorded.
pub fn sending_from<T>(language: Language, work: impl FnOnce() -> T) -> T {
    if !on() {
        return work();
    }
    sending_as_now(foreign_source(language), work)
}

/// Where a send made now by code of `language` comes from (see [`sending_from`]).
pub fn foreign_source(language: Language) -> Source {
    match current_source() {
        Source::Outside => Source::Foreign(language),
        source => source,
    }
}

/// Where a message sent now, on this thread, comes from: the actor whose handler is running
/// here, else who [`sending_as`] says, else code outside the actors.
pub fn current_source() -> Source {
    let handling = HANDLING.with(Cell::get);
    if !handling.is_null() {
        // SAFETY: as in `sent_slow`: the record is alive for the poll that set it.
        return Source::Actor(unsafe { &*handling }.actor);
    }
    SENDER.with(Cell::get)
}

/// Runs `work` with what it sends outside any actor's handler attributed to `source`: a
/// link delivering a peer's messages ([`Source::Node`]), a language's code
/// ([`Source::Foreign`]), or a task that forwards on behalf of unknown senders
/// ([`Source::Unknown`]). Costs one flag's load when nothing is recorded in the process.
pub async fn sending_as<F: Future>(source: Source, work: F) -> F::Output {
    if !on() {
        return work.await;
    }
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        let _restore = RestoreSender(SENDER.with(|s| s.replace(source)));
        work.as_mut().poll(cx)
    })
    .await
}

/// [`sending_as`] for a call that does not wait.
pub fn sending_as_now<T>(source: Source, work: impl FnOnce() -> T) -> T {
    if !on() {
        return work();
    }
    let _restore = RestoreSender(SENDER.with(|s| s.replace(source)));
    work()
}

/// Puts back the sender of an outer [`sending_as`].
struct RestoreSender(Source);

impl Drop for RestoreSender {
    fn drop(&mut self) {
        let _ = SENDER.try_with(|s| s.set(self.0));
    }
}

/// Reports `msg`, about to be sent as `how` says, if a recorded actor's handler sends it.
#[inline]
pub(crate) fn sent<'a, M: 'static>(how: impl FnOnce() -> Sent<'a>, msg: &M) {
    if RECORDING.load(Ordering::Relaxed) {
        sent_slow(how(), msg);
    }
}

#[cold]
#[inline(never)]
fn sent_slow<M: 'static>(how: Sent<'_>, msg: &M) {
    let handling = HANDLING.with(Cell::get);
    if handling.is_null() {
        return;
    }
    // SAFETY: `HANDLING` is set only by `poll_handling`, to a record owned by the future it
    // polls, for the length of that poll on this thread, and restored when it returns (or
    // unwinds); a send reached here runs inside that poll, so the record is alive.
    let record = unsafe { &*handling };
    let Some(recorder) = &record.recorder else {
        return;
    };
    recorder.sent(
        record.actor,
        record.clock.now_in_task(),
        how,
        crate::actor::short_type_name_cached(std::any::type_name::<M>()),
        msg,
    );
}

/// Reports a tell of `msg` to `to`, about to be made, if a recorded actor's handler makes
/// it; returns the refusal a replay serves for it (the tell then returns its error and the
/// message is not sent).
#[inline]
pub(crate) fn told<M: 'static>(to: impl FnOnce() -> ActorId, msg: &M) -> Option<Refusal> {
    if RECORDING.load(Ordering::Relaxed) {
        told_slow(to(), msg)
    } else {
        None
    }
}

#[cold]
#[inline(never)]
fn told_slow<M: 'static>(to: ActorId, msg: &M) -> Option<Refusal> {
    sent_slow(Sent::Tell { to }, msg);
    let handling = HANDLING.with(Cell::get);
    if handling.is_null() {
        return None;
    }
    // SAFETY: as in `sent_slow`: the record is alive for the poll that reached here.
    let record = unsafe { &*handling };
    record.recorder.as_ref()?.refusal(record.actor)
}

/// [`told`] for a `try_tell`: the served refusal's error, handing `msg` back, or `msg`.
#[inline]
pub(crate) fn try_told<M: 'static>(
    to: impl FnOnce() -> ActorId,
    msg: M,
) -> Result<M, TrySendError<M>> {
    match told(to, &msg) {
        Some(refusal) => Err(refusal.try_error(msg)),
        None => Ok(msg),
    }
}

/// Reports what a tell to `to` returned, if it refused the message and a recorded actor's
/// handler made it.
#[inline]
pub(crate) fn tell_returned<M>(to: impl FnOnce() -> ActorId, result: &Result<(), SendError<M>>) {
    if result.is_err() && RECORDING.load(Ordering::Relaxed) {
        refused_slow(to(), Refusal::Stopped);
    }
}

/// [`tell_returned`] for a `try_tell`.
#[inline]
pub(crate) fn try_tell_returned<M>(
    to: impl FnOnce() -> ActorId,
    result: &Result<(), TrySendError<M>>,
) {
    if let Err(error) = result {
        if RECORDING.load(Ordering::Relaxed) {
            let refusal = match error {
                TrySendError::Full(_) => Refusal::Full,
                TrySendError::Closed(_) => Refusal::Stopped,
            };
            refused_slow(to(), refusal);
        }
    }
}

/// `f` of the record of the recorded actor whose handler is being polled on this thread, and
/// its recorder; `None` when there is none.
fn with_recorder<T>(f: impl FnOnce(&ReplyRecord, &dyn Recorder) -> Option<T>) -> Option<T> {
    if !on() {
        return None;
    }
    let handling = HANDLING.with(Cell::get);
    if handling.is_null() {
        return None;
    }
    // SAFETY: as in `sent_slow`: the record is alive for the poll that reached here.
    let record = unsafe { &*handling };
    f(record, record.recorder.as_deref()?)
}

/// For a `tell_many` whose sends were reported just now: how many of its last messages a
/// replay hands back as refused, as they were when it was recorded.
pub(crate) fn refusal_many() -> Option<usize> {
    with_recorder(|record, recorder| recorder.refusal_many(record.actor))
}

/// Reports what a `tell_many` of `count` messages to `to` returned, if it handed messages
/// back and a recorded actor's handler made it.
pub(crate) fn tell_many_returned<M>(
    to: ActorId,
    count: usize,
    result: &Result<(), SendError<Vec<M>>>,
) {
    if let Err(SendError(back)) = result {
        with_recorder(|record, recorder| {
            let time = record.clock.now_in_task();
            recorder.refused_many(record.actor, time, to, back.len(), count);
            Some(())
        });
    }
}

#[cold]
#[inline(never)]
fn refused_slow(to: ActorId, refusal: Refusal) {
    let handling = HANDLING.with(Cell::get);
    if handling.is_null() {
        return;
    }
    // SAFETY: as in `sent_slow`: the record is alive for the poll that reached here.
    let record = unsafe { &*handling };
    if let Some(recorder) = &record.recorder {
        recorder.refused(record.actor, record.clock.now_in_task(), to, refusal);
    }
}

/// Reports the answer to an ask, if a recorded actor's handler made it.
#[inline]
pub(crate) fn answered<R: 'static, M>(answer: &Result<R, crate::AskError<M>>) {
    if RECORDING.load(Ordering::Relaxed) {
        answered_slow(answer);
    }
}

#[cold]
#[inline(never)]
fn answered_slow<R: 'static, M>(answer: &Result<R, crate::AskError<M>>) {
    let handling = HANDLING.with(Cell::get);
    if handling.is_null() {
        return;
    }
    // SAFETY: as in `sent_slow`: the record is alive for the poll that reached here.
    let record = unsafe { &*handling };
    let Some(recorder) = &record.recorder else {
        return;
    };
    let error;
    let answer = match answer {
        Ok(reply) => Ok(reply as &dyn Any),
        Err(e) => {
            error = e.to_string();
            Err(error.as_str())
        }
    };
    recorder.answered(
        record.actor,
        record.clock.now_in_task(),
        crate::actor::short_type_name_cached(std::any::type_name::<R>()),
        answer,
    );
}

/// The recorded input the actor whose handler runs on this thread is handling, if a replay's
/// recorder records it ([`Recorder::replaying_input`]); `None` outside a handler, or for an
/// actor that is not replayed.
pub fn replayed_input() -> Option<u64> {
    with_recorder(|record, recorder| recorder.replaying_input(record.actor))
}

/// Runs `work` with its sends attributed to no recorded actor, even when it is awaited inside
/// a recorded actor's handler: for code that stands in for the world outside a replayed
/// actor (a replay's stand-in for another node, say), whose forwarding is not the actor's
/// own sending.
pub async fn unattributed<F: Future>(work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        let _restore = Restore(HANDLING.with(|h| h.replace(std::ptr::null())));
        work.as_mut().poll(cx)
    })
    .await
}

/// [`unattributed`] for a call that does not wait (a `try_tell`).
pub fn unattributed_now<T>(work: impl FnOnce() -> T) -> T {
    let _restore = Restore(HANDLING.with(|h| h.replace(std::ptr::null())));
    work()
}

/// Restores the handler being polled before a nested one.
struct Restore(*const ReplyRecord);

impl Drop for Restore {
    fn drop(&mut self) {
        HANDLING.with(|h| h.set(self.0));
    }
}

/// Polls a recorded actor's handler future, its sends attributed to it. Out of line: the
/// handler's poll is inlined once, on the path of the actors that are not recorded.
#[cold]
#[inline(never)]
pub(crate) fn poll_handling<F: Future>(
    record: &ReplyRecord,
    handling: Pin<&mut F>,
    cx: &mut std::task::Context<'_>,
) -> Poll<F::Output> {
    let _restore = Restore(HANDLING.with(|h| h.replace(record)));
    handling.poll(cx)
}

/// What an ask of a recorded actor needs to report its answer, and what its handler's sends
/// are attributed to: carried by the handler's future, boxed so that an actor carries one
/// null pointer while nothing is recorded in the process. Without a recorder (an actor not
/// recorded, while another is), it only names the actor its handler's sends come from.
pub(crate) struct ReplyRecord {
    pub(crate) recorder: Option<std::sync::Arc<dyn Recorder>>,
    pub(crate) actor: ActorId,
    pub(crate) clock: crate::Clock,
}

impl ReplyRecord {
    /// Reports `reply`.
    #[cold]
    pub(crate) fn report<R: 'static>(&self, reply: &R) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        recorder.replied(
            self.actor,
            self.clock.now_in_task(),
            crate::actor::short_type_name_cached(std::any::type_name::<R>()),
            reply,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{actor_from_args, Bus, Context, Handler, SpawnOptions};
    use std::sync::{Arc, Mutex};

    /// Notes the task each message is handled on.
    #[derive(Default)]
    struct Tasks(Mutex<Vec<Option<tokio::task::Id>>>);

    impl Recorder for Tasks {
        fn handled(
            &self,
            _: ActorId,
            _: Duration,
            _: Delivery,
            _: Source,
            _: &'static str,
            _: &dyn Any,
        ) {
            self.0.lock().unwrap().push(tokio::task::try_id());
        }
        fn replied(&self, _: ActorId, _: Duration, _: &'static str, _: &dyn Any) {}
        fn lifecycle(&self, _: ActorId, _: Duration, _: Lifecycle<'_>) {}
    }

    #[derive(Clone)]
    struct Sum(u64);
    actor_from_args!(Sum);
    impl Handler<u64> for Sum {
        type Reply = ();
        async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) {
            self.0 += n;
        }
    }
    struct Get;
    impl Handler<Get> for Sum {
        type Reply = u64;
        async fn handle(&mut self, _: Get, _ctx: &mut Context<Self>) -> u64 {
            self.0
        }
    }

    /// A recorded actor keeps the direct call: an idle actor's tells run on the sender's
    /// task, on a current-thread runtime, as they do while nothing is recorded.
    #[test]
    fn a_recorded_actor_takes_tells_on_the_senders_task() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let bus = Bus::new();
            let tasks = Arc::new(Tasks::default());
            let sum = bus
                .spawn_with::<Sum>(Sum(0), SpawnOptions::new().record(tasks.clone()))
                .unwrap();
            assert_eq!(sum.ask(Get).await.unwrap(), 0);
            tasks.0.lock().unwrap().clear();
            let me = tokio::task::try_id();
            for n in 0..5000u64 {
                sum.tell(n).await.unwrap();
            }
            let seen = tasks.0.lock().unwrap().clone();
            assert_eq!(sum.ask(Get).await.unwrap(), 5000 * 4999 / 2);
            assert_eq!(
                seen.len(),
                5000,
                "every tell handled before its tell returned"
            );
            assert!(
                seen.iter().all(|t| *t == me),
                "handled on the sender's task: {seen:?}"
            );
        });
    }
}

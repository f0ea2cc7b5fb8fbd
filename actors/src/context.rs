//! `Context`: what a running actor can reach.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::recording::{Delivery, Lifecycle, Recorder, Source};
use crate::supervision::ChildHandle;
use crate::topic::SubscriptionSet;
use crate::{
    Actor, ActorId, ActorRef, Bus, Clock, DeadLetter, DeadLetterReason, DetRng, Failure, Handler,
    SendError, SpawnError, SpawnOptions, StopReason,
};

/// How long a linked child may take to stop when its owner's incarnation ends, before it is
/// killed.
const LINKED_CHILD_SHUTDOWN: Duration = Duration::from_secs(5);

/// The context of a running actor: its own ref, its bus, the bus clock, a seeded random
/// number generator, and timers that send the actor messages.
pub struct Context<A: Actor> {
    me: ActorRef<A>,
    bus: Bus,
    incarnation: u32,
    /// Messages follow the one being handled in the batch the task took from its mailbox
    /// (set by the task as it takes each message; see [`has_more`](Self::has_more)).
    more: bool,
    /// Everything else, allocated when first needed: every idle actor's task holds its
    /// context, and most actors never stop themselves, draw a random number, set a timer,
    /// link a child or subscribe (docs/perf/actors.md, w3).
    held: Option<Box<Held>>,
}

/// The parts of a [`Context`] that most actors never use.
#[derive(Default)]
struct Held {
    /// A stop the running handler asked for, acted on when it returns.
    stop: Option<StopReason>,
    /// Derived from the bus seed and the actor's id when first drawn from.
    rng: Option<DetRng>,
    timers: Vec<AbortHandle>,
    /// Linked children of this incarnation, in spawn order.
    children: Vec<Arc<dyn ChildHandle>>,
    /// Topic subscriptions of this incarnation (see `Context::subscribe` in `topic`).
    subscriptions: SubscriptionSet,
    /// Where a recorded actor reports what it handles (`SpawnOptions::record`).
    recorder: Option<Arc<dyn Recorder>>,
    /// Timers set in this incarnation: the next timer's number, for the recorder.
    timers_set: u64,
    /// Where the message being handled came from, while recording is on in the process.
    input: Source,
    /// What this actor's handler runs carry while recording is on in the process (who their
    /// sends come from, and for a recorded actor where its answers are reported): made on
    /// the first run, shared by every run after it.
    attribution: Option<Arc<crate::recording::ReplyRecord>>,
}

/// The notice [`Context::watch`] sends when the watched actor has stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Down {
    /// The watched actor.
    pub id: ActorId,
    /// Why it stopped.
    pub reason: StopReason,
}

/// A watch started with [`Context::watch`]. It ends by itself when the watching actor
/// restarts or stops; [`cancel`](WatchHandle::cancel) ends it earlier.
#[derive(Debug, Clone)]
pub struct WatchHandle {
    abort: AbortHandle,
}

impl WatchHandle {
    /// Stops watching; a notice not yet sent is not sent.
    pub fn cancel(&self) {
        self.abort.abort();
    }
}

/// A timer started with [`Context::send_after`] or [`Context::send_interval`]. Timers end by
/// themselves when their actor restarts or stops; [`cancel`](TimerHandle::cancel) ends one
/// earlier.
#[derive(Debug, Clone)]
pub struct TimerHandle {
    abort: AbortHandle,
}

impl TimerHandle {
    /// Stops the timer; a message not yet sent is not sent.
    pub fn cancel(&self) {
        self.abort.abort();
    }

    /// True once it has fired (one-shot) or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.abort.is_finished()
    }
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(me: ActorRef<A>, bus: Bus) -> Self {
        Context {
            me,
            bus,
            incarnation: 0,
            more: false,
            held: None,
        }
    }

    fn held(&mut self) -> &mut Held {
        self.held.get_or_insert_default()
    }

    /// This actor's own ref.
    pub fn actor_ref(&self) -> &ActorRef<A> {
        &self.me
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.me.id()
    }

    /// True when more mail waits behind the message being handled: the actor's task takes
    /// it next, without waiting for anything, unless a stop, a restart or a kill comes first
    /// (which end the incarnation). An actor that hands its messages on to a thread of its
    /// own can gather them while this holds and wake that thread once, when it does not.
    /// False in `on_start`, `on_stop` and a handler run on an asker's thread when there is
    /// nothing waiting.
    pub fn has_more(&self) -> bool {
        self.more || !self.me.shared.mailbox.is_empty()
    }

    /// Whether messages follow the one now taken in the batch the task holds.
    #[inline(always)]
    pub(crate) fn set_more(&mut self, more: bool) {
        self.more = more;
    }

    /// The bus this actor runs on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The bus clock.
    pub fn clock(&self) -> &Clock {
        self.bus.clock()
    }

    /// Bus time now (time since the bus was created). A recorded actor's readings are
    /// recorded, and a replayed actor reads the recorded ones ([`Recorder::clock_read`]).
    pub fn now(&self) -> Duration {
        let now = self.bus.clock().now();
        match self.recorder() {
            Some(recorder) => recorder.clock_read(self.me.id(), now),
            None => now,
        }
    }

    fn recorder(&self) -> Option<&Arc<dyn Recorder>> {
        self.held.as_ref().and_then(|h| h.recorder.as_ref())
    }

    /// For a recorded actor: what its next timer reports its firings to, and its number.
    fn timer_record<M>(&mut self) -> Option<TimerRecord> {
        let id = self.me.id();
        let held = self.held.as_mut()?;
        let recorder = Arc::clone(held.recorder.as_ref()?);
        let timer = held.timers_set;
        held.timers_set += 1;
        Some(TimerRecord {
            recorder,
            id,
            timer,
            type_name: crate::actor::short_type_name(std::any::type_name::<M>()),
        })
    }

    /// This actor's random number generator, seeded from the bus seed and the actor's id
    /// when the actor first asks for it (a restart in place keeps it). A recorded actor's
    /// seeding is recorded, and a replayed actor is seeded as it was live
    /// ([`Recorder::rng_seeded`]).
    pub fn rng(&mut self) -> &mut DetRng {
        let rng = match self.held().rng.take() {
            Some(rng) => rng,
            None => {
                let (mut seed, mut stream) = (self.bus.seed(), self.me.id().local());
                if let Some(recorder) = self.recorder() {
                    let now = self.bus.clock().now();
                    (seed, stream) = recorder.rng_seeded(self.me.id(), now, seed, stream);
                }
                DetRng::derive(seed, stream)
            }
        };
        self.held().rng.insert(rng)
    }

    /// How many times this actor has been restarted (0 in its first incarnation).
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Ends this incarnation normally once the current handler returns. An unsupervised actor
    /// stops for good; a supervised one is restarted only if it is a permanent child.
    pub fn stop(&mut self) {
        self.held().stop.get_or_insert(StopReason::Normal);
    }

    /// Ends this incarnation with `failure` once the current handler returns, exactly as if
    /// the handler had failed: the supervisor applies its restart policy. Supervisors use it
    /// to escalate.
    pub fn fail(&mut self, failure: Failure) {
        self.held().stop = Some(StopReason::Failed(failure));
    }

    /// Sends this actor `msg` after `delay` of bus time. A zero delay sends it at once (from
    /// a task, so at the back of the mailbox), without a timer: tokio rounds a timer's
    /// deadline up to its next millisecond tick.
    pub fn send_after<M>(&mut self, msg: M, delay: Duration) -> TimerHandle
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let me = self.me.clone();
        let bus = self.bus.clone();
        let record = self.timer_record::<M>();
        self.track(self.bus.runtime().spawn(async move {
            let mut due = Duration::ZERO;
            match &record {
                Some(record) => {
                    due = bus.clock().now().saturating_add(delay);
                    let at = record.due(due, delay).at;
                    if at != due || !delay.is_zero() {
                        bus.clock().sleep_until(at).await;
                    }
                }
                None if !delay.is_zero() => bus.clock().sleep(delay).await,
                None => {}
            }
            match &record {
                Some(record) => {
                    record.turn().await;
                    record.fired(&bus, due, delay);
                    send_own_timed(&me, &bus, msg, record.timer).await;
                }
                None => {
                    send_own(&me, &bus, msg).await;
                }
            }
        }))
    }

    /// Sends this actor a clone of `msg` every `period` of bus time, the first after one
    /// period. Ticks are scheduled on a fixed grid (no drift); a tick that finds the mailbox
    /// full waits for room, and ticks missed meanwhile are skipped.
    pub fn send_interval<M>(&mut self, msg: M, period: Duration) -> TimerHandle
    where
        A: Handler<M>,
        M: Clone + Send + 'static,
    {
        let me = self.me.clone();
        let bus = self.bus.clone();
        let clock = self.bus.clock().clone();
        let period = period.max(Duration::from_nanos(1));
        let record = self.timer_record::<M>();
        self.track(self.bus.runtime().spawn(async move {
            // Saturating throughout: a period too long to add is a tick that never comes.
            let mut next = clock.now().saturating_add(period);
            loop {
                let at = match &record {
                    Some(record) => {
                        let due = record.due(next, period);
                        next = due.due;
                        due.at
                    }
                    None => next,
                };
                clock.sleep_until(at).await;
                let sent = match &record {
                    Some(record) => {
                        record.turn().await;
                        record.fired(&bus, next, period);
                        send_own_timed(&me, &bus, msg.clone(), record.timer).await
                    }
                    None => send_own(&me, &bus, msg.clone()).await,
                };
                if !sent {
                    return;
                }
                next = next_deadline(next, period, clock.now());
            }
        }))
    }

    /// Watches `target`: once it has stopped for good, this actor gets one [`Down`] message
    /// with its id and final reason. Restarts of a supervised target are not stops for good
    /// and send nothing; a target that has already stopped is reported at once. The watch
    /// belongs to this incarnation: it ends when this actor restarts or stops, so a watch set
    /// in `on_start` is not duplicated by restarts. Outside an actor,
    /// [`ActorRef::wait_for_stop`] gives the same notice.
    ///
    /// ```
    /// use mycelium_actors::{Actor, BoxError, Bus, Context, Down, Handler, StopReason};
    ///
    /// struct Worker;
    /// impl Actor for Worker {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Worker) }
    /// }
    /// struct Watcher(tokio::sync::mpsc::UnboundedSender<Down>);
    /// impl Actor for Watcher {
    ///     type Args = (mycelium_actors::ActorRef<Worker>, tokio::sync::mpsc::UnboundedSender<Down>);
    ///     async fn on_start((w, tx): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
    ///         ctx.watch(&w);
    ///         Ok(Watcher(tx))
    ///     }
    /// }
    /// impl Handler<Down> for Watcher {
    ///     type Reply = ();
    ///     async fn handle(&mut self, down: Down, _ctx: &mut Context<Self>) {
    ///         let _ = self.0.send(down);
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let worker = bus.spawn::<Worker>(());
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let _watcher = bus.spawn::<Watcher>((worker.clone(), tx));
    /// worker.stop();
    /// let down = rx.recv().await.unwrap();
    /// assert_eq!(down.id, worker.id());
    /// assert_eq!(down.reason, StopReason::Normal);
    /// # });
    /// ```
    pub fn watch<B: Actor>(&mut self, target: &ActorRef<B>) -> WatchHandle
    where
        A: Handler<Down>,
    {
        let me = self.me.clone();
        let bus = self.bus.clone();
        let target = target.clone();
        let abort = self.track(self.bus.runtime().spawn(async move {
            let reason = target.wait_for_stop().await;
            let down = Down {
                id: target.id(),
                reason,
            };
            send_own(&me, &bus, down).await;
        }));
        WatchHandle { abort: abort.abort }
    }

    /// Spawns an actor linked to this one: it belongs to this incarnation and is stopped
    /// (children in reverse spawn order, each within 5 s of bus time, then killed) when the
    /// incarnation ends, before the next one starts and before this actor's own stop is
    /// reported. A restarted owner that spawns its children in `on_start` therefore never
    /// runs two copies. A linked child is not restarted: when it stops by itself it stays
    /// stopped ([`watch`](Self::watch) it to react). Bus shutdown leaves it to its owner.
    ///
    /// Fails only as [`Bus::spawn_with`] does (the bus is shutting down).
    ///
    /// ```
    /// use mycelium_actors::{Actor, ActorRef, BoxError, Bus, Context};
    ///
    /// struct Child;
    /// impl Actor for Child {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Child) }
    /// }
    /// struct Owner { child: ActorRef<Child> }
    /// impl Actor for Owner {
    ///     type Args = ();
    ///     async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
    ///         Ok(Owner { child: ctx.spawn_child::<Child>(())? })
    ///     }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let owner = bus.spawn::<Owner>(());
    /// owner.stop();
    /// owner.wait_for_stop().await;
    /// assert_eq!(bus.actor_count(), 0); // the child stopped first
    /// # });
    /// ```
    pub fn spawn_child<B: Actor>(&mut self, args: B::Args) -> Result<ActorRef<B>, SpawnError> {
        self.spawn_child_with(args, SpawnOptions::new())
    }

    /// [`spawn_child`](Self::spawn_child) with options: a name, a mailbox, a dedicated
    /// thread, or [`hibernate`](SpawnOptions::hibernate) for the many mostly idle children an
    /// actor may keep (one per order, say). A linked child is stopped by its owner, so
    /// options that also place it under a supervisor are refused
    /// ([`SpawnError::OwnedAndSupervised`]).
    pub fn spawn_child_with<B: Actor>(
        &mut self,
        args: B::Args,
        options: SpawnOptions,
    ) -> Result<ActorRef<B>, SpawnError> {
        if options.is_supervised() {
            return Err(SpawnError::OwnedAndSupervised);
        }
        let child = self.bus.spawn_with::<B>(args, options.owned())?;
        let children = &mut self.held().children;
        children.retain(|c| c.stop_reason().is_none());
        children.push(child.handle());
        Ok(child)
    }

    /// Stops this incarnation's linked children, in reverse spawn order.
    pub(crate) async fn stop_children(&mut self) {
        while let Some(child) = self.held.as_mut().and_then(|h| h.children.pop()) {
            if child.terminate(StopReason::Shutdown) {
                let clock = self.bus.clock().clone();
                if clock
                    .within(LINKED_CHILD_SHUTDOWN, child.wait_for_stop())
                    .await
                    .is_none()
                {
                    child.kill();
                }
            }
            child.wait_for_stop().await;
        }
    }

    fn track(&mut self, task: tokio::task::JoinHandle<()>) -> TimerHandle {
        let timers = &mut self.held().timers;
        if timers.len() >= 32 {
            timers.retain(|t| !t.is_finished());
        }
        let abort = task.abort_handle();
        timers.push(abort.clone());
        TimerHandle { abort }
    }

    /// A new incarnation starts. The previous one's timers and subscriptions were already
    /// ended by `end_incarnation`, which runs on every path that leads to a restart.
    pub(crate) fn begin_incarnation(&mut self, incarnation: u32) {
        if let Some(held) = &mut self.held {
            held.stop = None;
            held.timers_set = 0;
        }
        self.incarnation = incarnation;
    }

    /// The incarnation is over: its timers and topic subscriptions end now, so nothing they
    /// would send piles up while a supervisor waits out a backoff.
    pub(crate) fn end_incarnation(&mut self) {
        if let Some(held) = &mut self.held {
            held.cancel_timers();
            held.subscriptions.cancel_all();
        }
    }

    /// Keeps `subscription` for this incarnation, to end with it.
    pub(crate) fn keep_subscription(&mut self, subscription: crate::topic::Subscription) {
        self.held().subscriptions.push(subscription);
    }

    /// Makes this a recorded actor (`SpawnOptions::record`).
    pub(crate) fn set_recorder(&mut self, recorder: Arc<dyn Recorder>) {
        let held = self.held();
        held.recorder = Some(recorder);
        held.attribution = None;
    }

    /// Reports `msg` to the recorder, if the actor is recorded: one test of `held` for every
    /// other actor.
    #[inline]
    pub(crate) fn record_handled<M: Send + 'static>(&self, delivery: Delivery, msg: &M) {
        if let Some(held) = &self.held {
            if let Some(recorder) = &held.recorder {
                recorder.handled(
                    self.me.id(),
                    self.bus.clock().now_in_task(),
                    delivery,
                    held.input,
                    crate::actor::short_type_name_cached(std::any::type_name::<M>()),
                    msg,
                );
            }
        }
    }

    /// The wait the actor's recorder asks for before the actor begins its next message, if
    /// the actor is recorded and its recorder asks for one (a replay's).
    pub(crate) fn input_turn(&self) -> Option<crate::recording::Turn> {
        let recorder = self.held.as_ref()?.recorder.as_ref()?;
        recorder.input_turn(self.me.id(), 0)
    }

    /// Where the message about to be handled came from (set while recording is on).
    pub(crate) fn set_input_source(&mut self, source: Source) {
        self.held().input = source;
    }

    /// Where the message being handled came from: known while an actor is recorded in the
    /// process ([`Source::Unknown`] otherwise). For a host of actors written in another
    /// language, which records their handling itself.
    pub fn source(&self) -> Source {
        self.held.as_ref().map_or(Source::Unknown, |h| h.input)
    }

    /// What a handler run carries while recording is on in the process: for a recorded
    /// actor, where its answer is reported; for every actor, who its sends come from. One
    /// reference count per run: the record is made once per actor and shared.
    #[inline]
    pub(crate) fn reply_record(&mut self) -> Option<Arc<crate::recording::ReplyRecord>> {
        if !crate::recording::on() {
            return None;
        }
        self.shared_reply_record()
    }

    #[inline]
    fn shared_reply_record(&mut self) -> Option<Arc<crate::recording::ReplyRecord>> {
        if let Some(record) = self.held.as_ref().and_then(|h| h.attribution.as_ref()) {
            return Some(Arc::clone(record));
        }
        self.first_reply_record()
    }

    #[cold]
    #[inline(never)]
    fn first_reply_record(&mut self) -> Option<Arc<crate::recording::ReplyRecord>> {
        let actor = self.me.id();
        let clock = self.bus.clock().clone();
        let held = self.held();
        let record = held.attribution.get_or_insert_with(|| {
            Arc::new(crate::recording::ReplyRecord {
                recorder: held.recorder.clone(),
                actor,
                clock,
            })
        });
        Some(Arc::clone(record))
    }

    /// Reports a step of the actor's life to the recorder, if the actor is recorded.
    pub(crate) fn record_lifecycle(&self, event: impl FnOnce(&mut dyn FnMut(Lifecycle<'_>))) {
        if let Some(recorder) = self.held.as_ref().and_then(|h| h.recorder.as_ref()) {
            let (id, now) = (self.me.id(), self.bus.clock().now());
            event(&mut |e| recorder.lifecycle(id, now, e));
        }
    }

    /// True when a handler has asked the actor to stop and the runner has not acted yet.
    pub(crate) fn stop_requested(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.stop.is_some())
    }

    pub(crate) fn take_stop(&mut self) -> Option<StopReason> {
        self.held.as_mut().and_then(|h| h.stop.take())
    }
}

/// What a recorded actor's timer reports its firings to.
struct TimerRecord {
    recorder: Arc<dyn Recorder>,
    id: ActorId,
    timer: u64,
    type_name: &'static str,
}

impl TimerRecord {
    /// When to fire, the schedule saying `due`, `every` after the last (a replay's recorder
    /// may say otherwise).
    fn due(&self, due: Duration, every: Duration) -> crate::recording::TimerDue {
        self.recorder.timer_due(self.id, self.timer, due, every)
    }

    /// Waits for its turn to fire, if the recorder says to.
    async fn turn(&self) {
        if let Some(turn) = self.recorder.timer_turn(self.id, self.timer) {
            turn.await;
        }
    }

    /// It fired, its schedule having said `due`, `every` after the last.
    fn fired(&self, bus: &Bus, due: Duration, every: Duration) {
        let now = bus.clock().now();
        self.recorder
            .timer_fired(self.id, now, self.timer, due, every, self.type_name);
    }
}

/// The deadline of a periodic timer after `last`, on its grid of `period`: the first one
/// after `now` when the timer has fallen behind (the deadlines it missed are skipped).
/// Saturating: a deadline too far to add is one that never comes.
pub fn next_deadline(last: Duration, period: Duration, now: Duration) -> Duration {
    let next = last.saturating_add(period);
    if next > now {
        return next;
    }
    let behind = (now - next).as_nanos() / period.as_nanos().max(1) + 1;
    let skipped = u32::try_from(behind).unwrap_or(u32::MAX);
    next.saturating_add(period.saturating_mul(skipped))
}

/// Sends a timer's or a watch's message to its own actor. The actor's timers end with its
/// incarnation, but an actor killed while one of them fires on another worker has closed its
/// mailbox first: the message then becomes a dead letter, as any message sent to a stopped
/// actor does. `false` when it was not delivered.
async fn send_own<A, M>(me: &ActorRef<A>, bus: &Bus, msg: M) -> bool
where
    A: Handler<M>,
    M: Send + 'static,
{
    let sent = me.tell(msg).await;
    delivered_or_dead_letter(me, bus, sent)
}

/// [`send_own`] of a recorded actor's timer's message, which the recording tells from
/// other tells (through the mailbox: a timer fires from a task of its own).
async fn send_own_timed<A, M>(me: &ActorRef<A>, bus: &Bus, msg: M, timer: u64) -> bool
where
    A: Handler<M>,
    M: Send + 'static,
{
    let sent = me
        .shared
        .tell_payload::<M, _>(crate::envelope::TimerTell { msg, timer })
        .await;
    delivered_or_dead_letter(me, bus, sent)
}

/// `true` when `sent`; else posts the message as a dead letter.
fn delivered_or_dead_letter<A, M>(
    me: &ActorRef<A>,
    bus: &Bus,
    sent: Result<(), SendError<M>>,
) -> bool
where
    A: Actor,
    M: Send + 'static,
{
    match sent {
        Ok(()) => true,
        Err(SendError(msg)) => {
            let (actor_type, message_type) = A::letter_names(&msg).unwrap_or((
                A::type_name(),
                crate::actor::short_type_name(std::any::type_name::<M>()),
            ));
            bus.dead_letters().post(DeadLetter {
                actor: me.id(),
                actor_type,
                message_type,
                reason: DeadLetterReason::ActorStopped(
                    me.stop_reason().unwrap_or(StopReason::Killed),
                ),
                message: Some(Box::new(msg)),
            });
            false
        }
    }
}

impl Held {
    fn cancel_timers(&mut self) {
        for t in self.timers.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.cancel_timers();
        // Reached with children left only when the actor's task was killed.
        for child in self.children.drain(..).rev() {
            child.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_actors::Idle;

    struct Ping(u32);
    impl Handler<Ping> for Idle {
        type Reply = ();
        async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
    }

    /// What a timer or a watch sends an actor that has stopped meanwhile (killed on another
    /// worker as the timer fired) is a dead letter with the message in it, not dropped.
    #[tokio::test]
    async fn a_timers_message_to_a_stopped_actor_is_a_dead_letter() {
        let bus = Bus::new();
        let live = bus.spawn::<Idle>(());
        assert!(send_own(&live, &bus, Ping(1)).await);
        let stopped = bus.spawn::<Idle>(());
        stopped.stop();
        stopped.wait_for_stop().await;
        assert!(!send_own(&stopped, &bus, Ping(7)).await);
        let mut letters = bus.dead_letters().drain();
        assert_eq!(letters.len(), 1);
        let letter = &mut letters[0];
        assert_eq!(letter.actor, stopped.id());
        assert_eq!(letter.message_type, "Ping");
        assert!(matches!(
            letter.reason,
            DeadLetterReason::ActorStopped(StopReason::Normal)
        ));
        assert_eq!(letter.downcast::<Ping>().map(|p| p.0), Some(7));
    }
}

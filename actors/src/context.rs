//! `Context`: what a running actor can reach.

use std::time::Duration;

use tokio::task::AbortHandle;

use crate::topic::SubscriptionSet;
use crate::{Actor, ActorId, ActorRef, Bus, Clock, DetRng, Failure, Handler, StopReason};

/// The context of a running actor: its own ref, its bus, the bus clock, a seeded random
/// number generator, and timers that send the actor messages.
pub struct Context<A: Actor> {
    me: ActorRef<A>,
    bus: Bus,
    rng: DetRng,
    stop: Option<StopReason>,
    incarnation: u32,
    timers: Vec<AbortHandle>,
    /// Topic subscriptions of this incarnation (see `Context::subscribe` in `topic`).
    pub(crate) subscriptions: SubscriptionSet,
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
    pub(crate) fn new(me: ActorRef<A>, bus: Bus, rng: DetRng) -> Self {
        Context {
            me,
            bus,
            rng,
            stop: None,
            incarnation: 0,
            timers: Vec::new(),
            subscriptions: SubscriptionSet::default(),
        }
    }

    /// This actor's own ref.
    pub fn actor_ref(&self) -> &ActorRef<A> {
        &self.me
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.me.id()
    }

    /// The bus this actor runs on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The bus clock.
    pub fn clock(&self) -> &Clock {
        self.bus.clock()
    }

    /// Bus time now (time since the bus was created).
    pub fn now(&self) -> Duration {
        self.bus.clock().now()
    }

    /// This actor's random number generator, seeded from the bus seed and the actor's id.
    pub fn rng(&mut self) -> &mut DetRng {
        &mut self.rng
    }

    /// How many times this actor has been restarted (0 in its first incarnation).
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Ends this incarnation normally once the current handler returns. An unsupervised actor
    /// stops for good; a supervised one is restarted only if it is a permanent child.
    pub fn stop(&mut self) {
        if self.stop.is_none() {
            self.stop = Some(StopReason::Normal);
        }
    }

    /// Ends this incarnation with `failure` once the current handler returns, exactly as if
    /// the handler had failed: the supervisor applies its restart policy. Supervisors use it
    /// to escalate.
    pub fn fail(&mut self, failure: Failure) {
        self.stop = Some(StopReason::Failed(failure));
    }

    /// Sends this actor `msg` after `delay` of bus time.
    pub fn send_after<M>(&mut self, msg: M, delay: Duration) -> TimerHandle
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let me = self.me.clone();
        let clock = self.bus.clock().clone();
        self.track(self.bus.runtime().spawn(async move {
            clock.sleep(delay).await;
            let _ = me.tell(msg).await;
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
        let clock = self.bus.clock().clone();
        let period = period.max(Duration::from_nanos(1));
        self.track(self.bus.runtime().spawn(async move {
            let mut next = clock.now() + period;
            loop {
                clock.sleep_until(next).await;
                if me.tell(msg.clone()).await.is_err() {
                    return;
                }
                next += period;
                let now = clock.now();
                if next <= now {
                    let behind = (now - next).as_nanos() / period.as_nanos() + 1;
                    next += period * behind as u32;
                }
            }
        }))
    }

    fn track(&mut self, task: tokio::task::JoinHandle<()>) -> TimerHandle {
        if self.timers.len() >= 32 {
            self.timers.retain(|t| !t.is_finished());
        }
        let abort = task.abort_handle();
        self.timers.push(abort.clone());
        TimerHandle { abort }
    }

    /// A new incarnation starts. The previous one's timers and subscriptions were already
    /// ended by `end_incarnation`, which runs on every path that leads to a restart.
    pub(crate) fn begin_incarnation(&mut self, incarnation: u32) {
        self.stop = None;
        self.incarnation = incarnation;
    }

    /// The incarnation is over: its timers and topic subscriptions end now, so nothing they
    /// would send piles up while a supervisor waits out a backoff.
    pub(crate) fn end_incarnation(&mut self) {
        self.cancel_timers();
        self.subscriptions.cancel_all();
    }

    pub(crate) fn take_stop(&mut self) -> Option<StopReason> {
        self.stop.take()
    }

    fn cancel_timers(&mut self) {
        for t in self.timers.drain(..) {
            t.abort();
        }
    }
}

impl<A: Actor> Drop for Context<A> {
    fn drop(&mut self) {
        self.cancel_timers();
    }
}

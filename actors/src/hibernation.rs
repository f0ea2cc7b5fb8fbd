//! Hibernation: an actor that holds no task while it has no mail.
//!
//! An actor that is a tokio task while it waits for mail costs, with its cell, what that task
//! takes (docs/perf/actors.md, w3). An actor with no mail can do without: its state, context
//! and the little of its runner that must outlive the task are moved into a [`Sleeper`], a
//! small allocation that is also the waker the mailbox holds. The next message or signal
//! wakes the sleeper, which hands the actor's life to its bus's [`Driver`]: one task per bus
//! that runs new and woken actors in turn.
//!
//! Every actor but a pinned one starts that way: the driver runs its `on_start` and it
//! sleeps until its first mail, whose wake moves it into a task of its own for good, which
//! serves that mail ([`until_first_mail`], `Sleeper::rouse`). An actor spawned with
//! [`SpawnOptions::hibernate`](crate::SpawnOptions::hibernate) sleeps again whenever its
//! mailbox is empty ([`sleepwalk`]): one whose work finishes at once (its handlers do not
//! wait) goes back to sleep from the driver and never becomes a task; one whose handler waits
//! (a timer, an ask, its supervisor's decision) is moved into a task of its own for as long as
//! it waits, then sleeps again.
//!
//! The actor is the same in both forms: its mailbox, its ref, its supervision and its stop
//! are those of any actor. Two things differ while it sleeps. A woken actor starts with a
//! queue hop and an allocation, so hibernation suits many mostly idle actors (one per
//! instrument, order or trading session) rather than a hot pipeline; and an ask of a
//! sleeping actor goes through its mailbox (the direct call needs a task that lends its
//! state).
//!
//! A kill reaches a sleeping actor through its mailbox's waker: the driver drops its life,
//! which finalises it as killed (dead letters, waiters, supervisor) like an aborted task. If
//! the runtime shuts down, the driver's queue is dropped in the same way, and the driver
//! kills every actor of its bus, so the sleeping ones are finalised with the runtime (the
//! kill hands them to the closed driver, which drops them where they are).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use mycelium_mailbox::Inbox;
use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::runner::{live, run_woken, Kept, Life, Runner, StartAck};
use crate::shared::Shared;
use crate::{Actor, Context};

/// A sleeping actor: what its task held, less what can be made again when it wakes.
struct Asleep<A: Actor> {
    kept: Option<Box<Kept<A>>>,
    args: A::Args,
    ctx: Context<A>,
    /// `None` before its first start (a new actor waits for the driver like a woken one).
    actor: Option<A>,
    /// Boxed: only a new actor spawned with a start notification has one.
    ack: Option<Box<StartAck>>,
    incarnation: u32,
    /// Handed to the driver already (by the first wake).
    queued: bool,
    /// A default actor, which sleeps only until its first mail, and then has a task of its
    /// own for good; not a hibernating one.
    until_mail: bool,
}

impl<A: Actor> Asleep<A> {
    fn new(life: Life<A>, until_mail: bool) -> Self {
        let Life {
            runner,
            args,
            ctx,
            ack,
            incarnation,
            actor,
        } = life;
        Asleep {
            kept: runner.put_away(),
            args,
            ctx,
            actor,
            ack: ack.map(Box::new),
            incarnation,
            queued: false,
            until_mail,
        }
    }

    fn wake(self) -> Life<A> {
        Life {
            runner: Runner::woken(self.kept, &self.ctx),
            args: self.args,
            ctx: self.ctx,
            ack: self.ack.map(|ack| *ack),
            incarnation: self.incarnation,
            actor: self.actor,
        }
    }
}

/// The waker a sleeping actor leaves in its mailbox, holding the actor until its bus's
/// driver takes it. One per nap: once taken, it is spent.
struct Sleeper<A: Actor> {
    asleep: Mutex<Option<Asleep<A>>>,
}

impl<A: Actor> Sleeper<A> {
    fn new(asleep: Asleep<A>) -> Arc<Self> {
        Arc::new(Sleeper {
            asleep: Mutex::new(Some(asleep)),
        })
    }

    fn take(&self) -> Option<Asleep<A>> {
        self.asleep.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Hands the sleeper to its bus's driver, once. Only the sleeper's address is queued:
    /// the actor's task is made when the driver comes to it, so waking many actors at once
    /// (a new bus's starts, a publish to many sleeping subscribers) costs a pointer each
    /// until then. A started default actor's first mail skips the driver: the actor moves
    /// into its task here, which serves that mail (a task it would have soon anyway).
    fn rouse(self: &Arc<Self>) {
        let mut asleep = self.asleep.lock().unwrap_or_else(|e| e.into_inner());
        let driver = match asleep.as_mut() {
            Some(sleeping) if !sleeping.queued => {
                let shared = &sleeping.ctx.actor_ref().shared;
                // A signal alone (a stop at shutdown) is served on the driver, where the
                // actor usually ends without ever having a task.
                let first_mail = sleeping.until_mail
                    && sleeping.actor.is_some()
                    && !shared.kill_requested()
                    && !shared.mailbox.is_empty();
                if first_mail {
                    let woken = asleep.take();
                    drop(asleep);
                    if let Some(woken) = woken {
                        into_own_task(woken.wake());
                    }
                    return;
                }
                // New, hibernating or killed: the driver starts, runs or drops it.
                sleeping.queued = true;
                sleeping.ctx.bus().hibernation().clone()
            }
            // Queued already, or taken back by its own task (mail came as it fell
            // asleep): nothing to do.
            _ => return,
        };
        drop(asleep);
        driver.push(self.clone());
    }
}

impl<A: Actor> Wake for Sleeper<A> {
    fn wake(self: Arc<Self>) {
        self.rouse();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rouse();
    }
}

impl<A: Actor> Drop for Sleeper<A> {
    fn drop(&mut self) {
        // A sleeper dropped with its actor still inside finalises it as killed (its runner's
        // drop guard), as a dropped task does.
        let asleep = self
            .asleep
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(asleep.map(Asleep::wake));
    }
}

/// A sleeper in its bus's driver's queue.
trait Queued: Send + Sync {
    /// Takes the actor out to run it (`None`: it was taken back meanwhile).
    fn take_job(&self) -> Option<Box<dyn Job>>;
}

impl<A: Actor> Queued for Sleeper<A> {
    fn take_job(&self) -> Option<Box<dyn Job>> {
        let asleep = self.take()?;
        let until_mail = asleep.until_mail;
        let life = asleep.wake();
        let shared = life.ctx.actor_ref().shared.clone();
        let life: Pin<Box<dyn Future<Output = ()> + Send>> = if until_mail {
            Box::pin(until_first_mail(life))
        } else {
            Box::pin(sleepwalk(life))
        };
        Some(Box::new(LifeJob { shared, life }))
    }
}

/// Hands a new hibernating actor to its bus's driver, which starts it.
pub(crate) fn schedule<A: Actor>(life: Life<A>) {
    Sleeper::new(Asleep::new(life, false)).rouse();
}

/// Hands a new default actor to its bus's driver, which starts it; the actor then sleeps
/// until its first mail, which gives it a task of its own.
pub(crate) fn schedule_until_mail<A: Actor>(life: Life<A>) {
    Sleeper::new(Asleep::new(life, true)).rouse();
}

/// Runs a default actor on the driver as far as it goes without a task: a new one starts
/// and, unless it has had mail, sleeps; one with mail (sent before its start ended) or woken
/// by a signal alone (a stop) serves it and, if it goes on, moves into a task of its own,
/// which it keeps. (Its first mail, when it sleeps, moves it into its task from the wake:
/// see `Sleeper::rouse`.)
async fn until_first_mail<A: Actor>(mut life: Life<A>) {
    let mut woken = life.actor.is_some();
    loop {
        if !live(&mut life).await {
            return;
        }
        // Mail that came before or during the start, served in the start's turn or still
        // waiting, is a first mail as well.
        if woken || life.runner.handled_in_turn() || life.runner.has_mail() {
            break;
        }
        // Just started, and no mail waits: asleep until some comes.
        match sleep(life, true) {
            Some(back) => {
                life = back;
                woken = true;
            }
            None => return,
        }
    }
    into_own_task(life);
}

/// Moves a started actor into a task of its own for good. On a runtime that has shut down
/// the task is dropped at once, which finalises the actor as killed.
fn into_own_task<A: Actor>(life: Life<A>) {
    let Life {
        runner,
        args,
        ctx,
        ack,
        incarnation,
        actor,
    } = life;
    // Taken by the start.
    drop(ack);
    // Always `Some` for a started actor; were it not, dropping the runner would finalise the
    // actor as killed.
    let Some(actor) = actor else {
        return;
    };
    let shared = ctx.actor_ref().shared.clone();
    let handle = ctx.bus().hibernation().handle.clone();
    let join = handle.spawn(run_woken(runner, args, ctx, incarnation, actor));
    // A kill that came meanwhile aborts the task here.
    shared.set_abort(join.abort_handle());
}

/// Runs a hibernating actor until it sleeps (or stops for good).
async fn sleepwalk<A: Actor>(mut life: Life<A>) {
    loop {
        if !live(&mut life).await {
            return;
        }
        if life.runner.has_mail() {
            // It had its turn with mail left: let others run. On the driver this poll is
            // then pending, and the actor moves into a task of its own until it sleeps.
            tokio::task::yield_now().await;
            continue;
        }
        match sleep(life, false) {
            Some(back) => life = back,
            None => return,
        }
    }
}

/// The places a hibernating actor going to sleep keeps in each lane of its mailbox (64
/// envelopes, 3.5 KiB); a lane that a burst grew past them gives its buffer back.
const KEPT_PLACES: usize = 64;

/// Puts an actor with no mail to sleep: its life goes into a sleeper registered as its
/// mailbox's waker. `Some(life)` back when mail came meanwhile.
fn sleep<A: Actor>(life: Life<A>, until_mail: bool) -> Option<Life<A>> {
    debug_assert!(life.ack.is_none(), "a started actor has no start to report");
    let shared: Arc<Shared<A>> = life.ctx.actor_ref().shared.clone();
    let sleeper = Sleeper::new(Asleep::new(life, until_mail));
    let waker = Waker::from(sleeper.clone());
    let cx = &mut TaskContext::from_waker(&waker);
    // The batch is empty (the actor took everything), so a fresh inbox sees what its own
    // would: whether anything is queued, registering the sleeper under the mailbox's lock
    // when nothing is. A hibernating actor, which sleeps whenever it has no mail, gives back
    // under that lock what a burst grew its queues to (its batch went with the runner).
    let queued = if until_mail {
        Inbox::new().poll_ready(&shared.mailbox, cx)
    } else {
        Inbox::new().poll_ready_releasing(&shared.mailbox, cx, KEPT_PLACES)
    }
    .is_ready();
    // A kill sets its flag before it wakes the mailbox's waker, and the sleeper was
    // registered before the flag is read here: one of the two sees the other.
    if queued || shared.kill_requested() {
        // Mail found here registered nothing, so the sleeper is still full; but a kill's
        // wake may already have handed it to the driver, which then drops the actor.
        let life = sleeper.take()?.wake();
        if queued && !shared.kill_requested() {
            return Some(life);
        }
        // Killed: dropping the life finalises the actor (its runner's drop guard).
        drop(life);
    }
    None
}

/// A woken hibernating actor, as its bus's driver runs it.
trait Job: Send {
    /// Whether the actor was killed: the driver then drops it unrun.
    fn killed(&self) -> bool;
    /// Runs the actor until it sleeps, stops, or waits for something.
    fn poll(&mut self, cx: &mut TaskContext<'_>) -> Poll<()>;
    /// Moves an actor that waits into a task of its own.
    fn into_task(self: Box<Self>, handle: &Handle);
}

struct LifeJob<A: Actor> {
    shared: Arc<Shared<A>>,
    life: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl<A: Actor> Job for LifeJob<A> {
    fn killed(&self) -> bool {
        self.shared.kill_requested()
    }

    fn poll(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.life.as_mut().poll(cx)
    }

    fn into_task(self: Box<Self>, handle: &Handle) {
        let LifeJob { shared, life } = *self;
        // The task's first poll registers its own waker wherever the driver's was.
        let join = handle.spawn(life);
        shared.set_abort(join.abort_handle());
    }
}

/// What a driver does when its runtime shuts down under it: finalise every actor of its bus,
/// since sleeping ones have no task that the runtime would drop.
pub(crate) type OnClose = Box<dyn Fn() + Send + Sync>;

/// One bus's runner of new and woken actors that have no task: a queue, and a task that
/// empties it, started with the driver (by the bus's first actor) and ended when its bus is
/// dropped (`DriverCell`).
pub(crate) struct Driver {
    state: Mutex<DriverState>,
    ready: Notify,
    handle: Handle,
    on_close: OnClose,
}

/// Where a bus keeps its driver: made by the first actor, retired with the bus.
#[derive(Default)]
pub(crate) struct DriverCell(OnceLock<Arc<Driver>>);

impl DriverCell {
    /// The driver, made on first use, whose task runs on `handle`; `on_close` is called if
    /// that runtime shuts down before the bus is dropped.
    pub(crate) fn get(&self, handle: &Handle, on_close: impl FnOnce() -> OnClose) -> &Arc<Driver> {
        if let Some(driver) = self.0.get() {
            return driver;
        }
        let mut made = false;
        let driver = self.0.get_or_init(|| {
            made = true;
            Arc::new(Driver {
                state: Mutex::new(DriverState::default()),
                ready: Notify::new(),
                handle: handle.clone(),
                on_close: on_close(),
            })
        });
        // Started outside the cell's initialisation: on a runtime that has shut down the task
        // is dropped at once, and `on_close` then reaches this cell again.
        if made {
            driver.handle.spawn(drive(Closing(driver.clone())));
        }
        driver
    }
}

impl Drop for DriverCell {
    fn drop(&mut self) {
        // The bus is gone, and so is every actor that could be queued (each holds the bus):
        // the driver's task ends.
        if let Some(driver) = self.0.get() {
            driver.state().retired = true;
            driver.ready.notify_one();
        }
    }
}

#[derive(Default)]
struct DriverState {
    queue: VecDeque<Arc<dyn Queued>>,
    /// The driver's runtime has shut down: jobs are dropped when pushed.
    closed: bool,
    /// The bus was dropped: the task ends.
    retired: bool,
}

/// How many actors the driver runs before it lets other tasks of its runtime run.
const TURNS_PER_YIELD: u32 = 64;

impl Driver {
    fn state(&self) -> MutexGuard<'_, DriverState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(self: &Arc<Self>, sleeper: Arc<dyn Queued>) {
        let mut state = self.state();
        if state.closed {
            drop(state);
            // Its runtime is gone: the actor is finalised here, as killed.
            drop(sleeper.take_job());
            return;
        }
        state.queue.push_back(sleeper);
        drop(state);
        self.ready.notify_one();
    }

    /// The next sleeper, waiting for one; `None` once the bus is gone (the task then ends).
    async fn next(&self) -> Option<Arc<dyn Queued>> {
        loop {
            {
                let mut state = self.state();
                if let Some(next) = state.queue.pop_front() {
                    return Some(next);
                }
                if state.retired {
                    return None;
                }
            }
            // A push (or the retirement) after the check above leaves a permit: not missed.
            self.ready.notified().await;
        }
    }
}

/// Closes the driver if its task is dropped before its bus retires it (its runtime shut
/// down, or had before the task was spawned), dropping, and so finalising, the actors
/// queued; then every actor of the bus is killed, which finalises the sleeping ones (their
/// kill hands them to the closed driver) as the runtime's shutdown does those with tasks.
struct Closing(Arc<Driver>);

impl Drop for Closing {
    fn drop(&mut self) {
        let queued = {
            let mut state = self.0.state();
            if state.retired {
                return;
            }
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        for sleeper in queued {
            drop(sleeper.take_job());
        }
        (self.0.on_close)();
    }
}

async fn drive(closing: Closing) {
    let driver = &closing.0;
    let mut turns = 0u32;
    while let Some(sleeper) = driver.next().await {
        let Some(mut job) = sleeper.take_job() else {
            continue;
        };
        drop(sleeper);
        if job.killed() {
            drop_quietly(job);
            continue;
        }
        let polled = std::future::poll_fn(|cx| {
            Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| job.poll(cx))))
        })
        .await;
        match polled {
            Ok(Poll::Ready(())) => drop_quietly(job),
            Ok(Poll::Pending) => job.into_task(&driver.handle),
            Err(_) => {
                // Handlers' panics are caught where they run; this is one outside them (a
                // state's `Drop`). The actor is dropped, and so finalised as killed.
                tracing::error!(
                    target: "mycelium::actor",
                    "a hibernating actor panicked outside its handlers; it is stopped as killed"
                );
                drop_quietly(job);
            }
        }
        turns += 1;
        if turns == TURNS_PER_YIELD {
            turns = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// Drops a job without letting a panic in its drop (an actor state's `Drop`) end the
/// driver's task, which runs the bus's other hibernating actors.
fn drop_quietly(job: Box<dyn Job>) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| drop(job))).is_err() {
        tracing::error!(
            target: "mycelium::actor",
            "a hibernating actor panicked while it was dropped"
        );
    }
}

#[cfg(test)]
mod tests;

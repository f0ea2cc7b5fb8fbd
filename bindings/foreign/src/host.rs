//! Where foreign code runs, and how a virtual-time bus runs it in lockstep with its actors.
//!
//! Foreign code (handlers, starts, stops) never runs on the runtime's workers. On a real-time
//! bus it runs on the runtime's blocking pool. On a virtual-time bus a run must repeat
//! exactly: the clock stands still while foreign code runs (it cannot be preempted, and bus
//! time must not pass under a handler that computes) and moves while that code waits on the
//! bus (a handler that asks an actor which answers after a timer waits for bus time to pass);
//! and what the bus's actors do must not race what the foreign code does (a publisher must
//! not run on while a subscriber's handler fails, or how many publications reach the failed
//! subscriber before its task ends it would depend on the threads' timing). So the bus's
//! runtime and its foreign code take [`Turn`]s: one of them runs at a time.
//! - Foreign code runs on a thread of a pool of its own (`mycelium-host`, the blocking pool of
//!   a runtime that drives nothing). The code that hands it over queues a *grant* on the
//!   bus's runtime: a task that, once the runtime polls it, gives the foreign code its turn
//!   and blocks the runtime's thread until the code gives the turn back. The foreign code
//!   waits for its turn before it starts.
//! - While the foreign code waits for a future through [`poll_for`](crate::poll_for), it gives
//!   the turn back; the waker that ends the wait queues a new grant where it runs (on the
//!   runtime, in the actor that answers). The clock can move during the wait (the runtime
//!   sleeps to its next timer once no task is ready), as for a Rust actor that awaits an ask,
//!   and cannot move between the answer and the code going on (the grant is ready to run).
//! - The turn goes back when the code returns (or unwinds).
//!
//! Every grant is queued by the runtime's own thread or by foreign code holding the turn, at
//! a point of the run that repeats, so the runtime's schedule repeats and so does the run.
//! The program's own threads (a script asking an actor) stay outside: what they do races the
//! bus, as any input from outside does.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// Keeps the paused clock of a runtime still while it lives: a program's own thread that
/// waits on a virtual-time bus holds one from the wake that ends a wait until it has polled
/// again ([`poll_woken_held`]).
struct ClockHold {
    /// Dropped, it ends the blocking task that holds the clock.
    _release: mpsc::Sender<()>,
}

impl ClockHold {
    /// Holds the clock of `handle`'s runtime from now on (tokio moves a paused clock only
    /// while none of its blocking tasks runs). On a runtime that has shut down the task never
    /// runs, and there is no clock left to hold.
    fn take(handle: &Handle) -> ClockHold {
        let (release, held) = mpsc::channel::<()>();
        drop(handle.spawn_blocking(move || {
            let _ = held.recv();
        }));
        ClockHold { _release: release }
    }
}

/// A virtual clock held still by a program's own thread ([`hold_clock`]) until dropped.
pub struct HeldClock {
    _hold: ClockHold,
}

/// Holds the paused clock of `handle`'s runtime (a virtual-time bus's) still until the
/// returned value is dropped: its actors run, but bus time does not move. For a program's
/// thread that sets several things up in bus time one call at a time (a set's replay spawning
/// its members), so that the clock does not jump to the first member's timer before the last
/// member is there.
pub fn hold_clock(handle: &Handle) -> HeldClock {
    HeldClock {
        _hold: ClockHold::take(handle),
    }
}

/// Who runs: the bus's runtime or one piece of foreign code (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Whose {
    /// The runtime runs; the foreign code waits for a grant.
    Runtime,
    /// The foreign code runs; the runtime's thread waits in the grant.
    Code,
    /// The runtime has gone (a grant was dropped unrun): the code runs freely.
    Free,
    /// The code has returned.
    Done,
}

#[derive(Debug)]
struct TurnState {
    whose: Whose,
    /// A grant is queued on the runtime and has not run.
    granting: bool,
    /// The code was woken while it had its turn: it polls again before it gives the turn
    /// back (or, when `Free`, before it parks).
    woken: bool,
}

/// One piece of foreign code's turns on a virtual-time bus (see the module doc).
pub(crate) struct Turn {
    handle: Handle,
    state: Mutex<TurnState>,
    changed: Condvar,
}

impl Turn {
    fn new(handle: Handle) -> Arc<Turn> {
        Arc::new(Turn {
            handle,
            state: Mutex::new(TurnState {
                whose: Whose::Runtime,
                granting: false,
                woken: false,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a grant on the runtime unless one is queued (or the runtime is gone, or the
    /// code has returned).
    fn request(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if state.granting || state.whose != Whose::Runtime {
                return;
            }
            state.granting = true;
        }
        // Spawned with the lock let go: on a runtime that has shut down the task is dropped
        // at once, and its drop takes the lock.
        let grant = Grant(Some(self.clone()));
        drop(self.handle.spawn(async move { grant.run() }));
    }

    /// Waits until this code has its turn (or runs freely), until `deadline`: false if the
    /// deadline came first.
    fn wait_for_turn(&self, deadline: Option<Instant>) -> bool {
        self.wait_until(self.lock(), deadline, |state| state.whose != Whose::Runtime)
            .is_some()
    }

    /// Waits (from `state`) until `done` holds, or `deadline` passes (then `None`).
    fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, TurnState>,
        deadline: Option<Instant>,
        done: impl Fn(&TurnState) -> bool,
    ) -> Option<MutexGuard<'a, TurnState>> {
        while !done(&state) {
            let Some(deadline) = deadline else {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Some(state)
    }

    /// The code has returned: the runtime goes on, and no grant is made any more.
    fn done(&self) {
        let mut state = self.lock();
        state.whose = Whose::Done;
        self.changed.notify_all();
    }
}

/// Wakes foreign code waiting in [`poll_for`](crate::poll_for): queues its grant, or, while
/// it has its turn (or runs freely), makes it poll again.
struct TurnWaker(Arc<Turn>);

impl Wake for TurnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let turn = &self.0;
        {
            let mut state = turn.lock();
            match state.whose {
                // Queued below, unless a grant is queued already.
                Whose::Runtime => {}
                Whose::Code | Whose::Free => {
                    state.woken = true;
                    turn.changed.notify_all();
                    return;
                }
                Whose::Done => return,
            }
        }
        turn.request();
    }
}

/// A task of the bus's runtime that gives foreign code its turn and blocks the runtime's
/// thread until the code gives it back. Dropped unrun (the runtime has shut down), it lets
/// the code run freely.
struct Grant(Option<Arc<Turn>>);

impl Grant {
    fn run(mut self) {
        let Some(turn) = self.0.take() else {
            return;
        };
        let mut state = turn.lock();
        state.granting = false;
        if state.whose != Whose::Runtime {
            return;
        }
        state.whose = Whose::Code;
        turn.changed.notify_all();
        while state.whose == Whose::Code {
            state = turn.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some(turn) = self.0.take() {
            let mut state = turn.lock();
            state.granting = false;
            if state.whose == Whose::Runtime {
                state.whose = Whose::Free;
                turn.changed.notify_all();
            }
        }
    }
}

thread_local! {
    /// The turn of the foreign code running on this thread, if it runs on virtual time.
    static TURN: RefCell<Option<Arc<Turn>>> = const { RefCell::new(None) };
}

/// Ends the turns of the code on this thread when dropped: it returned, unwound, or was
/// dropped unrun (its pool shut down).
struct TurnEnd(Arc<Turn>);

impl Drop for TurnEnd {
    fn drop(&mut self) {
        TURN.with(|t| {
            let mut mine = t.borrow_mut();
            if mine.as_ref().is_some_and(|turn| Arc::ptr_eq(turn, &self.0)) {
                *mine = None;
            }
        });
        self.0.done();
    }
}

/// The pool foreign code of virtual-time buses runs on: the blocking pool of a runtime that
/// drives nothing. `None` if it could not be started (the code then runs on the bus
/// runtime's blocking pool: the clock stands still until it returns, but it races the bus).
fn host_pool() -> Option<&'static Handle> {
    static POOL: OnceLock<Option<Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .thread_name("mycelium-host")
            .thread_keep_alive(Duration::from_secs(10))
            .build()
            .ok()
    })
    .as_ref()
    .map(Runtime::handle)
}

/// Runs `f` off the workers of the current runtime (a bus's): on its blocking pool, or, on a
/// virtual-time bus, on the host pool in turns with the bus (see the module doc). `false`
/// (and `f` dropped unrun) if the calling thread is in no runtime's context.
pub(crate) fn spawn_on_host(virtual_time: bool, f: impl FnOnce() + Send + 'static) -> bool {
    let Ok(bus) = Handle::try_current() else {
        return false;
    };
    match host_pool() {
        Some(pool) if virtual_time => {
            let turn = Turn::new(bus.clone());
            turn.request();
            let end = TurnEnd(turn);
            drop(pool.spawn_blocking(move || {
                let _runtime = bus.enter();
                end.0.wait_for_turn(None);
                TURN.with(|t| *t.borrow_mut() = Some(end.0.clone()));
                let _end = end;
                f();
            }));
        }
        _ => drop(bus.spawn_blocking(f)),
    }
    true
}

/// Why foreign code handed to [`on_host`] gave no result.
pub(crate) enum Lost {
    /// It panicked (a foreign failure unwinds with a [`Failure`](mycelium_actors::Failure)).
    Panicked(Box<dyn Any + Send>),
    /// Its thread went without running it: the runtime is shutting down.
    Dropped,
}

/// Runs `f` as [`spawn_on_host`] does and waits for its result.
pub(crate) async fn on_host<T: Send + 'static>(
    virtual_time: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Lost> {
    let (done, result) = oneshot::channel();
    if !spawn_on_host(virtual_time, move || {
        let _ = done.send(catch_unwind(AssertUnwindSafe(f)));
    }) {
        return Err(Lost::Dropped);
    }
    match result.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(payload)) => Err(Lost::Panicked(payload)),
        Err(_) => Err(Lost::Dropped),
    }
}

/// The turn of the foreign code on this thread, for a wait ([`poll_for`](crate::poll_for)).
pub(crate) fn turn_for_wait() -> Option<Arc<Turn>> {
    TURN.with(|t| t.borrow().clone())
}

/// A waker for the foreign code on this thread, if it takes turns with a virtual-time bus:
/// woken (where a future it waits for through another way than [`poll_for`](crate::poll_for)
/// completes, such as the task that settles a language's awaitable), it queues the code's
/// grant. Wake it before whatever wakes the thread itself, so that the grant is queued at that
/// point of the runtime's schedule.
pub fn turn_waker() -> Option<Waker> {
    turn_for_wait().map(|turn| Waker::from(Arc::new(TurnWaker(turn))))
}

/// Gives this thread's turn back to the runtime before the foreign code on it blocks in a wait
/// of its own (a language's event loop waiting for its awaitables, which a [`turn_waker`]
/// settles): `false` if the thread takes no turns or has no turn to give. Call
/// [`take_turn`] once the wait is over, before the code goes on.
pub fn give_turn() -> bool {
    let Some(turn) = turn_for_wait() else {
        return false;
    };
    let mut state = turn.lock();
    if state.whose != Whose::Code {
        return false;
    }
    state.whose = Whose::Runtime;
    turn.changed.notify_all();
    true
}

/// Takes this thread's turn back after [`give_turn`]: waits for the grant a [`turn_waker`]
/// queued, or, if none was (the wait ended by itself: a timeout of the language's own, in wall
/// time), queues one.
pub fn take_turn() {
    let Some(turn) = turn_for_wait() else {
        return;
    };
    // A no-op when a grant is queued already, or the turn is here.
    turn.request();
    turn.wait_for_turn(None);
}

/// Threads of foreign code waiting for a lock that other foreign code holds ([`lock_released`]).
#[derive(Default)]
pub(crate) struct LockWaiters {
    any: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl LockWaiters {
    /// Wakes every waiter: called by the thread that has just let the lock go, which still
    /// has its turn, so each waiter's grant is queued before the runtime goes on.
    pub(crate) fn wake(&self) {
        // Paired with the fence in `register`: either this sees the waiter's flag, or the
        // waiter's next try sees the lock let go.
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let wakers = {
            let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
            self.any.store(false, Ordering::Release);
            std::mem::take(&mut *wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    fn register(&self, waker: &Waker) {
        {
            let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
            wakers.push(waker.clone());
            self.any.store(true, Ordering::Release);
        }
        // Paired with the fence in `wake`, before the waiter tries the lock again.
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// Takes a lock through `try_lock`, waiting for it as a wait on the bus when this thread's
/// foreign code takes turns with a virtual-time bus: a stop or a release waiting for a
/// handler that waits on the bus (an ask answered after a timer) must give the turn back,
/// or that handler never has its answer. The thread that lets the lock go queues the
/// waiter's grant ([`LockWaiters::wake`]). `None` when this thread takes no turns and the
/// lock is taken: the caller waits for it as for any lock.
pub(crate) fn lock_released<G>(
    waiters: &LockWaiters,
    mut try_lock: impl FnMut() -> Option<G>,
) -> Option<G> {
    if let Some(guard) = try_lock() {
        return Some(guard);
    }
    let turn = turn_for_wait()?;
    loop {
        let free = std::future::poll_fn(|cx| {
            if let Some(guard) = try_lock() {
                return Poll::Ready(guard);
            }
            waiters.register(cx.waker());
            // Let go between the first try and the registration: the wake was missed.
            try_lock().map_or(Poll::Pending, Poll::Ready)
        });
        if let Some(guard) = poll_in_turns(&turn, std::pin::pin!(free), Duration::from_secs(3600)) {
            return Some(guard);
        }
    }
}

/// [`poll_for`](crate::poll_for) by foreign code that takes turns with a virtual-time bus
/// (see the module doc): polls `fut` in its turn, gives the turn back while the future is
/// pending, and polls again in the turn its waker's grant gives it. `None` if `limit` passed
/// first: the thread then does not have its turn, and the next call (with the same future,
/// whose waker is registered) waits for the grant before it polls. Foreign code must call
/// again, or return, before it touches the bus.
pub(crate) fn poll_in_turns<F: Future + ?Sized>(
    turn: &Arc<Turn>,
    mut fut: Pin<&mut F>,
    limit: Duration,
) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(TurnWaker(turn.clone())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    loop {
        // Back from a wait that ended by its limit, the turn is the grant's to give.
        if !turn.wait_for_turn(Some(deadline)) {
            return None;
        }
        turn.lock().woken = false;
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let mut state = turn.lock();
        if state.woken {
            continue;
        }
        match state.whose {
            Whose::Code => {
                // Bus time may pass while this thread waits.
                state.whose = Whose::Runtime;
                turn.changed.notify_all();
            }
            Whose::Free | Whose::Done => {
                // No runtime to take turns with: a plain park until the waker.
                drop(turn.wait_until(state, Some(deadline), |state| state.woken)?);
            }
            Whose::Runtime => {}
        }
    }
}

/// Wakes a program's own thread that waits on a virtual-time bus, holding its clock first.
struct Rewake {
    thread: Thread,
    handle: Handle,
    state: Mutex<Rewoken>,
}

#[derive(Default)]
struct Rewoken {
    /// The wait is over: a wake now (a waker kept by a future after the wait) holds nothing.
    over: bool,
    /// Taken by a wake, for the waiting thread.
    hold: Option<ClockHold>,
}

impl Rewake {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rewoken> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Wake for Rewake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if !state.over && state.hold.is_none() {
                state.hold = Some(ClockHold::take(&self.handle));
            }
        }
        self.thread.unpark();
    }
}

/// [`poll_for`](crate::poll_for) on a thread of the program's own (no foreign callback) that
/// waits on a virtual-time bus: the waker that ends a wait holds the clock until this thread
/// has polled again. Else, once an ask's answer has come, bus time could jump to the
/// deadline of its timeout before this thread drops it, and a run would not repeat.
pub(crate) fn poll_woken_held<F: Future + ?Sized>(
    handle: &Handle,
    mut fut: Pin<&mut F>,
    limit: Duration,
) -> Option<F::Output> {
    let rewake = Arc::new(Rewake {
        thread: thread::current(),
        handle: handle.clone(),
        state: Mutex::default(),
    });
    let waker = Waker::from(rewake.clone());
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    let mut held: Option<ClockHold> = None;
    let output = loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            break Some(v);
        }
        // Bus time may pass while this thread waits.
        drop(held.take());
        loop {
            if let Some(hold) = rewake.lock().hold.take() {
                held = Some(hold);
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            thread::park_timeout(deadline - now);
        }
        if held.is_none() {
            break None;
        }
    };
    rewake.lock().over = true;
    output
}

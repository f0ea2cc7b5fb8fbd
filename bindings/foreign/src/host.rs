//! Where foreign code runs, and how a virtual clock stands still while it runs yet moves
//! while it waits on the bus.
//!
//! Foreign code (handlers, starts, stops) never runs on the runtime's workers. On a real-time
//! bus it runs on the runtime's blocking pool. On a virtual-time bus the clock must stand
//! still while foreign code runs (it cannot be preempted, and bus time must not pass under a
//! handler that computes), and must move while that code waits on the bus: a handler that
//! asks an actor which answers after a timer, a backoff or a sleep waits for bus time to
//! pass. tokio moves a paused clock only while none of its runtime's blocking tasks runs, so:
//! - a [`ClockHold`] is a blocking task of the bus's runtime that does nothing but wait to be
//!   let go; tokio counts it the moment it is spawned;
//! - foreign code runs on a thread of a pool of its own (`mycelium-host`, the blocking pool
//!   of a runtime that drives nothing), with a hold taken on the bus's runtime by the task
//!   that hands the code over: the clock cannot move between the hand-over and the start;
//! - while that code waits for a future through [`poll_for`](crate::poll_for), its hold is
//!   let go, and the waker that ends the wait takes a new one where it runs (on the runtime,
//!   in the actor that answers): the clock can move during the wait, as for a Rust actor that
//!   awaits an ask, and cannot move between the answer and the code going on;
//! - the hold is let go when the code returns (or unwinds).

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// Keeps the paused clock of a runtime still while it lives (see the module doc).
pub(crate) struct ClockHold {
    /// Dropped, it ends the blocking task that holds the clock.
    _release: mpsc::Sender<()>,
    handle: Handle,
}

impl ClockHold {
    /// Holds the clock of `handle`'s runtime from now on. On a runtime that has shut down
    /// the task never runs, and there is no clock left to hold.
    fn take(handle: &Handle) -> ClockHold {
        let (release, held) = mpsc::channel::<()>();
        drop(handle.spawn_blocking(move || {
            let _ = held.recv();
        }));
        ClockHold {
            _release: release,
            handle: handle.clone(),
        }
    }
}

thread_local! {
    /// The hold of the foreign code running on this thread, if it runs on virtual time.
    static HELD: RefCell<Option<ClockHold>> = const { RefCell::new(None) };
}

/// Lets go of this thread's hold when dropped: the foreign code returned or unwound.
struct LetGo;

impl Drop for LetGo {
    fn drop(&mut self) {
        drop(HELD.with(|h| h.borrow_mut().take()));
    }
}

/// The pool foreign code of virtual-time buses runs on: the blocking pool of a runtime that
/// drives nothing, so its tasks hold no bus's clock. `None` if it could not be started (the
/// code then runs on the bus runtime's blocking pool, with the clock held until it returns).
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
/// virtual-time bus, on the host pool with the clock held from now until `f` returns, but
/// not while `f` waits in [`poll_for`](crate::poll_for). `false` (and `f` dropped unrun)
/// if the calling thread is in no runtime's context.
pub(crate) fn spawn_on_host(virtual_time: bool, f: impl FnOnce() + Send + 'static) -> bool {
    let Ok(bus) = Handle::try_current() else {
        return false;
    };
    match host_pool() {
        Some(pool) if virtual_time => {
            let hold = ClockHold::take(&bus);
            drop(pool.spawn_blocking(move || {
                let _runtime = bus.enter();
                HELD.with(|h| *h.borrow_mut() = Some(hold));
                let _let_go = LetGo;
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

/// The hold of the foreign code on this thread, taken away for a wait ([`poll_for`]).
pub(crate) fn let_go_for_wait() -> Option<ClockHold> {
    HELD.with(|h| h.borrow_mut().take())
}

/// Threads of foreign code waiting for a lock that other foreign code holds ([`lock_released`]).
#[derive(Default)]
pub(crate) struct LockWaiters {
    any: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl LockWaiters {
    /// Wakes every waiter: called by the thread that has just let the lock go, which still
    /// holds its clock, so each waiter's clock is held again before that thread's goes.
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
/// foreign code holds a virtual clock: a stop or a release waiting for a handler that waits
/// on the bus (an ask answered after a timer) must not hold the clock that handler waits
/// for. The clock is held again by the thread that lets the lock go ([`LockWaiters::wake`],
/// before its own hold goes). `None` when this thread holds no clock and the lock is taken:
/// the caller waits for it as for any lock.
pub(crate) fn lock_released<G>(
    waiters: &LockWaiters,
    mut try_lock: impl FnMut() -> Option<G>,
) -> Option<G> {
    if let Some(guard) = try_lock() {
        return Some(guard);
    }
    loop {
        let held = let_go_for_wait()?;
        let free = std::future::poll_fn(|cx| {
            if let Some(guard) = try_lock() {
                return Poll::Ready(guard);
            }
            waiters.register(cx.waker());
            // Let go between the first try and the registration: the wake was missed.
            try_lock().map_or(Poll::Pending, Poll::Ready)
        });
        if let Some(guard) = poll_released(held, std::pin::pin!(free), Duration::from_secs(3600)) {
            return Some(guard);
        }
    }
}

/// Wakes a waiting thread of foreign code, holding its clock again first.
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

/// [`poll_for`](crate::poll_for) on a thread whose foreign code holds a clock (`held`):
/// polls holding it, lets go of it while parked, and goes on with the hold its waker took.
/// This thread holds the clock again when it returns.
pub(crate) fn poll_released<F: Future + ?Sized>(
    held: ClockHold,
    fut: Pin<&mut F>,
    limit: Duration,
) -> Option<F::Output> {
    let handle = held.handle.clone();
    let (output, hold) = poll_rewoken(&handle, Some(held), fut, limit);
    let hold = hold.unwrap_or_else(|| ClockHold::take(&handle));
    HELD.with(|h| *h.borrow_mut() = Some(hold));
    output
}

/// [`poll_for`](crate::poll_for) on a thread of the program's own (no foreign callback) that
/// waits on a virtual-time bus: the waker that ends a wait holds the clock until this thread
/// has polled again. Else, once an ask's answer has come, bus time could jump to the
/// deadline of its timeout before this thread drops it, and a run would not repeat.
pub(crate) fn poll_woken_held<F: Future + ?Sized>(
    handle: &Handle,
    fut: Pin<&mut F>,
    limit: Duration,
) -> Option<F::Output> {
    poll_rewoken(handle, None, fut, limit).0
}

/// Polls `fut` holding `held` (if any) and whatever hold the waker that ended each wait
/// took, letting go of it while parked, for at most `limit`; the output, and the hold this
/// thread has at the end.
fn poll_rewoken<F: Future + ?Sized>(
    handle: &Handle,
    held: Option<ClockHold>,
    mut fut: Pin<&mut F>,
    limit: Duration,
) -> (Option<F::Output>, Option<ClockHold>) {
    let rewake = Arc::new(Rewake {
        thread: thread::current(),
        handle: handle.clone(),
        state: Mutex::default(),
    });
    let waker = Waker::from(rewake.clone());
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    let mut held = held;
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
    let late = {
        let mut state = rewake.lock();
        state.over = true;
        state.hold.take()
    };
    (output, held.or(late))
}

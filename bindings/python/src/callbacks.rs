//! Python called from the bus runtime's threads, and the interpreter's exit.
//!
//! Handlers, `on_start`, `on_stop` and the completions of `ask_async`/`tell_async` run on
//! threads of a bus runtime's blocking pool, which take the GIL for each call (or, for an
//! actor's mail, once per batch: `PyForeign::run_batch`). A kill (a
//! shutdown's deadline) aborts an actor's task but cannot preempt the Python code it was
//! running: that code goes on, on its pool thread, until it returns. Such a thread must not
//! take the GIL once the interpreter is finalising, so every call from those threads goes
//! through [`attach`], which counts the calls running, and the package's `atexit` hook calls
//! [`close_callbacks`]: from then on no call starts (a handler or `on_start` fails with
//! [`EXITING`], like any failing handler), a wait inside a running call raises `BusClosed`
//! so a handler blocked on the bus returns, and the hook waits, without the GIL, until every
//! running call has returned. `atexit` hooks run while the interpreter is still whole.
//!
//! An `async def` handler runs to its end on its thread's own event loop ([`thread_loop`]),
//! which lives as long as the thread: a Python `threading.local` cannot hold it, since a
//! runtime thread's Python thread state, and all it holds, ends with each call.

use std::cell::{Cell, RefCell};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;

/// Why a callback did not run: the interpreter is exiting.
pub(crate) const EXITING: &str =
    "the Python interpreter is exiting: no Python callback starts any more";

/// How often the exit hook looks for Ctrl-C while it waits.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

struct Calls {
    /// Set by the exit hook; never cleared.
    closed: bool,
    /// Calls inside [`attach`] now.
    running: usize,
}

static CALLS: Mutex<Calls> = Mutex::new(Calls {
    closed: false,
    running: 0,
});
static IDLE: Condvar = Condvar::new();

thread_local! {
    /// True on a thread while it runs a call through [`attach`].
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// This thread's event loop for `async def` callbacks, once it has run one.
    static EVENT_LOOP: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
    /// This thread's Python thread state, kept between its calls (see [`Kept`]).
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// The Python thread state of a thread Python did not start, made at its first call and
/// kept until the thread ends. Without it every call through [`attach`] made a thread state
/// and deleted it (`PyGILState_Ensure` and `PyGILState_Release` of a thread that has none):
/// the bulk of a Rust task's direct ask of a Python actor.
struct Kept(pyo3::ffi::PyGILState_STATE);

impl Kept {
    /// Gives this thread a kept thread state if it has none. Not once the thread's locals
    /// are going (a call from another local's destructor, such as the event loop's close):
    /// that call makes a thread state of its own, as before.
    fn ensure() {
        let _ = KEPT.try_with(|kept| {
            if kept.borrow().is_some() {
                return;
            }
            // SAFETY: called with the interpreter running (`attach` checked it is not
            // exiting) and without the GIL on this thread (no thread state, so not held
            // here): `PyGILState_Ensure` makes the thread state and takes the GIL,
            // `PyEval_SaveThread` releases it, keeping the state (its counter stays at one).
            let state = unsafe {
                if !pyo3::ffi::PyGILState_GetThisThreadState().is_null() {
                    return;
                }
                let state = pyo3::ffi::PyGILState_Ensure();
                pyo3::ffi::PyEval_SaveThread();
                state
            };
            *kept.borrow_mut() = Some(Kept(state));
        });
    }
}

impl Drop for Kept {
    /// At the thread's end: the state is deleted, unless the interpreter is exiting (the
    /// process ends; Python deletes what is left).
    fn drop(&mut self) {
        if calls().closed {
            return;
        }
        // SAFETY: this thread keeps a thread state without the GIL (`Kept::ensure`):
        // `PyGILState_Ensure` takes the GIL for it (counter two), the first release leaves
        // it held (counter one), the second, with the state `ensure` was given, deletes the
        // thread state and releases the GIL.
        unsafe {
            let _ = pyo3::ffi::PyGILState_Ensure();
            pyo3::ffi::PyGILState_Release(pyo3::ffi::PyGILState_STATE::PyGILState_LOCKED);
            pyo3::ffi::PyGILState_Release(self.0);
        }
    }
}

/// An asyncio event loop, closed when its thread ends (or it is replaced).
struct EventLoop(Py<PyAny>);

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Once the interpreter is exiting the loop is left as it is: the process ends.
        let _ = attach(|py| {
            if let Err(e) = self.0.call_method0(py, "close") {
                e.print(py);
            }
        });
    }
}

/// The calling thread's event loop, made at its first call (again if a handler closed it):
/// `async def` handlers, `on_start` and `on_stop` run to their end on it. It is closed when
/// the thread ends, so a runtime's pool thread makes one loop in its life, not one per call.
#[pyfunction]
pub(crate) fn thread_loop(py: Python<'_>) -> PyResult<Py<PyAny>> {
    EVENT_LOOP.with(|slot| {
        if let Some(current) = slot.borrow().as_ref() {
            if !current.0.call_method0(py, "is_closed")?.is_truthy(py)? {
                return Ok(current.0.clone_ref(py));
            }
        }
        // Its selector gives the thread's turn back to a virtual-time bus while it waits.
        let made = py
            .import("mycelium._actor")?
            .call_method0("_new_thread_loop")?
            .unbind();
        let old = slot.replace(Some(EventLoop(made.clone_ref(py))));
        drop(old);
        Ok(made)
    })
}

fn calls() -> MutexGuard<'static, Calls> {
    CALLS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The interpreter is exiting: no callback may start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exiting;

/// Leaves a call: counted out (also when it unwinds).
struct Leave {
    was_in_call: bool,
}

impl Drop for Leave {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.set(self.was_in_call));
        let mut calls = calls();
        calls.running -= 1;
        // Only the exit hook waits, and only once it has closed the calls (under this lock):
        // a wake is a system call whether anyone waits or not, and every call ends here.
        if calls.running == 0 && calls.closed {
            IDLE.notify_all();
        }
    }
}

/// Runs `f` with the GIL, counted, on a thread that is not a Python thread (a runtime's
/// blocking pool); `Err(Exiting)`, without touching Python, once the interpreter is exiting.
pub(crate) fn attach<T>(f: impl for<'py> FnOnce(Python<'py>) -> T) -> Result<T, Exiting> {
    {
        let mut calls = calls();
        if calls.closed {
            return Err(Exiting);
        }
        calls.running += 1;
    }
    Kept::ensure();
    let _leave = Leave {
        was_in_call: IN_CALL.with(|c| c.replace(true)),
    };
    Ok(Python::attach(f))
}

/// True on a thread running a call through [`attach`] once the interpreter is exiting: a
/// wait there gives up so the call can return.
pub(crate) fn exiting_in_call() -> bool {
    IN_CALL.with(|c| c.get()) && calls().closed
}

/// The package's `atexit` hook: no Python callback starts from now on, and this waits
/// (without the GIL, Ctrl-C raising `KeyboardInterrupt`) until the running ones have
/// returned. A handler that never returns keeps the process from exiting, as a non-daemon
/// thread does.
#[pyfunction]
pub(crate) fn close_callbacks(py: Python<'_>) -> PyResult<()> {
    calls().closed = true;
    loop {
        let idle = py.detach(|| {
            let calls = calls();
            let (calls, _) = IDLE
                .wait_timeout_while(calls, SIGNAL_CHECK, |c| c.running > 0)
                .unwrap_or_else(|p| p.into_inner());
            calls.running == 0
        });
        if idle {
            return Ok(());
        }
        py.check_signals()?;
    }
}

/// Gives the calling thread's turn back to its virtual-time bus before its event loop blocks
/// (`_actor._TurnSelector`): false if it takes no turns. The GIL stays held: the loop's wait
/// lets it go.
#[pyfunction]
pub(crate) fn give_turn() -> bool {
    mycelium_foreign::give_turn()
}

/// Takes the calling thread's turn back once its event loop's wait is over (after
/// `give_turn`), without the GIL while it waits.
#[pyfunction]
pub(crate) fn take_turn(py: Python<'_>) {
    py.detach(mycelium_foreign::take_turn);
}

//! [`HostedBus`]: a bus with a runtime of its own, for a host program that is not async (a
//! Python interpreter, a C or OCaml program), and a way for its threads to wait on futures.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use mycelium_actors::{Bus, BusError};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// Why a [`HostedBus`] could not be created.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The runtime or its thread could not be started.
    #[error("could not start the bus runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The bus refused its runtime.
    #[error(transparent)]
    Bus(#[from] BusError),
}

enum Driver {
    Live(Runtime),
    Virtual(oneshot::Sender<()>),
}

/// The runtime a virtual-time bus with foreign actors repeats exactly on: current-thread, its
/// clock paused, and tasks woken from other threads (by foreign code in its turn: `host.rs`)
/// run before those woken on its own thread, on every tick. By default tokio changes that
/// order every 31 ticks, and the tick count moves each time the runtime sleeps, as often as
/// the program's own threads happen to wake it, so a run would not repeat. A Rust program
/// hosting Python actors on a virtual-time bus builds its runtime with this (then
/// `Bus::builder().virtual_time()` inside it), as [`HostedBus`] does.
///
/// ```
/// let runtime = mycelium_foreign::virtual_runtime().build().unwrap();
/// runtime.block_on(async {
///     let bus = mycelium_actors::Bus::builder().virtual_time().build().unwrap();
///     assert!(bus.clock().is_virtual());
/// });
/// ```
pub fn virtual_runtime() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder
        .enable_all()
        .start_paused(true)
        .global_queue_interval(1);
    builder
}

/// A bus and the runtime it runs on, owned together.
///
/// Real time: a multi-thread runtime with `workers` workers. Virtual time: a current-thread
/// runtime with a paused clock, run by a thread of its own (`mycelium-bus`); time jumps to the
/// next timer whenever every actor waits, and stands still while a foreign callback runs
/// (unless it waits on the bus: see [`poll_for`]).
/// Dropping it never waits for foreign callbacks (they may wait for a lock, such as the GIL,
/// that the dropping thread holds): call [`Bus::shutdown`] first for a clean stop.
pub struct HostedBus {
    bus: Bus,
    handle: Handle,
    driver: Mutex<Option<Driver>>,
}

impl HostedBus {
    /// A bus in real time on `workers` worker threads, or in virtual time.
    pub fn new(virtual_time: bool, seed: u64, workers: usize) -> Result<Self, HostError> {
        let builder = Bus::builder().seed(seed);
        if virtual_time {
            let rt = virtual_runtime().thread_name("mycelium-host").build()?;
            let handle = rt.handle().clone();
            let bus = {
                let _entered = handle.enter();
                builder.virtual_time().runtime(handle.clone()).build()?
            };
            let (stop, stopped) = oneshot::channel::<()>();
            thread::Builder::new()
                .name("mycelium-bus".into())
                .spawn(move || {
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                    rt.shutdown_background();
                })?;
            Ok(HostedBus {
                bus,
                handle,
                driver: Mutex::new(Some(Driver::Virtual(stop))),
            })
        } else {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers.max(1))
                .enable_all()
                .thread_name("mycelium-rt")
                .build()?;
            let handle = rt.handle().clone();
            let bus = builder.runtime(handle.clone()).build()?;
            Ok(HostedBus {
                bus,
                handle,
                driver: Mutex::new(Some(Driver::Live(rt))),
            })
        }
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Its runtime.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Tasks alive on its runtime: one per actor that is not asleep, and those of its
    /// supervisors, links and hibernation driver. A diagnostic: an actor sleeps until its
    /// first mail (a host thread's call through its gate is none), and a hibernating one
    /// whenever it has no mail (`SpawnOptions::hibernate`).
    pub fn runtime_tasks(&self) -> usize {
        self.handle.metrics().num_alive_tasks()
    }

    /// Runs `fut` to completion on the calling thread (any thread, including a foreign
    /// callback's), inside the runtime's context so bus timers work.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Some(v) = poll_for(&self.handle, fut.as_mut(), Duration::from_secs(3600)) {
                return v;
            }
        }
    }
}

impl Drop for HostedBus {
    fn drop(&mut self) {
        let driver = self.driver.lock().unwrap_or_else(|p| p.into_inner()).take();
        match driver {
            Some(Driver::Live(rt)) => rt.shutdown_background(),
            Some(Driver::Virtual(stop)) => {
                let _ = stop.send(());
            }
            None => {}
        }
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// A thread waiting in [`poll_for`]: a language's own thread or a foreign callback's.
    static WAITING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the thread as waiting in [`poll_for`] until dropped.
struct Waiting(bool);

impl Waiting {
    fn enter() -> Self {
        Waiting(WAITING.with(|w| w.replace(true)))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let outer = self.0;
        WAITING.with(|w| w.set(outer));
    }
}

/// True while this thread waits in [`poll_for`]: its asks are a language thread's (or a
/// foreign callback's), which take their own direct path (the gate, by an actor's handle)
/// and go through the mailbox by service name; a runtime task's asks may run an idle
/// actor's handler on the asking thread (`ForeignRef::ask`).
pub(crate) fn waiting_in_poll_for() -> bool {
    WAITING.with(Cell::get)
}

/// Polls `fut` on the calling thread, parking between wake-ups, for at most `limit`: its
/// output, or `None` if it is still pending (poll again later with the same future). A host
/// uses the gaps to look for signals.
///
/// Called by a foreign handler of a virtual-time bus, it gives the bus its turn while the
/// handler waits (the clock moves: an ask to an actor that answers after a timer is answered
/// at that bus time), and the handler has its turn again once the waker has run (see
/// `host.rs`). `None` then means the handler does not have its turn: call again with the same
/// future, which waits for it, before touching the bus. Called by another thread
/// (the program's own), the waker's hold lasts until the thread has polled again: bus time
/// does not jump to a timer the future was about to drop (an ask's timeout, once the answer
/// came).
pub fn poll_for<F: Future + ?Sized>(
    handle: &Handle,
    mut fut: Pin<&mut F>,
    limit: Duration,
) -> Option<F::Output> {
    let _runtime = handle.enter();
    let _waiting = Waiting::enter();
    if let Some(turn) = crate::host::turn_for_wait() {
        return crate::host::poll_in_turns(&turn, fut, limit);
    }
    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
        // The runtime of a virtual-time bus (the bindings run those on one thread; a
        // real-time one on a single thread only pays a hold per wake).
        return crate::host::poll_woken_held(handle, fut, limit);
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::park_timeout(deadline - now);
    }
}

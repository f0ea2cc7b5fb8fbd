//! Wake-ups between the two ends of a ring: spin first, then park on a futex.
//!
//! Each direction of a ring has two [`Signal`]s in shared memory: one the reader parks on
//! when the ring is empty, one the writer parks on when it is full. The protocol is the
//! classic store-fence-load handshake (Dekker):
//!
//! - the side that waits reads the signal's `epoch`, sets `sleeping`, issues a `SeqCst`
//!   fence, and checks its condition once more before it parks with "wake me if `epoch` is
//!   still what I read";
//! - the side that makes progress publishes its index, issues a `SeqCst` fence, and only if
//!   it then sees `sleeping` set bumps `epoch` and wakes the futex.
//!
//! The two fences guarantee that at least one side sees the other's store: either the waiter
//! sees the new index and does not park, or the notifier sees `sleeping` and bumps the epoch,
//! so that the futex wait returns at once or is woken. A busy link therefore makes no system
//! call at all (the notifier reads a flag that is clear), and an idle one burns no CPU.
//!
//! An async task cannot park on a futex: it arms the signal for the *doorbell* instead (the
//! link's Unix socket), and the notifier writes one byte to that socket, which wakes the task
//! through the runtime's reactor. The socket also tells the task at once when the peer dies
//! (end of file).
//!
//! The futex is a shared (not process-private) futex, so that the two processes that map the
//! segment wake each other. Under `--cfg mycelium_loom` the futex is replaced by a mutex and condition
//! variable with the same semantics (the value is checked under the lock that `wake` takes),
//! and `tests/loom`-style models in `super::loom_tests` check that no wake-up is lost.

use std::time::{Duration, Instant};

use super::sync::{fence, AtomicU32, Ordering};

/// `sleeping`: nobody waits.
const NOBODY: u32 = 0;
/// `sleeping`: a thread is (about to be) parked on the futex.
const ON_FUTEX: u32 = 1;
/// `sleeping`: a task waits for a byte on the link's socket.
const ON_DOORBELL: u32 = 2;

/// How a notifier wakes a task that waits on a socket: one byte sent on that socket
/// (non-blocking; when the socket buffer is full, the peer has bytes to wake on already).
#[derive(Clone)]
pub struct Doorbell(std::sync::Arc<dyn std::os::fd::AsFd + Send + Sync>);

impl Doorbell {
    /// A doorbell that sends on `socket`, a connected stream socket.
    pub fn new(socket: std::sync::Arc<dyn std::os::fd::AsFd + Send + Sync>) -> Doorbell {
        Doorbell(socket)
    }

    fn ring(&self) {
        // Under the model checker there is no socket to write to.
        #[cfg(mycelium_loom)]
        let _ = &self.0;
        // `send` with MSG_NOSIGNAL, not `write`: when the peer process is dead, a write is
        // EPIPE *and* SIGPIPE, which kills a host that has not ignored it (C, OCaml, a Rust
        // program that restored the default). The error itself needs nothing: the waiter
        // learns of the death from the socket.
        #[cfg(not(mycelium_loom))]
        let _ = rustix::net::send(
            self.0.as_fd(),
            &[1],
            rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL,
        );
    }
}

impl std::fmt::Debug for Doorbell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Doorbell")
    }
}

/// A futex word and a "somebody sleeps here" flag, in shared memory (two `u32`s, `repr(C)`).
#[repr(C)]
#[derive(Debug)]
pub struct Signal {
    epoch: AtomicU32,
    sleeping: AtomicU32,
    #[cfg(mycelium_loom)]
    lock: loom::sync::Mutex<()>,
    #[cfg(mycelium_loom)]
    cond: loom::sync::Condvar,
}

impl Signal {
    /// A signal with nobody asleep. (In shared memory a zeroed signal is the same thing.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new() -> Signal {
        Signal {
            epoch: AtomicU32::new(0),
            sleeping: AtomicU32::new(0),
            #[cfg(mycelium_loom)]
            lock: loom::sync::Mutex::new(()),
            #[cfg(mycelium_loom)]
            cond: loom::sync::Condvar::new(),
        }
    }

    /// Called by the side that made progress, after it published its index with a release
    /// store. Costs a fence and a load when nobody sleeps; a futex wake when a thread sleeps
    /// on the futex; one byte on `doorbell` (the link's socket) when a task waits for it.
    pub(crate) fn notify(&self, doorbell: Option<&Doorbell>) {
        fence(Ordering::SeqCst);
        match self.sleeping.load(Ordering::Relaxed) {
            NOBODY => {}
            ON_FUTEX => {
                self.epoch.fetch_add(1, Ordering::Release);
                self.wake();
            }
            ON_DOORBELL => {
                // Ring once per arming: the waiter re-arms after it woke.
                let rang = self
                    .sleeping
                    .compare_exchange(ON_DOORBELL, NOBODY, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok();
                if let (true, Some(bell)) = (rang, doorbell) {
                    bell.ring();
                }
            }
            _ => {
                // Not a value this protocol writes: something scribbled over the segment.
                // Wake the other end every way it could be waiting, so that it looks at the
                // ring and finds out.
                self.sleeping.store(NOBODY, Ordering::Relaxed);
                self.epoch.fetch_add(1, Ordering::Release);
                self.wake();
                if let Some(bell) = doorbell {
                    bell.ring();
                }
            }
        }
    }

    /// Declares that this end is about to wait for the doorbell (an async task that polls the
    /// link's socket). Returns false, disarmed, when `ready()` already holds.
    #[cfg_attr(mycelium_loom, allow(dead_code))]
    pub(crate) fn arm_doorbell(&self, ready: impl Fn() -> bool) -> bool {
        self.sleeping.store(ON_DOORBELL, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if ready() {
            self.sleeping.store(NOBODY, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Withdraws an [`Signal::arm_doorbell`] after the wait ended.
    #[cfg_attr(mycelium_loom, allow(dead_code))]
    pub(crate) fn disarm(&self) {
        self.sleeping.store(NOBODY, Ordering::Relaxed);
    }

    /// Parks once unless `ready()` holds; returns `ready()` after waking. `timeout` bounds the
    /// park (`None`: until notified). A spurious or timed-out return is possible: callers
    /// loop and check what else they must (the peer's liveness).
    pub(crate) fn park_unless(&self, ready: impl Fn() -> bool, timeout: Option<Duration>) -> bool {
        let epoch = self.epoch.load(Ordering::Acquire);
        self.sleeping.store(ON_FUTEX, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if ready() {
            self.sleeping.store(NOBODY, Ordering::Relaxed);
            return true;
        }
        self.park(epoch, timeout);
        self.sleeping.store(NOBODY, Ordering::Relaxed);
        ready()
    }

    #[cfg(not(mycelium_loom))]
    fn park(&self, epoch: u32, timeout: Option<Duration>) {
        use rustix::thread::futex;
        let ts = timeout.map(|t| futex::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        // EAGAIN (the epoch moved), EINTR and ETIMEDOUT all mean "look again": the caller
        // loops on its own condition, so the result carries no information.
        let _ = futex::wait(&self.epoch, futex::Flags::empty(), epoch, ts.as_ref());
    }

    #[cfg(not(mycelium_loom))]
    fn wake(&self) {
        use rustix::thread::futex;
        // One reader or one writer parks on a signal: waking one is waking all.
        let _ = futex::wake(&self.epoch, futex::Flags::empty(), 1);
    }

    #[cfg(mycelium_loom)]
    fn park(&self, epoch: u32, _timeout: Option<Duration>) {
        let guard = self.lock.lock().unwrap();
        if self.epoch.load(Ordering::Acquire) == epoch {
            drop(self.cond.wait(guard).unwrap());
        }
    }

    #[cfg(mycelium_loom)]
    fn wake(&self) {
        drop(self.lock.lock().unwrap());
        self.cond.notify_all();
    }
}

/// How an end of a ring waits for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Poll without parking for this long before parking on the futex (zero: park at once,
    /// which is `mode=block`).
    pub spin: Duration,
    /// While parked, look at the peer's liveness this often. A peer that died is noticed
    /// within this bound (plus one park).
    pub liveness_check: Duration,
}

impl WaitPolicy {
    /// `mode=block`: park at once.
    pub const fn block() -> WaitPolicy {
        WaitPolicy {
            spin: Duration::ZERO,
            liveness_check: Duration::from_millis(50),
        }
    }

    /// `mode=spin`: poll for `spin`, then park.
    pub const fn spin(spin: Duration) -> WaitPolicy {
        WaitPolicy {
            spin,
            liveness_check: Duration::from_millis(50),
        }
    }

    /// The policy of a link mode.
    pub fn from_mode(mode: crate::config::Mode) -> WaitPolicy {
        match mode {
            crate::config::Mode::Block => WaitPolicy::block(),
            crate::config::Mode::Spin(d) => WaitPolicy::spin(d),
        }
    }
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy::spin(Duration::from_micros(50))
    }
}

/// Spins while `ready()` is false for up to `spin`; true as soon as it holds.
pub(crate) fn spin_until(spin: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if ready() {
        return true;
    }
    if spin.is_zero() {
        return false;
    }
    let start = Instant::now();
    loop {
        // Read the clock only every few dozen polls: it costs more than a poll.
        for _ in 0..64 {
            std::hint::spin_loop();
            if ready() {
                return true;
            }
        }
        if start.elapsed() >= spin {
            return false;
        }
    }
}

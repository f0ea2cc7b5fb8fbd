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
//! The futex is a shared (not process-private) futex, so that the two processes that map the
//! segment wake each other. Under `--cfg loom` the futex is replaced by a mutex and condition
//! variable with the same semantics (the value is checked under the lock that `wake` takes),
//! and `tests/loom`-style models in `super::loom_tests` check that no wake-up is lost.

use std::time::{Duration, Instant};

use super::sync::{fence, AtomicU32, Ordering};

/// A futex word and a "somebody sleeps here" flag, in shared memory (two `u32`s, `repr(C)`).
#[repr(C)]
#[derive(Debug)]
pub struct Signal {
    epoch: AtomicU32,
    sleeping: AtomicU32,
    #[cfg(loom)]
    lock: loom::sync::Mutex<()>,
    #[cfg(loom)]
    cond: loom::sync::Condvar,
}

impl Signal {
    /// A signal with nobody asleep. (In shared memory a zeroed signal is the same thing.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new() -> Signal {
        Signal {
            epoch: AtomicU32::new(0),
            sleeping: AtomicU32::new(0),
            #[cfg(loom)]
            lock: loom::sync::Mutex::new(()),
            #[cfg(loom)]
            cond: loom::sync::Condvar::new(),
        }
    }

    /// Called by the side that made progress, after it published its index with a release
    /// store. Costs a fence and a load when nobody sleeps; a futex wake when somebody does.
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) != 0 {
            self.epoch.fetch_add(1, Ordering::Release);
            self.wake();
        }
    }

    /// Parks once unless `ready()` holds; returns `ready()` after waking. `timeout` bounds the
    /// park (`None`: until notified). A spurious or timed-out return is possible: callers
    /// loop and check what else they must (the peer's liveness).
    pub(crate) fn park_unless(&self, ready: impl Fn() -> bool, timeout: Option<Duration>) -> bool {
        let epoch = self.epoch.load(Ordering::Acquire);
        self.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if ready() {
            self.sleeping.store(0, Ordering::Relaxed);
            return true;
        }
        self.park(epoch, timeout);
        self.sleeping.store(0, Ordering::Relaxed);
        ready()
    }

    #[cfg(not(loom))]
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

    #[cfg(not(loom))]
    fn wake(&self) {
        use rustix::thread::futex;
        // One reader or one writer parks on a signal: waking one is waking all.
        let _ = futex::wake(&self.epoch, futex::Flags::empty(), 1);
    }

    #[cfg(loom)]
    fn park(&self, epoch: u32, _timeout: Option<Duration>) {
        let guard = self.lock.lock().unwrap();
        if self.epoch.load(Ordering::Acquire) == epoch {
            drop(self.cond.wait(guard).unwrap());
        }
    }

    #[cfg(loom)]
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

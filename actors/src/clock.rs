//! The bus clock: every timer, timeout, restart window and backoff delay reads it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{Instant, Sleep};

/// Which time a bus runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Wall-clock time, through tokio's timer.
    #[default]
    Real,
    /// Virtual time: the bus must run on a current-thread tokio runtime whose clock is paused
    /// (`Builder::new_current_thread().enable_time().start_paused(true)`, or
    /// `#[tokio::test(start_paused = true)]`). Time then stands still while any task can run
    /// and jumps to the next timer when all are waiting, so a restart backoff of an hour
    /// takes no wall time and every run sees the same instants. `now()` starts at zero.
    Virtual,
}

/// The clock of one bus.
///
/// [`now`](Clock::now) is the time elapsed since the bus was created. All of Mycelium's
/// timers go through it, never through `std::time::Instant`, so a virtual bus is
/// deterministic. Timers have tokio's resolution of 1 ms: a sleep ends at the first
/// millisecond tick at or after its deadline.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

struct ClockInner {
    mode: ClockMode,
    handle: Handle,
    origin: Instant,
}

impl Clock {
    pub(crate) fn new(mode: ClockMode, handle: Handle) -> Self {
        let origin = {
            let _guard = handle.enter();
            Instant::now()
        };
        Clock {
            inner: Arc::new(ClockInner {
                mode,
                handle,
                origin,
            }),
        }
    }

    /// Real or virtual.
    pub fn mode(&self) -> ClockMode {
        self.inner.mode
    }

    /// True for a virtual clock.
    pub fn is_virtual(&self) -> bool {
        self.inner.mode == ClockMode::Virtual
    }

    /// Time since the bus was created.
    pub fn now(&self) -> Duration {
        self.with_time(|| Instant::now().saturating_duration_since(self.inner.origin))
    }

    /// [`now`](Clock::now) for code running on a runtime task: on a real clock it reads tokio's
    /// clock directly, skipping the runtime lookup (what the metrics read per message).
    #[inline]
    pub(crate) fn now_in_task(&self) -> Duration {
        match self.inner.mode {
            ClockMode::Real => Instant::now().saturating_duration_since(self.inner.origin),
            ClockMode::Virtual => self.now(),
        }
    }

    /// Waits for `duration` of bus time.
    pub fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        self.with_time(|| tokio::time::sleep(duration))
    }

    /// Waits until the bus time `at` (a value of [`now`](Clock::now)). A time too far to
    /// represent (`Duration::MAX`, say) is a wait that does not end.
    pub fn sleep_until(&self, at: Duration) -> tokio::time::Sleep {
        match self.inner.origin.checked_add(at) {
            Some(deadline) => self.with_time(|| tokio::time::sleep_until(deadline)),
            None => self.sleep(Duration::MAX),
        }
    }

    /// Runs `fut` for at most `duration` of bus time, like [`timeout`](Clock::timeout) (which
    /// counts from its call, this from its first poll), but arms a timer only if `fut` is
    /// still pending after its task has had one more turn; `None` if the time ran out first.
    ///
    /// For waits that mostly end at once or in that turn (a child told to stop, whose task
    /// stops as soon as it runs): a tokio timer that becomes its runtime's earliest wakes the
    /// runtime's I/O driver when armed, a system call, even from the runtime's own thread. A
    /// tree of 100 workers that stop at once is stopped without a timer; with one per child it
    /// took about 19% longer per child (measured at 0fd1765, 2026-11-26:
    /// `mycelium-bench __tree 100 100`, docs/perf/actors.md).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), mycelium_actors::BusError> {
    /// use std::time::Duration;
    /// use mycelium_actors::{Bus, ClockMode};
    ///
    /// let bus = Bus::builder().clock(ClockMode::Virtual).build()?;
    /// let clock = bus.clock();
    /// assert_eq!(clock.within(Duration::from_secs(1), async { 7 }).await, Some(7));
    /// let never = std::future::pending::<()>();
    /// assert_eq!(clock.within(Duration::from_secs(1), never).await, None);
    /// assert_eq!(clock.now(), Duration::from_secs(1));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn within<F: Future>(&self, duration: Duration, fut: F) -> Option<F::Output> {
        let end = self.now().saturating_add(duration);
        let timer = std::pin::pin!(None);
        until_deadline(fut, timer, || self.sleep_until(end)).await
    }

    /// Runs `fut` for at most `duration` of bus time.
    pub fn timeout<F: Future>(&self, duration: Duration, fut: F) -> tokio::time::Timeout<F> {
        self.with_time(|| tokio::time::timeout(duration, fut))
    }

    /// Virtual timers must be registered with the bus's own runtime even when called from a
    /// pinned actor's thread; real timers work on any runtime.
    ///
    /// A running task has a runtime: `try_id` reads a thread-local, where `try_current` clones
    /// the runtime's handle (two atomic operations), so it is asked first.
    #[inline]
    fn with_time<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.inner.mode {
            ClockMode::Real if tokio::task::try_id().is_some() || Handle::try_current().is_ok() => {
                f()
            }
            _ => {
                let _guard = self.inner.handle.enter();
                f()
            }
        }
    }
}

/// Awaits `fut`, but no longer than the timer in `timer`, which `arm` makes the first time it
/// is needed: when `fut` is still pending after its task has had one more turn (the task wakes
/// itself once first). `None` if the timer ended first. The timer outlives the call, so that
/// several waits in turn can share one deadline (`Bus::shutdown`).
pub(crate) async fn until_deadline<F: Future>(
    fut: F,
    mut timer: Pin<&mut Option<Sleep>>,
    arm: impl FnOnce() -> Sleep,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut turned = false;
    let mut arm = Some(arm);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if !turned {
            turned = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(arm) = arm.take().filter(|_| timer.is_none()) {
            timer.set(Some(arm()));
        }
        match timer.as_mut().as_pin_mut() {
            Some(sleep) => sleep.poll(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("mode", &self.inner.mode)
            .field("now", &self.now())
            .finish()
    }
}

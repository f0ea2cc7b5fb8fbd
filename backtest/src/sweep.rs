//! `Sweep`: runs one isolated, virtual-time bus per grid point over a pool of worker threads.

use std::fmt;
use std::future::Future;
use std::io::IsTerminal;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use mycelium_actors::{BoxError, Bus, DetRng};

use crate::shard::{Shard, ShardError};

/// Runs a function over a parameter grid, one fresh bus per grid point, in parallel.
///
/// Each worker thread takes the next grid point, builds a **fresh current-thread tokio
/// runtime with a paused clock** for it, a virtual-time [`Bus`] seeded from the sweep's seed
/// and the point's index, and runs the build function to completion on it. No two runs share
/// a runtime, a clock, a bus or a random stream, and a run's schedule does not depend on which
/// worker ran it or what ran before: the result of every point is the same whatever the number
/// of workers. A point that panics or returns an error is reported with its parameters and
/// the reason; the others complete.
///
/// Why not one runtime per worker, reused: its paused clock keeps advancing across runs, so a
/// run's timer deadlines would fall at different offsets from tokio's millisecond ticks
/// depending on what ran before it on that worker, which is a dependence on the number of
/// workers. What a fresh runtime and bus cost: `docs/perf/backtest.md`.
///
/// ```
/// use mycelium_backtest::Sweep;
///
/// let report = Sweep::new(vec![1u64, 2, 3])
///     .workers(2)
///     .run(|&n, run| async move {
///         // Build actors on `run.bus` here; this one just waits on the virtual clock.
///         run.bus.clock().sleep(std::time::Duration::from_secs(3600)).await;
///         if n == 2 { return Err("two is not allowed".into()); }
///         Ok(n * 10)
///     });
/// assert_eq!(report.successes().map(|(_, r)| *r).collect::<Vec<_>>(), [10, 30]);
/// assert_eq!(report.failures().count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Sweep<P> {
    grid: Vec<P>,
    workers: usize,
    seed: u64,
    progress: Option<bool>,
    time_limit: Duration,
}

/// What a build function gets for its grid point.
#[derive(Debug)]
pub struct Run {
    /// The point's index in the grid.
    pub index: usize,
    /// The bus seed of this run, derived from the sweep seed and the index.
    pub seed: u64,
    /// A fresh bus on virtual time, alone on its runtime.
    pub bus: Bus,
}

/// How one grid point ended.
#[derive(Clone, Debug)]
pub struct RunOutcome<P, R> {
    /// The point's index in the grid.
    pub index: usize,
    /// Its parameters.
    pub params: P,
    /// The bus seed it ran with.
    pub seed: u64,
    /// Its result, or why it failed.
    pub result: Result<R, RunFailure>,
}

/// Why a grid point failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunFailure {
    /// The build function (or the code it awaited) panicked.
    Panicked(String),
    /// The build function returned an error.
    Failed(String),
    /// The runtime could not be created.
    Runtime(String),
    /// The build function had not returned after this much bus time (see
    /// [`Sweep::time_limit`]).
    TimedOut(Duration),
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunFailure::Panicked(r) => write!(f, "panicked: {r}"),
            RunFailure::Failed(r) => write!(f, "failed: {r}"),
            RunFailure::Runtime(r) => write!(f, "could not build its runtime: {r}"),
            RunFailure::TimedOut(d) => write!(f, "no result after {d:?} of bus time"),
        }
    }
}

/// Everything a sweep produced, in grid order.
#[derive(Clone, Debug)]
pub struct SweepReport<P, R> {
    /// One outcome per grid point, in grid order.
    pub runs: Vec<RunOutcome<P, R>>,
    /// Wall time of the whole sweep.
    pub elapsed: Duration,
    /// Worker threads used.
    pub workers: usize,
}

impl<P, R> SweepReport<P, R> {
    /// The points that completed, with their results.
    pub fn successes(&self) -> impl Iterator<Item = (&P, &R)> {
        self.runs
            .iter()
            .filter_map(|r| r.result.as_ref().ok().map(|v| (&r.params, v)))
    }

    /// The points that failed, with the reason.
    pub fn failures(&self) -> impl Iterator<Item = (&RunOutcome<P, R>, &RunFailure)> {
        self.runs
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (r, e)))
    }

    /// Runs per second of wall time.
    pub fn runs_per_sec(&self) -> f64 {
        self.runs.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The bus seed of grid point `index` in a sweep seeded with `seed`.
pub fn run_seed(seed: u64, index: usize) -> u64 {
    DetRng::derive(seed, index as u64).next_u64()
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl<P: Clone + Send + Sync> Sweep<P> {
    /// A sweep over `grid`, on as many workers as there are cores, seed 0, with a progress bar
    /// when stderr is a terminal.
    pub fn new(grid: impl IntoIterator<Item = P>) -> Self {
        Sweep {
            grid: grid.into_iter().collect(),
            workers: default_workers(),
            seed: 0,
            progress: None,
            time_limit: Duration::from_secs(100 * 365 * 86_400),
        }
    }

    /// Worker threads (at least 1; default: available cores).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// The sweep seed; each run's bus seed is derived from it and the point's index.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Forces the progress bar on or off (default: on when stderr is a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = Some(show);
        self
    }

    /// The most bus time a run may take (default: 100 years). A run that has not returned by
    /// then fails with [`RunFailure::TimedOut`]. On the virtual clock a run that is stuck —
    /// every task waiting, nothing due — reaches the limit at once instead of hanging the
    /// sweep.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.grid.len()
    }

    /// True for an empty grid.
    pub fn is_empty(&self) -> bool {
        self.grid.is_empty()
    }

    /// Runs `build` once per grid point and collects the outcomes in grid order.
    ///
    /// `build` gets the point and a [`Run`] holding a fresh virtual-time bus; it spawns the
    /// run's actors, waits for the result and returns it. Whatever is still running on the
    /// bus when it returns is shut down. The future need not be `Send`: it never leaves its
    /// worker thread.
    pub fn run<R, F, Fut>(&self, build: F) -> SweepReport<P, R>
    where
        R: Send,
        F: Fn(&P, Run) -> Fut + Sync,
        Fut: Future<Output = Result<R, BoxError>>,
    {
        let all: Vec<usize> = (0..self.grid.len()).collect();
        self.run_indices(&all, &build)
    }

    /// Runs only the grid points of `shard` (indices into the grid) and returns their
    /// outcomes in the shard's order, each with its index in the whole grid. Every point
    /// runs exactly as [`Sweep::run`] runs it (same bus seed, from the sweep seed and the
    /// index), so a shard's results do not depend on where or next to what it ran, and the
    /// shards of a grid merge back into the report of the whole sweep
    /// ([`SweepReport::merge`]).
    ///
    /// ```
    /// use mycelium_backtest::{Shard, Sweep, SweepReport};
    ///
    /// let sweep = Sweep::new(vec![1u64, 2, 3, 4, 5]).progress(false);
    /// let work = |&n: &u64, run: mycelium_backtest::Run| async move { Ok(n * 1000 + run.seed % 1000) };
    /// let whole = sweep.run(work);
    /// let parts = Shard::split(sweep.len(), 2) // [0, 1], [2, 3], [4]
    ///     .iter()
    ///     .rev() // any order, anywhere
    ///     .map(|shard| sweep.run_shard(shard, work))
    ///     .collect::<Result<Vec<_>, _>>()
    ///     .unwrap();
    /// let merged = SweepReport::merge(sweep.len(), parts).unwrap();
    /// let values = |r: &SweepReport<u64, u64>| r.successes().map(|(_, v)| *v).collect::<Vec<_>>();
    /// assert_eq!(values(&merged), values(&whole));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ShardError`] if the shard is empty, names an index outside the grid or names an
    /// index twice; nothing runs then.
    pub fn run_shard<R, F, Fut>(
        &self,
        shard: &Shard,
        build: F,
    ) -> Result<SweepReport<P, R>, ShardError>
    where
        R: Send,
        F: Fn(&P, Run) -> Fut + Sync,
        Fut: Future<Output = Result<R, BoxError>>,
    {
        shard.check(self.grid.len())?;
        Ok(self.run_indices(shard.indices(), &build))
    }

    /// Runs the grid points `indices` (checked by the caller) over the worker threads.
    fn run_indices<R, F, Fut>(&self, indices: &[usize], build: &F) -> SweepReport<P, R>
    where
        R: Send,
        F: Fn(&P, Run) -> Fut + Sync,
        Fut: Future<Output = Result<R, BoxError>>,
    {
        let started = Instant::now();
        let n = indices.len();
        let workers = self.workers.min(n.max(1));
        let bar = self.progress_bar(n as u64);
        let next = AtomicUsize::new(0);
        let slots: Mutex<Vec<Option<Result<R, RunFailure>>>> =
            Mutex::new((0..n).map(|_| None).collect());
        let failed = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for w in 0..workers {
                let (next, slots, bar, failed) = (&next, &slots, &bar, &failed);
                let spawned = std::thread::Builder::new()
                    .name(format!("sweep-{w}"))
                    .spawn_scoped(scope, move || loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n {
                            break;
                        }
                        let result = self.run_one(indices[k], build);
                        if result.is_err() {
                            let f = failed.fetch_add(1, Ordering::Relaxed) + 1;
                            bar.set_message(format!("{f} failed"));
                        }
                        slots.lock().unwrap_or_else(|e| e.into_inner())[k] = Some(result);
                        bar.inc(1);
                    });
                if let Err(e) = spawned {
                    bar.println(format!("could not start worker {w}: {e}"));
                }
            }
        });
        // Points left by workers that could not start run on this thread.
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= n {
                break;
            }
            let result = self.run_one(indices[k], build);
            slots.lock().unwrap_or_else(|e| e.into_inner())[k] = Some(result);
            bar.inc(1);
        }
        bar.finish_and_clear();
        let slots = slots.into_inner().unwrap_or_else(|e| e.into_inner());
        let runs = slots
            .into_iter()
            .zip(indices)
            .map(|(result, &index)| RunOutcome {
                index,
                params: self.grid[index].clone(),
                seed: run_seed(self.seed, index),
                result: result.unwrap_or_else(|| {
                    Err(RunFailure::Runtime("the worker running it died".into()))
                }),
            })
            .collect();
        SweepReport {
            runs,
            elapsed: started.elapsed(),
            workers,
        }
    }

    /// Runs grid point `index` alone, on this thread, exactly as the sweep runs it (same
    /// bus seed, fresh runtime and bus), to look at one point in detail — with more
    /// recording switched on, say — after a sweep. `None` if `index` is out of the grid.
    pub fn rerun<R, F, Fut>(&self, index: usize, build: F) -> Option<RunOutcome<P, R>>
    where
        F: Fn(&P, Run) -> Fut + Sync,
        Fut: Future<Output = Result<R, BoxError>>,
    {
        let params = self.grid.get(index)?.clone();
        Some(RunOutcome {
            index,
            params,
            seed: run_seed(self.seed, index),
            result: self.run_one(index, &build),
        })
    }

    fn run_one<R, F, Fut>(&self, index: usize, build: &F) -> Result<R, RunFailure>
    where
        F: Fn(&P, Run) -> Fut + Sync,
        Fut: Future<Output = Result<R, BoxError>>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .map_err(|e| RunFailure::Runtime(e.to_string()))?;
        let seed = run_seed(self.seed, index);
        let params = &self.grid[index];
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let bus = Bus::builder()
                    .virtual_time()
                    .seed(seed)
                    .build()
                    .map_err(|e| RunFailure::Runtime(e.to_string()))?;
                let run = build(
                    params,
                    Run {
                        index,
                        seed,
                        bus: bus.clone(),
                    },
                );
                let result = match bus.clock().timeout(self.time_limit, run).await {
                    Ok(result) => result.map_err(|e| RunFailure::Failed(e.to_string())),
                    Err(_) => Err(RunFailure::TimedOut(self.time_limit)),
                };
                if bus.exit().is_none() {
                    bus.shutdown(Duration::from_secs(60)).await;
                }
                result
            })
        }));
        // Dropping the runtime drops any task still on it (a killed actor's drop guard runs).
        drop(rt);
        match outcome {
            Ok(result) => result,
            Err(panic) => Err(RunFailure::Panicked(panic_message(panic.as_ref()))),
        }
    }

    fn progress_bar(&self, len: u64) -> ProgressBar {
        let show = self
            .progress
            .unwrap_or_else(|| std::io::stderr().is_terminal());
        if !show {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs  {rate}  ETA {eta}  {msg}",
        ) {
            let style = style
                .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                    let _ = write!(w, "{:.1} runs/s", state.per_sec());
                })
                .progress_chars("=> ");
            bar.set_style(style);
        }
        bar
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

//! Shared helpers: runtimes, timing samples, RSS, counters used by every framework.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Runtime flavour a workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    /// tokio `current_thread` (actix: its own `System`, also single-threaded).
    Ct,
    /// tokio `multi_thread` with 2 workers (actix: actor on a second `Arbiter` thread).
    Mt,
}

impl Rt {
    pub fn label(self) -> &'static str {
        match self {
            Rt::Ct => "ct",
            Rt::Mt => "mt",
        }
    }

    /// The variant a label names (`ct`, `mt`).
    pub fn parse(label: &str) -> Option<Rt> {
        match label {
            "ct" => Some(Rt::Ct),
            "mt" => Some(Rt::Mt),
            _ => None,
        }
    }
}

/// Builds the tokio runtime for `rt`.
pub fn tokio_rt(rt: Rt) -> tokio::runtime::Runtime {
    match rt {
        Rt::Ct => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("current_thread runtime"),
        Rt::Mt => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("multi_thread runtime"),
    }
}

/// Runs `fut` to completion on a fresh tokio runtime of flavour `rt`.
///
/// The future is spawned as a task on both flavours, so that the driver is scheduled like
/// any other task (as an actor sending to another actor would be) and, on the multi-thread
/// runtime, runs on one of the two workers rather than on the calling thread.
pub fn run_tokio<F>(rt: Rt, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = tokio_rt(rt);
    let out = runtime
        .block_on(runtime.spawn(fut))
        .expect("driver task panicked");
    runtime.shutdown_timeout(Duration::from_secs(5));
    out
}

/// Mailbox capacity given to every framework whose mailbox capacity is configurable.
pub const MAILBOX_CAPACITY: usize = 1024;

/// Latency summary of a sample set, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub mean: u64,
}

impl Latency {
    pub fn from_samples(samples: &mut [u64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let pct = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        let sum: u128 = samples.iter().map(|&s| s as u128).sum();
        Latency {
            p50: pct(0.50),
            p99: pct(0.99),
            p999: pct(0.999),
            mean: (sum / samples.len() as u128) as u64,
        }
    }
}

/// Resident set size of this process in bytes (Linux, from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let page = page_size();
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * page
}

fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(read_page_size)
}

fn read_page_size() -> u64 {
    // x86_64 Linux uses 4 KiB pages; read the "KernelPageSize" of the first mapping to be sure.
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("KernelPageSize:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(4096)
}

/// Counts actors that have run their start hook (w3).
pub static STARTED: AtomicUsize = AtomicUsize::new(0);
/// Counts actors that have run their stop hook (w3).
pub static STOPPED: AtomicUsize = AtomicUsize::new(0);

pub fn reset_counters() {
    STARTED.store(0, Ordering::SeqCst);
    STOPPED.store(0, Ordering::SeqCst);
}

/// Yields to the scheduler until `counter` reaches `n`.
pub async fn wait_count(counter: &AtomicUsize, n: usize) {
    while counter.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
}

/// Result of one w3 run.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpawnResult {
    pub ns_per_spawn: f64,
    pub bytes_per_actor: f64,
    pub stop_secs: f64,
}

/// Installs a silent panic hook for the duration of `f` (w5 panics on purpose, 1000s of times).
pub fn with_quiet_panics<T>(f: impl FnOnce() -> T) -> T {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(prev);
    out
}

/// A workload outcome where the framework cannot do what the workload asks.
#[derive(Debug, Clone)]
pub struct Unsupported(pub String);

pub type W5Result = Result<Vec<u64>, Unsupported>;

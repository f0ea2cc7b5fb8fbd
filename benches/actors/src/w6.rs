//! w6, isolated systems: many independent instances, each a 3-actor pipeline
//! (source -> strategy -> sink) passing `n` messages. The pipelines are shared with w7.
//!
//! Every framework builds the pipeline the same way: the sink is spawned first, the strategy
//! holds the sink's ref, the source the strategy's. A `Run(n)` message to the source makes it
//! send `0..n` to the strategy (Mycelium: with `ActorRef::tell_many` in batches of `BATCH`,
//! since the source has the whole range at hand; no peer has a batch send), which sends
//! `x + 1` to the sink; the sink counts and, at `n`, signals a per-instance
//! `tokio::sync::Notify` (`notify_one` keeps a permit, so the signal is never lost).
//! Mycelium: each instance is its own `Bus`. kameo and ractor have no per-instance system
//! (their registries are process-global): an instance is its 3 actors. actix: 3 actors on
//! the `System`/`Arbiter` the instance runs on.
//!
//! - `mode=shared` (rt=mt): every instance on one tokio multi-thread runtime with 2 workers,
//!   each instance a task (build, run, wait for the sink, stop), all started at once. actix
//!   (no multi-thread runtime): the instances alternate between two `Arbiter` threads, the
//!   driver on the `System` thread.
//! - `mode=iso` (rt=ct): a `current_thread` runtime per instance (actix: a `System` per
//!   instance), the instances spread over 2 OS threads (instance `i` on thread `i % 2`), each
//!   thread running its instances one after another.
//!
//! The wall time covers everything: runtimes, pipelines, messages, stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use crate::common::{run_tokio, Rt, MAILBOX_CAPACITY};

/// Messages per `tell_many` of Mycelium's source.
pub const BATCH: u64 = 64;

/// Result of one w6 run.
pub struct W6Result {
    pub msgs_per_sec: f64,
    pub secs: f64,
}

fn result(instances: usize, n: u64, secs: f64) -> W6Result {
    W6Result {
        msgs_per_sec: (instances as u64 * n) as f64 / secs,
        secs,
    }
}

/// Every instance as a task on one 2-worker runtime.
fn shared<F, Fut>(instances: usize, n: u64, instance: F) -> W6Result
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let secs = run_tokio(Rt::Mt, async move {
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..instances).map(|_| tokio::spawn(instance(n))).collect();
        for t in tasks {
            t.await.expect("instance task");
        }
        t0.elapsed().as_secs_f64()
    });
    result(instances, n, secs)
}

/// A current_thread runtime per instance, instances spread over 2 OS threads.
fn iso<F>(instances: usize, n: u64, instance: F) -> W6Result
where
    F: Fn(u64) + Send + Sync + Copy + 'static,
{
    let t0 = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in (t..instances).step_by(2) {
                    instance(n);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("pool thread");
    }
    result(instances, n, t0.elapsed().as_secs_f64())
}

pub mod actix;
pub mod kameo;
pub mod mycelium;
pub mod ractor;

//! w7, bus lifecycle: create and drop `n` isolated instances, each the 3-actor pipeline of
//! w6 with one message through it. Runs in a fresh child process (hidden subcommand `__w7`)
//! for every framework, on one `current_thread` runtime (actix: one `System`).
//!
//! 1. `bytes_per_bus`: RSS before and after building `n` instances that stay alive (each has
//!    passed its one message), divided by `n`; then they are stopped.
//! 2. `ns_per_bus`: `n` times, one after another: build an instance, pass one message from
//!    source to sink, stop it (waiting until its actors have stopped), drop it.
//!
//! The unit: Mycelium, a `Bus` with its 3 actors, `Bus::shutdown`. kameo and ractor have no
//! per-instance system (their registries are process-global): 3 spawned actors, stopped and
//! awaited. actix: 3 actors on the current `System` (a `System` per instance would be a
//! runtime each), stopped with a message and awaited through their `stopped` hook.

use std::time::Instant;

use crate::common::{rss_bytes, run_tokio, Rt};
use crate::w6;

/// Result of one w7 run.
pub struct W7Result {
    pub ns_per_bus: f64,
    pub bytes_per_bus: f64,
}

fn result(n: usize, rss0: u64, rss1: u64, t0: Instant) -> W7Result {
    W7Result {
        ns_per_bus: t0.elapsed().as_nanos() as f64 / n as f64,
        bytes_per_bus: rss1.saturating_sub(rss0) as f64 / n as f64,
    }
}

pub fn mycelium(n: usize) -> W7Result {
    use w6::mycelium::Pipeline;
    run_tokio(Rt::Ct, async move {
        let mut live = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        for _ in 0..n {
            let p = Pipeline::build(1);
            p.run(1).await;
            live.push(p);
        }
        let rss1 = rss_bytes();
        for p in live {
            p.stop().await;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            let p = Pipeline::build(1);
            p.run(1).await;
            p.stop().await;
        }
        result(n, rss0, rss1, t0)
    })
}

pub fn kameo(n: usize) -> W7Result {
    use w6::kameo::Pipeline;
    run_tokio(Rt::Ct, async move {
        let mut live = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        for _ in 0..n {
            let p = Pipeline::build(1);
            p.run(1).await;
            live.push(p);
        }
        let rss1 = rss_bytes();
        for p in live {
            p.stop().await;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            let p = Pipeline::build(1);
            p.run(1).await;
            p.stop().await;
        }
        result(n, rss0, rss1, t0)
    })
}

pub fn ractor(n: usize) -> W7Result {
    use w6::ractor::Pipeline;
    run_tokio(Rt::Ct, async move {
        let mut live = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        for _ in 0..n {
            let p = Pipeline::build(1).await;
            p.run(1).await;
            live.push(p);
        }
        let rss1 = rss_bytes();
        for p in live {
            p.stop().await;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            let p = Pipeline::build(1).await;
            p.run(1).await;
            p.stop().await;
        }
        result(n, rss0, rss1, t0)
    })
}

pub fn actix(n: usize) -> W7Result {
    use w6::actix::{in_system, Pipeline};
    in_system(async move {
        let mut live = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        for _ in 0..n {
            let p = Pipeline::build(None, 1);
            p.run(1).await;
            live.push(p);
        }
        let rss1 = rss_bytes();
        for p in live {
            p.stop().await;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            let p = Pipeline::build(None, 1);
            p.run(1).await;
            p.stop().await;
        }
        result(n, rss0, rss1, t0)
    })
}

//! kameo 0.22: `impl Actor`, `impl Message<M>`, `Actor::spawn_with_mailbox`, `tell(..).await`,
//! `ask(..).await`, supervision through `Actor::supervise(&supervisor, args)`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kameo::error::{ActorStopReason, Infallible};
use kameo::mailbox;
use kameo::prelude::*;

use crate::common::{
    rss_bytes, run_tokio, wait_count, Rt, SpawnResult, Unsupported, W5Result, MAILBOX_CAPACITY,
    STARTED, STOPPED,
};

struct Counter {
    sum: u64,
}

impl Actor for Counter {
    type Args = u64;
    type Error = Infallible;
    async fn on_start(args: u64, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Counter { sum: args })
    }
}

struct Add(u64);
impl Message<Add> for Counter {
    type Reply = ();
    async fn handle(&mut self, m: Add, _: &mut Context<Self, ()>) {
        self.sum += m.0;
    }
}

struct Get;
impl Message<Get> for Counter {
    type Reply = u64;
    async fn handle(&mut self, _: Get, _: &mut Context<Self, u64>) -> u64 {
        self.sum
    }
}

struct Echo;
impl Actor for Echo {
    type Args = ();
    type Error = Infallible;
    async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Echo)
    }
}

struct Inc(u64);
impl Message<Inc> for Echo {
    type Reply = u64;
    async fn handle(&mut self, m: Inc, _: &mut Context<Self, u64>) -> u64 {
        m.0 + 1
    }
}

fn spawn_bounded<A: Actor + Spawn>(args: A::Args) -> ActorRef<A> {
    A::spawn_with_mailbox(args, mailbox::bounded(MAILBOX_CAPACITY))
}

pub fn w1(rt: Rt, n: u64) -> f64 {
    run_tokio(rt, async move {
        let counter = spawn_bounded::<Counter>(0);
        counter.wait_for_startup().await;
        let t0 = Instant::now();
        for i in 0..n {
            counter.tell(Add(i)).await.expect("tell");
        }
        let sum = counter.ask(Get).await.expect("ask");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2, "kameo w1 sum");
        counter.stop_gracefully().await.ok();
        counter.wait_for_shutdown().await;
        n as f64 / secs
    })
}

pub fn w2(rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
    run_tokio(rt, async move {
        let echo = spawn_bounded::<Echo>(());
        echo.wait_for_startup().await;
        for i in 0..warmup as u64 {
            assert_eq!(echo.ask(Inc(i)).await.expect("ask"), i + 1);
        }
        let mut samples = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let t0 = Instant::now();
            let r = echo.ask(Inc(i)).await.expect("ask");
            samples.push(t0.elapsed().as_nanos() as u64);
            assert_eq!(r, i + 1);
        }
        echo.stop_gracefully().await.ok();
        echo.wait_for_shutdown().await;
        samples
    })
}

struct Idle;
impl Actor for Idle {
    type Args = ();
    type Error = Infallible;
    async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Infallible> {
        STARTED.fetch_add(1, Ordering::Release);
        Ok(Idle)
    }
    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        _: ActorStopReason,
    ) -> Result<(), Infallible> {
        STOPPED.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

pub fn w3(n: usize) -> SpawnResult {
    run_tokio(Rt::Ct, async move {
        let mut refs = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            refs.push(spawn_bounded::<Idle>(()));
        }
        wait_count(&STARTED, n).await;
        let spawn = t0.elapsed();
        let rss1 = rss_bytes();
        let t1 = Instant::now();
        for r in &refs {
            r.stop_gracefully().await.expect("stop");
        }
        wait_count(&STOPPED, n).await;
        let stop = t1.elapsed();
        drop(refs);
        SpawnResult {
            ns_per_spawn: spawn.as_nanos() as f64 / n as f64,
            bytes_per_actor: rss1.saturating_sub(rss0) as f64 / n as f64,
            stop_secs: stop.as_secs_f64(),
        }
    })
}

// ---- w5: supervised restart after a panic ----

struct Sup;
impl Actor for Sup {
    type Args = ();
    type Error = Infallible;
    async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Sup)
    }
}

#[derive(Clone)]
struct Worker;
impl Actor for Worker {
    type Args = ();
    type Error = Infallible;
    async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Worker)
    }
}

struct Crash;
impl Message<Crash> for Worker {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _: &mut Context<Self, ()>) {
        panic!("crash requested");
    }
}

struct Ping;
impl Message<Ping> for Worker {
    type Reply = u64;
    async fn handle(&mut self, _: Ping, _: &mut Context<Self, u64>) -> u64 {
        7
    }
}

pub fn w5(n: usize) -> W5Result {
    run_tokio(Rt::Ct, async move {
        let sup = Sup::spawn(());
        sup.wait_for_startup().await;
        let worker = Worker::supervise(&sup, ())
            .restart_policy(kameo::supervision::RestartPolicy::Permanent)
            .restart_limit(u32::MAX, Duration::from_secs(1))
            .spawn_with_mailbox(mailbox::bounded(MAILBOX_CAPACITY))
            .await;
        worker.wait_for_startup().await;
        assert_eq!(worker.ask(Ping).await.expect("ping"), 7);
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t0 = Instant::now();
            worker.tell(Crash).await.expect("tell crash");
            let mut retries = 0u32;
            loop {
                match worker.ask(Ping).await {
                    Ok(7) => break,
                    Ok(other) => panic!("unexpected reply {other}"),
                    // Documented as retry-safe: the ask reached the dying incarnation.
                    Err(SendError::ActorRestarting(_)) | Err(SendError::ActorNotRunning(_)) => {
                        retries += 1;
                        if retries > 1_000_000 {
                            return Err(Unsupported("restart_never_completed".into()));
                        }
                        tokio::task::yield_now().await;
                    }
                    Err(e) => return Err(Unsupported(format!("ask_after_crash_failed:{e:?}"))),
                }
            }
            samples.push(t0.elapsed().as_nanos() as u64);
        }
        sup.stop_gracefully().await.ok();
        sup.wait_for_shutdown().await;
        Ok(samples)
    })
}

/// kameo 0.22.
pub struct Kameo;

impl crate::framework::Framework for Kameo {
    fn name(&self) -> &'static str {
        "kameo"
    }

    fn w1(&self, rt: Rt, n: u64) -> f64 {
        w1(rt, n)
    }

    fn w2(&self, rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
        w2(rt, n, warmup)
    }

    fn w3(&self, n: usize) -> SpawnResult {
        w3(n)
    }

    fn w4(&self, rt: Rt, n: u64, shape: crate::w4::Shape) -> crate::w4::W4Result {
        crate::w4::kameo::run(rt, n, shape)
    }

    fn w5(&self, n: usize) -> W5Result {
        w5(n)
    }

    fn w6(&self, rt: Rt, instances: usize, n: u64) -> crate::w6::W6Result {
        crate::w6::kameo::run(rt, instances, n)
    }

    fn w7(&self, n: usize) -> crate::w7::W7Result {
        crate::w7::kameo(n)
    }

    fn w13(&self, rt: Rt, n: u64, period_ns: u64) -> crate::w13::W13Run {
        crate::w13::kameo::run(rt, n, period_ns)
    }
}

//! actix 0.13: `Actor`, `Handler<M>`, `Message`, `Addr::do_send` (fire-and-forget, the
//! documented way to send without waiting for the result; it ignores the mailbox capacity)
//! and `Addr::send(m).await` (request/response). actix runs actors on its own single-threaded
//! `System` (actix-rt); there is no multi-threaded actor runtime, so rt=mt places the actor on
//! a second `Arbiter` thread while the driver stays on the `System` thread (2 threads).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::common::{
    rss_bytes, wait_count, Rt, SpawnResult, Unsupported, W5Result, MAILBOX_CAPACITY, STARTED,
    STOPPED,
};

/// Runs `f` inside a fresh actix `System`; `f` receives the arbiter actors should run on
/// (`None`: the System's own thread).
pub(crate) fn run_system<F, Fut, T>(rt: Rt, f: F) -> T
where
    F: FnOnce(Option<ArbiterHandle>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let sys = System::new();
    let out = sys.block_on(async move {
        match rt {
            Rt::Ct => f(None).await,
            Rt::Mt => {
                let arbiter = Arbiter::new();
                let out = f(Some(arbiter.handle())).await;
                arbiter.stop();
                arbiter.join().ok();
                out
            }
        }
    });
    System::current().stop();
    sys.run().ok();
    out
}

pub(crate) fn start_on<A, F>(arbiter: &Option<ArbiterHandle>, make: F) -> Addr<A>
where
    A: Actor<Context = Context<A>>,
    F: FnOnce() -> A + Send + 'static,
{
    match arbiter {
        None => A::create(|ctx| {
            ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
            make()
        }),
        Some(handle) => A::start_in_arbiter(handle, |ctx| {
            ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
            make()
        }),
    }
}

struct Counter {
    sum: u64,
}
impl Actor for Counter {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Add(u64);
impl Handler<Add> for Counter {
    type Result = ();
    fn handle(&mut self, m: Add, _: &mut Context<Self>) {
        self.sum += m.0;
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Get;
impl Handler<Get> for Counter {
    type Result = u64;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
        self.sum
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;
impl Handler<Stop> for Counter {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

struct Echo;
impl Actor for Echo {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Inc(u64);
impl Handler<Inc> for Echo {
    type Result = u64;
    fn handle(&mut self, m: Inc, _: &mut Context<Self>) -> u64 {
        m.0 + 1
    }
}

pub fn w1(rt: Rt, n: u64) -> f64 {
    run_system(rt, |arbiter| async move {
        let counter = start_on(&arbiter, || Counter { sum: 0 });
        assert_eq!(counter.send(Get).await.expect("ask"), 0);
        let t0 = Instant::now();
        for i in 0..n {
            counter.do_send(Add(i));
        }
        let sum = counter.send(Get).await.expect("ask");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2, "actix w1 sum");
        counter.do_send(Stop);
        n as f64 / secs
    })
}

pub fn w2(rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
    run_system(rt, |arbiter| async move {
        let echo = start_on(&arbiter, || Echo);
        for i in 0..warmup as u64 {
            assert_eq!(echo.send(Inc(i)).await.expect("ask"), i + 1);
        }
        let mut samples = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let t0 = Instant::now();
            let r = echo.send(Inc(i)).await.expect("ask");
            samples.push(t0.elapsed().as_nanos() as u64);
            assert_eq!(r, i + 1);
        }
        samples
    })
}

struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        STARTED.fetch_add(1, Ordering::Release);
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        STOPPED.fetch_add(1, Ordering::Release);
    }
}
impl Handler<Stop> for Idle {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

pub fn w3(n: usize) -> SpawnResult {
    run_system(Rt::Ct, |_| async move {
        let mut refs = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            refs.push(Idle::create(|ctx| {
                ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                Idle
            }));
        }
        wait_count(&STARTED, n).await;
        let spawn = t0.elapsed();
        let rss1 = rss_bytes();
        let t1 = Instant::now();
        for r in &refs {
            r.do_send(Stop);
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

// ---- w5: `Supervisor` + `Supervised::restarting` ----

struct Worker;
impl Actor for Worker {
    type Context = Context<Self>;
}
impl Supervised for Worker {
    fn restarting(&mut self, _: &mut Context<Self>) {}
}

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;
impl Handler<Crash> for Worker {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crash requested");
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping;
impl Handler<Ping> for Worker {
    type Result = u64;
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> u64 {
        7
    }
}

pub fn w5(n: usize) -> W5Result {
    // A panic may take the whole System down: run it on its own thread and observe.
    let probe = std::thread::spawn(move || {
        run_system(Rt::Ct, |_| async move {
            let worker = Supervisor::start(|ctx: &mut Context<Worker>| {
                ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                Worker
            });
            assert_eq!(worker.send(Ping).await.expect("ping"), 7);
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                worker.do_send(Crash);
                match worker.send(Ping).timeout(Duration::from_secs(1)).await {
                    Ok(7) => samples.push(t0.elapsed().as_nanos() as u64),
                    Ok(other) => panic!("unexpected reply {other}"),
                    Err(e) => return Err(e),
                }
            }
            Ok(samples)
        })
    });
    match probe.join() {
        Ok(Ok(samples)) => Ok(samples),
        Ok(Err(e)) => Err(Unsupported(format!(
            "handler_panic_kills_the_actor_task;Supervisor_restarts_only_after_a_stop;ask_after_crash:{e}"
        ))),
        Err(_) => Err(Unsupported(
            "handler_panic_unwinds_through_the_system_runtime".into(),
        )),
    }
}

/// actix 0.13.
pub struct Actix;

impl crate::framework::Framework for Actix {
    fn name(&self) -> &'static str {
        "actix"
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
        crate::w4::actix::run(rt, n, shape)
    }

    fn w5(&self, n: usize) -> W5Result {
        w5(n)
    }

    fn w6(&self, rt: Rt, instances: usize, n: u64) -> crate::w6::W6Result {
        crate::w6::actix::run(rt, instances, n)
    }

    fn w7(&self, n: usize) -> crate::w7::W7Result {
        crate::w7::actix(n)
    }

    fn w13(&self, rt: Rt, n: u64, period_ns: u64) -> crate::w13::W13Run {
        crate::w13::actix::run(rt, n, period_ns)
    }
}

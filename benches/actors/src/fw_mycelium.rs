//! Mycelium: `impl Actor`, `impl Handler<M>`, `Bus::spawn` (bounded mailbox, the default),
//! `tell(..).await`, `ask(..).await`, supervision through `Supervisor::builder` with a
//! `ChildSpec` and `Backoff::none()`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mycelium::actors::{MailboxConfig, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::Backoff;

use crate::common::{
    rss_bytes, run_tokio, wait_count, Rt, SpawnResult, Unsupported, W5Result, MAILBOX_CAPACITY,
    STARTED, STOPPED,
};

/// True while the `mycelium-metrics` variant runs: buses record metrics.
static METRICS: AtomicBool = AtomicBool::new(false);

/// Runs `f` with metrics on for the buses it builds.
pub fn with_metrics<T>(f: impl FnOnce() -> T) -> T {
    METRICS.store(true, Ordering::Relaxed);
    let out = f();
    METRICS.store(false, Ordering::Relaxed);
    out
}

/// Installs the Prometheus recorder for the process (the exporter a user would run), with a
/// thread that runs its upkeep (draining histogram samples) every second, as its HTTP
/// listener would.
///
/// `MYCELIUM_BENCH_RECORDER=none` leaves the facade without a recorder: the instruments are
/// then no-ops, which separates Mycelium's own cost from the exporter's.
pub fn install_recorder() {
    if std::env::var("MYCELIUM_BENCH_RECORDER").as_deref() == Ok("none") {
        eprintln!("# metrics: no recorder installed (MYCELIUM_BENCH_RECORDER=none)");
        return;
    }
    match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                handle.run_upkeep();
            });
        }
        Err(e) => eprintln!("# metrics recorder not installed: {e}"),
    }
}

/// A bus whose default mailbox is bounded with the capacity every framework gets.
fn bus() -> Bus {
    Bus::builder()
        .mailbox(MailboxConfig::Bounded(MAILBOX_CAPACITY))
        .metrics(METRICS.load(Ordering::Relaxed))
        .build()
        .expect("bus inside a tokio runtime")
}

struct Counter {
    sum: u64,
}

impl Actor for Counter {
    type Args = u64;
    async fn on_start(sum: u64, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter { sum })
    }
}

struct Add(u64);
impl Handler<Add> for Counter {
    type Reply = ();
    async fn handle(&mut self, m: Add, _: &mut Context<Self>) {
        self.sum += m.0;
    }
}

struct Get;
impl Handler<Get> for Counter {
    type Reply = u64;
    async fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
        self.sum
    }
}

struct Echo;
impl Actor for Echo {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo)
    }
}

struct Inc(u64);
impl Handler<Inc> for Echo {
    type Reply = u64;
    async fn handle(&mut self, m: Inc, _: &mut Context<Self>) -> u64 {
        m.0 + 1
    }
}

pub fn w1(rt: Rt, n: u64) -> f64 {
    run_tokio(rt, async move {
        let bus = bus();
        let counter = bus.spawn::<Counter>(0);
        assert_eq!(counter.ask(Get).await.expect("ask"), 0);
        let t0 = Instant::now();
        for i in 0..n {
            counter.tell(Add(i)).await.expect("tell");
        }
        let sum = counter.ask(Get).await.expect("ask");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2, "mycelium w1 sum");
        bus.shutdown(Duration::from_secs(5)).await;
        n as f64 / secs
    })
}

pub fn w2(rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
    run_tokio(rt, async move {
        let bus = bus();
        let echo = bus.spawn::<Echo>(());
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
        bus.shutdown(Duration::from_secs(5)).await;
        samples
    })
}

struct Idle;
impl Actor for Idle {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        STARTED.fetch_add(1, Ordering::Release);
        Ok(Idle)
    }
    async fn on_stop(&mut self, _: &mut Context<Self>, _: &StopReason) {
        STOPPED.fetch_add(1, Ordering::Release);
    }
}

pub fn w3(n: usize) -> SpawnResult {
    run_tokio(Rt::Ct, async move {
        let bus = bus();
        let mut refs = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            refs.push(bus.spawn::<Idle>(()));
        }
        wait_count(&STARTED, n).await;
        let spawn = t0.elapsed();
        let rss1 = rss_bytes();
        let t1 = Instant::now();
        for r in &refs {
            r.stop();
        }
        wait_count(&STOPPED, n).await;
        let stop = t1.elapsed();
        drop(refs);
        bus.shutdown(Duration::from_secs(5)).await;
        SpawnResult {
            ns_per_spawn: spawn.as_nanos() as f64 / n as f64,
            bytes_per_actor: rss1.saturating_sub(rss0) as f64 / n as f64,
            stop_secs: stop.as_secs_f64(),
        }
    })
}

// ---- w5: supervised restart in place after a panic ----

struct Worker;
impl Actor for Worker {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Worker)
    }
}

struct Crash;
impl Handler<Crash> for Worker {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crash requested");
    }
}

struct Ping;
impl Handler<Ping> for Worker {
    type Reply = u64;
    async fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> u64 {
        7
    }
}

pub fn w5(n: usize) -> W5Result {
    run_tokio(Rt::Ct, async move {
        let bus = bus();
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(u32::MAX, Duration::from_secs(1))
            .backoff(Backoff::none())
            .child(ChildSpec::new::<Worker>("worker", ()))
            .spawn(&bus)
            .await
            .map_err(|e| Unsupported(format!("supervisor_spawn_failed:{e}")))?;
        let worker: ActorRef<Worker> = tree.child::<Worker>("worker").expect("child");
        assert_eq!(worker.ask(Ping).await.expect("ping"), 7);
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t0 = Instant::now();
            worker.tell(Crash).await.expect("tell crash");
            // The same ref survives the restart, and the ask queued behind the crash is kept.
            match worker.ask(Ping).await {
                Ok(7) => {}
                Ok(other) => panic!("unexpected reply {other}"),
                Err(e) => return Err(Unsupported(format!("ask_after_crash_failed:{e:?}"))),
            }
            samples.push(t0.elapsed().as_nanos() as u64);
        }
        bus.shutdown(Duration::from_secs(5)).await;
        Ok(samples)
    })
}

/// Mycelium, metrics off (the default).
pub struct Mycelium;

impl crate::framework::Framework for Mycelium {
    fn name(&self) -> &'static str {
        "mycelium"
    }

    fn is_peer(&self) -> bool {
        false
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

    fn w4(&self, rt: Rt, n: u64) -> crate::w4::W4Result {
        crate::w4::mycelium::run(rt, n)
    }

    fn w5(&self, n: usize) -> W5Result {
        w5(n)
    }

    fn w6(&self, rt: Rt, instances: usize, n: u64) -> crate::w6::W6Result {
        crate::w6::mycelium::run(rt, instances, n)
    }

    fn w7(&self, n: usize) -> crate::w7::W7Result {
        crate::w7::mycelium(n)
    }

    fn w13(&self, rt: Rt, n: u64, period_ns: u64) -> crate::w13::W13Run {
        crate::w13::mycelium::run(rt, n, period_ns, false)
    }
}

/// Mycelium on buses built with `metrics(true)`: the cost of metrics (w1, w2, w13).
pub struct MyceliumMetrics;

impl crate::framework::Framework for MyceliumMetrics {
    fn name(&self) -> &'static str {
        "mycelium-metrics"
    }

    fn is_peer(&self) -> bool {
        false
    }

    fn skips(&self, workload: &str) -> Option<&'static str> {
        (!matches!(workload, "w1" | "w2" | "w13"))
            .then_some("metrics variant measured on w1, w2, w13 only")
    }

    fn w1(&self, rt: Rt, n: u64) -> f64 {
        with_metrics(|| w1(rt, n))
    }

    fn w2(&self, rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
        with_metrics(|| w2(rt, n, warmup))
    }

    fn w3(&self, n: usize) -> SpawnResult {
        w3(n)
    }

    fn w4(&self, rt: Rt, n: u64) -> crate::w4::W4Result {
        crate::w4::mycelium::run(rt, n)
    }

    fn w5(&self, n: usize) -> W5Result {
        w5(n)
    }

    fn w6(&self, rt: Rt, instances: usize, n: u64) -> crate::w6::W6Result {
        crate::w6::mycelium::run(rt, instances, n)
    }

    fn w7(&self, n: usize) -> crate::w7::W7Result {
        crate::w7::mycelium(n)
    }

    fn w13(&self, rt: Rt, n: u64, period_ns: u64) -> crate::w13::W13Run {
        crate::w13::mycelium::run(rt, n, period_ns, true)
    }
}

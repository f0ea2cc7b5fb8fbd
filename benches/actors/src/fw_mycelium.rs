//! Mycelium: `impl Actor`, `impl Handler<M>`, `Bus::spawn` (bounded mailbox, the default),
//! `tell(..).await`, `ask(..).await`, supervision through `Supervisor::builder` with a
//! `ChildSpec` and `Backoff::none()`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mycelium::actors::{MailboxConfig, SpawnOptions, StopReason};
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

/// The journal an actor of the `mycelium-recorded` variant is recorded into: in a new
/// directory under the system's temporary directory, removed when dropped.
pub struct BenchJournal {
    pub journal: mycelium_journal::JournalWriter,
    dir: std::path::PathBuf,
}

impl BenchJournal {
    pub fn open(what: &str) -> BenchJournal {
        let dir =
            std::env::temp_dir().join(format!("mycelium-bench-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options =
            mycelium_journal::JournalOptions::new(mycelium_journal::JournalSchema::none());
        let journal = mycelium_journal::JournalWriter::open(&dir, options)
            .expect("a journal in the temporary directory");
        BenchJournal { journal, dir }
    }

    /// Waits until every record appended so far is written.
    pub fn flush(&self) {
        self.journal.flush().expect("journal flush");
    }
}

impl Drop for BenchJournal {
    fn drop(&mut self) {
        let _ = self.journal.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// w1's message as the recording writes it: the number, as JSON.
impl serde::Serialize for Add {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// `recorded`: the counter is recorded (`SpawnOptions::record`) into a journal, each `Add`
/// as JSON; the time includes the journal's flush, so every record is written when it ends.
pub fn w1(rt: Rt, n: u64, recorded: bool) -> f64 {
    run_tokio(rt, async move {
        let bus = bus();
        let journal = recorded.then(|| BenchJournal::open("w1"));
        let counter = match &journal {
            None => bus.spawn::<Counter>(0),
            Some(j) => {
                let recording = std::sync::Arc::new(
                    mycelium_journal::Recording::new(j.journal.clone())
                        .serde::<Add>()
                        .serde::<u64>(),
                );
                bus.spawn_with::<Counter>(0, SpawnOptions::new().record(recording))
                    .expect("an unnamed spawn")
            }
        };
        assert_eq!(counter.ask(Get).await.expect("ask"), 0);
        let t0 = Instant::now();
        for i in 0..n {
            counter.tell(Add(i)).await.expect("tell");
        }
        let sum = counter.ask(Get).await.expect("ask");
        if let Some(j) = &journal {
            j.flush();
        }
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2, "mycelium w1 sum");
        bus.shutdown(Duration::from_secs(5)).await;
        n as f64 / secs
    })
}

/// How w2's asker reaches its actor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The actor's own ref.
    Ref,
    /// The own ref of an actor spawned with `SpawnOptions::hibernate`: every ask wakes it.
    Hibernating,
    /// The address that follows a supervised child (`child_reply_recipient`).
    Supervised,
}

pub fn w2(rt: Rt, n: usize, warmup: usize, reach: Reach) -> Vec<u64> {
    run_tokio(rt, async move {
        let bus = bus();
        let samples = match reach {
            Reach::Ref => w2_asks(bus.spawn::<Echo>(()), n, warmup).await,
            Reach::Hibernating => {
                let echo = bus
                    .spawn_with::<Echo>((), SpawnOptions::new().hibernate())
                    .expect("an unnamed, unpinned spawn");
                w2_asks(echo, n, warmup).await
            }
            Reach::Supervised => {
                let tree = Supervisor::builder(RestartStrategy::OneForOne)
                    .child(ChildSpec::new::<Echo>("echo", ()))
                    .spawn(&bus)
                    .await
                    .expect("the tree starts");
                let echo = tree
                    .child_reply_recipient::<Echo, Inc>("echo")
                    .expect("the child runs");
                w2_asks(echo, n, warmup).await
            }
        };
        bus.shutdown(Duration::from_secs(5)).await;
        samples
    })
}

/// What w2 asks through: an actor's ref or a reply recipient.
trait AskInc {
    async fn ask_inc(&self, i: u64) -> u64;
}

impl AskInc for ActorRef<Echo> {
    async fn ask_inc(&self, i: u64) -> u64 {
        self.ask(Inc(i)).await.expect("ask")
    }
}

impl AskInc for mycelium::actors::ReplyRecipient<Inc, u64> {
    async fn ask_inc(&self, i: u64) -> u64 {
        self.ask(Inc(i)).await.expect("ask")
    }
}

/// `warmup` asks, then `n` timed ones.
async fn w2_asks(echo: impl AskInc, n: usize, warmup: usize) -> Vec<u64> {
    for i in 0..warmup as u64 {
        assert_eq!(echo.ask_inc(i).await, i + 1);
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let t0 = Instant::now();
        let r = echo.ask_inc(i).await;
        samples.push(t0.elapsed().as_nanos() as u64);
        assert_eq!(r, i + 1);
    }
    samples
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

/// `hibernate`: the actors are spawned with `SpawnOptions::hibernate` (no task while idle).
pub fn w3(n: usize, hibernate: bool) -> SpawnResult {
    run_tokio(Rt::Ct, async move {
        let bus = bus();
        let mut refs = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            refs.push(if hibernate {
                bus.spawn_with::<Idle>((), SpawnOptions::new().hibernate())
                    .expect("an unnamed, unpinned spawn")
            } else {
                bus.spawn::<Idle>(())
            });
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

/// A supervised tree's shutdown (hidden `__tree <children> <trees>`): `trees` times in turn, a
/// one-for-one supervisor of `children` workers, each asked once (so that each has a task, as
/// a worker that has had mail does), then stopped. Returns the time of the stops per child
/// stopped (ns). Mycelium only, no goal: a measure of its own changes to a tree's shutdown.
pub fn tree_shutdown(children: usize, trees: usize) -> f64 {
    run_tokio(Rt::Ct, async move {
        let bus = bus();
        let mut stopping = Duration::ZERO;
        for _ in 0..trees {
            let names: Vec<String> = (0..children).map(|i| format!("worker-{i}")).collect();
            let tree = names
                .iter()
                .fold(
                    Supervisor::builder(RestartStrategy::OneForOne),
                    |b, name| b.child(ChildSpec::new::<Worker>(name.as_str(), ())),
                )
                .spawn(&bus)
                .await
                .expect("a tree of workers");
            for name in &names {
                let worker: ActorRef<Worker> = tree.child::<Worker>(name).expect("child");
                assert_eq!(worker.ask(Ping).await.expect("ping"), 7);
            }
            let t0 = Instant::now();
            tree.stop().await;
            stopping += t0.elapsed();
        }
        bus.shutdown(Duration::from_secs(5)).await;
        stopping.as_nanos() as f64 / (children * trees) as f64
    })
}

/// Mycelium, as the benchmark runs it: the default (`MYCELIUM`) and two variants measured
/// beside it, each on the workloads named in `only` (all when empty).
pub struct Mycelium {
    name: &'static str,
    /// Buses built with `metrics(true)`, the recorder installed.
    metrics: bool,
    /// Actors spawned with `SpawnOptions::hibernate` (w2, w3, w4).
    hibernate: bool,
    /// w2 asks through the address that follows a supervised child.
    supervised: bool,
    /// w1's counter and w14's subscriber recorded into a journal.
    recorded: bool,
    only: &'static [&'static str],
    /// Why the other workloads are skipped.
    why: &'static str,
}

/// Mycelium, metrics off (the default).
pub const MYCELIUM: Mycelium = Mycelium {
    name: "mycelium",
    metrics: false,
    hibernate: false,
    supervised: false,
    recorded: false,
    only: &[],
    why: "",
};

/// Mycelium on buses built with `metrics(true)`: the cost of metrics (w1, w2, w13).
pub const MYCELIUM_METRICS: Mycelium = Mycelium {
    name: "mycelium-metrics",
    metrics: true,
    hibernate: false,
    supervised: false,
    recorded: false,
    only: &["w1", "w2", "w13"],
    why: "metrics variant measured on w1, w2, w13 only",
};

/// Mycelium's actors spawned with `SpawnOptions::hibernate`, which hold no task while they
/// have no mail: w3 (idle memory); w2, where every ask wakes the actor (the cost of a wake:
/// no direct call, a queue hop, a task's future made and dropped); and w4, where every batch
/// wakes all the subscribers at once.
pub const MYCELIUM_HIBERNATING: Mycelium = Mycelium {
    name: "mycelium-hibernating",
    metrics: false,
    hibernate: true,
    supervised: false,
    recorded: false,
    only: &["w2", "w3", "w4"],
    why: "hibernation variant measured on w2 (the cost of a wake), w3 and w4 only",
};

/// w2 through the address that follows a supervised child (`child_reply_recipient`), which
/// takes the direct call of the incarnation that runs now: the cost of following the child.
pub const MYCELIUM_SUPERVISED: Mycelium = Mycelium {
    name: "mycelium-supervised",
    metrics: false,
    hibernate: false,
    supervised: true,
    recorded: false,
    only: &["w2"],
    why: "supervised variant measured on w2 only (asks through child_reply_recipient)",
};

/// Mycelium with w1's counter and w14's subscriber recorded (`SpawnOptions::record`) into a
/// journal: the cost of the flight recorder, read as its ratio to `mycelium` in the same run.
pub const MYCELIUM_RECORDED: Mycelium = Mycelium {
    name: "mycelium-recorded",
    metrics: false,
    hibernate: false,
    supervised: false,
    recorded: true,
    only: &["w1", "w14"],
    why: "recording variant measured on w1 and w14 only",
};

impl Mycelium {
    /// Runs `f` with metrics on if this variant records them.
    fn measured<T>(&self, f: impl FnOnce() -> T) -> T {
        if self.metrics {
            with_metrics(f)
        } else {
            f()
        }
    }
}

impl crate::framework::Framework for Mycelium {
    fn name(&self) -> &'static str {
        self.name
    }

    fn is_peer(&self) -> bool {
        false
    }

    fn skips(&self, workload: &str) -> Option<&'static str> {
        (!self.only.is_empty() && !self.only.contains(&workload)).then_some(self.why)
    }

    fn w1(&self, rt: Rt, n: u64) -> f64 {
        self.measured(|| w1(rt, n, self.recorded))
    }

    fn w2(&self, rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
        let reach = if self.supervised {
            Reach::Supervised
        } else if self.hibernate {
            Reach::Hibernating
        } else {
            Reach::Ref
        };
        self.measured(|| w2(rt, n, warmup, reach))
    }

    fn w3(&self, n: usize) -> SpawnResult {
        w3(n, self.hibernate)
    }

    fn w4(&self, rt: Rt, n: u64, shape: crate::w4::Shape) -> crate::w4::W4Result {
        crate::w4::mycelium::run(rt, n, shape, self.hibernate, self.recorded)
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
        crate::w13::mycelium::run(rt, n, period_ns, self.metrics)
    }
}

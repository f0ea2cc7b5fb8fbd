//! What an isolated bus costs: create a bus with a three-actor pipeline wired by topics,
//! push one message through it, shut it down and drop it — as a sweep does per grid point.
//!
//! ```sh
//! cargo run --release -p mycelium-backtest --example bus_cost -- 10000
//! ```
//!
//! Prints the mean time per bus (1) with a fresh paused-clock runtime per bus, as `Sweep`
//! runs them, (2) with the buses created one after another on one runtime, and (3) the time
//! to build N buses that are all alive at once, and to drop them.

use std::time::{Duration, Instant};

use mycelium_actors::{
    Actor, BoxError, Bus, Context, Handler, Published, Publisher, SubscribeOptions,
};
use tokio::sync::mpsc;

struct Source {
    out: Publisher<u64>,
}
impl Actor for Source {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Source {
            out: ctx.bus().publisher::<u64>("a")?,
        })
    }
}
impl Handler<u64> for Source {
    type Reply = ();
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) {
        self.out.publish(n).await;
    }
}

struct Middle {
    out: Publisher<u64>,
}
impl Actor for Middle {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<u64>("a", SubscribeOptions::new())?;
        Ok(Middle {
            out: ctx.bus().publisher::<u64>("b")?,
        })
    }
}
impl Handler<Published<u64>> for Middle {
    type Reply = ();
    async fn handle(&mut self, n: Published<u64>, _ctx: &mut Context<Self>) {
        self.out.publish(*n + 1).await;
    }
}

struct Sink {
    done: mpsc::UnboundedSender<u64>,
}
impl Actor for Sink {
    type Args = mpsc::UnboundedSender<u64>;
    async fn on_start(done: Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<u64>("b", SubscribeOptions::new())?;
        Ok(Sink { done })
    }
}
impl Handler<Published<u64>> for Sink {
    type Reply = ();
    async fn handle(&mut self, n: Published<u64>, _ctx: &mut Context<Self>) {
        let _ = self.done.send(*n);
    }
}
struct Ping;
impl Handler<Ping> for Sink {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
}
impl Handler<Ping> for Middle {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
}

/// Builds the pipeline on `bus`, waits until every actor has subscribed, and returns the
/// source and the receiver of the sink's output.
async fn pipeline(
    bus: &Bus,
) -> (
    mycelium_actors::ActorRef<Source>,
    mpsc::UnboundedReceiver<u64>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink = bus.spawn::<Sink>(tx);
    let middle = bus.spawn::<Middle>(());
    let _ = sink.ask(Ping).await;
    let _ = middle.ask(Ping).await;
    (bus.spawn::<Source>(()), rx)
}

async fn one_bus(seed: u64) {
    let bus = Bus::builder()
        .virtual_time()
        .seed(seed)
        .build()
        .expect("runtime");
    let (source, mut out) = pipeline(&bus).await;
    source.tell(seed).await.expect("source runs");
    assert_eq!(out.recv().await, Some(seed + 1));
    bus.shutdown(Duration::from_secs(1)).await;
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

/// Resident memory in KiB (Linux), to show what live buses cost.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);

    let t = Instant::now();
    for i in 0..n {
        paused_runtime().block_on(one_bus(i));
    }
    let fresh = t.elapsed();
    println!(
        "fresh runtime per bus: {n} buses in {fresh:.2?}, {:.1} us per bus (runtime + bus + 3 actors + 1 message + shutdown + drop)",
        fresh.as_secs_f64() * 1e6 / n as f64
    );

    let rt = paused_runtime();
    let t = Instant::now();
    rt.block_on(async {
        for i in 0..n {
            one_bus(i).await;
        }
    });
    let shared = t.elapsed();
    println!(
        "one runtime, buses one after another: {:.1} us per bus",
        shared.as_secs_f64() * 1e6 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        drop(paused_runtime());
    }
    println!(
        "of which a paused current-thread runtime, created and dropped: {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );

    let rss_before = rss_kib();
    let t = Instant::now();
    let alive = rt.block_on(async {
        let mut alive = Vec::with_capacity(n as usize);
        for i in 0..n {
            let bus = Bus::builder()
                .virtual_time()
                .seed(i)
                .build()
                .expect("runtime");
            let (source, out) = pipeline(&bus).await;
            alive.push((bus, source, out));
        }
        for (i, (_, source, out)) in alive.iter_mut().enumerate() {
            source.tell(i as u64).await.expect("source runs");
            assert_eq!(out.recv().await, Some(i as u64 + 1));
        }
        alive
    });
    let built = t.elapsed();
    println!(
        "{n} buses alive at once ({} actors): built and exercised in {built:.2?}, {:.1} us per bus",
        3 * n,
        built.as_secs_f64() * 1e6 / n as f64
    );
    if let (Some(before), Some(after)) = (rss_before, rss_kib()) {
        println!(
            "resident memory: +{} KiB for {n} live buses, {:.1} KiB per bus",
            after.saturating_sub(before),
            after.saturating_sub(before) as f64 / n as f64
        );
    }
    let t = Instant::now();
    rt.block_on(async {
        for (bus, _, _) in &alive {
            bus.shutdown(Duration::from_secs(1)).await;
        }
    });
    drop(alive);
    drop(rt);
    println!("shut down and dropped in {:.2?}", t.elapsed());
}

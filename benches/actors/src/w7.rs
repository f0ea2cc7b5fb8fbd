//! w7, bus lifecycle: create and drop `n` isolated instances, each the 3-actor pipeline of
//! w6 with one message through it. Runs in a fresh process (as every run: `__run`; `__w7` runs
//! one of any size) for every framework, on one `current_thread` runtime (actix: one `System`).
//!
//! 1. `bytes_per_bus`: RSS before and after building `n` instances that stay alive (each has
//!    passed its one message), divided by `n`; then they are stopped.
//! 2. `ns_per_bus`: `n` times, one after another: build an instance, pass one message from
//!    source to sink, stop it (waiting until its actors have stopped), drop it.
//!
//! Mycelium's line has three more keys, for a backtest sweep's unit: a `Bus` with three
//! actors wired by two topics (source → `a` → middle → `b` → sink), one message through them,
//! shutdown and drop:
//!
//! 3. `sweep_ns_per_bus`: `n` times, each on a fresh `current_thread` runtime, as `Sweep` runs
//!    a grid point;
//! 4. `topic_ns_per_bus`: the same `n` times one after another on one runtime;
//! 5. `topic_bytes_per_bus`: RSS growth per bus with `n` of them alive at once.
//!
//! `Sweep` runs its buses on virtual time, which needs tokio's `test-util` (a paused clock);
//! this crate does not build it, since it would change tokio's clock for every framework
//! measured in the binary. These buses run on the real clock; the work per bus (runtime, bus,
//! actors, subscriptions, one message, shutdown) is the same.
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
    /// Mycelium only: the topic-wired bus on virtual time (see the module docs).
    pub topic: Option<topic_bus::TopicBus>,
}

impl W7Result {
    /// The line's keys and values (the topic bus's only for Mycelium).
    pub fn values(&self) -> Vec<(&'static str, f64)> {
        let mut vals = vec![
            ("ns_per_bus", self.ns_per_bus),
            ("bytes_per_bus", self.bytes_per_bus),
        ];
        if let Some(t) = &self.topic {
            vals.extend([
                ("sweep_ns_per_bus", t.sweep_ns_per_bus),
                ("topic_ns_per_bus", t.topic_ns_per_bus),
                ("topic_bytes_per_bus", t.topic_bytes_per_bus),
            ]);
        }
        vals
    }
}

fn result(n: usize, rss0: u64, rss1: u64, t0: Instant) -> W7Result {
    W7Result {
        ns_per_bus: t0.elapsed().as_nanos() as f64 / n as f64,
        bytes_per_bus: rss1.saturating_sub(rss0) as f64 / n as f64,
        topic: None,
    }
}

pub fn mycelium(n: usize) -> W7Result {
    use w6::mycelium::Pipeline;
    let r = run_tokio(Rt::Ct, async move {
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
    });
    W7Result {
        topic: Some(topic_bus::measure(n)),
        ..r
    }
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

pub mod topic_bus {
    //! Mycelium's bus of a backtest sweep: three actors wired by two topics.

    use std::time::{Duration, Instant};

    use mycelium::actors::{
        Actor, ActorRef, BoxError, Bus, Context, Handler, Published, Publisher, SubscribeOptions,
    };
    use tokio::sync::mpsc;

    use crate::common::rss_bytes;

    /// The three topic-bus keys of w7.
    pub struct TopicBus {
        pub sweep_ns_per_bus: f64,
        pub topic_ns_per_bus: f64,
        pub topic_bytes_per_bus: f64,
    }

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

    /// Answered once an actor has started (and so subscribed).
    struct Ping;
    impl Handler<Ping> for Sink {
        type Reply = ();
        async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
    }
    impl Handler<Ping> for Middle {
        type Reply = ();
        async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
    }

    /// A bus with its pipeline, every subscription in place.
    struct Unit {
        bus: Bus,
        source: ActorRef<Source>,
        out: mpsc::UnboundedReceiver<u64>,
    }

    impl Unit {
        async fn build() -> Unit {
            let bus = Bus::new();
            let (tx, out) = mpsc::unbounded_channel();
            let sink = bus.spawn::<Sink>(tx);
            let middle = bus.spawn::<Middle>(());
            sink.ask(Ping).await.expect("sink starts");
            middle.ask(Ping).await.expect("middle starts");
            let source = bus.spawn::<Source>(());
            Unit { bus, source, out }
        }

        /// One message from the source to the sink.
        async fn run(&mut self, x: u64) {
            self.source.tell(x).await.expect("source runs");
            assert_eq!(self.out.recv().await, Some(x + 1), "the pipeline adds one");
        }

        async fn stop(self) {
            self.bus.shutdown(Duration::from_secs(1)).await;
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    }

    async fn one(x: u64) {
        let mut u = Unit::build().await;
        u.run(x).await;
        u.stop().await;
    }

    /// Measures the three keys over `n` buses each.
    pub fn measure(n: usize) -> TopicBus {
        let per = |t: Instant| t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for i in 0..n as u64 {
            runtime().block_on(one(i));
        }
        let sweep_ns_per_bus = per(t);
        let rt = runtime();
        let t = Instant::now();
        rt.block_on(async {
            for i in 0..n as u64 {
                one(i).await;
            }
        });
        let topic_ns_per_bus = per(t);
        let topic_bytes_per_bus = rt.block_on(async {
            let rss0 = rss_bytes();
            let mut alive = Vec::with_capacity(n);
            for i in 0..n as u64 {
                let mut u = Unit::build().await;
                u.run(i).await;
                alive.push(u);
            }
            let rss1 = rss_bytes();
            for u in alive {
                u.stop().await;
            }
            rss1.saturating_sub(rss0) as f64 / n as f64
        });
        TopicBus {
            sweep_ns_per_bus,
            topic_ns_per_bus,
            topic_bytes_per_bus,
        }
    }
}

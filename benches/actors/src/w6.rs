//! w6, isolated systems: many independent instances, each a 3-actor pipeline
//! (source -> strategy -> sink) passing `n` messages. The pipelines are shared with w7.
//!
//! Every framework builds the pipeline the same way: the sink is spawned first, the strategy
//! holds the sink's ref, the source the strategy's. A `Run(n)` message to the source makes it
//! send `0..n` to the strategy, which sends `x + 1` to the sink; the sink counts and, at `n`,
//! signals a per-instance `tokio::sync::Notify` (`notify_one` keeps a permit, so the signal
//! is never lost). Mycelium: each instance is its own `Bus`. kameo and ractor have no
//! per-instance system (their registries are process-global): an instance is its 3 actors.
//! actix: 3 actors on the `System`/`Arbiter` the instance runs on.
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

pub mod mycelium {
    use super::*;
    use ::mycelium::actors::MailboxConfig;
    use ::mycelium::prelude::*;

    struct Sink {
        target: u64,
        count: u64,
        done: Arc<Notify>,
    }
    impl Actor for Sink {
        type Args = (u64, Arc<Notify>);
        async fn on_start(
            (target, done): (u64, Arc<Notify>),
            _: &mut Context<Self>,
        ) -> Result<Self, BoxError> {
            Ok(Sink {
                target,
                count: 0,
                done,
            })
        }
    }
    impl Handler<u64> for Sink {
        type Reply = ();
        async fn handle(&mut self, _: u64, _: &mut Context<Self>) {
            self.count += 1;
            if self.count == self.target {
                self.done.notify_one();
            }
        }
    }

    struct Strategy {
        sink: ActorRef<Sink>,
    }
    impl Actor for Strategy {
        type Args = ActorRef<Sink>;
        async fn on_start(sink: ActorRef<Sink>, _: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Strategy { sink })
        }
    }
    impl Handler<u64> for Strategy {
        type Reply = ();
        async fn handle(&mut self, x: u64, _: &mut Context<Self>) {
            self.sink.tell(x + 1).await.expect("sink");
        }
    }

    struct Source {
        strategy: ActorRef<Strategy>,
    }
    impl Actor for Source {
        type Args = ActorRef<Strategy>;
        async fn on_start(
            strategy: ActorRef<Strategy>,
            _: &mut Context<Self>,
        ) -> Result<Self, BoxError> {
            Ok(Source { strategy })
        }
    }
    struct Run(u64);
    impl Handler<Run> for Source {
        type Reply = ();
        async fn handle(&mut self, m: Run, _: &mut Context<Self>) {
            for i in 0..m.0 {
                self.strategy.tell(i).await.expect("strategy");
            }
        }
    }

    /// One instance: its own bus and 3 actors.
    pub struct Pipeline {
        bus: Bus,
        source: ActorRef<Source>,
        done: Arc<Notify>,
    }

    impl Pipeline {
        pub fn build(n: u64) -> Pipeline {
            let bus = Bus::builder()
                .mailbox(MailboxConfig::Bounded(MAILBOX_CAPACITY))
                .build()
                .expect("bus inside a tokio runtime");
            let done = Arc::new(Notify::new());
            let sink = bus.spawn::<Sink>((n, done.clone()));
            let strategy = bus.spawn::<Strategy>(sink);
            let source = bus.spawn::<Source>(strategy);
            Pipeline { bus, source, done }
        }

        pub async fn run(&self, n: u64) {
            self.source.tell(Run(n)).await.expect("source");
            self.done.notified().await;
        }

        pub async fn stop(self) {
            self.bus.shutdown(Duration::from_secs(5)).await;
        }
    }

    async fn instance(n: u64) {
        let p = Pipeline::build(n);
        p.run(n).await;
        p.stop().await;
    }

    pub fn run(rt: Rt, instances: usize, n: u64) -> W6Result {
        match rt {
            Rt::Mt => shared(instances, n, instance),
            Rt::Ct => iso(instances, n, |n| run_tokio(Rt::Ct, instance(n))),
        }
    }
}

pub mod kameo {
    use super::*;
    use ::kameo::error::Infallible;
    use ::kameo::mailbox;
    use ::kameo::prelude::*;

    fn spawn<A: Actor + Spawn>(args: A::Args) -> ActorRef<A> {
        A::spawn_with_mailbox(args, mailbox::bounded(MAILBOX_CAPACITY))
    }

    struct Sink {
        target: u64,
        count: u64,
        done: Arc<Notify>,
    }
    impl Actor for Sink {
        type Args = (u64, Arc<Notify>);
        type Error = Infallible;
        async fn on_start(
            (target, done): (u64, Arc<Notify>),
            _: ActorRef<Self>,
        ) -> Result<Self, Infallible> {
            Ok(Sink {
                target,
                count: 0,
                done,
            })
        }
    }
    impl Message<u64> for Sink {
        type Reply = ();
        async fn handle(&mut self, _: u64, _: &mut Context<Self, ()>) {
            self.count += 1;
            if self.count == self.target {
                self.done.notify_one();
            }
        }
    }

    struct Strategy {
        sink: ActorRef<Sink>,
    }
    impl Actor for Strategy {
        type Args = ActorRef<Sink>;
        type Error = Infallible;
        async fn on_start(sink: ActorRef<Sink>, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(Strategy { sink })
        }
    }
    impl Message<u64> for Strategy {
        type Reply = ();
        async fn handle(&mut self, x: u64, _: &mut Context<Self, ()>) {
            self.sink.tell(x + 1).await.expect("sink");
        }
    }

    struct Source {
        strategy: ActorRef<Strategy>,
    }
    impl Actor for Source {
        type Args = ActorRef<Strategy>;
        type Error = Infallible;
        async fn on_start(
            strategy: ActorRef<Strategy>,
            _: ActorRef<Self>,
        ) -> Result<Self, Infallible> {
            Ok(Source { strategy })
        }
    }
    struct Run(u64);
    impl Message<Run> for Source {
        type Reply = ();
        async fn handle(&mut self, m: Run, _: &mut Context<Self, ()>) {
            for i in 0..m.0 {
                self.strategy.tell(i).await.expect("strategy");
            }
        }
    }

    /// One instance: 3 spawned actors (kameo has no per-instance system).
    pub struct Pipeline {
        sink: ActorRef<Sink>,
        strategy: ActorRef<Strategy>,
        source: ActorRef<Source>,
        done: Arc<Notify>,
    }

    impl Pipeline {
        pub fn build(n: u64) -> Pipeline {
            let done = Arc::new(Notify::new());
            let sink = spawn::<Sink>((n, done.clone()));
            let strategy = spawn::<Strategy>(sink.clone());
            let source = spawn::<Source>(strategy.clone());
            Pipeline {
                sink,
                strategy,
                source,
                done,
            }
        }

        pub async fn run(&self, n: u64) {
            self.source.tell(Run(n)).await.expect("source");
            self.done.notified().await;
        }

        pub async fn stop(self) {
            self.source.stop_gracefully().await.ok();
            self.strategy.stop_gracefully().await.ok();
            self.sink.stop_gracefully().await.ok();
            self.source.wait_for_shutdown().await;
            self.strategy.wait_for_shutdown().await;
            self.sink.wait_for_shutdown().await;
        }
    }

    async fn instance(n: u64) {
        let p = Pipeline::build(n);
        p.run(n).await;
        p.stop().await;
    }

    pub fn run(rt: Rt, instances: usize, n: u64) -> W6Result {
        match rt {
            Rt::Mt => shared(instances, n, instance),
            Rt::Ct => iso(instances, n, |n| run_tokio(Rt::Ct, instance(n))),
        }
    }
}

pub mod ractor {
    use super::*;
    use ::ractor::concurrency::JoinHandle;
    use ::ractor::{Actor, ActorProcessingErr, ActorRef};

    struct Sink;
    struct SinkState {
        target: u64,
        count: u64,
        done: Arc<Notify>,
    }
    impl Actor for Sink {
        type Msg = u64;
        type State = SinkState;
        type Arguments = (u64, Arc<Notify>);
        async fn pre_start(
            &self,
            _: ActorRef<u64>,
            (target, done): (u64, Arc<Notify>),
        ) -> Result<SinkState, ActorProcessingErr> {
            Ok(SinkState {
                target,
                count: 0,
                done,
            })
        }
        async fn handle(
            &self,
            _: ActorRef<u64>,
            _: u64,
            s: &mut SinkState,
        ) -> Result<(), ActorProcessingErr> {
            s.count += 1;
            if s.count == s.target {
                s.done.notify_one();
            }
            Ok(())
        }
    }

    struct Strategy;
    impl Actor for Strategy {
        type Msg = u64;
        type State = ActorRef<u64>;
        type Arguments = ActorRef<u64>;
        async fn pre_start(
            &self,
            _: ActorRef<u64>,
            sink: ActorRef<u64>,
        ) -> Result<ActorRef<u64>, ActorProcessingErr> {
            Ok(sink)
        }
        async fn handle(
            &self,
            _: ActorRef<u64>,
            x: u64,
            sink: &mut ActorRef<u64>,
        ) -> Result<(), ActorProcessingErr> {
            sink.cast(x + 1)?;
            Ok(())
        }
    }

    struct Source;
    struct Run(u64);
    impl ::ractor::Message for Run {}
    impl Actor for Source {
        type Msg = Run;
        type State = ActorRef<u64>;
        type Arguments = ActorRef<u64>;
        async fn pre_start(
            &self,
            _: ActorRef<Run>,
            strategy: ActorRef<u64>,
        ) -> Result<ActorRef<u64>, ActorProcessingErr> {
            Ok(strategy)
        }
        async fn handle(
            &self,
            _: ActorRef<Run>,
            m: Run,
            strategy: &mut ActorRef<u64>,
        ) -> Result<(), ActorProcessingErr> {
            for i in 0..m.0 {
                strategy.cast(i)?;
            }
            Ok(())
        }
    }

    /// One instance: 3 spawned actors (ractor has no per-instance system).
    pub struct Pipeline {
        sink: ActorRef<u64>,
        strategy: ActorRef<u64>,
        source: ActorRef<Run>,
        handles: [JoinHandle<()>; 3],
        done: Arc<Notify>,
    }

    impl Pipeline {
        pub async fn build(n: u64) -> Pipeline {
            let done = Arc::new(Notify::new());
            let (sink, h1) = Actor::spawn(None, Sink, (n, done.clone()))
                .await
                .expect("spawn");
            let (strategy, h2) = Actor::spawn(None, Strategy, sink.clone())
                .await
                .expect("spawn");
            let (source, h3) = Actor::spawn(None, Source, strategy.clone())
                .await
                .expect("spawn");
            Pipeline {
                sink,
                strategy,
                source,
                handles: [h1, h2, h3],
                done,
            }
        }

        pub async fn run(&self, n: u64) {
            self.source.cast(Run(n)).expect("source");
            self.done.notified().await;
        }

        pub async fn stop(self) {
            self.source.stop(None);
            self.strategy.stop(None);
            self.sink.stop(None);
            for h in self.handles {
                h.await.ok();
            }
        }
    }

    async fn instance(n: u64) {
        let p = Pipeline::build(n).await;
        p.run(n).await;
        p.stop().await;
    }

    pub fn run(rt: Rt, instances: usize, n: u64) -> W6Result {
        match rt {
            Rt::Mt => shared(instances, n, instance),
            Rt::Ct => iso(instances, n, |n| run_tokio(Rt::Ct, instance(n))),
        }
    }
}

pub mod actix {
    use super::*;
    use ::actix::prelude::*;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Val(u64);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Run(u64);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    struct Sink {
        target: u64,
        count: u64,
        done: Arc<Notify>,
        stopped: Arc<Semaphore>,
    }
    impl Actor for Sink {
        type Context = Context<Self>;
        fn stopped(&mut self, _: &mut Context<Self>) {
            self.stopped.add_permits(1);
        }
    }
    impl Handler<Val> for Sink {
        type Result = ();
        fn handle(&mut self, _: Val, _: &mut Context<Self>) {
            self.count += 1;
            if self.count == self.target {
                self.done.notify_one();
            }
        }
    }

    struct Strategy {
        sink: Addr<Sink>,
        stopped: Arc<Semaphore>,
    }
    impl Actor for Strategy {
        type Context = Context<Self>;
        fn stopped(&mut self, _: &mut Context<Self>) {
            self.stopped.add_permits(1);
        }
    }
    impl Handler<Val> for Strategy {
        type Result = ();
        fn handle(&mut self, m: Val, _: &mut Context<Self>) {
            self.sink.do_send(Val(m.0 + 1));
        }
    }

    struct Source {
        strategy: Addr<Strategy>,
        stopped: Arc<Semaphore>,
    }
    impl Actor for Source {
        type Context = Context<Self>;
        fn stopped(&mut self, _: &mut Context<Self>) {
            self.stopped.add_permits(1);
        }
    }
    impl Handler<Run> for Source {
        type Result = ();
        fn handle(&mut self, m: Run, _: &mut Context<Self>) {
            for i in 0..m.0 {
                self.strategy.do_send(Val(i));
            }
        }
    }

    macro_rules! stop_handler {
        ($($a:ty),*) => {$(
            impl Handler<Stop> for $a {
                type Result = ();
                fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
                    ctx.stop();
                }
            }
        )*};
    }
    stop_handler!(Sink, Strategy, Source);

    fn start<A, F>(arbiter: Option<&ArbiterHandle>, make: F) -> Addr<A>
    where
        A: Actor<Context = Context<A>>,
        F: FnOnce() -> A + Send + 'static,
    {
        let init = |ctx: &mut Context<A>| {
            ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
            make()
        };
        match arbiter {
            None => A::create(init),
            Some(h) => A::start_in_arbiter(h, init),
        }
    }

    /// One instance: 3 actors on the current `System` thread or on `arbiter`.
    pub struct Pipeline {
        sink: Addr<Sink>,
        strategy: Addr<Strategy>,
        source: Addr<Source>,
        done: Arc<Notify>,
        stopped: Arc<Semaphore>,
    }

    impl Pipeline {
        pub fn build(arbiter: Option<&ArbiterHandle>, n: u64) -> Pipeline {
            let done = Arc::new(Notify::new());
            let stopped = Arc::new(Semaphore::new(0));
            let (d, st) = (done.clone(), stopped.clone());
            let sink = start(arbiter, move || Sink {
                target: n,
                count: 0,
                done: d,
                stopped: st,
            });
            let (s, st) = (sink.clone(), stopped.clone());
            let strategy = start(arbiter, move || Strategy {
                sink: s,
                stopped: st,
            });
            let (s, st) = (strategy.clone(), stopped.clone());
            let source = start(arbiter, move || Source {
                strategy: s,
                stopped: st,
            });
            Pipeline {
                sink,
                strategy,
                source,
                done,
                stopped,
            }
        }

        pub fn start_run(&self, n: u64) {
            self.source.do_send(Run(n));
        }

        pub async fn wait(&self) {
            self.done.notified().await;
        }

        pub async fn run(&self, n: u64) {
            self.start_run(n);
            self.wait().await;
        }

        pub fn send_stop(&self) {
            self.source.do_send(Stop);
            self.strategy.do_send(Stop);
            self.sink.do_send(Stop);
        }

        pub async fn stop(self) {
            self.send_stop();
            self.wait_stopped().await;
        }

        pub async fn wait_stopped(self) {
            self.stopped
                .acquire_many(3)
                .await
                .expect("semaphore open")
                .forget();
        }
    }

    /// Runs `f` in a fresh `System` on this thread and lets the System wind down.
    pub fn in_system<Fut: std::future::Future>(f: Fut) -> Fut::Output {
        let sys = System::new();
        let out = sys.block_on(f);
        System::current().stop();
        sys.run().ok();
        out
    }

    pub fn run(rt: Rt, instances: usize, n: u64) -> W6Result {
        match rt {
            // Two Arbiter threads share the instances; the driver stays on the System thread.
            Rt::Mt => in_system(async move {
                let arbiters = [Arbiter::new(), Arbiter::new()];
                let t0 = Instant::now();
                let pipelines: Vec<Pipeline> = (0..instances)
                    .map(|i| {
                        let p = Pipeline::build(Some(&arbiters[i % 2].handle()), n);
                        p.start_run(n);
                        p
                    })
                    .collect();
                for p in &pipelines {
                    p.wait().await;
                }
                for p in &pipelines {
                    p.send_stop();
                }
                for p in pipelines {
                    p.wait_stopped().await;
                }
                let secs = t0.elapsed().as_secs_f64();
                for a in arbiters {
                    a.stop();
                    a.join().ok();
                }
                result(instances, n, secs)
            }),
            // A System per instance on 2 OS threads.
            Rt::Ct => iso(instances, n, |n| {
                in_system(async move {
                    let p = Pipeline::build(None, n);
                    p.run(n).await;
                    p.stop().await;
                })
            }),
        }
    }
}

//! w13, latency under load: a 3-stage pipeline feed → strategy → execution at a fixed offered
//! rate, end-to-end latency per message.
//!
//! A driver task (the market) schedules message `i` at `start + i × period` and hands it to
//! the feed actor when it is due, yielding to the runtime until then while the pipeline has
//! work and spinning on the clock while it has none ([`drive`]); the feed forwards to the
//! strategy, the strategy to the execution actor, which records `now − due`. Latency is
//! measured from the *scheduled* time, so a driver held up by a backed-up pipeline does not
//! hide the queueing (no coordinated omission).
//!
//! The rate is the same for every framework: half of the slowest peer's maximum, measured in
//! the same run by the same pipeline driven with no pacing (`period = 0`: every message sent
//! as soon as the previous send returns). rt=ct: one `current_thread` runtime (actix: its
//! `System`); rt=mt: a 2-worker runtime (actix: the pipeline on a second `Arbiter`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::common::Rt;

/// Latencies of one run (ns from each message's scheduled time to the execution actor) and
/// the run's wall time from the first send to the last delivery.
pub struct W13Run {
    pub samples: Vec<u64>,
    pub secs: f64,
}

/// Where the execution actor leaves its samples once it has seen `target` messages.
pub struct Collector {
    t0: Instant,
    target: usize,
    /// Messages recorded so far: the driver compares it with the messages it sent.
    recorded: AtomicU64,
    samples: Mutex<Vec<u64>>,
    done: Notify,
}

impl Collector {
    fn new(target: usize) -> Arc<Collector> {
        Arc::new(Collector {
            t0: Instant::now(),
            target,
            recorded: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
            done: Notify::new(),
        })
    }

    fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// The execution actor's per-incarnation sample buffer.
    fn buffer(&self) -> Vec<u64> {
        Vec::with_capacity(self.target)
    }

    /// Records message `due`; hands the buffer over at the target.
    fn record(&self, buf: &mut Vec<u64>, due: u64) {
        buf.push(self.now_ns().saturating_sub(due));
        self.recorded.fetch_add(1, Ordering::Release);
        if buf.len() == self.target {
            *self.samples.lock().unwrap_or_else(|e| e.into_inner()) = std::mem::take(buf);
            self.done.notify_one();
        }
    }

    async fn wait(&self) -> W13Run {
        self.done.notified().await;
        let secs = self.t0.elapsed().as_secs_f64();
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        W13Run { samples, secs }
    }
}

/// Sends `n` messages, message `i` not before `start + i × period_ns` (period 0: unpaced),
/// where `start` is when the driver begins (the actors' spawns are not counted as lateness).
///
/// Until a message is due the driver waits in one of two ways. While messages it sent are
/// still in the pipeline it yields to the runtime after each look at the clock, so that the
/// pipeline's tasks run. Once every message sent has been recorded nothing else of the
/// workload waits for the thread, and it spins on the clock in place: a yield there would
/// make each look wait for a turn of the runtime (with tokio's `yield_now`, a poll of the I/O
/// driver, a system call), and every message would be late by up to one turn for every
/// framework alike: spinning took the driver's own p50 from 214 to 51 ns (measured at
/// 261162e, 2026-11-26: docs/perf/actors.md).
async fn drive<S, Fut>(c: &Collector, n: u64, period_ns: u64, mut send: S)
where
    S: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = c.now_ns();
    for i in 0..n {
        let due = start + i * period_ns;
        while c.now_ns() < due {
            if c.recorded.load(Ordering::Acquire) == i {
                std::hint::spin_loop();
            } else {
                tokio::task::yield_now().await;
            }
        }
        send(due).await;
    }
}

/// The harness's own floor at `period_ns`: the same driver, whose send records the message's
/// lateness at once (no actor, no hop). Every framework's latency includes it: the time from
/// a message's due time to the driver's look at the clock that sees it.
pub fn driver_floor(rt: Rt, n: u64, period_ns: u64) -> Vec<u64> {
    crate::common::run_tokio(rt, async move {
        let c = Collector::new(n as usize);
        let mut late = c.buffer();
        drive(&c, n, period_ns, |due| {
            c.record(&mut late, due);
            std::future::ready(())
        })
        .await;
        c.wait().await.samples
    })
}

pub mod mycelium {
    use super::*;
    use crate::common::{run_tokio, MAILBOX_CAPACITY};
    use ::mycelium::actors::MailboxConfig;
    use ::mycelium::prelude::*;
    use std::time::Duration;

    #[derive(Clone, Copy)]
    struct Due(u64);

    struct Execution {
        c: Arc<Collector>,
        buf: Vec<u64>,
    }
    impl Actor for Execution {
        type Args = Arc<Collector>;
        async fn on_start(c: Arc<Collector>, _: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Execution { buf: c.buffer(), c })
        }
    }
    impl Handler<Due> for Execution {
        type Reply = ();
        async fn handle(&mut self, m: Due, _: &mut Context<Self>) {
            self.c.record(&mut self.buf, m.0);
        }
    }

    struct Forward<A: Actor>(ActorRef<A>);
    impl<A: Actor + Handler<Due>> Actor for Forward<A> {
        type Args = ActorRef<A>;
        async fn on_start(next: ActorRef<A>, _: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Forward(next))
        }
    }
    impl<A: Actor + Handler<Due>> Handler<Due> for Forward<A> {
        type Reply = ();
        async fn handle(&mut self, m: Due, _: &mut Context<Self>) {
            self.0.tell(m).await.expect("next stage");
        }
    }

    /// `metrics`: the bus records metrics (the process has a recorder installed).
    pub fn run(rt: Rt, n: u64, period_ns: u64, metrics: bool) -> W13Run {
        run_tokio(rt, async move {
            let bus = Bus::builder()
                .mailbox(MailboxConfig::Bounded(MAILBOX_CAPACITY))
                .metrics(metrics)
                .build()
                .expect("bus inside a tokio runtime");
            let c = Collector::new(n as usize);
            let execution = bus.spawn::<Execution>(c.clone());
            let strategy = bus.spawn::<Forward<Execution>>(execution);
            let feed = bus.spawn::<Forward<Forward<Execution>>>(strategy);
            let driver = {
                let c = c.clone();
                tokio::spawn(async move {
                    drive(&c, n, period_ns, |due| {
                        let feed = &feed;
                        async move { feed.tell(Due(due)).await.expect("feed") }
                    })
                    .await
                })
            };
            let out = c.wait().await;
            driver.await.expect("driver");
            bus.shutdown(Duration::from_secs(5)).await;
            out
        })
    }
}

pub mod kameo {
    use super::*;
    use crate::common::{run_tokio, MAILBOX_CAPACITY};
    use ::kameo::error::Infallible;
    use ::kameo::mailbox;
    use ::kameo::prelude::*;

    fn spawn<A: Actor + Spawn>(args: A::Args) -> ActorRef<A> {
        A::spawn_with_mailbox(args, mailbox::bounded(MAILBOX_CAPACITY))
    }

    struct Due(u64);

    struct Execution {
        c: Arc<Collector>,
        buf: Vec<u64>,
    }
    impl Actor for Execution {
        type Args = Arc<Collector>;
        type Error = Infallible;
        async fn on_start(c: Arc<Collector>, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(Execution { buf: c.buffer(), c })
        }
    }
    impl Message<Due> for Execution {
        type Reply = ();
        async fn handle(&mut self, m: Due, _: &mut Context<Self, ()>) {
            self.c.record(&mut self.buf, m.0);
        }
    }

    struct Strategy(ActorRef<Execution>);
    impl Actor for Strategy {
        type Args = ActorRef<Execution>;
        type Error = Infallible;
        async fn on_start(
            next: ActorRef<Execution>,
            _: ActorRef<Self>,
        ) -> Result<Self, Infallible> {
            Ok(Strategy(next))
        }
    }
    impl Message<Due> for Strategy {
        type Reply = ();
        async fn handle(&mut self, m: Due, _: &mut Context<Self, ()>) {
            self.0.tell(m).await.expect("execution");
        }
    }

    struct Feed(ActorRef<Strategy>);
    impl Actor for Feed {
        type Args = ActorRef<Strategy>;
        type Error = Infallible;
        async fn on_start(next: ActorRef<Strategy>, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(Feed(next))
        }
    }
    impl Message<Due> for Feed {
        type Reply = ();
        async fn handle(&mut self, m: Due, _: &mut Context<Self, ()>) {
            self.0.tell(m).await.expect("strategy");
        }
    }

    pub fn run(rt: Rt, n: u64, period_ns: u64) -> W13Run {
        run_tokio(rt, async move {
            let c = Collector::new(n as usize);
            let execution = spawn::<Execution>(c.clone());
            let strategy = spawn::<Strategy>(execution.clone());
            let feed = spawn::<Feed>(strategy.clone());
            let driver = {
                let c = c.clone();
                let feed = feed.clone();
                tokio::spawn(async move {
                    drive(&c, n, period_ns, |due| {
                        let feed = &feed;
                        async move { feed.tell(Due(due)).await.expect("feed") }
                    })
                    .await
                })
            };
            let out = c.wait().await;
            driver.await.expect("driver");
            feed.stop_gracefully().await.ok();
            strategy.stop_gracefully().await.ok();
            execution.stop_gracefully().await.ok();
            feed.wait_for_shutdown().await;
            strategy.wait_for_shutdown().await;
            execution.wait_for_shutdown().await;
            out
        })
    }
}

pub mod ractor {
    use super::*;
    use crate::common::run_tokio;
    use ::ractor::{Actor, ActorProcessingErr, ActorRef};

    struct Execution;
    impl Actor for Execution {
        type Msg = u64;
        type State = (Arc<Collector>, Vec<u64>);
        type Arguments = Arc<Collector>;
        async fn pre_start(
            &self,
            _: ActorRef<u64>,
            c: Arc<Collector>,
        ) -> Result<Self::State, ActorProcessingErr> {
            let buf = c.buffer();
            Ok((c, buf))
        }
        async fn handle(
            &self,
            _: ActorRef<u64>,
            due: u64,
            (c, buf): &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            c.record(buf, due);
            Ok(())
        }
    }

    struct Forward;
    impl Actor for Forward {
        type Msg = u64;
        type State = ActorRef<u64>;
        type Arguments = ActorRef<u64>;
        async fn pre_start(
            &self,
            _: ActorRef<u64>,
            next: ActorRef<u64>,
        ) -> Result<ActorRef<u64>, ActorProcessingErr> {
            Ok(next)
        }
        async fn handle(
            &self,
            _: ActorRef<u64>,
            due: u64,
            next: &mut ActorRef<u64>,
        ) -> Result<(), ActorProcessingErr> {
            next.cast(due)?;
            Ok(())
        }
    }

    pub fn run(rt: Rt, n: u64, period_ns: u64) -> W13Run {
        run_tokio(rt, async move {
            let c = Collector::new(n as usize);
            let (execution, h1) = Actor::spawn(None, Execution, c.clone())
                .await
                .expect("spawn");
            let (strategy, h2) = Actor::spawn(None, Forward, execution.clone())
                .await
                .expect("spawn");
            let (feed, h3) = Actor::spawn(None, Forward, strategy.clone())
                .await
                .expect("spawn");
            let driver = {
                let c = c.clone();
                let feed = feed.clone();
                tokio::spawn(async move {
                    drive(&c, n, period_ns, |due| {
                        let sent = feed.cast(due);
                        async move { sent.expect("feed") }
                    })
                    .await
                })
            };
            let out = c.wait().await;
            driver.await.expect("driver");
            feed.stop(None);
            strategy.stop(None);
            execution.stop(None);
            for h in [h1, h2, h3] {
                h.await.ok();
            }
            out
        })
    }
}

pub mod actix {
    use super::*;
    use crate::fw_actix::{run_system, start_on};
    use ::actix::prelude::*;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Due(u64);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    struct Execution {
        c: Arc<Collector>,
        buf: Vec<u64>,
    }
    impl Actor for Execution {
        type Context = Context<Self>;
    }
    impl Handler<Due> for Execution {
        type Result = ();
        fn handle(&mut self, m: Due, _: &mut Context<Self>) {
            self.c.record(&mut self.buf, m.0);
        }
    }

    struct Strategy(Addr<Execution>);
    impl Actor for Strategy {
        type Context = Context<Self>;
    }
    impl Handler<Due> for Strategy {
        type Result = ();
        fn handle(&mut self, m: Due, _: &mut Context<Self>) {
            self.0.do_send(m);
        }
    }

    struct Feed(Addr<Strategy>);
    impl Actor for Feed {
        type Context = Context<Self>;
    }
    impl Handler<Due> for Feed {
        type Result = ();
        fn handle(&mut self, m: Due, _: &mut Context<Self>) {
            self.0.do_send(m);
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
    stop_handler!(Execution, Strategy, Feed);

    pub fn run(rt: Rt, n: u64, period_ns: u64) -> W13Run {
        run_system(rt, |arbiter| async move {
            let c = Collector::new(n as usize);
            let cc = c.clone();
            let execution = start_on(&arbiter, move || Execution {
                buf: cc.buffer(),
                c: cc,
            });
            let e = execution.clone();
            let strategy = start_on(&arbiter, move || Strategy(e));
            let s = strategy.clone();
            let feed = start_on(&arbiter, move || Feed(s));
            // The driver runs on the System thread (actix has no task spawn of its own that
            // differs from this one), as in the other actix workloads.
            let driving = drive(&c, n, period_ns, |due| {
                feed.do_send(Due(due));
                std::future::ready(())
            });
            let (_, out) = tokio::join!(driving, c.wait());
            feed.do_send(Stop);
            strategy.do_send(Stop);
            execution.do_send(Stop);
            out
        })
    }
}

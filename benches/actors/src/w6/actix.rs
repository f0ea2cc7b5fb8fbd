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

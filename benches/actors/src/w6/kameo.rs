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
    async fn on_start(strategy: ActorRef<Strategy>, _: ActorRef<Self>) -> Result<Self, Infallible> {
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

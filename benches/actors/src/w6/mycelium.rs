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
        let mut i = 0;
        while i < m.0 {
            let end = (i + BATCH).min(m.0);
            self.strategy.tell_many(i..end).await.expect("strategy");
            i = end;
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

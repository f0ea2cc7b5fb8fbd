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

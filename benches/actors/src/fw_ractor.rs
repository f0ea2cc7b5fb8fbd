//! ractor 0.16: `Actor` trait (`pre_start`, `handle`), `Actor::spawn`, `ActorRef::cast`,
//! `call!`, supervision through `Actor::spawn_linked` and `handle_supervisor_evt`.
//! ractor mailboxes are unbounded (not configurable).

use std::sync::atomic::Ordering;
use std::time::Instant;

use ractor::{call, Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::common::{
    rss_bytes, run_tokio, wait_count, Rt, SpawnResult, Unsupported, W5Result, STARTED, STOPPED,
};

struct Counter;

enum CounterMsg {
    Add(u64),
    Get(RpcReplyPort<u64>),
}
impl ractor::Message for CounterMsg {}

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = u64;
    type Arguments = u64;
    async fn pre_start(
        &self,
        _: ActorRef<CounterMsg>,
        args: u64,
    ) -> Result<u64, ActorProcessingErr> {
        Ok(args)
    }
    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        msg: CounterMsg,
        sum: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Add(v) => *sum += v,
            CounterMsg::Get(reply) => {
                let _ = reply.send(*sum);
            }
        }
        Ok(())
    }
}

struct Echo;

enum EchoMsg {
    Inc(u64, RpcReplyPort<u64>),
}
impl ractor::Message for EchoMsg {}

impl Actor for Echo {
    type Msg = EchoMsg;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<EchoMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<EchoMsg>,
        msg: EchoMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EchoMsg::Inc(v, reply) => {
                let _ = reply.send(v + 1);
            }
        }
        Ok(())
    }
}

pub fn w1(rt: Rt, n: u64) -> f64 {
    run_tokio(rt, async move {
        let (counter, handle) = Actor::spawn(None, Counter, 0).await.expect("spawn");
        let t0 = Instant::now();
        for i in 0..n {
            counter.cast(CounterMsg::Add(i)).expect("cast");
        }
        let sum = call!(counter, CounterMsg::Get).expect("call");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2, "ractor w1 sum");
        counter.stop(None);
        handle.await.ok();
        n as f64 / secs
    })
}

pub fn w2(rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
    run_tokio(rt, async move {
        let (echo, handle) = Actor::spawn(None, Echo, ()).await.expect("spawn");
        for i in 0..warmup as u64 {
            assert_eq!(call!(echo, EchoMsg::Inc, i).expect("call"), i + 1);
        }
        let mut samples = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let t0 = Instant::now();
            let r = call!(echo, EchoMsg::Inc, i).expect("call");
            samples.push(t0.elapsed().as_nanos() as u64);
            assert_eq!(r, i + 1);
        }
        echo.stop(None);
        handle.await.ok();
        samples
    })
}

struct Idle;

impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        STARTED.fetch_add(1, Ordering::Release);
        Ok(())
    }
    async fn post_stop(&self, _: ActorRef<()>, _: &mut ()) -> Result<(), ActorProcessingErr> {
        STOPPED.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

pub fn w3(n: usize) -> SpawnResult {
    run_tokio(Rt::Ct, async move {
        let mut refs = Vec::with_capacity(n);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            // `spawn` returns once `pre_start` has run; the join handle is detached.
            let (r, _handle) = Actor::spawn(None, Idle, ()).await.expect("spawn");
            refs.push(r);
        }
        wait_count(&STARTED, n).await;
        let spawn = t0.elapsed();
        let rss1 = rss_bytes();
        let t1 = Instant::now();
        for r in &refs {
            r.stop(None);
        }
        wait_count(&STOPPED, n).await;
        let stop = t1.elapsed();
        drop(refs);
        SpawnResult {
            ns_per_spawn: spawn.as_nanos() as f64 / n as f64,
            bytes_per_actor: rss1.saturating_sub(rss0) as f64 / n as f64,
            stop_secs: stop.as_secs_f64(),
        }
    })
}

// ---- w5: a supervisor actor respawns its linked worker on `ActorFailed` ----

struct Worker;

enum WorkerMsg {
    Crash,
    Ping(RpcReplyPort<u64>),
}
impl ractor::Message for WorkerMsg {}

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<WorkerMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Crash => panic!("crash requested"),
            WorkerMsg::Ping(reply) => {
                let _ = reply.send(7);
            }
        }
        Ok(())
    }
}

struct Sup;

enum SupMsg {
    /// Reply with the worker once its generation is at least the given one.
    WorkerAt(u64, RpcReplyPort<ActorRef<WorkerMsg>>),
}
impl ractor::Message for SupMsg {}

struct SupState {
    worker: ActorRef<WorkerMsg>,
    generation: u64,
    waiting: Vec<(u64, RpcReplyPort<ActorRef<WorkerMsg>>)>,
}

impl Actor for Sup {
    type Msg = SupMsg;
    type State = SupState;
    type Arguments = ();
    async fn pre_start(
        &self,
        myself: ActorRef<SupMsg>,
        _: (),
    ) -> Result<SupState, ActorProcessingErr> {
        let (worker, _) = Actor::spawn_linked(None, Worker, (), myself.get_cell()).await?;
        Ok(SupState {
            worker,
            generation: 0,
            waiting: Vec::new(),
        })
    }
    async fn handle(
        &self,
        _: ActorRef<SupMsg>,
        msg: SupMsg,
        state: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupMsg::WorkerAt(generation, reply) => {
                if state.generation >= generation {
                    let _ = reply.send(state.worker.clone());
                } else {
                    state.waiting.push((generation, reply));
                }
            }
        }
        Ok(())
    }
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupMsg>,
        evt: SupervisionEvent,
        state: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, _) = evt {
            if cell.get_id() == state.worker.get_id() {
                let (worker, _) = Actor::spawn_linked(None, Worker, (), myself.get_cell()).await?;
                state.worker = worker;
                state.generation += 1;
                let generation = state.generation;
                let (ready, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut state.waiting)
                    .into_iter()
                    .partition(|(g, _)| *g <= generation);
                state.waiting = pending;
                for (_, reply) in ready {
                    let _ = reply.send(state.worker.clone());
                }
            }
        }
        Ok(())
    }
}

pub fn w5(n: usize) -> W5Result {
    run_tokio(Rt::Ct, async move {
        let (sup, handle) = Actor::spawn(None, Sup, ()).await.expect("spawn sup");
        let mut worker = call!(sup, SupMsg::WorkerAt, 0).expect("worker");
        assert_eq!(call!(worker, WorkerMsg::Ping).expect("ping"), 7);
        let mut samples = Vec::with_capacity(n);
        for generation in 1..=n as u64 {
            let t0 = Instant::now();
            worker.cast(WorkerMsg::Crash).expect("cast crash");
            // A restart yields a new ActorRef: learn it from the supervisor.
            worker = match call!(sup, SupMsg::WorkerAt, generation) {
                Ok(w) => w,
                Err(e) => return Err(Unsupported(format!("supervisor_call_failed:{e}"))),
            };
            match call!(worker, WorkerMsg::Ping) {
                Ok(7) => {}
                Ok(other) => panic!("unexpected reply {other}"),
                Err(e) => return Err(Unsupported(format!("ping_after_restart_failed:{e}"))),
            }
            samples.push(t0.elapsed().as_nanos() as u64);
        }
        sup.stop(None);
        handle.await.ok();
        Ok(samples)
    })
}

/// ractor 0.16.
pub struct Ractor;

impl crate::framework::Framework for Ractor {
    fn name(&self) -> &'static str {
        "ractor"
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

    fn w4(&self, rt: Rt, n: u64, shape: crate::w4::Shape) -> crate::w4::W4Result {
        crate::w4::ractor::run(rt, n, shape)
    }

    fn w5(&self, n: usize) -> W5Result {
        w5(n)
    }

    fn w6(&self, rt: Rt, instances: usize, n: u64) -> crate::w6::W6Result {
        crate::w6::ractor::run(rt, instances, n)
    }

    fn w7(&self, n: usize) -> crate::w7::W7Result {
        crate::w7::ractor(n)
    }

    fn w13(&self, rt: Rt, n: u64, period_ns: u64) -> crate::w13::W13Run {
        crate::w13::ractor::run(rt, n, period_ns)
    }
}

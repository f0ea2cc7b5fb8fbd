use super::*;
use crate::{BoxError, Bus};

use crate::test_actors::Idle;

/// An actor whose state is `[u8; 1024]` (never read: only its size matters).
#[allow(dead_code)]
struct Big([u8; 1024]);
impl Actor for Big {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Big([0; 1024]))
    }
}

/// The size of the task future of a started actor (`actor`), which every actor but a
/// pinned one has from its first mail on.
fn task_size<A: Actor<Args = ()>>(actor: A) -> usize {
    let bus = Bus::new();
    let shared = std::sync::Arc::new(crate::shared::Shared::new(
        1,
        None,
        Default::default(),
        bus.clock().clone(),
    ));
    let me = ActorRef { shared };
    let ctx = Context::new(me.clone(), bus.clone());
    let runner = Runner::new(me, bus, None);
    let task = run_woken::<A>(runner, (), ctx, 1, actor);
    std::mem::size_of_val(&task)
}

/// Every actor's task carries this future; with the cell, it sets the memory an idle
/// actor costs (docs/perf/actors.md, w3). A budget, so that a change which inlines a
/// cold future or a rarely used field again (the future was 1,104 bytes before the cold
/// futures were boxed, and 512 before the context's rare parts and the start's result
/// left it) shows up here. With tokio's task header, 240 bytes make a 384-byte task.
#[tokio::test]
async fn an_idle_actor_task_stays_small() {
    let size = task_size(Idle);
    assert!(size <= 240, "the actor task future grew to {size} bytes");
}

/// With its task, the actor cell sets the memory an idle actor costs. Under glibc the
/// 384-byte task (aligned to 128 bytes) and a cell of up to 216 bytes (240 with the
/// `Arc`'s counts and malloc's header) take 640 bytes per actor; 8 bytes more make it 768
/// (docs/perf/actors.md, w3). The cell's size does not depend on the actor's type.
#[test]
fn an_actor_cell_fits_beside_its_task() {
    let size = std::mem::size_of::<crate::shared::Shared<Idle>>();
    assert!(size <= 216, "the actor cell grew to {size} bytes");
}

/// The actor's state is stored once in its task: not also in the start's result, which
/// would double the memory of an actor with a large state.
#[tokio::test]
async fn the_actor_state_is_stored_once_in_its_task() {
    let grown = task_size(Big([0; 1024])) - task_size(Idle);
    assert!(
        grown <= 1024 + 16,
        "a 1 KiB state grew the task by {grown} bytes"
    );
}

/// Records the numbers it is told; `Gate` holds it in a handler until released.
struct Recorder {
    seen: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
}
impl Actor for Recorder {
    type Args = std::sync::Arc<std::sync::Mutex<Vec<u64>>>;
    async fn on_start(seen: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Recorder { seen })
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &StopReason) {
        self.seen.lock().unwrap().push(0);
    }
}
impl crate::Handler<u64> for Recorder {
    type Reply = ();
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) {
        self.seen.lock().unwrap().push(n);
    }
}
struct Gate {
    entered: tokio::sync::oneshot::Sender<()>,
    go: tokio::sync::oneshot::Receiver<()>,
}
impl crate::Handler<Gate> for Recorder {
    type Reply = ();
    async fn handle(&mut self, gate: Gate, _ctx: &mut Context<Self>) {
        let _ = gate.entered.send(());
        let _ = gate.go.await;
    }
}

/// `drain_and_stop` lets the actor handle what was queued before it, then stops it normally
/// (`on_stop` runs, recorded as 0); what is sent after it is not handled but dead-lettered.
/// `stop` overtakes the queue instead.
#[tokio::test]
async fn drain_and_stop_handles_the_queue_first_and_nothing_sent_after() {
    use tokio::sync::oneshot;

    for drain in [true, false] {
        let bus = Bus::new();
        let seen = std::sync::Arc::default();
        let actor = bus.spawn::<Recorder>(std::sync::Arc::clone(&seen));
        let (entered, is_in) = oneshot::channel();
        let (release, go) = oneshot::channel();
        actor.tell(Gate { entered, go }).await.unwrap();
        is_in.await.unwrap();
        for n in 1..=3 {
            actor.try_tell(n).unwrap();
        }
        if drain {
            actor.drain_and_stop().await;
        } else {
            actor.stop();
        }
        actor.try_tell(4).unwrap();
        release.send(()).unwrap();
        assert_eq!(actor.wait_for_stop().await, StopReason::Normal);
        let handled = seen.lock().unwrap().clone();
        let dead: Vec<_> = bus
            .dead_letters()
            .drain()
            .into_iter()
            .map(|l| l.message_type)
            .collect();
        if drain {
            assert_eq!(handled, [1, 2, 3, 0]);
            assert_eq!(dead, ["u64"]);
        } else {
            assert_eq!(handled, [0]);
            assert_eq!(dead, ["u64"; 4]);
        }
        // A stopped actor: nothing to do.
        actor.drain_and_stop().await;
    }
}

/// Tells itself `Go` until it has counted to `limit`.
struct SelfTeller {
    count: std::sync::Arc<std::sync::atomic::AtomicU32>,
    limit: u32,
}

#[derive(Clone, Copy)]
struct Go;

impl Actor for SelfTeller {
    type Args = (std::sync::Arc<std::sync::atomic::AtomicU32>, u32);
    async fn on_start(
        (count, limit): Self::Args,
        ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        ctx.actor_ref().try_tell(Go)?;
        Ok(SelfTeller { count, limit })
    }
}

impl crate::Handler<Go> for SelfTeller {
    type Reply = ();
    async fn handle(&mut self, _: Go, ctx: &mut Context<Self>) {
        let n = self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n < self.limit {
            let _ = ctx.actor_ref().try_tell(Go);
        }
    }
}

/// Answers what a [`SelfTeller`] has counted when asked.
struct Reader(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl Actor for Reader {
    type Args = std::sync::Arc<std::sync::atomic::AtomicU32>;
    async fn on_start(
        count: std::sync::Arc<std::sync::atomic::AtomicU32>,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Reader(count))
    }
}

impl crate::Handler<Go> for Reader {
    type Reply = u32;
    async fn handle(&mut self, _: Go, _ctx: &mut Context<Self>) -> u32 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An actor whose mailbox never empties (it tells itself) lets the other tasks of its
/// thread run: on a current-thread runtime this task and another actor run long before it
/// is done.
#[tokio::test(flavor = "current_thread")]
async fn an_actor_that_tells_itself_lets_other_actors_run() {
    let bus = Bus::new();
    let count = std::sync::Arc::<std::sync::atomic::AtomicU32>::default();
    let reader = bus.spawn::<Reader>(count.clone());
    let limit = 100_000;
    let _teller = bus.spawn::<SelfTeller>((count.clone(), limit));
    // The teller starts and tells itself; this task runs again only once it lets go.
    while count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let seen = reader.ask(Go).await.unwrap();
    assert!(
        seen < limit,
        "the reader answered only once the self-telling actor was done ({seen} of {limit})"
    );
}

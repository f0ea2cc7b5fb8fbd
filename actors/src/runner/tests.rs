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

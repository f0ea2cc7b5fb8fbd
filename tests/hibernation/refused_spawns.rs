//! Spawn options that cannot go together are refused: pinned and hibernating, and a linked
//! child that also has a supervisor.

use std::sync::Arc;

use crate::common::*;
use mycelium::actors::{ActorId, SpawnError, SpawnOptions, StopReason, SupervisionLink};
use mycelium::prelude::*;
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn a_pinned_actor_cannot_hibernate() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let err = bus
        .spawn_with::<Probe>(
            ProbeArgs::new("p", &log),
            SpawnOptions::new().pinned().hibernate(),
        )
        .err()
        .unwrap();
    assert_eq!(err, SpawnError::PinnedHibernating);
    assert!(err.to_string().contains("drop one of the two options"));
    assert_eq!(bus.actor_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_linked_child_with_a_supervisor_is_refused() {
    struct Nobody;
    impl SupervisionLink for Nobody {
        fn child_ended(&self, _: ActorId, _: u32, _: StopReason) -> bool {
            false
        }
        fn child_exited(&self, _: ActorId, _: StopReason) {}
    }
    struct Owner;
    impl Actor for Owner {
        type Args = Log;
        async fn on_start(log: Log, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            let options = SpawnOptions::new().supervised_by(Arc::new(Nobody));
            match ctx.spawn_child_with::<Probe>(ProbeArgs::new("c", &log), options) {
                Err(SpawnError::OwnedAndSupervised) => Ok(Owner),
                other => Err(format!("expected a refusal, got {:?}", other.map(|r| r.id())).into()),
            }
        }
    }
    let bus = virtual_bus(1);
    let log = Log::default();
    let (tx, rx) = oneshot::channel();
    bus.spawn_with::<Owner>(log.clone(), SpawnOptions::new().on_start_outcome(tx))
        .unwrap();
    assert_eq!(rx.await.unwrap(), Ok(()));
    assert!(log.take().is_empty(), "the child never started");
    assert_eq!(bus.actor_count(), 1);
}

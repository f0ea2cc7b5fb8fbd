//! Watches and linked children: a watch reports the final stop only, and linked children
//! stop before their owner restarts.

use std::time::Duration;

use crate::common::*;
use crate::events;
use mycelium::actors::{Down, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::Backoff;
use tokio::sync::mpsc;

/// `watch` gives one notice when an actor stops for good, never for restarts.
#[tokio::test(start_paused = true)]
async fn watch_reports_the_final_stop_only() {
    quiet_panics();
    struct Watcher(mpsc::UnboundedSender<Down>);
    impl Actor for Watcher {
        type Args = (ActorRef<Probe>, mpsc::UnboundedSender<Down>);
        async fn on_start((w, tx): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            ctx.watch(&w);
            Ok(Watcher(tx))
        }
    }
    impl Handler<Down> for Watcher {
        type Reply = ();
        async fn handle(&mut self, down: Down, _ctx: &mut Context<Self>) {
            let _ = self.0.send(down);
        }
    }
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let (tx, mut downs) = mpsc::unbounded_channel();
    let _watcher = bus.spawn::<Watcher>((w.clone(), tx));
    w.tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    w.ask(Seen).await.unwrap();
    assert!(downs.try_recv().is_err(), "no notice for a restart");
    tree.stop_child("w").await.unwrap();
    let down = downs.recv().await.unwrap();
    assert_eq!(
        down,
        Down {
            id: w.id(),
            reason: StopReason::Shutdown
        }
    );
    bus.clock().sleep(Duration::from_secs(1)).await;
    assert!(downs.try_recv().is_err(), "one notice only");
}

/// Linked children stop, in reverse order, before the owner's next incarnation starts, and
/// are never duplicated.
#[tokio::test(start_paused = true)]
async fn linked_children_stop_before_the_owner_restarts() {
    quiet_panics();
    struct Owner;
    impl Actor for Owner {
        type Args = Log;
        async fn on_start(log: Log, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            log.push("start owner");
            ctx.spawn_child::<Probe>(ProbeArgs::new("x", &log))?;
            ctx.spawn_child::<Probe>(ProbeArgs::new("y", &log))?;
            Ok(Owner)
        }
    }
    impl Handler<Crash> for Owner {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Owner>("owner", log.clone()))
        .spawn(&bus)
        .await
        .unwrap();
    assert_eq!(bus.actor_count(), 4);
    tree.child::<Owner>("owner")
        .unwrap()
        .tell(Crash)
        .await
        .unwrap();
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        log.take(),
        [
            "start owner",
            "start x",
            "start y",
            "stop y",
            "stop x",
            "start owner",
            "start x",
            "start y"
        ]
    );
    assert_eq!(bus.actor_count(), 4, "no duplicates");
    tree.stop().await;
    assert_eq!(bus.actor_count(), 0);
}

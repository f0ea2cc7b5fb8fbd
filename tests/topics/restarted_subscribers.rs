//! Supervised subscribers: a restarted actor subscribes once again, and a failed one receives
//! nothing while it waits for its restart.

use std::time::Duration;

use crate::common::*;
use crate::subscriber::{Got, Sub, SubArgs};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};

struct Crash;
impl Handler<Crash> for Sub {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
        panic!("crash requested");
    }
}

#[tokio::test(start_paused = true)]
async fn a_restarted_actor_subscribes_once_again() {
    quiet_panics();
    let bus = virtual_bus(1);
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .child(ChildSpec::new::<Sub>(
            "sub",
            SubArgs::new("sub", "t", SubscribeOptions::new()),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let sub = tree.child::<Sub>("sub").unwrap();
    sub.ask(Got).await.unwrap();
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    sub.tell(Crash).await.unwrap();
    // After the restart the new incarnation answers, with a fresh state.
    assert_eq!(sub.ask(Got).await.unwrap(), Vec::<u64>::new());
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    assert_eq!(bus.publish("t", 5u64).await.unwrap().delivered, 1);
    assert_eq!(sub.ask(Got).await.unwrap(), [5]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_actor_receives_nothing_while_it_waits_for_its_restart() {
    quiet_panics();
    let bus = virtual_bus(1);
    let (failed_tx, mut failed) = tokio::sync::mpsc::unbounded_channel();
    let observer_bus = bus.clone();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(1),
        ))
        .on_event(move |event| {
            if let SupervisionEvent::Failed { .. } = event {
                // Seen by the supervisor: the failed incarnation's subscriptions are gone.
                let _ = failed_tx.send(observer_bus.subscriber_count::<u64>("t"));
            }
        })
        .child(ChildSpec::new::<Sub>(
            "sub",
            SubArgs::new("sub", "t", SubscribeOptions::new()),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let sub = tree.child::<Sub>("sub").unwrap();
    bus.publish("t", 1u64).await.unwrap();
    assert_eq!(sub.ask(Got).await.unwrap(), [1]);
    sub.tell(Crash).await.unwrap();
    assert_eq!(failed.recv().await, Some(0));
    // Within the one-second backoff: nothing is subscribed, so nothing piles up.
    let report = bus.publish("t", 2u64).await.unwrap();
    assert_eq!((report.matched, report.delivered), (0, 0));
    // The next incarnation subscribes again and sees only what is published after.
    assert_eq!(sub.ask(Got).await.unwrap(), Vec::<u64>::new());
    assert_eq!(bus.subscriber_count::<u64>("t"), 1);
    assert_eq!(bus.publish("t", 3u64).await.unwrap().delivered, 1);
    assert_eq!(sub.ask(Got).await.unwrap(), [3]);
}

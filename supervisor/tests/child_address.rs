//! Addresses that follow a supervised child by name (`SupervisorRef::child_recipient`,
//! `child_reply_recipient`): a child killed and spawned anew is reached again; while no
//! incarnation runs, sends are refused with the message handed back; once the tree will not
//! start the child again, `is_alive` is false. All on the virtual clock.

use std::time::Duration;

use mycelium_actors::{
    Actor, AskError, BoxError, Bus, BusExit, Context, Handler, SendError, TrySendError,
};
use mycelium_supervisor::{
    Backoff, ChildSpec, RestartStrategy, SupervisionEvent, Supervisor, SupervisorRef,
};
use tokio::sync::mpsc;

/// Adds what it is told; an ask of `0` answers the total, another adds and answers.
struct Sum(u64);

impl Actor for Sum {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sum(0))
    }
}

impl Handler<u64> for Sum {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
        self.0 += n;
        self.0
    }
}

/// A tree with one `Sum` child, `sum`, restarted after 100 ms; the events it emits.
async fn tree(
    bus: &Bus,
    max_restarts: u32,
) -> (SupervisorRef, mpsc::UnboundedReceiver<SupervisionEvent>) {
    let (tx, events) = mpsc::unbounded_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(max_restarts, Duration::from_secs(5))
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            1.0,
            Duration::from_millis(100),
        ))
        .on_event(move |e| {
            let _ = tx.send(e.clone());
        })
        .child(ChildSpec::new::<Sum>("sum", ()))
        .spawn(bus)
        .await
        .unwrap();
    (tree, events)
}

/// Waits (bounded) for the first event `wanted` picks.
async fn event(
    events: &mut mpsc::UnboundedReceiver<SupervisionEvent>,
    wanted: impl Fn(&SupervisionEvent) -> bool,
) -> SupervisionEvent {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let e = events.recv().await.expect("the supervisor's events ended");
            if wanted(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event never came")
}

#[tokio::test(start_paused = true)]
async fn a_child_killed_and_spawned_anew_is_reached_by_tells_and_asks() {
    let bus = Bus::builder().virtual_time().build().unwrap();
    let (tree, mut events) = tree(&bus, 3).await;
    let tells = tree.child_recipient::<Sum, u64>("sum").unwrap();
    let asks = tree.child_reply_recipient::<Sum, u64>("sum").unwrap();
    assert!(tree.child_recipient::<Sum, u64>("nobody").is_none());
    tells.tell(1).await.unwrap();
    assert_eq!(asks.ask(2).await.unwrap(), 3);

    let first = tree.child::<Sum>("sum").unwrap();
    first.kill();
    first.wait_for_stop().await;
    // The gap: no incarnation runs, one is planned. Sends hand the message back.
    assert!(matches!(tells.try_tell(10), Err(TrySendError::Closed(10))));
    assert!(matches!(tells.tell(11).await, Err(SendError(11))));
    assert!(matches!(asks.ask(12).await, Err(AskError::Closed(12))));
    assert!(matches!(asks.try_tell(13), Err(TrySendError::Closed(13))));
    assert!(tells.is_alive());
    assert!(asks.is_alive());

    let restarted = event(&mut events, |e| {
        matches!(e, SupervisionEvent::Restarted { .. })
    })
    .await;
    let now = tree.child::<Sum>("sum").unwrap();
    assert_ne!(now, first, "a killed child is spawned anew");
    let SupervisionEvent::Restarted { id, .. } = restarted else {
        unreachable!()
    };
    assert_eq!(id, now.id());
    // Both addresses reach the new incarnation, with its fresh state.
    tells.tell(4).await.unwrap();
    tells.try_tell(5).unwrap();
    assert_eq!(asks.ask(6).await.unwrap(), 15);
    assert_eq!(
        asks.ask_timeout(0, Duration::from_secs(1)).await.unwrap(),
        15
    );
    assert_eq!(tells.id(), now.id());
    assert_eq!(asks.id(), now.id());
    assert!(tells.is_alive() && asks.is_alive());
    tree.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_child_is_not_alive_until_restarted_by_the_operator() {
    let bus = Bus::builder().virtual_time().build().unwrap();
    let (tree, _events) = tree(&bus, 3).await;
    let asks = tree.child_reply_recipient::<Sum, u64>("sum").unwrap();
    assert_eq!(asks.ask(1).await.unwrap(), 1);
    tree.stop_child("sum").await.unwrap();
    // The tree holds it stopped: it will not start it by itself.
    assert!(!asks.is_alive());
    assert!(matches!(asks.ask(2).await, Err(AskError::Closed(2))));
    assert!(matches!(asks.try_tell(3), Err(TrySendError::Closed(3))));
    // Started again (spawned anew) by the operator: reached again.
    tree.restart_child("sum").await.unwrap();
    assert!(asks.is_alive());
    assert_eq!(asks.ask(4).await.unwrap(), 4);
    tree.stop().await;
}

#[tokio::test(start_paused = true)]
async fn once_the_tree_gives_up_the_address_is_dead_and_refuses() {
    let bus = Bus::builder().virtual_time().build().unwrap();
    // One restart allowed: the second kill makes the root give up (and fail the bus).
    let (tree, mut events) = tree(&bus, 1).await;
    let tells = tree.child_recipient::<Sum, u64>("sum").unwrap();
    let asks = tree.child_reply_recipient::<Sum, u64>("sum").unwrap();
    let first = tree.child::<Sum>("sum").unwrap();
    first.kill();
    event(&mut events, |e| {
        matches!(e, SupervisionEvent::Restarted { .. })
    })
    .await;
    tells.tell(1).await.unwrap();
    assert_eq!(asks.ask(2).await.unwrap(), 3);

    tree.child::<Sum>("sum").unwrap().kill();
    event(&mut events, |e| {
        matches!(e, SupervisionEvent::GaveUp { .. })
    })
    .await;
    tree.wait_for_stop().await;
    assert!(!tells.is_alive());
    assert!(!asks.is_alive());
    assert!(matches!(tells.try_tell(3), Err(TrySendError::Closed(3))));
    assert!(matches!(tells.tell(4).await, Err(SendError(4))));
    assert!(matches!(asks.ask(5).await, Err(AskError::Closed(5))));
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(60), bus.wait_stopped())
            .await
            .expect("the bus stopped"),
        BusExit::Failed(_)
    ));
}

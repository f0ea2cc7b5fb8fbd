//! What a restart keeps and what it drops: the ref, its id and the queued mail survive; the
//! failing message goes to dead letters; the failed incarnation's timers and subscriptions
//! are gone before the next one starts.

use std::time::Duration;

use crate::common::*;
use mycelium::actors::{DeadLetterReason, Failure};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};
use tokio::sync::oneshot;

/// The ref, its id and the messages queued behind the failing one survive a restart; the
/// failing message goes to dead letters; an ask caught in the failure says so.
#[tokio::test(start_paused = true)]
async fn refs_and_queued_messages_survive_a_restart() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(250),
            2.0,
            Duration::from_secs(1),
        ))
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let id = w.id();
    w.tell(Record(0)).await.unwrap();
    let (go, wait) = oneshot::channel();
    w.tell(CrashAfter(wait)).await.unwrap();
    for n in 1..=3 {
        w.tell(Record(n)).await.unwrap();
    }
    go.send(()).unwrap();
    next_event(&mut events, is_restarted).await;

    assert_eq!(w.id(), id);
    assert_eq!(tree.child::<Probe>("w").unwrap(), w);
    // Fresh state (0 was recorded by the failed incarnation), queued messages kept in order.
    assert_eq!(w.ask(Seen).await.unwrap(), [1, 2, 3]);

    let letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.actor, id);
    assert_eq!(letter.message_type, "CrashAfter");
    match &letter.reason {
        DeadLetterReason::HandlerFailed(f) => {
            assert_eq!(&*f.reason, "boom");
            assert_eq!(f.phase, mycelium::actors::Phase::Message("CrashAfter"));
        }
        other => panic!("unexpected reason {other:?}"),
    }

    // An ask whose handler panics gets an error that says the actor failed and restarts.
    match w.ask(Crash).await {
        Err(AskError::Failed(f)) => assert_eq!(&*f.reason, "crash requested"),
        other => panic!("expected AskError::Failed, got {other:?}"),
    }
    let text = AskError::<Crash>::Failed(Failure::from_error(mycelium::actors::Phase::Start, "x"))
        .to_string();
    assert!(
        text.contains("failed") && text.contains("restarting"),
        "{text}"
    );
    next_event(&mut events, is_restarted).await;
    assert_eq!(w.ask(Seen).await.unwrap(), Vec::<u64>::new());
}

/// While a failed child waits out its backoff, its timers and topic subscriptions are
/// already gone: nothing piles up in its mailbox for the next incarnation.
#[tokio::test(start_paused = true)]
async fn a_failed_incarnation_leaves_no_timers_or_subscriptions_behind() {
    use mycelium::actors::{Published, SubscribeOptions};
    quiet_panics();
    #[derive(Clone)]
    struct Tick;
    struct Listener {
        ticks: u32,
        prices: u32,
    }
    impl Actor for Listener {
        type Args = ();
        async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            ctx.send_interval(Tick, Duration::from_millis(100));
            ctx.subscribe::<f64>("md.px", SubscribeOptions::new())?;
            Ok(Listener {
                ticks: 0,
                prices: 0,
            })
        }
    }
    impl Handler<Tick> for Listener {
        type Reply = ();
        async fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) {
            self.ticks += 1;
        }
    }
    impl Handler<Published<f64>> for Listener {
        type Reply = ();
        async fn handle(&mut self, _: Published<f64>, _ctx: &mut Context<Self>) {
            self.prices += 1;
        }
    }
    impl Handler<Crash> for Listener {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    impl Handler<Seen> for Listener {
        type Reply = (u32, u32);
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> (u32, u32) {
            (self.ticks, self.prices)
        }
    }

    let bus = virtual_bus(1);
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_secs(10),
            2.0,
            Duration::from_secs(60),
        ))
        .on_event(observer)
        .child(ChildSpec::new::<Listener>("l", ()))
        .spawn(&bus)
        .await
        .unwrap();
    let l = tree.child::<Listener>("l").unwrap();
    l.tell(Crash).await.unwrap();
    next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::Failed { .. })
    })
    .await;
    // During the 10 s backoff: no subscriber for the topic, and the interval is silent.
    let report = bus.publish("md.px", 1.0f64).await.unwrap();
    assert_eq!(report.matched, 0, "{report:?}");
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        l.ask(Seen).await.unwrap(),
        (0, 0),
        "nothing from the failed incarnation arrived"
    );
    bus.publish("md.px", 2.0f64).await.unwrap();
    bus.clock().sleep(Duration::from_millis(250)).await;
    assert_eq!(l.ask(Seen).await.unwrap(), (2, 1));
}

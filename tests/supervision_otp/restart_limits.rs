//! When a supervisor gives up: the intensity window, boundary included, the backoff's limit
//! on consecutive restarts, and the events that follow.

use std::time::Duration;

use crate::common::*;
use crate::{events, ms};
use mycelium::actors::BusExit;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};

/// OTP's boundary case, end to end: intensity 1 per 1000 ms; failures at 0 and 1000 give up.
#[tokio::test(start_paused = true)]
async fn the_intensity_window_includes_its_boundary() {
    quiet_panics();
    for (second_at, gives_up) in [(1000, true), (1001, false)] {
        let bus = virtual_bus(1);
        let log = Log::default();
        let (observer, mut events) = events();
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .intensity(1, ms(1000))
            .backoff(Backoff::none())
            .on_event(observer)
            .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
            .spawn(&bus)
            .await
            .unwrap();
        let w = tree.child::<Probe>("w").unwrap();
        w.tell(Crash).await.unwrap();
        next_event(&mut events, is_restarted).await;
        bus.clock().sleep_until(ms(second_at)).await;
        w.tell(Crash).await.unwrap();
        let e = next_event(&mut events, |e| {
            is_restarted(e) || matches!(e, SupervisionEvent::GaveUp { .. })
        })
        .await;
        assert_eq!(
            matches!(e, SupervisionEvent::GaveUp { .. }),
            gives_up,
            "second failure at {second_at} ms: {e}"
        );
    }
}

/// Akka's `maxNrOfRetries`: give up after k consecutive failed restarts.
#[tokio::test(start_paused = true)]
async fn backoff_max_restarts_gives_up() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(60))
        .backoff(Backoff::exponential(ms(100), 2.0, Duration::from_secs(10)).max_restarts(2))
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    for _ in 0..2 {
        w.tell(Crash).await.unwrap();
        next_event(&mut events, is_restarted).await;
    }
    w.tell(Crash).await.unwrap();
    match next_event(&mut events, |e| {
        matches!(e, SupervisionEvent::GaveUp { .. })
    })
    .await
    {
        SupervisionEvent::GaveUp { reason, .. } => {
            assert!(reason.contains("allows 2 restarts"), "{reason}")
        }
        _ => unreachable!(),
    }
    // The failure that gave up is reported once: the child is then stopped, not reported
    // as failing again while being stopped.
    let mut after = Vec::new();
    loop {
        let e = events.recv().await.expect("event stream ended");
        let escalated = matches!(e, SupervisionEvent::Escalated { .. });
        after.push(e);
        if escalated {
            break;
        }
    }
    assert!(
        matches!(
            after.as_slice(),
            [
                SupervisionEvent::Stopped { .. },
                SupervisionEvent::Escalated { .. }
            ]
        ),
        "after the give-up: {after:?}"
    );
    assert!(matches!(bus.wait_stopped().await, BusExit::Failed(_)));
    assert_eq!(bus.now(), ms(300), "restarts after 100 and 200 ms");
}

//! Supervision events reach `tracing` subscribers. In a binary of its own: `tracing` caches
//! per call site whether anyone listens, and another test in the same process hitting those
//! call sites with no subscriber at the same moment could make this one miss events.

mod common;

use std::time::Duration;

use common::*;
use mycelium::prelude::*;
use mycelium::supervisor::Backoff;

/// Supervision events are also `tracing` events (target `mycelium::supervisor`), so any
/// subscriber sees them.
#[test]
fn supervision_events_are_tracing_events() {
    let ((), text) = logs_of_paused_run(|| async {
        quiet_panics();
        let bus = virtual_bus(1);
        let (observer, mut events) = event_channel();
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .backoff(Backoff::exponential(
                Duration::from_millis(5),
                2.0,
                Duration::from_secs(1),
            ))
            .on_event(observer)
            .child(ChildSpec::new::<Probe>(
                "w",
                ProbeArgs::new("w", &Log::default()),
            ))
            .spawn(&bus)
            .await
            .unwrap();
        tree.child::<Probe>("w").unwrap().tell(Crash).await.unwrap();
        next_event(&mut events, is_restarted).await;
    });
    for needle in [
        "mycelium::supervisor",
        "event=\"started\"",
        "event=\"failed\"",
        "event=\"restarted\"",
        "delay_ns=5000000",
        "crash requested",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

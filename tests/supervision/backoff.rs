//! Backoff between restarts: capped exponential delays with jitter drawn from the bus's seed
//! (the same seed, the same timeline), reset after a clean run.

use std::time::Duration;

use crate::common::*;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};

/// Crashes the worker `n` times and returns the restart delays and times seen.
async fn restart_timeline(seed: u64, n: usize) -> Vec<(Duration, Duration, u32)> {
    quiet_panics();
    let bus = virtual_bus(seed);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let backoff = Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(2))
        .with_jitter(0.5)
        .reset_after(Duration::from_secs(3600));
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(1))
        .backoff(backoff.clone())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let mut timeline = Vec::new();
    for attempt in 0..n as u32 {
        let crashed_at = bus.now();
        w.tell(Crash).await.unwrap();
        match next_event(&mut events, is_restarted).await {
            SupervisionEvent::Restarted {
                at,
                delay,
                attempt: a,
                ..
            } => {
                assert_eq!(a, attempt);
                // Delay within [base * factor^n capped, that * (1 + jitter)].
                let base = backoff.base_delay(attempt);
                assert!(
                    delay >= base && delay.as_secs_f64() <= base.as_secs_f64() * 1.5 + 1e-9,
                    "attempt {attempt}: {delay:?} vs {base:?}"
                );
                // The restart happened `delay` of bus time after the crash, rounded up to the
                // timer's 1 ms resolution.
                let waited = at - crashed_at;
                assert!(
                    waited >= delay && waited <= delay + Duration::from_millis(1),
                    "{waited:?} vs {delay:?}"
                );
                timeline.push((at, delay, a));
            }
            _ => unreachable!(),
        }
    }
    timeline
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_restart_timeline() {
    let a = restart_timeline(42, 6).await;
    let b = restart_timeline(42, 6).await;
    assert_eq!(a, b);
    let c = restart_timeline(43, 6).await;
    assert_ne!(a, c, "a different seed draws different jitter");
    // Capped growth: attempt 5 would be 3.2 s, capped at 2 s (plus up to 50%).
    assert!(a[5].1 >= Duration::from_secs(2) && a[5].1 <= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn backoff_resets_after_a_clean_run() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(1))
        .backoff(
            Backoff::exponential(Duration::from_millis(10), 10.0, Duration::from_secs(60))
                .reset_after(Duration::from_secs(5)),
        )
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("w", ProbeArgs::new("w", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Probe>("w").unwrap();
    let mut delays = Vec::new();
    for clean_run in [0u64, 0, 10, 0] {
        w.ask(Nap(Duration::from_secs(clean_run))).await.unwrap();
        w.tell(Crash).await.unwrap();
        if let SupervisionEvent::Restarted { delay, .. } =
            next_event(&mut events, is_restarted).await
        {
            delays.push(delay);
        }
    }
    let ms = Duration::from_millis;
    assert_eq!(delays, [ms(10), ms(100), ms(10), ms(100)]);
}

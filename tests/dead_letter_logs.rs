//! The dead letters of one event are logged as a few lines, not one per letter. In a binary of
//! its own: `tracing` caches per call site whether anyone listens, and another test in the
//! same process hitting those call sites with no subscriber at the same moment could make
//! this one miss events.

mod common;

use common::*;
use mycelium::actors::{DeadLetterReason, StopReason, LOGGED_PER_EVENT};
use tokio::sync::oneshot;

/// An actor stopped with 100 messages queued: all 100 are dead letters, kept and counted;
/// the log holds the first few one by one and one line for the rest.
#[test]
fn an_actor_stopped_with_mail_queued_logs_a_few_lines() {
    const QUEUED: u64 = 100;
    let ((), text) = logs_of_paused_run(|| async {
        let bus = virtual_bus(1);
        let log = Log::default();
        let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
        let (go, wait) = oneshot::channel();
        p.tell(Block(wait)).await.unwrap();
        for n in 0..QUEUED {
            p.tell(Record(n)).await.unwrap();
        }
        tokio::task::yield_now().await;
        p.stop(); // overtakes the queued records
        go.send(()).unwrap();
        assert_eq!(p.wait_for_stop().await, StopReason::Normal);

        let mut letters = bus.dead_letters().drain();
        assert_eq!(letters.len() as u64, QUEUED);
        assert_eq!(bus.dead_letters().total(), QUEUED);
        for (n, letter) in letters.iter_mut().enumerate() {
            assert!(matches!(
                letter.reason,
                DeadLetterReason::ActorStopped(StopReason::Normal)
            ));
            assert_eq!(letter.downcast::<Record>().map(|r| r.0), Some(n as u64));
        }
    });
    let one_by_one = text
        .lines()
        .filter(|l| l.contains(": dead letter actor="))
        .count();
    let summaries: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("more dead letters of the same event"))
        .collect();
    assert_eq!(one_by_one, LOGGED_PER_EVENT, "{text}");
    assert_eq!(summaries.len(), 1, "{text}");
    let more = QUEUED as usize - LOGGED_PER_EVENT;
    assert!(
        summaries[0].contains(&format!("more={more}")) && summaries[0].contains("Record"),
        "{}",
        summaries[0]
    );
}

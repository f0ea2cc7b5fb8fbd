//! Buses and where they run: a pinned actor on its own thread, two buses in one process kept
//! apart, the runtime a bus needs, and a multi-thread runtime.

use std::time::Duration;

use crate::common::*;
use mycelium::actors::{SpawnError, SpawnOptions, StopReason};
use mycelium::prelude::*;

/// A pinned actor runs on its own thread, also when the bus runs on a current-thread
/// runtime, and its timers follow the bus clock.
#[tokio::test(start_paused = true)]
async fn pinned_actor_runs_on_its_own_thread() {
    struct Pinned {
        home: std::thread::ThreadId,
    }
    impl Actor for Pinned {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Pinned {
                home: std::thread::current().id(),
            })
        }
    }
    struct Where;
    impl Handler<Where> for Pinned {
        type Reply = (std::thread::ThreadId, bool);
        async fn handle(
            &mut self,
            _: Where,
            ctx: &mut Context<Self>,
        ) -> (std::thread::ThreadId, bool) {
            ctx.clock().sleep(Duration::from_secs(3600)).await;
            (self.home, std::thread::current().id() == self.home)
        }
    }
    let bus = virtual_bus(1);
    let p = bus
        .spawn_with::<Pinned>((), SpawnOptions::new().pinned())
        .unwrap();
    let (home, same) = p.ask(Where).await.unwrap();
    assert!(same, "handled on the thread it started on");
    assert_ne!(home, std::thread::current().id());
    assert!(
        bus.now() >= Duration::from_secs(3600),
        "slept on the bus's virtual clock"
    );
    p.stop();
    assert_eq!(p.wait_for_stop().await, StopReason::Normal);
}

#[tokio::test(start_paused = true)]
async fn two_buses_in_one_process_are_isolated() {
    quiet_panics();
    let one = virtual_bus(1);
    let two = virtual_bus(1);
    let log1 = Log::default();
    let log2 = Log::default();
    let a = one
        .spawn_with::<Probe>(ProbeArgs::new("p", &log1), SpawnOptions::new().name("p"))
        .unwrap();
    let b = two
        .spawn_with::<Probe>(ProbeArgs::new("p", &log2), SpawnOptions::new().name("p"))
        .unwrap();
    assert_eq!(a.id(), b.id(), "each bus allocates its own ids");
    assert!(matches!(
        one.spawn_with::<Probe>(ProbeArgs::new("p", &log1), SpawnOptions::new().name("p")),
        Err(SpawnError::NameTaken(_))
    ));
    assert_eq!(one.lookup::<Probe>("p").unwrap(), a);
    assert_eq!(two.lookup::<Probe>("p").unwrap(), b);
    a.tell(Crash).await.unwrap();
    a.wait_for_stop().await;
    assert_eq!(one.dead_letters().total(), 1);
    assert_eq!(two.dead_letters().total(), 0);
    assert!(one.lookup::<Probe>("p").is_none());
    one.shutdown(Duration::from_secs(1)).await;
    assert!(b.is_alive());
    b.tell(Record(1)).await.unwrap();
    assert_eq!(b.ask(Seen).await.unwrap(), [1]);
    assert_eq!(two.actor_count(), 1);
}

#[test]
fn a_bus_needs_a_runtime() {
    assert!(matches!(
        Bus::builder().build(),
        Err(mycelium::actors::BusError::NoRuntime)
    ));
}

#[test]
fn virtual_time_needs_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let err = rt
        .block_on(async { Bus::builder().virtual_time().build() })
        .unwrap_err();
    assert_eq!(err, mycelium::actors::BusError::VirtualNeedsCurrentThread);
}

/// The same actors on a multi-thread runtime with real time.
#[test]
fn works_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bus = Bus::new();
        let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
        let senders: Vec<_> = (0..4u64)
            .map(|k| {
                let p = p.clone();
                tokio::spawn(async move {
                    for n in 0..1000 {
                        p.tell(Record(k * 1000 + n)).await.unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let seen = p.ask(Seen).await.unwrap();
        assert_eq!(seen.len(), 4000);
        // Per-sender order is kept.
        for k in 0..4u64 {
            let mine: Vec<u64> = seen.iter().copied().filter(|n| n / 1000 == k).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        let report = bus.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.stopped.len(), 1);
    });
}

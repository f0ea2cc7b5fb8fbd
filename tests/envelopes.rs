//! Messages of every size and alignment reach their handlers intact, come back intact when
//! they cannot be delivered, and are dropped exactly once whatever happens to them. These
//! tests guard the inline envelope storage and the reused handler-future slot (both use
//! `unsafe`); CI also runs them under AddressSanitizer.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium::actors::{StopReason, TrySendError};
use mycelium::prelude::*;
use mycelium::supervisor::Backoff;
use tokio::sync::oneshot;

/// Counts drops of the messages that carry it.
#[derive(Clone)]
struct Tracker(Arc<AtomicUsize>);
impl Drop for Tracker {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// The trackers are never read: they count drops.
#[allow(dead_code)]
struct Small(u8, Tracker);
#[allow(dead_code)]
struct Big([u64; 64], Tracker);
#[allow(dead_code)]
#[repr(align(64))]
struct Aligned(u64, Tracker);
struct Stuck(oneshot::Receiver<()>);

struct Sink {
    sum: u64,
}
impl Actor for Sink {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink { sum: 0 })
    }
}
impl Handler<Small> for Sink {
    type Reply = u64;
    async fn handle(&mut self, m: Small, _ctx: &mut Context<Self>) -> u64 {
        self.sum += m.0 as u64;
        self.sum
    }
}
impl Handler<Big> for Sink {
    type Reply = u64;
    async fn handle(&mut self, m: Big, _ctx: &mut Context<Self>) -> u64 {
        // A large future: holds a big local across an await point.
        let copy = m.0;
        tokio::task::yield_now().await;
        self.sum += copy.iter().sum::<u64>();
        self.sum
    }
}
impl Handler<Aligned> for Sink {
    type Reply = u64;
    async fn handle(&mut self, m: Aligned, _ctx: &mut Context<Self>) -> u64 {
        assert_eq!(&m as *const Aligned as usize % 64, 0, "alignment kept");
        self.sum += m.0;
        self.sum
    }
}
impl Handler<Stuck> for Sink {
    type Reply = ();
    async fn handle(&mut self, Stuck(rx): Stuck, ctx: &mut Context<Self>) {
        // Registers with the bus timer and a channel, then waits: dropped mid-await on kill.
        tokio::select! {
            _ = rx => {}
            _ = ctx.clock().sleep(Duration::from_secs(3600)) => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_size_and_alignment_is_handled_and_dropped_once() {
    let bus = virtual_bus(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let t = || Tracker(drops.clone());
    let sink = bus.spawn::<Sink>(());
    assert_eq!(sink.ask(Small(2, t())).await.unwrap(), 2);
    let mut big = [0u64; 64];
    big[63] = 40;
    assert_eq!(sink.ask(Big(big, t())).await.unwrap(), 42);
    assert_eq!(sink.ask(Aligned(8, t())).await.unwrap(), 50);
    for _ in 0..100 {
        sink.tell(Small(1, t())).await.unwrap();
        sink.tell(Big([0; 64], t())).await.unwrap();
        sink.tell(Aligned(1, t())).await.unwrap();
    }
    assert_eq!(sink.ask(Small(0, t())).await.unwrap(), 250);
    assert_eq!(drops.load(Ordering::SeqCst), 304);
}

#[tokio::test(start_paused = true)]
async fn undelivered_messages_come_back_intact_and_are_dropped_once() {
    let bus = virtual_bus(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let t = || Tracker(drops.clone());
    let sink = bus.spawn::<Sink>(());
    let (_go, wait) = oneshot::channel();
    sink.tell(Stuck(wait)).await.unwrap();
    tokio::task::yield_now().await;
    let mut big = [7u64; 64];
    big[0] = 1;
    sink.tell(Big(big, t())).await.unwrap();
    sink.tell(Aligned(9, t())).await.unwrap();
    sink.tell(Small(3, t())).await.unwrap();
    sink.kill();
    sink.wait_for_stop().await;
    let mut letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 3);
    let b = letters[0].downcast::<Big>().expect("a Big");
    assert_eq!(b.0[0], 1);
    assert_eq!(b.0[63], 7);
    let a = letters[1].downcast::<Aligned>().expect("an Aligned");
    assert_eq!(a.0, 9);
    assert_eq!(&a as *const Aligned as usize % 64, 0);
    assert_eq!(letters[2].downcast::<Small>().map(|s| s.0), Some(3));
    drop((b, a, letters));
    assert_eq!(drops.load(Ordering::SeqCst), 3);

    // Sends to the stopped actor hand every kind of message back intact.
    match sink.try_tell(Big([5; 64], t())) {
        Err(TrySendError::Closed(Big(v, _))) => assert_eq!(v, [5; 64]),
        other => panic!("{:?}", other.map_err(|e| e.to_string())),
    }
    match sink.ask(Aligned(11, t())).await {
        Err(AskError::Closed(Aligned(v, _))) => assert_eq!(v, 11),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a stopped actor answered"),
    }
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn messages_left_in_a_dropped_mailbox_are_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let bus = virtual_bus(1);
        let sink = bus.spawn::<Sink>(());
        let (_go, wait) = oneshot::channel();
        sink.tell(Stuck(wait)).await.unwrap();
        tokio::task::yield_now().await;
        for _ in 0..10 {
            sink.tell(Big([1; 64], Tracker(drops.clone())))
                .await
                .unwrap();
            sink.tell(Small(1, Tracker(drops.clone()))).await.unwrap();
        }
        let report = bus.shutdown(Duration::from_secs(1)).await;
        assert_eq!(report.killed.len(), 1);
        sink.wait_for_stop().await;
        drop(bus.dead_letters().drain());
    }
    assert_eq!(drops.load(Ordering::SeqCst), 20);
}

/// A handler future cancelled mid-await (kill) is dropped in place, and a restarted actor
/// reuses the slot for futures of other sizes.
#[tokio::test(start_paused = true)]
async fn cancelled_handler_futures_and_restarts_reuse_the_slot() {
    quiet_panics();
    let bus = virtual_bus(1);
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(1))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>(
            "p",
            ProbeArgs::new("p", &Log::default()),
        ))
        .spawn(&bus)
        .await
        .unwrap();
    let p = tree.child::<Probe>("p").unwrap();
    for round in 0..20u64 {
        let (go, wait) = oneshot::channel::<()>();
        p.tell(CrashAfter(wait)).await.unwrap();
        p.tell(Record(round)).await.unwrap();
        drop(go); // the handler's await ends, then it panics
        next_event(&mut events, is_restarted).await;
        p.ask(Nap(Duration::from_millis(1))).await.unwrap();
        assert_eq!(p.ask(Seen).await.unwrap(), [round]);
    }
    let (_go, wait) = oneshot::channel::<()>();
    p.tell(Block(wait)).await.unwrap();
    tokio::task::yield_now().await;
    p.kill();
    assert_eq!(p.wait_for_stop().await, StopReason::Killed);
}

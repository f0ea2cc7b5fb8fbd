//! Reference points for w2 (hidden subcommand `__floor`): the cost of a request/response
//! between two plain tokio tasks with no actor framework, on rt=ct.
//!
//! - `mpsc_oneshot`: a `tokio::sync::mpsc` channel of requests, each carrying a `oneshot`
//!   reply sender (what a minimal tokio actor does).
//! - `handoff`: the smallest possible exchange between two tasks: a shared slot and two
//!   `tokio::sync::Notify` (no allocation, no queue). Any design that runs the actor in its
//!   own task pays at least this: two task wake-ups and two polls per round trip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Notify};

use crate::common::{run_tokio, Latency, Rt};

pub fn mpsc_oneshot(n: usize, warmup: usize) -> Latency {
    run_tokio(Rt::Ct, async move {
        let (tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1024);
        tokio::spawn(async move {
            while let Some((v, reply)) = rx.recv().await {
                let _ = reply.send(v + 1);
            }
        });
        let mut samples = Vec::with_capacity(n);
        for i in 0..(warmup + n) as u64 {
            let t0 = Instant::now();
            let (rtx, rrx) = oneshot::channel();
            tx.send((i, rtx)).await.expect("send");
            let r = rrx.await.expect("reply");
            if i as usize >= warmup {
                samples.push(t0.elapsed().as_nanos() as u64);
            }
            assert_eq!(r, i + 1);
        }
        Latency::from_samples(&mut samples)
    })
}

struct Slot {
    value: AtomicU64,
    request: Notify,
    response: Notify,
}

pub fn handoff(n: usize, warmup: usize) -> Latency {
    run_tokio(Rt::Ct, async move {
        let slot = Arc::new(Slot {
            value: AtomicU64::new(0),
            request: Notify::new(),
            response: Notify::new(),
        });
        let server = slot.clone();
        tokio::spawn(async move {
            loop {
                server.request.notified().await;
                let v = server.value.load(Ordering::Acquire);
                if v == u64::MAX {
                    return;
                }
                server.value.store(v + 1, Ordering::Release);
                server.response.notify_one();
            }
        });
        let mut samples = Vec::with_capacity(n);
        for i in 0..(warmup + n) as u64 {
            let t0 = Instant::now();
            slot.value.store(i, Ordering::Release);
            slot.request.notify_one();
            slot.response.notified().await;
            let r = slot.value.load(Ordering::Acquire);
            if i as usize >= warmup {
                samples.push(t0.elapsed().as_nanos() as u64);
            }
            assert_eq!(r, i + 1);
        }
        slot.value.store(u64::MAX, Ordering::Release);
        slot.request.notify_one();
        Latency::from_samples(&mut samples)
    })
}

/// w1 with a bare channel of `u64` and a summing task, no actor layer: `tokio::sync::mpsc`
/// bounded to 1024, and Mycelium's own mailbox (`mycelium::mailbox::channel`) bounded to 1024.
/// Returns messages per second, timed like w1 (the sends and the final sum).
pub fn w1_channels(rt: Rt, n: u64) -> [(&'static str, f64); 2] {
    let tokio_mpsc = run_tokio(rt, async move {
        let (tx, mut rx) = mpsc::channel::<u64>(crate::common::MAILBOX_CAPACITY);
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            let _ = done_tx.send(sum);
        });
        let t0 = Instant::now();
        for i in 0..n {
            tx.send(i).await.expect("send");
        }
        drop(tx);
        let sum = done_rx.await.expect("sum");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2);
        n as f64 / secs
    });
    let mailbox = run_tokio(rt, async move {
        use mycelium::mailbox::{channel, MailboxConfig};
        let (tx, mut rx) = channel::<u64>(MailboxConfig::Bounded(crate::common::MAILBOX_CAPACITY));
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            let mut sum = 0u64;
            let mut left = n;
            while left > 0 {
                match rx.recv().await {
                    Some(v) => sum += v,
                    None => break,
                }
                left -= 1;
            }
            let _ = done_tx.send(sum);
        });
        let t0 = Instant::now();
        for i in 0..n {
            tx.send(i).await.expect("send");
        }
        let sum = done_rx.await.expect("sum");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2);
        n as f64 / secs
    });
    [("tokio-mpsc", tokio_mpsc), ("mycelium-mailbox", mailbox)]
}

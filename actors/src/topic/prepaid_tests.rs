//! Batches whose handles were paid for at once: every message is freed exactly once, whoever
//! took it, whoever did not, and when the publish is cancelled half-way. (They run under
//! valgrind and AddressSanitizer in CI with the count's own tests.)

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::sync::Notify;

use crate::topic::{Published, SubscribeOptions};
use crate::{Actor, BoxError, Bus, Context, Handler, MailboxConfig, SpawnOptions};

/// A message that counts its drops.
struct Msg(Arc<AtomicUsize>);
impl Drop for Msg {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Keeps every publication it receives until it stops; its first one waits for `gate`.
struct Keeper {
    kept: Vec<Published<Msg>>,
    gate: Option<Arc<Notify>>,
}
impl Actor for Keeper {
    type Args = Option<Arc<Notify>>;
    async fn on_start(gate: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Keeper {
            kept: Vec::new(),
            gate,
        })
    }
}
impl Handler<Published<Msg>> for Keeper {
    type Reply = ();
    async fn handle(&mut self, p: Published<Msg>, _: &mut Context<Self>) {
        if let Some(gate) = self.gate.take() {
            gate.notified().await;
        }
        self.kept.push(p);
    }
}
struct Count;
impl Handler<Count> for Keeper {
    type Reply = usize;
    async fn handle(&mut self, _: Count, _: &mut Context<Self>) -> usize {
        self.kept.len()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn msgs(n: usize, drops: &Arc<AtomicUsize>) -> Vec<Msg> {
    (0..n).map(|_| Msg(drops.clone())).collect()
}

#[test]
fn every_message_is_freed_once_whoever_took_the_batch() {
    let drops = Arc::new(AtomicUsize::new(0));
    runtime().block_on(async {
        let bus = Bus::new();
        // Two takers of whole batches, one that stopped before the publish (its batch comes
        // back and is dropped), a drop-oldest subscriber and a stream (served one by one).
        let a = bus.spawn::<Keeper>(None);
        let b = bus.spawn::<Keeper>(None);
        let gone = bus.spawn::<Keeper>(None);
        let c = bus.spawn::<Keeper>(None);
        let _subs = [
            bus.subscribe_actor::<Keeper, Msg>(&a, "t", SubscribeOptions::new()),
            bus.subscribe_actor::<Keeper, Msg>(&gone, "t", SubscribeOptions::new()),
            bus.subscribe_actor::<Keeper, Msg>(&b, "t", SubscribeOptions::new()),
            bus.subscribe_actor::<Keeper, Msg>(&c, "t", SubscribeOptions::drop_oldest(2)),
        ]
        .map(Result::unwrap);
        let mut stream = bus
            .subscribe_stream::<Msg>("t", SubscribeOptions::new())
            .unwrap();
        gone.stop();
        gone.wait_for_stop().await;
        let publisher = bus.publisher::<Msg>("t").unwrap();
        let report = publisher.publish_many(msgs(5, &drops)).await;
        assert_eq!(report.delivered, 5 + 5 + 5 + 5);
        assert_eq!(a.ask(Count).await.unwrap(), 5);
        assert_eq!(b.ask(Count).await.unwrap(), 5);
        // Drop-oldest with room for two: the batch went in before it ran, the last two stay.
        assert_eq!(c.ask(Count).await.unwrap(), 2);
        let mut got = 0;
        while stream.try_recv().is_some() {
            got += 1;
        }
        assert_eq!(got, 5);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "the keepers hold every message"
        );
        for k in [&a, &b] {
            k.stop();
            k.wait_for_stop().await;
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3, "c holds the last two");
        c.stop();
        c.wait_for_stop().await;
        assert_eq!(drops.load(Ordering::SeqCst), 5);
        bus.shutdown(std::time::Duration::from_secs(1)).await;
    });
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

#[test]
fn a_publish_cancelled_while_it_waits_gives_back_what_it_did_not_hand_out() {
    let drops = Arc::new(AtomicUsize::new(0));
    runtime().block_on(async {
        let bus = Bus::new();
        let gate = Arc::new(Notify::new());
        // The first subscriber's mailbox holds two messages and its first handling waits at
        // the gate: a batch of five fills it, and the publish waits for room there.
        let slow = bus
            .spawn_with::<Keeper>(
                Some(gate.clone()),
                SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
            )
            .unwrap();
        let later = bus.spawn::<Keeper>(None);
        let _subs = [
            bus.subscribe_actor::<Keeper, Msg>(&slow, "t", SubscribeOptions::new()),
            bus.subscribe_actor::<Keeper, Msg>(&later, "t", SubscribeOptions::new()),
        ]
        .map(Result::unwrap);
        let publisher = bus.publisher::<Msg>("t").unwrap();
        {
            let mut publish = std::pin::pin!(publisher.publish_many(msgs(5, &drops)));
            let mut cx = TaskContext::from_waker(std::task::Waker::noop());
            for _ in 0..100 {
                assert!(matches!(publish.as_mut().poll(&mut cx), Poll::Pending));
                tokio::task::yield_now().await;
            }
            // Dropped while waiting: `later` never got the batch.
        }
        gate.notify_one();
        let kept = slow.ask(Count).await.unwrap();
        assert!(
            kept < 5,
            "the publish was cancelled before the whole batch went in"
        );
        assert_eq!(later.ask(Count).await.unwrap(), 0);
        for k in [&slow, &later] {
            k.stop();
            k.wait_for_stop().await;
        }
        bus.shutdown(std::time::Duration::from_secs(1)).await;
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        5,
        "every message freed: the units paid for `later` were given back"
    );
}

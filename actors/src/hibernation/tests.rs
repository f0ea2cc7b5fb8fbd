use super::*;

use crate::test_actors::Idle;
use crate::{BoxError, Bus, Handler, SpawnOptions};

/// With its cell, the sleeper is all a sleeping actor costs (docs/perf/actors.md, w3): a
/// budget, so that growing it shows up here. Up to 72 bytes (64 today), the sleeper and
/// the `Arc`'s counts take a 96-byte chunk with glibc, beside the cell's 240.
#[test]
fn a_sleeping_actor_stays_small() {
    let size = std::mem::size_of::<Sleeper<Idle>>();
    assert!(size <= 72, "the sleeper grew to {size} bytes");
}

/// Adds what it is told; a nap waits a turn (the actor is awake, its batch empty, while
/// mail comes in).
struct Adder(u64);

impl crate::Actor for Adder {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Adder(0))
    }
}

struct Add(u64);
struct Nap;
struct Sum;

impl Handler<Add> for Adder {
    type Reply = ();
    async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) {
        self.0 += n;
    }
}

impl Handler<Nap> for Adder {
    type Reply = ();
    async fn handle(&mut self, _: Nap, _ctx: &mut Context<Self>) {
        tokio::task::yield_now().await;
    }
}

impl Handler<Sum> for Adder {
    type Reply = u64;
    async fn handle(&mut self, _: Sum, _ctx: &mut Context<Self>) -> u64 {
        self.0
    }
}

/// A burst of 300 tells and a nap, then more mail while the actor naps: the receiver
/// takes the second mail in exchange for the burst's emptied queue, which the mailbox
/// then holds (512 places). Returns what the mailbox holds once the actor is idle again.
async fn places_after_a_burst(options: SpawnOptions) -> usize {
    let bus = Bus::builder().build().unwrap();
    let adder = bus.spawn_with::<Adder>((), options).unwrap();
    for n in 1..=300 {
        adder.tell(Add(n)).await.unwrap();
    }
    adder.tell(Nap).await.unwrap();
    // The actor handles the burst and naps; the mail told meanwhile waits behind it.
    tokio::task::yield_now().await;
    adder.tell(Add(1)).await.unwrap();
    assert_eq!(adder.ask(Sum).await.unwrap(), 300 * 301 / 2 + 1);
    // Its turn ends after the reply: idle (asleep, when it hibernates) from here.
    tokio::task::yield_now().await;
    let places = adder.shared.mailbox.allocated();
    bus.shutdown(std::time::Duration::from_secs(1)).await;
    places
}

#[tokio::test(start_paused = true)]
async fn a_hibernating_actor_gives_back_what_a_burst_grew_its_mailbox_to() {
    // The case is real: an actor that keeps its task keeps the burst's queue, so that
    // steady traffic allocates nothing.
    let kept = places_after_a_burst(SpawnOptions::new()).await;
    assert!(kept >= 300, "the burst's queue is kept: {kept} places");
    let asleep = places_after_a_burst(SpawnOptions::new().hibernate()).await;
    assert!(
        asleep <= KEPT_PLACES,
        "a sleeping actor holds {asleep} places in its mailbox"
    );
}

/// An actor that keeps its task gives a burst's queue back once the batches it takes are
/// small again: the mailbox's refill does it (`Inbox::try_next`) at the third small batch
/// after the burst, the first one following the burst's. Each batch is queued while the
/// actor naps: mail to an idle actor is handled without the queue (the direct call).
#[tokio::test(start_paused = true)]
async fn a_busy_actor_gives_back_a_bursts_queue_once_its_batches_are_small() {
    let bus = Bus::builder().build().unwrap();
    let adder = bus.spawn::<Adder>(());
    // A nap, then `adds` tells and an ask queued behind it: one batch.
    let batch = |adds: u64| {
        let adder = adder.clone();
        async move {
            adder.tell(Nap).await.unwrap();
            for n in 1..=adds {
                adder.tell(Add(n)).await.unwrap();
            }
            adder.ask(Sum).await.unwrap()
        }
    };
    assert_eq!(batch(300).await, 300 * 301 / 2);
    assert_eq!(batch(1).await, 300 * 301 / 2 + 1);
    let after_one = adder.shared.mailbox.allocated();
    assert!(after_one >= 300, "kept after one small batch: {after_one}");
    assert_eq!(batch(1).await, 300 * 301 / 2 + 2);
    assert_eq!(batch(1).await, 300 * 301 / 2 + 3);
    let places = adder.shared.mailbox.allocated();
    assert!(
        places <= 64,
        "the burst's queue is given back: {places} places"
    );
    bus.shutdown(std::time::Duration::from_secs(1)).await;
}

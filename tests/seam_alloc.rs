//! A local ask through a `ReplyRecipient` allocates no more than one through the `ActorRef`
//! (the reply channel): the type-erased address costs a virtual call, not a boxed future.

use mycelium::actors::{Recipient, ReplyRecipient};
use mycelium::prelude::*;

struct Echo;
impl Actor for Echo {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo)
    }
}
impl Handler<u64> for Echo {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
        n + 1
    }
}

/// Counts the allocations made on the current thread while enabled.
#[path = "common/counting_alloc.rs"]
mod counting;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[tokio::test(start_paused = true)]
async fn a_local_ask_through_reply_recipient_allocates_like_actor_ref_ask() {
    let bus = Bus::builder().virtual_time().build().unwrap();
    let echo = bus.spawn::<Echo>(());
    let asks: ReplyRecipient<u64, u64> = echo.reply_recipient();
    let tells: Recipient<u64> = echo.recipient();
    // Warm up: the actor's future slot and mailbox reach their working size.
    for n in 0..16 {
        echo.ask(n).await.unwrap();
        asks.ask(n).await.unwrap();
    }
    const ASKS: u64 = 500;
    let direct = counting::allocations(async {
        for n in 0..ASKS {
            assert_eq!(echo.ask(n).await.unwrap(), n + 1);
        }
    })
    .await;
    let erased = counting::allocations(async {
        for n in 0..ASKS {
            assert_eq!(asks.ask(n).await.unwrap(), n + 1);
        }
    })
    .await;
    assert!(
        erased <= direct + 4,
        "ReplyRecipient::ask: {erased} allocations, ActorRef::ask: {direct}, for {ASKS} asks each"
    );
    // And the reply channel is the only allocation per ask (a boxed future would be a second).
    assert!(erased <= ASKS + 4, "{erased} allocations for {ASKS} asks");
    let told = counting::allocations(async {
        for n in 0..ASKS {
            tells.try_tell(n).unwrap();
            if n % 64 == 0 {
                asks.ask(0).await.unwrap(); // let the actor drain its mailbox
            }
        }
    })
    .await;
    // One per draining ask, plus the growth of the mailbox's two queues to 64 slots; one per
    // tell would be 500.
    assert!(
        told <= ASKS / 64 + 16,
        "{told} allocations for {ASKS} tells"
    );
}

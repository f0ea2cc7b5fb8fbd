//! Per-link order into a full mailbox: a link hands frames to the export table one by one; an
//! ask that finds the actor's mailbox full must still reach the actor before a tell read after
//! it.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, MailboxConfig, SpawnOptions};
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, OrderAck};
use std::task::Poll;

use mycelium_remote::{AskNow, Dispatch, DispatchError};
use tokio::sync::{mpsc, Semaphore};

/// Records the order ids it handles; each message waits for a permit of the gate.
struct Venue {
    seen: mpsc::UnboundedSender<u64>,
    gate: Arc<Semaphore>,
}

impl Actor for Venue {
    type Args = (mpsc::UnboundedSender<u64>, Arc<Semaphore>);
    async fn on_start(
        (seen, gate): Self::Args,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Venue { seen, gate })
    }
}

impl Handler<CancelOrder> for Venue {
    type Reply = OrderAck;
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
        let _ = self.seen.send(c.client_order_id);
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        OrderAck {
            client_order_id: c.client_order_id,
            venue_order_id: format!("V{}", c.client_order_id),
            ts_ns: c.ts_ns,
            venue_ts_ns: None,
        }
    }
}

fn body(id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    CancelOrder {
        client_order_id: id,
        instrument: 1,
        ts_ns: id,
    }
    .encode_body(&mut out);
    out
}

/// A venue busy with 1 (held by the gate) and a full mailbox (2): what a link's reader hands
/// on next, an ask 3 then a tell 4, must reach the venue in that order.
struct Busy {
    seen: mpsc::UnboundedReceiver<u64>,
    gate: Arc<Semaphore>,
    dispatch: Arc<dyn Dispatch>,
    _bus: Bus,
}

impl Busy {
    async fn new() -> Busy {
        let bus = Bus::new();
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let venue = bus
            .spawn_with::<Venue>(
                (seen_tx, gate.clone()),
                SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)),
            )
            .expect("spawn");
        let exports = bus.exports();
        exports
            .export_ask("venue", venue.reply_recipient::<CancelOrder>())
            .expect("export");
        exports
            .deliver("venue", CancelOrder::TYPE_ID, &body(1))
            .await
            .expect("tell 1");
        assert_eq!(seen.recv().await, Some(1));
        exports
            .deliver("venue", CancelOrder::TYPE_ID, &body(2))
            .await
            .expect("tell 2");
        Busy {
            seen,
            gate,
            dispatch: Arc::new(exports),
            _bus: bus,
        }
    }

    /// Lets every message through and checks that the venue saw 2, 3, 4 in that order and
    /// that `reader`'s reply is the answer to 3.
    async fn check(
        mut self,
        reader: tokio::task::JoinHandle<Result<(u16, Vec<u8>), DispatchError>>,
    ) {
        self.gate.add_permits(4);
        let seen = &mut self.seen;
        let order = [seen.recv().await, seen.recv().await, seen.recv().await];
        assert_eq!(
            order,
            [Some(2), Some(3), Some(4)],
            "the tell overtook the ask"
        );
        let (type_id, reply) = reader.await.expect("reader").expect("reply");
        assert_eq!(type_id, OrderAck::TYPE_ID);
        assert_eq!(
            OrderAck::decode_body(&reply).expect("ack").client_order_id,
            3
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_into_a_full_mailbox_is_not_overtaken_by_a_later_tell() {
    let busy = Busy::new().await;
    // What a link's reader does with the frames ask 3 then tell 4: one after the other,
    // through the export table as the link's dispatcher.
    let dispatch = busy.dispatch.clone();
    let reader = tokio::spawn(async move {
        let reply = dispatch
            .ask("venue", CancelOrder::TYPE_ID, &body(3))
            .await
            .expect("ask 3 queued");
        dispatch
            .tell("venue", CancelOrder::TYPE_ID, &body(4))
            .await
            .expect("tell 4");
        reply.await
    });
    busy.check(reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_queued_refusals_are_typed() {
    use mycelium_actors::export::DeliveryError;
    let bus = Bus::new();
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let venue = bus.spawn::<Venue>((seen_tx, gate.clone()));
    let exports = bus.exports();
    exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .expect("export");
    exports
        .export("tells", venue.recipient::<CancelOrder>())
        .expect("export");
    let id = CancelOrder::TYPE_ID;

    fn err<T>(r: Result<T, DeliveryError>) -> DeliveryError {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }
    let e = err(exports.ask_queued("nobody", id, &body(1)).await);
    assert!(matches!(e, DeliveryError::UnknownService { .. }), "{e}");
    let e = err(exports.ask_queued("tells", id, &body(1)).await);
    assert!(matches!(e, DeliveryError::NotAnAsk { .. }), "{e}");
    let e = err(exports.ask_queued("venue", id, &[0xff, 0xff]).await);
    assert!(matches!(e, DeliveryError::Decode { .. }), "{e}");

    // Queued, then the actor stops before answering: the reply says so.
    let pending = exports
        .ask_queued("venue", id, &body(5))
        .await
        .expect("queued");
    venue.kill();
    let e = err(pending.await);
    assert!(matches!(e, DeliveryError::Stopped { .. }), "{e}");

    // A stopped actor refuses at the queueing step.
    venue.wait_for_stop().await;
    let e = err(exports.ask_queued("venue", id, &body(6)).await);
    assert!(matches!(e, DeliveryError::Stopped { .. }), "{e}");
}

/// What a link's reader does with an ask through the reader's fast path
/// (`Dispatch::ask_now`), made with its task's context.
async fn ask_now<'a>(dispatch: &'a dyn Dispatch, body: &'a [u8]) -> AskNow<'a> {
    std::future::poll_fn(|cx| {
        let mut reply = Vec::new();
        Poll::Ready(dispatch.ask_now("venue", CancelOrder::TYPE_ID, body, cx, &mut reply))
    })
    .await
    .expect("an exported ask")
}

/// The reader's fast path declines an actor busy with another message: the ask goes through
/// its full mailbox, waiting for room, and still reaches the actor before a tell read after
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_now_of_a_busy_actor_is_queued_and_not_overtaken_by_a_later_tell() {
    let busy = Busy::new().await;
    let dispatch = busy.dispatch.clone();
    let (declined_tx, declined) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let three = body(3);
        let queued = match ask_now(&*dispatch, &three).await {
            AskNow::Answered(_) => panic!("a busy actor answered at once"),
            AskNow::Later(queued) => queued,
        };
        let _ = declined_tx.send(());
        let reply = queued.await.expect("ask 3 queued");
        dispatch
            .tell("venue", CancelOrder::TYPE_ID, &body(4))
            .await
            .expect("tell 4");
        reply.await
    });
    // Once the direct call was declined: with permits before, the actor could be idle again.
    declined.await.expect("the direct call declined");
    busy.check(reader).await;
}

/// An idle actor takes the ask by its direct call on the reader's task; a handler that does
/// not finish in that poll goes on on the actor's task, and its reply comes later through the
/// queued future. One that finishes answers at once, into the buffer given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_now_of_an_idle_actor_answers_at_once_or_later_when_its_handler_waits() {
    let bus = Bus::new();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let venue = bus.spawn::<Venue>((seen_tx, gate.clone()));
    let exports = bus.exports();
    exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .expect("export");
    // The actor lends its state once it waits for mail: after its first message, answered
    // once its handler took the one permit.
    gate.add_permits(1);
    exports
        .ask("venue", CancelOrder::TYPE_ID, &body(1))
        .await
        .expect("ask 1");
    assert_eq!(seen.recv().await, Some(1));
    let dispatch: Arc<dyn Dispatch> = Arc::new(exports.clone());
    let (queued_tx, queued) = tokio::sync::oneshot::channel();
    let reply = tokio::spawn(async move {
        let two = body(2);
        let reply = match ask_now(&*dispatch, &two).await {
            AskNow::Answered(_) => panic!("a handler waiting for its gate answered at once"),
            AskNow::Later(queued) => queued.await.expect("queued"),
        };
        let _ = queued_tx.send(());
        reply.await
    });
    assert_eq!(seen.recv().await, Some(2));
    // The permit only once the handler waits for it, handed to the actor's task.
    queued.await.expect("the reply to come");
    gate.add_permits(1);
    let (type_id, reply) = reply.await.expect("asker").expect("reply");
    assert_eq!(type_id, OrderAck::TYPE_ID);
    assert_eq!(
        OrderAck::decode_body(&reply).expect("ack").client_order_id,
        2
    );

    // Open gate: the handler finishes in the poll of the direct call, on this task, which
    // must share the actor's runtime.
    gate.add_permits(Semaphore::MAX_PERMITS - 1);
    let mut out = Vec::new();
    let dispatch: Arc<dyn Dispatch> = Arc::new(exports.clone());
    let answered = tokio::spawn(async move {
        let mut answered = None;
        // The actor's task lends its state again after the last reply: until then, the
        // direct call is declined and the ask queued.
        for id in 3..100 {
            let request = body(id);
            let asked = std::future::poll_fn(|cx| {
                Poll::Ready(dispatch.ask_now("venue", CancelOrder::TYPE_ID, &request, cx, &mut out))
            })
            .await
            .expect("an exported ask");
            match asked {
                AskNow::Answered(type_id) => {
                    answered = Some((id, type_id, std::mem::take(&mut out)));
                    break;
                }
                AskNow::Later(queued) => {
                    queued.await.expect("queued").await.expect("reply");
                }
            }
        }
        answered
    });
    let (id, type_id, reply) = answered.await.expect("asker").expect("answered at once");
    assert_eq!(type_id, OrderAck::TYPE_ID);
    assert_eq!(
        OrderAck::decode_body(&reply).expect("ack").client_order_id,
        id
    );
}

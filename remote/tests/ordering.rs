//! Per-link order into a full mailbox: a link hands frames to the export table one by one; an
//! ask that finds the actor's mailbox full must still reach the actor before a tell read after
//! it.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, MailboxConfig, SpawnOptions};
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, OrderAck};
use mycelium_remote::Dispatch;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_into_a_full_mailbox_is_not_overtaken_by_a_later_tell() {
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

    // 1 is being handled (held by the gate), 2 fills the mailbox.
    exports
        .deliver("venue", CancelOrder::TYPE_ID, &body(1))
        .await
        .expect("tell 1");
    assert_eq!(seen.recv().await, Some(1));
    exports
        .deliver("venue", CancelOrder::TYPE_ID, &body(2))
        .await
        .expect("tell 2");

    // What a link's reader does with the frames ask 3 then tell 4: one after the other,
    // through the export table as the link's dispatcher.
    let dispatch: Arc<dyn Dispatch> = Arc::new(exports.clone());
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
    // Let every message through.
    gate.add_permits(4);
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

//! Registering services and topics: the checks on a registration, unexporting, a name
//! that comes free when its actor stops, and each bus's table of its own.

use crate::venue::{cancel, Cancels, Venue};
use crate::virtual_bus;
use mycelium::actors::export::{AskNow, DeliveryError, ExportError};
use mycelium::prelude::*;
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, OrderAck, Quote};

#[tokio::test(start_paused = true)]
async fn two_buses_with_the_same_service_name_do_not_see_each_other() {
    let a = virtual_bus();
    let b = virtual_bus();
    let on_a = a.spawn::<Venue>(());
    let on_b = b.spawn::<Venue>(());
    a.exports()
        .export("venue", on_a.recipient::<CancelOrder>())
        .unwrap();
    assert!(matches!(
        b.exports()
            .try_deliver("venue", CancelOrder::TYPE_ID, &cancel(1)),
        Err(DeliveryError::UnknownService { .. })
    ));
    b.exports()
        .export("venue", on_b.recipient::<CancelOrder>())
        .unwrap();
    a.exports()
        .deliver("venue", CancelOrder::TYPE_ID, &cancel(1))
        .await
        .unwrap();
    b.exports()
        .deliver("venue", CancelOrder::TYPE_ID, &cancel(2))
        .await
        .unwrap();
    b.exports()
        .deliver("venue", CancelOrder::TYPE_ID, &cancel(3))
        .await
        .unwrap();
    assert_eq!(on_a.ask(Cancels).await.unwrap(), 1);
    assert_eq!(on_b.ask(Cancels).await.unwrap(), 2);
    assert!(a.exports().unexport("venue"));
    assert!(!a.exports().unexport("venue"));
    assert!(a.exports().services().is_empty());
    assert_eq!(b.exports().services(), ["venue"]);
}

#[tokio::test(start_paused = true)]
async fn a_name_comes_free_once_what_it_was_exported_for_has_stopped() {
    let bus = virtual_bus();
    let exports = bus.exports();
    let first = bus.spawn::<Venue>(());
    exports
        .export_ask("venue", first.reply_recipient::<CancelOrder>())
        .unwrap();
    let second = bus.spawn::<Venue>(());
    // Taken while the first runs.
    assert!(matches!(
        exports.export("venue", second.recipient::<CancelOrder>()),
        Err(ExportError::AlreadyExported { .. })
    ));
    first.stop();
    first.wait_for_stop().await;
    // A sender is told it stopped; the name is no longer listed, and is free.
    assert!(matches!(
        exports.try_deliver("venue", CancelOrder::TYPE_ID, &cancel(1)),
        Err(DeliveryError::Stopped { .. })
    ));
    assert!(exports.services().is_empty());
    assert_eq!(exports.type_ids("venue"), None);
    assert!(exports.has_stopped("venue"));
    exports
        .export("venue", second.recipient::<CancelOrder>())
        .unwrap();
    assert_eq!(exports.services(), ["venue"]);
    assert!(!exports.has_stopped("venue") && !exports.has_stopped("nobody"));
    exports
        .deliver("venue", CancelOrder::TYPE_ID, &cancel(2))
        .await
        .unwrap();
    assert_eq!(second.ask(Cancels).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn registrations_are_checked() {
    let bus = virtual_bus();
    let venue = bus.spawn::<Venue>(());
    let exports = bus.exports();
    exports
        .export("venue", venue.recipient::<CancelOrder>())
        .unwrap();
    let err = exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .unwrap_err();
    assert_eq!(
        err,
        ExportError::AlreadyExported {
            service: "venue".into(),
            type_id: CancelOrder::TYPE_ID,
            message: "CancelOrder",
        }
    );
    assert_eq!(
        exports
            .export("", venue.recipient::<CancelOrder>())
            .unwrap_err(),
        ExportError::EmptyServiceName
    );
    exports.export_topic::<Quote>().unwrap();
    assert_eq!(
        exports.export_topic::<Quote>().unwrap_err(),
        ExportError::TopicAlreadyExported {
            type_id: Quote::TYPE_ID,
            message: "Quote",
        }
    );
    assert_eq!(exports.topic_type_ids(), [Quote::TYPE_ID]);
    assert!(exports.unexport_topic(Quote::TYPE_ID));
    assert!(!exports.unexport_topic(Quote::TYPE_ID));
}

/// Unexports its own service while it answers.
struct Leaving;

impl Actor for Leaving {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Leaving)
    }
}

impl Handler<CancelOrder> for Leaving {
    type Reply = OrderAck;
    async fn handle(&mut self, c: CancelOrder, ctx: &mut Context<Self>) -> OrderAck {
        assert!(ctx.bus().exports().unexport("leaving"));
        OrderAck {
            client_order_id: c.client_order_id,
            venue_order_id: "gone".into(),
            ts_ns: c.ts_ns,
            venue_ts_ns: None,
        }
    }
}

struct Started;
impl Handler<Started> for Leaving {
    type Reply = ();
    async fn handle(&mut self, _: Started, _ctx: &mut Context<Self>) {}
}

/// `ask_now` runs an idle actor's handler on the caller's task while it reads the table: a
/// registration the handler makes there neither waits for that read nor is lost.
#[tokio::test(start_paused = true)]
async fn a_handler_answered_at_once_can_change_the_table_it_was_found_in() {
    let bus = virtual_bus();
    let leaving = bus.spawn::<Leaving>(());
    let exports = bus.exports();
    exports
        .export_ask("leaving", leaving.reply_recipient::<CancelOrder>())
        .unwrap();
    // Let it start, so that it is idle and the ask is answered by its direct call.
    leaving.ask(Started).await.unwrap();
    assert_eq!(exports.services(), ["leaving"]);
    let mut out = Vec::new();
    let answered = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(
            exports
                .ask_now("leaving", CancelOrder::TYPE_ID, &cancel(5), cx, &mut out)
                .map(|asked| matches!(asked, AskNow::Answered(t) if t == OrderAck::TYPE_ID)),
        )
    })
    .await;
    assert_eq!(answered, Ok(true), "answered at once");
    assert_eq!(OrderAck::decode_body(&out).unwrap().venue_order_id, "gone");
    assert!(exports.services().is_empty());
    assert!(matches!(
        exports.try_deliver("leaving", CancelOrder::TYPE_ID, &cancel(6)),
        Err(DeliveryError::UnknownService { .. })
    ));
}

//! Tells and asks by service, type id and bytes that reach the actor, with the reply back as
//! bytes; and the generated contract type a handler replies with.

use std::time::Duration;

use crate::venue::{cancel, heartbeat, Cancels, Venue};
use crate::virtual_bus;
use mycelium::actors::ReplyRecipient;
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, Heartbeat, OrderAck};

#[tokio::test(start_paused = true)]
async fn a_handler_replies_with_a_generated_contract_type() {
    let bus = virtual_bus();
    let venue = bus.spawn::<Venue>(());
    let ack: OrderAck = venue
        .ask(CancelOrder {
            client_order_id: 4,
            instrument: 1,
            ts_ns: 2,
        })
        .await
        .unwrap();
    assert_eq!(ack.venue_order_id, "V4");
    let asks: ReplyRecipient<CancelOrder, OrderAck> = venue.reply_recipient();
    let ack = asks
        .ask(CancelOrder {
            client_order_id: 5,
            instrument: 1,
            ts_ns: 2,
        })
        .await
        .unwrap();
    assert_eq!((ack.client_order_id, ack.venue_ts_ns), (5, Some(2)));
}

#[tokio::test(start_paused = true)]
async fn tells_and_asks_by_service_type_id_and_bytes_round_trip() {
    let bus = virtual_bus();
    let venue = bus.spawn::<Venue>(());
    let exports = bus.exports();
    exports
        .export("venue.tells", venue.recipient::<CancelOrder>())
        .unwrap();
    exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .unwrap();
    exports
        .export_ask("venue", venue.reply_recipient::<Heartbeat>())
        .unwrap();

    exports
        .deliver("venue.tells", CancelOrder::TYPE_ID, &cancel(1))
        .await
        .unwrap();
    exports
        .try_deliver("venue.tells", CancelOrder::TYPE_ID, &cancel(2))
        .unwrap();
    // An ask export takes tells too.
    exports
        .deliver("venue", CancelOrder::TYPE_ID, &cancel(3))
        .await
        .unwrap();
    assert_eq!(venue.ask(Cancels).await.unwrap(), 3);

    let (type_id, reply) = exports
        .ask("venue", CancelOrder::TYPE_ID, &cancel(42))
        .await
        .unwrap();
    assert_eq!(type_id, OrderAck::TYPE_ID);
    let ack = OrderAck::decode_body(&reply).unwrap();
    assert_eq!(
        ack,
        OrderAck {
            client_order_id: 42,
            venue_order_id: "V42".into(),
            ts_ns: 1_042,
            venue_ts_ns: Some(4),
        }
    );
    let (type_id, reply) = exports
        .ask_timeout(
            "venue",
            Heartbeat::TYPE_ID,
            &heartbeat(8),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(type_id, Heartbeat::TYPE_ID);
    assert_eq!(Heartbeat::decode_body(&reply).unwrap().seq, 8);

    assert_eq!(exports.services(), ["venue", "venue.tells"]);
    assert_eq!(
        exports.type_ids("venue"),
        Some(vec![CancelOrder::TYPE_ID, Heartbeat::TYPE_ID])
    );
    assert_eq!(exports.type_ids("nobody"), None);
}

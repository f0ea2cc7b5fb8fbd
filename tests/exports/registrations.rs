//! Registering services and topics: the checks on a registration, unexporting, and each
//! bus's table of its own.

use crate::venue::{cancel, Cancels, Venue};
use crate::virtual_bus;
use mycelium::actors::export::{DeliveryError, ExportError};
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, Quote};

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

//! Requests refused before any actor sees them: an unknown service, a wrong type id,
//! malformed bytes, and an ask to a service exported for tells only.

use crate::venue::{cancel, heartbeat, Cancels, Venue};
use crate::virtual_bus;
use mycelium::actors::export::DeliveryError;
use mycelium_codec::{DecodeError, WireMessage};
use mycelium_contracts::{CancelOrder, Heartbeat};

#[tokio::test(start_paused = true)]
async fn unknown_service_wrong_type_id_malformed_bytes_and_tell_only_are_typed_errors() {
    let bus = virtual_bus();
    let venue = bus.spawn::<Venue>(());
    let exports = bus.exports();
    exports
        .export("venue", venue.recipient::<CancelOrder>())
        .unwrap();

    let err = exports
        .try_deliver("nobody", CancelOrder::TYPE_ID, &cancel(1))
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::UnknownService {
            service: "nobody".into()
        }
    );
    assert!(err.to_string().contains("`nobody`"), "{err}");
    assert!(matches!(
        exports
            .ask("nobody", CancelOrder::TYPE_ID, &cancel(1))
            .await,
        Err(DeliveryError::UnknownService { .. })
    ));

    let err = exports
        .deliver("venue", Heartbeat::TYPE_ID, &heartbeat(1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::UnknownType {
            service: "venue".into(),
            type_id: Heartbeat::TYPE_ID,
            accepted: vec![CancelOrder::TYPE_ID],
        }
    );

    // A truncated body, and a body of another message under this type id.
    let body = cancel(1);
    let err = exports
        .try_deliver("venue", CancelOrder::TYPE_ID, &body[..body.len() - 3])
        .unwrap_err();
    match &err {
        DeliveryError::Decode {
            target,
            type_id,
            message,
            source,
        } => {
            assert_eq!(
                (target.as_str(), *type_id, *message),
                ("venue", 201, "CancelOrder")
            );
            assert!(
                matches!(source, DecodeError::Truncated { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    let err = exports
        .deliver("venue", CancelOrder::TYPE_ID, &heartbeat(1))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Decode { .. }), "{err:?}");

    // Exported for tells only: an ask is refused, by name.
    let err = exports
        .ask("venue", CancelOrder::TYPE_ID, &cancel(1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::NotAnAsk {
            service: "venue".into(),
            type_id: CancelOrder::TYPE_ID,
            message: "CancelOrder",
        }
    );
    // Nothing of the above reached the actor.
    assert_eq!(venue.ask(Cancels).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn malformed_bytes_for_an_ask_are_refused_before_the_actor() {
    let bus = virtual_bus();
    let venue = bus.spawn::<Venue>(());
    let exports = bus.exports();
    exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .unwrap();
    let err = exports
        .ask("venue", CancelOrder::TYPE_ID, &[0xff, 0xff, 0xff])
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Decode { .. }), "{err:?}");
    assert_eq!(venue.ask(Cancels).await.unwrap(), 0);
}

//! Topic exports: incoming bytes of an exported contract type published on this bus, to the
//! subscribers whose pattern matches.

use crate::virtual_bus;
use mycelium::actors::export::DeliveryError;
use mycelium::actors::TopicError;
use mycelium::prelude::*;
use mycelium_codec::WireMessage;
use mycelium_contracts::Quote;

fn quote_body(instrument: u32, bid: f64) -> Vec<u8> {
    let mut body = Vec::new();
    Quote {
        ts_ns: 1,
        instrument,
        bid_px: bid,
        bid_qty: 1.0,
        ask_px: bid + 0.5,
        ask_qty: 2.0,
    }
    .encode_body(&mut body);
    body
}

#[tokio::test(start_paused = true)]
async fn a_topic_export_publishes_incoming_bytes_to_subscribers() {
    let bus = virtual_bus();
    let exports = bus.exports();
    let mut tape = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new())
        .unwrap();
    assert!(matches!(
        exports
            .publish(Quote::TYPE_ID, "md.quote.AAPL", None, &quote_body(1, 10.0))
            .await,
        Err(DeliveryError::UnknownTopicType { type_id: 100, ref accepted }) if accepted.is_empty()
    ));
    exports.export_topic::<Quote>().unwrap();
    let report = exports
        .publish(
            Quote::TYPE_ID,
            "md.quote.AAPL",
            Some(7),
            &quote_body(7, 189.5),
        )
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    let got = tape.recv().await.unwrap();
    assert_eq!((got.topic(), got.key()), ("md.quote.AAPL", Some(7)));
    assert_eq!((got.instrument, got.bid_px), (7, 189.5));

    // Its own contract topic works too; a subscriber of another pattern sees nothing.
    let mut other = bus
        .subscribe_stream::<Quote>("md.trade.*", SubscribeOptions::new())
        .unwrap();
    exports
        .publish(Quote::TYPE_ID, Quote::TOPIC, None, &quote_body(8, 1.0))
        .await
        .unwrap();
    assert!(other.try_recv().is_none());

    let err = exports
        .publish(Quote::TYPE_ID, "md..bad", None, &quote_body(1, 1.0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Topic(TopicError::InvalidName { .. })),
        "{err:?}"
    );
    let err = exports
        .publish(Quote::TYPE_ID, "md.quote.X", None, &[1, 2, 3])
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Decode { ref target, type_id: 100, .. } if target == "md.quote.X"),
        "{err:?}"
    );
    assert!(tape.try_recv().is_none());
}

/// `publish_now`, as a link's reader calls it: a publication every subscriber takes at once
/// allocates the shared message and nothing else (no future, no copy of a short name).
#[tokio::test(start_paused = true)]
async fn an_incoming_publication_taken_at_once_allocates_only_the_message() {
    use mycelium::actors::export::PublishNow;
    let bus = virtual_bus();
    let exports = bus.exports();
    exports.export_topic::<Quote>().unwrap();
    let mut tape = bus
        .subscribe_stream::<Quote>("md.quote.*", SubscribeOptions::new().capacity(1024))
        .unwrap();
    let body = quote_body(3, 99.5);
    const PUBLICATIONS: u64 = 500;
    let allocations = crate::counting::allocations(async {
        for _ in 0..PUBLICATIONS {
            match exports.publish_now(Quote::TYPE_ID, "md.quote.AAPL", None, &body) {
                Ok(PublishNow::Done(report)) => assert_eq!(report.delivered, 1),
                Ok(PublishNow::Rest(_)) => panic!("a subscriber with room made it wait"),
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    // The shared message per publication, and the occasional growth of the stream's buffer.
    assert!(
        allocations <= PUBLICATIONS + 16,
        "{allocations} allocations for {PUBLICATIONS} publications"
    );
    for _ in 0..PUBLICATIONS {
        assert_eq!(tape.recv().await.unwrap().instrument, 3);
    }
}

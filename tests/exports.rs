//! The per-bus export table: (service, type id, bytes) in, a typed send to a local actor, an
//! ask whose reply goes back as bytes, or a publish on this bus.

use std::sync::Arc;
use std::time::Duration;

use mycelium::actors::export::{DeliveryError, ExportError};
use mycelium::actors::{
    ActorId, MailboxConfig, ReplyRecipient, SpawnOptions, StopReason, TopicError, TrySendError,
};
use mycelium::actors::{BoxFuture, Clock, MessageSink, NodeId, Queued, ReplySender, RequestSink};
use mycelium::prelude::*;
use mycelium_codec::{DecodeError, WireMessage};
use mycelium_contracts::{CancelOrder, Heartbeat, OrderAck, Quote};
use tokio::sync::oneshot;

struct Venue {
    cancels: u64,
}

impl Actor for Venue {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Venue { cancels: 0 })
    }
}

impl Handler<CancelOrder> for Venue {
    type Reply = OrderAck;
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
        self.cancels += 1;
        OrderAck {
            client_order_id: c.client_order_id,
            venue_order_id: format!("V{}", c.client_order_id),
            ts_ns: c.ts_ns,
            venue_ts_ns: Some(self.cancels),
        }
    }
}

/// Echoes a heartbeat; panics on sequence number 0.
impl Handler<Heartbeat> for Venue {
    type Reply = Heartbeat;
    async fn handle(&mut self, h: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        assert!(h.seq != 0, "heartbeat 0 requested a crash");
        h
    }
}

struct Cancels;
impl Handler<Cancels> for Venue {
    type Reply = u64;
    async fn handle(&mut self, _: Cancels, _ctx: &mut Context<Self>) -> u64 {
        self.cancels
    }
}

struct Hold(oneshot::Receiver<()>);
impl Handler<Hold> for Venue {
    type Reply = ();
    async fn handle(&mut self, Hold(wait): Hold, _ctx: &mut Context<Self>) {
        let _ = wait.await;
    }
}

fn virtual_bus() -> Bus {
    Bus::builder().virtual_time().seed(3).build().unwrap()
}

fn cancel(id: u64) -> Vec<u8> {
    let mut body = Vec::new();
    CancelOrder {
        client_order_id: id,
        instrument: 9,
        ts_ns: 1_000 + id,
    }
    .encode_body(&mut body);
    body
}

fn heartbeat(seq: u64) -> Vec<u8> {
    let mut body = Vec::new();
    Heartbeat {
        ts_ns: 1,
        seq,
        sender: "feed".into(),
    }
    .encode_body(&mut body);
    body
}

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

#[tokio::test(start_paused = true)]
async fn a_stopped_actor_a_full_mailbox_a_failure_and_a_timeout_are_reported() {
    let bus = virtual_bus();
    let venue = bus
        .spawn_with::<Venue>((), SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)))
        .unwrap();
    let exports = bus.exports();
    exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .unwrap();
    exports
        .export_ask("venue", venue.reply_recipient::<Heartbeat>())
        .unwrap();

    // Full: try_deliver refuses, deliver waits for room.
    let (go, wait) = oneshot::channel();
    venue.tell(Hold(wait)).await.unwrap();
    tokio::task::yield_now().await; // the actor sits in `Hold`
    exports
        .try_deliver("venue", CancelOrder::TYPE_ID, &cancel(1))
        .unwrap();
    let err = exports
        .try_deliver("venue", CancelOrder::TYPE_ID, &cancel(2))
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Full {
            service: "venue".into(),
            actor: venue.id()
        }
    );
    let waiting = tokio::spawn({
        let exports = exports.clone();
        async move {
            exports
                .deliver("venue", CancelOrder::TYPE_ID, &cancel(2))
                .await
        }
    });
    // An ask to a stuck actor times out on the bus clock.
    let err = exports
        .ask_timeout(
            "venue",
            CancelOrder::TYPE_ID,
            &cancel(3),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Timeout {
            service: "venue".into(),
            after: Duration::from_secs(60)
        }
    );
    assert!(!waiting.is_finished());
    go.send(()).unwrap();
    waiting.await.unwrap().unwrap();
    assert_eq!(venue.ask(Cancels).await.unwrap(), 2);

    // The handler panics: the asker learns it failed.
    let crashy = bus.spawn::<Venue>(());
    exports
        .export_ask("crashy", crashy.reply_recipient::<Heartbeat>())
        .unwrap();
    match exports
        .ask("crashy", Heartbeat::TYPE_ID, &heartbeat(0))
        .await
    {
        Err(DeliveryError::Failed { service, failure }) => {
            assert_eq!(service, "crashy");
            assert!(failure.reason.contains("heartbeat 0"), "{failure}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }

    // Stopped for good: tells and asks say so.
    venue.stop();
    venue.wait_for_stop().await;
    let stopped = DeliveryError::Stopped {
        service: "venue".into(),
        actor: venue.id(),
        reason: None,
    };
    assert_eq!(
        exports
            .try_deliver("venue", CancelOrder::TYPE_ID, &cancel(4))
            .unwrap_err(),
        stopped
    );
    assert_eq!(
        exports
            .deliver("venue", CancelOrder::TYPE_ID, &cancel(4))
            .await
            .unwrap_err(),
        stopped
    );
    assert_eq!(
        exports
            .ask("venue", CancelOrder::TYPE_ID, &cancel(4))
            .await
            .unwrap_err(),
        stopped
    );
    assert!(stopped.to_string().contains("has stopped"), "{stopped}");
}

#[tokio::test(start_paused = true)]
async fn an_ask_stopped_while_queued_reports_the_reason() {
    let bus = virtual_bus();
    let venue = bus.spawn::<Venue>(());
    let exports = bus.exports();
    exports
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .unwrap();
    let (_go, wait) = oneshot::channel::<()>();
    venue.tell(Hold(wait)).await.unwrap();
    tokio::task::yield_now().await;
    let asking = tokio::spawn({
        let exports = exports.clone();
        async move { exports.ask("venue", CancelOrder::TYPE_ID, &cancel(1)).await }
    });
    tokio::task::yield_now().await;
    venue.kill();
    match asking.await.unwrap() {
        Err(DeliveryError::Stopped {
            reason: Some(StopReason::Killed),
            ..
        }) => {}
        other => panic!("expected Stopped(Killed), got {other:?}"),
    }
}

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

/// An exported address that is itself a proxy whose link dropped.
struct DeadLink(Clock);

impl MessageSink<CancelOrder> for DeadLink {
    fn try_tell(&self, msg: CancelOrder) -> Result<(), TrySendError<CancelOrder>> {
        Err(TrySendError::Closed(msg))
    }
    fn tell(&self, msg: CancelOrder) -> BoxFuture<'_, Result<(), SendError<CancelOrder>>> {
        Box::pin(async move { Err(SendError(msg)) })
    }
    fn id(&self) -> ActorId {
        ActorId::new(NodeId::new(2), 1)
    }
    fn is_alive(&self) -> bool {
        true
    }
}

impl RequestSink<CancelOrder, OrderAck> for DeadLink {
    fn send_request(
        &self,
        _: CancelOrder,
        reply: ReplySender<OrderAck>,
    ) -> Queued<'_, CancelOrder> {
        reply.lost(NodeId::new(2), "connection reset");
        Queued::Ready(Ok(()))
    }
    fn clock(&self) -> &Clock {
        &self.0
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_behind_a_forwarding_export_is_reported_with_its_node() {
    let bus = virtual_bus();
    let exports = bus.exports();
    let forward = ReplyRecipient::new(Arc::new(DeadLink(bus.clock().clone())));
    exports.export_ask("relay", forward).unwrap();
    assert_eq!(
        exports
            .ask("relay", CancelOrder::TYPE_ID, &cancel(1))
            .await
            .unwrap_err(),
        DeliveryError::Lost {
            service: "relay".into(),
            node: NodeId::new(2),
            reason: "connection reset".into(),
        }
    );
}

//! Deliveries that fail at the target: a full mailbox, a timeout, a failing handler, a
//! stopped actor (also while an ask is queued), and an answer lost behind a forwarding export.

use std::sync::Arc;
use std::time::Duration;

use crate::venue::{cancel, heartbeat, Cancels, Hold, Venue};
use crate::virtual_bus;
use mycelium::actors::export::DeliveryError;
use mycelium::actors::{
    ActorId, MailboxConfig, ReplyRecipient, SpawnOptions, StopReason, TrySendError,
};
use mycelium::actors::{BoxFuture, Clock, MessageSink, NodeId, Queued, ReplySender, RequestSink};
use mycelium::prelude::*;
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, Heartbeat, OrderAck};
use tokio::sync::oneshot;

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

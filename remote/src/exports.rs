//! The bus's export table as a link's [`Dispatch`]: incoming frames become typed sends,
//! asks and publications on this bus.

use mycelium_actors::export::{
    AskNow as ExportAskNow, DeliveryError, Exports, PendingEncodedReply, PublishNow,
};
use mycelium_actors::{BoxFuture, Receipt};

use crate::dispatch::{AskNow, Dispatch, ReplyFuture};
use crate::error::DispatchError;
use crate::frame::peer_text;

/// The error a frame for an export came to. A service name that matched nothing is the
/// peer's text, shown escaped ([`peer_text`]): it is logged and sent back to the asker.
fn dispatch_error(e: DeliveryError) -> DispatchError {
    match e {
        DeliveryError::UnknownService { service } => {
            DispatchError::UnknownService(peer_text(service.as_bytes()))
        }
        DeliveryError::UnknownType {
            service, type_id, ..
        } => DispatchError::UnknownType { service, type_id },
        DeliveryError::Decode { type_id, .. } => DispatchError::Decode {
            type_id,
            reason: e.to_string(),
        },
        other => DispatchError::Failed(other.to_string()),
    }
}

/// [`Dispatch::ask`]'s future from a request on its way into a mailbox: done once it is
/// queued, with the reply to come.
fn reply_to_come<'a>(
    queueing: impl std::future::Future<Output = Result<PendingEncodedReply, DeliveryError>> + Send + 'a,
) -> mycelium_actors::BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
    Box::pin(async move {
        let reply = queueing.await.map_err(dispatch_error)?;
        Ok(Box::pin(async move { reply.await.map_err(dispatch_error) }) as ReplyFuture)
    })
}

impl Dispatch for Exports {
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            self.deliver(service, type_id, body)
                .await
                .map_err(dispatch_error)
        })
    }

    /// A tell that finds room (or fails for good) without a future; a full mailbox leaves it
    /// to `tell`, which waits for room.
    fn try_tell(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
    ) -> Option<Result<(), DispatchError>> {
        match self.try_deliver(service, type_id, body) {
            Err(DeliveryError::Full { .. }) => None,
            delivered => Some(delivered.map_err(dispatch_error)),
        }
    }

    /// The receipt travels with the message and is signed when the actor takes it for its
    /// handler (`Exports::try_deliver_receipted`).
    fn try_tell_receipted(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Option<Result<(), DispatchError>> {
        match self.try_deliver_receipted(service, type_id, body, receipt) {
            Err(DeliveryError::Full { .. }) => None,
            delivered => Some(delivered.map_err(dispatch_error)),
        }
    }

    fn tell_receipted<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
        receipt: Receipt,
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            self.deliver_receipted(service, type_id, body, receipt)
                .await
                .map_err(dispatch_error)
        })
    }

    /// Returns once the request is in the actor's mailbox (waiting for room in a full one,
    /// as a tell does), or handled already (an idle actor on this runtime runs the handler
    /// here, by its direct call), with the reply to come: the link hands on the next frame
    /// only then, so a tell read after an ask never reaches the actor before it.
    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        reply_to_come(self.ask_queued(service, type_id, body))
    }

    /// An idle actor on this runtime answers on the caller's task, its reply encoded into
    /// `out` (`Exports::ask_now`).
    fn ask_now<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> Result<AskNow<'a>, DispatchError> {
        match Exports::ask_now(self, service, type_id, body, cx, out) {
            Ok(ExportAskNow::Answered(type_id)) => Ok(AskNow::Answered(type_id)),
            Ok(ExportAskNow::Queued(queued)) => Ok(AskNow::Later(reply_to_come(queued))),
            Err(e) => Err(dispatch_error(e)),
        }
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        key: Option<u64>,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            Exports::publish(self, type_id, topic, key, body)
                .await
                .map(|_| ())
                .map_err(dispatch_error)
        })
    }

    /// A publication every subscriber takes at once makes no future (`Exports::publish_now`).
    fn publish_now<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        key: Option<u64>,
        body: &'a [u8],
    ) -> Result<Option<BoxFuture<'a, Result<(), DispatchError>>>, DispatchError> {
        match Exports::publish_now(self, type_id, topic, key, body) {
            Ok(PublishNow::Done(_)) => Ok(None),
            Ok(PublishNow::Rest(rest)) => Ok(Some(Box::pin(async move {
                rest.await;
                Ok(())
            }))),
            Err(e) => Err(dispatch_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, MailboxConfig, SpawnOptions};
    use mycelium_codec::WireMessage;
    use mycelium_contracts::CancelOrder;
    use tokio::sync::oneshot;

    /// Records the orders it is told to cancel; `Hold` keeps it busy until released.
    struct Desk(Vec<u64>);
    impl Actor for Desk {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Desk(Vec::new()))
        }
    }
    impl Handler<CancelOrder> for Desk {
        type Reply = ();
        async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) {
            self.0.push(c.client_order_id);
        }
    }
    struct Hold(oneshot::Receiver<()>);
    impl Handler<Hold> for Desk {
        type Reply = ();
        async fn handle(&mut self, Hold(wait): Hold, _ctx: &mut Context<Self>) {
            let _ = wait.await;
        }
    }
    struct Seen;
    impl Handler<Seen> for Desk {
        type Reply = Vec<u64>;
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> Vec<u64> {
            self.0.clone()
        }
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

    #[tokio::test]
    async fn a_tell_that_finds_the_mailbox_full_is_left_to_the_waiting_tell() {
        let bus = Bus::new();
        let desk = bus
            .spawn_with::<Desk>((), SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)))
            .unwrap();
        let exports = bus.exports();
        exports
            .export("desk", desk.recipient::<CancelOrder>())
            .unwrap();
        let (go, wait) = oneshot::channel();
        desk.tell(Hold(wait)).await.unwrap();
        tokio::task::yield_now().await; // the desk sits in `Hold`

        let id = CancelOrder::TYPE_ID;
        assert!(matches!(
            exports.try_tell("desk", id, &cancel(1)),
            Some(Ok(()))
        ));
        // Full: nothing queued, so the caller's `tell` with the same bytes delivers it once.
        assert!(exports.try_tell("desk", id, &cancel(2)).is_none());
        let body = cancel(2);
        let waiting = Dispatch::tell(&exports, "desk", id, &body);
        let _ = go.send(());
        waiting.await.unwrap();
        assert_eq!(desk.ask(Seen).await.unwrap(), vec![1, 2]);

        // Refused for good: an answer at once, not a wait.
        assert!(matches!(
            exports.try_tell("nobody", id, &cancel(3)),
            Some(Err(DispatchError::UnknownService(_)))
        ));
        assert!(matches!(
            exports.try_tell("desk", id, &[0xff]),
            Some(Err(DispatchError::Decode { .. }))
        ));
        assert_eq!(desk.ask(Seen).await.unwrap(), vec![1, 2]);
    }

    #[test]
    fn a_service_name_that_matched_nothing_is_shown_escaped() {
        let e = dispatch_error(DeliveryError::UnknownService {
            service: "svc\n2026-01-01 ERROR forged\x1b[2J".into(),
        });
        assert_eq!(
            e.to_string(),
            "no exported service `svc\\n2026-01-01 ERROR forged\\u{1b}[2J` on this node"
        );
    }
}

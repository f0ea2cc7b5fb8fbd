//! The bus's export table as a link's [`Dispatch`]: incoming frames become typed sends,
//! asks and publications on this bus.

use mycelium_actors::export::{
    AskNow as ExportAskNow, DeliveryError, Exports, PendingEncodedReply,
};
use mycelium_actors::BoxFuture;

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
}

#[cfg(test)]
mod tests {
    use super::*;

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

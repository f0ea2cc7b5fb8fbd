//! The bus's export table as a link's [`Dispatch`]: incoming frames become typed sends,
//! asks and publications on this bus.

use mycelium_actors::export::{DeliveryError, Exports};
use mycelium_actors::BoxFuture;

use crate::dispatch::{Dispatch, ReplyFuture};
use crate::error::DispatchError;

fn dispatch_error(e: DeliveryError) -> DispatchError {
    match e {
        DeliveryError::UnknownService { service } => DispatchError::UnknownService(service),
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
        Box::pin(async move {
            let reply = self
                .ask_queued(service, type_id, body)
                .await
                .map_err(dispatch_error)?;
            Ok(Box::pin(async move { reply.await.map_err(dispatch_error) }) as ReplyFuture)
        })
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

//! The bus's export table as a link's [`Dispatch`]: incoming frames become typed sends,
//! asks and publications on this bus.

use std::task::Poll;

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

    /// The request is queued in the actor's mailbox by the first poll of the table's ask when
    /// the mailbox has room, which is when this returns; the reply is awaited on its own task.
    /// When the mailbox is full, the request waits for room on that task, and a tell read
    /// after it may reach the actor first.
    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        let exports = self.clone();
        let service = service.to_owned();
        let body = body.to_vec();
        let mut asking: ReplyFuture = Box::pin(async move {
            exports
                .ask(&service, type_id, &body)
                .await
                .map_err(dispatch_error)
        });
        Box::pin(async move {
            let first = std::future::poll_fn(|cx| match asking.as_mut().poll(cx) {
                Poll::Ready(done) => Poll::Ready(Some(done)),
                Poll::Pending => Poll::Ready(None),
            })
            .await;
            match first {
                // Refused at once (unknown service or type, undecodable): no reply will come.
                Some(Err(e)) => Err(e),
                Some(Ok(reply)) => Ok(Box::pin(async move { Ok(reply) }) as ReplyFuture),
                None => Ok(asking),
            }
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

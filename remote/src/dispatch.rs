//! The receiving side's seam: incoming (service, type id, body) to local actors and topics.

use mycelium_actors::{BoxFuture, Receipt};

use crate::error::DispatchError;

/// The reply of an ask, once the local handler answers: its type id and encoded body.
pub type ReplyFuture = BoxFuture<'static, Result<(u16, Vec<u8>), DispatchError>>;

/// Delivers incoming messages to this node's actors and topics.
///
/// The link calls it in sequence order, one message at a time, and waits for each returned
/// future: a `tell` that waits for room in a full mailbox stops the link from reading, which
/// fills the socket and makes the sender wait. So backpressure reaches the sender and no
/// queue between them grows without bound.
pub trait Dispatch: Send + Sync + 'static {
    /// Decodes `body` as type `type_id` and tells it to `service`, waiting for room.
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>>;

    /// [`tell`](Self::tell) done without waiting, when it can be: `Some` with the outcome
    /// once the message is in the mailbox (or refused for good), `None` when it has to wait
    /// (a full mailbox: nothing was queued) or this dispatch does not try. The caller then
    /// awaits `tell` with the same bytes, so a `None` must leave nothing delivered. By
    /// default `None`: every tell goes through `tell`'s future.
    fn try_tell(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
    ) -> Option<Result<(), DispatchError>> {
        let _ = (service, type_id, body);
        None
    }

    /// [`try_tell`](Self::try_tell) of a message whose [`Receipt`] is to be signed once its
    /// handler has run: the link acknowledges the message to its sender only then
    /// (`None`, a full mailbox, leaves the receipt unsigned). By default the receipt is
    /// signed once the message is queued (at-most-once if this process dies while it waits
    /// in a mailbox).
    fn try_tell_receipted(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Option<Result<(), DispatchError>> {
        let told = self.try_tell(service, type_id, body);
        match told {
            Some(Ok(())) => receipt.sign(),
            _ => receipt.forget(),
        }
        told
    }

    /// [`tell`](Self::tell) of a message with a [`Receipt`], as
    /// [`try_tell_receipted`](Self::try_tell_receipted).
    fn tell_receipted<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
        receipt: Receipt,
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            let told = self.tell(service, type_id, body).await;
            match told {
                Ok(()) => receipt.sign(),
                Err(_) => receipt.forget(),
            }
            told
        })
    }

    /// Decodes and queues an ask to `service`; the outer future ends once the request is in
    /// the mailbox (so order with later tells holds), the returned one when the reply is
    /// ready.
    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>>;

    /// [`ask`](Self::ask), answered on the caller's task when it can be: by a local actor's
    /// direct call that finishes in one poll, made with `cx`, the caller's task context. The
    /// reply's body is then written to the end of `out` ([`AskNow::Answered`]), and nothing
    /// is allocated for a reply to come. By default never at once: `ask`'s future, to await.
    fn ask_now<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> Result<AskNow<'a>, DispatchError> {
        let _ = (cx, out);
        Ok(AskNow::Later(self.ask(service, type_id, body)))
    }

    /// Decodes and publishes on this node's `topic`, with the publication's `key`.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        key: Option<u64>,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>>;

    /// [`publish`](Self::publish), as far as it goes without waiting: `Ok(None)` once every
    /// matching subscriber has the message, `Ok(Some(rest))` when the rest must be awaited
    /// before the next message (a full subscriber that waits for room, say), an error when
    /// it could not be published at all. Unlike [`try_tell`](Self::try_tell), a publication
    /// may be half delivered when it returns: its rest is never delivered again. By default
    /// all of it is the rest: `publish`'s future.
    fn publish_now<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        key: Option<u64>,
        body: &'a [u8],
    ) -> Result<Option<BoxFuture<'a, Result<(), DispatchError>>>, DispatchError> {
        Ok(Some(self.publish(topic, type_id, key, body)))
    }
}

/// What [`Dispatch::ask_now`] did with an ask.
pub enum AskNow<'a> {
    /// Answered on the caller's task: the reply's type id (its body is written).
    Answered(u16),
    /// To be awaited, as [`Dispatch::ask`]'s future: done once the request is queued, with
    /// the reply to come.
    Later(BoxFuture<'a, Result<ReplyFuture, DispatchError>>),
}

//! Proxies: a service on another node behind the actors' own addresses, so the caller's code
//! does not change when the topology moves the service.
//!
//! [`RemoteActor`] implements [`MessageSink<M>`] (behind a [`Recipient<M>`]) and
//! [`RequestSink<M, R>`] (behind a [`ReplyRecipient<M, R>`]) for contract types: a tell or
//! ask encodes `M` once into a frame on the link to the node hosting the service. Before a
//! message leaves, a refusal hands it back (full queue: `try_tell` gives
//! [`TrySendError::Full`]; closed link: `Closed`); after, an ask whose link drops fails at
//! once with [`AskError::Lost`](mycelium_actors::AskError::Lost), and a lost tell is in the
//! link's loss report and the bus's dead letters.

use std::marker::PhantomData;
use std::sync::Arc;

use mycelium_actors::{
    ActorId, BoxFuture, Clock, MessageSink, Queued, Recipient, ReplyRecipient, ReplySender,
    RequestSink, SendError, TrySendError,
};
use mycelium_codec::WireMessage;

use crate::error::{RemoteAskError, SendError as LinkSendError};
use crate::frame::Kind;
use crate::link::{Link, OnReply, ReplyBody};

/// A service on another node, as an address for messages `M` answered with `R` (`R = ()` for
/// tells only).
pub struct RemoteActor<M, R = ()> {
    link: Link,
    service: Arc<str>,
    id: ActorId,
    _types: PhantomData<fn(M) -> R>,
}

impl<M, R> RemoteActor<M, R>
where
    M: WireMessage + Send + 'static,
    R: Send + 'static,
{
    /// The service `service` behind `link`. Its id is the peer's node with local number 0:
    /// the peer's actor numbers are not exchanged.
    pub fn new(link: Link, service: &str) -> Self {
        RemoteActor {
            id: ActorId::new(link.node_id(), 0),
            link,
            service: Arc::from(service),
            _types: PhantomData,
        }
    }

    /// As a [`Recipient<M>`].
    pub fn recipient(self) -> Recipient<M> {
        Recipient::new(Arc::new(self))
    }
}

impl<M, R> RemoteActor<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    /// As a [`ReplyRecipient<M, R>`].
    pub fn reply_recipient(self) -> ReplyRecipient<M, R> {
        ReplyRecipient::new(Arc::new(self))
    }
}

impl<M, R> MessageSink<M> for RemoteActor<M, R>
where
    M: WireMessage + Send + 'static,
    R: Send + 'static,
{
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        match self
            .link
            .try_send_named(Kind::Tell, &self.service, M::TYPE_ID, M::NAME, |out| {
                msg.encode_body(out)
            }) {
            Ok(_) => Ok(()),
            Err(LinkSendError::Full) => Err(TrySendError::Full(msg)),
            Err(e) => {
                refused(&self.link, &self.service, M::NAME, &e);
                Err(TrySendError::Closed(msg))
            }
        }
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        // Encoded before waiting, so `M` need not be `Sync`.
        let mut body = Vec::new();
        msg.encode_body(&mut body);
        Box::pin(async move {
            let sent = self
                .link
                .send_named(Kind::Tell, &self.service, M::TYPE_ID, M::NAME, |out| {
                    out.extend_from_slice(&body)
                })
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e) => {
                    refused(&self.link, &self.service, M::NAME, &e);
                    Err(SendError(msg))
                }
            }
        })
    }

    fn id(&self) -> ActorId {
        self.id
    }

    fn is_alive(&self) -> bool {
        self.link.closed_reason().is_none()
    }
}

fn refused(link: &Link, service: &str, message: &str, e: &LinkSendError) {
    tracing::warn!(
        target: "mycelium::remote",
        peer = link.peer(), service, message, error = %e,
        "message refused before leaving this process"
    );
}

impl<M, R> RequestSink<M, R> for RemoteActor<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    fn send_request(&self, msg: M, reply: ReplySender<R>) -> Queued<'_, M> {
        let on_reply = answer::<M, R>(self.link.node_id(), reply);
        match self.link.try_ask_with(
            &self.service,
            M::TYPE_ID,
            M::NAME,
            |out| msg.encode_body(out),
            on_reply,
        ) {
            Ok(()) => Queued::Ready(Ok(())),
            Err((LinkSendError::Full, on_reply)) => {
                let mut body = Vec::new();
                msg.encode_body(&mut body);
                Queued::Waiting(Box::pin(async move {
                    let sent = self
                        .link
                        .ask_with(
                            &self.service,
                            M::TYPE_ID,
                            M::NAME,
                            |out| out.extend_from_slice(&body),
                            on_reply,
                        )
                        .await;
                    match sent {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            refused(&self.link, &self.service, M::NAME, &e);
                            Err(SendError(msg))
                        }
                    }
                }))
            }
            Err((e, _)) => {
                refused(&self.link, &self.service, M::NAME, &e);
                Queued::Ready(Err(SendError(msg)))
            }
        }
    }

    fn clock(&self) -> &Clock {
        self.link.clock()
    }
}

/// Routes a reply frame to the asker: decoded as `R`, or a lost answer saying why, or the
/// request itself when the link closed before sending it.
fn answer<M: WireMessage + Send + 'static, R: WireMessage + Send + 'static>(
    node: mycelium_actors::NodeId,
    reply: ReplySender<R>,
) -> OnReply {
    Box::new(move |result: Result<ReplyBody<'_>, RemoteAskError>| {
        match result {
            Ok((type_id, body)) if type_id == R::TYPE_ID => match R::decode_body(body) {
                Ok(r) => {
                    // The asker may have given up (timeout): nothing to do then.
                    let _ = reply.send(r);
                }
                Err(e) => reply.lost(
                    node,
                    format!("the reply does not decode as {}: {e}", R::NAME),
                ),
            },
            Ok((type_id, _)) => reply.lost(
                node,
                format!(
                    "the reply has type id {type_id}, not {} ({})",
                    R::TYPE_ID,
                    R::NAME
                ),
            ),
            // Never sent: the asker has its request back (`AskError::Closed`).
            Err(RemoteAskError::Unsent { error, request }) => match M::decode_body(&request) {
                Ok(request) => reply.unsent(node, request),
                Err(e) => reply.lost(
                    node,
                    format!("{error}; the request was not sent, but its body does not decode as {} again: {e}", M::NAME),
                ),
            },
            // `AskError::Lost` says itself that the request may have been handled.
            Err(RemoteAskError::LinkDown { peer, reason }) => reply.lost(
                node,
                format!("the link to {peer} went down while the ask was in flight: {reason}"),
            ),
            Err(e) => reply.lost(node, e.to_string()),
        }
    })
}

//! The entries of the export table: one type-erased sender per exported message type.

use std::sync::Arc;

use mycelium_codec::{DecodeError, WireMessage};

use crate::envelope::BoxFuture;
use crate::error::{AskError, SendError, TopicError, TrySendError};
use crate::export::{PendingEncodedReply, PublishNow};
use crate::reply_recipient::Direct;
use crate::topic::Publisher;
use crate::{ActorId, PendingReply, Receipt, Recipient, ReplyRecipient};

/// Why a typed send did not happen, before the service name is attached.
pub(super) enum Refused {
    Full(ActorId),
    Stopped(ActorId),
}

/// A tell waiting for room in a full mailbox.
pub(super) type Waiting = BoxFuture<'static, Result<(), Refused>>;

/// The body size a reply's buffer is first made for (most contract messages fit).
const REPLY_GUESS: usize = 128;

/// A request on its way into a mailbox: done once it is queued, with the reply to come
/// (its failure already named with the service and the actor).
pub(super) type Queueing = BoxFuture<'static, Result<PendingEncodedReply, AskError<()>>>;

/// One exported message type of one service, type-erased.
pub(super) trait Exported: Send + Sync {
    fn message_name(&self) -> &'static str;
    /// False once the actor behind it has stopped for good.
    fn is_alive(&self) -> bool;
    /// The Rust actor a typed export sends to; `None` for a byte service.
    fn rust_actor(&self) -> Option<ActorId> {
        None
    }
    /// Decodes and queues a tell without waiting; `receipt`, if any, travels with it (left
    /// unsigned on a refusal).
    fn decode_and_try_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Refused>, DecodeError>;
    /// Decodes and queues a tell, waiting for room in a full mailbox.
    fn decode_and_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Waiting>, DecodeError>;
    /// `None` for a tell-only export.
    fn ask(&self, body: &[u8]) -> Option<Result<(ActorId, Queueing), DecodeError>>;
    /// [`ask`](Self::ask), answered on this task when the actor takes it by its direct call
    /// and its handler finishes in this poll: the reply's body is then written to the end of
    /// `out`. `None` for a tell-only export. By default as `ask`, never answered at once.
    fn ask_now(
        &self,
        body: &[u8],
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Result<(ActorId, Asked), DecodeError>> {
        let _ = (cx, out);
        self.ask(body)
            .map(|asked| asked.map(|(actor, queueing)| (actor, Asked::Queueing(queueing))))
    }
}

/// What [`Exported::ask_now`] did with a request.
pub(super) enum Asked {
    /// Answered: the reply's type id (its body is written).
    Now(u16),
    /// To be awaited, as [`Exported::ask`]'s.
    Queueing(Queueing),
}

fn decide<M: Send + 'static>(
    id: ActorId,
    result: Result<(), TrySendError<M>>,
    wait: impl FnOnce(M) -> BoxFuture<'static, Result<(), SendError<M>>>,
) -> Result<(), Waiting> {
    match result {
        Ok(()) => Ok(()),
        Err(TrySendError::Closed(_)) => Err(Box::pin(async move { Err(Refused::Stopped(id)) })),
        Err(TrySendError::Full(m)) => {
            let waiting = wait(m);
            Err(Box::pin(async move {
                waiting.await.map_err(|_| Refused::Stopped(id))
            }))
        }
    }
}

fn refused<M>(id: ActorId, e: TrySendError<M>) -> Refused {
    match e {
        TrySendError::Full(_) => Refused::Full(id),
        TrySendError::Closed(_) => Refused::Stopped(id),
    }
}

pub(super) struct TellExport<M>(pub(super) Recipient<M>);

impl<M: WireMessage + Send + 'static> Exported for TellExport<M> {
    fn message_name(&self) -> &'static str {
        M::NAME
    }

    fn is_alive(&self) -> bool {
        self.0.is_alive()
    }

    fn rust_actor(&self) -> Option<ActorId> {
        Some(self.0.id())
    }

    fn decode_and_try_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Refused>, DecodeError> {
        let msg = M::decode_body(body)?;
        let told = match receipt {
            Some(receipt) => self.0.try_tell_receipted(msg, receipt),
            None => self.0.try_tell(msg),
        };
        Ok(told.map_err(|e| refused(self.0.id(), e)))
    }

    fn decode_and_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Waiting>, DecodeError> {
        let msg = M::decode_body(body)?;
        let to = self.0.clone();
        let id = self.0.id();
        Ok(match receipt {
            None => decide(id, self.0.try_tell(msg), move |m| {
                Box::pin(async move { to.tell(m).await })
            }),
            Some(receipt) => Err(Box::pin(async move {
                to.tell_receipted(msg, receipt)
                    .await
                    .map_err(|_| Refused::Stopped(id))
            })),
        })
    }

    fn ask(&self, _body: &[u8]) -> Option<Result<(ActorId, Queueing), DecodeError>> {
        None
    }
}

pub(super) struct AskExport<M, R> {
    pub(super) to: ReplyRecipient<M, R>,
    /// The service it is exported under, for the errors of its replies.
    pub(super) service: Arc<str>,
}

impl<M, R> Exported for AskExport<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    fn message_name(&self) -> &'static str {
        M::NAME
    }

    fn is_alive(&self) -> bool {
        self.to.is_alive()
    }

    fn rust_actor(&self) -> Option<ActorId> {
        Some(self.to.id())
    }

    fn decode_and_try_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Refused>, DecodeError> {
        let msg = M::decode_body(body)?;
        let told = match receipt {
            Some(receipt) => self.to.try_tell_receipted(msg, receipt),
            None => self.to.try_tell(msg),
        };
        Ok(told.map_err(|e| refused(self.to.id(), e)))
    }

    fn decode_and_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Waiting>, DecodeError> {
        let msg = M::decode_body(body)?;
        let to = self.to.clone();
        let id = self.to.id();
        Ok(match receipt {
            None => decide(id, self.to.try_tell(msg), move |m| {
                Box::pin(async move { to.tell(m).await })
            }),
            Some(receipt) => Err(Box::pin(async move {
                to.tell_receipted(msg, receipt)
                    .await
                    .map_err(|_| Refused::Stopped(id))
            })),
        })
    }

    fn ask(&self, body: &[u8]) -> Option<Result<(ActorId, Queueing), DecodeError>> {
        let msg = match M::decode_body(body) {
            Ok(msg) => msg,
            Err(e) => return Some(Err(e)),
        };
        let to = self.to.clone();
        let encode = self.encoding();
        let queueing: Queueing = Box::pin(async move {
            let pending = to.ask_queued(msg).await.map_err(without_message)?;
            Ok(encode(pending))
        });
        Some(Ok((self.to.id(), queueing)))
    }

    fn ask_now(
        &self,
        body: &[u8],
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Result<(ActorId, Asked), DecodeError>> {
        let msg = match M::decode_body(body) {
            Ok(msg) => msg,
            Err(e) => return Some(Err(e)),
        };
        let asked = match self.to.try_direct(msg, cx) {
            Direct::Answered(Ok(reply)) => {
                reply.encode_body(out);
                Asked::Now(R::TYPE_ID)
            }
            Direct::Answered(Err(e)) => {
                let encode = self.encoding();
                Asked::Queueing(Box::pin(async move {
                    Ok(encode(Box::pin(std::future::ready(Err(e)))))
                }))
            }
            Direct::Later(pending) => {
                let pending = self.encoding()(pending);
                Asked::Queueing(Box::pin(std::future::ready(Ok(pending))))
            }
            Direct::Declined(declined) => {
                let (to, encode) = (self.to.clone(), self.encoding());
                Asked::Queueing(Box::pin(async move {
                    let pending = to.queue_declined(declined).await.map_err(without_message)?;
                    Ok(encode(pending))
                }))
            }
        };
        Some(Ok((self.to.id(), asked)))
    }
}

impl<M, R> AskExport<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    /// Turns a reply to come into its encoded form, its failure named with the service and
    /// the actor.
    fn encoding(&self) -> impl FnOnce(PendingReply<R>) -> PendingEncodedReply + Send + 'static {
        let (actor, service) = (self.to.id(), self.service.clone());
        move |pending| {
            Box::pin(async move {
                let reply = pending
                    .await
                    .map_err(|e| super::ask_error(&service, actor, e))?;
                // Made for most replies at once: growing from empty reallocates several times.
                let mut out = Vec::with_capacity(REPLY_GUESS);
                reply.encode_body(&mut out);
                Ok((R::TYPE_ID, out))
            })
        }
    }
}

fn without_message<M>(e: AskError<M>) -> AskError<()> {
    match e {
        AskError::Closed(_) => AskError::Closed(()),
        AskError::Timeout(d) => AskError::Timeout(d),
        AskError::Failed(f) => AskError::Failed(f),
        AskError::Stopped(r) => AskError::Stopped(r),
        AskError::Lost { node, reason } => AskError::Lost { node, reason },
    }
}

/// One exported topic message type, type-erased.
pub(super) trait ExportedTopic: Send + Sync {
    fn message_name(&self) -> &'static str;
    /// Decodes `body` and publishes it on `topic` as far as it can without waiting.
    fn publish_now(
        &self,
        topic: &str,
        key: Option<u64>,
        body: &[u8],
    ) -> Result<Result<PublishNow, TopicError>, DecodeError>;
}

pub(super) struct TopicExport<M: Send + Sync + 'static>(pub(super) Publisher<M>);

impl<M: WireMessage + Send + Sync + 'static> ExportedTopic for TopicExport<M> {
    fn message_name(&self) -> &'static str {
        M::NAME
    }

    fn publish_now(
        &self,
        topic: &str,
        key: Option<u64>,
        body: &[u8],
    ) -> Result<Result<PublishNow, TopicError>, DecodeError> {
        let msg = M::decode_body(body)?;
        Ok(self.0.publish_named_now(topic, key, msg))
    }
}

//! Services that take their messages as bytes: actors hosted in another language, which
//! decode contract messages with that language's generated codec.

use std::sync::Arc;
use std::time::Duration;

use mycelium_codec::DecodeError;

use crate::envelope::BoxFuture;
use crate::error::AskError;
use crate::{ActorId, Receipt};

use super::exported::{Exported, Queueing, Refused, Waiting};

/// Why a [`ByteService`] did not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRefusal {
    /// The mailbox is full; nothing was queued.
    Full,
    /// The actor has stopped for good.
    Stopped,
}

/// The reply to an ask of a [`ByteService`]: `(reply type id, reply body)`, or why there is
/// none.
pub type ByteReply = Result<(u16, Vec<u8>), AskError<()>>;

/// A service that takes contract messages as `(type id, body)` and decodes them itself: a
/// foreign actor (Python, C, OCaml) hosted in this process. Export one with
/// [`Exports::export_bytes`](super::Exports::export_bytes); a link, or a caller that holds
/// bytes, then reaches it by service name exactly like a typed export.
pub trait ByteService: Send + Sync + 'static {
    /// The actor behind the service.
    fn id(&self) -> ActorId;
    /// False once the actor has stopped for good.
    fn is_alive(&self) -> bool;
    /// Queues a tell without waiting.
    fn try_tell(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal>;
    /// Queues a tell, waiting for room in a full mailbox.
    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>>;
    /// [`try_tell`](Self::try_tell) of a message a link delivered: `receipt` is to be signed
    /// once the handler has run (or the message became a dead letter); a refused message
    /// hands it back, unsigned. By default it is signed once queued: a service that observes
    /// its handler's return carries it with the message instead.
    fn try_tell_receipted(
        &self,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Result<(), (ByteRefusal, Receipt)> {
        match self.try_tell(type_id, body) {
            Ok(()) => {
                receipt.sign();
                Ok(())
            }
            Err(refusal) => Err((refusal, receipt)),
        }
    }
    /// [`tell`](Self::tell) with a receipt, as [`try_tell_receipted`](Self::try_tell_receipted);
    /// refused for good, the message is reported here and the receipt signed.
    fn tell_receipted(
        &self,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        let told = self.tell(type_id, body);
        Box::pin(async move {
            let told = told.await;
            drop(receipt);
            told
        })
    }
    /// Asks; the reply comes back as `(reply type id, reply body)`. `timeout` is bus time.
    fn ask(
        &self,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> BoxFuture<'static, ByteReply>;
}

/// One type id of a byte service in the export table.
pub(super) struct ByteExport {
    pub(super) service: Arc<dyn ByteService>,
    pub(super) type_id: u16,
    /// The service name it is exported under, for the errors of its replies.
    pub(super) name: Arc<str>,
}

fn refused(id: ActorId, r: ByteRefusal) -> Refused {
    match r {
        ByteRefusal::Full => Refused::Full(id),
        ByteRefusal::Stopped => Refused::Stopped(id),
    }
}

impl Exported for ByteExport {
    fn message_name(&self) -> &'static str {
        "a message decoded by a foreign actor"
    }

    fn is_alive(&self) -> bool {
        self.service.is_alive()
    }

    /// A byte service queues the message itself, with its receipt (see
    /// [`ByteService::try_tell_receipted`]).
    fn decode_and_try_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Refused>, DecodeError> {
        let id = self.service.id();
        let told = match receipt {
            Some(receipt) => self
                .service
                .try_tell_receipted(self.type_id, body, receipt)
                .map_err(|(refusal, receipt)| {
                    // Handed back: the sender still holds the message.
                    receipt.forget();
                    refusal
                }),
            None => self.service.try_tell(self.type_id, body),
        };
        Ok(told.map_err(|r| refused(id, r)))
    }

    fn decode_and_tell(
        &self,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<Result<(), Waiting>, DecodeError> {
        let id = self.service.id();
        let told = match receipt {
            Some(receipt) => self
                .service
                .try_tell_receipted(self.type_id, body, receipt)
                .map_err(|(r, receipt)| (r, Some(receipt))),
            None => self
                .service
                .try_tell(self.type_id, body)
                .map_err(|r| (r, None)),
        };
        match told {
            Ok(()) => Ok(Ok(())),
            Err((ByteRefusal::Stopped, receipt)) => Ok(Err(Box::pin(async move {
                // Refused for good: reported here, and so signed.
                drop(receipt);
                Err(Refused::Stopped(id))
            }))),
            Err((ByteRefusal::Full, receipt)) => {
                // Waits for room; the receipt travels with the message.
                let waiting = match receipt {
                    Some(receipt) => self.service.tell_receipted(self.type_id, body, receipt),
                    None => self.service.tell(self.type_id, body),
                };
                Ok(Err(Box::pin(async move {
                    waiting.await.map_err(|r| refused(id, r))
                })))
            }
        }
    }

    fn ask(&self, body: &[u8]) -> Option<Result<(ActorId, Queueing), DecodeError>> {
        // The byte service queues the request itself; its caller bounds the wait for the
        // reply, so the service gets no timeout of its own.
        let reply = self.service.ask(self.type_id, body, None);
        let (actor, name) = (self.service.id(), self.name.clone());
        let queueing: Queueing = Box::pin(async move {
            Ok(
                Box::pin(async move { reply.await.map_err(|e| super::ask_error(&name, actor, e)) })
                    as super::PendingEncodedReply,
            )
        });
        Some(Ok((actor, queueing)))
    }
}

//! A foreign actor behind the typed addresses Rust code uses for its own actors: a
//! [`ByteService`] (a foreign actor, or a supervised foreign child found anew at each call)
//! seen as a [`Recipient<M>`] or a [`ReplyRecipient<M, R>`] of contract types, each message
//! encoded with the contract codec on the way in and the reply decoded on the way out.
//!
//! What an asker gets is what it gets from a Rust actor: the reply, [`AskError::Failed`]
//! when the handler failed (an exception), [`AskError::Stopped`] when the actor stopped
//! first, [`AskError::Closed`] with the request when it could not be queued. A reply of
//! another type than `R` (a handler that answered with the wrong message) is
//! [`AskError::Failed`] naming the actor, the request and both reply types.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use mycelium_actors::export::{ByteRefusal, ByteReply, ByteService};
use mycelium_actors::{
    ActorId, AskError, BoxFuture, Bus, Clock, Failure, MessageSink, Phase, Queued, Recipient,
    ReplyRecipient, ReplySender, RequestSink, SendError, StopReason, TrySendError,
};
use mycelium_codec::WireMessage;

/// `service` as a typed address for the contract message `M`, for tells. `label` names the
/// actor in errors (`"Python actor trading_desk.strategy:Momentum"`).
pub fn typed_recipient<M>(bus: &Bus, service: Arc<dyn ByteService>, label: &str) -> Recipient<M>
where
    M: WireMessage + Send + 'static,
{
    Recipient::new(Arc::new(Typed::<M, ()>::new(bus, service, label)))
}

/// `service` as a typed request/reply address: requests `M`, replies `R` (contract messages
/// both). `label` names the actor in errors.
pub fn typed_reply_recipient<M, R>(
    bus: &Bus,
    service: Arc<dyn ByteService>,
    label: &str,
) -> ReplyRecipient<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    ReplyRecipient::new(Arc::new(Typed::<M, R>::new(bus, service, label)))
}

/// The sink behind both: encodes `M` for the byte service, decodes `R` from its replies.
struct Typed<M, R> {
    service: Arc<dyn ByteService>,
    bus: Bus,
    label: Arc<str>,
    _types: PhantomData<fn(M) -> R>,
}

impl<M: WireMessage, R> Typed<M, R> {
    fn new(bus: &Bus, service: Arc<dyn ByteService>, label: &str) -> Self {
        Typed {
            service,
            bus: bus.clone(),
            label: Arc::from(label),
            _types: PhantomData,
        }
    }

    fn body(msg: &M) -> Vec<u8> {
        let mut body = Vec::new();
        msg.encode_body(&mut body);
        body
    }
}

impl<M, R> MessageSink<M> for Typed<M, R>
where
    M: WireMessage + Send + 'static,
    R: Send + 'static,
{
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        match self.service.try_tell(M::TYPE_ID, &Self::body(&msg)) {
            Ok(()) => Ok(()),
            Err(ByteRefusal::Full) => Err(TrySendError::Full(msg)),
            Err(ByteRefusal::Stopped) => Err(TrySendError::Closed(msg)),
        }
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        let telling = self.service.tell(M::TYPE_ID, &Self::body(&msg));
        Box::pin(async move { telling.await.map_err(|_| SendError(msg)) })
    }

    fn id(&self) -> ActorId {
        self.service.id()
    }

    fn is_alive(&self) -> bool {
        self.service.is_alive()
    }
}

impl<M, R> RequestSink<M, R> for Typed<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    fn send_request(&self, msg: M, reply: ReplySender<R>) -> Queued<'_, M> {
        let body = Self::body(&msg);
        let mut asking = self.service.ask(M::TYPE_ID, &body, None);
        // Polled once here, in the bus runtime: a request that finds room is queued before
        // this returns, so a tell sent after it cannot overtake it.
        let first = {
            let _runtime = self.bus.runtime().enter();
            asking
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()))
        };
        let answer = Answer::<M, R> {
            label: self.label.clone(),
            node: self.service.id().node(),
            body,
            _types: PhantomData,
        };
        match first {
            // Refused before it was queued: the asker has it back.
            Poll::Ready(Err(AskError::Closed(()))) => Queued::Ready(Err(SendError(msg))),
            Poll::Ready(replied) => {
                answer.give(replied, reply);
                Queued::Ready(Ok(()))
            }
            Poll::Pending => {
                self.bus.runtime().spawn(async move {
                    answer.give(asking.await, reply);
                });
                Queued::Ready(Ok(()))
            }
        }
    }

    fn clock(&self) -> &Clock {
        self.bus.clock()
    }

    /// The reply slot is dropped unanswered only with the task that waits for the answer,
    /// when the bus runtime shuts down, which stops the actor too.
    fn unanswered(&self) -> AskError<M> {
        AskError::Stopped(StopReason::Shutdown)
    }
}

/// What an ask's asker is answered with, from the byte service's reply.
struct Answer<M, R> {
    label: Arc<str>,
    node: mycelium_actors::NodeId,
    /// The request, to hand back if it turns out it was never queued.
    body: Vec<u8>,
    _types: PhantomData<fn(M) -> R>,
}

impl<M, R> Answer<M, R>
where
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    fn give(self, replied: ByteReply, reply: ReplySender<R>) {
        let wrong = |what: String| {
            Failure::from_error(
                Phase::Message(M::NAME),
                format!(
                    "{} answered {} with {what}, not {} (type id {}): its handler returns \
                     another message than the asker expects",
                    self.label,
                    M::NAME,
                    R::NAME,
                    R::TYPE_ID
                ),
            )
        };
        match replied {
            Ok((type_id, body)) if type_id == R::TYPE_ID => match R::decode_body(&body) {
                Ok(r) => {
                    // The asker may have given up (a timeout): the reply goes nowhere.
                    let _ = reply.send(r);
                }
                Err(e) => reply.failed(wrong(format!("a body that does not decode ({e})"))),
            },
            Ok((type_id, _)) => reply.failed(wrong(format!("type id {type_id}"))),
            Err(AskError::Failed(failure)) => reply.failed(failure),
            Err(AskError::Stopped(reason)) => reply.stopped(reason),
            Err(AskError::Closed(())) => match M::decode_body(&self.body) {
                Ok(request) => reply.unsent(self.node, request),
                // Never: the body was encoded from an `M` here.
                Err(e) => reply.failed(Failure::from_error(
                    Phase::Message(M::NAME),
                    format!(
                        "{} was not reached, and the request did not decode again: {e}",
                        self.label
                    ),
                )),
            },
            Err(AskError::Lost { node, reason }) => reply.lost(node, reason),
            // Never: the service is asked without a timeout (the asker keeps its own).
            Err(AskError::Timeout(after)) => reply.failed(Failure::from_error(
                Phase::Message(M::NAME),
                format!("{} gave no reply within {after:?}", self.label),
            )),
        }
    }
}

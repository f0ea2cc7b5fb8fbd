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
use std::task::{Context, Poll};

use mycelium_actors::{
    ActorId, AskError, BoxFuture, Clock, MessageSink, Placed, Queued, Recipient, ReplyRecipient,
    ReplySender, RequestSink, SendError, TrySendError,
};
use mycelium_codec::WireMessage;

use crate::error::{RemoteAskError, SendError as LinkSendError};
use crate::frame::Kind;
use crate::link::{Asker, Link, ReplyBody, ReplyTo};

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

    /// Sends `msg` as a tell, waiting for room in the link's queue, and returns its sequence
    /// number on the link: a loss report that covers it names that number
    /// ([`LostMessage::seq`](crate::LostMessage::seq), with `M`'s type id and name and this
    /// service), so the caller can tell which of its typed sends were lost. The same frame a
    /// [`Recipient`] made from this address (or a clone of it) sends, in the same order on
    /// the same link: send the tells a caller must account for here, and hand the
    /// `Recipient` to code that needs only the actors' interface.
    pub async fn tell_numbered(&self, msg: &M) -> Result<u64, LinkSendError> {
        self.link
            .send_named(Kind::Tell, &self.service, M::TYPE_ID, M::NAME, |out| {
                msg.encode_body(out)
            })
            .await
            .inspect_err(|e| refused(&self.link, &self.service, M::NAME, e))
    }

    /// Sends `msg` as a tell if the link's queue has room, and returns its sequence number on
    /// the link, as [`tell_numbered`](Self::tell_numbered) does; otherwise hands it back
    /// with the reason (a full queue is not logged: the caller decides).
    pub fn try_tell_numbered(&self, msg: M) -> Result<u64, (M, LinkSendError)> {
        match self
            .link
            .try_send_named(Kind::Tell, &self.service, M::TYPE_ID, M::NAME, |out| {
                msg.encode_body(out)
            }) {
            Ok(seq) => Ok(seq),
            Err(e) => {
                if !matches!(e, LinkSendError::Full) {
                    refused(&self.link, &self.service, M::NAME, &e);
                }
                Err((msg, e))
            }
        }
    }
}

impl<M, R> Clone for RemoteActor<M, R> {
    fn clone(&self) -> Self {
        RemoteActor {
            link: self.link.clone(),
            service: self.service.clone(),
            id: self.id,
            _types: PhantomData,
        }
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
        let reply_to = ReplyTo::Asker(Box::new(Answer::<M, R> {
            node: self.link.node_id(),
            reply,
            request: PhantomData,
        }));
        match self.link.try_ask_to(
            &self.service,
            M::TYPE_ID,
            M::NAME,
            |out| msg.encode_body(out),
            reply_to,
        ) {
            Ok(_) => Queued::Ready(Ok(())),
            Err((LinkSendError::Full, reply_to)) => {
                let mut body = Vec::new();
                msg.encode_body(&mut body);
                Queued::Waiting(Box::pin(async move {
                    let sent = self
                        .link
                        .ask_to(
                            &self.service,
                            M::TYPE_ID,
                            M::NAME,
                            |out| out.extend_from_slice(&body),
                            reply_to,
                        )
                        .await;
                    match sent {
                        Ok(_) => Ok(()),
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

    /// In spin mode, reads the link for the answer ([`Link`]'s read side, `read.rs`).
    fn read_answer(&self, answered: &dyn Fn() -> bool) {
        self.link.inner.read_for_answer(answered);
    }

    /// The ask's answer waits in its entry of the link's asks in flight, with no reply
    /// channel: the asker decodes it from the frame when it reads the reply itself (spin
    /// mode), or takes it from its entry, where a reader copied it.
    fn ask_placed(&self, msg: M) -> Placed<M> {
        match self
            .link
            .try_ask_in_place(&self.service, M::TYPE_ID, M::NAME, |out| {
                msg.encode_body(out)
            }) {
            Ok(corr) => Placed::Sent(corr),
            // Waits for room with a reply channel (`send_request`).
            Err(LinkSendError::Full) => Placed::Declined(msg),
            Err(e) => {
                refused(&self.link, &self.service, M::NAME, &e);
                Placed::Closed(msg)
            }
        }
    }

    fn read_placed(&self, ticket: u64) -> Option<Result<R, AskError<M>>> {
        let node = self.link.node_id();
        let mut answer = None;
        self.link.read_in_place(ticket, &mut |result| {
            answer = Some(answer_of::<M, R>(node, result));
        });
        answer
    }

    fn poll_placed(&self, ticket: u64, cx: &mut Context<'_>) -> Poll<Result<R, AskError<M>>> {
        let node = self.link.node_id();
        self.link
            .poll_in_place(ticket, cx)
            .map(|answer| match answer {
                Some(Ok((type_id, body))) => answer_of::<M, R>(node, Ok((type_id, &body))),
                Some(Err(e)) => answer_of::<M, R>(node, Err(e)),
                None => Err(AskError::Lost {
                    node,
                    reason: "the ask left the link's asks in flight unanswered".into(),
                }),
            })
    }

    fn forget_placed(&self, ticket: u64) {
        self.link.forget_ask(ticket);
    }
}

/// What an ask of `node` gets from its reply frame (or the reason there is none): the
/// reply decoded as `R`, or a lost answer saying why, or the request itself when the link
/// closed before sending it.
fn answer_of<M: WireMessage, R: WireMessage>(
    node: mycelium_actors::NodeId,
    result: Result<ReplyBody<'_>, RemoteAskError>,
) -> Result<R, AskError<M>> {
    let lost = |reason: String| AskError::Lost { node, reason };
    match result {
        Ok((type_id, body)) if type_id == R::TYPE_ID => R::decode_body(body)
            .map_err(|e| lost(format!("the reply does not decode as {}: {e}", R::NAME))),
        Ok((type_id, _)) => Err(lost(format!(
            "the reply has type id {type_id}, not {} ({})",
            R::TYPE_ID,
            R::NAME
        ))),
        // Never sent: the asker has its request back (`AskError::Closed`).
        Err(RemoteAskError::Unsent { error, request }) => match M::decode_body(&request) {
            Ok(request) => Err(AskError::Closed(request)),
            Err(e) => Err(lost(format!(
                "{error}; the request was not sent, but its body does not decode as {} again: {e}",
                M::NAME
            ))),
        },
        // `AskError::Lost` says itself that the request may have been handled.
        Err(RemoteAskError::LinkDown { peer, reason }) => Err(lost(format!(
            "the link to {peer} went down while the ask was in flight: {reason}"
        ))),
        Err(e) => Err(lost(e.to_string())),
    }
}

/// Routes a reply frame to the asker through its [`ReplySender`] ([`answer_of`]).
struct Answer<M, R> {
    node: mycelium_actors::NodeId,
    reply: ReplySender<R>,
    request: PhantomData<fn() -> M>,
}

impl<M: WireMessage + Send + 'static, R: WireMessage + Send + 'static> Asker for Answer<M, R> {
    fn answer(self: Box<Self>, result: Result<ReplyBody<'_>, RemoteAskError>) {
        let Answer { node, reply, .. } = *self;
        match answer_of::<M, R>(node, result) {
            // The asker may have given up (timeout): nothing to do then.
            Ok(r) => {
                let _ = reply.send(r);
            }
            Err(AskError::Closed(request)) => reply.unsent(node, request),
            Err(AskError::Lost { node, reason }) => reply.lost(node, reason),
            Err(e) => reply.lost(node, e.to_string()),
        }
    }

    /// The asker timed out or dropped its future: its ask can leave the asks in flight.
    fn gone(&self) -> bool {
        self.reply.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use mycelium_actors::{AskError, Bus, NodeId};
    use mycelium_codec::read::Reader;
    use mycelium_codec::{DecodeError, WireStruct};

    use super::*;

    /// A message whose body is its number, eight bytes.
    #[derive(Debug, PartialEq)]
    struct Num(u64);

    impl WireStruct for Num {
        const NAME: &'static str = "Num";
        fn encode_fields(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
        }
        fn decode_fields(mut r: Reader<'_>) -> Result<Self, DecodeError> {
            let n = Num(u64::from_le_bytes(r.take_array()?));
            match r.remaining() {
                0 => Ok(n),
                count => Err(DecodeError::TrailingBytes { count }),
            }
        }
    }

    impl WireMessage for Num {
        const TYPE_ID: u16 = 1;
        const TOPIC: &'static str = "num";
    }

    /// A message whose body never decodes again (a codec that does not round-trip).
    #[derive(Debug)]
    struct OneWay;

    impl WireStruct for OneWay {
        const NAME: &'static str = "OneWay";
        fn encode_fields(&self, out: &mut Vec<u8>) {
            out.push(0);
        }
        fn decode_fields(r: Reader<'_>) -> Result<Self, DecodeError> {
            Err(DecodeError::Truncated {
                offset: 0,
                needed: 2,
                available: r.remaining(),
            })
        }
    }

    impl WireMessage for OneWay {
        const TYPE_ID: u16 = 2;
        const TOPIC: &'static str = "one-way";
    }

    const PEER: NodeId = NodeId::new(7);

    /// What the link hands the reply slot, made from the request's encoded body.
    type Outcome = fn(Vec<u8>) -> Result<(u16, Vec<u8>), RemoteAskError>;

    /// A sink that answers each request at once, through [`answer`], with `outcome`.
    struct Answers<M> {
        outcome: Outcome,
        clock: Clock,
        _m: PhantomData<fn(M)>,
    }

    impl<M: WireMessage + Send + 'static> MessageSink<M> for Answers<M> {
        fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
            Err(TrySendError::Closed(msg))
        }
        fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
            Box::pin(async move { Err(SendError(msg)) })
        }
        fn id(&self) -> ActorId {
            ActorId::new(PEER, 0)
        }
        fn is_alive(&self) -> bool {
            true
        }
    }

    impl<M: WireMessage + Send + 'static> RequestSink<M, Num> for Answers<M> {
        fn send_request(&self, msg: M, reply: ReplySender<Num>) -> Queued<'_, M> {
            let mut body = Vec::new();
            msg.encode_body(&mut body);
            let answer = Box::new(Answer::<M, Num> {
                node: PEER,
                reply,
                request: PhantomData,
            });
            match (self.outcome)(body) {
                Ok((type_id, body)) => answer.answer(Ok((type_id, &body))),
                Err(e) => answer.answer(Err(e)),
            }
            Queued::Ready(Ok(()))
        }
        fn clock(&self) -> &Clock {
            &self.clock
        }
    }

    async fn ask<M: WireMessage + Send + 'static>(
        msg: M,
        outcome: Outcome,
    ) -> Result<Num, AskError<M>> {
        let bus = Bus::new();
        let sink = Answers {
            outcome,
            clock: bus.clock().clone(),
            _m: PhantomData,
        };
        ReplyRecipient::new(Arc::new(sink)).ask(msg).await
    }

    fn lost_reason<M: std::fmt::Debug>(result: Result<Num, AskError<M>>) -> String {
        match result {
            Err(AskError::Lost { node, reason }) => {
                assert_eq!(node, PEER);
                reason
            }
            other => panic!("expected a lost answer, got {other:?}"),
        }
    }

    fn closed() -> LinkSendError {
        LinkSendError::Closed {
            peer: "b".into(),
            reason: "gave up".into(),
        }
    }

    #[tokio::test]
    async fn a_reply_of_the_right_type_reaches_the_asker() {
        let reply = ask(Num(1), |_| Ok((Num::TYPE_ID, 9u64.to_le_bytes().to_vec()))).await;
        assert_eq!(reply.unwrap(), Num(9));
    }

    #[tokio::test]
    async fn a_reply_that_does_not_decode_is_a_lost_answer_saying_so() {
        let reason = lost_reason(ask(Num(1), |_| Ok((Num::TYPE_ID, vec![1, 2, 3]))).await);
        assert!(
            reason.starts_with("the reply does not decode as Num: "),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_reply_of_another_type_is_a_lost_answer_naming_both_types() {
        let reason = lost_reason(ask(Num(1), |_| Ok((OneWay::TYPE_ID, vec![0]))).await);
        assert_eq!(reason, "the reply has type id 2, not 1 (Num)");
    }

    #[tokio::test]
    async fn an_unsent_request_comes_back_to_the_asker() {
        let back = ask(Num(5), |request| {
            Err(RemoteAskError::Unsent {
                error: closed(),
                request,
            })
        })
        .await;
        match back {
            Err(AskError::Closed(Num(5))) => {}
            other => panic!("expected the request back, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unsent_request_that_does_not_decode_again_is_a_lost_answer_saying_why() {
        let reason = lost_reason(
            ask(OneWay, |request| {
                Err(RemoteAskError::Unsent {
                    error: closed(),
                    request,
                })
            })
            .await,
        );
        assert!(
            reason.contains(
                "the request was not sent, but its body does not decode as OneWay again: "
            ),
            "{reason}"
        );
        assert!(reason.starts_with(&closed().to_string()), "{reason}");
    }

    #[tokio::test]
    async fn a_link_down_in_flight_is_a_lost_answer_naming_the_peer() {
        let reason = lost_reason(
            ask(Num(1), |_| {
                Err(RemoteAskError::LinkDown {
                    peer: "b".into(),
                    reason: "connection reset".into(),
                })
            })
            .await,
        );
        assert_eq!(
            reason,
            "the link to b went down while the ask was in flight: connection reset"
        );
    }

    #[tokio::test]
    async fn a_remote_handler_failure_is_a_lost_answer_with_the_peers_words() {
        let reason = lost_reason(
            ask(Num(1), |_| {
                Err(RemoteAskError::Failed("handler panicked: boom".into()))
            })
            .await,
        );
        assert_eq!(reason, "the remote handler failed: handler panicked: boom");
    }
}

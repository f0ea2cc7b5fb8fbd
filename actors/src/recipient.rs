//! `Recipient<M>`: an address that needs only the message type.

use std::fmt;
use std::sync::Arc;

use crate::envelope::BoxFuture;
use crate::error::{SendError, TrySendError};
use crate::shared::Shared;
use crate::{ActorId, Handler, Receipt};

/// Anything that accepts messages of type `M`: a local actor, or a proxy for one in another
/// process. Implement it to put a remote mailbox behind a [`Recipient`] (and
/// [`RequestSink`](crate::RequestSink) for asks, behind a
/// [`ReplyRecipient`](crate::ReplyRecipient)).
///
/// The error contract every implementation keeps: while a message is still in this process, a
/// refusal hands it back ([`TrySendError::Full`], [`TrySendError::Closed`], [`SendError`]).
/// Once it has left for another process it cannot come back; if it is lost after that (the
/// link dropped and could not resend, the peer restarted), the link reports it as a delivery
/// report — an event naming the lost messages, and a dead letter for each
/// ([`DeadLetterReason::Lost`](crate::DeadLetterReason::Lost), posted with
/// [`DeadLetters::post`](crate::DeadLetters::post)) — never silently.
pub trait MessageSink<M>: Send + Sync + 'static {
    /// Queues `msg` without waiting; hands it back on a full or closed mailbox.
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>>;
    /// Queues `msg`, waiting for room.
    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>>;
    /// Queues every message of `msgs`, in order, waiting for room; on a closed mailbox hands
    /// back the messages not yet queued, in order. The default sends them one by one; a local
    /// actor takes its mailbox's lock once per run of messages that fits.
    fn tell_many(&self, msgs: Vec<M>) -> BoxFuture<'_, Result<(), SendError<Vec<M>>>>
    where
        M: Send + 'static,
    {
        Box::pin(async move {
            let mut rest = msgs.into_iter();
            while let Some(msg) = rest.next() {
                if let Err(SendError(msg)) = self.tell(msg).await {
                    let mut back = vec![msg];
                    back.extend(rest);
                    return Err(SendError(back));
                }
            }
            Ok(())
        })
    }
    /// [`try_tell`](Self::try_tell) of a message delivered by a link, with the receipt to
    /// sign once its handler has run ([`Receipt`]). A refusal hands back the message
    /// and leaves the receipt unsigned. By default the receipt is signed once the message is
    /// taken: right for a sink that passes it on to another process, whose own link then
    /// answers for it.
    fn try_tell_receipted(&self, msg: M, receipt: Receipt) -> Result<(), TrySendError<M>> {
        let told = self.try_tell(msg);
        match &told {
            Ok(()) => receipt.sign(),
            Err(_) => receipt.forget(),
        }
        told
    }
    /// [`try_tell_receipted`](Self::try_tell_receipted), waiting for room.
    fn tell_receipted(&self, msg: M, receipt: Receipt) -> BoxFuture<'_, Result<(), SendError<M>>>
    where
        M: Send + 'static,
    {
        Box::pin(async move {
            let told = self.tell(msg).await;
            match &told {
                Ok(()) => receipt.sign(),
                Err(_) => receipt.forget(),
            }
            told
        })
    }
    /// The receiving actor's id.
    fn id(&self) -> ActorId;
    /// False once the receiver has stopped for good.
    fn is_alive(&self) -> bool;
}

impl<A, M> MessageSink<M> for Shared<A>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        self.try_tell_msg(msg)
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        Box::pin(self.tell_msg(msg))
    }

    fn tell_many(&self, msgs: Vec<M>) -> BoxFuture<'_, Result<(), SendError<Vec<M>>>> {
        Box::pin(self.tell_many_msgs(msgs))
    }

    fn try_tell_receipted(&self, msg: M, receipt: Receipt) -> Result<(), TrySendError<M>> {
        Shared::try_tell_receipted(self, msg, receipt).map_err(unreceipted)
    }

    fn tell_receipted(&self, msg: M, receipt: Receipt) -> BoxFuture<'_, Result<(), SendError<M>>> {
        Box::pin(async move {
            Shared::tell_receipted(self, msg, receipt)
                .await
                .map_err(|SendError((msg, receipt))| {
                    receipt.forget();
                    SendError(msg)
                })
        })
    }

    fn id(&self) -> ActorId {
        Shared::id(self)
    }

    fn is_alive(&self) -> bool {
        Shared::stop_reason(self).is_none()
    }
}

/// A type-erased address for messages of type `M`: a local actor or, behind a proxy, one in
/// another process; the caller does not change when the actor moves. For asks, see
/// [`ReplyRecipient`](crate::ReplyRecipient).
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, Recipient};
///
/// struct Log(Vec<String>);
/// impl Actor for Log {
///     type Args = ();
///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Log(vec![])) }
/// }
/// impl Handler<String> for Log {
///     type Reply = ();
///     async fn handle(&mut self, line: String, _ctx: &mut Context<Self>) { self.0.push(line) }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let sink: Recipient<String> = bus.spawn::<Log>(()).recipient();
/// sink.tell("hello".to_string()).await.unwrap();
/// # });
/// ```
pub struct Recipient<M> {
    sink: Arc<dyn MessageSink<M>>,
}

impl<M> Clone for Recipient<M> {
    fn clone(&self) -> Self {
        Recipient {
            sink: self.sink.clone(),
        }
    }
}

impl<M: 'static> fmt::Debug for Recipient<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.sink.id())
    }
}

impl<M: Send + 'static> Recipient<M> {
    /// Wraps any sink, local or remote.
    pub fn new(sink: Arc<dyn MessageSink<M>>) -> Self {
        Recipient { sink }
    }

    /// The sink, for a delivery that is no actor's send (a subscription's: the recorded
    /// publisher's report is its publication).
    pub(crate) fn sink(&self) -> &dyn MessageSink<M> {
        &*self.sink
    }

    /// Sends `msg`, waiting for room.
    pub async fn tell(&self, msg: M) -> Result<(), SendError<M>> {
        if crate::recording::told(|| self.id(), &msg).is_some() {
            return Err(SendError(msg));
        }
        let told = match self.sink.try_tell(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(m)) => Err(SendError(m)),
            Err(TrySendError::Full(m)) => self.sink.tell(m).await,
        };
        crate::recording::tell_returned(|| self.id(), &told);
        told
    }

    /// Sends `msg` without waiting.
    pub fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        let msg = crate::recording::try_told(|| self.id(), msg)?;
        let told = self.sink.try_tell(msg);
        crate::recording::try_tell_returned(|| self.id(), &told);
        told
    }

    /// [`try_tell`](Self::try_tell) with a [`Receipt`], signed once the message's handler has
    /// run; a refusal leaves it unsigned (what a link uses to acknowledge a message
    /// only once it is handled).
    pub fn try_tell_receipted(&self, msg: M, receipt: Receipt) -> Result<(), TrySendError<M>> {
        let msg = crate::recording::try_told(|| self.id(), msg)?;
        let told = self.sink.try_tell_receipted(msg, receipt);
        crate::recording::try_tell_returned(|| self.id(), &told);
        told
    }

    /// [`try_tell_receipted`](Self::try_tell_receipted), waiting for room.
    pub async fn tell_receipted(&self, msg: M, receipt: Receipt) -> Result<(), SendError<M>>
    where
        M: Send + 'static,
    {
        if crate::recording::told(|| self.id(), &msg).is_some() {
            return Err(SendError(msg));
        }
        let told = self.sink.tell_receipted(msg, receipt).await;
        crate::recording::tell_returned(|| self.id(), &told);
        told
    }

    /// The receiving actor's id.
    pub fn id(&self) -> ActorId {
        self.sink.id()
    }

    /// False once the receiver has stopped for good.
    pub fn is_alive(&self) -> bool {
        self.sink.is_alive()
    }
}

/// A refusal of a receipted tell, as the refusal of its message: the receipt is left unsigned.
pub(crate) fn unreceipted<M>(e: TrySendError<(M, Receipt)>) -> TrySendError<M> {
    match e {
        TrySendError::Full((msg, receipt)) => {
            receipt.forget();
            TrySendError::Full(msg)
        }
        TrySendError::Closed((msg, receipt)) => {
            receipt.forget();
            TrySendError::Closed(msg)
        }
    }
}

//! Topics for foreign code: publishing contract messages given as bytes, and subscribing a
//! foreign actor to contract topics that Rust actors publish on as typed messages.
//!
//! A publication from a foreign language becomes a typed publish, so a Rust actor subscribed
//! to `Published<Quote>` receives it like any other; a foreign actor's subscription encodes
//! each typed publication with the contract codec and tells it to the actor. Both need the
//! Rust type behind a type id: the contract types of `mycelium-contracts`, listed in
//! [`CONTRACT_TYPE_IDS`].

use std::marker::PhantomData;
use std::sync::Arc;

use mycelium_actors::export::{ByteRefusal, ByteService, DeliveryError};
use mycelium_actors::{
    ActorId, BoxFuture, Bus, MessageSink, PublishReport, Published, Recipient, SendError,
    SubscribeOptions, Subscription, TopicError, TrySendError,
};
use mycelium_codec::WireMessage;
use mycelium_contracts as c;

/// The type ids of the contract messages a foreign language can publish and subscribe to.
pub const CONTRACT_TYPE_IDS: [u16; 10] = [
    c::Quote::TYPE_ID,
    c::BookSnapshot::TYPE_ID,
    c::Trade::TYPE_ID,
    c::NewOrder::TYPE_ID,
    c::CancelOrder::TYPE_ID,
    c::OrderAck::TYPE_ID,
    c::OrderFill::TYPE_ID,
    c::OrderReject::TYPE_ID,
    c::Heartbeat::TYPE_ID,
    c::Telemetry::TYPE_ID,
];

/// Something done with the Rust contract type behind a type id, for code that holds only
/// the id (a foreign language's message): [`visit_contract`] calls `visit::<M>` with `M` the
/// contract type of that id.
///
/// ```
/// use mycelium_codec::WireMessage;
/// use mycelium_contracts::Quote;
/// use mycelium_foreign::{visit_contract, ContractVisitor};
///
/// struct Name;
/// impl ContractVisitor for Name {
///     type Out = &'static str;
///     fn visit<M: WireMessage + Send + Sync + 'static>(self) -> &'static str {
///         M::NAME
///     }
/// }
/// assert_eq!(visit_contract(Quote::TYPE_ID, Name), Some("Quote"));
/// assert_eq!(visit_contract(0, Name), None);
/// ```
pub trait ContractVisitor {
    /// What the visit returns.
    type Out;
    /// Called with `M`, the contract type of the visited id.
    fn visit<M: WireMessage + Send + Sync + 'static>(self) -> Self::Out;
}

/// Runs `v` with the contract type of `type_id`; `None` when the id names no contract
/// message (one of [`CONTRACT_TYPE_IDS`]).
pub fn visit_contract<V: ContractVisitor>(type_id: u16, v: V) -> Option<V::Out> {
    Some(match type_id {
        c::Quote::TYPE_ID => v.visit::<c::Quote>(),
        c::BookSnapshot::TYPE_ID => v.visit::<c::BookSnapshot>(),
        c::Trade::TYPE_ID => v.visit::<c::Trade>(),
        c::NewOrder::TYPE_ID => v.visit::<c::NewOrder>(),
        c::CancelOrder::TYPE_ID => v.visit::<c::CancelOrder>(),
        c::OrderAck::TYPE_ID => v.visit::<c::OrderAck>(),
        c::OrderFill::TYPE_ID => v.visit::<c::OrderFill>(),
        c::OrderReject::TYPE_ID => v.visit::<c::OrderReject>(),
        c::Heartbeat::TYPE_ID => v.visit::<c::Heartbeat>(),
        c::Telemetry::TYPE_ID => v.visit::<c::Telemetry>(),
        _ => return None,
    })
}

/// Why a foreign publish or subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignTopicError {
    /// The type id names no contract message.
    #[error("type id {0} is not a contract message (known: {CONTRACT_TYPE_IDS:?})")]
    UnknownType(u16),
    /// The topic name or pattern breaks the grammar.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The publication was not delivered (a body that does not decode, ...).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// A subscription to other nodes' publications could not be queued on a link.
    #[error(transparent)]
    Link(#[from] mycelium_remote::SendError),
}

struct ExportTopic<'a>(&'a Bus);

impl ContractVisitor for ExportTopic<'_> {
    type Out = ();
    fn visit<M: WireMessage + Send + Sync + 'static>(self) {
        // Already exported (by an earlier call, or by a link) is what we want.
        let _ = self.0.exports().export_topic::<M>();
    }
}

/// Publishes the contract message `type_id` with `body` on `bus` under `topic`, as the typed
/// message, so Rust subscribers receive it. Waits for `Block` subscribers with full queues.
pub async fn publish_bytes(
    bus: &Bus,
    type_id: u16,
    topic: &str,
    key: Option<u64>,
    body: &[u8],
) -> Result<PublishReport, ForeignTopicError> {
    visit_contract(type_id, ExportTopic(bus)).ok_or(ForeignTopicError::UnknownType(type_id))?;
    crate::recording::report_published(topic, type_id, body);
    Ok(bus.exports().publish(type_id, topic, key, body).await?)
}

/// A typed subscriber that encodes each publication for a byte service.
struct Encoding<M> {
    to: Arc<dyn ByteService>,
    _message: PhantomData<fn(M)>,
}

/// Encodes `msg` into this thread's reused buffer and lends it to `f` (the service copies
/// what it keeps): a publication to a foreign subscriber costs no allocation for its
/// encoding, and no growth of a fresh buffer field by field.
fn with_body<M: WireMessage, R>(msg: &M, f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BODY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut body) => {
            body.clear();
            msg.encode_body(&mut body);
            f(&body)
        }
        // Reentered (a service that publishes from within `f`): a buffer of its own.
        Err(_) => {
            let mut body = Vec::new();
            msg.encode_body(&mut body);
            f(&body)
        }
    })
}

impl<M: WireMessage + Send + Sync + 'static> MessageSink<Published<M>> for Encoding<M> {
    fn try_tell(&self, msg: Published<M>) -> Result<(), TrySendError<Published<M>>> {
        match with_body(msg.msg(), |body| self.to.try_tell(M::TYPE_ID, body)) {
            Ok(()) => Ok(()),
            Err(ByteRefusal::Full) => Err(TrySendError::Full(msg)),
            Err(ByteRefusal::Stopped) => Err(TrySendError::Closed(msg)),
        }
    }

    fn tell(&self, msg: Published<M>) -> BoxFuture<'_, Result<(), SendError<Published<M>>>> {
        let sending = with_body(msg.msg(), |body| self.to.tell(M::TYPE_ID, body));
        Box::pin(async move { sending.await.map_err(|_| SendError(msg)) })
    }

    fn id(&self) -> ActorId {
        self.to.id()
    }

    fn is_alive(&self) -> bool {
        self.to.is_alive()
    }
}

struct Subscribe<'a> {
    bus: &'a Bus,
    pattern: &'a str,
    options: SubscribeOptions,
    to: Arc<dyn ByteService>,
}

impl ContractVisitor for Subscribe<'_> {
    type Out = Result<Subscription, TopicError>;
    fn visit<M: WireMessage + Send + Sync + 'static>(self) -> Self::Out {
        let sink = Encoding::<M> {
            to: self.to,
            _message: PhantomData,
        };
        self.bus.subscribe_recipient::<M>(
            Recipient::new(Arc::new(sink)),
            self.pattern,
            self.options,
        )
    }
}

/// Subscribes `to` (a foreign actor's [`ForeignRef`](crate::ForeignRef)) to the contract
/// message `type_id` published under `pattern`: each publication is encoded and told to it.
/// The subscription ends with [`Subscription::cancel`].
pub fn subscribe_bytes(
    bus: &Bus,
    type_id: u16,
    pattern: &str,
    options: SubscribeOptions,
    to: Arc<dyn ByteService>,
) -> Result<Subscription, ForeignTopicError> {
    let subscribe = Subscribe {
        bus,
        pattern,
        options,
        to: Arc::new(crate::recording::Delivering(to)),
    };
    Ok(visit_contract(type_id, subscribe).ok_or(ForeignTopicError::UnknownType(type_id))??)
}

/// A message of a schema that has no Rust types in this process (a user's schema that only
/// foreign code speaks): its type id and encoded body. [`publish_schema_bytes`] publishes it
/// and [`subscribe_schema_bytes`] delivers it, as this type on the bus's topics: foreign
/// actors of one bus exchange any schema's messages by topic, with no Rust type behind them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaMessage {
    /// The type id in its schema.
    pub type_id: u16,
    /// The encoded body, shared by every subscriber.
    pub body: Arc<[u8]>,
}

/// Publishes the message `type_id` of a schema without Rust types in the bindings, with
/// `body`, on `bus` under `topic`, for [`subscribe_schema_bytes`] subscribers. Waits for
/// `Block` subscribers with full queues.
///
/// Rust subscribers: when the program has the schema's Rust types (generated from the same
/// schema file) and the bus exports `type_id` as a topic type
/// ([`Exports::export_topic`](mycelium_actors::export::Exports::export_topic), as a link does
/// for other nodes' publications), the message is also published as that Rust type, so a
/// Rust actor subscribed to it receives it like any other publication (a body that does not
/// decode as it is then refused, with nothing published). The report counts both kinds of
/// subscriber; among schema-message subscriptions, every one whose pattern matches `topic`,
/// also those that take another type id on the same topic name.
///
/// ```
/// use mycelium_actors::{Bus, SubscribeOptions};
/// use mycelium_codec::WireMessage;
/// use mycelium_contracts::Heartbeat;
/// use mycelium_foreign::publish_schema_bytes;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// // A Rust subscriber, and the bus told which Rust type the schema's id 900 is.
/// let mut beats = bus.subscribe_stream::<Heartbeat>("sys.heartbeat", SubscribeOptions::new()).unwrap();
/// bus.exports().export_topic::<Heartbeat>().unwrap();
/// // What a Python or OCaml actor's publication does with the body its codec made.
/// let mut body = Vec::new();
/// Heartbeat { ts_ns: 1, seq: 7, sender: "model".into() }.encode_body(&mut body);
/// let report = publish_schema_bytes(&bus, Heartbeat::TYPE_ID, "sys.heartbeat", None, &body).await.unwrap();
/// assert_eq!(report.delivered, 1);
/// assert_eq!(beats.recv().await.unwrap().msg().seq, 7);
/// # });
/// ```
pub async fn publish_schema_bytes(
    bus: &Bus,
    type_id: u16,
    topic: &str,
    key: Option<u64>,
    body: &[u8],
) -> Result<PublishReport, ForeignTopicError> {
    // First as the Rust type, if there is one: a body it refuses publishes nothing (and is
    // not recorded as published).
    let typed = match bus.exports().publish(type_id, topic, key, body).await {
        Ok(report) => Some(report),
        Err(DeliveryError::UnknownTopicType { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let msg = SchemaMessage {
        type_id,
        body: Arc::from(body),
    };
    let published = match key {
        Some(key) => bus.publish_keyed(topic, key, msg).await,
        None => bus.publish(topic, msg).await,
    };
    // Recorded once published, as the Rust type or as a schema message: what a recorded
    // foreign actor's handler published, never what was refused.
    if typed.is_some() || published.is_ok() {
        crate::recording::report_published(topic, type_id, body);
    }
    let report = published?;
    Ok(match typed {
        Some(typed) => PublishReport {
            matched: report.matched + typed.matched,
            delivered: report.delivered + typed.delivered,
            dropped: report.dropped + typed.dropped,
            removed: report.removed + typed.removed,
        },
        None => report,
    })
}

/// A subscriber to schema messages that passes those of one type id to a byte service.
struct OfType {
    type_id: u16,
    to: Arc<dyn ByteService>,
}

impl MessageSink<Published<SchemaMessage>> for OfType {
    fn try_tell(
        &self,
        msg: Published<SchemaMessage>,
    ) -> Result<(), TrySendError<Published<SchemaMessage>>> {
        if msg.msg().type_id != self.type_id {
            return Ok(());
        }
        match self.to.try_tell(self.type_id, &msg.msg().body) {
            Ok(()) => Ok(()),
            Err(ByteRefusal::Full) => Err(TrySendError::Full(msg)),
            Err(ByteRefusal::Stopped) => Err(TrySendError::Closed(msg)),
        }
    }

    fn tell(
        &self,
        msg: Published<SchemaMessage>,
    ) -> BoxFuture<'_, Result<(), SendError<Published<SchemaMessage>>>> {
        if msg.msg().type_id != self.type_id {
            return Box::pin(async { Ok(()) });
        }
        let sending = self.to.tell(self.type_id, &msg.msg().body);
        Box::pin(async move { sending.await.map_err(|_| SendError(msg)) })
    }

    fn id(&self) -> ActorId {
        self.to.id()
    }

    fn is_alive(&self) -> bool {
        self.to.is_alive()
    }
}

/// Subscribes `to` to the schema message `type_id` published with [`publish_schema_bytes`]
/// under `pattern`: each such publication's body is told to it. The subscription ends with
/// [`Subscription::cancel`].
pub fn subscribe_schema_bytes(
    bus: &Bus,
    type_id: u16,
    pattern: &str,
    options: SubscribeOptions,
    to: Arc<dyn ByteService>,
) -> Result<Subscription, ForeignTopicError> {
    let to = Arc::new(crate::recording::Delivering(to));
    let sink = OfType { type_id, to };
    Ok(bus.subscribe_recipient::<SchemaMessage>(
        Recipient::new(Arc::new(sink)),
        pattern,
        options,
    )?)
}

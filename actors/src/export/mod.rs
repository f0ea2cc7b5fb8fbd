//! The export table: how bytes from another process become a typed send on this bus.
//!
//! A link to another process reads frames that carry a service name (or a topic name), a
//! contract type id and the body bytes. [`Exports`], one table per [`Bus`] and never shared
//! between buses, turns them into a typed [`tell`](Recipient::tell), an
//! [`ask`](ReplyRecipient::ask) whose reply is encoded back to bytes, or a
//! [publish](crate::Bus::publish) on this bus. Messages are contract types
//! ([`WireMessage`]); only the types exported here can be reached from outside.
//!
//! ```
//! use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
//! use mycelium_codec::WireMessage;
//! use mycelium_contracts::{CancelOrder, OrderAck};
//!
//! struct Venue;
//! impl Actor for Venue {
//!     type Args = ();
//!     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Venue) }
//! }
//! impl Handler<CancelOrder> for Venue {
//!     type Reply = OrderAck; // a contract type as a reply
//!     async fn handle(&mut self, cancel: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
//!         OrderAck {
//!             client_order_id: cancel.client_order_id,
//!             venue_order_id: format!("V{}", cancel.client_order_id),
//!             ts_ns: cancel.ts_ns,
//!             venue_ts_ns: None,
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let venue = bus.spawn::<Venue>(());
//! bus.exports().export_ask("venue", venue.reply_recipient::<CancelOrder>()).unwrap();
//!
//! // What a link does with an incoming request: (service, type id, body) in, reply out.
//! let mut body = Vec::new();
//! CancelOrder { client_order_id: 77, instrument: 1, ts_ns: 5 }.encode_body(&mut body);
//! let (type_id, reply) = bus.exports().ask("venue", CancelOrder::TYPE_ID, &body).await.unwrap();
//! assert_eq!(type_id, OrderAck::TYPE_ID);
//! assert_eq!(OrderAck::decode_body(&reply).unwrap().venue_order_id, "V77");
//!
//! // A tell; and a service this bus does not export.
//! bus.exports().deliver("venue", CancelOrder::TYPE_ID, &body).await.unwrap();
//! assert!(bus.exports().try_deliver("nobody", CancelOrder::TYPE_ID, &body).is_err());
//! # });
//! ```
//!
//! Lookups go through ordered maps (service names in a `BTreeMap`, type ids in a `BTreeMap`),
//! read from an immutable snapshot that a registration replaces whole. A delivery reads it
//! without a lock and without taking a reference count on it or on the export it finds (an
//! [`ArcSwap`] load), so links on several threads share no cache line to look up a service;
//! it holds nothing of the table while it waits for room in a mailbox.

mod bytes;
mod exported;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use mycelium_codec::WireMessage;

pub use crate::error::{DeliveryError, ExportError};
pub use bytes::{ByteRefusal, ByteReply, ByteService};

use crate::envelope::BoxFuture;
use crate::error::AskError;
use crate::topic::PublishReport;
use crate::{ActorId, Bus, Receipt, Recipient, ReplyRecipient};
use bytes::ByteExport;
use exported::{AskExport, Asked, Exported, ExportedTopic, Refused, TellExport, TopicExport};

/// The reply to a request already in an actor's mailbox ([`Exports::ask_queued`]): the
/// reply's type id and body.
pub type PendingEncodedReply = BoxFuture<'static, Result<(u16, Vec<u8>), DeliveryError>>;

/// The export table of one bus: [`Bus::exports`](crate::Bus::exports). A cheap handle (it
/// holds the bus); clone it into a link's tasks.
///
/// Registration: [`export`](Self::export) (tells), [`export_ask`](Self::export_ask) (tells
/// and asks), [`export_topic`](Self::export_topic) (publications). Delivery, as a link calls
/// it: [`try_deliver`](Self::try_deliver) and [`deliver`](Self::deliver) (tells),
/// [`ask`](Self::ask) and [`ask_timeout`](Self::ask_timeout) (requests),
/// [`publish`](Self::publish) and [`publish_now`](Self::publish_now) (publications).
///
/// A service is a name that takes one or more message types, each by its contract type id;
/// several exports under one name add types to it.
#[derive(Clone)]
pub struct Exports {
    bus: Bus,
}

/// The table itself, held by the bus.
#[derive(Default)]
pub(crate) struct ExportTable {
    /// What deliveries read, each without a lock.
    snapshot: ArcSwap<Snapshot>,
    /// Serialises registrations, each of which stores a changed copy of the snapshot.
    writing: Mutex<()>,
}

#[derive(Default, Clone)]
struct Snapshot {
    services: BTreeMap<Arc<str>, BTreeMap<u16, Arc<dyn Exported>>>,
    topics: BTreeMap<u16, Arc<dyn ExportedTopic>>,
}

/// The types of `service` to register more in: those whose actor has stopped for good are
/// dropped first, so that a name comes free when what it was exported for has stopped (a
/// sender to a stopped service is told it has stopped until then).
fn types_to_extend<'s>(
    snapshot: &'s mut Snapshot,
    service: &str,
) -> &'s mut BTreeMap<u16, Arc<dyn Exported>> {
    let types = snapshot.services.entry(Arc::from(service)).or_default();
    types.retain(|_, exported| exported.is_alive());
    types
}

impl Snapshot {
    fn find(&self, service: &str, type_id: u16) -> Result<&dyn Exported, DeliveryError> {
        let Some(types) = self.services.get(service) else {
            return Err(DeliveryError::UnknownService {
                service: service.to_string(),
            });
        };
        match types.get(&type_id) {
            Some(exported) => Ok(&**exported),
            None => Err(DeliveryError::UnknownType {
                service: service.to_string(),
                type_id,
                accepted: types.keys().copied().collect(),
            }),
        }
    }
}

impl ExportTable {
    /// The current snapshot, for reads that go on while registrations happen. A delivery
    /// holds it only while it hands the message on, never across an `.await`.
    fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Replaces the snapshot by `change` applied to a copy of it (registration is rare).
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Snapshot) -> Result<T, ExportError>,
    ) -> Result<T, ExportError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Snapshot::clone(&self.snapshot.load());
        let out = change(&mut next)?;
        self.snapshot.store(Arc::new(next));
        Ok(out)
    }
}

impl Exports {
    pub(crate) fn new(bus: Bus) -> Self {
        Exports { bus }
    }

    fn table(&self) -> &ExportTable {
        self.bus.export_table()
    }

    fn add(
        &self,
        service: &str,
        type_id: u16,
        message: &'static str,
        exported: Arc<dyn Exported>,
    ) -> Result<(), ExportError> {
        if service.is_empty() {
            return Err(ExportError::EmptyServiceName);
        }
        self.table().update(|s| {
            let types = types_to_extend(s, service);
            if types.contains_key(&type_id) {
                return Err(ExportError::AlreadyExported {
                    service: service.to_string(),
                    type_id,
                    message,
                });
            }
            types.insert(type_id, exported);
            Ok(())
        })
    }

    /// Exports `to` under `service` for tells of `M`: an incoming `M::TYPE_ID` with a body
    /// that decodes as `M` is told to it.
    pub fn export<M>(&self, service: &str, to: Recipient<M>) -> Result<(), ExportError>
    where
        M: WireMessage + Send + 'static,
    {
        self.add(service, M::TYPE_ID, M::NAME, Arc::new(TellExport(to)))
    }

    /// Exports `to` under `service` for tells and asks of `M`; an ask's reply `R` is encoded
    /// back to bytes with its contract codec.
    pub fn export_ask<M, R>(
        &self,
        service: &str,
        to: ReplyRecipient<M, R>,
    ) -> Result<(), ExportError>
    where
        M: WireMessage + Send + 'static,
        R: WireMessage + Send + 'static,
    {
        let export = AskExport {
            to,
            service: Arc::from(service),
        };
        self.add(service, M::TYPE_ID, M::NAME, Arc::new(export))
    }

    /// Exports a service that decodes its own messages (a foreign actor) under `service`,
    /// for tells and asks of each of `type_ids`. All or nothing: if `service` already takes
    /// one of them, nothing is added.
    pub fn export_bytes(
        &self,
        service: &str,
        type_ids: &[u16],
        to: Arc<dyn ByteService>,
    ) -> Result<(), ExportError> {
        if service.is_empty() {
            return Err(ExportError::EmptyServiceName);
        }
        if type_ids.is_empty() {
            return Err(ExportError::NoTypes {
                service: service.to_string(),
            });
        }
        self.table().update(|s| {
            let types = types_to_extend(s, service);
            if let Some(&type_id) = type_ids.iter().find(|t| types.contains_key(t)) {
                return Err(ExportError::AlreadyExported {
                    service: service.to_string(),
                    type_id,
                    message: types[&type_id].message_name(),
                });
            }
            let name: Arc<str> = Arc::from(service);
            for &type_id in type_ids {
                let export = ByteExport {
                    service: to.clone(),
                    type_id,
                    name: name.clone(),
                };
                types.insert(type_id, Arc::new(export));
            }
            Ok(())
        })
    }

    /// Lets incoming publications of `M` (by its type id) be published on this bus, see
    /// [`publish`](Self::publish). Checks `M`'s contract topic name.
    pub fn export_topic<M>(&self) -> Result<(), ExportError>
    where
        M: WireMessage + Send + Sync + 'static,
    {
        let publisher =
            self.bus
                .publisher::<M>(M::TOPIC)
                .map_err(|source| ExportError::InvalidTopic {
                    message: M::NAME,
                    source,
                })?;
        self.table().update(|s| {
            if s.topics.contains_key(&M::TYPE_ID) {
                return Err(ExportError::TopicAlreadyExported {
                    type_id: M::TYPE_ID,
                    message: M::NAME,
                });
            }
            s.topics
                .insert(M::TYPE_ID, Arc::new(TopicExport(publisher)));
            Ok(())
        })
    }

    /// Removes a service and every type it takes; false when there was none.
    pub fn unexport(&self, service: &str) -> bool {
        self.table()
            .update(|s| Ok(s.services.remove(service).is_some()))
            .unwrap_or(false)
    }

    /// Stops publishing incoming publications with `type_id`; false when none were exported.
    pub fn unexport_topic(&self, type_id: u16) -> bool {
        self.table()
            .update(|s| Ok(s.topics.remove(&type_id).is_some()))
            .unwrap_or(false)
    }

    /// The exported service names, in ascending order: those with an actor that has not
    /// stopped for good.
    pub fn services(&self) -> Vec<String> {
        let snapshot = self.table().snapshot();
        snapshot
            .services
            .iter()
            .filter(|(_, types)| types.values().any(|e| e.is_alive()))
            .map(|(s, _)| s.to_string())
            .collect()
    }

    /// The type ids `service` takes, ascending; `None` for an unknown service, or one whose
    /// actors have all stopped for good (its name can be exported again).
    pub fn type_ids(&self, service: &str) -> Option<Vec<u16>> {
        let snapshot = self.table().snapshot();
        let live: Vec<u16> = snapshot
            .services
            .get(service)?
            .iter()
            .filter(|(_, e)| e.is_alive())
            .map(|(t, _)| *t)
            .collect();
        (!live.is_empty()).then_some(live)
    }

    /// True when `service` was exported and every actor it was exported for has stopped for
    /// good: a send to it is told so, and the name can be exported again.
    pub fn has_stopped(&self, service: &str) -> bool {
        let snapshot = self.table().snapshot();
        snapshot
            .services
            .get(service)
            .is_some_and(|types| !types.is_empty() && types.values().all(|e| !e.is_alive()))
    }

    /// The Rust actor that takes the message `type_id` sent to `service`, when a Rust actor's
    /// typed export takes it; `None` for a byte service (an actor of another language) or
    /// nothing exported. A language binding reports the sends by name its recorded actors
    /// make to a Rust actor itself: no Rust handler runs on its thread to record them, while
    /// a byte service of a foreign actor reports what it is sent.
    pub fn rust_receiver(&self, service: &str, type_id: u16) -> Option<ActorId> {
        self.table()
            .snapshot()
            .find(service, type_id)
            .ok()
            .and_then(|exported| exported.rust_actor())
    }

    /// The exported topic type ids, ascending.
    pub fn topic_type_ids(&self) -> Vec<u16> {
        self.table().snapshot().topics.keys().copied().collect()
    }

    /// Decodes `body` as the message `type_id` names and tells it to `service` without
    /// waiting. A full mailbox is [`DeliveryError::Full`]: nothing was queued, the caller
    /// still has the bytes.
    pub fn try_deliver(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
    ) -> Result<(), DeliveryError> {
        self.try_deliver_inner(service, type_id, body, None)
    }

    /// [`try_deliver`](Self::try_deliver) of a message with a [`Receipt`], signed when the
    /// receiving actor's handler for the message has run (a byte service that cannot see its
    /// handler's return signs it once the message is queued: see
    /// [`ByteService::try_tell_receipted`]). Nothing queued (an error) leaves it
    /// unsigned or signs it at once; either way the message is not in a mailbox.
    pub fn try_deliver_receipted(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Result<(), DeliveryError> {
        self.try_deliver_inner(service, type_id, body, Some(receipt))
    }

    fn try_deliver_inner(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<(), DeliveryError> {
        let snapshot = self.table().snapshot();
        let exported = snapshot.find(service, type_id)?;
        match exported.decode_and_try_tell(body, receipt) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refused)) => Err(refusal(service, refused)),
            Err(source) => Err(decode_error(
                service,
                type_id,
                exported.message_name(),
                source,
            )),
        }
    }

    /// Like [`try_deliver`](Self::try_deliver), waiting for room in a full mailbox: the
    /// backpressure a link passes on to its peer.
    pub async fn deliver(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
    ) -> Result<(), DeliveryError> {
        self.deliver_inner(service, type_id, body, None).await
    }

    /// [`deliver`](Self::deliver) of a message with a [`Receipt`], as
    /// [`try_deliver_receipted`](Self::try_deliver_receipted).
    pub async fn deliver_receipted(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Result<(), DeliveryError> {
        self.deliver_inner(service, type_id, body, Some(receipt))
            .await
    }

    async fn deliver_inner(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        receipt: Option<Receipt>,
    ) -> Result<(), DeliveryError> {
        let waiting = {
            let snapshot = self.table().snapshot();
            let exported = snapshot.find(service, type_id)?;
            match exported.decode_and_tell(body, receipt) {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(waiting)) => waiting,
                Err(source) => {
                    return Err(decode_error(
                        service,
                        type_id,
                        exported.message_name(),
                        source,
                    ))
                }
            }
        };
        waiting.await.map_err(|r| refusal(service, r))
    }

    /// Decodes `body` as the request `type_id` names, asks `service` and returns the reply
    /// as `(reply type id, reply body)`. Waits for room in a full mailbox, then for the reply.
    pub async fn ask(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), DeliveryError> {
        self.ask_inner(service, type_id, body, None).await
    }

    /// Like [`ask`](Self::ask), giving up after `timeout` of bus time
    /// ([`DeliveryError::Timeout`]).
    pub async fn ask_timeout(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), DeliveryError> {
        self.ask_inner(service, type_id, body, Some(timeout)).await
    }

    async fn ask_inner(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(u16, Vec<u8>), DeliveryError> {
        let asking = async { self.ask_queued(service, type_id, body).await?.await };
        match timeout {
            None => asking.await,
            Some(after) => match self.bus.clock().timeout(after, asking).await {
                Ok(done) => done,
                Err(_) => Err(DeliveryError::Timeout {
                    service: service.to_string(),
                    after,
                }),
            },
        }
    }

    /// [`ask`](Self::ask) in two steps: returns once the request is in the actor's mailbox
    /// (after waiting for room in a full one), or handled already by the actor's direct call
    /// (an idle actor on the caller's runtime: see `ReplyRecipient::ask_queued`), with its
    /// reply still to come. A link awaits this before it hands on the next frame, so a tell
    /// read after an ask never reaches the actor before it.
    pub async fn ask_queued(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
    ) -> Result<PendingEncodedReply, DeliveryError> {
        let (actor, queueing) = {
            let snapshot = self.table().snapshot();
            let exported = snapshot.find(service, type_id)?;
            asked(exported.ask(body), exported, service, type_id)?
        };
        queueing.await.map_err(|e| ask_error(service, actor, e))
    }

    /// [`ask_queued`](Self::ask_queued), answered at once when it can be: by an idle actor on
    /// the caller's runtime whose handler finishes in one poll, run here with `cx`, the
    /// caller's task context. Its reply's body is then written to the end of `out`, and
    /// nothing is allocated for a reply to come. Otherwise the request goes the way of
    /// `ask_queued`, whose future [`AskNow::Queued`] is: the caller awaits it before it hands
    /// on its next message, so that order holds.
    ///
    /// ```
    /// # use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
    /// # use mycelium_actors::export::AskNow;
    /// # use mycelium_codec::WireMessage;
    /// # use mycelium_contracts::{CancelOrder, OrderAck};
    /// # struct Venue;
    /// # impl Actor for Venue {
    /// #     type Args = ();
    /// #     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Venue) }
    /// # }
    /// # impl Handler<CancelOrder> for Venue {
    /// #     type Reply = OrderAck;
    /// #     async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
    /// #         OrderAck { client_order_id: c.client_order_id, venue_order_id: "V".into(), ts_ns: 0, venue_ts_ns: None }
    /// #     }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let venue = bus.spawn::<Venue>(());
    /// bus.exports().export_ask("venue", venue.reply_recipient::<CancelOrder>()).unwrap();
    /// let mut body = Vec::new();
    /// CancelOrder { client_order_id: 77, instrument: 1, ts_ns: 5 }.encode_body(&mut body);
    ///
    /// let mut reply = Vec::new();
    /// let asked = std::future::poll_fn(|cx| {
    ///     std::task::Poll::Ready(bus.exports().ask_now("venue", CancelOrder::TYPE_ID, &body, cx, &mut reply))
    /// })
    /// .await
    /// .unwrap();
    /// let (type_id, reply) = match asked {
    ///     AskNow::Answered(type_id) => (type_id, reply),
    ///     // The actor was busy (not here: it is idle once started).
    ///     AskNow::Queued(queued) => queued.await.unwrap().await.unwrap(),
    /// };
    /// assert_eq!(type_id, OrderAck::TYPE_ID);
    /// assert_eq!(OrderAck::decode_body(&reply).unwrap().client_order_id, 77);
    /// # });
    /// ```
    pub fn ask_now(
        &self,
        service: &str,
        type_id: u16,
        body: &[u8],
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> Result<AskNow, DeliveryError> {
        // The handler may run here, by its direct call, while the snapshot is held: a
        // registration it makes stores a new one and leaves this one to be dropped after.
        let (actor, asked) = {
            let snapshot = self.table().snapshot();
            let exported = snapshot.find(service, type_id)?;
            asked(exported.ask_now(body, cx, out), exported, service, type_id)?
        };
        Ok(match asked {
            Asked::Now(reply_type) => AskNow::Answered(reply_type),
            Asked::Queueing(queueing) => {
                let service = service.to_string();
                AskNow::Queued(Box::pin(async move {
                    queueing.await.map_err(|e| ask_error(&service, actor, e))
                }))
            }
        })
    }

    /// Decodes `body` as the topic message `type_id` names and publishes it on this bus
    /// under `topic` (the name it was published with on the sending side, such as
    /// `md.quote.AAPL`), with `key`. Waits for subscribers that chose
    /// [`Overflow::Block`](crate::Overflow::Block).
    pub async fn publish(
        &self,
        type_id: u16,
        topic: &str,
        key: Option<u64>,
        body: &[u8],
    ) -> Result<PublishReport, DeliveryError> {
        match self.publish_now(type_id, topic, key, body)? {
            PublishNow::Done(report) => Ok(report),
            PublishNow::Rest(rest) => Ok(rest.await),
        }
    }

    /// [`publish`](Self::publish) as far as it goes without waiting: [`PublishNow::Done`]
    /// when every matching subscriber took the message at once (no future is made), else the
    /// rest to await before the next publication, so that order holds (a full `Block`
    /// subscriber, or a turn of the scheduler its thread is due).
    ///
    /// ```
    /// # use mycelium_actors::{Bus, SubscribeOptions};
    /// # use mycelium_actors::export::PublishNow;
    /// # use mycelium_codec::WireMessage;
    /// # use mycelium_contracts::Heartbeat;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// bus.exports().export_topic::<Heartbeat>().unwrap();
    /// let mut tape = bus.subscribe_stream::<Heartbeat>(Heartbeat::TOPIC, SubscribeOptions::new()).unwrap();
    /// let mut body = Vec::new();
    /// Heartbeat { ts_ns: 1, seq: 7, sender: "feed".into() }.encode_body(&mut body);
    /// match bus.exports().publish_now(Heartbeat::TYPE_ID, Heartbeat::TOPIC, None, &body).unwrap() {
    ///     PublishNow::Done(report) => assert_eq!(report.delivered, 1),
    ///     PublishNow::Rest(rest) => assert_eq!(rest.await.delivered, 1),
    /// }
    /// assert_eq!(tape.recv().await.unwrap().seq, 7);
    /// # });
    /// ```
    pub fn publish_now(
        &self,
        type_id: u16,
        topic: &str,
        key: Option<u64>,
        body: &[u8],
    ) -> Result<PublishNow, DeliveryError> {
        let snapshot = self.table().snapshot();
        let Some(exported) = snapshot.topics.get(&type_id) else {
            return Err(DeliveryError::UnknownTopicType {
                type_id,
                accepted: snapshot.topics.keys().copied().collect(),
            });
        };
        match exported.publish_now(topic, key, body) {
            Ok(published) => published.map_err(DeliveryError::from),
            Err(source) => Err(decode_error(
                topic,
                type_id,
                exported.message_name(),
                source,
            )),
        }
    }
}

/// What [`Exports::publish_now`] did with a publication.
pub enum PublishNow {
    /// Every matching subscriber took it: the report.
    Done(PublishReport),
    /// The rest of the publish, to await before the next publication (a full `Block`
    /// subscriber and those after it, or a turn of the scheduler its thread was due): its
    /// report.
    Rest(BoxFuture<'static, PublishReport>),
}

/// What an export did with an ask, or the error of an export that takes no asks or a body
/// that does not decode.
fn asked<T>(
    asked: Option<Result<T, mycelium_codec::DecodeError>>,
    exported: &dyn Exported,
    service: &str,
    type_id: u16,
) -> Result<T, DeliveryError> {
    match asked {
        None => Err(DeliveryError::NotAnAsk {
            service: service.to_string(),
            type_id,
            message: exported.message_name(),
        }),
        Some(Err(source)) => Err(decode_error(
            service,
            type_id,
            exported.message_name(),
            source,
        )),
        Some(Ok(asked)) => Ok(asked),
    }
}

/// What [`Exports::ask_now`] did with a request.
pub enum AskNow {
    /// Answered on the caller's task: the reply's type id; its body was written to the
    /// buffer given.
    Answered(u16),
    /// Not answered yet: done once the request is queued (or handled, its answer still to
    /// come), as [`Exports::ask_queued`] is.
    Queued(BoxFuture<'static, Result<PendingEncodedReply, DeliveryError>>),
}

pub(super) fn ask_error(service: &str, actor: crate::ActorId, e: AskError<()>) -> DeliveryError {
    let service = service.to_string();
    match e {
        AskError::Closed(()) => DeliveryError::Stopped {
            service,
            actor,
            reason: None,
        },
        AskError::Stopped(reason) => DeliveryError::Stopped {
            service,
            actor,
            reason: Some(reason),
        },
        AskError::Failed(failure) => DeliveryError::Failed { service, failure },
        AskError::Timeout(after) => DeliveryError::Timeout { service, after },
        AskError::Lost { node, reason } => DeliveryError::Lost {
            service,
            node,
            reason,
        },
    }
}

fn refusal(service: &str, refused: Refused) -> DeliveryError {
    match refused {
        Refused::Full(actor) => DeliveryError::Full {
            service: service.to_string(),
            actor,
        },
        Refused::Stopped(actor) => DeliveryError::Stopped {
            service: service.to_string(),
            actor,
            reason: None,
        },
    }
}

fn decode_error(
    target: &str,
    type_id: u16,
    message: &'static str,
    source: mycelium_codec::DecodeError,
) -> DeliveryError {
    DeliveryError::Decode {
        target: target.to_string(),
        type_id,
        message,
        source,
    }
}

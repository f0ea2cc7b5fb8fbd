//! Topics across nodes: a node forwards its subscription interest to its peers; a peer that
//! forwards that topic type subscribes on its own bus once per link and sends each
//! publication as one frame, so a message is encoded once per link, never once per remote
//! subscriber. The receiving node publishes it on its bus, where its own subscribers get it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_actors::{
    ActorId, BoxFuture, Bus, MessageSink, Published, Recipient, SendError, SubscribeOptions,
    Subscription, TopicError, TrySendError,
};
use mycelium_codec::WireMessage;

use crate::link::Link;

type Factory = Arc<dyn Fn(&Bus, Link, &str) -> Result<Subscription, TopicError> + Send + Sync>;

/// The topic types a node lets its peers subscribe to, by contract type id; and the node's
/// own interest in its peers' topics, which a link made later starts with.
#[derive(Default)]
pub(crate) struct TopicTypes {
    factories: Mutex<BTreeMap<u16, Factory>>,
    /// The node's subscriptions to its peers' topics: (pattern, type id), in order.
    interests: Mutex<Vec<(Arc<str>, u16)>>,
}

impl TopicTypes {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u16, Factory>> {
        self.factories.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn interests_lock(&self) -> MutexGuard<'_, Vec<(Arc<str>, u16)>> {
        self.interests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node's interest in its peers' topics: a new link sends it on its first connection.
    pub fn interests(&self) -> Vec<(Arc<str>, u16)> {
        self.interests_lock().clone()
    }

    /// Records (or, `withdraw`, forgets) the node's interest in `pattern` of `type_id`.
    pub fn record_interest(&self, pattern: &str, type_id: u16, withdraw: bool) {
        let mut interests = self.interests_lock();
        let at = interests
            .iter()
            .position(|(p, t)| **p == *pattern && *t == type_id);
        match (at, withdraw) {
            (None, false) => interests.push((Arc::from(pattern), type_id)),
            (Some(at), true) => {
                interests.remove(at);
            }
            _ => {}
        }
    }

    pub fn add<M: WireMessage + Send + Sync + 'static>(&self) {
        let factory: Factory = Arc::new(|bus: &Bus, link: Link, pattern: &str| {
            let sink = TopicSink::<M> {
                link,
                name: Mutex::new(None),
                _m: std::marker::PhantomData,
            };
            bus.subscribe_recipient::<M>(
                Recipient::new(Arc::new(sink)),
                pattern,
                SubscribeOptions::new(),
            )
        });
        self.lock().insert(M::TYPE_ID, factory);
    }

    /// True when `type_id` is forwarded.
    pub fn has(&self, type_id: u16) -> bool {
        self.lock().contains_key(&type_id)
    }

    /// Subscribes on `bus`, for `link`, to `pattern` of type `type_id`.
    pub fn subscribe(
        &self,
        bus: &Bus,
        link: Link,
        pattern: &str,
        type_id: u16,
    ) -> Result<Subscription, String> {
        let factory = self.lock().get(&type_id).cloned();
        match factory {
            Some(f) => f(bus, link, pattern).map_err(|e| e.to_string()),
            None => Err(format!(
                "this node does not forward topic messages of type id {type_id} (forward_topic)"
            )),
        }
    }
}

/// Sends each publication it receives as one Publish frame on its link.
struct TopicSink<M> {
    link: Link,
    /// The last topic name, shared by the frames' log entries.
    name: Mutex<Option<Arc<str>>>,
    _m: std::marker::PhantomData<fn(M)>,
}

impl<M> TopicSink<M> {
    fn name(&self, topic: &str) -> Arc<str> {
        let mut cached = self.name.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some(name) if &**name == topic => name.clone(),
            _ => {
                let name: Arc<str> = Arc::from(topic);
                *cached = Some(name.clone());
                name
            }
        }
    }
}

impl<M: WireMessage + Send + Sync + 'static> MessageSink<Published<M>> for TopicSink<M> {
    fn try_tell(&self, p: Published<M>) -> Result<(), TrySendError<Published<M>>> {
        let name = self.name(p.topic());
        match self
            .link
            .try_publish_keyed(&name, M::TYPE_ID, M::NAME, p.key(), |out| {
                p.msg().encode_body(out)
            }) {
            Ok(_) => Ok(()),
            Err(crate::SendError::Full) => Err(TrySendError::Full(p)),
            // This message alone cannot be sent: reported, and the subscription lives on
            // (handed back as closed, the peer's subscription would end for good).
            Err(e @ crate::SendError::TooLarge(_)) => {
                self.link.unsendable_publication(p.topic(), M::NAME, &e);
                Ok(())
            }
            Err(crate::SendError::Closed { .. }) => Err(TrySendError::Closed(p)),
        }
    }

    fn tell(&self, p: Published<M>) -> BoxFuture<'_, Result<(), SendError<Published<M>>>> {
        let name = self.name(p.topic());
        let mut body = Vec::new();
        p.msg().encode_body(&mut body);
        Box::pin(async move {
            match self
                .link
                .publish_keyed(&name, M::TYPE_ID, M::NAME, p.key(), |out| {
                    out.extend_from_slice(&body)
                })
                .await
            {
                Ok(_) => Ok(()),
                Err(e @ crate::SendError::TooLarge(_)) => {
                    self.link.unsendable_publication(p.topic(), M::NAME, &e);
                    Ok(())
                }
                Err(_) => Err(SendError(p)),
            }
        })
    }

    fn id(&self) -> ActorId {
        ActorId::new(self.link.node_id(), 0)
    }

    fn is_alive(&self) -> bool {
        self.link.closed_reason().is_none()
    }
}

//! Topics across nodes: a node forwards its subscription interest to its peers; a peer that
//! forwards that topic type subscribes on its own bus once per link and sends each
//! publication as one frame, so a message is encoded once per link, never once per remote
//! subscriber. The receiving node publishes it on its bus, where its own subscribers get it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use mycelium_actors::{
    ActorId, BoxFuture, Bus, MessageSink, Published, Recipient, SendError, SubscribeOptions,
    Subscription, TopicError, TrySendError,
};
use mycelium_codec::WireMessage;

use crate::link::{Lapse, Link};

type Factory =
    Arc<dyn Fn(&Bus, Link, &str, RemoteOverflow) -> Result<Subscription, TopicError> + Send + Sync>;

/// What the publishing node does with publications for a remote subscriber whose link's
/// queue is full (the peer is slow, stopped or away): the subscriber chooses it
/// ([`Node::subscribe_remote_with`](crate::Node::subscribe_remote_with)) and the publishing
/// node applies it, as a local subscription's [`Overflow`](mycelium_actors::Overflow).
///
/// Only [`Block`](RemoteOverflow::Block) ever delays the publisher (and with it the
/// publisher's local subscribers and its other links). Every other policy drops: the
/// publishing node counts each one as its bus counts a local subscriber's drops (the
/// publish report's `dropped`, the subscription's statistics and metrics), and tells the
/// subscribing node, which gets a [`TopicGap`](crate::TopicGap) with
/// [`GapReason::Dropped`](crate::GapReason::Dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RemoteOverflow {
    /// The publisher waits for room in the link's queue. Nothing is dropped.
    #[default]
    Block,
    /// A publication that finds the link's queue full is dropped.
    DropNewest,
    /// Publications that find the link's queue full wait in a buffer of `capacity`, the
    /// oldest dropped to make room.
    DropOldest {
        /// The buffer's size, in publications (at least 1).
        capacity: u32,
    },
    /// Publications that find the link's queue full wait in a buffer that keeps only the
    /// newest of each key (conflation); unkeyed ones share one slot.
    LatestPerKey,
}

impl RemoteOverflow {
    /// The Subscribe frame's body: empty for `Block` (as a node that knows no policy sends).
    pub(crate) fn encode(self, out: &mut Vec<u8>) {
        match self {
            RemoteOverflow::Block => {}
            RemoteOverflow::DropNewest => out.push(1),
            RemoteOverflow::DropOldest { capacity } => {
                out.push(2);
                out.extend_from_slice(&capacity.to_le_bytes());
            }
            RemoteOverflow::LatestPerKey => out.push(3),
        }
    }

    /// Reads a Subscribe frame's body.
    pub(crate) fn decode(body: &[u8]) -> Result<RemoteOverflow, String> {
        match body {
            [] | [0] => Ok(RemoteOverflow::Block),
            [1] => Ok(RemoteOverflow::DropNewest),
            [2, c0, c1, c2, c3] => Ok(RemoteOverflow::DropOldest {
                capacity: u32::from_le_bytes([*c0, *c1, *c2, *c3]).max(1),
            }),
            [3] => Ok(RemoteOverflow::LatestPerKey),
            [tag, ..] => Err(format!(
                "the subscription asks for an overflow policy this node does not know (code \
                 {tag}, {} bytes); subscribe with Block, DropNewest, DropOldest or LatestPerKey",
                body.len()
            )),
        }
    }

    fn options(self) -> SubscribeOptions {
        match self {
            RemoteOverflow::Block => SubscribeOptions::new(),
            RemoteOverflow::DropNewest => SubscribeOptions::drop_newest(),
            RemoteOverflow::DropOldest { capacity } => {
                SubscribeOptions::drop_oldest(capacity.max(1) as usize)
            }
            RemoteOverflow::LatestPerKey => SubscribeOptions::latest_per_key(),
        }
    }
}

/// The topic types a node lets its peers subscribe to, by contract type id; and the node's
/// own interest in its peers' topics, which a link made later starts with.
#[derive(Default)]
pub(crate) struct TopicTypes {
    factories: Mutex<BTreeMap<u16, Factory>>,
    /// The node's subscriptions to its peers' topics: (pattern, type id, policy), in order.
    interests: Mutex<Vec<Interest>>,
}

impl TopicTypes {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u16, Factory>> {
        self.factories.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn interests_lock(&self) -> MutexGuard<'_, Vec<Interest>> {
        self.interests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node's interest in its peers' topics: a new link sends it on its first connection.
    pub fn interests(&self) -> Vec<Interest> {
        self.interests_lock().clone()
    }

    /// Records the node's interest in `pattern` of `type_id` with `policy` (`None`: forgets
    /// it).
    pub fn record_interest(&self, pattern: &str, type_id: u16, policy: Option<RemoteOverflow>) {
        let mut interests = self.interests_lock();
        let at = interests
            .iter()
            .position(|(p, t, _)| **p == *pattern && *t == type_id);
        match (at, policy) {
            (None, Some(policy)) => interests.push((Arc::from(pattern), type_id, policy)),
            (Some(at), Some(policy)) => interests[at].2 = policy,
            (Some(at), None) => {
                interests.remove(at);
            }
            (None, None) => {}
        }
    }

    pub fn add<M: WireMessage + Send + Sync + 'static>(&self) {
        let factory: Factory = Arc::new(
            |bus: &Bus, link: Link, pattern: &str, policy: RemoteOverflow| {
                let sink = Arc::new_cyclic(|me| TopicSink::<M> {
                    me: me.clone(),
                    runtime: bus.runtime().clone(),
                    owed: AtomicBool::new(false),
                    link,
                    pattern: Arc::from(pattern),
                    name: Mutex::new(None),
                    too_large: AtomicU64::new(0),
                    drops: (policy != RemoteOverflow::Block).then(|| Drops {
                        pattern: Arc::from(pattern),
                        subscription: OnceLock::new(),
                        refused: (policy == RemoteOverflow::DropNewest).then(|| AtomicU64::new(0)),
                        told: AtomicU64::new(0),
                        telling: Mutex::new(()),
                    }),
                    _m: std::marker::PhantomData,
                });
                let subscription = bus.subscribe_recipient::<M>(
                    Recipient::new(sink.clone()),
                    pattern,
                    policy.options(),
                )?;
                if let Some(drops) = &sink.drops {
                    let _ = drops.subscription.set(subscription.clone());
                }
                Ok(subscription)
            },
        );
        self.lock().insert(M::TYPE_ID, factory);
    }

    /// True when `type_id` is forwarded.
    pub fn has(&self, type_id: u16) -> bool {
        self.lock().contains_key(&type_id)
    }

    /// Subscribes on `bus`, for `link`, to `pattern` of type `type_id`, with `policy`.
    pub fn subscribe(
        &self,
        bus: &Bus,
        link: Link,
        pattern: &str,
        type_id: u16,
        policy: RemoteOverflow,
    ) -> Result<Subscription, String> {
        let factory = self.lock().get(&type_id).cloned();
        match factory {
            Some(f) => f(bus, link, pattern, policy).map_err(|e| e.to_string()),
            None => Err(format!(
                "this node does not forward topic messages of type id {type_id} (forward_topic)"
            )),
        }
    }
}

/// This node's interest in a peer's topic: pattern, type id, policy.
pub(crate) type Interest = (Arc<str>, u16, RemoteOverflow);

/// Sends each publication it receives as one Publish frame on its link.
struct TopicSink<M> {
    me: Weak<TopicSink<M>>,
    /// The bus runtime, where a task waits for room to tell the peer what it is owed.
    runtime: tokio::runtime::Handle,
    /// True while such a task waits (one at a time).
    owed: AtomicBool,
    link: Link,
    /// The peer's pattern this sink serves.
    pattern: Arc<str>,
    /// Publications too large for a frame the peer was not told of yet: told as soon as the
    /// link's queue has room for the notice, or right behind the next publication queued.
    too_large: AtomicU64,
    /// The last topic name, shared by the frames' log entries.
    name: Mutex<Option<Arc<str>>>,
    /// Under a policy that drops: what its subscription dropped, and what the peer was told.
    drops: Option<Drops>,
    _m: std::marker::PhantomData<fn(M)>,
}

/// The drops of a remote subscription, told to the subscribing node.
struct Drops {
    pattern: Arc<str>,
    /// The bus subscription this sink serves (its statistics count the drops).
    subscription: OnceLock<Subscription>,
    /// Under `DropNewest`: the publications this sink refused for a full queue, each of
    /// which the bus drops (counted here before the refusal returns, so a task that tells
    /// the peer never reads a count the bus has not raised yet).
    refused: Option<AtomicU64>,
    /// Drops the peer was told of.
    told: AtomicU64,
    /// Held while a notice is queued, so two callers never tell the same drops.
    telling: Mutex<()>,
}

impl Drops {
    /// What the subscription has dropped so far.
    fn dropped(&self) -> u64 {
        match (&self.refused, self.subscription.get()) {
            (Some(refused), _) => refused.load(Ordering::Acquire),
            (None, Some(subscription)) => subscription.stats().dropped,
            (None, None) => 0,
        }
    }
}

impl<M: WireMessage + Send + Sync + 'static> TopicSink<M> {
    /// After a publication was queued, or once the link has room again: the subscriber is
    /// told of what its policy dropped since it was last told. Returns false when drops are
    /// still owed (the link is closed).
    fn tell_drops(&self, type_id: u16) -> bool {
        let Some(drops) = &self.drops else {
            return true;
        };
        if drops.dropped() <= drops.told.load(Ordering::Acquire) {
            return true;
        }
        let _telling = drops.telling.lock().unwrap_or_else(|e| e.into_inner());
        let (dropped, told) = (drops.dropped(), drops.told.load(Ordering::Acquire));
        if dropped <= told {
            return true;
        }
        let queued = self
            .link
            .notice_dropped(&drops.pattern, type_id, dropped - told);
        if queued {
            drops.told.store(dropped, Ordering::Release);
        }
        queued
    }

    /// Something the peer is owed (drops, publications too large) could not be told now:
    /// a task on the bus runtime waits until the link has room, then tells it, so a stream
    /// that ends while the peer is slow or away leaves no drop untold. One task at a time;
    /// it ends with the subscription.
    fn owe(&self) {
        if self.owed.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.me.clone();
        let link = self.link.clone();
        self.runtime.spawn(async move {
            loop {
                link.room_for_notice().await;
                let Some(sink) = me.upgrade() else { return };
                // Cleared before the counts are read: a refusal after this arms a new wait.
                sink.owed.store(false, Ordering::SeqCst);
                let told = sink.tell_drops(M::TYPE_ID);
                let pattern = sink.pattern.clone();
                let told = sink.tell_too_large(&pattern, M::TYPE_ID, false) && told;
                if told || sink.owed.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }

    /// A publication on `topic` cannot become a frame for the peer (too large): logged and
    /// posted as a dead letter here, and told to the peer as a gap
    /// ([`GapReason::TooLarge`](crate::GapReason::TooLarge)).
    fn too_large(&self, topic: &str, type_id: u16, message: &'static str, why: &crate::SendError) {
        self.link.unsendable_publication(topic, message, why);
        self.too_large.fetch_add(1, Ordering::AcqRel);
        if !self.tell_too_large(topic, type_id, false) {
            self.owe();
        }
    }

    /// Tells the peer of the publications too large for a frame it was not told of yet:
    /// under `topic` when one alone is told, else under the subscription's pattern. Beyond
    /// the queue's capacity only with `behind_publication` (at most one notice per
    /// publication queued); otherwise only when the queue has room, and kept for later when
    /// it has none. Returns false when some are still owed.
    fn tell_too_large(&self, topic: &str, type_id: u16, behind_publication: bool) -> bool {
        let count = self.too_large.swap(0, Ordering::AcqRel);
        if count == 0 {
            return true;
        }
        let topic = if count == 1 { topic } else { &self.pattern };
        let queued = self
            .link
            .notice_too_large(topic, type_id, count, behind_publication);
        if !queued {
            self.too_large.fetch_add(count, Ordering::AcqRel);
        }
        queued
    }

    /// A publication found the link closed: counted for the peer when the link keeps its
    /// interest through the close (`Ok(true)`), to be queued again when the link is open
    /// again (`Ok(false)`), or the subscription's end (`Err`).
    fn lapsed(&self, type_id: u16) -> Result<bool, ()> {
        match self.link.inner.count_lapsed(&self.pattern, type_id) {
            Lapse::Counted => Ok(true),
            Lapse::Open => Ok(false),
            Lapse::Gone => Err(()),
        }
    }

    /// Right behind a publication just queued: what the peer is owed, or a wait for room to
    /// tell it when the link is closed.
    fn told_behind_publication(&self) {
        let told = self.tell_drops(M::TYPE_ID);
        if !(self.tell_too_large(&self.pattern, M::TYPE_ID, true) && told) {
            self.owe();
        }
    }

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
        loop {
            match self
                .link
                .try_publish_keyed(&name, M::TYPE_ID, M::NAME, p.key(), |out| {
                    p.msg().encode_body(out)
                }) {
                Ok(_) => {
                    self.told_behind_publication();
                    return Ok(());
                }
                // Under `DropNewest` the bus drops it: counted first, then the peer is told
                // once the link has room.
                Err(crate::SendError::Full) => {
                    if let Some(refused) = self.drops.as_ref().and_then(|d| d.refused.as_ref()) {
                        refused.fetch_add(1, Ordering::AcqRel);
                        self.owe();
                    }
                    return Err(TrySendError::Full(p));
                }
                // This message alone cannot be sent: reported, and the subscription lives on
                // (handed back as closed, the peer's subscription would end for good).
                Err(e @ crate::SendError::TooLarge(_)) => {
                    self.too_large(p.topic(), M::TYPE_ID, M::NAME, &e);
                    return Ok(());
                }
                Err(crate::SendError::Closed { .. }) => match self.lapsed(M::TYPE_ID) {
                    Ok(true) => return Ok(()),
                    Ok(false) => continue,
                    Err(()) => return Err(TrySendError::Closed(p)),
                },
            }
        }
    }

    fn tell(&self, p: Published<M>) -> BoxFuture<'_, Result<(), SendError<Published<M>>>> {
        let name = self.name(p.topic());
        let mut body = Vec::new();
        p.msg().encode_body(&mut body);
        Box::pin(async move {
            loop {
                match self
                    .link
                    .publish_keyed(&name, M::TYPE_ID, M::NAME, p.key(), |out| {
                        out.extend_from_slice(&body)
                    })
                    .await
                {
                    Ok(_) => {
                        self.told_behind_publication();
                        return Ok(());
                    }
                    Err(e @ crate::SendError::TooLarge(_)) => {
                        self.too_large(p.topic(), M::TYPE_ID, M::NAME, &e);
                        return Ok(());
                    }
                    Err(crate::SendError::Closed { .. }) => match self.lapsed(M::TYPE_ID) {
                        Ok(true) => return Ok(()),
                        Ok(false) => continue,
                        Err(()) => return Err(SendError(p)),
                    },
                    Err(crate::SendError::Full) => return Err(SendError(p)),
                }
            }
        })
    }

    fn id(&self) -> ActorId {
        ActorId::new(self.link.node_id(), 0)
    }

    fn is_alive(&self) -> bool {
        self.link.inner.serves(&self.pattern, M::TYPE_ID)
    }
}

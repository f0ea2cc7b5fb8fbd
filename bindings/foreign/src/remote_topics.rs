//! Topics across nodes for foreign code, which names a contract message by its type id:
//! [`forward_topic`], [`subscribe_remote`] and [`unsubscribe_remote`] are the `Node` methods
//! of those names for the contract type `M` behind the id; [`remote_overflow`] reads an overflow
//! policy as foreign code names it; [`subscribe_gaps`] delivers a node's gaps to a foreign
//! actor.

use std::sync::Arc;

use mycelium_actors::export::{ByteRefusal, ByteService};
use mycelium_actors::{
    ActorId, BoxFuture, Bus, MessageSink, Published, Recipient, SendError, SubscribeOptions,
    Subscription, TopicError, TrySendError,
};
use mycelium_codec::WireMessage;
use mycelium_remote::{Node, RemoteOverflow, SubscribeError, TopicGap, GAP_TOPIC};

use crate::topics::{visit_contract, ContractVisitor, ForeignTopicError};

/// Lets the other nodes subscribe to publications of the contract message `type_id` on
/// `node`'s bus ([`Node::forward_topic`]). Call it inside the bus's runtime.
pub fn forward_topic(node: &Node, type_id: u16) -> Result<(), ForeignTopicError> {
    visit_contract(type_id, Forward(node)).ok_or(ForeignTopicError::UnknownType(type_id))
}

/// Subscribes `node` to publications of the contract message `type_id` on topics matching
/// `pattern` on the other nodes that forward them ([`Node::subscribe_remote`]): they are
/// published on `node`'s bus. A bad pattern is refused before anything is sent. `policy`
/// ([`Node::subscribe_remote_with`]); `None`: the one the topology file gives `pattern`, else
/// `Block` ([`Node::subscribe_remote`]).
pub async fn subscribe_remote(
    node: &Node,
    type_id: u16,
    pattern: &str,
    policy: Option<RemoteOverflow>,
) -> Result<(), ForeignTopicError> {
    change_interest(node, type_id, pattern, Change::Subscribe(policy)).await
}

/// Ends what [`subscribe_remote`] started ([`Node::unsubscribe_remote`]).
pub async fn unsubscribe_remote(
    node: &Node,
    type_id: u16,
    pattern: &str,
) -> Result<(), ForeignTopicError> {
    change_interest(node, type_id, pattern, Change::Withdraw).await
}

/// The overflow policy named `name` (`block`, `drop_newest`, `drop_oldest`,
/// `latest_per_key`, as the topology file and an in-process subscription spell them), with
/// `capacity` for `drop_oldest` (default 1024). The error is written for the caller: it names
/// the allowed values, or says why the capacity does not fit.
pub fn remote_overflow(name: &str, capacity: Option<u64>) -> Result<RemoteOverflow, String> {
    let policy = match name {
        "block" => RemoteOverflow::Block,
        "drop_newest" => RemoteOverflow::DropNewest,
        "drop_oldest" => {
            let default = mycelium_actors::SubscribeOptions::DEFAULT_CAPACITY as u64;
            match u32::try_from(capacity.unwrap_or(default)) {
                Ok(capacity) if capacity >= 1 => RemoteOverflow::DropOldest { capacity },
                _ => {
                    return Err(format!(
                        "capacity must be 1 to {} publications, got {}",
                        u32::MAX,
                        capacity.unwrap_or(default)
                    ))
                }
            }
        }
        "latest_per_key" => RemoteOverflow::LatestPerKey,
        other => {
            return Err(format!(
                "overflow must be one of block, drop_newest, drop_oldest, latest_per_key; got \
                 `{other}`"
            ))
        }
    };
    if capacity.is_some() && !matches!(policy, RemoteOverflow::DropOldest { .. }) {
        return Err(format!(
            "capacity applies to overflow `drop_oldest` only, not `{name}` (the other \
             policies keep no buffer of their own)"
        ));
    }
    Ok(policy)
}

enum Change {
    /// Subscribe with this policy, or the topology file's.
    Subscribe(Option<RemoteOverflow>),
    Withdraw,
}

async fn change_interest(
    node: &Node,
    type_id: u16,
    pattern: &str,
    change: Change,
) -> Result<(), ForeignTopicError> {
    let interest = Interest {
        node,
        pattern,
        change,
    };
    let changed =
        visit_contract(type_id, interest).ok_or(ForeignTopicError::UnknownType(type_id))?;
    changed.await.map_err(|e| match e {
        SubscribeError::Pattern(e) => ForeignTopicError::Topic(e),
        SubscribeError::Send(e) => ForeignTopicError::Link(e),
    })
}

struct Forward<'a>(&'a Node);

impl ContractVisitor for Forward<'_> {
    type Out = ();
    fn visit<M: WireMessage + Send + Sync + 'static>(self) {
        self.0.forward_topic::<M>();
    }
}

/// `Node::subscribe_remote::<M>` (or `subscribe_remote_with`), or `unsubscribe_remote`.
struct Interest<'a> {
    node: &'a Node,
    pattern: &'a str,
    change: Change,
}

impl<'a> ContractVisitor for Interest<'a> {
    type Out = mycelium_actors::BoxFuture<'a, Result<(), SubscribeError>>;
    fn visit<M: WireMessage + Send + Sync + 'static>(self) -> Self::Out {
        match self.change {
            Change::Withdraw => Box::pin(self.node.unsubscribe_remote::<M>(self.pattern)),
            Change::Subscribe(None) => Box::pin(self.node.subscribe_remote::<M>(self.pattern)),
            Change::Subscribe(Some(policy)) => {
                Box::pin(self.node.subscribe_remote_with::<M>(self.pattern, policy))
            }
        }
    }
}

/// The type id with which a [`TopicGap`] reaches a foreign actor subscribed with
/// [`subscribe_gaps`]: no schema may use it (as no schema may use `0xFFFF`, which foreign
/// bindings keep for their own values).
pub const GAP_TYPE_ID: u16 = 0xFFFE;

/// Subscribes `to` (a foreign actor's [`ForeignRef`](crate::ForeignRef)) to the gaps its
/// bus's node is told of ([`GAP_TOPIC`]): each arrives as a message of type id
/// [`GAP_TYPE_ID`] whose body [`encode_gap`] writes. `Block`: a gap waits for room in the
/// actor's mailbox, never dropped. Ends with [`Subscription::cancel`].
pub fn subscribe_gaps(bus: &Bus, to: Arc<dyn ByteService>) -> Result<Subscription, TopicError> {
    bus.subscribe_recipient::<TopicGap>(
        Recipient::new(Arc::new(GapEncoding { to })),
        GAP_TOPIC,
        SubscribeOptions::block(),
    )
}

/// A gap's body for foreign code, all integers little-endian: the reason (`u8`,
/// [`GapReason::to_u8`](mycelium_remote::GapReason::to_u8): 1 the subscribing process restarted, 2 the publisher took it for
/// another process of its name, 3 too large for a frame, 4 dropped by the subscription's
/// overflow policy, 5 published while the publisher's link was closed, 0 another), the
/// message's type id (`u16`), the first and last sequence numbers and the count (three
/// `u64`), then four strings, each a `u32` length and UTF-8 bytes: the publishing node, the
/// topic (the subscription's pattern for a drop), the gap in a sentence, and the message's
/// contract name (`Quote`, or `type N` for an id the contracts do not define).
pub fn encode_gap(gap: &TopicGap, out: &mut Vec<u8>) {
    out.push(gap.reason.to_u8());
    out.extend_from_slice(&gap.type_id.to_le_bytes());
    for n in [gap.first_seq, gap.last_seq, gap.count] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    let text = gap.to_string();
    let message = crate::recording::contract_name(gap.type_id);
    for s in [
        gap.source.as_str(),
        gap.topic.as_str(),
        text.as_str(),
        message,
    ] {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
}

/// Encodes each gap and tells it to a foreign actor.
struct GapEncoding {
    to: Arc<dyn ByteService>,
}

impl MessageSink<Published<TopicGap>> for GapEncoding {
    fn try_tell(&self, msg: Published<TopicGap>) -> Result<(), TrySendError<Published<TopicGap>>> {
        let mut body = Vec::new();
        encode_gap(msg.msg(), &mut body);
        match self.to.try_tell(GAP_TYPE_ID, &body) {
            Ok(()) => Ok(()),
            Err(ByteRefusal::Full) => Err(TrySendError::Full(msg)),
            Err(ByteRefusal::Stopped) => Err(TrySendError::Closed(msg)),
        }
    }

    fn tell(
        &self,
        msg: Published<TopicGap>,
    ) -> BoxFuture<'_, Result<(), SendError<Published<TopicGap>>>> {
        let mut body = Vec::new();
        encode_gap(msg.msg(), &mut body);
        let sending = self.to.tell(GAP_TYPE_ID, &body);
        Box::pin(async move { sending.await.map_err(|_| SendError(msg)) })
    }

    fn id(&self) -> ActorId {
        self.to.id()
    }

    fn is_alive(&self) -> bool {
        self.to.is_alive()
    }
}

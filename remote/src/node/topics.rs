//! Topics across nodes, on the node's side: the types it forwards to peers, and its
//! subscriptions to theirs, sent as interest on every link.

use mycelium_codec::WireMessage;

use super::Node;
use crate::error::SubscribeError;
use crate::link::Link;
use crate::topics::RemoteOverflow;

impl Node {
    /// Lets peers subscribe to publications of `M` on this node's bus: each peer that asks
    /// gets one subscription per pattern, and each publication travels to it as one frame.
    pub fn forward_topic<M>(&self)
    where
        M: WireMessage + Send + Sync + 'static,
    {
        self.shared.topics.add::<M>();
        let links: Vec<Link> = self.shared.links().values().cloned().collect();
        for link in links {
            link.inner.serve_waiting(M::TYPE_ID);
        }
    }

    /// Subscribes this node to publications of `M` matching `pattern` on every peer (those
    /// that forward `M`; see [`forward_topic`](Node::forward_topic)): they are published on
    /// this node's bus, where its own subscribers receive them. Exports `M`'s topic on this
    /// bus if it is not yet. A link made later (by [`listen`](Node::listen) or
    /// [`connect`](Node::connect)) sends the interest on its first connection, before
    /// anything else it queued: a process that subscribes before it listens or dials
    /// misses nothing its peer publishes once the link is up. A pattern that breaks the
    /// topic grammar is refused here, before anything is sent. A link that cannot take the
    /// subscription (closed for good) does not keep the others from getting it: every link is
    /// tried, and the first refusal returned.
    ///
    /// The overflow policy is the one the topology file gives this node's subscription to
    /// exactly `pattern` (a `[[node.subscription]]` entry; see [`crate::topology`]) on a node
    /// started from a file, else [`RemoteOverflow::Block`]; see
    /// [`subscribe_remote_with`](Node::subscribe_remote_with) to choose it in code.
    pub async fn subscribe_remote<M>(&self, pattern: &str) -> Result<(), SubscribeError>
    where
        M: WireMessage + Send + Sync + 'static,
    {
        let policy = self.file_policy(pattern).unwrap_or_default();
        self.subscribe_remote_with::<M>(pattern, policy).await
    }

    /// The overflow policy the topology file this node was started from gives its
    /// subscription to `pattern`, if it gives one.
    pub fn file_policy(&self, pattern: &str) -> Option<RemoteOverflow> {
        let topology = self.shared.topology();
        topology.as_ref()?.subscription_policy(self.name(), pattern)
    }

    /// As [`subscribe_remote`](Node::subscribe_remote), with the overflow policy each
    /// publishing peer applies to this subscription while its link to this node is full (this
    /// node slow, stopped or away): see [`RemoteOverflow`]. Under any policy but `Block`, this
    /// node never delays a publisher, its local subscribers or its other links; what the
    /// policy drops is counted on the publishing node and told to this one as a
    /// [`TopicGap`](crate::TopicGap). Subscribing again with another policy changes it.
    pub async fn subscribe_remote_with<M>(
        &self,
        pattern: &str,
        policy: RemoteOverflow,
    ) -> Result<(), SubscribeError>
    where
        M: WireMessage + Send + Sync + 'static,
    {
        mycelium_actors::topic::check_pattern(pattern)?;
        // Already exported is fine: another subscription of the same type did it.
        let _ = self.shared.bus.exports().export_topic::<M>();
        self.change_interest(pattern, M::TYPE_ID, Some(policy))
            .await
    }

    /// Ends what [`subscribe_remote`](Node::subscribe_remote) started for `M` on `pattern`:
    /// every peer stops forwarding it to this node (this node's own subscribers stay, and
    /// see only local publications). A pattern that breaks the topic grammar is refused
    /// before anything is sent; one never subscribed sends nothing. As with subscribing,
    /// every link is tried and the first refusal returned.
    pub async fn unsubscribe_remote<M>(&self, pattern: &str) -> Result<(), SubscribeError>
    where
        M: WireMessage + Send + Sync + 'static,
    {
        mycelium_actors::topic::check_pattern(pattern)?;
        self.change_interest(pattern, M::TYPE_ID, None).await
    }

    /// Sends one interest with `policy` (or, `None`, withdraws it) on every link: each is
    /// tried, and the first refusal returned.
    async fn change_interest(
        &self,
        pattern: &str,
        type_id: u16,
        policy: Option<RemoteOverflow>,
    ) -> Result<(), SubscribeError> {
        self.shared.topics.record_interest(pattern, type_id, policy);
        let links: Vec<Link> = self.shared.links().values().cloned().collect();
        let mut refused = None;
        for link in links {
            let changed = match policy {
                None => link.unsubscribe_remote(pattern, type_id).await,
                Some(policy) => link.subscribe_remote_with(pattern, type_id, policy).await,
            };
            if let Err(e) = changed {
                refused.get_or_insert(e);
            }
        }
        refused.map_or(Ok(()), |e| Err(e.into()))
    }
}

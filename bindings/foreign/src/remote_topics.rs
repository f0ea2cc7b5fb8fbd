//! Topics across nodes for foreign code, which names a contract message by its type id:
//! [`forward_topic`], [`subscribe_remote`] and [`unsubscribe_remote`] are the `Node` methods
//! of those names for the contract type `M` behind the id.

use mycelium_codec::WireMessage;
use mycelium_remote::{Node, SubscribeError};

use crate::topics::{visit_contract, ContractVisitor, ForeignTopicError};

/// Lets the other nodes subscribe to publications of the contract message `type_id` on
/// `node`'s bus ([`Node::forward_topic`]). Call it inside the bus's runtime.
pub fn forward_topic(node: &Node, type_id: u16) -> Result<(), ForeignTopicError> {
    visit_contract(type_id, Forward(node)).ok_or(ForeignTopicError::UnknownType(type_id))
}

/// Subscribes `node` to publications of the contract message `type_id` on topics matching
/// `pattern` on the other nodes that forward them ([`Node::subscribe_remote`]): they are
/// published on `node`'s bus. A bad pattern is refused before anything is sent.
pub async fn subscribe_remote(
    node: &Node,
    type_id: u16,
    pattern: &str,
) -> Result<(), ForeignTopicError> {
    change_interest(node, type_id, pattern, false).await
}

/// Ends what [`subscribe_remote`] started ([`Node::unsubscribe_remote`]).
pub async fn unsubscribe_remote(
    node: &Node,
    type_id: u16,
    pattern: &str,
) -> Result<(), ForeignTopicError> {
    change_interest(node, type_id, pattern, true).await
}

async fn change_interest(
    node: &Node,
    type_id: u16,
    pattern: &str,
    withdraw: bool,
) -> Result<(), ForeignTopicError> {
    let interest = Interest {
        node,
        pattern,
        withdraw,
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

/// `Node::subscribe_remote::<M>`, or `unsubscribe_remote` with `withdraw`.
struct Interest<'a> {
    node: &'a Node,
    pattern: &'a str,
    withdraw: bool,
}

impl<'a> ContractVisitor for Interest<'a> {
    type Out = mycelium_actors::BoxFuture<'a, Result<(), SubscribeError>>;
    fn visit<M: WireMessage + Send + Sync + 'static>(self) -> Self::Out {
        if self.withdraw {
            Box::pin(self.node.unsubscribe_remote::<M>(self.pattern))
        } else {
            Box::pin(self.node.subscribe_remote::<M>(self.pattern))
        }
    }
}

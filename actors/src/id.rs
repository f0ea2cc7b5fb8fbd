//! Addresses: actor ids and the node part that says which process an actor lives in.

use std::fmt;

/// The node (process) an actor lives in, as seen from this process.
///
/// [`NodeId::LOCAL`] (0) is always this process's own bus: every id a [`Bus`](crate::Bus)
/// allocates is on it. Other nodes are numbered from 1. A topology names its nodes by string
/// (`"feed"`, `"exec"`); the link layer that loads it gives the node listed at position `i`
/// (0-based, in file order) the id `NodeId::new(i + 1)`, so every process that loads the same
/// topology agrees on the numbers. A process still addresses its own actors with
/// [`NodeId::LOCAL`], whatever its position in the file; the mapping back from a number to
/// the node's name belongs to that topology.
///
/// ```
/// use mycelium_actors::{ActorId, NodeId};
///
/// let exec = NodeId::new(3);
/// let remote = ActorId::new(exec, 5);
/// assert_eq!((remote.node(), remote.local()), (exec, 5));
/// assert_eq!(remote.to_string(), "#5@node3");
/// assert_eq!(ActorId::new(NodeId::LOCAL, 5).to_string(), "#5");
/// assert!(NodeId::LOCAL.is_local() && !exec.is_local());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(u32);

impl NodeId {
    /// This process's own node.
    pub const LOCAL: NodeId = NodeId(0);

    /// The node numbered `n` (0 is [`NodeId::LOCAL`]).
    pub const fn new(n: u32) -> NodeId {
        NodeId(n)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// True for [`NodeId::LOCAL`].
    pub const fn is_local(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_local() {
            f.write_str("local")
        } else {
            write!(f, "node{}", self.0)
        }
    }
}

/// The identity of an actor: the node it lives on and its number on that node's bus.
///
/// A [`Bus`](crate::Bus) allocates local ids ([`NodeId::LOCAL`]) in spawn order, starting at
/// 1, so the same program spawns the same ids on every run. An id stays the same across
/// restarts. A proxy for an actor in another process builds its id with
/// [`ActorId::new`] from the peer's node and the number the peer's bus gave the actor.
///
/// Displayed as `#5` for a local actor and `#5@node3` for one on node 3.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId {
    node: NodeId,
    local: u64,
}

impl ActorId {
    /// The id of actor number `local` on `node`.
    pub const fn new(node: NodeId, local: u64) -> ActorId {
        ActorId { node, local }
    }

    /// A local id, as a bus allocates them.
    pub(crate) const fn local_id(local: u64) -> ActorId {
        ActorId::new(NodeId::LOCAL, local)
    }

    /// The node the actor lives on.
    pub const fn node(self) -> NodeId {
        self.node
    }

    /// Its number on its node's bus.
    pub const fn local(self) -> u64 {
        self.local
    }

    /// Its number on its node's bus; the same as [`local`](Self::local).
    pub const fn get(self) -> u64 {
        self.local
    }

    /// True when the actor lives in this process.
    pub const fn is_local(self) -> bool {
        self.node.is_local()
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.node.is_local() {
            write!(f, "#{}", self.local)
        } else {
            write!(f, "#{}@{}", self.local, self.node)
        }
    }
}

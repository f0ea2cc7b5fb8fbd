//! Hostile bytes on the socket: the link closes with a logged reason; the process and the
//! listener live on and serve the next, well-behaved peer.

#[path = "../common/mod.rs"]
mod common;

mod malformed_frames;
mod replies;
mod structured_nonsense;
mod topic_interests;
mod unauthenticated;

use std::sync::Arc;

use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, Node};

/// A well-behaved node `b` connects to the node at `at` and tells service `svc` "after";
/// returns `b`, to keep alive until the delivery is seen.
pub(crate) async fn good_peer_tells_after(bus: &Bus, rec: Arc<Recorder>, at: Endpoint) -> Node {
    let (b, _) = node("b", bus, rec, fast_config());
    let link = b.connect("a", at);
    let svc: Arc<str> = "svc".into();
    link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"after"))
        .await
        .unwrap();
    b
}

//! Links between Mycelium nodes over Unix domain sockets and TCP.
//!
//! A [`Node`] is this process on the network: a name, a fresh instance id and incarnation,
//! the schema digest it speaks and a shared secret. It listens for peers and dials them; each peer gets one
//! [`Link`], which outlives connections. A link:
//!
//! - authenticates both ways (HMAC-SHA256 challenge-response over the shared secret) and
//!   checks the schema before any message frame is accepted;
//! - numbers every data frame, keeps it until the peer acknowledges it, resends after a
//!   reconnection and drops duplicates: in order, nothing lost, nothing twice; when loss
//!   cannot be avoided (the peer restarted, the link gave up) it says so in a
//!   [`LossReport`], which names each message by the sequence number its send returned;
//! - acknowledges a tell only once the receiving actor's handler for it has run, not once it
//!   is queued (a receipt travels with the message through the mailbox): while the sender
//!   lives, a tell is handled effectively once (at least once, resends to the same receiver
//!   dropped as duplicates), and what sat in the mailbox of a receiver killed with SIGKILL is
//!   reported lost to the sender, never lost silently. What the sending process held when it
//!   died itself is gone with it, unreported (docs/remote.md, "What this guarantees");
//! - bounds its queue in messages and in bytes ([`LinkConfig::queue_capacity`],
//!   [`LinkConfig::queue_bytes`]): [`Link::send`] waits for room, [`Link::try_send`] refuses;
//! - puts remote services behind the actors' own addresses ([`RemoteActor`] is a
//!   `MessageSink` and a `RequestSink`, so `Recipient` and `ReplyRecipient` work unchanged),
//!   hands incoming frames to the bus's export table, and carries topics across nodes
//!   ([`Node::forward_topic`], [`Node::subscribe_remote`]);
//! - sends heartbeats ahead of data and declares a silent peer dead after a timeout of bus
//!   time; reconnects with exponential backoff and seeded jitter; reports every state change
//!   to an observer and to `tracing` (target `mycelium::remote`).
//! - runs its connections under a supervisor on both sides (the dialling side's connection
//!   driver, the accepting side's keeper): a panicking connection is restarted with backoff
//!   and resumes from the link's log, and one that keeps panicking gives the link up with a
//!   loss report;
//! - with a bus built with `metrics(true)`, records its state, frames, bytes, resends and
//!   loss reports through the `metrics` facade;
//! - over TCP, optionally runs TLS (feature `tls`: [`Node::listen_tls`],
//!   [`Node::connect_tls`], certificates from files named in `topology.toml`), with its own
//!   handshake inside.
//!
//! Two nodes on TCP loopback: an actor exported on one bus answers asks from the other
//! through an ordinary `ReplyRecipient` (a topology file does the same wiring by name, see
//! [`Node::from_topology`]):
//!
//! ```
//! use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, ReplyRecipient};
//! use mycelium_contracts::{CancelOrder, OrderAck};
//! use mycelium_remote::{Endpoint, LocalSchema, Node, RemoteActor, Secret};
//!
//! struct Venue;
//! impl Actor for Venue {
//!     type Args = ();
//!     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Venue) }
//! }
//! impl Handler<CancelOrder> for Venue {
//!     type Reply = OrderAck;
//!     async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
//!         OrderAck { client_order_id: c.client_order_id, venue_order_id: "V1".into(), ts_ns: c.ts_ns, venue_ts_ns: None }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! // The whole schema, not only its digest: a peer whose contracts changed compatibly
//! // (a field added, say) still links, where `from_digest` refuses every other digest.
//! let schema = LocalSchema::from_yaml("contracts.yaml", include_str!("../../contracts.yaml"))?;
//! let secret = Secret::new(*b"a shared secret of 32 bytes.....")?;
//!
//! // Node "exec": the venue, exported under the service name "venue".
//! let exec_bus = Bus::new();
//! let venue = exec_bus.spawn::<Venue>(());
//! exec_bus.exports().export_ask("venue", venue.reply_recipient::<CancelOrder>())?;
//! let exec = Node::builder("exec", schema.clone(), secret.clone())
//!     .build(&exec_bus, std::sync::Arc::new(exec_bus.exports()));
//! let at = exec.listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["strategy"]).await?;
//!
//! // Node "strategy": the same call as for a local actor.
//! let bus = Bus::new();
//! let strategy = Node::builder("strategy", schema, secret)
//!     .build(&bus, std::sync::Arc::new(bus.exports()));
//! let venue: ReplyRecipient<CancelOrder, OrderAck> =
//!     RemoteActor::new(strategy.connect("exec", at), "venue").reply_recipient();
//! let ack = venue.ask(CancelOrder { client_order_id: 7, instrument: 1, ts_ns: 9 }).await?;
//! assert_eq!((ack.client_order_id, ack.ts_ns), (7, 9));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The wire layout and the protocol are specified in `docs/remote.md`.
#![warn(missing_docs)]

mod accept;
pub mod config;
mod connection;
pub mod dial;
pub mod dispatch;
pub mod error;
pub mod event;
mod exports;
pub mod frame;
mod handled;
pub mod handshake;
pub mod link;
mod node;
mod polled;
mod proxy;
mod read;
pub mod reader;
pub mod schema;
pub mod secret;
mod service;
mod session;
pub mod shm;
#[cfg(test)]
mod test_dir;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls_off.rs"]
mod tls;
mod topics;
pub mod topology;
pub mod transport;
mod write;

pub use accept::{MAX_HANDSHAKES, MAX_HANDSHAKES_PER_SOURCE};
pub use config::{LinkConfig, Mode, MIN_MAX_FRAME};
pub use dispatch::{AskNow, Dispatch, ReplyFuture};
pub use error::{
    DispatchError, DrainError, HandshakeError, RemoteAskError, SecretError, SendError, SetupError,
    SubscribeError, TransportError, WireError,
};
pub use event::{
    GapReason, LinkEvent, LinkEventKind, LossReason, LossReport, LostMessage, Observer, TopicGap,
    GAP_TOPIC,
};
pub use link::{Link, LinkStats, OnReply, RemoteReply, ReplyBody};
pub use node::{Node, NodeBuilder};
pub use proxy::RemoteActor;
pub use schema::LocalSchema;
pub use secret::Secret;
pub use service::RemoteService;
#[cfg(feature = "tls")]
pub use tls::{TlsClient, TlsError, TlsServer};
pub use topics::RemoteOverflow;
pub use topology::{NodeSpec, SecretSource, SubscriptionSpec, TlsSpec, Topology, TopologyError};
pub use transport::Endpoint;

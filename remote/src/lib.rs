//! Links between Mycelium nodes over Unix domain sockets and TCP.
//!
//! A [`Node`] is this process on the network: a name, a fresh instance id, the schema digest
//! it speaks and a shared secret. It listens for peers and dials them; each peer gets one
//! [`Link`], which outlives connections. A link:
//!
//! - authenticates both ways (HMAC-SHA256 challenge-response over the shared secret) and
//!   checks the schema before any message frame is accepted;
//! - numbers every data frame, keeps it until the peer acknowledges it, resends after a
//!   reconnection and drops duplicates: in order, nothing lost, nothing twice; when loss
//!   cannot be avoided (the peer restarted, the link gave up) it says so in a
//!   [`LossReport`];
//! - bounds its queue: [`Link::send`] waits for room, [`Link::try_send`] refuses;
//! - sends heartbeats ahead of data and declares a silent peer dead after a timeout of bus
//!   time; reconnects with exponential backoff and seeded jitter; reports every state change
//!   to an observer and to `tracing` (target `mycelium::remote`).
//!
//! Two nodes on TCP loopback, one asking the other:
//!
//! ```
//! use std::sync::Arc;
//! use mycelium_actors::{BoxFuture, Bus};
//! use mycelium_remote::{
//!     Dispatch, DispatchError, Endpoint, LocalSchema, Node, ReplyFuture, Secret,
//! };
//!
//! /// Answers every ask with its body reversed.
//! struct Reverse;
//! impl Dispatch for Reverse {
//!     fn tell<'a>(&'a self, _: &'a str, _: u16, _: &'a [u8]) -> BoxFuture<'a, Result<(), DispatchError>> {
//!         Box::pin(async { Ok(()) })
//!     }
//!     fn ask<'a>(&'a self, _: &'a str, type_id: u16, body: &'a [u8])
//!         -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
//!         let reply: Vec<u8> = body.iter().rev().copied().collect();
//!         Box::pin(async move { Ok(Box::pin(async move { Ok((type_id, reply)) }) as ReplyFuture) })
//!     }
//!     fn publish<'a>(&'a self, _: &'a str, _: u16, _: &'a [u8]) -> BoxFuture<'a, Result<(), DispatchError>> {
//!         Box::pin(async { Ok(()) })
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let schema = LocalSchema::from_digest([7; 32]);
//! let secret = Secret::new(*b"a shared secret of 32 bytes.....")?;
//!
//! let a = Node::builder("a", schema, secret.clone()).build(&bus, Arc::new(Reverse));
//! let at = a.listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"]).await?;
//!
//! let b = Node::builder("b", schema, secret).build(&bus, Arc::new(Reverse));
//! let to_a = b.connect("a", at);
//! let service: Arc<str> = Arc::from("echo");
//! let (type_id, reply) = to_a.ask(&service, 42, |out| out.extend_from_slice(b"abc")).await?;
//! assert_eq!((type_id, reply.as_slice()), (42, &b"cba"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The wire layout and the protocol are specified in `docs/remote.md`.
#![warn(missing_docs)]

pub mod config;
mod connection;
pub mod dial;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod link;
mod node;
pub mod reader;
pub mod schema;
pub mod secret;
mod service;
mod session;
pub mod shm;
pub mod topology;
pub mod transport;

pub use config::{LinkConfig, Mode};
pub use dispatch::{Dispatch, ReplyFuture};
pub use error::{
    DispatchError, HandshakeError, RemoteAskError, SecretError, SendError, SetupError,
    TransportError, WireError,
};
pub use event::{LinkEvent, LinkEventKind, LossReason, LossReport, LostMessage, Observer};
pub use link::{Link, LinkStats, RemoteReply};
pub use node::{Node, NodeBuilder};
pub use schema::LocalSchema;
pub use secret::Secret;
pub use service::RemoteService;
pub use topology::{NodeSpec, SecretSource, Topology, TopologyError};
pub use transport::Endpoint;

//! # Mycelium
//!
//! Typed actors with mailboxes, supervision trees with exponential backoff, and isolated
//! buses, for trading systems and other low-latency services.
//!
//! ```
//! use mycelium::prelude::*;
//!
//! struct Counter(u64);
//! impl Actor for Counter {
//!     type Args = u64;
//!     async fn on_start(n: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Counter(n)) }
//! }
//! impl Handler<u64> for Counter {
//!     type Reply = u64;
//!     async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 { self.0 += n; self.0 }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let counter = bus.spawn::<Counter>(0);
//! counter.tell(2).await.unwrap();
//! assert_eq!(counter.ask(3).await.unwrap(), 5);
//! # });
//! ```
//!
//! The crates behind it: [`mailbox`] (queues), [`actors`] (actors, refs, the bus, the
//! clock, [topics](mycelium_actors::topic), the [export table](mycelium_actors::export) that
//! links to other processes deliver into), [`supervisor`] (supervision trees).

#![warn(missing_docs)]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use mycelium_actors as actors;
/// `actor_from_args!(Counter)`: an actor whose state is its spawn arguments, in one line (see
/// [`mycelium_actors::actor_from_args`]).
pub use mycelium_actors::actor_from_args;
pub use mycelium_mailbox as mailbox;
pub use mycelium_supervisor as supervisor;

/// What a first program needs: `use mycelium::prelude::*;`.
///
/// An actor ([`Actor`](mycelium_actors::Actor), [`Handler`](mycelium_actors::Handler),
/// [`Context`](mycelium_actors::Context)), its address and errors
/// ([`ActorRef`](mycelium_actors::ActorRef), [`AskError`](mycelium_actors::AskError),
/// [`SendError`](mycelium_actors::SendError), [`BoxError`](mycelium_actors::BoxError)), the
/// [`Bus`](mycelium_actors::Bus), topic subscriptions
/// ([`Published`](mycelium_actors::Published),
/// [`SubscribeOptions`](mycelium_actors::SubscribeOptions)) and a supervision tree
/// ([`Supervisor`](mycelium_supervisor::Supervisor),
/// [`ChildSpec`](mycelium_supervisor::ChildSpec),
/// [`RestartStrategy`](mycelium_supervisor::RestartStrategy)). Everything else lives under its
/// crate: [`mycelium::actors`](crate::actors) (refs, recipients, the clock, dead letters,
/// failures, spawn options, topics), [`mycelium::supervisor`](crate::supervisor) (backoff,
/// restart and shutdown policies, pools, events) and [`mycelium::mailbox`](crate::mailbox).
pub mod prelude {
    pub use mycelium_actors::{
        Actor, ActorRef, AskError, BoxError, Bus, Context, Handler, Published, SendError,
        SubscribeOptions,
    };
    pub use mycelium_supervisor::{ChildSpec, RestartStrategy, Supervisor};
}

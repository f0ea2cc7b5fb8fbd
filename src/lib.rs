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

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use mycelium_actors as actors;
pub use mycelium_mailbox as mailbox;
pub use mycelium_supervisor as supervisor;

/// Everything a first program needs: `use mycelium::prelude::*;`.
pub mod prelude {
    pub use mycelium_actors::Down;
    pub use mycelium_actors::{
        Actor, ActorId, ActorRef, AskError, BoxError, Bus, BusExit, ClockMode, Context, DeadLetter,
        DeadLetterReason, Failure, Handler, MailboxConfig, OnFailure, Overflow, PublishReport,
        Published, Publisher, Recipient, Reply, ReplyRecipient, SendError, SpawnError,
        SpawnOptions, StopReason, SubscribeOptions, Subscription, SubscriptionStats, TopicError,
        TopicStream, TrySendError,
    };
    pub use mycelium_supervisor::{
        AutoShutdown, Backoff, ChildSpec, ChildState, Pool, Restart, RestartStrategy, Shutdown,
        SupervisionEvent, Supervisor, SupervisorError, SupervisorRef,
    };
}

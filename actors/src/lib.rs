//! Typed actors with mailboxes, on tokio.
//!
//! An [`Actor`] is state that lives in its own task and changes only by handling messages,
//! one [`Handler`] impl per message type. An [`ActorRef`] sends to it: [`tell`](ActorRef::tell)
//! (waits for room in the bounded mailbox), [`try_tell`](ActorRef::try_tell) (hands the message
//! back when full), [`ask`](ActorRef::ask) (waits for the reply). Everything actors share —
//! ids, names, clock, random numbers, dead letters — belongs to one [`Bus`], and buses never
//! see each other.
//!
//! ```
//! use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
//!
//! struct Counter { total: u64 }
//!
//! impl Actor for Counter {
//!     type Args = u64;
//!     async fn on_start(start: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
//!         Ok(Counter { total: start })
//!     }
//! }
//!
//! struct Add(u64);
//! impl Handler<Add> for Counter {
//!     type Reply = u64;
//!     async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) -> u64 {
//!         self.total += n;
//!         self.total
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let counter = bus.spawn::<Counter>(10);
//! counter.tell(Add(5)).await.unwrap();
//! assert_eq!(counter.ask(Add(1)).await.unwrap(), 16);
//! # });
//! ```
//!
//! Addresses: an [`ActorRef`] is local to this process. [`Recipient<M>`] (tells) and
//! [`ReplyRecipient<M, R>`] (tells and asks) are the location-transparent addresses: the same
//! calls reach a local actor or, behind a [`MessageSink`] / [`RequestSink`] proxy, one in
//! another process. A message still in this process comes back on a refusal; an answer lost
//! after the request left is [`AskError::Lost`]. Incoming bytes from other processes reach
//! this bus's actors and topics through its [export table](export).
//!
//! Failures: a panic in a handler or hook is caught. For an `ask` the caller gets
//! [`AskError::Failed`]; the failed message goes to the bus's [`DeadLetters`]; the actor's
//! [`on_failure`](Actor::on_failure) hook decides to continue or to end the incarnation, after
//! which its supervisor (crate `mycelium-supervisor`) restarts it in place or lets it stop.
//!
//! Many idle actors: an actor has no task until its first mail, only its cell and a small
//! allocation with its state (about half the memory of an idle actor that is a task); its bus
//! starts it, and its first mail gives it a task of its own. One spawned with
//! [`SpawnOptions::hibernate`] gives its task up again whenever its mailbox is empty.
//!
//! Metrics: a bus built with [`metrics(true)`](BusBuilder::metrics) records mailbox depth,
//! handler time, topic publishes, delivery latency and drops through the `metrics` facade, in
//! bus time; the [`telemetry`] module lists the names and gives remote transports their hooks.

#![warn(missing_docs)]

mod actor;
mod actor_ref;
mod actor_table;
mod bus;
mod clock;
mod context;
mod dead_letters;
mod direct;
mod envelope;
mod error;
pub mod export;
mod failure;
mod handler;
mod hibernation;
mod id;
mod panic;
mod receipt;
mod recipient;
pub mod recording;
mod reply_recipient;
mod rng;
mod runner;
mod shared;
mod slot;
mod supervision;
pub mod telemetry;
#[cfg(test)]
mod test_actors;
pub mod topic;

pub use actor::{Actor, BoxError};
pub use actor_ref::ActorRef;
pub use bus::{ActorSummary, Bus, BusBuilder, BusExit, ShutdownReport, SpawnOptions};
pub use clock::{Clock, ClockMode};
pub use context::{next_deadline, Context, Down, TimerHandle, WatchHandle};
pub use dead_letters::{DeadLetter, DeadLetterReason, DeadLetters, LOGGED_PER_EVENT};
pub use error::{AskError, BusError, SendError, SpawnError, TrySendError};
pub use failure::{Failure, FailureKind, OnFailure, Phase, StopReason};
pub use handler::{Handler, Reply};
pub use id::{ActorId, NodeId};
pub use mycelium_mailbox::MailboxConfig;
pub use receipt::{Receipt, ReceiptBook};
pub use recipient::{MessageSink, Recipient};
pub use reply_recipient::{PendingReply, Placed, Queued, ReplyRecipient, ReplySender, RequestSink};
pub use rng::DetRng;
pub use supervision::{ChildHandle, SupervisionLink};
pub use topic::{
    Overflow, PublishReport, Published, Publisher, SubscribeOptions, Subscription,
    SubscriptionStats, TopicError, TopicStream,
};

/// Boxed future type used at type-erased boundaries.
pub type BoxFuture<'a, T> = envelope::BoxFuture<'a, T>;

//! Actors hosted in another language (Python, C, OCaml), in process, supervised like any
//! other.
//!
//! A language implements [`Foreign`] once: start an incarnation from arguments, handle a
//! contract message given as bytes ([`ForeignMessage`]) and maybe reply, stop. A
//! [`ForeignActor`] runs those callbacks on host threads — never on a worker that Rust
//! actors need, and on a virtual-time bus with the clock held still while they run, but not
//! while they wait on the bus ([`poll_for`]). Mail is handled in batches: one host thread per actor with mail takes what is
//! queued, enters the language once ([`Foreign::run_batch`]: the GIL, the OCaml runtime
//! lock) and runs the handlers in order, then gives the thread back (after a spin, if
//! `MYCELIUM_HOST_SPIN_US` asks for one). An `Err` from a callback is a failure exactly
//! like a Rust panic: the message goes to the dead letters, an asker gets `AskError::Failed` at once, and a supervisor restarts
//! the actor in place (re-running `start` with the same arguments) after its backoff.
//!
//! ```
//! use std::sync::Arc;
//! use mycelium_actors::{Bus, SpawnOptions, StopReason};
//! use mycelium_foreign::{spawn, Foreign, ForeignMessage, ForeignRef};
//!
//! /// A "foreign" counter whose state is a number; it answers every message with its count.
//! struct Counting;
//! impl Foreign for Counting {
//!     type Args = u64;
//!     type State = u64;
//!     fn start(&self, first: &u64, _me: &ForeignRef<Self>) -> Result<u64, String> { Ok(*first) }
//!     fn handle(&self, n: &mut u64, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
//!         if msg.body == b"boom" { return Err("boom".into()); }
//!         *n += 1;
//!         Ok(Some(ForeignMessage { type_id: msg.type_id, body: n.to_le_bytes().to_vec() }))
//!     }
//!     fn stop(&self, _n: u64, _reason: &StopReason) {}
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let counter = spawn(&bus, Arc::new(Counting), 10, SpawnOptions::new()).await.unwrap();
//! counter.export(&bus, "counter", &[900]).unwrap();
//! let (_, reply) = bus.exports().ask("counter", 900, b"").await.unwrap();
//! assert_eq!(reply, 11u64.to_le_bytes());
//! # });
//! ```
//!
//! Rust actors by name: a crate [registers](registry::register) its own Rust actors once per
//! process (the name, the schema they speak, how their `Args` build from a text argument,
//! the messages they take), and every binding of the process starts them by that name
//! ([`registry::Kind`]), unsupervised or as children of a supervision tree, reached by
//! service name. The [`builtin`] example actors are registrations like any other.
//!
//! Topics: [`publish_bytes`] and [`subscribe_bytes`] connect foreign code to typed topics of
//! the contract types; [`publish_schema_bytes`] and [`subscribe_schema_bytes`] carry the
//! messages of a schema that has no Rust types in the process between foreign actors.
//!
//! Direct calls: every foreign actor has a [`ForeignGate`]. A ref that carries it (the one
//! [`spawn`] returns; a supervised child's with [`ForeignRef::with_gate`] and the gate from
//! [`gated_child_spec`]) counts what it sends, and [`ForeignRef::try_direct`] runs a call with
//! the actor's callbacks and state on the calling thread when the actor is idle, saving the
//! thread hand-offs of the mailbox path: [`Direct::Done`], [`Direct::Failed`] (the actor
//! fails and restarts as for any failure), or [`Direct::Busy`] (nothing ran: send through the
//! mailbox). Continuing the example above:
//!
//! ```
//! # use std::sync::Arc;
//! # use mycelium_actors::{Bus, SpawnOptions, StopReason};
//! # use mycelium_foreign::{spawn, Direct, Foreign, ForeignMessage, ForeignRef};
//! # struct Counting;
//! # impl Foreign for Counting {
//! #     type Args = u64;
//! #     type State = u64;
//! #     fn start(&self, first: &u64, _me: &ForeignRef<Self>) -> Result<u64, String> { Ok(*first) }
//! #     fn handle(&self, n: &mut u64, msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
//! #         *n += 1;
//! #         Ok(Some(ForeignMessage { type_id: msg.type_id, body: n.to_le_bytes().to_vec() }))
//! #     }
//! #     fn stop(&self, _n: u64, _reason: &StopReason) {}
//! # }
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let counter = spawn(&bus, Arc::new(Counting), 10, SpawnOptions::new()).await.unwrap();
//! let msg = ForeignMessage { type_id: 900, body: Vec::new() };
//! match counter.try_direct(msg.type_id, |foreign, state| foreign.handle(state, msg)) {
//!     Direct::Done(Some(reply)) => assert_eq!(reply.body, 11u64.to_le_bytes()),
//!     Direct::Busy => { /* queued or running: ask through the mailbox instead */ }
//!     other => panic!("{other:?}"),
//! }
//! # });
//! ```

#![warn(missing_docs)]

mod actor;
pub mod builtin;
mod child;
mod count;
mod foreign;
mod gate;
mod host;
pub use host::{give_turn, hold_clock, take_turn, turn_waker, HeldClock};
mod letters;
mod mail;
pub mod recording;
pub mod registry;
mod remote_topics;
mod runtime;
mod service;
mod switch;
mod timers;
mod topics;
mod typed;

pub use actor::{ForeignActor, ForeignReply, ForeignSpec};
pub use child::{child_recipient, child_reply_recipient, export_child, export_gated_child};
pub use foreign::{name_by_type_id, Foreign, ForeignMessage};
pub use gate::ForeignGate;
pub use letters::dead_letter_type_id;
pub use mail::QUEUE_ROOM;
pub use recording::{ForeignRecord, ForeignRecording};
pub use remote_topics::{
    encode_gap, forward_topic, remote_overflow, subscribe_gaps, subscribe_remote,
    unsubscribe_remote, GAP_TYPE_ID,
};
pub use runtime::{poll_for, virtual_runtime, HostError, HostedBus};
pub use service::{
    child_spec, gated_child_spec, spawn, spawn_recorded, Direct, ForeignAskError, ForeignRef,
    ForeignSpawnError,
};
pub use switch::DeliverySwitch;
pub use timers::{ForeignTimer, TimerError, MIN_PERIOD};
pub use topics::{
    publish_bytes, publish_schema_bytes, subscribe_bytes, subscribe_schema_bytes, visit_contract,
    ContractVisitor, ForeignTopicError, SchemaMessage, CONTRACT_TYPE_IDS,
};
pub use typed::{typed_recipient, typed_reply_recipient};

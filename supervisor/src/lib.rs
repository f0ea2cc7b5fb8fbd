//! Supervision trees for Mycelium actors, in the OTP tradition with Akka's backoff.
//!
//! ```
//! use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
//! use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
//! use std::time::Duration;
//!
//! struct Strategist { ticks: u64 }
//! impl Actor for Strategist {
//!     type Args = ();
//!     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
//!         Ok(Strategist { ticks: 0 })
//!     }
//! }
//! struct Tick(f64);
//! impl Handler<Tick> for Strategist {
//!     type Reply = u64;
//!     async fn handle(&mut self, Tick(px): Tick, _ctx: &mut Context<Self>) -> u64 {
//!         assert!(px > 0.0, "bad tick: {px}");
//!         self.ticks += 1;
//!         self.ticks
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! # std::panic::set_hook(Box::new(|_| {}));
//! let bus = Bus::builder().virtual_time().build().unwrap();
//! let tree = Supervisor::builder(RestartStrategy::OneForOne)
//!     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5)))
//!     .child(ChildSpec::new::<Strategist>("strategy", ()))
//!     .spawn(&bus)
//!     .await
//!     .unwrap();
//! let strategy = tree.child::<Strategist>("strategy").unwrap();
//! assert_eq!(strategy.ask(Tick(1.0)).await.unwrap(), 1);
//! assert!(strategy.ask(Tick(-1.0)).await.is_err()); // panics: restarted after 100 ms
//! assert_eq!(strategy.ask(Tick(2.0)).await.unwrap(), 1); // same ref, fresh state
//! tree.stop().await; // returns once the whole tree is down
//! # });
//! ```
//!
//! # The rules
//!
//! A [`Supervisor`] is an actor with an ordered list of [`ChildSpec`]s. Everything below
//! reads the bus clock, so on a virtual-time bus it is exact and repeatable.
//!
//! **Starting.** Children start in spec order, each after the previous one's `on_start`
//! succeeded. If one fails, [`SupervisorBuilder::spawn`] fails at once with
//! [`SpawnError::StartFailed`](mycelium_actors::SpawnError::StartFailed) naming that child
//! and its cause; the children already started are stopped in reverse order and the later
//! ones never start. A spec that cannot work (duplicate child names, an empty name, a zero
//! intensity period, a zero shutdown timeout, a permanent or misplaced significant child) is
//! refused before anything starts with [`SpawnError::InvalidSpec`](mycelium_actors::SpawnError::InvalidSpec);
//! [`SupervisorBuilder::validate`] gives the typed [`SpecError`].
//!
//! **Restarting.** When an incarnation of a child ends by itself, its [`Restart`] type
//! decides: `Permanent` always restarts, `Transient` only after a failure (a panic, an error,
//! or being killed; not a normal stop nor a `Shutdown`), `Temporary` never (and its spec is
//! removed whenever it exits). Restarts happen *in place*: the child's `ActorRef`, its id and
//! the messages queued behind the one that failed survive; the failed message goes to the
//! bus's dead letters. The [`RestartStrategy`] picks the group restarted with it
//! (`OneForOne`: the child; `OneForAll`: all; `RestForOne`: the child and those started
//! after it). The group's running members are stopped in reverse start order (a temporary
//! member is stopped for good and removed), all wait the failed child's [`Backoff`], then
//! start again one at a time in start order. A restart attempt whose `on_start` fails is a
//! failure of that child like any other, with its own event
//! ([`SupervisionEvent::RestartFailed`]): under rest_for_one the next attempt resumes at that
//! child (those before it keep running, those after it wait); under one_for_all the whole
//! group starts again. Calls to the supervisor are served between the steps of a restart.
//!
//! **Intensity.** Every restart is recorded in a window of bus time: more than `n` restarts
//! within `period` ([`SupervisorBuilder::intensity`]; the window includes its boundary, as
//! OTP's: with 1 per 1000 ms, failures at 0 and 1000 give up), or the `k + 1`-th consecutive
//! failure of a child under [`Backoff::max_restarts`], makes the supervisor give up: it stops
//! all its children in reverse order and fails to its parent; at the root, the bus fails and
//! shuts down with the reason (`Bus::wait_stopped`).
//!
//! **Backoff.** Attempt `n` since the child last ran cleanly waits `d = min(initial·factorⁿ,
//! cap)` plus seeded jitter, within `[d, min(cap, d·(1+jitter))]`; the count resets after a
//! clean run of `reset_after`.
//!
//! **Stopping.** A child is stopped by its [`Shutdown`]: `Timeout(d)` (workers' default: 5 s)
//! asks it to stop and kills it after `d`; `Immediate` kills it; `Infinity` (a nested
//! supervisor's default) waits as long as it takes. A supervisor's children are always
//! stopped, in reverse start order, before its own exit is reported, whether it stops, fails
//! or is killed; a killed supervisor's children are stopped by whoever killed it (its parent
//! kills the whole subtree). [`SupervisorRef::stop`] returns only when the whole tree is
//! down. A child's final reason is kept: one that crashed while being stopped reports its
//! failure (a `Failed` event), not the supervisor's `Shutdown`; a stop the supervisor asked
//! for ends with `Shutdown`, a child's own stop with `Normal`.
//!
//! **Operating.** [`SupervisorRef::which_children`] (every spec in start order with its
//! [`ChildState`]) and [`SupervisorRef::count_children`]; [`add_child`](SupervisorRef::add_child)
//! (a failed start returns the error and keeps nothing), [`stop_child`](SupervisorRef::stop_child)
//! (the spec is kept and the child stays stopped through later group restarts: an operator's
//! stop is a kill switch), [`restart_child`](SupervisorRef::restart_child) (starts a stopped
//! child; records no restart), [`delete_child`](SupervisorRef::delete_child) (only a stopped
//! child), [`remove_child`](SupervisorRef::remove_child) (stop and delete). A restarted nested
//! supervisor comes back with its *declared* children only; children added to it at run time
//! are not recreated.
//!
//! **Addresses that follow a child.** [`SupervisorRef::child`] gives the child's ref, which
//! stays valid across restarts in place but not when a killed child is spawned anew.
//! [`SupervisorRef::child_recipient`] (tells) and [`SupervisorRef::child_reply_recipient`]
//! (tells and asks) give a `Recipient` / `ReplyRecipient` that follows the child by name:
//! each send reaches the incarnation that runs then. Export one
//! (`bus.exports().export_ask(service, tree.child_reply_recipient::<A, M>(name).unwrap())`)
//! and the service survives kills, as a registered name follows a restarted process in
//! OTP. While no incarnation runs, sends are refused with the message handed back;
//! `is_alive` turns false only once the tree will not start the child again.
//!
//! **Auto-shutdown.** With [`AutoShutdown::AnySignificant`] or [`AutoShutdown::AllSignificant`]
//! a supervisor ends normally when any / all of its significant children
//! ([`ChildSpec::significant`]) are done: only exits a child causes itself count.
//!
//! **Pools.** [`Pool`] is OTP's `simple_one_for_one`: one template, children started with
//! their own arguments ([`PoolRef::start_child`]), restarts reuse those arguments, shut
//! down in parallel.
//!
//! **Events.** Every step is a [`SupervisionEvent`], given to the observer set with
//! [`SupervisorBuilder::on_event`] and emitted as a `tracing` event (target
//! `mycelium::supervisor`). `Started` and `Restarted` come only after `on_start` succeeded.
//!
//! Watching an actor (one notice when it stops for good, never for restarts) is
//! `Context::watch`; an actor's own linked children are `Context::spawn_child` (both in
//! `mycelium-actors`).

#![warn(missing_docs)]

mod auto_shutdown;
mod backoff;
mod builder;
mod child_address;
mod child_spec;
mod directory;
mod error;
mod event;
mod intensity;
mod policy;
mod pool;
mod restart_strategy;
mod shutdown;
mod supervisor;
mod supervisor_ref;

pub use auto_shutdown::AutoShutdown;
pub use backoff::Backoff;
pub use builder::{SupervisorBuilder, SupervisorConfig};
pub use child_spec::{ChildSpec, Restart};
pub use error::{SpecError, SupervisorError};
pub use event::{Observer, SupervisionEvent};
pub use pool::{Pool, PoolBuilder, PoolRef};
pub use restart_strategy::RestartStrategy;
pub use shutdown::Shutdown;
pub use supervisor::Supervisor;
pub use supervisor_ref::{ChildCount, ChildInfo, ChildRef, ChildState, SupervisorRef};

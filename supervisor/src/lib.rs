//! Supervision trees for Mycelium actors.
//!
//! A [`Supervisor`] is an actor with an ordered list of [`ChildSpec`]s. It starts its children
//! in order, restarts them by its [`Strategy`] (one_for_one, one_for_all, rest_for_one) when
//! they fail, waits an exponential [`Backoff`] between restarts of a child, and gives up when
//! more than N restarts happen within a window T: it then stops its children and fails to its
//! own parent, up to the root, whose failure stops the bus with the reason.
//!
//! Restarts happen *in place*: the child's `ActorRef`, its id and the messages queued behind
//! the one that failed survive; the failed message goes to the bus's dead letters.
//!
//! ```
//! use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
//! use mycelium_supervisor::{Backoff, ChildSpec, Strategy, Supervisor};
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
//! let tree = Supervisor::builder(Strategy::OneForOne)
//!     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5)))
//!     .child(ChildSpec::new::<Strategist>("strategy", ()))
//!     .spawn(&bus)
//!     .await
//!     .unwrap();
//! let strategy = tree.child::<Strategist>("strategy").unwrap();
//! assert_eq!(strategy.ask(Tick(1.0)).await.unwrap(), 1);
//! assert!(strategy.ask(Tick(-1.0)).await.is_err()); // panics: restarted after 100 ms
//! assert_eq!(strategy.ask(Tick(2.0)).await.unwrap(), 1); // same ref, fresh state
//! # });
//! ```

mod backoff;
mod child_spec;
mod event;
mod intensity;
mod strategy;
mod supervisor;

pub use backoff::Backoff;
pub use child_spec::{ChildSpec, Restart};
pub use event::{Observer, SupervisionEvent};
pub use strategy::Strategy;
pub use supervisor::{
    AddChild, ChildEnded, ChildExited, RemoveChild, RestartDue, Supervisor, SupervisorBuilder,
    SupervisorConfig, SupervisorError, SupervisorRef,
};

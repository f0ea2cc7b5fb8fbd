//! The `Actor` trait.

use std::future::Future;

use crate::{Context, Failure, OnFailure, StopReason};

/// A boxed error, as returned by [`Actor::on_start`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An actor: state that lives in its own task and changes only by handling messages.
///
/// The state is built from [`Args`](Actor::Args) by [`on_start`](Actor::on_start). That hook
/// is also the restart factory: a supervisor restarts a failed actor by running `on_start`
/// again with the same arguments, in place, so its [`ActorRef`](crate::ActorRef), its id
/// and the messages queued behind the failing one survive.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Context};
///
/// struct Feed { symbol: String, ticks: u64 }
///
/// impl Actor for Feed {
///     type Args = String;
///     async fn on_start(symbol: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
///         if symbol.is_empty() {
///             return Err("a feed needs a symbol".into());
///         }
///         Ok(Feed { symbol, ticks: 0 })
///     }
/// }
/// ```
pub trait Actor: Sized + Send + 'static {
    /// What the actor is built from. Cloned for every (re)start.
    type Args: Clone + Send + Sync + 'static;

    /// Builds the state. An error or a panic here is a start failure.
    fn on_start(
        args: Self::Args,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<Self, crate::BoxError>> + Send;

    /// Runs when an incarnation ends for any reason but a kill. Panics here are caught and
    /// logged.
    fn on_stop(
        &mut self,
        _ctx: &mut Context<Self>,
        _reason: &StopReason,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Runs after a handler panicked or a `tell`'s handler returned an error. The default ends
    /// the incarnation ([`OnFailure::Stop`]); return [`OnFailure::Continue`] to keep the state
    /// and go on.
    fn on_failure(
        &mut self,
        _ctx: &mut Context<Self>,
        _failure: &Failure,
    ) -> impl Future<Output = OnFailure> + Send {
        async { OnFailure::Stop }
    }

    /// A short name for logs and events. Defaults to the type's name without its path.
    fn type_name() -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    match base.rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

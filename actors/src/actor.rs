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

/// `full` without its module path: what follows the last `::` before any generic arguments
/// (`a::b::Pair<c::D>` is `Pair<c::D>`). It runs on every failure and dead letter: one
/// word-wise search for `<`, then a backward byte scan over the last path segment only (a
/// substring search cost about 1,000 instructions, a forward byte scan about 240;
/// docs/perf/actors.md, w5).
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let base = full.find('<').unwrap_or(full.len());
    let bytes = &full.as_bytes()[..base];
    match bytes.iter().rposition(|&b| b == b':') {
        // A path's colons come in pairs (`::`): after the last one, an ASCII byte, is a char
        // boundary.
        Some(i) if i >= 1 && bytes[i - 1] == b':' => &full[i + 1..],
        _ => full,
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn a_short_type_name_drops_the_module_path_but_not_generic_arguments() {
        assert_eq!(
            short_type_name("a::b::Pair<c::D, e::F>"),
            "Pair<c::D, e::F>"
        );
        assert_eq!(short_type_name("a::Plain"), "Plain");
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(short_type_name("Gen<a::B>"), "Gen<a::B>");
        assert_eq!(short_type_name("a::Ünïcode"), "Ünïcode");
        assert_eq!(short_type_name("::"), "");
    }
}

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
///
/// An actor whose state is its arguments (`Args = Self`, `on_start` returning them as they
/// are) is written in one line with [`actor_from_args!`](crate::actor_from_args); every
/// (re)start then begins from those arguments. For a check at start, another hook, or a
/// generic actor, write the impl as above.
///
/// ```
/// use mycelium_actors::{actor_from_args, Bus, Context, Handler};
///
/// #[derive(Clone)]
/// struct Counter { total: u64 }
/// actor_from_args!(Counter);
///
/// impl Handler<u64> for Counter {
///     type Reply = u64;
///     async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
///         self.total += n;
///         self.total
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let counter = bus.spawn::<Counter>(Counter { total: 10 });
/// assert_eq!(counter.ask(5).await.unwrap(), 15);
/// # });
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

    /// What a failure's log line and dead letter call this actor: its
    /// [`type_name`](Actor::type_name), unless the state says more (an actor that runs code of
    /// another language names that code: a Python actor its class).
    fn label(&self) -> &'static str {
        Self::type_name()
    }

    /// What a dead letter carrying `message`, which this actor never handled, calls the actor
    /// and the message, when the value says more than the types' names (a foreign actor's
    /// call carries its language's message). `None`, the default, keeps the types' names.
    fn letter_names(message: &(dyn std::any::Any + Send)) -> Option<(&'static str, &'static str)> {
        let _ = message;
        None
    }

    /// True for a message of the actor's own machinery (a supervisor's notice that a child
    /// exited) that is dropped when the actor stops with it queued, not posted as a dead
    /// letter: what it says is reported otherwise, and no sender waits for it.
    fn unreported(message: &(dyn std::any::Any + Send)) -> bool {
        let _ = message;
        false
    }
}

/// Implements [`Actor`] for each type given, with the type as its own
/// [`Args`](Actor::Args) and an [`on_start`](Actor::on_start) that returns the arguments as
/// the state: `actor_from_args!(Counter);` stands for
///
/// ```
/// # use mycelium_actors::{Actor, BoxError, Context};
/// # #[derive(Clone)] struct Counter;
/// impl Actor for Counter {
///     type Args = Counter;
///     async fn on_start(args: Counter, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(args)
///     }
/// }
/// ```
///
/// The other hooks keep their defaults. The type must be `Clone + Send + Sync + 'static`,
/// as every `Args` is (it is cloned for each restart). Several types may be given at once:
/// `actor_from_args!(Counter, Clock);`.
#[macro_export]
macro_rules! actor_from_args {
    ($($actor:ty),+ $(,)?) => {$(
        impl $crate::Actor for $actor {
            type Args = $actor;
            async fn on_start(
                args: $actor,
                _ctx: &mut $crate::Context<Self>,
            ) -> ::core::result::Result<Self, $crate::BoxError> {
                ::core::result::Result::Ok(args)
            }
        }
    )+};
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

/// [`short_type_name`] for the recording hooks, which name every message a recorded actor
/// handles, sends or answers: the names trimmed last on this thread are kept in a small table
/// keyed by the full name's address (the same `&'static str` for every message of a type),
/// so that a recorded message's name costs a look-up instead of a scan.
#[inline]
pub(crate) fn short_type_name_cached(full: &'static str) -> &'static str {
    thread_local! {
        static TRIMMED: [std::cell::Cell<(&'static str, &'static str)>; 16] =
            const { [const { std::cell::Cell::new(("", "")) }; 16] };
    }
    let slot = (full.as_ptr() as usize >> 3) & 15;
    TRIMMED
        .try_with(|trimmed| {
            let (at, short) = trimmed[slot].get();
            if std::ptr::eq(at, full) {
                return short;
            }
            let short = short_type_name(full);
            trimmed[slot].set((full, short));
            short
        })
        .unwrap_or_else(|_| short_type_name(full))
}

#[cfg(test)]
mod tests {
    use super::{short_type_name, short_type_name_cached};

    /// The cached trimming gives what the scan gives, for names that share a slot too.
    #[test]
    fn cached_names_are_the_scanned_ones() {
        let names = [
            "a::b::Pair<c::D, e::F>",
            "a::Plain",
            "Plain",
            "Gen<a::B>",
            std::any::type_name::<Option<u64>>(),
            std::any::type_name::<std::collections::HashMap<u8, String>>(),
        ];
        for _ in 0..3 {
            for name in names {
                assert_eq!(
                    short_type_name_cached(name),
                    short_type_name(name),
                    "{name}"
                );
            }
        }
    }

    use crate::{Bus, Context, Handler};

    #[derive(Clone)]
    struct Total(u64);
    #[derive(Clone)]
    struct Name(&'static str);
    crate::actor_from_args!(Total, Name,);

    impl Handler<u64> for Total {
        type Reply = u64;
        async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 {
            self.0 += n;
            self.0
        }
    }

    struct Get;
    impl Handler<Get> for Name {
        type Reply = &'static str;
        async fn handle(&mut self, _: Get, _ctx: &mut Context<Self>) -> &'static str {
            self.0
        }
    }

    /// Each actor's state is the arguments it was spawned with.
    #[tokio::test]
    async fn an_actor_from_its_args_starts_with_them() {
        let bus = Bus::new();
        let total = bus.spawn::<Total>(Total(10));
        assert_eq!(total.ask(5).await.unwrap(), 15);
        let name = bus.spawn::<Name>(Name("feed"));
        assert_eq!(name.ask(Get).await.unwrap(), "feed");
    }

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

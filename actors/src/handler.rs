//! Handlers: one `impl Handler<M>` per message type an actor accepts.

use std::future::Future;

use crate::{Actor, Context};

/// Handling of one message type `M`, with its own reply type.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Context, Handler};
///
/// struct Counter(u64);
/// impl Actor for Counter {
///     type Args = u64;
///     async fn on_start(n: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Counter(n)) }
/// }
///
/// struct Add(u64);
/// impl Handler<Add> for Counter {
///     type Reply = u64;
///     async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) -> u64 {
///         self.0 += n;
///         self.0
///     }
/// }
/// ```
pub trait Handler<M: Send + 'static>: Actor {
    /// What an `ask` gets back. A `Result` whose `Err` reaches a `tell` (where nobody receives
    /// it) counts as a failure of the actor, like a panic.
    type Reply: Reply;

    /// Handles one message.
    fn handle(
        &mut self,
        msg: M,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Self::Reply> + Send;
}

/// A handler's reply. Implemented for common types; for your own reply type add
/// `impl Reply for MyType {}`.
pub trait Reply: Send + 'static {
    /// `Some(reason)` when this reply reports a failure. Only consulted for `tell`s, where no
    /// caller receives the reply: the actor then fails as if the handler had panicked.
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T: Send + 'static, E: std::fmt::Display + Send + 'static> Reply for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(|e| e.to_string())
    }
}

macro_rules! plain_reply {
    ($($t:ty),* $(,)?) => { $(impl Reply for $t {})* };
}

plain_reply!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::time::Duration,
    crate::ActorId,
    crate::NodeId,
);

impl<T: Send + 'static> Reply for Option<T> {}
impl<T: Send + 'static> Reply for Vec<T> {}
impl<T: Send + ?Sized + 'static> Reply for Box<T> {}
impl<T: Send + Sync + ?Sized + 'static> Reply for std::sync::Arc<T> {}
impl<K: Send + 'static, V: Send + 'static> Reply for std::collections::BTreeMap<K, V> {}
impl<K: Send + 'static, V: Send + 'static, S: Send + 'static> Reply
    for std::collections::HashMap<K, V, S>
{
}
impl<A: Actor> Reply for crate::ActorRef<A> {}
impl<M: Send + 'static> Reply for crate::Recipient<M> {}
impl<M: Send + 'static, R: Send + 'static> Reply for crate::ReplyRecipient<M, R> {}
impl<T: Send + 'static> Reply for tokio::sync::oneshot::Receiver<T> {}

macro_rules! tuple_reply {
    ($($name:ident),+) => { impl<$($name: Send + 'static),+> Reply for ($($name,)+) {} };
}
tuple_reply!(A);
tuple_reply!(A, B);
tuple_reply!(A, B, C);
tuple_reply!(A, B, C, D);

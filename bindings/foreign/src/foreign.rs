//! What a language implements to host actors: the [`Foreign`] callbacks.

use mycelium_actors::StopReason;

/// A contract message as bytes: its type id and its body (no frame header), encoded with the
/// contract codec of whichever language sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignMessage {
    /// The contract type id.
    pub type_id: u16,
    /// The encoded body.
    pub body: Vec<u8>,
}

/// The callbacks of one kind of foreign actor: how a language starts an actor, hands it a
/// message and stops it. A host (the Python extension, the C ABI) implements it once.
///
/// Callbacks run on host threads (a blocking pool), never on a worker thread, one at a time
/// per actor; mail comes in batches, each inside one [`run_batch`](Self::run_batch). An `Err`
/// (a caught exception, a non-zero status) is a failure of the actor exactly like a Rust
/// panic.
pub trait Foreign: Send + Sync + 'static {
    /// What `start` is given: the same value on every restart.
    type Args: Clone + Send + Sync + 'static;
    /// The state of one incarnation, as the language holds it.
    type State: Send + 'static;

    /// Starts an incarnation; `me` is the actor's own address.
    fn start(&self, args: &Self::Args, me: &crate::ForeignRef<Self>) -> Result<Self::State, String>
    where
        Self: Sized;

    /// Handles one message; `Ok(Some(reply))` answers an ask (ignored for a tell).
    fn handle(
        &self,
        state: &mut Self::State,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String>;

    /// Runs `batch`, which calls [`handle`](Self::handle) for several messages of one actor
    /// in a row, on the calling thread: a language takes what it holds once per batch here
    /// (Python the GIL, OCaml the runtime lock), so each `handle` inside finds it held. By
    /// default it just runs the batch.
    fn run_batch(&self, batch: &mut dyn FnMut()) {
        batch()
    }

    /// Ends an incarnation (a stop, a failure before a restart, a shutdown).
    fn stop(&self, state: Self::State, reason: &StopReason);

    /// How `msg`, which a recorded actor handles, answers or sends, is written to its
    /// journal (see [`crate::recording`]). By default as the contract message of its type
    /// id, named by the contract type of `mycelium-contracts` when there is one. A language
    /// with a schema of its own names its messages; one with plain objects of its own writes
    /// them in its serialization when `own_serialization` allows it, and otherwise as
    /// [`ForeignRecord::unrecordable`](crate::ForeignRecord::unrecordable).
    fn recorded(&self, msg: &ForeignMessage, own_serialization: bool) -> crate::ForeignRecord {
        let _ = own_serialization;
        crate::ForeignRecord::contract(msg, crate::recording::contract_name(msg.type_id))
    }

    /// A timer's firing is about to tell the actor `msg` (`queued` true), or turned out not
    /// to (false: the actor had stopped, or the timer ended while the firing waited for room
    /// in the mailbox). A language that holds a timer's message for it (Python a plain
    /// object, by key) keeps it, after the timer is cancelled, until the firings queued
    /// before are handled: the restarted incarnation of a failed actor handles them as it
    /// handles the rest of its mailbox. By default nothing.
    fn timer_firing(&self, msg: &ForeignMessage, queued: bool) {
        let _ = (msg, queued);
    }

    /// True for a message [`handle`](Self::handle) drops without running a handler (Python: a
    /// plain object's firing whose object was let go): a recorded actor's journal does not
    /// count it as handled. By default false.
    fn dropped(&self, msg: &ForeignMessage) -> bool {
        let _ = msg;
        false
    }

    /// The name a failure of a handler gives the message of `type_id` it failed on
    /// ("raised while handling `Order`"): a language with a schema of its own names its
    /// messages. By default `type id N`, and `a plain value` for the language's own values
    /// (type id `0xFFFF`).
    fn message_name(&self, type_id: u16) -> &'static str {
        name_by_type_id(type_id)
    }

    /// What logs and dead letters call an actor of these callbacks: a language names its
    /// code (a Python actor its class). By default `ForeignActor`.
    fn label(&self) -> &'static str {
        "ForeignActor"
    }

    /// Releases the state of an actor whose task was killed before `stop` could run. Runs on
    /// the runtime's blocking pool once no callback holds the state (on the thread that drops
    /// the actor only when the runtime has ended); by default it drops the state.
    fn abandon(&self, state: Self::State) {
        drop(state);
    }
}

/// The default of [`Foreign::message_name`]: `type id N`, and `a plain value` for a language's
/// own values (type id `0xFFFF`).
pub fn name_by_type_id(type_id: u16) -> &'static str {
    match type_id {
        u16::MAX => "a plain value",
        _ => crate::recording::static_name(&format!("type id {type_id}")),
    }
}

//! What a dead letter of a foreign actor carried, for a binding that names it in its
//! language's terms (the dead letter's Rust type names, `ForeignActor` and `ForeignCall`,
//! say nothing to its reader).

use mycelium_actors::DeadLetter;

use crate::actor::ForeignCall;
use crate::ForeignMessage;

/// The type id of the message a foreign actor's dead letter kept (one never given to a
/// handler), if it kept one.
pub fn dead_letter_type_id(letter: &DeadLetter) -> Option<u16> {
    let message = letter.message.as_ref()?;
    if let Some(call) = message.downcast_ref::<ForeignCall>() {
        return call.message().map(|m| m.type_id);
    }
    message.downcast_ref::<ForeignMessage>().map(|m| m.type_id)
}

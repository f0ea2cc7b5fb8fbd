//! The Python actors of a bus by id, so that its dead letters name the actor's class and the
//! message's, not the foreign layer's Rust types (`ForeignActor`, `ForeignCall`); and by the
//! service names they are exported under, so that an ask by service name raises the
//! handler's exception.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use mycelium_actors::{ActorId, DeadLetter, DeadLetterReason};

use crate::errors;
use crate::failure::{FailedMessages, Raised};
use crate::host::LOCAL_TYPE_ID;

/// A Python actor as its dead letters name it.
struct Known {
    class_name: String,
    /// The message classes of its recent failures.
    messages: Arc<FailedMessages>,
    /// Dropped with the actor's callbacks: the entry may go once its letters are old.
    alive: Weak<Raised>,
}

/// The Python actors of one bus, by id: each registers at every start (a restart keeps its
/// id; a child spawned anew has a new one). The entry of an actor that has stopped for good
/// stays for its dead letters, read later, until the table has doubled since its last sweep:
/// then the entries of actors whose callbacks are gone are dropped, so the table holds about
/// as many as are alive.
#[derive(Clone, Default)]
pub(crate) struct PyActors(Arc<Mutex<Table>>);

#[derive(Default)]
struct Table {
    by_id: HashMap<ActorId, Known>,
    /// Size after the last sweep of entries that are gone.
    swept: usize,
    /// The failures of the Python actors exported by service name, so that an ask by that
    /// name raises the handler's exception as an ask through the actor's own ref does.
    services: HashMap<String, Weak<Raised>>,
}

impl PyActors {
    /// Records that the actor `id` is of the class `class_name`, failing into `raised`.
    pub(crate) fn register(&self, id: ActorId, class_name: &str, raised: &Arc<Raised>) {
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.by_id.insert(
            id,
            Known {
                class_name: class_name.to_string(),
                messages: raised.messages().clone(),
                alive: Arc::downgrade(raised),
            },
        );
        if table.by_id.len() > 2 * table.swept.max(64) {
            table.by_id.retain(|_, k| k.alive.strong_count() > 0);
            table.swept = table.by_id.len();
        }
    }

    /// Records that the Python actor failing into `raised` is exported as `service`.
    pub(crate) fn export(&self, service: &str, raised: &Arc<Raised>) {
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.services.retain(|_, r| r.strong_count() > 0);
        table
            .services
            .insert(service.to_string(), Arc::downgrade(raised));
    }

    /// The failures of the Python actor exported as `service`, while it has its callbacks.
    /// A failure is looked up in them by its text, so a service name taken over by another
    /// actor since finds none there.
    pub(crate) fn raised_of(&self, service: &str) -> Option<Arc<Raised>> {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.services.get(service).and_then(Weak::upgrade)
    }

    /// The actor and message type names of the dead letter `letter`, as a Python reader
    /// knows them: the actor's class and the message's class when the letter is a Python
    /// actor's and they are known, otherwise as `errors::type_text` puts them.
    pub(crate) fn names(&self, letter: &DeadLetter) -> (String, String) {
        let (class_name, messages) = {
            let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match table.by_id.get(&letter.actor) {
                Some(k) => (Some(k.class_name.clone()), Some(k.messages.clone())),
                None => (None, None),
            }
        };
        let actor = errors::type_text(letter.actor_type);
        let message = errors::type_text(letter.message_type);
        // A Python actor's letters name the foreign layer's type, or (a failure's, which
        // `Foreign::label` names) its class.
        if letter.actor_type != "ForeignActor" && class_name.is_none() {
            return (actor, message);
        }
        let message_class = match (
            &letter.reason,
            mycelium_foreign::dead_letter_type_id(letter),
        ) {
            (_, Some(LOCAL_TYPE_ID)) => Some("a plain object".to_string()),
            (_, Some(type_id)) => Some(errors::message_class(type_id)),
            (DeadLetterReason::HandlerFailed(failure), None) => {
                messages.and_then(|m| m.message_of(&failure.reason))
            }
            _ => None,
        };
        (
            class_name.unwrap_or(actor),
            message_class.unwrap_or(message),
        )
    }
}

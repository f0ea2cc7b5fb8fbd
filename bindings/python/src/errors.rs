//! The Python exceptions of the package, and how Rust errors become them.
//!
//! The exceptions are made in module `mycelium`, where the package exports them, so that
//! they print (and pickle) as `mycelium.ActorStopped`, not as the extension's.

use std::collections::HashMap;
use std::sync::Mutex;

use mycelium_actors::export::DeliveryError;
use mycelium_actors::{DeadLetterReason, Failure, FailureKind, Phase, StopReason};
use mycelium_foreign::{ForeignAskError, ForeignTopicError};
use mycelium_remote::SendError;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};
use pyo3::{create_exception, PyErr};

create_exception!(
    mycelium,
    MyceliumError,
    PyException,
    "Base of every Mycelium error."
);
create_exception!(
    mycelium,
    ActorFailed,
    MyceliumError,
    "The actor failed (an exception or a panic) while handling this message; it restarts if supervised."
);
create_exception!(
    mycelium,
    ActorStopped,
    MyceliumError,
    "The actor has stopped for good; the message was not handled."
);
create_exception!(
    mycelium,
    AskTimeout,
    MyceliumError,
    "No reply within the timeout (bus time); the request may still be handled."
);
create_exception!(
    mycelium,
    UnknownService,
    MyceliumError,
    "No service of that name is exported on this bus."
);
create_exception!(
    mycelium,
    MailboxFull,
    MyceliumError,
    "The mailbox is full; nothing was queued (try_tell only)."
);
create_exception!(
    mycelium,
    StartFailed,
    MyceliumError,
    "The actor's on_start raised; the actor did not start."
);
create_exception!(
    mycelium,
    BusClosed,
    MyceliumError,
    "The bus has been shut down."
);
create_exception!(
    mycelium,
    MessageTypeError,
    PyTypeError,
    "The message type is not one the target handles, or a handler returned something that is not a contract message."
);
create_exception!(
    mycelium,
    SchemaMismatch,
    MessageTypeError,
    "A message class of another schema than the bus's, or from a module generated from another version of the schema file."
);

/// `MessageTypeError` for a plain Python object (`message`) given where it would leave Python:
/// "`dict` cannot {what}: declare it in the schema".
pub(crate) fn cannot_leave(message: &Bound<'_, PyAny>, what: &str) -> PyErr {
    let name = message
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "this object".to_string());
    MessageTypeError::new_err(format!(
        "`{name}` cannot leave Python: it is not a message of a schema, so it cannot {what}. \
         Declare it as a message in your schema file and regenerate the module with \
         `mycelium-codegen python FILE.yaml -o DIR`; plain Python objects go only between the \
         Python actors of one bus, through their own refs"
    ))
}

/// The exception for a delivery or ask by service name, in words for a Python reader (the
/// Rust texts name `Exports` methods and Rust types).
pub(crate) fn delivery(e: DeliveryError) -> PyErr {
    match e {
        DeliveryError::UnknownService { service } => UnknownService::new_err(format!(
            "no service `{service}` is exported on this bus: export one with \
             Bus.spawn(..., service=\"{service}\") or a child's service=, or join a topology \
             whose nodes host it"
        )),
        DeliveryError::UnknownType {
            service,
            type_id,
            accepted,
        } => MessageTypeError::new_err(format!(
            "service `{service}` does not handle {}; it handles {}",
            message_name(type_id),
            names_of(&accepted)
        )),
        DeliveryError::NotAnAsk {
            service, type_id, ..
        } => MessageTypeError::new_err(format!(
            "service `{service}` takes {} as a tell only, so it cannot answer an ask: tell it",
            message_name(type_id)
        )),
        DeliveryError::Decode {
            target,
            type_id,
            source,
            ..
        } => MessageTypeError::new_err(format!(
            "{} for `{target}` does not decode: {source}; the sender's contracts differ from \
             this process's",
            message_name(type_id)
        )),
        DeliveryError::Full { service, .. } => MailboxFull::new_err(format!(
            "the mailbox of service `{service}` is full: nothing was queued; retry later, or \
             use tell, which waits for room"
        )),
        DeliveryError::Stopped {
            service, reason, ..
        } => ActorStopped::new_err(match reason {
            Some(reason) => format!(
                "service `{service}` has stopped ({}): the message was not handled",
                reason_text(&reason)
            ),
            None => format!("service `{service}` has stopped: the message was not handled"),
        }),
        DeliveryError::Failed { service, failure } => {
            ActorFailed::new_err(service_failed_text(&service, &failure))
        }
        DeliveryError::Timeout { service, after } => AskTimeout::new_err(format!(
            "service `{service}` gave no reply within {} s of bus time; the request may still \
             be handled",
            after.as_secs_f64()
        )),
        DeliveryError::Lost {
            service,
            node,
            reason,
        } => ActorFailed::new_err(format!(
            "service `{service}` is on node {node}, and the answer was lost there ({reason})"
        )),
        DeliveryError::UnknownTopicType { type_id, .. } => MessageTypeError::new_err(format!(
            "{} cannot be published on this bus: it is not a topic message",
            message_name(type_id)
        )),
        // A topic name that breaks the grammar is a bad argument, not a type error.
        DeliveryError::Topic(topic) => PyValueError::new_err(topic.to_string()),
    }
}

/// The class names of the contract messages of the generated modules used so far, by type
/// id (two schemas naming one id differently: both names), for errors made where Python
/// cannot be read.
static MESSAGE_NAMES: Mutex<Option<HashMap<u16, String>>> = Mutex::new(None);

/// Learns the message class names of the generated module `module` (its `REGISTRY`) for the
/// errors.
pub(crate) fn learn_message_names(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let Ok(registry) = module.getattr("REGISTRY") else {
        return Ok(());
    };
    let mut learned = Vec::new();
    for (type_id, cls) in registry.cast::<PyDict>()?.iter() {
        learned.push((
            type_id.extract::<u16>()?,
            cls.getattr("__name__")?.extract::<String>()?,
        ));
    }
    let mut names = MESSAGE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let names = names.get_or_insert_with(HashMap::new);
    for (type_id, name) in learned {
        let known = names.entry(type_id).or_default();
        if known.is_empty() {
            *known = name;
        } else if !known.split(" or ").any(|n| n == name) {
            known.push_str(" or ");
            known.push_str(&name);
        }
    }
    Ok(())
}

/// A contract message by its class name (`Heartbeat (type id 900)`), or its type id when
/// no generated module used in this process has it.
pub(crate) fn message_name(type_id: u16) -> String {
    let names = MESSAGE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    match names.as_ref().and_then(|names| names.get(&type_id)) {
        Some(name) => format!("{name} (type id {type_id})"),
        None => format!("type id {type_id}"),
    }
}

/// A contract message's class name (`Heartbeat`), or `type id N` when no generated module
/// used in this process has it.
pub(crate) fn message_class(type_id: u16) -> String {
    let names = MESSAGE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    match names.as_ref().and_then(|names| names.get(&type_id)) {
        Some(name) => name.clone(),
        None => format!("type id {type_id}"),
    }
}

/// The class names of contract messages, by their type ids.
fn names_of(type_ids: &[u16]) -> String {
    let names: Vec<String> = type_ids.iter().map(|&t| message_name(t)).collect();
    format!("[{}]", names.join(", "))
}

/// The names the foreign layer gives a Python actor's calls in its failures.
const FOREIGN_CALLS: [&str; 2] = ["ForeignCall", "ForeignMessage"];

/// A Rust message type as a Python reader knows it: `Published<a::b::TickBatch>` is "a
/// published TickBatch", `a::b::Quote` is "Quote".
fn rust_message(name: &str) -> String {
    let last = |n: &str| {
        let n = n.trim_end_matches('>');
        n.rsplit("::").next().unwrap_or(n).to_string()
    };
    match name.strip_prefix("Published<") {
        Some(inner) => format!("a published {}", last(inner)),
        None => last(name),
    }
}

/// What an actor did when it failed, after "it": a Python actor's handler raised, or a Rust
/// actor failed handling a named message; the Rust words (a panic, Rust type paths) left out.
pub(crate) fn failure_text(failure: &Failure) -> String {
    let reason = &failure.reason;
    match &failure.phase {
        Phase::Start => format!("failed in on_start: {reason}"),
        Phase::Message(_) if failure.kind == FailureKind::Raised => {
            format!("raised in a handler: {reason}")
        }
        Phase::Message(m) if FOREIGN_CALLS.contains(m) => format!("failed: {reason}"),
        Phase::Message(m) => format!("failed handling {}: {reason}", rust_message(m)),
        Phase::FailureHook => format!("failed in its failure hook: {reason}"),
        Phase::Supervising => match failure.kind {
            FailureKind::Escalated => format!("gave up: {reason}"),
            _ => format!("failed supervising: {reason}"),
        },
    }
}

/// A failure text made by Rust code that Python readers see as it is (a backtest row's
/// status), with `Failure`'s Rust words put as `failure_text` puts them: "panicked while
/// handling `Published<a::b::TickBatch>`" becomes "failed handling a published TickBatch".
pub(crate) fn python_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let found = ["panicked while ", "returned an error while "]
            .iter()
            .filter_map(|verb| rest.find(verb).map(|at| (at, verb.len())))
            .min();
        let Some((at, verb_len)) = found else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        let after = &rest[at + verb_len..];
        if let Some(tail) = after.strip_prefix("starting") {
            out.push_str("failed in on_start");
            rest = tail;
        } else if let Some((message, tail)) = after
            .strip_prefix("handling `")
            .and_then(|m| m.split_once('`'))
        {
            out.push_str("failed handling ");
            out.push_str(&rust_message(message));
            rest = tail;
        } else {
            // Not a failure's words: kept as written.
            out.push_str(&rest[at..at + verb_len]);
            rest = after;
        }
    }
}

/// Why an actor stopped, in words for a Python reader ("failed: it raised in a handler:
/// ValueError: ...").
pub(crate) fn reason_text(reason: &StopReason) -> String {
    match reason {
        StopReason::Failed(failure) => format!("failed: it {}", failure_text(failure)),
        other => other.to_string(),
    }
}

/// A dead letter's actor or message type as a Python reader knows it: a Python actor and its
/// messages go by the foreign layer's Rust type names, which say nothing to that reader.
pub(crate) fn type_text(rust_name: &str) -> String {
    match rust_name {
        "ForeignActor" => "Python actor".to_string(),
        m if FOREIGN_CALLS.contains(&m) => "contract message".to_string(),
        other => rust_message(other),
    }
}

/// Why a dead letter was not handled, in words for a Python reader.
pub(crate) fn dead_letter_text(reason: &DeadLetterReason) -> String {
    match reason {
        DeadLetterReason::HandlerFailed(failure) => format!("the actor {}", failure_text(failure)),
        DeadLetterReason::ActorStopped(reason) => format!(
            "it was still queued when the actor stopped ({})",
            reason_text(reason)
        ),
        other => other.to_string(),
    }
}

/// What an asker is told of the failure of the actor it asked: "the actor raised in a
/// handler: ValueError: ...".
/// What failed, for an ask by service name whose actor failed on it.
pub(crate) fn service_failed_text(service: &str, failure: &Failure) -> String {
    format!(
        "service `{service}` failed on this request: it {}; resend only if the request is safe \
         to repeat",
        failure_text(failure)
    )
}

pub(crate) fn failed_text(failure: &Failure) -> String {
    format!("the actor {}", failure_text(failure))
}

/// The exception for an ask to a foreign actor's ref.
pub(crate) fn ask(e: ForeignAskError) -> PyErr {
    match e {
        ForeignAskError::Failed { failure } => ActorFailed::new_err(failed_text(&failure)),
        ForeignAskError::Lost(reason) => ActorFailed::new_err(reason),
        e @ ForeignAskError::AskedItself => {
            pyo3::exceptions::PyRuntimeError::new_err(e.to_string())
        }
        ForeignAskError::NoReply { type_id } => MessageTypeError::new_err(format!(
            "the handler of {} returned None to an ask: a handler that is asked must return a \
             reply (a contract message, or any object between Python actors)",
            message_name(type_id)
        )),
        ForeignAskError::Stopped { reason } => stopped(reason.as_ref()),
        ForeignAskError::Timeout(after) => AskTimeout::new_err(format!(
            "no reply within {} s of bus time; the request may still be handled",
            after.as_secs_f64()
        )),
    }
}

/// `ActorStopped` for a message an actor that has stopped for good did not handle, saying
/// why it stopped when that is known.
pub(crate) fn stopped(reason: Option<&StopReason>) -> PyErr {
    ActorStopped::new_err(match reason {
        Some(reason) => format!(
            "the actor has stopped ({}); the message was not handled",
            reason_text(reason)
        ),
        // Its mailbox closed before its stop's reason was set: it is stopping now.
        None => "the actor is stopping (its mailbox has closed); the message was not handled"
            .to_string(),
    })
}

/// The exception for a publish or a subscription, local or across nodes.
pub(crate) fn topic(e: ForeignTopicError) -> PyErr {
    let text = e.to_string();
    match e {
        ForeignTopicError::Delivery(d) => delivery(d),
        // A topic name or pattern that breaks the grammar is a bad argument.
        ForeignTopicError::Topic(_) => PyValueError::new_err(text),
        ForeignTopicError::Link(link) => send_error(link, text),
        ForeignTopicError::UnknownType(type_id) => MessageTypeError::new_err(format!(
            "{} is not a message of this bus's schema",
            message_name(type_id)
        )),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MyceliumError", py.get_type::<MyceliumError>())?;
    m.add("ActorFailed", py.get_type::<ActorFailed>())?;
    m.add("ActorStopped", py.get_type::<ActorStopped>())?;
    m.add("AskTimeout", py.get_type::<AskTimeout>())?;
    m.add("UnknownService", py.get_type::<UnknownService>())?;
    m.add("MailboxFull", py.get_type::<MailboxFull>())?;
    m.add("StartFailed", py.get_type::<StartFailed>())?;
    m.add("BusClosed", py.get_type::<BusClosed>())?;
    m.add("MessageTypeError", py.get_type::<MessageTypeError>())?;
    m.add("SchemaMismatch", py.get_type::<SchemaMismatch>())?;
    Ok(())
}

/// A message that could not be queued on a link: too large for a frame is the caller's
/// argument to fix (`ValueError`); otherwise the link is closed for good (`ActorStopped`).
pub(crate) fn send_error(e: SendError, text: String) -> PyErr {
    match e {
        SendError::TooLarge(_) => PyValueError::new_err(text),
        SendError::Closed { .. } | SendError::Full => ActorStopped::new_err(text),
    }
}

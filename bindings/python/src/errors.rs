//! The Python exceptions of the package, and how Rust errors become them.

use mycelium_actors::export::DeliveryError;
use mycelium_actors::StopReason;
use mycelium_foreign::{ForeignAskError, ForeignTopicError};
use mycelium_remote::SendError;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::{create_exception, PyErr};

create_exception!(
    _native,
    MyceliumError,
    PyException,
    "Base of every Mycelium error."
);
create_exception!(
    _native,
    ActorFailed,
    MyceliumError,
    "The actor failed (an exception or a panic) while handling this message; it restarts if supervised."
);
create_exception!(
    _native,
    ActorStopped,
    MyceliumError,
    "The actor has stopped for good; the message was not handled."
);
create_exception!(
    _native,
    AskTimeout,
    MyceliumError,
    "No reply within the timeout (bus time); the request may still be handled."
);
create_exception!(
    _native,
    UnknownService,
    MyceliumError,
    "No service of that name is exported on this bus."
);
create_exception!(
    _native,
    MailboxFull,
    MyceliumError,
    "The mailbox is full; nothing was queued (try_tell only)."
);
create_exception!(
    _native,
    StartFailed,
    MyceliumError,
    "The actor's on_start raised; the actor did not start."
);
create_exception!(
    _native,
    BusClosed,
    MyceliumError,
    "The bus has been shut down."
);
create_exception!(
    _native,
    MessageTypeError,
    PyTypeError,
    "The message type is not one the target handles, or a handler returned something that is not a contract message."
);

/// The exception for a delivery or ask by service name.
pub(crate) fn delivery(e: DeliveryError) -> PyErr {
    let text = e.to_string();
    match e {
        DeliveryError::UnknownService { .. } => UnknownService::new_err(text),
        DeliveryError::UnknownType { .. }
        | DeliveryError::NotAnAsk { .. }
        | DeliveryError::Decode { .. } => MessageTypeError::new_err(text),
        DeliveryError::Full { .. } => MailboxFull::new_err(text),
        DeliveryError::Stopped { .. } => ActorStopped::new_err(text),
        DeliveryError::Failed { .. } | DeliveryError::Lost { .. } => ActorFailed::new_err(text),
        DeliveryError::Timeout { .. } => AskTimeout::new_err(text),
        DeliveryError::UnknownTopicType { .. } => MessageTypeError::new_err(text),
        // A topic name that breaks the grammar is a bad argument, not a type error.
        DeliveryError::Topic(_) => PyValueError::new_err(text),
    }
}

/// The exception for an ask to a foreign actor's ref.
pub(crate) fn ask(e: ForeignAskError) -> PyErr {
    let text = e.to_string();
    match e {
        ForeignAskError::Failed { .. } | ForeignAskError::Lost(_) => ActorFailed::new_err(text),
        ForeignAskError::NoReply { .. } => MessageTypeError::new_err(text),
        ForeignAskError::Stopped { reason } => stopped(reason.as_ref()),
        ForeignAskError::Timeout(_) => AskTimeout::new_err(text),
    }
}

/// `ActorStopped` for a message an actor that has stopped for good did not handle, saying
/// why it stopped when that is known.
pub(crate) fn stopped(reason: Option<&StopReason>) -> PyErr {
    ActorStopped::new_err(match reason {
        Some(reason) => format!("the actor has stopped ({reason}); the message was not handled"),
        None => "the actor has stopped; the message was not handled".to_string(),
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
        ForeignTopicError::UnknownType(_) => MessageTypeError::new_err(text),
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

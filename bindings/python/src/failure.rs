//! A Python handler that raised: reported, and given to the asker as the exception it is.
//!
//! Every handler exception fails its actor (a restart if supervised, a stop otherwise). So
//! that no failure is silent, it is logged with its traceback on the Python logger
//! `mycelium.actor` (and as a `tracing` event, target `mycelium::python`, for a Rust
//! program's subscriber), whether the message was a tell or an ask. An asker gets the
//! exception itself, wrapped by `mycelium._failure.failed`: an `ActorFailed` that is also
//! an instance of the handler's exception class, with that exception as `__cause__`.
//!
//! On the direct path the handler ran on the asker's thread and its exception is at hand. On
//! the mailbox path it ran on a pool thread and the asker receives the failure's text; the
//! exception waits for it in the actor's [`Raised`], found by that text (the same text from
//! the same class, only its traceback could differ), its traceback kept as text (a note) so
//! that the frames, and the failed actor instance they hold, are let go. [`Raised`] keeps
//! the last [`KEPT`] failures: an exception no asker takes (a tell's) goes with them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Failures kept for askers, per actor.
const KEPT: usize = 8;

/// One failure of a handler, for its asker: its text and the exception.
struct Kept {
    reason: String,
    error: PyErr,
}

/// The recent handler failures of one Python actor, for its askers and dead letters.
#[derive(Default)]
pub(crate) struct Raised {
    kept: Mutex<VecDeque<Kept>>,
    /// Outlives the actor, for the dead letters read after it has stopped.
    messages: Arc<FailedMessages>,
}

/// The message classes of an actor's recent failures, by the failures' texts.
#[derive(Default)]
pub(crate) struct FailedMessages(Mutex<VecDeque<(String, String)>>);

impl FailedMessages {
    /// The class of the message whose handler failed with `reason`, if it is still kept.
    pub(crate) fn message_of(&self, reason: &str) -> Option<String> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .rev()
            .find(|(r, _)| r == reason)
            .map(|(_, m)| m.clone())
    }
}

/// Appends `item` to `queue`, dropping the oldest beyond [`KEPT`].
fn push_bounded<T>(queue: &Mutex<VecDeque<T>>, item: T) {
    let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
    if queue.len() == KEPT {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl Raised {
    /// Reports the exception `error` of the handler of `message` (the message class's name)
    /// of the actor class `actor`, keeps it for an asker on another thread, and returns the
    /// text that fails the actor (`Type: message`).
    pub(crate) fn record(
        &self,
        py: Python<'_>,
        actor: &str,
        message: &str,
        error: PyErr,
    ) -> String {
        let reason = report(py, actor, message, &error);
        let error = match helper(py, "detach").and_then(|f| f.call1((value(py, &error),))) {
            Ok(detached) => PyErr::from_value(detached),
            Err(_) => error,
        };
        push_bounded(&self.messages.0, (reason.clone(), message.to_string()));
        push_bounded(
            &self.kept,
            Kept {
                reason: reason.clone(),
                error,
            },
        );
        reason
    }

    /// Keeps that the failure `reason` was raised handling `message` (a call on the asker's
    /// thread, whose asker takes the exception itself), for the dead letter that names it.
    pub(crate) fn name(&self, reason: &str, message: &str) {
        push_bounded(&self.messages.0, (reason.to_string(), message.to_string()));
    }

    /// The exception that failed the actor with `reason`, taken for its asker.
    pub(crate) fn take(&self, reason: &str) -> Option<PyErr> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let at = kept.iter().rposition(|k| k.reason == reason)?;
        kept.remove(at).map(|k| k.error)
    }

    /// The message classes of the failures, shared.
    pub(crate) fn messages(&self) -> &Arc<FailedMessages> {
        &self.messages
    }
}

/// Logs the exception `error` of the handler of `message` of the actor class `actor`, with
/// its traceback (Python `logging`, and `tracing`), and returns the text that fails the
/// actor.
pub(crate) fn report(py: Python<'_>, actor: &str, message: &str, error: &PyErr) -> String {
    let reason = crate::host::exception_text(py, error);
    let traceback = error
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    tracing::error!(
        target: "mycelium::python",
        actor,
        message,
        "{actor} failed handling {message}: {reason}\n{traceback}"
    );
    if let Err(e) = helper(py, "log").and_then(|f| f.call1((value(py, error), actor, message))) {
        // Not silent even when logging itself fails.
        e.print(py);
    }
    reason
}

/// Logs the exception `error` of the hook `hook` (`on_start`, `on_stop`) of the actor class
/// `actor`, with its traceback and `outcome` (what came of it), through Python `logging` and
/// `tracing`.
pub(crate) fn report_hook(py: Python<'_>, actor: &str, hook: &str, outcome: &str, error: &PyErr) {
    let reason = crate::host::exception_text(py, error);
    tracing::error!(
        target: "mycelium::python",
        actor,
        hook,
        "{actor}.{hook} raised ({outcome}): {reason}"
    );
    if let Err(e) =
        helper(py, "log_hook").and_then(|f| f.call1((value(py, error), actor, hook, outcome)))
    {
        e.print(py);
    }
}

/// Logs that `tree` gave up on its children (`reason`: its restart limit), on the Python
/// logger `mycelium.supervisor` at `ERROR` (the supervisor's own `tracing` event says it to a
/// Rust subscriber): its children are stopped, and a root tree (`to_bus`) fails the bus, which
/// a program otherwise learns only when its next send to them fails. Called on the
/// supervisor's thread, a thread of the runtime: the logging runs on a thread of its own,
/// which takes the GIL there.
pub(crate) fn report_gave_up(tree: &str, reason: &str, to_bus: bool) {
    let text = format!(
        "{tree} gave up: {reason}; its children are stopped{}",
        if to_bus { " and the bus fails" } else { "" }
    );
    let logged = std::thread::Builder::new()
        .name("mycelium-log".to_owned())
        .spawn(move || {
            let _ = crate::callbacks::attach(|py| {
                if let Err(e) = helper(py, "log_gave_up").and_then(|f| f.call1((text,))) {
                    e.print(py);
                }
            });
        });
    if let Err(e) = logged {
        tracing::error!(
            target: "mycelium::python",
            "{tree} gave up: {reason}; could not log it through Python: {e}"
        );
    }
}

/// What an asker raises for the exception `error` of a handler (run on the asker's thread
/// when `here`), `text` saying what failed.
pub(crate) fn to_asker(py: Python<'_>, error: PyErr, text: &str, here: bool) -> PyErr {
    match helper(py, "failed").and_then(|f| f.call1((value(py, &error), text, here))) {
        Ok(wrapped) => PyErr::from_value(wrapped),
        Err(_) => error,
    }
}

/// The exception object of `error`, with its traceback as `__traceback__`.
fn value<'py>(py: Python<'py>, error: &PyErr) -> Bound<'py, pyo3::exceptions::PyBaseException> {
    error.clone_ref(py).into_value(py).into_bound(py)
}

/// The function `name` of `mycelium._failure`.
fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("mycelium._failure").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

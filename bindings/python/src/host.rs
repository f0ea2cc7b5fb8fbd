//! Python actors as [`Foreign`] callbacks: a Python host object per actor class.

use std::sync::Arc;

use mycelium_actors::StopReason;
use mycelium_foreign::{Foreign, ForeignMessage, ForeignRef};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::actor_ref::ActorRef;

/// The callbacks of Python actors. `host` is a `mycelium._actor._Host`: `start(args, ref)`
/// returns the actor instance, `handle(instance, type_id, body)` returns `None` or
/// `(type_id, body)`, `stop(instance, reason)`.
pub(crate) struct PyForeign {
    pub(crate) host: Py<PyAny>,
}

/// Arguments of a Python actor: any Python object, shared (cloning needs no GIL).
#[derive(Clone)]
pub(crate) struct PyArgs(pub(crate) Arc<Py<PyAny>>);

/// The text a Python exception fails an actor with: `Type: message`.
pub(crate) fn exception_text(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_string());
    let value = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if value.is_empty() {
        name
    } else {
        format!("{name}: {value}")
    }
}

impl Foreign for PyForeign {
    type Args = PyArgs;
    type State = Py<PyAny>;

    fn start(&self, args: &PyArgs, me: &ForeignRef<Self>) -> Result<Py<PyAny>, String> {
        Python::attach(|py| {
            let me =
                Py::new(py, ActorRef::foreign(me.clone())).map_err(|e| exception_text(py, &e))?;
            self.host
                .call_method1(py, "start", (args.0.clone_ref(py), me))
                .map_err(|e| exception_text(py, &e))
        })
    }

    fn handle(
        &self,
        state: &mut Py<PyAny>,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        Python::attach(|py| {
            let body = PyBytes::new(py, &msg.body);
            let reply = self
                .host
                .call_method1(py, "handle", (state.clone_ref(py), msg.type_id, body))
                .map_err(|e| exception_text(py, &e))?;
            let reply = reply.bind(py);
            if reply.is_none() {
                return Ok(None);
            }
            let pair = reply.cast::<PyTuple>().map_err(|_| {
                "the host returned something other than (type_id, body)".to_string()
            })?;
            let (type_id, body): (u16, Vec<u8>) =
                pair.extract().map_err(|e| exception_text(py, &e))?;
            Ok(Some(ForeignMessage { type_id, body }))
        })
    }

    fn stop(&self, state: Py<PyAny>, reason: &StopReason) {
        Python::attach(|py| {
            let reason = reason.to_string();
            if let Err(e) = self.host.call_method1(py, "stop", (state, reason)) {
                // The incarnation is over either way; say why its stop hook failed.
                e.print(py);
            }
        })
    }

    fn abandon(&self, state: Py<PyAny>) {
        // Dropping a Python reference without the GIL is deferred by PyO3 to the next time
        // some thread holds it.
        drop(state);
    }
}

//! Python actors as [`Foreign`] callbacks: a Python host object per actor class.

use std::collections::HashMap;
use std::sync::Arc;

use mycelium_actors::StopReason;
use mycelium_foreign::{Foreign, ForeignMessage, ForeignRef};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyType};

use crate::actor_ref::ActorRef;
use crate::callbacks::{self, Exiting, EXITING};
use crate::codec::{self, Plan};
use crate::errors::MessageTypeError;

/// One handler of an actor class: the message class's codec, the method, and whether it is
/// `async def` (run on the calling thread's event loop: never called directly from a thread
/// that is running a loop).
pub(crate) struct Entry {
    pub(crate) plan: Arc<Plan>,
    method: Py<PyString>,
    pub(crate) is_async: bool,
}

/// The callbacks of Python actors. `host` is a `mycelium._actor._Host`: `start(args, ref)`
/// returns the actor instance, `finish(instance, name, reply)` resolves an awaitable reply or
/// raises for one that is not a contract message, `stop(instance, reason)`. The handlers are
/// called from here, with messages decoded and replies encoded by the native codec.
pub(crate) struct PyForeign {
    pub(crate) host: Py<PyAny>,
    class_name: String,
    pub(crate) table: HashMap<u16, Entry>,
    message_base: Py<PyType>,
    /// The names of the class and its handlers, for the errors of asks.
    pub(crate) names: Arc<HandlerNames>,
}

/// The names a Python reader knows an actor class's handlers by, kept for the errors of its
/// asks (which are raised where no Python object can be read).
pub(crate) struct HandlerNames {
    class_name: String,
    /// By type id: the handler method's name and the message class's name.
    handlers: HashMap<u16, (String, String)>,
}

impl HandlerNames {
    /// The names of the actor class `host` (a `mycelium._actor._Host`) was built for.
    pub(crate) fn of_host(host: &Bound<'_, PyAny>) -> PyResult<Self> {
        let class_name = host
            .getattr("cls")?
            .getattr("__name__")?
            .extract::<String>()?;
        let mut handlers = HashMap::new();
        for (type_id, entry) in host.getattr("table")?.cast::<PyDict>()?.iter() {
            let (message_cls, method): (Bound<'_, PyType>, String) = entry.extract()?;
            let message = message_cls.getattr("__name__")?.extract::<String>()?;
            handlers.insert(type_id.extract::<u16>()?, (method, message));
        }
        Ok(HandlerNames {
            class_name,
            handlers,
        })
    }

    /// Why an ask of `type_id` got no answer: its handler returned None.
    pub(crate) fn no_reply(&self, type_id: u16) -> String {
        let class = &self.class_name;
        let what = match self.handlers.get(&type_id) {
            Some((method, message)) => {
                format!("{class}.{method} returned None to an ask of {message}")
            }
            None => format!("{class} returned None to an ask of type id {type_id}"),
        };
        format!("{what}: a handler that is asked must return a contract message (a class from mycelium.trading)")
    }
}

impl PyForeign {
    /// The callbacks for the actor class `host` was built for.
    pub(crate) fn new(py: Python<'_>, host: Py<PyAny>) -> PyResult<Self> {
        let bound = host.bind(py);
        let cls = bound.getattr("cls")?;
        let class_name = cls.getattr("__name__")?.extract::<String>()?;
        let inspect = py.import("inspect")?;
        let mut table = HashMap::new();
        let entries = bound.getattr("table")?;
        for (type_id, entry) in entries.cast::<PyDict>()?.iter() {
            let (message_cls, name): (Bound<'_, PyType>, Bound<'_, PyString>) = entry.extract()?;
            let is_async = inspect
                .call_method1("iscoroutinefunction", (cls.getattr(&name)?,))?
                .is_truthy()?;
            table.insert(
                type_id.extract::<u16>()?,
                Entry {
                    plan: codec::plan(&message_cls)?,
                    method: name.unbind(),
                    is_async,
                },
            );
        }
        let message_base = py
            .import("mycelium.trading")?
            .getattr("Message")?
            .cast_into::<PyType>()?
            .unbind();
        let names = Arc::new(HandlerNames::of_host(bound)?);
        Ok(PyForeign {
            host,
            class_name,
            table,
            message_base,
            names,
        })
    }

    /// Calls the handler of `type_id` on `actor` with the decoded message; the reply message
    /// (an instance of a generated class) or None.
    pub(crate) fn call<'py>(
        &self,
        py: Python<'py>,
        actor: &Py<PyAny>,
        type_id: u16,
        message: Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(entry) = self.table.get(&type_id) else {
            return Err(MessageTypeError::new_err(format!(
                "{} has no handler for type id {type_id}",
                self.class_name
            )));
        };
        let actor = actor.bind(py);
        let method = entry.method.bind(py);
        let mut reply = actor.call_method1(method, (message,))?;
        if reply.is_none() {
            return Ok(None);
        }
        if !reply.is_instance(self.message_base.bind(py))? {
            // An awaitable, run to completion; or something that is not a contract message,
            // which raises `MessageTypeError`.
            reply = self
                .host
                .bind(py)
                .call_method1("finish", (actor, method, reply))?;
            if reply.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(reply))
    }

    /// `call` on an encoded message, the reply encoded.
    pub(crate) fn call_bytes(
        &self,
        py: Python<'_>,
        actor: &Py<PyAny>,
        msg: &ForeignMessage,
    ) -> PyResult<Option<ForeignMessage>> {
        let Some(entry) = self.table.get(&msg.type_id) else {
            return Err(MessageTypeError::new_err(format!(
                "{} has no handler for type id {}",
                self.class_name, msg.type_id
            )));
        };
        let message = entry.plan.decode(py, &msg.body)?;
        let Some(reply) = self.call(py, actor, msg.type_id, message)? else {
            return Ok(None);
        };
        let plan = codec::message_plan(&reply)?;
        let type_id = plan.type_id_of(&reply)?;
        let body = plan.encode(&reply)?;
        Ok(Some(ForeignMessage { type_id, body }))
    }
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
        callbacks::attach(|py| {
            let me =
                Py::new(py, ActorRef::foreign(me.clone())).map_err(|e| exception_text(py, &e))?;
            self.host
                .call_method1(py, "start", (args.0.clone_ref(py), me))
                .map_err(|e| exception_text(py, &e))
        })
        .unwrap_or_else(|Exiting| Err(EXITING.to_string()))
    }

    fn handle(
        &self,
        state: &mut Py<PyAny>,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        callbacks::attach(|py| {
            self.call_bytes(py, state, &msg)
                .map_err(|e| exception_text(py, &e))
        })
        .unwrap_or_else(|Exiting| Err(EXITING.to_string()))
    }

    fn stop(&self, state: Py<PyAny>, reason: &StopReason) {
        let reason = crate::errors::reason_text(reason);
        let stopped = callbacks::attach(|py| {
            if let Err(e) = self.host.call_method1(py, "stop", (state, reason)) {
                // The incarnation is over either way; say why its stop hook failed.
                e.print(py);
            }
        });
        if stopped.is_err() {
            // Not silently: the incarnation ends without its stop hook.
            eprintln!("{}.on_stop was not called: {EXITING}", self.class_name);
        }
    }

    fn abandon(&self, state: Py<PyAny>) {
        // Dropping a Python reference without the GIL is deferred by PyO3 to the next time
        // some thread holds it.
        drop(state);
    }
}

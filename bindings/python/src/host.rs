//! Python actors as [`Foreign`] callbacks: a Python host object per actor class.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use mycelium_actors::StopReason;
use mycelium_foreign::{Foreign, ForeignMessage, ForeignRef};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyType};

use crate::actor_ref::ActorRef;
use crate::callbacks::{self, Exiting, EXITING};
use crate::codec::{self, Plan};
use crate::errors::MessageTypeError;
use crate::py_actors::PyActors;
use crate::schema::BusSchema;

/// The type id a plain Python object travels under between the Python actors of one bus
/// (with a key to the object, held by the receiving actor's [`PyForeign`]): reserved, so a
/// schema message may not take it.
pub(crate) const LOCAL_TYPE_ID: u16 = u16::MAX;

/// A held object's key with this bit is a timer's: its timer's cancel releases it once the
/// firings queued before are handled, and a firing that finds it released is dropped.
const TIMED: u64 = 1 << 63;
/// ...and with this bit too, each firing leaves it held (a periodic timer's).
const KEPT: u64 = 1 << 62;

/// By a type's address: the type (kept, so the address names it) and its handler's name or
/// None.
type PlainCache = HashMap<usize, (Py<PyType>, Py<PyAny>)>;

/// The most plain types whose handler an actor class remembers.
const PLAIN_CACHE_LIMIT: usize = 1024;

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
    /// The actor class: given, or imported by the first start.
    class: OnceLock<Class>,
    /// Where the first start imports the class from, for an actor named by its class path.
    import: Option<Import>,
    /// The schema of the actor's bus: its handlers' classes and its replies are of it.
    pub(crate) schema: BusSchema,
    /// Plain objects on their way to (or, as replies, from) this actor, by key: a message
    /// carries the key, and whoever handles it takes the object. An object whose message is
    /// never handled (dropped with a mailbox) is released with the actor's callbacks.
    locals: Mutex<HashMap<u64, Py<PyAny>>>,
    /// By a timer's key, its firings queued and not handled yet, and whether the timer was
    /// cancelled meanwhile: its object is let go with the last of them.
    firings: Mutex<HashMap<u64, Firings>>,
    next_local: AtomicU64,
    /// The handlers' recent exceptions, for askers on other threads and dead letters.
    pub(crate) raised: Arc<crate::failure::Raised>,
    /// The bus's Python actors, which each start registers this one in.
    actors: PyActors,
}

/// A timer's firings on their way to the actor ([`PyForeign::timer_firing`]).
#[derive(Default)]
struct Firings {
    queued: usize,
    /// The timer was cancelled: its object goes with the last firing queued before.
    released: bool,
}

/// The key a plain object's message carries.
fn key_of(body: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(body).map(u64::from_le_bytes).ok()
}

/// An actor class with its handler tables.
pub(crate) struct Class {
    pub(crate) host: Py<PyAny>,
    class_name: String,
    pub(crate) table: HashMap<u16, Entry>,
    /// The names of the class and its handlers, for the errors of asks.
    pub(crate) names: Arc<HandlerNames>,
    /// The names of the `async def` handlers of plain classes.
    plain_async: HashSet<String>,
    /// The handler's name (or None) of each plain type met so far, by type.
    plain_cache: Mutex<PlainCache>,
}

/// An actor class named by its path (`"desk.strategy:Momentum"`), imported by the first
/// start, for the bus `bus` (a `mycelium.Bus`).
pub(crate) struct Import {
    pub(crate) path: String,
    pub(crate) bus: Py<PyAny>,
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
            None if type_id == LOCAL_TYPE_ID => {
                format!("{class} returned None to an ask of a plain object")
            }
            None => format!("{class} returned None to an ask of type id {type_id}"),
        };
        format!("{what}: a handler that is asked must return a reply (a message of the bus's schema, or any object when a Python actor asks)")
    }
}

impl PyForeign {
    /// The callbacks for the actor class `host` was built for, on a bus that speaks `schema`:
    /// `SchemaMismatch` if a handler takes a message class of another schema.
    pub(crate) fn new(
        py: Python<'_>,
        host: Py<PyAny>,
        schema: &BusSchema,
        actors: &PyActors,
    ) -> PyResult<Self> {
        let class = OnceLock::new();
        let _ = class.set(Class::new(py, host, schema)?);
        Ok(PyForeign {
            class,
            import: None,
            schema: schema.clone(),
            locals: Mutex::new(HashMap::new()),
            firings: Mutex::new(HashMap::new()),
            next_local: AtomicU64::new(0),
            raised: Default::default(),
            actors: actors.clone(),
        })
    }

    /// The callbacks for the actor class at `path` (`"module:Class"`), imported by the first
    /// start on `bus` (a `mycelium.Bus` speaking `schema`): an import that fails, or a class
    /// that is not an actor of the bus's schema, fails that start with the error's text.
    pub(crate) fn imported(
        path: String,
        bus: Py<PyAny>,
        schema: &BusSchema,
        actors: &PyActors,
    ) -> Self {
        PyForeign {
            class: OnceLock::new(),
            import: Some(Import { path, bus }),
            schema: schema.clone(),
            locals: Mutex::new(HashMap::new()),
            firings: Mutex::new(HashMap::new()),
            next_local: AtomicU64::new(0),
            raised: Default::default(),
            actors: actors.clone(),
        }
    }

    /// The actor class, once known.
    pub(crate) fn class(&self) -> PyResult<&Class> {
        self.class.get().ok_or_else(|| {
            MessageTypeError::new_err(format!(
                "the actor class {} has not been imported: its start failed",
                self.import.as_ref().map_or("?", |i| i.path.as_str())
            ))
        })
    }

    /// The actor class: imported now if it is named by its path and not imported yet.
    fn load(&self, py: Python<'_>) -> PyResult<&Class> {
        if let Some(c) = self.class.get() {
            return Ok(c);
        }
        let Some(import) = &self.import else {
            return self.class();
        };
        let (module, name) = import.path.split_once(':').ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "`{}` does not name an actor class: write it as \"module:Class\" \
                 (\"desk.strategy:Momentum\")",
                import.path
            ))
        })?;
        let cls = py.import(module)?.getattr(name)?;
        let host = py
            .import("mycelium._actor")?
            .getattr("_Host")?
            .call1((cls, import.bus.bind(py)))?;
        let loaded = Class::new(py, host.unbind(), &self.schema)?;
        Ok(self.class.get_or_init(|| loaded))
    }

    /// The class name, for errors.
    pub(crate) fn class_name(&self) -> &str {
        match (self.class.get(), &self.import) {
            (Some(c), _) => &c.class_name,
            (None, Some(i)) => &i.path,
            (None, None) => "?",
        }
    }
}

impl Class {
    fn new(py: Python<'_>, host: Py<PyAny>, schema: &BusSchema) -> PyResult<Self> {
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
            let plan = codec::plan(&message_cls)?;
            schema.admit(&plan)?;
            let type_id = type_id.extract::<u16>()?;
            if type_id == LOCAL_TYPE_ID {
                return Err(MessageTypeError::new_err(format!(
                    "{}.{} handles type id {type_id}, which the Python binding keeps for plain \
                     objects: give the message another id in the schema file",
                    class_name,
                    name.to_str()?
                )));
            }
            table.insert(
                type_id,
                Entry {
                    plan,
                    method: name.unbind(),
                    is_async,
                },
            );
        }
        let mut plain_async = HashSet::new();
        for (_, name) in bound.getattr("plain")?.cast::<PyDict>()?.iter() {
            let name = name.cast_into::<PyString>()?;
            if inspect
                .call_method1("iscoroutinefunction", (cls.getattr(&name)?,))?
                .is_truthy()?
            {
                plain_async.insert(name.to_str()?.to_string());
            }
        }
        let names = Arc::new(HandlerNames::of_host(bound)?);
        Ok(Class {
            host,
            class_name,
            table,
            names,
            plain_async,
            plain_cache: Mutex::new(HashMap::new()),
        })
    }
}

impl PyForeign {
    /// Holds the plain object `value` for this actor: the message that carries it.
    pub(crate) fn hold(&self, value: Py<PyAny>) -> ForeignMessage {
        let key = self.next_local.fetch_add(1, Ordering::Relaxed);
        self.locals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
        ForeignMessage {
            type_id: LOCAL_TYPE_ID,
            body: key.to_le_bytes().to_vec(),
        }
    }

    /// Holds the plain object `value` for this actor's timer: the message each firing carries,
    /// which leaves it held for the next firing if `periodic`. [`release`](Self::release)
    /// lets it go.
    pub(crate) fn hold_timed(&self, value: Py<PyAny>, periodic: bool) -> ForeignMessage {
        let mut held = self.hold(value);
        let key = u64::from_le_bytes(held.body[..].try_into().expect("a held key"));
        let timed = key | TIMED | if periodic { KEPT } else { 0 };
        let mut locals = self.locals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = locals.remove(&key) {
            locals.insert(timed, value);
        }
        held.body = timed.to_le_bytes().to_vec();
        held
    }

    /// Lets go of the object of a timer's message (its key `body`), if still held: at once,
    /// or with the last firing queued before (handled by the actor, a restarted incarnation
    /// included, as the rest of its mailbox).
    pub(crate) fn release(&self, body: &[u8]) {
        let Some(key) = key_of(body) else { return };
        {
            let mut firings = self.firings.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(firing) = firings.get_mut(&key).filter(|f| f.queued > 0) {
                firing.released = true;
                return;
            }
            firings.remove(&key);
        }
        self.let_go(key);
    }

    /// Drops the object held under `key`, if any.
    fn let_go(&self, key: u64) {
        let value = self
            .locals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        drop(value);
    }

    /// A firing of the timer of `key` is handled, or was not queued after all: the last one
    /// queued before its timer was cancelled lets its object go.
    fn firing_done(&self, key: u64) {
        let last = {
            let mut firings = self.firings.lock().unwrap_or_else(|e| e.into_inner());
            let Some(firing) = firings.get_mut(&key) else {
                return;
            };
            firing.queued = firing.queued.saturating_sub(1);
            let last = firing.queued == 0;
            let released = firing.released;
            if last {
                firings.remove(&key);
            }
            last && released
        };
        if last {
            self.let_go(key);
        }
    }

    /// True for the firing of a timer whose object has been released (not one queued before
    /// its cancel, which keeps it): dropped unhandled.
    fn released_timer(&self, body: &[u8]) -> bool {
        <[u8; 8]>::try_from(body)
            .map(u64::from_le_bytes)
            .is_ok_and(|key| {
                key & TIMED != 0
                    && !self
                        .locals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains_key(&key)
            })
    }

    /// The plain object a message of [`hold`](Self::hold) carries, left held.
    pub(crate) fn peek<'py>(&self, py: Python<'py>, body: &[u8]) -> Option<Bound<'py, PyAny>> {
        let key = <[u8; 8]>::try_from(body).map(u64::from_le_bytes).ok()?;
        self.locals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map(|v| v.bind(py).clone())
    }

    /// Takes back the plain object a message of [`hold`](Self::hold) carries.
    pub(crate) fn take<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let key = <[u8; 8]>::try_from(body).map(u64::from_le_bytes).ok();
        key.and_then(|k| {
            let mut locals = self.locals.lock().unwrap_or_else(|e| e.into_inner());
            if k & KEPT != 0 {
                locals.get(&k).map(|v| v.clone_ref(py))
            } else {
                locals.remove(&k)
            }
        })
        .map(|v| v.into_bound(py))
        .ok_or_else(|| {
            MessageTypeError::new_err(format!(
                "{} was sent type id {LOCAL_TYPE_ID}, which the Python binding keeps for plain \
                 objects between Python actors, without an object",
                self.class_name()
            ))
        })
    }

    /// The handler method of the plain object `message`, or `MessageTypeError`.
    pub(crate) fn plain_handler<'py>(
        &self,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyString>> {
        let py = message.py();
        let class = self.class()?;
        let ty = message.get_type();
        let key = ty.as_ptr() as usize;
        let cached = class
            .plain_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map(|(_, name)| name.clone_ref(py));
        let name = match cached {
            Some(name) => name.into_bound(py),
            None => {
                let name = class.host.bind(py).call_method1("handler_of", (message,))?;
                // The type is kept with its entry, so its address names it while cached; a
                // program that makes types without end empties the cache now and then.
                let mut cache = class.plain_cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= PLAIN_CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(key, (ty.clone().unbind(), name.clone().unbind()));
                name
            }
        };
        if name.is_none() {
            return Err(MessageTypeError::new_err(format!(
                "{} has no handler for {}: give it a @handler({}) (or of a base class), or send \
                 it a message it handles",
                self.class_name(),
                message.get_type().name()?,
                message.get_type().name()?
            )));
        }
        Ok(name.cast_into::<PyString>()?)
    }

    /// What to say of an ask of the plain object `message` answered with None.
    pub(crate) fn no_reply_text(&self, message: &Bound<'_, PyAny>) -> PyResult<String> {
        let method = self.plain_handler(message)?;
        Ok(format!(
            "{}.{} returned None to an ask of {}",
            self.class_name(),
            method.to_str()?,
            message.get_type().name()?
        ))
    }

    /// The name of the message class of `type_id` ("a plain object" for one passed by
    /// reference): one this actor handles, or any the process's generated modules have (so a
    /// journal names a class the same whether the actor handles it or sends it).
    pub(crate) fn message_class(&self, type_id: u16) -> String {
        if type_id == LOCAL_TYPE_ID {
            return "a plain object".to_string();
        }
        match self.class.get().and_then(|c| c.table.get(&type_id)) {
            Some(entry) => entry.plan.class_name().to_string(),
            None => crate::errors::message_class(type_id),
        }
    }

    /// True if the handler of the plain object `message` is `async def`.
    pub(crate) fn plain_is_async(&self, message: &Bound<'_, PyAny>) -> PyResult<bool> {
        let name = self.plain_handler(message)?;
        Ok(self.class()?.plain_async.contains(name.to_str()?))
    }

    /// Calls the handler of the plain object `message` on `actor`: its reply (any object) or
    /// None.
    pub(crate) fn call_local<'py>(
        &self,
        py: Python<'py>,
        actor: &Py<PyAny>,
        message: Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let method = self.plain_handler(&message)?;
        let actor = actor.bind(py);
        let mut reply = actor.call_method1(&method, (message,))?;
        if self.class()?.plain_async.contains(method.to_str()?) {
            reply = self
                .class()?
                .host
                .bind(py)
                .call_method1("finish", (actor, &method, reply))?;
        }
        Ok(if reply.is_none() { None } else { Some(reply) })
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
        let Some(entry) = self.class()?.table.get(&type_id) else {
            return Err(MessageTypeError::new_err(format!(
                "{} has no handler for type id {type_id}",
                self.class_name()
            )));
        };
        let actor = actor.bind(py);
        let method = entry.method.bind(py);
        let mut reply = actor.call_method1(method, (message,))?;
        if reply.is_none() {
            return Ok(None);
        }
        if codec::contract_plan(&reply)?.is_none() {
            // An awaitable, run to completion.
            reply = self
                .class()?
                .host
                .bind(py)
                .call_method1("finish", (actor, method, reply))?;
            if reply.is_none() {
                return Ok(None);
            }
            if codec::contract_plan(&reply)?.is_none() {
                return Err(MessageTypeError::new_err(format!(
                    "{}.{} returned `{}`; a handler of a schema message returns a message of \
                     the bus's schema or None (a plain object can answer only a plain object)",
                    self.class_name(),
                    method.to_str()?,
                    reply.get_type().name()?
                )));
            }
        }
        Ok(Some(reply))
    }

    /// `call` on an encoded message, the reply encoded; a failed handler of a plain object
    /// leaves the object's class name in `failed_on`.
    pub(crate) fn call_bytes(
        &self,
        py: Python<'_>,
        actor: &Py<PyAny>,
        msg: &ForeignMessage,
        failed_on: &mut Option<String>,
    ) -> PyResult<Option<ForeignMessage>> {
        if msg.type_id == LOCAL_TYPE_ID {
            if self.released_timer(&msg.body) {
                return Ok(None);
            }
            let message = self.take(py, &msg.body)?;
            if let Some(key) = key_of(&msg.body).filter(|k| k & TIMED != 0) {
                self.firing_done(key);
            }
            let class = message.get_type();
            let called = self.call_local(py, actor, message).inspect_err(|_| {
                // A failure names the plain object by its class, as on the asker's thread.
                *failed_on = class.name().ok().map(|n| n.to_string());
            });
            let Some(reply) = called? else {
                return Ok(None);
            };
            return Ok(Some(match codec::contract_plan(&reply)? {
                Some(plan) => {
                    self.schema.admit(&plan)?;
                    ForeignMessage {
                        type_id: plan.type_id_of(&reply)?,
                        body: plan.encode(&reply)?,
                    }
                }
                // Taken by the asker, a Python caller: the only one that sends plain objects.
                None => self.hold(reply.unbind()),
            }));
        }
        let Some(entry) = self.class()?.table.get(&msg.type_id) else {
            return Err(MessageTypeError::new_err(format!(
                "{} has no handler for type id {}",
                self.class_name(),
                msg.type_id
            )));
        };
        let message = entry.plan.decode(py, &msg.body)?;
        let Some(reply) = self.call(py, actor, msg.type_id, message)? else {
            return Ok(None);
        };
        let plan = codec::message_plan(&reply)?;
        self.schema.admit(&plan)?;
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
            let class = self.load(py).map_err(|e| exception_text(py, &e))?;
            self.actors
                .register(me.id(), self.class_name(), &self.raised);
            let me = Py::new(py, ActorRef::foreign(me.clone(), self.schema.clone()))
                .map_err(|e| exception_text(py, &e))?;
            class
                .host
                .call_method1(py, "start", (args.0.clone_ref(py), me))
                .map_err(|e| {
                    // Logged as a handler's failure is: a restart whose start fails is
                    // retried by its supervisor, and would otherwise say nothing.
                    let outcome = "the start failed";
                    crate::failure::report_hook(py, self.class_name(), "on_start", outcome, &e);
                    exception_text(py, &e)
                })
        })
        .unwrap_or_else(|Exiting| Err(EXITING.to_string()))
    }

    fn handle(
        &self,
        state: &mut Py<PyAny>,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        callbacks::attach(|py| {
            let mut plain = None;
            self.call_bytes(py, state, &msg, &mut plain).map_err(|e| {
                let message = plain.unwrap_or_else(|| self.message_class(msg.type_id));
                self.raised.record(py, self.class_name(), &message, e)
            })
        })
        .unwrap_or_else(|Exiting| Err(EXITING.to_string()))
    }

    /// The GIL (and the thread's Python thread state) once for the batch: each handler
    /// inside finds it held.
    fn run_batch(&self, batch: &mut dyn FnMut()) {
        if callbacks::attach(|_py| batch()).is_err() {
            // Exiting: each handler fails with that reason, as it would alone.
            batch();
        }
    }

    fn stop(&self, state: Py<PyAny>, reason: &StopReason) {
        let reason = crate::errors::reason_text(reason);
        let stopped = callbacks::attach(|py| {
            let Some(class) = self.class.get() else {
                return; // never started: nothing to stop
            };
            if let Err(e) = class.host.call_method1(py, "stop", (state, reason)) {
                // The incarnation is over either way; say why its stop hook failed.
                let outcome = "ignored: the incarnation ends either way";
                crate::failure::report_hook(py, self.class_name(), "on_stop", outcome, &e);
            }
        });
        if stopped.is_err() {
            // Not silently: the incarnation ends without its stop hook.
            eprintln!("{}.on_stop was not called: {EXITING}", self.class_name());
        }
    }

    /// Counts a plain object's firings on their way, so that a cancel keeps the object for
    /// those queued before it.
    fn timer_firing(&self, msg: &ForeignMessage, queued: bool) {
        if msg.type_id != LOCAL_TYPE_ID {
            return;
        }
        let Some(key) = key_of(&msg.body).filter(|k| k & TIMED != 0) else {
            return;
        };
        if queued {
            let mut firings = self.firings.lock().unwrap_or_else(|e| e.into_inner());
            firings.entry(key).or_default().queued += 1;
        } else {
            self.firing_done(key);
        }
    }

    /// A cancelled timer's firing, dropped unhandled by `call_bytes`.
    fn dropped(&self, msg: &ForeignMessage) -> bool {
        msg.type_id == LOCAL_TYPE_ID && self.released_timer(&msg.body)
    }

    /// A recorded actor's messages: see `recording.rs`.
    fn recorded(&self, msg: &ForeignMessage, pickle: bool) -> mycelium_foreign::ForeignRecord {
        crate::recording::describe(self, msg, pickle)
    }

    /// A contract message by its class name, a plain object as such.
    fn message_name(&self, type_id: u16) -> &'static str {
        match type_id {
            LOCAL_TYPE_ID => "a plain object",
            _ => mycelium_foreign::recording::static_name(&crate::errors::message_class(type_id)),
        }
    }

    fn label(&self) -> &'static str {
        mycelium_foreign::recording::static_name(self.class_name())
    }

    fn abandon(&self, state: Py<PyAny>) {
        // Dropping a Python reference without the GIL is deferred by PyO3 to the next time
        // some thread holds it.
        drop(state);
    }
}

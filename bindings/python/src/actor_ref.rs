//! `ActorRef`: a Python handle on an actor, by bytes (the Python layer encodes).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium_actors::export::{ByteService, DeliveryError};
use mycelium_actors::recording;
use mycelium_actors::{Bus, SubscribeOptions, Subscription as RustSubscription};
use mycelium_foreign::recording::{report_answered_bytes, report_sent_by_name};
use mycelium_foreign::{Direct, ForeignAskError, ForeignMessage, ForeignRef};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFrozenSet};
use tokio::runtime::Handle;

use crate::callbacks;
use crate::codec;
use crate::errors::{self, ActorStopped, MailboxFull, MessageTypeError};
use crate::host::{HandlerNames, PyForeign, LOCAL_TYPE_ID};
use crate::py_actors::PyActors;
use crate::schema::BusSchema;
use crate::wait::wait;

#[derive(Clone)]
enum Target {
    /// A Python actor.
    Foreign(ForeignRef<PyForeign>),
    /// Whatever the bus exports under this name (a Rust actor, a Python actor), with the
    /// names of the Python actor's handlers when it is one.
    Service {
        bus: Bus,
        name: String,
        names: Option<Arc<HandlerNames>>,
        /// The bus's Python actors, to find the exception of a handler behind the name.
        actors: Option<PyActors>,
    },
}

/// A handle on an actor: a Python actor spawned on a bus, or a service exported on it.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct ActorRef {
    target: Target,
    handle: Option<Handle>,
    /// The schema of the bus: what messages are checked against, and replies decoded with.
    schema: BusSchema,
}

pub(crate) fn seconds(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout.map(|t| duration("timeout", t)).transpose()
}

/// `value` seconds as a duration, or `ValueError` naming the parameter `name`: negative,
/// not finite, or too large for a duration.
pub(crate) fn duration(name: &str, value: f64) -> PyResult<Duration> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds, got {value}"
        )));
    }
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{name} is too large: {value:e} seconds")))
}

/// An ask's failure on its way to the asker, turned into the exception with the GIL: a
/// Python actor's handler that raised is raised as itself, which takes the GIL to make.
pub(crate) enum AskFailed {
    /// Made already.
    Error(PyErr),
    /// The handler of `actor` failed on the mailbox path: its exception, if the actor kept it
    /// in its `Raised` (see `failure.rs`; taken when the ask was sent, since an actor that
    /// stops on the failure lets its callbacks go), else the failure as `ActorFailed`.
    Foreign(
        ForeignAskError,
        ForeignRef<PyForeign>,
        Option<Arc<crate::failure::Raised>>,
    ),
    /// An ask by service name of type id `type_id` failed: for a Python actor of this bus
    /// behind the name, its handler's exception if it kept it (found when the ask was sent).
    Service {
        error: DeliveryError,
        type_id: u16,
        names: Option<Arc<HandlerNames>>,
        raised: Option<Arc<crate::failure::Raised>>,
    },
}

impl From<PyErr> for AskFailed {
    fn from(e: PyErr) -> Self {
        AskFailed::Error(e)
    }
}

impl AskFailed {
    pub(crate) fn raise(self, py: Python<'_>) -> PyErr {
        match self {
            AskFailed::Error(e) => e,
            AskFailed::Foreign(e, actor, raised) => {
                if let ForeignAskError::Failed { failure } = &e {
                    let raised = raised.and_then(|r| r.take(&failure.reason));
                    if let Some(raised) = raised {
                        let text = errors::failed_text(failure);
                        return crate::failure::to_asker(py, raised, &text, false);
                    }
                }
                foreign_ask_error(&actor, e)
            }
            AskFailed::Service {
                error,
                type_id,
                names,
                raised,
            } => {
                if let DeliveryError::Failed { service, failure } = &error {
                    if let Some(raised) = raised.and_then(|r| r.take(&failure.reason)) {
                        let text = errors::service_failed_text(service, failure);
                        return crate::failure::to_asker(py, raised, &text, false);
                    }
                }
                service_ask_error(error, type_id, names.as_deref())
            }
        }
    }
}

/// Calls an awaitable's `callback(ok, value)` once: with the outcome, or, if it is dropped
/// before (with the task that should have settled it, when the bus runtime has shut down),
/// with `ActorStopped`, as the synchronous call raises.
struct Settle<T>
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    callback: Option<Py<PyAny>>,
    outcome: Option<Result<T, AskFailed>>,
}

impl<T> Settle<T>
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    fn call(callback: Py<PyAny>, outcome: Result<T, AskFailed>) {
        // Once the interpreter is exiting no event loop is left to settle.
        let _ = callbacks::attach(|py| {
            let called = match outcome {
                Ok(v) => callback.call1(py, (true, v)),
                Err(e) => callback.call1(py, (false, e.raise(py).into_value(py))),
            };
            if let Err(e) = called {
                e.print(py);
            }
        });
    }

    /// The callback and what to give it, once (`ActorStopped` when no outcome came).
    fn take(&mut self) -> Option<(Py<PyAny>, Result<T, AskFailed>)> {
        let callback = self.callback.take()?;
        Some((
            callback,
            self.outcome.take().unwrap_or_else(|| Err(gone().into())),
        ))
    }

    /// Settles now, on this thread.
    fn now(mut self) {
        if let Some((callback, outcome)) = self.take() {
            Self::call(callback, outcome);
        }
    }
}

impl<T> Drop for Settle<T>
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    fn drop(&mut self) {
        let Some((callback, outcome)) = self.take() else {
            return;
        };
        // Dropped with its task, on whichever thread dropped it (one holding the GIL, or a
        // runtime worker that must not wait for it): settled from a thread of its own. If no
        // thread can be started, the callback is dropped and its future stays pending.
        let _ = std::thread::Builder::new()
            .name("mycelium-settle".into())
            .spawn(move || Self::call(callback, outcome));
    }
}

/// The error of an awaitable whose bus has shut down before it was settled.
fn gone() -> PyErr {
    ActorStopped::new_err("the bus has shut down: no answer will come")
}

/// Runs `fut` on `handle` and calls `callback(ok, value)` from a blocking-pool thread when it
/// is done: `value` is the result, or the exception instance when `ok` is false. If the bus
/// runtime has shut down before (the task is dropped), `ActorStopped`.
///
/// `fut` is polled once here, on the caller's thread, before the task takes it: a send that
/// finds room is counted and queued before this returns, so that what the caller does next
/// (an ask its handler answers on this thread, say) cannot overtake it.
pub(crate) fn complete_later<F, T, E>(handle: &Handle, fut: F, callback: Py<PyAny>)
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
    E: Into<AskFailed> + Send + 'static,
{
    let mut settle = Settle {
        callback: Some(callback),
        outcome: None,
    };
    let mut fut = Box::pin(fut);
    let first = {
        // Timers made by the first poll belong to the bus runtime; the task's polls wake it.
        let _runtime = handle.enter();
        fut.as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    };
    let pool = handle.clone();
    // A handler's event loop on a virtual-time bus waits for this in turns with the bus
    // (`_actor._TurnSelector`): its grant is queued here, where the outcome comes.
    let turn = mycelium_foreign::turn_waker();
    // On a runtime that has shut down, the task (and `settle` in it) is dropped at once.
    handle.spawn(async move {
        let outcome = match first {
            std::task::Poll::Ready(outcome) => outcome,
            std::task::Poll::Pending => fut.await,
        };
        if let Some(turn) = turn {
            turn.wake();
        }
        settle.outcome = Some(outcome.map_err(Into::into));
        // Python runs on the blocking pool, never on a runtime worker.
        pool.spawn_blocking(move || settle.now());
    });
}

impl ActorRef {
    pub(crate) fn foreign(actor: ForeignRef<PyForeign>, schema: BusSchema) -> Self {
        ActorRef {
            target: Target::Foreign(actor),
            handle: Handle::try_current().ok(),
            schema,
        }
    }

    pub(crate) fn foreign_in(
        actor: ForeignRef<PyForeign>,
        handle: &Handle,
        schema: BusSchema,
    ) -> Self {
        ActorRef {
            target: Target::Foreign(actor),
            handle: Some(handle.clone()),
            schema,
        }
    }

    pub(crate) fn service(bus: &Bus, name: &str, schema: BusSchema) -> Self {
        Self::service_named(bus, name, None, None, schema)
    }

    /// A service ref that knows the names of the Python actor's handlers behind it, and the
    /// bus's Python actors (whose handlers' exceptions its asks raise).
    pub(crate) fn service_named(
        bus: &Bus,
        name: &str,
        names: Option<Arc<HandlerNames>>,
        actors: Option<PyActors>,
        schema: BusSchema,
    ) -> Self {
        ActorRef {
            target: Target::Service {
                bus: bus.clone(),
                name: name.to_string(),
                names,
                actors,
            },
            handle: Some(bus.runtime().clone()),
            schema,
        }
    }

    /// Tells the plain object `message` (not a schema message) to this Python actor, held
    /// for it: `Ok(false)` for a message class of a schema (refused by `accepts`), whose
    /// error the caller raises. `wait`: wait for room, or raise `MailboxFull`.
    fn tell_local(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        wait_room: bool,
    ) -> PyResult<bool> {
        if codec::contract_plan(message)?.is_some() {
            return Ok(false);
        }
        let actor = match &self.target {
            Target::Foreign(actor) => actor,
            Target::Service { name, .. } => return Err(not_to_service(message, name)),
        };
        let foreign = local_target(actor)?;
        foreign.plain_handler(message)?;
        let held = foreign.hold(message.clone().unbind());
        let key = held.body.clone();
        let sent = crate::recording::sending_object(&foreign, &key, message, || {
            if wait_room {
                self.tell(py, held.type_id, held.body)
            } else {
                self.try_tell(held.type_id, held.body)
            }
        });
        if sent.is_err() {
            // Not queued: not kept for the actor either.
            drop(foreign.take(py, &key));
        }
        sent.map(|()| true)
    }

    /// Decodes a reply of the bus's schema.
    fn decode_reply<'py>(
        &self,
        py: Python<'py>,
        type_id: u16,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        self.schema
            .require("decoding a reply")?
            .decode(py, type_id, body)
    }

    fn handle(&self) -> PyResult<&Handle> {
        self.handle
            .as_ref()
            .ok_or_else(|| errors::BusClosed::new_err("this ref was made outside a bus runtime"))
    }

    fn ask_future(
        &self,
        type_id: u16,
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(u16, Vec<u8>), AskFailed>> + Send + 'static {
        let target = self.target.clone();
        let raised = match &target {
            Target::Foreign(actor) => actor.gate().map(|g| g.foreign().raised.clone()),
            Target::Service { name, actors, .. } => actors.as_ref().and_then(|a| a.raised_of(name)),
        };
        let source = python_source();
        recording::sending_as(source, async move {
            match target {
                Target::Foreign(actor) => {
                    match actor.ask(ForeignMessage { type_id, body }, timeout).await {
                        Ok(m) => Ok((m.type_id, m.body)),
                        Err(e) => Err(AskFailed::Foreign(e, actor, raised)),
                    }
                }
                Target::Service {
                    bus, name, names, ..
                } => {
                    let reported = report_sent_by_name(&bus, &name, true, type_id, &body);
                    let exports = bus.exports();
                    let asked = match timeout {
                        Some(t) => exports.ask_timeout(&name, type_id, &body, t).await,
                        None => exports.ask(&name, type_id, &body).await,
                    };
                    if reported {
                        match &asked {
                            Ok((t, b)) => report_answered_bytes(Ok((*t, b))),
                            Err(e) => report_answered_bytes(Err(&e.to_string())),
                        }
                    }
                    asked.map_err(|error| AskFailed::Service {
                        error,
                        type_id,
                        names,
                        raised,
                    })
                }
            }
        })
    }

    fn tell_future(
        &self,
        type_id: u16,
        body: Vec<u8>,
    ) -> impl Future<Output = PyResult<()>> + Send + 'static {
        let target = self.target.clone();
        let source = python_source();
        recording::sending_as(source, async move {
            match target {
                Target::Foreign(actor) => actor
                    .tell(ForeignMessage { type_id, body })
                    .await
                    .map_err(|_| errors::stopped(actor.actor_ref().stop_reason().as_ref())),
                Target::Service { bus, name, .. } => {
                    report_sent_by_name(&bus, &name, false, type_id, &body);
                    bus.exports()
                        .deliver(&name, type_id, &body)
                        .await
                        .map_err(errors::delivery)
                }
            }
        })
    }
}

/// The refusal of a stop through a service ref.
fn not_stopped_by_name(name: &str) -> PyErr {
    PyValueError::new_err(format!(
        "`{name}` is a service ref; stop the actor through its supervisor or its own ref"
    ))
}

/// The exception for an ask to a Python actor: one whose handler returned None names the
/// class, the method and the message class; one that has stopped says why.
fn foreign_ask_error(actor: &ForeignRef<PyForeign>, e: ForeignAskError) -> PyErr {
    match e {
        ForeignAskError::NoReply { type_id } => match actor.gate() {
            Some(gate) => match gate.foreign().class() {
                Ok(class) => MessageTypeError::new_err(class.names.no_reply(type_id)),
                Err(e) => e,
            },
            None => errors::ask(e),
        },
        // The stop's reason stays with the actor: a mailbox found closed does not carry it.
        ForeignAskError::Stopped { reason: None } => {
            errors::stopped(actor.actor_ref().stop_reason().as_ref())
        }
        e => errors::ask(e),
    }
}

/// The exception for an ask by service name: a Python actor's handler that returned None is
/// a `MessageTypeError` naming it, as for an ask through the actor's own ref.
fn service_ask_error(e: DeliveryError, type_id: u16, names: Option<&HandlerNames>) -> PyErr {
    if let DeliveryError::Failed { service, failure } = &e {
        let no_reply = ForeignAskError::NoReply { type_id }.to_string();
        if *failure.reason == *no_reply {
            return MessageTypeError::new_err(match names {
                Some(names) => names.no_reply(type_id),
                None => format!(
                    "service `{service}` returned None to an ask of type id {type_id}: a handler \
                     that is asked must return a message of the bus's schema"
                ),
            });
        }
    }
    errors::delivery(e)
}

/// The error for a plain object sent to the service `name`.
fn not_to_service(message: &Bound<'_, PyAny>, name: &str) -> PyErr {
    errors::cannot_leave(
        message,
        &format!(
            "be sent to service `{name}`: a service is reached through the bus's export table, \
             which Rust actors and other nodes use (send it through the Python actor's own ref)"
        ),
    )
}

/// The type id and body of a contract message instance of the bus's schema `schema`.
fn encode_message(message: &Bound<'_, PyAny>, schema: &BusSchema) -> PyResult<(u16, Vec<u8>)> {
    let plan = codec::message_plan(message)?;
    schema.admit(&plan)?;
    Ok((plan.type_id_of(message)?, plan.encode(message)?))
}

/// The type id and body of `message` if it is a contract message whose type id is in
/// `accepts` (when given); `None` otherwise. `SchemaMismatch` for a message class of another
/// schema than the bus's.
fn checked(
    message: &Bound<'_, PyAny>,
    accepts: Option<&Bound<'_, PyFrozenSet>>,
    schema: &BusSchema,
) -> PyResult<Option<(u16, Vec<u8>)>> {
    let Some(plan) = codec::contract_plan(message)? else {
        return Ok(None);
    };
    schema.admit(&plan)?;
    let py = message.py();
    // The class's id, read once with its plan, and `accepts` looked up with the class's own
    // int object (an id above 256 is not one of Python's cached small ints): reading the id
    // from each message and making an int of it cost 361 instructions a tell
    // (docs/perf/python.md).
    let (type_id, id) = match plan.type_id() {
        Some((type_id, id)) => (*type_id, id.bind(py).clone()),
        None => {
            let type_id = codec::type_id_of(message)?;
            (type_id, type_id.into_pyobject(py)?.into_any())
        }
    };
    if let Some(accepts) = accepts {
        if !accepts.contains(&id)? {
            return Ok(None);
        }
    }
    let body = plan.encode(message)?;
    Ok(Some((type_id, body)))
}

/// The deadline of an ask with a timeout whose handler may run on the asking thread.
///
/// Python code cannot be preempted: a handler that has started on the asker's thread runs
/// to its end. A timeout bounds the wait for the answer, so a handler that returns after it
/// has passed gives `AskTimeout`, its reply dropped, as a reply that comes late through the
/// mailbox is; the handler did run (the message is handled, not lost).
struct Deadline(Option<(Instant, Duration)>);

impl Deadline {
    /// Starts now (a real-time bus: direct calls are off on virtual time).
    fn start(timeout: Option<Duration>) -> Self {
        Deadline(timeout.map(|t| (Instant::now(), t)))
    }

    /// `AskTimeout` if the handler returned after the timeout.
    fn check(&self) -> PyResult<()> {
        match self.0 {
            Some((started, timeout)) if started.elapsed() > timeout => {
                Err(errors::AskTimeout::new_err(format!(
                    "no reply within {} s: the actor was idle, so its handler ran on this \
                     thread, and it returned after the timeout (a handler cannot be cut \
                     short); its reply was dropped",
                    timeout.as_secs_f64()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// A handler's exception on the asking thread, kept for the asker: reported (logged with its
/// traceback) when it fails the actor.
#[derive(Default)]
struct Caught(Option<PyErr>);

impl Caught {
    /// Reports `e`, raised by the handler of `message` of `foreign`'s class, keeps it, and
    /// gives the text that fails the actor.
    fn report(&mut self, py: Python<'_>, foreign: &PyForeign, message: &str, e: PyErr) -> String {
        let text = crate::failure::report(py, foreign.class_name(), message, &e);
        foreign.raised.name(&text, message);
        self.0 = Some(e);
        text
    }

    /// What the asker raises for the failure `e` of a direct call: the handler's exception
    /// as itself (see `failure.rs`); a `KeyboardInterrupt` (Ctrl-C on this thread)
    /// unwrapped.
    fn raise(self, py: Python<'_>, e: ForeignAskError) -> PyErr {
        match (self.0, &e) {
            (Some(caught), ForeignAskError::Failed { failure }) => {
                crate::failure::to_asker(py, caught, &errors::failed_text(failure), true)
            }
            _ => errors::ask(e),
        }
    }
}

/// Runs the handler of an idle Python actor on this thread: `Ok(reply)`, or the body back
/// when the ask must go through the mailbox.
fn direct<'py>(
    py: Python<'py>,
    actor: &ForeignRef<PyForeign>,
    type_id: u16,
    body: Vec<u8>,
    timeout: Option<Duration>,
) -> PyResult<Result<Bound<'py, PyAny>, Vec<u8>>> {
    let Some(gate) = actor.gate() else {
        return Ok(Err(body));
    };
    // An `async def` handler runs to its end on this thread's event loop (`thread_loop`),
    // unless this thread is running a loop of its own, inside which no other loop can run:
    // then it goes through the mailbox, to a pool thread's loop.
    let message = match gate.foreign().class()?.table.get(&type_id) {
        Some(entry) if !entry.is_async => &entry.plan,
        Some(entry) if !loop_running(py)? => &entry.plan,
        _ => return Ok(Err(body)),
    };
    let msg = ForeignMessage { type_id, body };
    let deadline = Deadline::start(timeout);
    let mut caught = Caught::default();
    let done = actor.try_direct(type_id, |foreign, state| {
        foreign
            .call_bytes(py, state, &msg, &mut None)
            .map_err(|e| caught.report(py, foreign, message.class_name(), e))
    });
    if !matches!(done, Direct::Busy) {
        // Asked right here: a recorded actor asking on this thread records it (the mailbox
        // path records itself).
        mycelium_foreign::recording::report_sent(actor.id(), true, &msg);
    }
    match &done {
        Direct::Done(Some(reply)) => mycelium_foreign::recording::report_answered(Ok(reply)),
        Direct::Failed(e) => mycelium_foreign::recording::report_answered(Err(&e.to_string())),
        Direct::Done(None) | Direct::Busy => {}
    }
    match done {
        Direct::Done(Some(reply)) => {
            deadline.check()?;
            Ok(Ok(gate
                .foreign()
                .schema
                .require("decoding a reply")?
                .decode(py, reply.type_id, &reply.body)?))
        }
        Direct::Done(None) => Err(MessageTypeError::new_err(
            gate.foreign().class()?.names.no_reply(type_id),
        )),
        Direct::Failed(e) => Err(caught.raise(py, e)),
        Direct::Busy => Ok(Err(msg.body)),
    }
}

/// The callbacks of the Python actor `actor`, which a plain object can be sent to.
fn local_target(actor: &ForeignRef<PyForeign>) -> PyResult<std::sync::Arc<PyForeign>> {
    actor
        .gate()
        .map(|g| g.foreign().clone())
        .ok_or_else(|| errors::BusClosed::new_err("this ref was made without its actor's gate"))
}

/// Asks the Python actor `actor` with the plain object `message` on this thread if it is
/// idle (and the handler is not `async def` on a thread running an event loop): `Ok(reply)`,
/// or `Err(held)`: the object held for the actor, to ask through the mailbox with.
fn direct_local<'py>(
    py: Python<'py>,
    actor: &ForeignRef<PyForeign>,
    message: &Bound<'py, PyAny>,
    timeout: Option<Duration>,
) -> PyResult<Result<Bound<'py, PyAny>, ForeignMessage>> {
    let foreign = local_target(actor)?;
    // Refused before anything runs or is queued.
    let is_async = foreign.plain_is_async(message)?;
    if !is_async || !loop_running(py)? {
        let deadline = Deadline::start(timeout);
        let mut caught = Caught::default();
        let class = message.get_type().name()?.to_string();
        let done = actor.try_direct(LOCAL_TYPE_ID, |foreign, state| {
            foreign
                .call_local(py, state, message.clone())
                .map(|reply| reply.map(Bound::unbind))
                .map_err(|e| caught.report(py, foreign, &class, e))
        });
        match done {
            Direct::Done(Some(reply)) => {
                deadline.check()?;
                return Ok(Ok(reply.into_bound(py)));
            }
            Direct::Done(None) => {
                return Err(MessageTypeError::new_err(format!(
                    "{}: a handler that is asked must return a reply",
                    foreign.no_reply_text(message)?
                )))
            }
            Direct::Failed(e) => return Err(caught.raise(py, e)),
            Direct::Busy => {}
        }
    }
    Ok(Err(foreign.hold(message.clone().unbind())))
}

/// Asks the Python actor `actor` with the plain object `message`: its handler runs here when
/// the actor is idle (see `direct_local`), or the ask goes through the mailbox, the object
/// held for the actor.
fn ask_local<'py>(
    r: &ActorRef,
    py: Python<'py>,
    actor: &ForeignRef<PyForeign>,
    message: &Bound<'py, PyAny>,
    timeout: Option<Duration>,
) -> PyResult<Bound<'py, PyAny>> {
    let held = match direct_local(py, actor, message, timeout)? {
        Ok(reply) => return Ok(reply),
        Err(held) => held,
    };
    let foreign = local_target(actor)?;
    let handle = r.handle()?.clone();
    let key = held.body.clone();
    let asked = crate::recording::sending_object(&foreign, &key, message, || {
        wait(py, &handle, r.ask_future(held.type_id, held.body, timeout))
    })?;
    let (reply_type, reply) = asked.map_err(|e| e.raise(py))?;
    if reply_type == LOCAL_TYPE_ID {
        foreign.take(py, &reply)
    } else {
        r.decode_reply(py, reply_type, &reply)
    }
}

/// True if an event loop is running on this thread.
fn loop_running(py: Python<'_>) -> PyResult<bool> {
    Ok(!py
        .import("asyncio")?
        .call_method0("_get_running_loop")?
        .is_none())
}

fn reply(py: Python<'_>, (type_id, body): (u16, Vec<u8>)) -> (u16, Py<PyBytes>) {
    (type_id, PyBytes::new(py, &body).unbind())
}

#[pymethods]
impl ActorRef {
    /// The actor's id (`#5`), or the service name for a service ref.
    #[getter]
    fn id(&self) -> String {
        match &self.target {
            Target::Foreign(a) => a.id().to_string(),
            Target::Service { name, .. } => name.clone(),
        }
    }

    /// The actor's class name, for a ref to a Python actor whose class is known.
    #[getter]
    fn class_name(&self) -> Option<String> {
        match &self.target {
            Target::Foreign(a) => a.gate().map(|g| g.foreign().class_name().to_string()),
            Target::Service { .. } => None,
        }
    }

    /// The service name, for a service ref.
    #[getter(service)]
    fn service_name(&self) -> Option<String> {
        match &self.target {
            Target::Foreign(_) => None,
            Target::Service { name, .. } => Some(name.clone()),
        }
    }

    /// False once the actor has stopped for good (a service ref: once it is not exported).
    fn is_alive(&self) -> bool {
        match &self.target {
            Target::Foreign(a) => a.is_alive(),
            Target::Service { bus, name, .. } => bus.exports().type_ids(name).is_some(),
        }
    }

    /// Tells, waiting (without the GIL) for room in a full mailbox.
    fn tell(&self, py: Python<'_>, type_id: u16, body: Vec<u8>) -> PyResult<()> {
        // Fast path: room in the mailbox, so no wait (and no GIL release) is needed. Only a
        // full mailbox is waited on: a refusal for any other reason is the tell's outcome
        // (tried again, the send would be reported twice to a recording).
        let full = recording::sending_from(PYTHON, || match &self.target {
            Target::Foreign(actor) => match ByteService::try_tell(actor, type_id, &body) {
                Ok(()) => Ok(false),
                Err(mycelium_actors::export::ByteRefusal::Full) => Ok(true),
                Err(mycelium_actors::export::ByteRefusal::Stopped) => {
                    Err(errors::stopped(actor.actor_ref().stop_reason().as_ref()))
                }
            },
            Target::Service { bus, name, .. } => {
                match bus.exports().try_deliver(name, type_id, &body) {
                    Ok(()) => {
                        report_sent_by_name(bus, name, false, type_id, &body);
                        Ok(false)
                    }
                    // Not queued, it is reported by the wait for room below.
                    Err(DeliveryError::Full { .. }) => Ok(true),
                    Err(e) => Err(errors::delivery(e)),
                }
            }
        })?;
        if !full {
            return Ok(());
        }
        let handle = self.handle()?.clone();
        wait(py, &handle, self.tell_future(type_id, body))?
    }

    /// Tells without waiting: `MailboxFull` when there is no room.
    fn try_tell(&self, type_id: u16, body: Vec<u8>) -> PyResult<()> {
        let refused = recording::sending_from(PYTHON, || match &self.target {
            Target::Foreign(actor) => Ok(ByteService::try_tell(actor, type_id, &body)),
            Target::Service { bus, name, .. } => {
                let told = bus.exports().try_deliver(name, type_id, &body);
                match &told {
                    Ok(()) => {
                        report_sent_by_name(bus, name, false, type_id, &body);
                    }
                    Err(DeliveryError::Full { actor, .. }) => {
                        // (A foreign actor's service reported the send itself.)
                        report_sent_by_name(bus, name, false, type_id, &body);
                        mycelium_foreign::recording::report_refused(
                            *actor,
                            mycelium_actors::recording::Refusal::Full,
                        );
                    }
                    Err(_) => {}
                }
                told.map(|()| Ok(())).map_err(errors::delivery)
            }
        })?;
        match refused {
            Ok(()) => Ok(()),
            Err(mycelium_actors::export::ByteRefusal::Full) => {
                if let Target::Foreign(actor) = &self.target {
                    // Final for a `try_tell` (a `tell` would wait): the handler sees it.
                    mycelium_foreign::recording::report_refused(
                        actor.id(),
                        mycelium_actors::recording::Refusal::Full,
                    );
                }
                Err(MailboxFull::new_err(
                    "the mailbox is full; nothing was queued",
                ))
            }
            Err(mycelium_actors::export::ByteRefusal::Stopped) => Err(errors::stopped(
                match &self.target {
                    Target::Foreign(actor) => actor.actor_ref().stop_reason(),
                    Target::Service { .. } => None,
                }
                .as_ref(),
            )),
        }
    }

    /// Tells; calls `callback(ok, value)` once queued.
    fn tell_callback(&self, type_id: u16, body: Vec<u8>, callback: Py<PyAny>) -> PyResult<()> {
        let handle = self.handle()?.clone();
        complete_later(&handle, self.tell_future(type_id, body), callback);
        Ok(())
    }

    /// Asks and waits (without the GIL) for the reply `(type_id, body)`; `timeout` in
    /// seconds of bus time.
    #[pyo3(signature = (type_id, body, timeout=None))]
    fn ask(
        &self,
        py: Python<'_>,
        type_id: u16,
        body: Vec<u8>,
        timeout: Option<f64>,
    ) -> PyResult<(u16, Py<PyBytes>)> {
        let timeout = seconds(timeout)?;
        let handle = self.handle()?.clone();
        let answer =
            wait(py, &handle, self.ask_future(type_id, body, timeout))?.map_err(|e| e.raise(py))?;
        Ok(reply(py, answer))
    }

    /// Tells a contract message (encoded by the native codec), waiting (without the GIL) for
    /// room in a full mailbox. False, with nothing sent, when `message` is not a contract
    /// message or its type id is not in `accepts` (the caller raises the error).
    #[pyo3(signature = (message, accepts=None))]
    fn tell_msg(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        accepts: Option<&Bound<'_, PyFrozenSet>>,
    ) -> PyResult<bool> {
        let Some((type_id, body)) = checked(message, accepts, &self.schema)? else {
            return self.tell_local(py, message, true);
        };
        self.tell(py, type_id, body)?;
        Ok(true)
    }

    /// Tells a contract message without waiting: `MailboxFull` when there is no room. False
    /// as for `tell_msg`.
    #[pyo3(signature = (message, accepts=None))]
    fn try_tell_msg(
        &self,
        message: &Bound<'_, PyAny>,
        accepts: Option<&Bound<'_, PyFrozenSet>>,
    ) -> PyResult<bool> {
        let Some((type_id, body)) = checked(message, accepts, &self.schema)? else {
            return self.tell_local(message.py(), message, false);
        };
        self.try_tell(type_id, body)?;
        Ok(true)
    }

    /// Asks with a contract message (or, to a Python actor's own ref, any object) and
    /// returns the reply. When the target is a Python actor that is idle, its handler runs
    /// right here, on the calling thread (see `ForeignRef::try_direct`), with or without a
    /// timeout (see `Deadline`); otherwise the ask goes through the mailbox and waits
    /// without the GIL.
    #[pyo3(signature = (message, timeout=None))]
    fn ask_msg<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds(timeout)?;
        if codec::contract_plan(message)?.is_none() {
            return match &self.target {
                Target::Foreign(actor) => ask_local(self, py, actor, message, timeout),
                Target::Service { name, .. } => Err(not_to_service(message, name)),
            };
        }
        let (type_id, body) = encode_message(message, &self.schema)?;
        let body = match &self.target {
            Target::Foreign(actor) => match direct(py, actor, type_id, body, timeout)? {
                Ok(reply) => return Ok(reply),
                Err(body) => body,
            },
            Target::Service { .. } => body,
        };
        let handle = self.handle()?.clone();
        let (reply_type, reply) =
            wait(py, &handle, self.ask_future(type_id, body, timeout))?.map_err(|e| e.raise(py))?;
        self.decode_reply(py, reply_type, &reply)
    }

    /// The first step of `ask_async`: `(True, reply)` when a Python actor was idle and its
    /// handler ran here (as `ask_msg`'s does), or `(False, (type_id, body))`, the message
    /// encoded (a plain object held for the actor), to ask through the mailbox with
    /// `ask_callback`. Nothing crosses a thread on the first path.
    #[pyo3(signature = (message, timeout=None))]
    fn ask_direct<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<(bool, Bound<'py, PyAny>)> {
        let timeout = seconds(timeout)?;
        let actor = match &self.target {
            Target::Foreign(actor) => actor,
            Target::Service { .. } => {
                let encoded = self.encode(message)?;
                return Ok((false, encoded.into_pyobject(py)?.into_any()));
            }
        };
        let (type_id, body) = if codec::contract_plan(message)?.is_none() {
            match direct_local(py, actor, message, timeout)? {
                Ok(reply) => return Ok((true, reply)),
                Err(held) => (held.type_id, held.body),
            }
        } else {
            let (type_id, body) = encode_message(message, &self.schema)?;
            match direct(py, actor, type_id, body, timeout)? {
                Ok(reply) => return Ok((true, reply)),
                Err(body) => (type_id, body),
            }
        };
        let encoded = (type_id, PyBytes::new(py, &body));
        Ok((false, encoded.into_pyobject(py)?.into_any()))
    }

    /// Encodes a contract message of the bus's schema: `(type_id, body)`; `SchemaMismatch`
    /// for a class of another schema. A plain object, to a Python actor's own ref, is held
    /// for the actor and the message carries its key (`MessageTypeError` if the actor has no
    /// handler for it, or for a service ref, which it cannot reach). A held object whose
    /// message is not sent after all is released with the actor's callbacks.
    fn encode<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<(u16, Bound<'py, PyBytes>)> {
        let py = message.py();
        if codec::contract_plan(message)?.is_none() {
            let actor = match &self.target {
                Target::Foreign(actor) => actor,
                Target::Service { name, .. } => return Err(not_to_service(message, name)),
            };
            let foreign = local_target(actor)?;
            foreign.plain_handler(message)?;
            let held = foreign.hold(message.clone().unbind());
            return Ok((held.type_id, PyBytes::new(py, &held.body)));
        }
        let (type_id, body) = encode_message(message, &self.schema)?;
        Ok((type_id, PyBytes::new(py, &body)))
    }

    /// Checks that `message_type` is a message class of the bus's schema (fixing the bus's
    /// schema if none is set yet): `SchemaMismatch` if it is of another.
    fn admit(&self, message_type: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
        self.schema.admit(&*codec::plan(message_type)?)
    }

    /// The reply `(type_id, body)` of an ask: decoded with the bus's schema, or the plain
    /// object a Python actor answered with (taken from where it holds it).
    #[pyo3(name = "decode_reply")]
    fn decode_reply_py<'py>(
        &self,
        py: Python<'py>,
        type_id: u16,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        if type_id == LOCAL_TYPE_ID {
            if let Target::Foreign(actor) = &self.target {
                return local_target(actor)?.take(py, body);
            }
        }
        self.decode_reply(py, type_id, body)
    }

    /// Asks; calls `callback(ok, value)` with `(type_id, body)` or the exception.
    #[pyo3(signature = (type_id, body, timeout, callback))]
    fn ask_callback(
        &self,
        type_id: u16,
        body: Vec<u8>,
        timeout: Option<f64>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        let timeout = seconds(timeout)?;
        let handle = self.handle()?.clone();
        complete_later(&handle, self.ask_future(type_id, body, timeout), callback);
        Ok(())
    }

    /// Asks the actor to stop after the message it is handling (a Python actor only).
    fn stop(&self) -> PyResult<()> {
        match &self.target {
            Target::Foreign(a) => {
                a.stop();
                Ok(())
            }
            Target::Service { name, .. } => Err(not_stopped_by_name(name)),
        }
    }

    /// Queues a stop behind what is queued (waiting, without the GIL, for room in a full
    /// mailbox): the actor handles everything sent before it, then stops normally.
    fn drain_and_stop(&self, py: Python<'_>) -> PyResult<()> {
        let actor = match &self.target {
            Target::Foreign(actor) => actor,
            Target::Service { name, .. } => return Err(not_stopped_by_name(name)),
        };
        let handle = self.handle()?.clone();
        let draining = actor.clone();
        wait(py, &handle, async move { draining.drain_and_stop().await })?
            .map_err(|_| errors::stopped(actor.actor_ref().stop_reason().as_ref()))
    }

    /// Waits (without the GIL) until the actor has stopped for good; returns why.
    fn wait_for_stop(&self, py: Python<'_>) -> PyResult<String> {
        let Target::Foreign(actor) = &self.target else {
            return Err(PyValueError::new_err("a service ref cannot be waited on"));
        };
        let handle = self.handle()?.clone();
        let actor = actor.clone();
        let reason = wait(py, &handle, async move { actor.wait_for_stop().await })?;
        Ok(errors::reason_text(&reason))
    }

    /// Sets a timer of this Python actor (its own ref): `message` after `delay` seconds of
    /// bus time, then every `period` if given (see `Actor.send_after`). `accepts`: the type
    /// ids the actor has handlers of.
    #[pyo3(signature = (message, delay, period=None, accepts=None))]
    fn set_timer(
        &self,
        message: &Bound<'_, PyAny>,
        delay: f64,
        period: Option<f64>,
        accepts: Option<&Bound<'_, PyFrozenSet>>,
    ) -> PyResult<Timer> {
        let Target::Foreign(actor) = &self.target else {
            return Err(PyValueError::new_err(
                "only a Python actor sets its own timers (Actor.send_after, Actor.send_interval)",
            ));
        };
        let delay = match period {
            Some(p) if !(p.is_finite() && p >= mycelium_foreign::MIN_PERIOD.as_secs_f64()) => {
                return Err(PyValueError::new_err(format!(
                    "period must be at least 0.001 seconds (timers tick in milliseconds of bus \
                     time), got {p}"
                )));
            }
            Some(_) => duration("period", delay)?,
            None => duration("delay", delay)?,
        };
        // The actor's own ref has its gate while the actor runs.
        let not_running = || {
            ActorStopped::new_err(match actor.actor_ref().stop_reason() {
                Some(reason) => format!(
                    "the actor has stopped ({}): it sets no timer",
                    errors::reason_text(&reason)
                ),
                None => "the actor is not running: it sets no timer".to_string(),
            })
        };
        let foreign = local_target(actor).map_err(|_| not_running())?;
        let (msg, held) = match checked(message, accepts, &self.schema)? {
            Some((type_id, body)) => (ForeignMessage { type_id, body }, None),
            None if codec::contract_plan(message)?.is_some() => {
                return Err(MessageTypeError::new_err(format!(
                    "{} has no @handler({}): a timer sends the actor a message it handles",
                    foreign.class_name(),
                    message.get_type().name()?
                )));
            }
            None => {
                foreign.plain_handler(message)?;
                let msg = foreign.hold_timed(message.clone().unbind(), period.is_some());
                let key = msg.body.clone();
                (msg, Some((foreign.clone(), key)))
            }
        };
        let set = match period {
            Some(_) => actor.send_interval(msg, delay),
            None => actor.send_after(msg, delay),
        };
        match set {
            Ok(inner) => Ok(Timer { inner, held }),
            Err(_) => {
                if let Some((foreign, key)) = &held {
                    foreign.release(key);
                }
                Err(not_running())
            }
        }
    }

    /// Subscribes this Python actor to the contract message class `message_type` published
    /// under `pattern`; see `mycelium.Actor.subscribe`. `SchemaMismatch` for a class of
    /// another schema than the bus's.
    #[pyo3(signature = (bus, message_type, pattern, key=None, overflow="block", capacity=None))]
    #[allow(clippy::too_many_arguments)]
    fn subscribe(
        &self,
        bus: &crate::bus::Bus,
        message_type: &Bound<'_, pyo3::types::PyType>,
        pattern: &str,
        key: Option<u64>,
        overflow: &str,
        capacity: Option<usize>,
    ) -> PyResult<Subscription> {
        let Target::Foreign(actor) = &self.target else {
            return Err(PyValueError::new_err(
                "only a Python actor's own ref can subscribe it",
            ));
        };
        let mut options = match overflow {
            "block" => SubscribeOptions::block(),
            "drop_newest" => SubscribeOptions::drop_newest(),
            "drop_oldest" => SubscribeOptions::drop_oldest(capacity.unwrap_or(1024)),
            "latest_per_key" => SubscribeOptions::latest_per_key(),
            other => {
                return Err(PyValueError::new_err(format!(
                "overflow must be one of block, drop_newest, drop_oldest, latest_per_key; got `{other}`"
            )))
            }
        };
        if let Some(c) = capacity {
            // Only `drop_oldest` keeps a buffer of its own: the others deliver into the
            // mailbox (whose bound is the actor's) or keep one message per key.
            if overflow != "drop_oldest" {
                return Err(PyValueError::new_err(format!(
                    "capacity={c} applies only to overflow=\"drop_oldest\" (its side buffer); \
                     `{overflow}` is bounded by the actor's mailbox{}",
                    if overflow == "latest_per_key" {
                        " and keeps one message per key"
                    } else {
                        ""
                    }
                )));
            }
            options = options.capacity(c);
        }
        if let Some(k) = key {
            options = options.key(k);
        }
        let plan = codec::plan(message_type)?;
        bus.schema().admit(&plan)?;
        let type_id = plan.type_id().map(|(id, _)| *id).ok_or_else(|| {
            MessageTypeError::new_err(format!(
                "{} is not a message class (it has no TYPE_ID)",
                plan.class_name()
            ))
        })?;
        let rust_bus = bus.rust_bus()?;
        let to: std::sync::Arc<dyn ByteService> = std::sync::Arc::new(actor.clone());
        let sub = if bus.typed_topics()? {
            mycelium_foreign::subscribe_bytes(&rust_bus, type_id, pattern, options, to)
        } else {
            mycelium_foreign::subscribe_schema_bytes(&rust_bus, type_id, pattern, options, to)
        }
        .map_err(errors::topic)?;
        Ok(Subscription { inner: sub })
    }

    /// Exports this Python actor under `service` for the contract messages `type_ids`.
    fn export(&self, bus: &crate::bus::Bus, service: &str, type_ids: Vec<u16>) -> PyResult<()> {
        let Target::Foreign(actor) = &self.target else {
            return Err(PyValueError::new_err("a service ref is already exported"));
        };
        actor
            .export(&bus.rust_bus()?, service, &type_ids)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        if let Some(gate) = actor.gate() {
            bus.actors().export(service, &gate.foreign().raised);
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        match &self.target {
            Target::Foreign(a) => format!("<ActorRef {}>", a.id()),
            Target::Service { name, .. } => format!("<ActorRef service `{name}`>"),
        }
    }
}

/// A topic subscription; ends with `cancel()` (and when its actor's incarnation ends).
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Subscription {
    inner: RustSubscription,
}

#[pymethods]
impl Subscription {
    /// Ends the subscription: nothing more is delivered once it returns.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// False once cancelled (or its subscriber stopped).
    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    /// The pattern subscribed to.
    #[getter]
    fn pattern(&self) -> String {
        self.inner.pattern().to_string()
    }

    /// Messages dropped by the overflow policy so far.
    #[getter]
    fn dropped(&self) -> u64 {
        self.inner.stats().dropped
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.inner.cancel();
    }
}

/// Python code's sends, for a recorded actor's journal ([`recording::Source`]).
const PYTHON: recording::Language = recording::Language::Python;

/// Where a send made now from Python comes from: the actor whose handler runs on this
/// thread, else Python code outside the actors.
pub(crate) fn python_source() -> recording::Source {
    if recording::is_on() {
        recording::foreign_source(PYTHON)
    } else {
        recording::Source::Unknown
    }
}

/// A Python actor's timer (`Actor.send_after`, `Actor.send_interval`).
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Timer {
    inner: mycelium_foreign::ForeignTimer,
    /// The plain object it sends, held for the actor until a one-shot timer's firing is
    /// handled, or the timer is cancelled and the firings queued before are handled (the
    /// actor's stop cancels its timers).
    held: Option<(std::sync::Arc<PyForeign>, Vec<u8>)>,
}

#[pymethods]
impl Timer {
    /// Stops the timer: nothing more is sent. A firing already in the mailbox is handled (a
    /// plain object is let go after the last such firing).
    fn cancel(&self) {
        self.inner.cancel();
        if let Some((foreign, key)) = &self.held {
            foreign.release(key);
        }
    }

    /// True until a one-shot timer has sent its message, or the timer is cancelled (or its
    /// incarnation ended).
    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    /// Its number: from 0 in each incarnation, in the order the actor set its timers (the
    /// `timer N` of its firings in a journal).
    #[getter]
    fn number(&self) -> u64 {
        self.inner.number()
    }

    fn __repr__(&self) -> String {
        format!(
            "Timer({}, {})",
            self.inner.number(),
            if self.inner.is_active() {
                "active"
            } else {
                "ended"
            }
        )
    }
}

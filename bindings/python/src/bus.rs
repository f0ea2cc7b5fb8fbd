//! `Bus`: a Mycelium bus with its own tokio runtime, driven from Python.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Bus as RustBus, BusExit, SpawnOptions};
use mycelium_foreign::{HostedBus, CONTRACT_TYPE_IDS};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::runtime::Handle;

use crate::actor_ref::{seconds, ActorRef};
use crate::errors::{self, BusClosed, StartFailed, UnknownService};
use crate::host::{HandlerNames, PyArgs, PyForeign};
use crate::py_actors::PyActors;
use crate::schema::{BusSchema, Schema};
use crate::supervisor::{ChildDef, Supervisor};
use crate::wait::wait;
use mycelium_foreign::registry::Kind;

/// The most worker threads a bus runtime may have (`Bus.MAX_WORKERS` in Python): all are
/// started with the bus.
const MAX_WORKERS: usize = 1024;

/// A bus and the runtime it runs on.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Bus {
    /// Owns the runtime: dropping the Python object ends it (without waiting). None for the
    /// bus of a Rust program hosting Python ([`crate::embed`]), whose runtime is the
    /// program's.
    _hosted: Option<HostedBus>,
    bus: RustBus,
    handle: Handle,
    virtual_time: bool,
    /// The schema the bus speaks.
    schema: BusSchema,
    /// Its Python actors, named in its dead letters.
    actors: PyActors,
}

impl Bus {
    /// The bus `bus` of a Rust program, running on `handle`, for Python code.
    pub(crate) fn embedded(bus: RustBus, handle: Handle, schema: BusSchema) -> Self {
        Bus {
            _hosted: None,
            virtual_time: bus.clock().is_virtual(),
            bus,
            handle,
            schema,
            actors: PyActors::default(),
        }
    }

    pub(crate) fn rust_bus(&self) -> PyResult<RustBus> {
        Ok(self.bus.clone())
    }

    /// The runtime the bus runs on.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn schema(&self) -> &BusSchema {
        &self.schema
    }

    /// The bus's Python actors, which its Python actors' callbacks register in.
    pub(crate) fn actors(&self) -> &PyActors {
        &self.actors
    }

    /// True when the bus speaks the example schema, whose messages have Rust types in this
    /// process: its topics are the typed topics Rust actors (the built-in ones) publish and
    /// subscribe on. Any other schema's messages travel as schema messages between Python
    /// actors.
    pub(crate) fn typed_topics(&self) -> PyResult<bool> {
        let schema = self.schema.require("a topic")?;
        Ok(schema.digest_bytes()? == mycelium_contracts::SCHEMA_DIGEST)
    }

    /// Checks that the registered Rust actor `kind` may run on this bus: the bus speaks the
    /// schema the actor was registered with. A bus that speaks no schema yet adopts the
    /// actor's, when the registration names its Python module (the example actors name
    /// `mycelium.trading`).
    pub(crate) fn admit_rust(&self, py: Python<'_>, kind: Kind) -> PyResult<()> {
        let theirs = kind.schema();
        if self.schema.get().is_none() {
            if let Some(module) = theirs.python_module {
                self.schema.set(Schema::of_module(&py.import(module)?)?);
            }
        }
        let what = kind.title();
        let ours = self.schema.require(&what)?;
        if ours.digest == theirs.digest_hex() {
            return Ok(());
        }
        let module = theirs
            .python_module
            .map(|m| format!(", module `{m}`"))
            .unwrap_or_default();
        Err(errors::SchemaMismatch::new_err(format!(
            "{what} speaks schema `{}` (digest {}{module}), but this bus speaks schema `{}` \
             (digest {}, module `{}`): a Rust actor runs on a bus of its own schema only; make \
             the bus with Bus(schema=...) of the module generated from the actor's schema file",
            theirs.package,
            theirs.digest_hex(),
            ours.package,
            ours.digest,
            ours.module_name
        )))
    }

    /// `BusClosed` once the bus has shut down or failed (or is failing): `call` starts or
    /// sends something, which a closed bus cannot do.
    fn open(&self, call: &str) -> PyResult<()> {
        let ended = match (self.bus.exit(), self.bus.failure()) {
            (Some(exit), _) => exit.to_string(),
            (None, Some(reason)) => format!("the bus stopped because {reason}"),
            (None, None) => return Ok(()),
        };
        Err(BusClosed::new_err(format!(
            "{ended}: Bus.{call} needs a running bus; make a new Bus"
        )))
    }

    /// `err`, or `BusClosed` if the bus closed while the call ran (it failed for that).
    fn unless_closed(&self, call: &str, err: PyErr) -> PyErr {
        self.open(call).err().unwrap_or(err)
    }

    fn wait<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        wait(py, &self.handle, fut)
    }
}

/// `StartFailed` with its `child` attribute: the name of the tree's child that failed, or
/// None for an actor spawned alone.
pub(crate) fn start_failed(py: Python<'_>, text: String, child: Option<String>) -> PyErr {
    let err = StartFailed::new_err(text);
    match err.value(py).setattr("child", child) {
        Ok(()) => err,
        Err(e) => e,
    }
}

#[pymethods]
impl Bus {
    /// A bus on a runtime of its own: real time on `workers` worker threads, or virtual time
    /// (a paused clock on one thread: time jumps to the next timer whenever every actor waits).
    #[new]
    #[pyo3(signature = (virtual_time=false, seed=0, workers=2, schema=None))]
    fn new(
        virtual_time: bool,
        seed: u64,
        workers: usize,
        schema: Option<&Bound<'_, pyo3::types::PyModule>>,
    ) -> PyResult<Self> {
        let bus_schema = BusSchema::default();
        if let Some(module) = schema {
            bus_schema.set(Schema::of_module(module)?);
        }
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(PyValueError::new_err(format!(
                "workers must be a whole number from 1 to {MAX_WORKERS}, got {workers}"
            )));
        }
        let hosted = HostedBus::new(virtual_time, seed, workers)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Bus {
            bus: hosted.bus().clone(),
            handle: hosted.handle().clone(),
            _hosted: Some(hosted),
            virtual_time,
            schema: bus_schema,
            actors: PyActors::default(),
        })
    }

    /// The generated module of the schema the bus speaks, or None while none is set.
    #[getter(schema)]
    fn schema_module(&self, py: Python<'_>) -> Option<Py<pyo3::types::PyModule>> {
        self.schema.get().map(|s| s.module(py))
    }

    /// True for a virtual-time bus.
    #[getter]
    fn virtual_time(&self) -> bool {
        self.virtual_time
    }

    /// The bus seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.bus.seed()
    }

    /// Seconds of bus time since the bus was created. Read in a recorded actor's handler,
    /// the reading is recorded, and its replay reads the recorded one.
    fn now(&self) -> f64 {
        let _entered = self.handle.enter();
        mycelium_foreign::recording::clock_read(self.bus.now()).as_secs_f64()
    }

    /// Waits (without the GIL) until the bus clock of a virtual-time bus reads `time_ns`
    /// nanoseconds: every actor runs what it can before the clock jumps there (a replay feeds
    /// recorded inputs at their recorded bus times this way). At once if it reads that
    /// already.
    /// With `settle`, it moves the clock on past that time (by its tick) even if it reads
    /// it already: every actor, and every foreign handler, has then run what it could at the
    /// time it read.
    #[pyo3(signature = (time_ns, settle = false))]
    fn advance_to(&self, py: Python<'_>, time_ns: u64, settle: bool) -> PyResult<()> {
        if !self.virtual_time {
            return Err(PyValueError::new_err(
                "Bus.advance_to moves a virtual clock: make the bus with Bus(virtual_time=True)",
            ));
        }
        self.open("advance_to")?;
        let clock = self.bus.clock().clone();
        let sleeping = self.handle.spawn(async move {
            let now = clock.now();
            let mut target = Duration::from_nanos(time_ns);
            if settle {
                target = target.max(now + Duration::from_nanos(1));
            }
            if target > now {
                tokio::time::sleep(target - now).await;
            }
        });
        self.wait(py, sleeping)?
            .map_err(|e| PyRuntimeError::new_err(format!("the bus clock could not advance: {e}")))
    }

    /// Stands in, on this bus (a replay's), for each of `services`, for the message types
    /// `type_ids`: tells are taken, asks answered with `answers`: by the asking actor's
    /// number (`None`: whichever asks), its answers in order (`(type id, body, None, input)`,
    /// or `(0, b"", error text, input)`, `input` the number of the asker's input handled when
    /// it came), whichever service it asks. What a recorded actor sends them is recorded as
    /// any send.
    fn stand_in(
        &self,
        services: Vec<String>,
        type_ids: Vec<u16>,
        answers: Vec<(Option<u64>, Vec<crate::stand_in::GivenAnswer>)>,
    ) -> PyResult<()> {
        self.open("stand_in")?;
        let answers = crate::stand_in::Answers::new(
            answers
                .into_iter()
                .map(|(actor, answers)| {
                    let answers = answers
                        .into_iter()
                        .map(|(t, body, error, input)| match error {
                            None => (input, Ok((t, body))),
                            Some(error) => (input, Err(error)),
                        })
                        .collect();
                    (actor, answers)
                })
                .collect(),
        );
        for (n, service) in (0u64..).zip(&services) {
            let stand_in = crate::stand_in::StandIn::new(service, n, answers.clone());
            self.bus
                .exports()
                .export_bytes(service, &type_ids, Arc::new(stand_in))
                .map_err(|e| {
                    PyValueError::new_err(format!("cannot stand in for `{service}`: {e}"))
                })?;
        }
        Ok(())
    }

    /// Tasks alive on the bus's runtime: one per actor that is not asleep, and those of its
    /// supervisors, links and hibernation driver (a diagnostic: hibernating actors at work).
    fn runtime_tasks(&self) -> usize {
        self.handle.metrics().num_alive_tasks()
    }

    /// Spawns a Python actor (unsupervised) and waits for its `on_start`. A hibernating one
    /// holds no task while its mailbox is empty (`SpawnOptions::hibernate`). `record`: the
    /// `Recorder` the actor is recorded into from its first start.
    #[pyo3(signature = (host, args, name=None, hibernate=false, record=None))]
    fn spawn(
        &self,
        py: Python<'_>,
        host: Py<PyAny>,
        args: Py<PyAny>,
        name: Option<String>,
        hibernate: bool,
        record: Option<PyRef<'_, crate::recording::Recorder>>,
    ) -> PyResult<ActorRef> {
        self.open("spawn")?;
        let recording = record.map(|r| r.for_host(host.bind(py))).transpose()?;
        let foreign = Arc::new(PyForeign::new(py, host, &self.schema, &self.actors)?);
        let mut options = SpawnOptions::new();
        if let Some(n) = name {
            options = options.name(n);
        }
        if hibernate {
            options = options.hibernate();
        }
        let bus = self.bus.clone();
        let spawned = self.wait(py, async move {
            let args = PyArgs(Arc::new(args));
            match recording {
                Some(recording) => {
                    mycelium_foreign::spawn_recorded(&bus, foreign, args, options, recording).await
                }
                None => mycelium_foreign::spawn(&bus, foreign, args, options).await,
            }
        })?;
        match spawned {
            Ok(actor) => Ok(ActorRef::foreign_in(
                actor,
                &self.handle,
                self.schema.clone(),
            )),
            Err(e) => Err(self.unless_closed("spawn", start_failed(py, e.to_string(), None))),
        }
    }

    /// Starts this bus as node `name` of the topology file `path` (see `mycelium-remote`).
    fn join(&self, py: Python<'_>, path: String, name: String) -> PyResult<crate::node::Node> {
        self.open("join")?;
        crate::node::Node::start(py, &self.bus, &self.handle, &self.schema, path, name)
    }

    /// A ref to whatever the bus exports under `name`; `host`, the `_Host` of the Python
    /// actor exported there, if it is one (its handlers are named in the errors of asks).
    #[pyo3(signature = (name, host=None))]
    fn service(&self, name: &str, host: Option<&Bound<'_, PyAny>>) -> PyResult<ActorRef> {
        self.open("ref")?;
        // A name whose actor has stopped still gives a ref, whose sends say it stopped.
        let exports = self.bus.exports();
        if exports.type_ids(name).is_none() && !exports.has_stopped(name) {
            return Err(UnknownService::new_err(format!(
                "no service `{name}` is exported on this bus (exported: {:?})",
                self.bus.exports().services()
            )));
        }
        let names = host.map(HandlerNames::of_host).transpose()?.map(Arc::new);
        Ok(ActorRef::service_named(
            &self.bus,
            name,
            names,
            Some(self.actors.clone()),
            self.schema.clone(),
        ))
    }

    /// The exported service names.
    fn services(&self) -> Vec<String> {
        self.bus.exports().services()
    }

    /// The type ids `service` takes, or None.
    fn service_type_ids(&self, service: &str) -> Option<Vec<u16>> {
        self.bus.exports().type_ids(service)
    }

    /// Spawns a registered Rust actor and exports it under `service`.
    #[pyo3(signature = (kind, service, arg=None))]
    fn spawn_rust(
        &self,
        py: Python<'_>,
        kind: &str,
        service: &str,
        arg: Option<String>,
    ) -> PyResult<ActorRef> {
        self.open("spawn_rust")?;
        let kind = Kind::parse(kind).map_err(PyValueError::new_err)?;
        self.admit_rust(py, kind)?;
        kind.check_arg(&arg).map_err(PyValueError::new_err)?;
        let refused = |e: String| self.unless_closed("spawn_rust", PyValueError::new_err(e));
        let starting = {
            let _entered = self.handle.enter();
            kind.spawn(&self.bus, service, arg).map_err(refused)?
        };
        self.wait(py, starting)?.map_err(refused)?;
        Ok(ActorRef::service(&self.bus, service, self.schema.clone()))
    }

    /// Publishes a message of the bus's schema under `topic` (default: the message's
    /// `TOPIC`); returns how many subscribers it was delivered to. `SchemaMismatch` for a
    /// class of another schema; `MessageTypeError` for an object that is not a contract
    /// message (topics carry the schema's messages only).
    #[pyo3(signature = (message, topic=None, key=None))]
    fn publish(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        topic: Option<String>,
        key: Option<u64>,
    ) -> PyResult<usize> {
        self.open("publish")?;
        let Some(plan) = crate::codec::contract_plan(message)? else {
            return Err(errors::cannot_leave(
                message,
                "be published: topics carry the messages of the bus's schema, which Rust actors \
                 and other nodes subscribe to",
            ));
        };
        self.schema.admit(&plan)?;
        let type_id = plan.type_id_of(message)?;
        let topic = match topic {
            Some(t) => t,
            None => message.getattr("TOPIC")?.extract()?,
        };
        let body = plan.encode(message)?;
        let typed = self.typed_topics()?;
        let bus = self.bus.clone();
        let source = crate::actor_ref::python_source();
        let report = self.wait(py, async move {
            mycelium_actors::recording::sending_as(source, async move {
                if typed {
                    mycelium_foreign::publish_bytes(&bus, type_id, &topic, key, &body).await
                } else {
                    mycelium_foreign::publish_schema_bytes(&bus, type_id, &topic, key, &body).await
                }
            })
            .await
        })?;
        Ok(report.map_err(errors::topic)?.delivered)
    }

    /// Starts a supervision tree of Python and Rust children.
    #[pyo3(signature = (strategy, children, max_restarts=3, within=5.0, backoff_initial=0.01, backoff_factor=2.0, backoff_cap=1.0))]
    #[allow(clippy::too_many_arguments)]
    fn supervise(
        &self,
        py: Python<'_>,
        strategy: &str,
        children: Vec<Py<ChildDef>>,
        max_restarts: u32,
        within: f64,
        backoff_initial: f64,
        backoff_factor: f64,
        backoff_cap: f64,
    ) -> PyResult<Supervisor> {
        self.open("supervise")?;
        Supervisor::start(
            py,
            self,
            &self.handle,
            strategy,
            children,
            max_restarts,
            within,
            backoff_initial,
            backoff_factor,
            backoff_cap,
        )
    }

    /// Takes the dead letters recorded so far, oldest first.
    fn dead_letters<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.bus
            .dead_letters()
            .drain()
            .into_iter()
            .map(|d| {
                let dict = PyDict::new(py);
                let (actor_type, message_type) = self.actors.names(&d);
                dict.set_item("actor", d.actor.to_string())?;
                dict.set_item("actor_type", actor_type)?;
                dict.set_item("message_type", message_type)?;
                dict.set_item("reason", errors::dead_letter_text(&d.reason))?;
                Ok(dict)
            })
            .collect()
    }

    /// Stops every actor (reverse start order), killing what is alive after `timeout`
    /// seconds; returns `{"stopped": n, "killed": n}`. The bus runtime ends with it.
    #[pyo3(signature = (timeout=5.0))]
    fn shutdown<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyDict>> {
        let deadline = seconds(Some(timeout))?.unwrap_or(Duration::from_secs(5));
        let bus = self.bus.clone();
        let report = self.wait(py, async move { bus.shutdown(deadline).await })?;
        let dict = PyDict::new(py);
        dict.set_item("stopped", report.stopped.len())?;
        dict.set_item("killed", report.killed.len())?;
        Ok(dict)
    }

    /// Waits (without the GIL, Ctrl-C raising `KeyboardInterrupt`) until the bus has shut
    /// down or failed; returns how it ended.
    fn wait_stopped(&self, py: Python<'_>) -> PyResult<String> {
        let bus = self.bus.clone();
        Ok(self
            .wait(py, async move { bus.wait_stopped().await })?
            .to_string())
    }

    /// Fails the bus with `reason` (it shuts down).
    fn fail(&self, reason: &str) {
        let _entered = self.handle.enter();
        self.bus.fail(reason);
    }

    /// True once the bus has shut down or failed.
    fn is_stopped(&self) -> bool {
        self.bus.exit().is_some()
    }

    /// `<mycelium.Bus open, 3 actors, 1 service, real time>`, or how it ended.
    fn __repr__(&self) -> String {
        let clock = if self.virtual_time {
            "virtual time"
        } else {
            "real time"
        };
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match self.bus.exit() {
            Some(BusExit::Shutdown) => format!("<mycelium.Bus shut down, {clock}>"),
            Some(BusExit::Failed(reason)) => format!("<mycelium.Bus failed ({reason}), {clock}>"),
            None => format!(
                "<mycelium.Bus open, {}, {}, {clock}>",
                plural(self.bus.actor_count(), "actor"),
                plural(self.bus.exports().services().len(), "service")
            ),
        }
    }

    /// The type ids of the example schema's messages that have Rust types in this process
    /// (published on typed topics when the bus speaks that schema).
    #[staticmethod]
    fn contract_type_ids() -> Vec<u16> {
        CONTRACT_TYPE_IDS.to_vec()
    }
}

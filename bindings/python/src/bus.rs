//! `Bus`: a Mycelium bus with its own tokio runtime, driven from Python.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Bus as RustBus, SpawnError, SpawnOptions, StopReason};
use mycelium_foreign::{ForeignActor, ForeignGate, ForeignRef, HostedBus, CONTRACT_TYPE_IDS};
use mycelium_supervisor::{
    Backoff, ChildState, Restart, RestartStrategy, SupervisionEvent, Supervisor as RustSupervisor,
    SupervisorRef,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::actor_ref::{seconds, ActorRef};
use crate::errors::{self, StartFailed, UnknownService};
use crate::host::{PyArgs, PyForeign};
use crate::wait::wait;
use mycelium_foreign::builtin::Kind;

/// A bus and the runtime it runs on.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Bus {
    /// Owns the runtime: dropping the Python object ends it (without waiting).
    _hosted: HostedBus,
    bus: RustBus,
    handle: Handle,
    virtual_time: bool,
}

impl Bus {
    pub(crate) fn rust_bus(&self) -> PyResult<RustBus> {
        Ok(self.bus.clone())
    }

    fn wait<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        wait(py, &self.handle, fut)
    }
}

/// The exception for a tree that did not start: `StartFailed` (with the child's name as its
/// `child` attribute) when a child's first `on_start` failed, `ValueError` for a spec that
/// cannot work (nothing started).
fn spawn_error(py: Python<'_>, e: SpawnError) -> PyErr {
    let text = e.to_string();
    match e {
        SpawnError::StartFailed { child, .. } => start_failed(py, text, Some(child)),
        SpawnError::InvalidSpec(_) => PyValueError::new_err(text),
        SpawnError::BusStopped => errors::BusClosed::new_err(text),
        _ => start_failed(py, text, None),
    }
}

/// `StartFailed` with its `child` attribute: the name of the tree's child that failed, or
/// None for an actor spawned alone.
fn start_failed(py: Python<'_>, text: String, child: Option<String>) -> PyErr {
    let err = StartFailed::new_err(text);
    match err.value(py).setattr("child", child) {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn restart_type(restart: &str) -> PyResult<Restart> {
    match restart {
        "permanent" => Ok(Restart::Permanent),
        "transient" => Ok(Restart::Transient),
        "temporary" => Ok(Restart::Temporary),
        other => Err(PyValueError::new_err(format!(
            "restart must be permanent, transient or temporary; got `{other}`"
        ))),
    }
}

#[pymethods]
impl Bus {
    /// A bus on a runtime of its own: real time on `workers` worker threads, or virtual time
    /// (a paused clock on one thread: time jumps to the next timer whenever every actor waits).
    #[new]
    #[pyo3(signature = (virtual_time=false, seed=0, workers=2))]
    fn new(virtual_time: bool, seed: u64, workers: usize) -> PyResult<Self> {
        let hosted = HostedBus::new(virtual_time, seed, workers)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Bus {
            bus: hosted.bus().clone(),
            handle: hosted.handle().clone(),
            _hosted: hosted,
            virtual_time,
        })
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

    /// Seconds of bus time since the bus was created.
    fn now(&self) -> f64 {
        let _entered = self.handle.enter();
        self.bus.now().as_secs_f64()
    }

    /// Tasks alive on the bus's runtime: one per actor that is not asleep, and those of its
    /// supervisors, links and hibernation driver (a diagnostic: hibernating actors at work).
    fn runtime_tasks(&self) -> usize {
        self._hosted.runtime_tasks()
    }

    /// Spawns a Python actor (unsupervised) and waits for its `on_start`. A hibernating one
    /// holds no task while its mailbox is empty (`SpawnOptions::hibernate`).
    #[pyo3(signature = (host, args, name=None, hibernate=false))]
    fn spawn(
        &self,
        py: Python<'_>,
        host: Py<PyAny>,
        args: Py<PyAny>,
        name: Option<String>,
        hibernate: bool,
    ) -> PyResult<ActorRef> {
        let foreign = Arc::new(PyForeign::new(py, host)?);
        let mut options = SpawnOptions::new();
        if let Some(n) = name {
            options = options.name(n);
        }
        if hibernate {
            options = options.hibernate();
        }
        let bus = self.bus.clone();
        let spawned = self.wait(py, async move {
            mycelium_foreign::spawn(&bus, foreign, PyArgs(Arc::new(args)), options).await
        })?;
        match spawned {
            Ok(actor) => Ok(ActorRef::foreign_in(actor, &self.handle)),
            Err(e) => Err(start_failed(py, e.to_string(), None)),
        }
    }

    /// Starts this bus as node `name` of the topology file `path` (see `mycelium-remote`).
    fn join(&self, py: Python<'_>, path: String, name: String) -> PyResult<crate::node::Node> {
        crate::node::Node::start(py, &self.bus, &self.handle, path, name)
    }

    /// A ref to whatever the bus exports under `name`.
    fn service(&self, name: &str) -> PyResult<ActorRef> {
        if self.bus.exports().type_ids(name).is_none() {
            return Err(UnknownService::new_err(format!(
                "no service `{name}` is exported on this bus (exported: {:?})",
                self.bus.exports().services()
            )));
        }
        Ok(ActorRef::service(&self.bus, name))
    }

    /// The exported service names.
    fn services(&self) -> Vec<String> {
        self.bus.exports().services()
    }

    /// The type ids `service` takes, or None.
    fn service_type_ids(&self, service: &str) -> Option<Vec<u16>> {
        self.bus.exports().type_ids(service)
    }

    /// Spawns a built-in Rust actor and exports it under `service`.
    #[pyo3(signature = (kind, service, arg=None))]
    fn spawn_rust(
        &self,
        py: Python<'_>,
        kind: &str,
        service: &str,
        arg: Option<String>,
    ) -> PyResult<ActorRef> {
        let kind = Kind::parse(kind).map_err(PyValueError::new_err)?;
        kind.check_arg(&arg).map_err(PyValueError::new_err)?;
        let starting = {
            let _entered = self.handle.enter();
            kind.spawn(&self.bus, service, arg)
                .map_err(PyValueError::new_err)?
        };
        self.wait(py, starting)?.map_err(PyValueError::new_err)?;
        Ok(ActorRef::service(&self.bus, service))
    }

    /// Publishes a contract message (its type id and body) under `topic`; returns how many
    /// subscribers it was delivered to.
    #[pyo3(signature = (type_id, topic, body, key=None))]
    fn publish(
        &self,
        py: Python<'_>,
        type_id: u16,
        topic: &str,
        body: Vec<u8>,
        key: Option<u64>,
    ) -> PyResult<usize> {
        let bus = self.bus.clone();
        let topic = topic.to_string();
        let report = self.wait(py, async move {
            mycelium_foreign::publish_bytes(&bus, type_id, &topic, key, &body).await
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
        let strategy = match strategy {
            "one_for_one" => RestartStrategy::OneForOne,
            "one_for_all" => RestartStrategy::OneForAll,
            "rest_for_one" => RestartStrategy::RestForOne,
            other => {
                return Err(PyValueError::new_err(format!(
                    "strategy must be one_for_one, one_for_all or rest_for_one; got `{other}`"
                )))
            }
        };
        let within = seconds(Some(within))?.unwrap_or_default();
        let initial = seconds(Some(backoff_initial))?.unwrap_or_default();
        let cap = seconds(Some(backoff_cap))?.unwrap_or_default();
        if !(backoff_factor.is_finite() && backoff_factor >= 1.0) {
            return Err(PyValueError::new_err(
                "backoff_factor must be a number >= 1",
            ));
        }
        let events = watch::Sender::new(Vec::<(f64, String, String)>::new());
        let log = events.clone();
        let mut builder = RustSupervisor::builder(strategy)
            .intensity(max_restarts, within)
            .backoff(Backoff::exponential(initial, backoff_factor, cap))
            .on_event(move |e| {
                let (kind, child) = match e {
                    SupervisionEvent::Started { child, .. } => ("started", child.to_string()),
                    SupervisionEvent::Failed { child, .. } => ("failed", child.to_string()),
                    SupervisionEvent::Exited { child, .. } => ("exited", child.to_string()),
                    SupervisionEvent::Restarted { child, .. } => ("restarted", child.to_string()),
                    SupervisionEvent::RestartFailed { child, .. } => {
                        ("restart_failed", child.to_string())
                    }
                    SupervisionEvent::Stopped { child, .. } => ("stopped", child.to_string()),
                    SupervisionEvent::GaveUp { .. } => ("gave_up", String::new()),
                    SupervisionEvent::Escalated { .. } => ("escalated", String::new()),
                };
                let at = e.at().as_secs_f64();
                log.send_modify(|events| events.push((at, kind.to_string(), child)));
            });
        let mut defs = Vec::with_capacity(children.len());
        let mut gates = HashMap::new();
        for child in &children {
            let def = child.get().get_inner().clone();
            let spec = match &def.kind {
                ChildKind::Python { host, args, .. } => {
                    let (spec, gate) = mycelium_foreign::gated_child_spec(
                        def.name.clone(),
                        Arc::new(PyForeign::new(py, host.clone_ref(py))?),
                        PyArgs(args.clone()),
                    );
                    gates.insert(def.name.clone(), gate);
                    spec
                }
                ChildKind::Rust { kind, arg } => kind.child_spec(&def.name, arg.clone()),
            };
            let spec = spec.restart(def.restart);
            builder = builder.child(if def.hibernate {
                spec.hibernate()
            } else {
                spec
            });
            defs.push(def);
        }
        let bus = self.bus.clone();
        let sup = self
            .wait(py, async move { builder.spawn(&bus).await })?
            .map_err(|e| spawn_error(py, e))?;
        // The services this call adds to the export table, removed again if one is refused.
        let mut added: Vec<String> = Vec::new();
        for def in &defs {
            let Some(service) = &def.service else {
                continue;
            };
            let fresh = self.bus.exports().type_ids(service).is_none();
            let exported = match &def.kind {
                // Found anew on every call: a killed child is spawned anew, with a new ref.
                ChildKind::Python { type_ids, .. } => sup
                    .child::<ForeignActor<PyForeign>>(&def.name)
                    .ok_or_else(|| format!("child `{}` is not running", def.name))
                    .and_then(|_| {
                        mycelium_foreign::export_child(
                            &self.bus,
                            &sup,
                            &def.name,
                            gates.get(&def.name),
                            service,
                            type_ids,
                        )
                        .map_err(|e| e.to_string())
                    }),
                ChildKind::Rust { kind, .. } => {
                    kind.export_child(&self.bus, &sup, &def.name, service)
                }
            };
            if let Err(e) = exported {
                // Nothing of a tree the caller gets no handle on is left running or exported:
                // its children stop (their `on_stop` runs) before the error is raised.
                for service in &added {
                    self.bus.exports().unexport(service);
                }
                let stopping = sup.clone();
                self.wait(py, async move { stopping.stop().await })?;
                return Err(PyValueError::new_err(e));
            }
            if fresh {
                added.push(service.clone());
            }
        }
        Ok(Supervisor {
            sup,
            bus: self.bus.clone(),
            handle: self.handle.clone(),
            children: defs,
            gates,
            events,
        })
    }

    /// Takes the dead letters recorded so far, oldest first.
    fn dead_letters<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.bus
            .dead_letters()
            .drain()
            .into_iter()
            .map(|d| {
                let dict = PyDict::new(py);
                dict.set_item("actor", d.actor.to_string())?;
                dict.set_item("actor_type", d.actor_type)?;
                dict.set_item("message_type", d.message_type)?;
                dict.set_item("reason", d.reason.to_string())?;
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

    /// The contract type ids Python can publish and subscribe to.
    #[staticmethod]
    fn contract_type_ids() -> Vec<u16> {
        CONTRACT_TYPE_IDS.to_vec()
    }
}

#[derive(Clone)]
enum ChildKind {
    Python {
        host: Arc<Py<PyAny>>,
        args: Arc<Py<PyAny>>,
        type_ids: Vec<u16>,
    },
    Rust {
        kind: Kind,
        arg: Option<String>,
    },
}

impl Clone for ChildDefInner {
    fn clone(&self) -> Self {
        ChildDefInner {
            name: self.name.clone(),
            restart: self.restart,
            service: self.service.clone(),
            kind: self.kind.clone(),
            hibernate: self.hibernate,
        }
    }
}

struct ChildDefInner {
    name: String,
    restart: Restart,
    service: Option<String>,
    kind: ChildKind,
    /// The child gives up its task whenever its mailbox is empty (`ChildSpec::hibernate`).
    hibernate: bool,
}

/// One child of a supervision tree: a Python actor or a built-in Rust actor.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct ChildDef {
    inner: ChildDefInner,
}

impl ChildDef {
    fn get_inner(&self) -> &ChildDefInner {
        &self.inner
    }
}

#[pymethods]
impl ChildDef {
    /// A Python actor child (the host built by the Python layer).
    #[staticmethod]
    #[pyo3(signature = (name, host, args, type_ids, service=None, restart="permanent", hibernate=false))]
    fn python(
        name: String,
        host: Py<PyAny>,
        args: Py<PyAny>,
        type_ids: Vec<u16>,
        service: Option<String>,
        restart: &str,
        hibernate: bool,
    ) -> PyResult<Self> {
        Ok(ChildDef {
            inner: ChildDefInner {
                name,
                restart: restart_type(restart)?,
                service,
                kind: ChildKind::Python {
                    host: Arc::new(host),
                    args: Arc::new(args),
                    type_ids,
                },
                hibernate,
            },
        })
    }

    /// A built-in Rust actor child.
    #[staticmethod]
    #[pyo3(signature = (name, kind, arg=None, service=None, restart="permanent", hibernate=false))]
    fn rust(
        name: String,
        kind: &str,
        arg: Option<String>,
        service: Option<String>,
        restart: &str,
        hibernate: bool,
    ) -> PyResult<Self> {
        let kind = Kind::parse(kind).map_err(PyValueError::new_err)?;
        kind.check_arg(&arg).map_err(PyValueError::new_err)?;
        Ok(ChildDef {
            inner: ChildDefInner {
                name,
                restart: restart_type(restart)?,
                service,
                kind: ChildKind::Rust { kind, arg },
                hibernate,
            },
        })
    }

    /// The child's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }
}

/// A running supervision tree.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Supervisor {
    sup: SupervisorRef,
    bus: RustBus,
    handle: Handle,
    children: Vec<ChildDefInner>,
    /// The gates of the Python children, by name.
    gates: HashMap<String, ForeignGate<PyForeign>>,
    events: watch::Sender<Vec<(f64, String, String)>>,
}

/// The ref of a Python child, with its gate.
fn gated(
    actor: mycelium_actors::ActorRef<ForeignActor<PyForeign>>,
    gate: Option<&ForeignGate<PyForeign>>,
) -> ForeignRef<PyForeign> {
    let actor = ForeignRef::from_actor_ref(actor);
    match gate {
        Some(g) => actor.with_gate(g.clone()),
        None => actor,
    }
}

#[pymethods]
impl Supervisor {
    /// A ref to the child `name`: its own ref for a Python child, its service for a Rust one.
    fn child(&self, name: &str) -> PyResult<ActorRef> {
        let Some(def) = self.children.iter().find(|c| c.name == name) else {
            return Err(PyValueError::new_err(format!("no child named `{name}`")));
        };
        match &def.kind {
            ChildKind::Python { .. } => self
                .sup
                .child::<ForeignActor<PyForeign>>(name)
                .map(|a| ActorRef::foreign_in(gated(a, self.gates.get(name)), &self.handle))
                .ok_or_else(|| {
                    errors::ActorStopped::new_err(format!("child `{name}` is not running"))
                }),
            ChildKind::Rust { .. } => match &def.service {
                Some(service) => Ok(ActorRef::service(&self.bus, service)),
                None => Err(PyValueError::new_err(format!(
                    "Rust child `{name}` has no service name: give it one to reach it"
                ))),
            },
        }
    }

    /// The names of the children running now, in start order.
    fn children(&self) -> Vec<String> {
        self.sup.children().into_iter().map(|(n, _)| n).collect()
    }

    /// Every child spec in start order with its state: `(name, state)`, state one of
    /// running, restarting, stopped. Raises `ActorStopped` if the tree has stopped.
    fn which_children(&self, py: Python<'_>) -> PyResult<Vec<(String, &'static str)>> {
        let sup = self.sup.clone();
        let infos = wait(py, &self.handle, async move { sup.which_children().await })?
            .map_err(|e| errors::ActorStopped::new_err(e.to_string()))?;
        Ok(infos
            .into_iter()
            .map(|c| {
                let state = match c.state {
                    ChildState::Running(_) => "running",
                    ChildState::Restarting { .. } => "restarting",
                    ChildState::Stopped => "stopped",
                };
                (c.name, state)
            })
            .collect())
    }

    /// The supervision events so far: `(bus time in seconds, kind, child)`, kind one of
    /// started, failed, exited, restarted, restart_failed, stopped, gave_up, escalated.
    fn events(&self) -> Vec<(f64, String, String)> {
        self.events.borrow().clone()
    }

    /// Waits (without the GIL) until the tree has finished `n` restarts of `child` (of any
    /// child if None). A restart is recorded once the supervisor is done with it, which can
    /// be just after the restarted child answered its first message. Raises `ActorStopped`
    /// if the tree stops first.
    #[pyo3(signature = (n, child=None))]
    fn wait_restarts(&self, py: Python<'_>, n: usize, child: Option<String>) -> PyResult<()> {
        let mut rx = self.events.subscribe();
        let sup = self.sup.clone();
        let reached = wait(py, &self.handle, async move {
            let enough = |events: &Vec<(f64, String, String)>| {
                events
                    .iter()
                    .filter(|(_, kind, c)| {
                        kind == "restarted" && child.as_ref().is_none_or(|name| name == c)
                    })
                    .count()
                    >= n
            };
            tokio::select! {
                r = rx.wait_for(enough) => r.is_ok(),
                _ = sup.wait_for_stop() => false,
            }
        })?;
        if reached {
            Ok(())
        } else {
            Err(errors::ActorStopped::new_err(
                "the tree stopped before that many restarts",
            ))
        }
    }

    /// Stops the tree (children in reverse start order, each by its shutdown) and waits
    /// (without the GIL) until the whole tree is down; returns the supervisor's final reason.
    fn stop(&self, py: Python<'_>) -> PyResult<String> {
        let sup = self.sup.clone();
        let reason: StopReason = wait(py, &self.handle, async move { sup.stop().await })?;
        Ok(reason.to_string())
    }

    /// Waits until the supervisor has stopped; returns why.
    fn wait_for_stop(&self, py: Python<'_>) -> PyResult<String> {
        let sup = self.sup.clone();
        let reason: StopReason = wait(py, &self.handle, async move { sup.wait_for_stop().await })?;
        Ok(reason.to_string())
    }
}

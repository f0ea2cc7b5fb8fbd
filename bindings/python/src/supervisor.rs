//! `Supervisor`: a running supervision tree of Python and Rust children, started by
//! `Bus.supervise` from `ChildDef`s, one per child.

use std::collections::HashMap;
use std::sync::Arc;

use mycelium_actors::{Bus as RustBus, SpawnError, StopReason};
use mycelium_foreign::registry::Kind;
use mycelium_foreign::{ForeignActor, ForeignGate, ForeignRef};
use mycelium_supervisor::{
    Backoff, ChildState, Restart, RestartStrategy, SupervisionEvent, Supervisor as RustSupervisor,
    SupervisorRef,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::actor_ref::{duration, ActorRef};
use crate::bus::start_failed;
use crate::errors;
use crate::host::{PyArgs, PyForeign};
use crate::schema::BusSchema;
use crate::wait::wait;

#[derive(Clone)]
enum ChildKind {
    Python {
        host: Arc<Py<PyAny>>,
        args: Arc<Py<PyAny>>,
        type_ids: Vec<u16>,
        /// How the child is recorded, if it is.
        record: Option<mycelium_foreign::ForeignRecording>,
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

/// One child of a supervision tree: a Python actor or a registered Rust actor.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct ChildDef {
    inner: ChildDefInner,
}

impl ChildDef {
    fn get_inner(&self) -> &ChildDefInner {
        &self.inner
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
impl ChildDef {
    /// A Python actor child (the host built by the Python layer).
    #[staticmethod]
    #[pyo3(signature = (name, host, args, type_ids, service=None, restart="permanent", hibernate=false, record=None))]
    #[allow(clippy::too_many_arguments)]
    fn python(
        py: Python<'_>,
        name: String,
        host: Py<PyAny>,
        args: Py<PyAny>,
        type_ids: Vec<u16>,
        service: Option<String>,
        restart: &str,
        hibernate: bool,
        record: Option<PyRef<'_, crate::recording::Recorder>>,
    ) -> PyResult<Self> {
        let record = record.map(|r| r.for_host(host.bind(py))).transpose()?;
        Ok(ChildDef {
            inner: ChildDefInner {
                name,
                restart: restart_type(restart)?,
                service,
                kind: ChildKind::Python {
                    host: Arc::new(host),
                    args: Arc::new(args),
                    type_ids,
                    record,
                },
                hibernate,
            },
        })
    }

    /// A registered Rust actor child.
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
    /// The restart strategy's Python name, for the repr.
    strategy: String,
    bus: RustBus,
    handle: Handle,
    /// The schema of the bus.
    schema: BusSchema,
    children: Vec<ChildDefInner>,
    /// The gates of the Python children, by name.
    gates: HashMap<String, ForeignGate<PyForeign>>,
    events: watch::Sender<Vec<(f64, String, String)>>,
}

impl Supervisor {
    /// Starts a supervision tree of Python and Rust children on `bus`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        py: Python<'_>,
        py_bus: &crate::bus::Bus,
        handle: &Handle,
        strategy: &str,
        children: Vec<Py<ChildDef>>,
        max_restarts: u32,
        within: f64,
        backoff_initial: f64,
        backoff_factor: f64,
        backoff_cap: f64,
    ) -> PyResult<Self> {
        let rust_bus = py_bus.rust_bus()?;
        let bus = &rust_bus;
        let schema = py_bus.schema().clone();
        let strategy_name = strategy.to_string();
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
        let within = duration("within", within)?;
        let initial = duration("backoff initial", backoff_initial)?;
        let cap = duration("backoff cap", backoff_cap)?;
        if !(backoff_factor.is_finite() && backoff_factor >= 1.0) {
            return Err(PyValueError::new_err(
                "backoff_factor must be a number >= 1",
            ));
        }
        let events = watch::Sender::new(Vec::<(f64, String, String)>::new());
        let log = events.clone();
        let tree = format!(
            "the supervision tree ({strategy_name}: {})",
            children
                .iter()
                .map(|c| c.get().get_inner().name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
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
                    SupervisionEvent::Escalated { reason, to_bus, .. } => {
                        crate::failure::report_gave_up(&tree, reason, *to_bus);
                        ("escalated", String::new())
                    }
                };
                let at = e.at().as_secs_f64();
                log.send_modify(|events| events.push((at, kind.to_string(), child)));
            });
        let mut defs = Vec::with_capacity(children.len());
        let mut gates = HashMap::new();
        for child in &children {
            let def = child.get().get_inner().clone();
            let spec = match &def.kind {
                ChildKind::Python {
                    host, args, record, ..
                } => {
                    let (spec, gate) = mycelium_foreign::gated_child_spec(
                        def.name.clone(),
                        Arc::new(PyForeign::new(
                            py,
                            host.clone_ref(py),
                            &schema,
                            py_bus.actors(),
                        )?),
                        PyArgs(args.clone()),
                    );
                    if let Some(record) = record {
                        // A new gate: nothing has recorded it yet.
                        let _ = gate.record(record.clone());
                    }
                    gates.insert(def.name.clone(), gate);
                    spec
                }
                ChildKind::Rust { kind, arg } => {
                    py_bus.admit_rust(py, *kind)?;
                    kind.child_spec(&def.name, arg.clone())
                }
            };
            let spec = spec.restart(def.restart);
            builder = builder.child(if def.hibernate {
                spec.hibernate()
            } else {
                spec
            });
            defs.push(def);
        }
        // The services this call adds to the export table, removed again if one is refused
        // or the tree does not start.
        let mut added: Vec<String> = Vec::new();
        let unexport = |added: &[String]| {
            for service in added {
                bus.exports().unexport(service);
            }
        };
        // A Python child's service is exported before the tree starts, found through the
        // child's gate (also once a killed child is spawned anew, with a new ref): the
        // `on_start` of a child started after it reaches it by name.
        for def in &defs {
            let (Some(service), ChildKind::Python { type_ids, .. }) = (&def.service, &def.kind)
            else {
                continue;
            };
            let Some(gate) = gates.get(&def.name) else {
                continue;
            };
            let fresh = bus.exports().type_ids(service).is_none();
            if let Err(e) = mycelium_foreign::export_gated_child(bus, gate, service, type_ids) {
                unexport(&added);
                return Err(PyValueError::new_err(e.to_string()));
            }
            py_bus.actors().export(service, &gate.foreign().raised);
            if fresh {
                added.push(service.clone());
            }
        }
        let b = bus.clone();
        let spawned = wait(py, handle, async move { builder.spawn(&b).await });
        let sup = match spawned {
            Ok(Ok(sup)) => sup,
            Ok(Err(e)) => {
                unexport(&added);
                return Err(spawn_error(py, e));
            }
            Err(e) => {
                unexport(&added);
                return Err(e);
            }
        };
        // A Rust child's service, once the tree runs.
        for def in &defs {
            let (Some(service), ChildKind::Rust { kind, .. }) = (&def.service, &def.kind) else {
                continue;
            };
            let fresh = bus.exports().type_ids(service).is_none();
            if let Err(e) = kind.export_child(bus, &sup, &def.name, service) {
                // Nothing of a tree the caller gets no handle on is left running or exported:
                // its children stop (their `on_stop` runs) before the error is raised.
                unexport(&added);
                let stopping = sup.clone();
                wait(py, handle, async move { stopping.stop().await })?;
                return Err(PyValueError::new_err(e));
            }
            if fresh {
                added.push(service.clone());
            }
        }
        Ok(Supervisor {
            sup,
            strategy: strategy_name,
            bus: bus.clone(),
            handle: handle.clone(),
            schema,
            children: defs,
            gates,
            events,
        })
    }
}

/// The exception for a tree that did not start: `StartFailed` (with the child's name as its
/// `child` attribute) when a child's first `on_start` failed, `ValueError` for a spec that
/// cannot work (nothing started).
fn spawn_error(py: Python<'_>, e: SpawnError) -> PyErr {
    let text = e.to_string();
    match e {
        SpawnError::StartFailed { child, cause } => {
            let text = format!(
                "child `{child}` could not start: it {}; the tree stopped the children it had \
                 started and did not start the later ones",
                errors::failure_text(&cause)
            );
            start_failed(py, text, Some(child))
        }
        SpawnError::InvalidSpec(_) => PyValueError::new_err(text),
        SpawnError::BusStopped => errors::BusClosed::new_err(text),
        _ => start_failed(py, text, None),
    }
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
                .map(|a| {
                    ActorRef::foreign_in(
                        gated(a, self.gates.get(name)),
                        &self.handle,
                        self.schema.clone(),
                    )
                })
                .ok_or_else(|| {
                    errors::ActorStopped::new_err(format!("child `{name}` is not running"))
                }),
            ChildKind::Rust { .. } => match &def.service {
                Some(service) => Ok(ActorRef::service(&self.bus, service, self.schema.clone())),
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
        Ok(errors::reason_text(&reason))
    }

    /// Waits until the supervisor has stopped; returns why.
    fn wait_for_stop(&self, py: Python<'_>) -> PyResult<String> {
        let sup = self.sup.clone();
        let reason: StopReason = wait(py, &self.handle, async move { sup.wait_for_stop().await })?;
        Ok(errors::reason_text(&reason))
    }

    /// `<mycelium.Supervisor one_for_one, running: a, b (of 3 children), 2 restarts>`, or
    /// the reason it stopped.
    fn __repr__(&self) -> String {
        let restarts = self.sup.restarts(None);
        let restarts = format!("{restarts} restart{}", if restarts == 1 { "" } else { "s" });
        if let Some(reason) = self.sup.actor_ref().stop_reason() {
            return format!(
                "<mycelium.Supervisor {}, stopped ({}), {restarts}>",
                self.strategy,
                errors::reason_text(&reason)
            );
        }
        let running: Vec<String> = self.sup.children().into_iter().map(|(n, _)| n).collect();
        let running = if running.is_empty() {
            "none running".to_string()
        } else {
            format!("running: {}", running.join(", "))
        };
        format!(
            "<mycelium.Supervisor {}, {running} (of {} children), {restarts}>",
            self.strategy,
            self.children.len()
        )
    }
}

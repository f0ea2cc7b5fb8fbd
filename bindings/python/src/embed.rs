//! A Rust program hosting Python actors in its own process, on its own bus.
//!
//! [`PythonHost::start`] starts the interpreter (or joins the one already running), registers
//! this crate's `mycelium._native` module with it before anything imports `mycelium`, so that
//! `import mycelium` in Python code reaches this binary's runtime and bus rather than loading a
//! second copy of the extension, and gives Python code the program's bus as a `mycelium.Bus`
//! speaking the schema of a generated module. [`PythonHost::child_spec`] names a Python actor
//! class by its path (`"desk.strategy:Momentum"`) as a child of a Rust supervision tree: each
//! start of the child (the first, and every restart) runs its `on_start`; the class is imported
//! by the first, and a module that cannot be imported fails that start with the import
//! error's text, as any failing `on_start` does. The same class runs unchanged on a bus made
//! in Python.
//!
//! Where modules come from: the embedded interpreter's own `sys.path` (its standard library,
//! `PYTHONPATH`), and the directories given to [`PythonHost::start`], put first. For a
//! virtualenv, give its `site-packages` directory (`<venv>/lib/python3.X/site-packages`) or
//! set `PYTHONPATH` to it: the interpreter is the one the binary links (`libpython3.X`), and
//! it does not read `VIRTUAL_ENV`.
//!
//! Rust code reaches a Python child as it reaches a Rust child: through a typed address,
//! [`PythonHost::child_reply_recipient`] (`ReplyRecipient<M, R>`: `ask`, `tell`) or
//! [`PythonHost::child_recipient`] (`Recipient<M>`), of the Rust types generated from the same
//! schema file, which follows the child across its restarts; or by service name through the
//! bus's export table ([`PythonHost::export_child`]), which is how other nodes reach it. A
//! Python actor's publications reach Rust subscribers of a message type the bus exports as a
//! topic (`bus.exports().export_topic::<M>()`); see `mycelium_foreign::publish_schema_bytes`.
//!
//! A recorded Python actor replays beside Rust ones in a `mycelium_journal::ReplaySet`:
//! [`PythonHost::spawn_replayed`] spawns its class on the replay's bus (the host's) as the
//! set's replayed actor for its recorded number; the set feeds it its inputs from outside
//! the set at their recorded bus times and compares what it answers, sends and publishes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The runtime to build for a virtual-time bus that hosts Python actors (see
/// [`mycelium_foreign::virtual_runtime`]): with it, a run repeats exactly.
pub use mycelium_foreign::virtual_runtime;

use mycelium_actors::{Bus as RustBus, Recipient, ReplyRecipient};
use mycelium_codec::WireMessage;
use mycelium_foreign::{ForeignActor, ForeignGate};
use mycelium_supervisor::{ChildSpec, SupervisorRef};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;

use crate::bus::Bus;
use crate::host::{exception_text, PyArgs, PyForeign};
use crate::py_actors::PyActors;
use crate::schema::{BusSchema, Schema};

/// The Python side of a Rust program's bus: the interpreter, the bus as a `mycelium.Bus`,
/// and the Python children made for it.
pub struct PythonHost {
    bus: RustBus,
    py_bus: Py<PyAny>,
    schema: BusSchema,
    /// The bus's Python actors (named in its dead letters).
    actors: PyActors,
    /// The Python children made for the bus, by child name: the gate (for their exports
    /// and typed addresses) and the class path.
    children: Mutex<HashMap<String, Child>>,
}

/// A Python child of this host.
struct Child {
    gate: ForeignGate<PyForeign>,
    class_path: String,
}

/// `err` as its Python text (`ModuleNotFoundError: No module named 'desk'`).
fn text(err: PyErr) -> String {
    Python::attach(|py| exception_text(py, &err))
}

impl PythonHost {
    /// Starts (or joins) the interpreter with `mycelium._native` registered as this binary's,
    /// puts `paths` first on `sys.path`, imports `schema_module` (the module
    /// `mycelium-codegen python` generated from the program's schema file) and makes `bus`
    /// a `mycelium.Bus` of that schema for Python code. Call it from within the bus's
    /// runtime or outside it; the error is Python's text (a module that cannot be imported).
    pub fn start(
        bus: &RustBus,
        schema_module: &str,
        paths: &[&Path],
    ) -> Result<PythonHost, String> {
        Python::initialize();
        Python::attach(|py| -> PyResult<PythonHost> {
            let sys = py.import("sys")?;
            let path = sys.getattr("path")?;
            for p in paths.iter().rev() {
                path.call_method1("insert", (0, p.display().to_string()))?;
            }
            let modules = sys.getattr("modules")?.cast_into::<PyDict>()?;
            if !modules.contains("mycelium._native")? {
                // Before `import mycelium`: its `from . import _native` finds this one.
                modules.set_item(
                    "mycelium._native",
                    pyo3::wrap_pymodule!(crate::embedded_native)(py),
                )?;
            }
            let module = py.import(schema_module)?;
            let schema = BusSchema::default();
            schema.set(Schema::of_module(&module)?);
            let native = Py::new(
                py,
                Bus::embedded(bus.clone(), bus.runtime().clone(), schema.clone()),
            )?;
            let actors = native.get().actors().clone();
            let py_bus = py
                .import("mycelium")?
                .getattr("Bus")?
                .call_method1("_embedded", (native,))?
                .unbind();
            Ok(PythonHost {
                bus: bus.clone(),
                py_bus,
                schema,
                actors,
                children: Mutex::new(HashMap::new()),
            })
        })
        .map_err(text)
    }

    /// A child spec for a Rust supervision tree: the Python actor class at `class_path`
    /// (`"module:Class"`), started with `args` (converted to a Python object now, given to
    /// every `on_start`). The class is imported by the child's first start: an import error,
    /// or a class that is not a `mycelium.Actor` of the bus's schema, fails that start with
    /// its text.
    pub fn child_spec<A>(&self, name: &str, class_path: &str, args: A) -> Result<ChildSpec, String>
    where
        A: for<'py> IntoPyObject<'py>,
    {
        let (foreign, args) = Python::attach(|py| -> PyResult<_> {
            let args = args.into_bound_py_any(py)?.unbind();
            let foreign = PyForeign::imported(
                class_path.to_string(),
                self.py_bus.clone_ref(py),
                &self.schema,
                &self.actors,
            );
            Ok((foreign, args))
        })
        .map_err(text)?;
        let (spec, gate) =
            mycelium_foreign::gated_child_spec(name, Arc::new(foreign), PyArgs(Arc::new(args)));
        self.children().insert(
            name.to_string(),
            Child {
                gate,
                class_path: class_path.to_string(),
            },
        );
        Ok(spec)
    }

    /// Exports the Python child `name` of `sup` under `service` for the messages `type_ids`
    /// (of the bus's schema), following the child across restarts.
    pub fn export_child(
        &self,
        sup: &SupervisorRef,
        name: &str,
        service: &str,
        type_ids: &[u16],
    ) -> Result<(), String> {
        let gate = self.children().get(name).map(|c| c.gate.clone());
        mycelium_foreign::export_child(&self.bus, sup, name, gate.as_ref(), service, type_ids)
            .map_err(|e| e.to_string())?;
        if let Some(gate) = gate {
            self.actors.export(service, &gate.foreign().raised);
        }
        Ok(())
    }

    /// The Python child `name` of `sup` as a typed address for the message `M` of the bus's
    /// schema (a Rust type generated from the same schema file), as
    /// `SupervisorRef::child_recipient` gives for a Rust child: it follows the child across
    /// restarts. Refused, naming the class and the message, when the class has no handler
    /// for `M`, or handles `M`'s type id as a message of another name (a Rust type of another
    /// schema); also when `name` is not a Python child of this host that has started.
    pub fn child_recipient<M>(
        &self,
        sup: &SupervisorRef,
        name: &str,
    ) -> Result<Recipient<M>, String>
    where
        M: WireMessage + Send + 'static,
    {
        let (gate, label) = self.handling(sup, name, M::TYPE_ID, M::NAME)?;
        Ok(mycelium_foreign::child_recipient(
            &self.bus,
            sup,
            name,
            Some(&gate),
            &label,
        ))
    }

    /// The Python child `name` of `sup` as a typed request/reply address (requests `M`,
    /// replies `R`, both messages of the bus's schema), as
    /// `SupervisorRef::child_reply_recipient` gives for a Rust child: `ask` and `tell` reach
    /// the child that runs now, across restarts. Refused as
    /// [`child_recipient`](Self::child_recipient) is. A handler that raises is
    /// `AskError::Failed` (the exception's text) and the child restarts; a handler that
    /// answers with another message than `R` is `AskError::Failed` naming both.
    pub fn child_reply_recipient<M, R>(
        &self,
        sup: &SupervisorRef,
        name: &str,
    ) -> Result<ReplyRecipient<M, R>, String>
    where
        M: WireMessage + Send + 'static,
        R: WireMessage + Send + 'static,
    {
        let (gate, label) = self.handling(sup, name, M::TYPE_ID, M::NAME)?;
        Ok(mycelium_foreign::child_reply_recipient(
            &self.bus,
            sup,
            name,
            Some(&gate),
            &label,
        ))
    }

    /// The gate of the started Python child `name` of `sup` and its label for errors, if its
    /// class handles the message `type_id` named `message`.
    fn handling(
        &self,
        sup: &SupervisorRef,
        name: &str,
        type_id: u16,
        message: &str,
    ) -> Result<(ForeignGate<PyForeign>, String), String> {
        let (gate, class_path) = {
            let children = self.children();
            match children.get(name) {
                Some(c) => (c.gate.clone(), c.class_path.clone()),
                None => {
                    let mut made: Vec<&str> = children.keys().map(String::as_str).collect();
                    made.sort_unstable();
                    return Err(format!(
                        "`{name}` is not a Python child of this host (its children: {made:?}): \
                         make it with PythonHost::child_spec"
                    ));
                }
            }
        };
        if sup.child::<ForeignActor<PyForeign>>(name).is_none() {
            return Err(format!(
                "the tree has no child `{name}` running ({class_path}): spawn the tree with \
                 the spec from PythonHost::child_spec first"
            ));
        }
        let class = gate.foreign().class().map_err(text)?;
        match class.table.get(&type_id) {
            Some(entry) if entry.plan.class_name() == message => {
                Ok((gate, format!("Python actor {class_path}")))
            }
            Some(entry) => Err(format!(
                "{class_path} handles type id {type_id} as {}, not as the Rust type {message}: \
                 the Rust type is generated from another schema than the bus's; generate both \
                 from one schema file",
                entry.plan.class_name()
            )),
            None => {
                let mut handled: Vec<(u16, &str)> = class
                    .table
                    .iter()
                    .map(|(id, e)| (*id, e.plan.class_name()))
                    .collect();
                handled.sort_unstable();
                let handled: Vec<String> = handled
                    .iter()
                    .map(|(id, name)| format!("{name} ({id})"))
                    .collect();
                Err(format!(
                    "{class_path} has no handler for {message} (type id {type_id}): it handles \
                     {}; add a @mycelium.handler({message}) method, or send it a message it \
                     handles",
                    if handled.is_empty() {
                        "no schema message".to_string()
                    } else {
                        handled.join(", ")
                    }
                ))
            }
        }
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<String, Child>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns the Python actor class at `class_path` (`"module:Class"`), started with
    /// `args`, unsupervised, recorded into `recorder` (a `mycelium_journal::Recording` with
    /// `.described::<mycelium_foreign::ForeignRecord>()`, which may record the program's
    /// Rust actors too): its messages are written as those of the bus's schema. Returns it as
    /// a service (`mycelium_foreign::typed_recipient` makes a typed address of it). The
    /// error is the start's (an import error, a failing `on_start`).
    pub async fn spawn_recorded<A>(
        &self,
        class_path: &str,
        args: A,
        recorder: Arc<dyn mycelium_actors::recording::Recorder>,
    ) -> Result<Arc<dyn mycelium_actors::export::ByteService>, String>
    where
        A: for<'py> IntoPyObject<'py>,
    {
        let (foreign, args) = self.imported(class_path, args)?;
        let class_name = class_path.rsplit([':', '.']).next().unwrap_or(class_path);
        let recording = mycelium_foreign::ForeignRecording::new(recorder, class_name);
        mycelium_foreign::spawn_recorded(
            &self.bus,
            foreign,
            PyArgs(Arc::new(args)),
            mycelium_actors::SpawnOptions::new(),
            recording,
        )
        .await
        .map(|actor| Arc::new(actor) as Arc<dyn mycelium_actors::export::ByteService>)
        .map_err(|e| e.to_string())
    }

    /// The callbacks of the class at `class_path` on this host's bus, and `args` as Python's.
    fn imported<A>(&self, class_path: &str, args: A) -> Result<(Arc<PyForeign>, Py<PyAny>), String>
    where
        A: for<'py> IntoPyObject<'py>,
    {
        Python::attach(|py| -> PyResult<_> {
            let args = args.into_bound_py_any(py)?.unbind();
            let foreign = PyForeign::imported(
                class_path.to_string(),
                self.py_bus.clone_ref(py),
                &self.schema,
                &self.actors,
            );
            Ok((Arc::new(foreign), args))
        })
        .map_err(text)
    }

    /// Spawns the Python actor class at `class_path` (`"module:Class"`), started with
    /// `args`, on this host's bus (the replay's virtual-time bus) as the replayed actor for
    /// the recorded actor number `recorded` of `set`. Its inputs from outside the set are fed
    /// as they were recorded: a message of the bus's schema by its bytes, a plain object
    /// recorded with `pickle` unpickled; its messages are compared as recorded (a plain
    /// object by its pickle). It starts at its recorded start's bus time, and an actor restarted
    /// live by its supervisor is restarted in place after a failure at each recorded
    /// restart's bus time, as many times as recorded. Returns the running actor as a service, for the other actors
    /// of the set to reach it (`mycelium_foreign::typed_recipient`, `typed_reply_recipient`).
    /// The error names the class when it cannot start.
    pub async fn spawn_replayed<A>(
        &self,
        set: &mut mycelium_journal::ReplaySet,
        recorded: u64,
        class_path: &str,
        args: A,
    ) -> Result<Arc<dyn mycelium_actors::export::ByteService>, mycelium_journal::ReplayError>
    where
        A: for<'py> IntoPyObject<'py>,
    {
        let (foreign, args) = self
            .imported(class_path, args)
            .map_err(mycelium_journal::ReplayError::Spawn)?;
        let class_name = class_path.rsplit([':', '.']).next().unwrap_or(class_path);
        let holder = foreign.clone();
        let input = move |record: &mycelium_journal::Record| {
            crate::recording::replay_input(&holder, record)
        };
        let args = PyArgs(Arc::new(args));
        mycelium_foreign::recording::spawn_replayed(
            set, &self.bus, recorded, foreign, args, class_name, input,
        )
        .await
        .map(|actor| Arc::new(actor) as Arc<dyn mycelium_actors::export::ByteService>)
    }

    /// The program's bus as Python code sees it (a `mycelium.Bus`).
    pub fn bus(&self) -> Py<PyAny> {
        Python::attach(|py| self.py_bus.clone_ref(py))
    }
}

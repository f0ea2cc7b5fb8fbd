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
//! Rust actors reach a Python child through the bus's export table
//! ([`PythonHost::export_child`], then `bus.exports().ask(service, type_id, body)`), and share
//! its topics as on a bus made in Python.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mycelium_actors::Bus as RustBus;
use mycelium_foreign::ForeignGate;
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
    /// The gates of the Python children, by child name (for their exports).
    gates: Mutex<HashMap<String, ForeignGate<PyForeign>>>,
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
                gates: Mutex::new(HashMap::new()),
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
        self.gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), gate);
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
        let gate = self
            .gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        mycelium_foreign::export_child(&self.bus, sup, name, gate.as_ref(), service, type_ids)
            .map_err(|e| e.to_string())
    }

    /// The program's bus as Python code sees it (a `mycelium.Bus`).
    pub fn bus(&self) -> Py<PyAny> {
        Python::attach(|py| self.py_bus.clone_ref(py))
    }
}

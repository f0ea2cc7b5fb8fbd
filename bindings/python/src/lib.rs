//! `mycelium._native`: the extension module under the `mycelium` Python package.
//!
//! Python actors are [`mycelium_foreign::Foreign`] callbacks (a host object per actor class,
//! built by the package's Python layer); buses own their tokio runtime; every wait releases
//! the GIL. The Python API is documented in the package (`mycelium/__init__.pyi`).
//!
//! As a Rust library, the crate lets a Rust program host Python actors on its own bus:
//! [`embed::PythonHost`]; and a team's own extension provide `mycelium._native` with their
//! Rust actors registered ([`native_module!`]), so that `bus.spawn_rust("execution", ...)`
//! in Python reaches their actor.
//!
//! # A team's own wheel
//!
//! A maturin project whose crate depends on this one (`mycelium-python`, lib name `_native`)
//! and on `pyo3` builds a `mycelium._native` of its own:
//!
//! ```ignore
//! fn register() -> Result<(), String> {
//!     mycelium_foreign::registry::register(
//!         RustActor::<ExecutionEngine>::new("execution", desk::SCHEMA).no_arg().answers::<NewOrder>(),
//!     )
//!     .map(drop)
//!     .map_err(|e| e.to_string())
//! }
//! mycelium_python::native_module!(register);
//! ```
//!
//! Its wheel ships the `mycelium` Python package (this crate's `python/mycelium`) next to that
//! extension, so one process has one copy of the runtime, with the team's actors in it;
//! it replaces the `mycelium-actors` wheel rather than sitting beside it. Built without this
//! crate's `extension-module` feature, the crate defines no `PyInit__native` of its own.

#![warn(missing_docs)]

mod actor_ref;
mod bus;
mod callbacks;
mod codec;
pub mod embed;
mod errors;
mod failure;
mod host;
mod journal;
mod node;
mod py_actors;
mod recording;
mod replay_set;
mod schema;
mod stand_in;
mod strategy;
mod supervisor;
mod sweep;
mod wait;

use pyo3::prelude::*;

/// The repository's own `mycelium._native`, with the example Rust actors only.
#[cfg(feature = "extension-module")]
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    module_body(m)
}

/// `mycelium._native` as a module a Rust program registers with its interpreter
/// ([`embed::PythonHost`]): no entry point of its own.
#[pymodule(submodule, name = "_native")]
pub(crate) mod embedded_native {
    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        super::module_body(m)
    }
}

/// Fills `m`, the `mycelium._native` module, after running `register` once per process
/// (the Rust actors of a team's extension; a second import, as from another interpreter,
/// does not run it again). An error from `register` fails the import with its text.
/// [`native_module!`] is the entry point that calls it.
pub fn init_native(m: &Bound<'_, PyModule>, register: fn() -> Result<(), String>) -> PyResult<()> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED.get_or_init(register).clone().map_err(|e| {
        pyo3::exceptions::PyImportError::new_err(format!(
            "registering the Rust actors of this extension failed: {e}"
        ))
    })?;
    module_body(m)
}

/// Defines the `mycelium._native` entry point of a team's own extension: the module body
/// of this crate, with `register` (a `fn() -> Result<(), String>` that registers the team's
/// Rust actors with `mycelium_foreign::registry::register`) run first. The crate using it
/// depends on `pyo3` (the version this crate uses) and is built by maturin with
/// `module-name = "mycelium._native"`.
#[macro_export]
macro_rules! native_module {
    ($register:path) => {
        #[::pyo3::pymodule]
        fn _native(m: &::pyo3::Bound<'_, ::pyo3::types::PyModule>) -> ::pyo3::PyResult<()> {
            $crate::init_native(m, $register)
        }
    };
}

fn module_body(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bus::Bus>()?;
    m.add_class::<supervisor::ChildDef>()?;
    m.add_class::<supervisor::Supervisor>()?;
    m.add_class::<actor_ref::ActorRef>()?;
    m.add_class::<actor_ref::Subscription>()?;
    m.add_class::<actor_ref::Timer>()?;
    m.add_class::<node::Node>()?;
    m.add_class::<recording::Recorder>()?;
    m.add_class::<replay_set::ReplaySet>()?;
    m.add_class::<node::TopicGap>()?;
    m.add_class::<node::GapWatch>()?;
    m.add("GAP_TOPIC", mycelium_remote::GAP_TOPIC)?;
    m.add_function(wrap_pyfunction!(callbacks::close_callbacks, m)?)?;
    m.add_function(wrap_pyfunction!(callbacks::thread_loop, m)?)?;
    m.add_function(wrap_pyfunction!(callbacks::give_turn, m)?)?;
    m.add_function(wrap_pyfunction!(callbacks::take_turn, m)?)?;
    m.add_function(wrap_pyfunction!(codec::encode, m)?)?;
    m.add_function(wrap_pyfunction!(codec::decode, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::run_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(strategy::run_strategy, m)?)?;
    m.add_class::<sweep::MarketData>()?;
    m.add_function(wrap_pyfunction!(sweep::run_shard, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::run_strategy_shard, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::csv_header, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::builtin_grid, m)?)?;
    let shard_error = m.py().get_type::<sweep::ShardError>();
    // Printed (and pickled) where the package exports it.
    shard_error.setattr("__module__", "mycelium.distributed")?;
    m.add("ShardError", shard_error)?;
    m.add_function(wrap_pyfunction!(rust_actors, m)?)?;
    errors::register(m)?;
    journal::register(m)?;
    Ok(())
}

/// The Rust actors `Bus.spawn_rust` and `rust_child` can start in this process, by name:
/// `(name, arg, schema package, type ids)`, `arg` being `None` or what the argument is
/// (`"optional: ..."` when it may be left out).
#[pyfunction]
fn rust_actors() -> Vec<(String, Option<String>, String, Vec<u16>)> {
    mycelium_foreign::registry::registered()
        .into_iter()
        .map(|kind| {
            let arg = match kind.arg() {
                mycelium_foreign::registry::ArgUse::None => None,
                mycelium_foreign::registry::ArgUse::Required => Some(kind.arg_doc().to_string()),
                mycelium_foreign::registry::ArgUse::Optional => {
                    Some(format!("optional: {}", kind.arg_doc()))
                }
            };
            (
                kind.name().to_string(),
                arg,
                kind.schema().package.to_string(),
                kind.type_ids().to_vec(),
            )
        })
        .collect()
}

//! `mycelium._native`: the extension module under the `mycelium` Python package.
//!
//! Python actors are [`mycelium_foreign::Foreign`] callbacks (a host object per actor class,
//! built by the package's Python layer); buses own their tokio runtime; every wait releases
//! the GIL. The Python API is documented in the package (`mycelium/__init__.pyi`).
//!
//! As a Rust library, the crate lets a Rust program host Python actors on its own bus:
//! [`embed::PythonHost`].

#![warn(missing_docs)]

mod actor_ref;
mod bus;
mod callbacks;
mod codec;
pub mod embed;
mod errors;
mod host;
mod node;
mod schema;
mod strategy;
mod supervisor;
mod sweep;
mod wait;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bus::Bus>()?;
    m.add_class::<supervisor::ChildDef>()?;
    m.add_class::<supervisor::Supervisor>()?;
    m.add_class::<actor_ref::ActorRef>()?;
    m.add_class::<actor_ref::Subscription>()?;
    m.add_class::<node::Node>()?;
    m.add_function(wrap_pyfunction!(callbacks::close_callbacks, m)?)?;
    m.add_function(wrap_pyfunction!(callbacks::thread_loop, m)?)?;
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
    errors::register(m)?;
    Ok(())
}

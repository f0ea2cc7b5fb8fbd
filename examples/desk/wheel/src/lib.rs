//! The desk's `mycelium._native`: the Mycelium runtime with the desk's Rust actors registered,
//! so `bus.spawn_rust("execution", "execution")` in Python starts its execution engine.

mycelium_python::native_module!(desk_actors::register);

//! The desk's actor library for C and OCaml programs: `libdesk_cabi.a`, the whole Mycelium C
//! ABI (`mycelium.h`) with the desk's Rust actors. A program links it instead of
//! `libmycelium_ffi.a`, calls `myc_library_init()` once (OCaml's `Bus.create` does), and
//! starts the engine by name: `myc_spawn_rust(bus, "execution", NULL, "execution")`.

pub use mycelium_ffi::*;

mycelium_ffi::actor_library!(desk_actors::register);

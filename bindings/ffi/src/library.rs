//! A team's own actor library: their Rust actors linked with this C ABI into one static
//! library, registered once per process.
//!
//! A team ships its Rust actors to C and OCaml programs as a crate of type `staticlib` that
//! depends on `mycelium-ffi` and on their actors' crate, and says how its actors are
//! registered with [`actor_library!`](crate::actor_library):
//!
//! ```ignore
//! // desk-cabi/src/lib.rs, with crate-type = ["staticlib"]
//! pub use mycelium_ffi::*;
//! mycelium_ffi::actor_library!(desk_actors::register);
//! ```
//!
//! The archive it builds (`libdesk_cabi.a`) holds the whole C ABI (every `myc_` function of
//! `mycelium.h`) and the team's actors: a program links it *instead of* `libmycelium_ffi.a`,
//! so the process has one runtime and one registry of Rust actors. The macro defines
//! `myc_library_init`, which registers the actors (once; later calls return what the first
//! returned). A C program calls it before it starts them by name (`myc_spawn_rust`,
//! `myc_tree_add_rust`); the OCaml library calls it from `Bus.create` when the program links
//! an actor library.

use std::sync::OnceLock;

use crate::error::{guard, Error, MycStatus};

/// Defines `myc_library_init() -> MycStatus` (declared in `mycelium.h`), which registers a
/// team's Rust actors by calling `$register` (a `fn() -> Result<(), E>` with `E: Display`,
/// such as one that calls `mycelium_foreign::registry::register` for each actor) once per
/// process. Use it once, in the team's `staticlib` crate; see [the module](crate::library).
#[macro_export]
macro_rules! actor_library {
    ($register:path) => {
        /// Registers this library's Rust actors for every binding of the process (once;
        /// later calls return what the first returned).
        #[no_mangle]
        pub extern "C" fn myc_library_init() -> $crate::MycStatus {
            $crate::library::init(|| $register().map_err(|e| e.to_string()))
        }
    };
}

/// Runs `register` the first time it is called in the process; every call returns its
/// outcome (`InvalidArgument` with the registration's error when it failed).
#[doc(hidden)]
pub fn init(register: impl FnOnce() -> Result<(), String>) -> MycStatus {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    guard(|| {
        DONE.get_or_init(register).clone().map_err(|e| {
            Error::invalid(format!(
                "the actor library could not register its Rust actors: {e}"
            ))
        })
    })
}

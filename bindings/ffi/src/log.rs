//! What a C or OCaml program sees of the runtime's warnings: a handler that failed, a dead
//! letter, a link that went down. A Rust program installs its own `tracing` subscriber; a
//! program of another language has none, and without one an unsupervised actor that fails
//! would stop without a word. So the first bus made through this library writes the
//! runtime's warnings and errors to standard error, unless the program (or a library it
//! loads) installed a subscriber first. `MYCELIUM_LOG` sets the level: `off`, `error`,
//! `warn` (the default), `info`, `debug` or `trace`.

use std::ffi::c_char;
use std::sync::Once;

use tracing::level_filters::LevelFilter;

use crate::error::{guard, text, MycStatus};

/// Starts writing the runtime's warnings to standard error, once per process.
pub(crate) fn to_stderr() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let level = match std::env::var("MYCELIUM_LOG") {
            Ok(level) => level.trim().parse().unwrap_or(LevelFilter::WARN),
            Err(_) => LevelFilter::WARN,
        };
        if level == LevelFilter::OFF {
            return;
        }
        // Fails, and changes nothing, where a subscriber is installed already.
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_target(true)
            .try_init();
    });
}

/// Writes `message` as a warning of the runtime (target `mycelium::foreign`), where its
/// warnings go: what a binding reports of its own (an exception an actor's stop hook raised,
/// which ends the incarnation all the same). `InvalidArgument` for a null `message`.
///
/// # Safety
/// `message` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn myc_warn(message: *const c_char) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let message = unsafe { text(message, "message")? };
        tracing::warn!(target: "mycelium::foreign", "{message}");
        Ok(())
    })
}

//! What a C or OCaml program sees of the runtime's warnings: a handler that failed, a dead
//! letter, a link that went down. A Rust program installs its own `tracing` subscriber; a
//! program of another language has none, and without one an unsupervised actor that fails
//! would stop without a word. So the first bus made through this library writes the
//! runtime's warnings and errors to standard error, unless the program (or a library it
//! loads) installed a subscriber first. `MYCELIUM_LOG` sets the level: `off`, `error`,
//! `warn` (the default), `info`, `debug` or `trace`.

use std::sync::Once;

use tracing::level_filters::LevelFilter;

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

//! The mailbox's own tests on real threads, and its loom models.
//!
//! The loom models are built only with `RUSTFLAGS="--cfg mycelium_loom"` (see `src/loom.rs`):
//!
//! ```text
//! RUSTFLAGS="--cfg mycelium_loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p mycelium-mailbox --release --lib loom_
//! ```

#[cfg(mycelium_loom)]
mod loom_chan;
#[cfg(not(mycelium_loom))]
mod threads;

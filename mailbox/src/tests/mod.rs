//! Loom models of the mailbox, built only with `RUSTFLAGS="--cfg loom"` (see `src/loom.rs`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p mycelium-mailbox --release --lib loom_
//! ```

mod loom_chan;

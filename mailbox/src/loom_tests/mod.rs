//! Loom models of the mailbox (built only with `RUSTFLAGS="--cfg loom"`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p mycelium-mailbox --release --lib loom_
//! ```

mod mailbox;

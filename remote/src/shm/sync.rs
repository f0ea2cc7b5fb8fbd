//! The atomics the ring and the wake-up protocol use: `std`'s in a normal build, `loom`'s when
//! the crate is built with `--cfg mycelium_loom`, so that the same protocol code runs under the
//! model checker (the pattern of tokio's `crate::loom`). The cfg is not plain `loom` because
//! tokio itself reacts to `--cfg loom` by leaving out its networking, which this crate needs.

#[cfg(mycelium_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(mycelium_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

//! The atomics the ring and the wake-up protocol use: `std`'s in a normal build, `loom`'s when
//! the crate is built with `--cfg loom`, so that the same protocol code runs under the model
//! checker (the pattern of tokio's `crate::loom`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

//! The synchronisation primitives the mailbox is built from: the standard library's in a
//! normal build, loom's when the crate's tests are compiled with `RUSTFLAGS="--cfg mycelium_loom"`.
//!
//! The channel's atomics and `Arc` come from here, and its lock from `lock.rs` (loom's mutex
//! in the models, see there), so the loom models (`src/tests/loom_*.rs`) run the real channel
//! code while loom explores every interleaving of their threads. Outside those models each
//! item is a re-export of the `std` one: the shim costs nothing.

#[cfg(not(all(test, mycelium_loom)))]
pub(crate) mod sync {
    pub(crate) use std::sync::Arc;

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicBool, Ordering};
    }
}

#[cfg(all(test, mycelium_loom))]
pub(crate) mod sync {
    pub(crate) use loom::sync::Arc;

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicBool, Ordering};
    }
}

//! The frameworks under comparison: one [`Framework`] implementation each, in its own file
//! (`fw_<name>.rs`), calling that framework's code of every workload.
//!
//! Adding a framework: a unit struct implementing [`Framework`] (one method per workload),
//! and an entry in [`ALL`] (or [`EXTRA`] if it must be named to run).

use crate::common::{Rt, SpawnResult, W5Result};
use crate::{w13, w4, w6, w7};

/// One framework's implementation of every in-process workload (see `workload.rs` for what
/// each measures).
pub trait Framework: Sync {
    /// The name printed in every line (`w<N> <name> ...`) and accepted by `--frameworks`.
    fn name(&self) -> &'static str;

    /// Whether this is a peer (compared against in the ratio summary); Mycelium and its
    /// variants are not.
    fn is_peer(&self) -> bool {
        true
    }

    /// Why this framework does not run `workload`, if it does not.
    fn skips(&self, _workload: &str) -> Option<&'static str> {
        None
    }

    /// w1: `n` tells to one actor; messages per second.
    fn w1(&self, rt: Rt, n: u64) -> f64;
    /// w2: `warmup` then `n` asks, one at a time; the measured round trips in ns.
    fn w2(&self, rt: Rt, n: usize, warmup: usize) -> Vec<u64>;
    /// w3: spawn `n` idle actors, then stop them.
    fn w3(&self, n: usize) -> SpawnResult;
    /// w4 and w14: `n` messages published to `shape.subscribers` subscribers.
    fn w4(&self, rt: Rt, n: u64, shape: w4::Shape) -> w4::W4Result;
    /// w5: `n` restarts of a failing child.
    fn w5(&self, n: usize) -> W5Result;
    /// w6: `instances` 3-actor pipelines, `n` messages each.
    fn w6(&self, rt: Rt, instances: usize, n: u64) -> w6::W6Result;
    /// w7: create and drop `n` isolated pipeline instances.
    fn w7(&self, n: usize) -> w7::W7Result;
    /// w13: `n` messages through a 3-stage pipeline, one every `period_ns` (0: unpaced).
    fn w13(&self, rt: Rt, n: u64, period_ns: u64) -> w13::W13Run;
}

/// The frameworks run by default: Mycelium first, then the peers.
pub const ALL: [&dyn Framework; 4] = [
    &crate::fw_mycelium::MYCELIUM,
    &crate::fw_kameo::Kameo,
    &crate::fw_ractor::Ractor,
    &crate::fw_actix::Actix,
];

/// Frameworks run only when named in `--frameworks`.
pub const EXTRA: [&dyn Framework; 4] = [
    &crate::fw_mycelium::MYCELIUM_METRICS,
    &crate::fw_mycelium::MYCELIUM_HIBERNATING,
    &crate::fw_mycelium::MYCELIUM_SUPERVISED,
    &crate::fw_mycelium::MYCELIUM_RECORDED,
];

/// The framework called `name`.
pub fn parse(name: &str) -> Option<&'static dyn Framework> {
    ALL.into_iter().chain(EXTRA).find(|f| f.name() == name)
}

/// Whether `a` and `b` are the same framework.
pub fn same(a: &dyn Framework, b: &dyn Framework) -> bool {
    a.name() == b.name()
}

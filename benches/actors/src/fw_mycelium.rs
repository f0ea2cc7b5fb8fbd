//! Mycelium: placeholder until the core lands.

use crate::common::{Rt, SpawnResult, Unsupported, W5Result};

pub fn w1(_rt: Rt, _n: u64) -> f64 {
    f64::NAN
}

pub fn w2(_rt: Rt, _n: usize, _warmup: usize) -> Vec<u64> {
    Vec::new()
}

pub fn w3(_n: usize) -> SpawnResult {
    SpawnResult::default()
}

pub fn w5(_n: usize) -> W5Result {
    Err(Unsupported("not_yet".into()))
}

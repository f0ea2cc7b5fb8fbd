//! Metrics as the tests read them: what a debugging recorder's snapshots showed so far.

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, Snapshotter};
use mycelium_actors::Bus;

use super::BOUND;

/// Series seen so far, as `name{labels}`: counters summed over snapshots (a snapshot resets
/// them), gauges as first read (a snapshot resets them too, and the tests read them only
/// once the link's state no longer changes).
#[derive(Default)]
pub struct Seen(pub BTreeMap<String, f64>);

impl Seen {
    pub fn take(&mut self, snapshotter: &Snapshotter) {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let series = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(c) => *self.0.entry(series).or_default() += c as f64,
                DebugValue::Gauge(g) => {
                    self.0.entry(series).or_insert(g.into_inner());
                }
                DebugValue::Histogram(_) => {}
            }
        }
    }

    pub fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// Takes snapshots until `done` holds (bounded).
    pub async fn until(&mut self, snapshotter: &Snapshotter, done: impl Fn(&Seen) -> bool) {
        let waited = tokio::time::timeout(BOUND, async {
            loop {
                self.take(snapshotter);
                if done(self) {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "metrics never reached the expected values: {:#?}",
            self.0
        );
    }
}

/// A bus that records metrics.
pub fn metrics_bus() -> Bus {
    Bus::builder().metrics(true).build().expect("bus")
}

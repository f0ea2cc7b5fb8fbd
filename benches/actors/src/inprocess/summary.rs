//! The summary lines of the in-process workloads: the ratio of mycelium to the best peer
//! for each target metric, and the cost of the metrics.

use crate::common::Rt;
use crate::framework::{self, Framework};
use crate::fw_mycelium;
use crate::workload::WORKLOADS;

use super::rounds::{fmt_value, Record};

/// Prints mycelium / best peer for each target metric.
pub(super) fn summary(recs: &[Record]) {
    println!("# ratio summary: mycelium / best peer (same run)");
    for (w, t) in WORKLOADS
        .iter()
        .flat_map(|w| w.targets.iter().map(move |t| (w, t)))
    {
        let variant = match (w.mode)(t.rt) {
            Some(mode) => format!("{} mode={mode}", t.rt.label()),
            None => t.rt.label().to_string(),
        };
        let find = |fw: &dyn Framework| {
            recs.iter()
                .find(|r| r.workload == w && r.rt == t.rt && framework::same(r.framework, fw))
        };
        let ours: Vec<(&dyn Framework, f64)> = [
            &fw_mycelium::MYCELIUM as &dyn Framework,
            &fw_mycelium::MYCELIUM_HIBERNATING,
            &fw_mycelium::MYCELIUM_SUPERVISED,
        ]
        .into_iter()
        .filter_map(|fw| find(fw).and_then(|r| r.value(t.key)).map(|v| (fw, v)))
        .collect();
        if ours.is_empty() {
            continue;
        }
        let peers: Vec<(&dyn Framework, f64)> = framework::ALL
            .iter()
            .filter(|fw| fw.is_peer())
            .filter_map(|&fw| find(fw).and_then(|r| r.value(t.key)).map(|v| (fw, v)))
            .filter(|(_, v)| v.is_finite() && *v > 0.0)
            .collect();
        let best = if t.higher_is_better {
            peers.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
        } else {
            peers.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
        };
        let Some((best_fw, best_v)) = best else {
            println!("# {} rt={variant} {}: no peer result", w.name, t.key);
            continue;
        };
        for (fw, myc) in ours {
            let ratio = myc / best_v;
            let met = if t.higher_is_better {
                ratio >= t.goal
            } else {
                ratio <= t.goal
            };
            let goal = if t.goal.is_nan() {
                "none reported_only".to_string()
            } else {
                format!(
                    "{}{:.1} {}",
                    if t.higher_is_better { ">=" } else { "<=" },
                    t.goal,
                    if met { "met" } else { "MISSED" }
                )
            };
            println!(
                "# {} rt={variant} {}: {}={} best_peer={}({}) ratio={:.2} goal={goal}",
                w.name,
                t.key,
                fw.name(),
                fmt_value(t.key, myc),
                best_fw.name(),
                fmt_value(t.key, best_v),
                ratio,
            );
        }
    }
    metrics_cost(recs);
    recording_cost(recs);
}

/// Prints mycelium-recorded / mycelium for w1 and w14: the cost of recording (goal >= 0.8).
fn recording_cost(recs: &[Record]) {
    for w in ["w1", "w14"] {
        for rt in [Rt::Ct, Rt::Mt] {
            let find = |fw: &dyn Framework| {
                recs.iter()
                    .find(|r| {
                        r.workload.name == w && r.rt == rt && framework::same(r.framework, fw)
                    })
                    .and_then(|r| r.value("msgs_per_sec"))
            };
            if let (Some(off), Some(on)) = (
                find(&fw_mycelium::MYCELIUM),
                find(&fw_mycelium::MYCELIUM_RECORDED),
            ) {
                println!(
                    "# recording cost {w} rt={} msgs_per_sec: off={} on={} on/off={:.2} goal=0.8",
                    rt.label(),
                    fmt_value("msgs_per_sec", off),
                    fmt_value("msgs_per_sec", on),
                    on / off
                );
            }
        }
    }
}

/// Prints mycelium-metrics / mycelium for the workloads both ran: the cost of metrics.
fn metrics_cost(recs: &[Record]) {
    let keys = [
        ("w1", "msgs_per_sec"),
        ("w2", "p50_ns"),
        ("w2", "p99_ns"),
        ("w13", "p50_ns"),
        ("w13", "p99_ns"),
    ];
    for (w, key) in keys {
        for rt in [Rt::Ct, Rt::Mt] {
            let find = |fw: &dyn Framework| {
                recs.iter()
                    .find(|r| {
                        r.workload.name == w && r.rt == rt && framework::same(r.framework, fw)
                    })
                    .and_then(|r| r.value(key))
            };
            if let (Some(off), Some(on)) = (
                find(&fw_mycelium::MYCELIUM),
                find(&fw_mycelium::MYCELIUM_METRICS),
            ) {
                println!(
                    "# metrics cost {} rt={} {key}: off={} on={} on/off={:.2}",
                    w,
                    rt.label(),
                    fmt_value(key, off),
                    fmt_value(key, on),
                    on / off
                );
            }
        }
    }
}

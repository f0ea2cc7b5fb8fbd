//! The records of the in-process runs: the line printed for each, and the per-key medians
//! of the rounds.

use crate::common::Rt;
use crate::framework::Framework;
use crate::workload::{Outcome, Workload};

#[derive(Clone)]
pub(super) struct Record {
    pub(super) workload: &'static Workload,
    pub(super) framework: &'static dyn Framework,
    pub(super) rt: Rt,
    pub(super) outcome: Outcome,
}

impl Record {
    pub(super) fn value(&self, key: &str) -> Option<f64> {
        match &self.outcome {
            Outcome::Values(vals) => vals.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            Outcome::Unsupported(_) => None,
        }
    }

    pub(super) fn line(&self) -> String {
        let mut s = format!(
            "{} {} rt={}",
            self.workload.name,
            self.framework.name(),
            self.rt.label()
        );
        if let Some(mode) = (self.workload.mode)(self.rt) {
            s.push_str(&format!(" mode={mode}"));
        }
        match &self.outcome {
            Outcome::Values(vals) => {
                for (k, v) in vals {
                    s.push_str(&format!(" {k}={}", fmt_value(k, *v)));
                }
            }
            Outcome::Unsupported(why) => {
                let why: String = why
                    .chars()
                    .map(|c| if c.is_whitespace() { '_' } else { c })
                    .collect();
                s.push_str(&format!(" unsupported=1 reason={why}"));
            }
        }
        s
    }
}

pub(super) fn fmt_value(key: &str, v: f64) -> String {
    match key {
        "stop_secs" | "secs" => format!("{v:.4}"),
        "bytes_per_actor"
        | "ns_per_spawn"
        | "ns_per_bus"
        | "bytes_per_bus"
        | "sweep_ns_per_bus"
        | "topic_ns_per_bus"
        | "topic_bytes_per_bus" => format!("{v:.1}"),
        _ => format!("{}", v.round() as u64),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per-key medians across rounds (every round has the same records in the same order).
pub(super) fn medians(rounds: &[Vec<Record>]) -> Vec<Record> {
    let first = &rounds[0];
    first
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            let outcome = match &rec.outcome {
                Outcome::Values(vals) => Outcome::Values(
                    vals.iter()
                        .map(|(k, _)| {
                            let all: Vec<f64> =
                                rounds.iter().filter_map(|r| r[i].value(k)).collect();
                            (
                                *k,
                                if all.is_empty() {
                                    f64::NAN
                                } else {
                                    median(all)
                                },
                            )
                        })
                        .collect(),
                ),
                Outcome::Unsupported(why) => Outcome::Unsupported(why.clone()),
            };
            Record {
                outcome,
                ..rec.clone()
            }
        })
        .collect()
}

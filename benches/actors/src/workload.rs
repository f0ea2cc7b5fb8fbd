//! The in-process workloads by name: what each runs, on which runtime variants, the keys it
//! prints and the goals the ratio summary checks.
//!
//! Adding a workload: a method on [`Framework`] (each `fw_<name>.rs` implements it), a `run`
//! function here turning its result into keys, a [`Counts`] field, and an entry in
//! [`WORKLOADS`].

use std::process::Command;

use crate::common::{with_quiet_panics, Latency, Rt, SpawnResult};
use crate::framework::Framework;

/// Iteration counts for one run.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub w1_tells: u64,
    pub w2_asks: usize,
    pub w2_warmup: usize,
    pub w3_actors: usize,
    pub w5_restarts: usize,
    pub w4_msgs: u64,
    pub w14_msgs: u64,
    pub w6_instances: usize,
    pub w6_msgs: u64,
    pub w7_buses: usize,
    pub w13_msgs: u64,
}

/// The counts of the full run.
pub const FULL: Counts = Counts {
    w1_tells: 2_000_000,
    w2_asks: 200_000,
    w2_warmup: 10_000,
    w3_actors: 100_000,
    w5_restarts: 1_000,
    w4_msgs: 100_000,
    w14_msgs: 2_000_000,
    w6_instances: 1_000,
    w6_msgs: 1_000,
    w7_buses: 10_000,
    w13_msgs: 200_000,
};

/// The counts of `--quick`: 1/100 of the full ones, or near.
pub const QUICK: Counts = Counts {
    w1_tells: 20_000,
    w2_asks: 2_000,
    w2_warmup: 100,
    w3_actors: 1_000,
    w5_restarts: 10,
    w4_msgs: 1_000,
    w14_msgs: 20_000,
    w6_instances: 20,
    w6_msgs: 100,
    w7_buses: 100,
    w13_msgs: 2_000,
};

/// Outcome of one workload for one framework and runtime variant.
#[derive(Clone, Debug)]
pub enum Outcome {
    Values(Vec<(&'static str, f64)>),
    Unsupported(String),
}

/// w13's offered rate per runtime variant, in messages per second.
#[derive(Clone, Copy, Debug, Default)]
pub struct W13Rates {
    pub ct: Option<f64>,
    pub mt: Option<f64>,
}

impl W13Rates {
    pub fn get(&self, rt: Rt) -> Option<f64> {
        match rt {
            Rt::Ct => self.ct,
            Rt::Mt => self.mt,
        }
    }
}

/// What a run of one workload may need besides the framework and the variant.
pub struct Ctx<'a> {
    pub counts: &'a Counts,
    pub rates: &'a W13Rates,
}

/// A goal of the ratio summary: mycelium / best peer on `key` in variant `rt`.
pub struct Target {
    pub rt: Rt,
    pub key: &'static str,
    pub higher_is_better: bool,
    /// NaN: no goal, reported only.
    pub goal: f64,
}

/// One named workload.
pub struct Workload {
    /// Printed first on each line and accepted by `--only`.
    pub name: &'static str,
    /// Runtime variants reported, in order.
    pub variants: &'static [Rt],
    /// The `mode=` key printed after `rt=`, if any.
    pub mode: fn(Rt) -> Option<&'static str>,
    /// Runs it for one framework and variant.
    pub run: fn(&'static dyn Framework, Rt, &Ctx<'_>) -> Outcome,
    /// The ratio summary's goals.
    pub targets: &'static [Target],
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Workload {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

const fn target(rt: Rt, key: &'static str, higher_is_better: bool, goal: f64) -> Target {
    Target {
        rt,
        key,
        higher_is_better,
        goal,
    }
}

fn no_mode(_: Rt) -> Option<&'static str> {
    None
}

/// Every in-process workload, in run order.
pub static WORKLOADS: [Workload; 9] = [
    Workload {
        name: "w1",
        variants: &[Rt::Ct, Rt::Mt],
        mode: no_mode,
        run: w1,
        targets: &[
            target(Rt::Ct, "msgs_per_sec", true, 2.0),
            target(Rt::Mt, "msgs_per_sec", true, 2.0),
        ],
    },
    Workload {
        name: "w2",
        variants: &[Rt::Ct, Rt::Mt],
        mode: no_mode,
        run: w2,
        targets: &[
            target(Rt::Ct, "p50_ns", false, 0.5),
            target(Rt::Mt, "p50_ns", false, 0.5),
        ],
    },
    Workload {
        name: "w3",
        variants: &[Rt::Ct],
        mode: no_mode,
        run: w3,
        targets: &[
            target(Rt::Ct, "bytes_per_actor", false, 0.5),
            target(Rt::Ct, "ns_per_spawn", false, 1.0),
        ],
    },
    Workload {
        name: "w4",
        variants: &[Rt::Ct, Rt::Mt],
        mode: no_mode,
        run: w4,
        targets: &[
            target(Rt::Ct, "deliveries_per_sec", true, 4.0),
            target(Rt::Mt, "deliveries_per_sec", true, 4.0),
        ],
    },
    Workload {
        name: "w14",
        variants: &[Rt::Ct, Rt::Mt],
        mode: no_mode,
        run: w14,
        targets: &[
            target(Rt::Ct, "msgs_per_sec", true, f64::NAN),
            target(Rt::Mt, "msgs_per_sec", true, f64::NAN),
        ],
    },
    Workload {
        name: "w5",
        variants: &[Rt::Ct],
        mode: no_mode,
        run: w5,
        targets: &[target(Rt::Ct, "p50_ns", false, 0.5)],
    },
    Workload {
        name: "w6",
        variants: &[Rt::Mt, Rt::Ct],
        mode: w6_mode,
        run: w6,
        targets: &[
            target(Rt::Mt, "msgs_per_sec", true, 2.0),
            target(Rt::Ct, "msgs_per_sec", true, 2.0),
        ],
    },
    Workload {
        name: "w7",
        variants: &[Rt::Ct],
        mode: no_mode,
        run: w7,
        targets: &[
            target(Rt::Ct, "ns_per_bus", false, f64::NAN),
            target(Rt::Ct, "bytes_per_bus", false, f64::NAN),
        ],
    },
    Workload {
        name: "w13",
        variants: &[Rt::Ct, Rt::Mt],
        mode: no_mode,
        run: w13,
        targets: &[
            target(Rt::Ct, "p99_ns", false, 0.5),
            target(Rt::Mt, "p99_ns", false, 0.5),
        ],
    },
];

/// The workload called `name`.
pub fn parse(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

fn latency_values(samples: &mut [u64], p999_mean: bool) -> Outcome {
    let l = Latency::from_samples(samples);
    let mut v = vec![("p50_ns", l.p50 as f64), ("p99_ns", l.p99 as f64)];
    if p999_mean {
        v.push(("p999_ns", l.p999 as f64));
        v.push(("mean_ns", l.mean as f64));
    }
    Outcome::Values(v)
}

fn w1(fw: &'static dyn Framework, rt: Rt, cx: &Ctx<'_>) -> Outcome {
    Outcome::Values(vec![("msgs_per_sec", fw.w1(rt, cx.counts.w1_tells))])
}

fn w2(fw: &'static dyn Framework, rt: Rt, cx: &Ctx<'_>) -> Outcome {
    let mut samples = fw.w2(rt, cx.counts.w2_asks, cx.counts.w2_warmup);
    latency_values(&mut samples, true)
}

/// w3 reads the RSS growth of its own process: like every run, it has a fresh one (`__run`),
/// so allocator state left by earlier workloads does not skew it.
fn w3(fw: &'static dyn Framework, _: Rt, cx: &Ctx<'_>) -> Outcome {
    w3_outcome(fw.w3(cx.counts.w3_actors))
}

/// w3's keys (also printed by the hidden `__w3`, a w3 run of any size for profilers).
pub fn w3_outcome(r: SpawnResult) -> Outcome {
    Outcome::Values(vec![
        ("ns_per_spawn", r.ns_per_spawn),
        ("bytes_per_actor", r.bytes_per_actor),
        ("stop_secs", r.stop_secs),
    ])
}

fn w4(fw: &'static dyn Framework, rt: Rt, cx: &Ctx<'_>) -> Outcome {
    let r = fw.w4(rt, cx.counts.w4_msgs, crate::w4::W4);
    Outcome::Values(vec![
        ("deliveries_per_sec", r.deliveries_per_sec),
        ("lost", r.lost),
    ])
}

/// w14: one subscriber, so a delivery is a message.
fn w14(fw: &'static dyn Framework, rt: Rt, cx: &Ctx<'_>) -> Outcome {
    let r = fw.w4(rt, cx.counts.w14_msgs, crate::w4::W14);
    Outcome::Values(vec![
        ("msgs_per_sec", r.deliveries_per_sec),
        ("lost", r.lost),
    ])
}

fn w5(fw: &'static dyn Framework, _: Rt, cx: &Ctx<'_>) -> Outcome {
    match with_quiet_panics(|| fw.w5(cx.counts.w5_restarts)) {
        Ok(mut samples) => latency_values(&mut samples, false),
        Err(u) => Outcome::Unsupported(u.0),
    }
}

/// rt=mt: `mode=shared`; rt=ct: `mode=iso`.
fn w6_mode(rt: Rt) -> Option<&'static str> {
    Some(match rt {
        Rt::Mt => "shared",
        Rt::Ct => "iso",
    })
}

fn w6(fw: &'static dyn Framework, rt: Rt, cx: &Ctx<'_>) -> Outcome {
    let r = fw.w6(rt, cx.counts.w6_instances, cx.counts.w6_msgs);
    Outcome::Values(vec![("msgs_per_sec", r.msgs_per_sec), ("secs", r.secs)])
}

/// w7 reads its process's RSS growth too: like every run, it has a fresh process (`__run`).
fn w7(fw: &'static dyn Framework, _: Rt, cx: &Ctx<'_>) -> Outcome {
    Outcome::Values(fw.w7(cx.counts.w7_buses).values())
}

fn w13(fw: &'static dyn Framework, rt: Rt, cx: &Ctx<'_>) -> Outcome {
    let Some(rate) = cx.rates.get(rt) else {
        return Outcome::Unsupported("no offered rate".into());
    };
    let period_ns = (1e9 / rate).max(1.0) as u64;
    let mut run = fw.w13(rt, cx.counts.w13_msgs, period_ns);
    let l = Latency::from_samples(&mut run.samples);
    Outcome::Values(vec![
        ("rate", rate),
        ("p50_ns", l.p50 as f64),
        ("p99_ns", l.p99 as f64),
        ("p999_ns", l.p999 as f64),
    ])
}

/// Runs this binary with `args` in a fresh process and reads the outcome it prints on its
/// last line ([`print_outcome`]); a child that cannot start or fails is the outcome's reason.
pub fn child(args: &[&str]) -> Outcome {
    let stdout = match child_stdout(args) {
        Ok(out) => out,
        Err(why) => return Outcome::Unsupported(why),
    };
    let line = stdout.lines().last().unwrap_or("");
    if let Some(why) = line.strip_prefix("unsupported=") {
        return Outcome::Unsupported(why.to_string());
    }
    let vals = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (intern(k), v.parse::<f64>().unwrap_or(f64::NAN)))
        .collect();
    Outcome::Values(vals)
}

/// Prints `outcome` as a child's last line of stdout: `key=value ...`, or
/// `unsupported=<reason>` ([`child`] reads it back).
pub fn print_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Values(vals) => {
            let line: Vec<String> = vals.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("{}", line.join(" "));
        }
        Outcome::Unsupported(why) => println!("unsupported={why}"),
    }
}

fn child_stdout(args: &[&str]) -> Result<String, String> {
    let out = std::env::current_exe()
        .and_then(|exe| Command::new(exe).args(args).output())
        .map_err(|e| format!("child_not_started:{e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child_failed:{}:{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A key read from a child, as the `&'static str` an [`Outcome`] holds: each distinct key is
/// kept once for the life of the process (a handful of names).
fn intern(key: &str) -> &'static str {
    static KEYS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut keys = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = keys.iter().find(|k| **k == key) {
        return k;
    }
    let k: &'static str = Box::leak(key.to_string().into_boxed_str());
    keys.push(k);
    k
}

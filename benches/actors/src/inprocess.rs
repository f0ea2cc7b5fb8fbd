//! The in-process workloads of `compare`: its options, one fresh process of this binary per
//! run of one workload for one framework and variant (`__run`), w13's offered rate, and the
//! rounds of runs with their medians and summary.

mod rounds;
mod summary;

use std::process::ExitCode;
use std::time::Instant;

use crate::common::{self, reset_counters, Rt};
use crate::framework::{self, Framework};
use crate::fw_mycelium;
use crate::spells::{self, Spells};
use crate::usage;
use crate::w13;
use crate::workload::{self, Ctx, Outcome, W13Rates, Workload, FULL, QUICK, WORKLOADS};

use self::rounds::{medians, Record};
use self::summary::summary;

pub(crate) struct Options {
    quick: bool,
    workloads: Vec<&'static Workload>,
    frameworks: Vec<&'static dyn Framework>,
    /// `None`: 3 rounds in full mode, 1 in quick mode.
    rounds: Option<usize>,
    /// Only this runtime variant (`--rt ct|mt`); `None`: every variant of each workload.
    rt: Option<Rt>,
}

pub(crate) fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        quick: false,
        workloads: WORKLOADS.iter().collect(),
        frameworks: framework::ALL.to_vec(),
        rounds: None,
        rt: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--only" => {
                opts.workloads = value("--only")?
                    .split(',')
                    .map(|w| workload::parse(w).ok_or_else(|| format!("unknown workload {w}")))
                    .collect::<Result<_, _>>()?;
            }
            "--frameworks" => {
                opts.frameworks = value("--frameworks")?
                    .split(',')
                    .map(|f| framework::parse(f).ok_or_else(|| format!("unknown framework {f}")))
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => {
                let rounds: usize = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?;
                opts.rounds = Some(rounds);
                if rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
            }
            "--rt" => {
                let label = value("--rt")?;
                opts.rt = Some(
                    Rt::parse(&label)
                        .ok_or_else(|| format!("unknown runtime {label} (ct or mt)"))?,
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    // Run order is the table's, each workload once.
    opts.workloads = WORKLOADS
        .iter()
        .filter(|w| opts.workloads.contains(w))
        .collect();
    Ok(opts)
}

/// w13's offered rate on `rt`: half of the slowest peer's unpaced maximum (the peers among
/// `frameworks`; Mycelium's own when no peer is selected). Prints each maximum.
fn w13_rate(rt: Rt, frameworks: &[&'static dyn Framework], n: u64) -> f64 {
    let peers: Vec<&dyn Framework> = frameworks.iter().copied().filter(|f| f.is_peer()).collect();
    let measured = if peers.is_empty() {
        vec![framework::ALL[0]]
    } else {
        peers
    };
    let mut slowest = f64::INFINITY;
    for fw in measured {
        let max = match workload::child(&["__w13max", fw.name(), rt.label(), &n.to_string()]) {
            Outcome::Values(v) => v.first().map_or(f64::NAN, |(_, max)| *max),
            Outcome::Unsupported(why) => {
                eprintln!("# w13 rt={} {}: {why}", rt.label(), fw.name());
                f64::NAN
            }
        };
        println!(
            "# w13 rt={} {} max_msgs_per_sec={}",
            rt.label(),
            fw.name(),
            max.round() as u64
        );
        slowest = slowest.min(max);
    }
    let rate = slowest / 2.0;
    println!(
        "# w13 rt={} offered rate={} msgs/s (half of the slowest max)",
        rt.label(),
        rate.round() as u64
    );
    let mut late = w13::driver_floor(rt, n, (1e9 / rate).max(1.0) as u64);
    let floor = common::Latency::from_samples(&mut late);
    println!(
        "# w13 rt={} floor (the driver alone, each message recorded when it is sent) \
         p50_ns={} p99_ns={} p999_ns={}",
        rt.label(),
        floor.p50,
        floor.p99,
        floor.p999
    );
    rate
}

fn run_one(
    w: &'static Workload,
    fw: &'static dyn Framework,
    rt: Rt,
    counts: &workload::Counts,
    rates: &W13Rates,
) -> Outcome {
    if let Some(why) = fw.skips(w.name) {
        return Outcome::Unsupported(why.into());
    }
    (w.run)(fw, rt, &Ctx { counts, rates })
}

/// Runs one workload for one framework and variant in a fresh process of this binary
/// (`__run`), so that no run finds the allocator as an earlier one left it. A framework that
/// queues a workload's messages without bound grows the heap by hundreds of megabytes, and
/// the next run in the same process, its own or another's, found those pages already mapped:
/// actix's w1 rt=ct ran at 8 M msgs/s in its first round of a process and 19-20 M in the next
/// two (measured at c306a85, 2026-11-26: docs/perf/actors.md).
fn isolated(
    w: &'static Workload,
    fw: &'static dyn Framework,
    rt: Rt,
    quick: bool,
    rates: &W13Rates,
) -> Outcome {
    if let Some(why) = fw.skips(w.name) {
        return Outcome::Unsupported(why.into());
    }
    let rate = rates
        .get(rt)
        .map_or_else(|| "-".to_string(), |r| r.to_string());
    let mode = if quick { "quick" } else { "full" };
    workload::child(&["__run", w.name, fw.name(), rt.label(), mode, &rate])
}

/// `__run <workload> <framework> <ct|mt> <quick|full> <w13 rate or ->`: prints the outcome
/// on one line of stdout (`key=value ...`, or `unsupported=<reason>`).
pub(crate) fn run_child(args: &[String]) -> ExitCode {
    let [name, fw, rt, mode, rate] = args else {
        return usage();
    };
    let (Some(w), Some(fw), Some(rt)) = (
        WORKLOADS.iter().find(|w| w.name == name.as_str()),
        framework::parse(fw),
        Rt::parse(rt),
    ) else {
        return usage();
    };
    let counts = match mode.as_str() {
        "quick" => QUICK,
        "full" => FULL,
        _ => return usage(),
    };
    let mut rates = W13Rates::default();
    if let Ok(r) = rate.parse::<f64>() {
        match rt {
            Rt::Ct => rates.ct = Some(r),
            Rt::Mt => rates.mt = Some(r),
        }
    }
    if framework::same(fw, &fw_mycelium::MYCELIUM_METRICS) {
        fw_mycelium::install_recorder();
    }
    reset_counters();
    let (mut outcome, before, after) =
        spells::between_references(|| run_one(w, fw, rt, &counts, &rates));
    if let Outcome::Values(vals) = &mut outcome {
        vals.push((spells::BEFORE, before));
        vals.push((spells::AFTER, after));
    }
    workload::print_outcome(&outcome);
    ExitCode::SUCCESS
}

/// Runs the in-process workloads, each run checked for a slow spell by `spells`; adds the
/// slower reference of each run kept to `slowers`. Returns how many runs failed in their
/// process (a panic, a crash), which `main` turns into a failing exit after printing
/// everything.
pub(crate) fn compare(opts: &Options, spells: &mut Spells, slowers: &mut Vec<f64>) -> usize {
    let counts = if opts.quick { QUICK } else { FULL };
    let n_rounds = opts.rounds.unwrap_or(if opts.quick { 1 } else { 3 });
    let started = Instant::now();
    if opts
        .frameworks
        .iter()
        .any(|f| framework::same(*f, &fw_mycelium::MYCELIUM_METRICS))
    {
        fw_mycelium::install_recorder();
    }
    let mut rates = W13Rates::default();
    if let Some(w13) = opts.workloads.iter().find(|w| w.name == "w13") {
        for &rt in w13.variants {
            if !matches!(opts.rt, Some(o) if o != rt) {
                let rate = Some(w13_rate(rt, &opts.frameworks, counts.w13_msgs));
                match rt {
                    Rt::Ct => rates.ct = rate,
                    Rt::Mt => rates.mt = rate,
                }
            }
        }
    }
    // Runs that failed in their process (`workload::child`).
    let mut failed = 0;
    // rounds[r] holds every record of round r, in run order.
    let mut rounds: Vec<Vec<Record>> = Vec::with_capacity(n_rounds);
    for round in 0..n_rounds {
        let mut records = Vec::new();
        for &w in &opts.workloads {
            for &rt in w
                .variants
                .iter()
                .filter(|&&rt| !matches!(opts.rt, Some(o) if o != rt))
            {
                for &fw in &opts.frameworks {
                    let label = format!("{} {} rt={}", w.name, fw.name(), rt.label());
                    let outcome = spells.run(
                        &label,
                        || isolated(w, fw, rt, opts.quick, &rates),
                        references,
                    );
                    if matches!(&outcome, Outcome::Unsupported(why) if why.starts_with("child_")) {
                        failed += 1;
                    }
                    let rec = Record {
                        workload: w,
                        framework: fw,
                        rt,
                        outcome,
                    };
                    if n_rounds > 1 {
                        eprintln!("# round {} {}", round + 1, rec.line());
                    }
                    records.push(rec);
                }
            }
        }
        rounds.push(records);
    }
    slowers.extend(
        rounds
            .iter()
            .flatten()
            .filter_map(|rec| references(&rec.outcome).map(|(slower, _)| slower)),
    );
    let finals = if n_rounds == 1 {
        rounds.pop().unwrap_or_default()
    } else {
        medians(&rounds)
    };
    if n_rounds > 1 {
        println!("# median of {n_rounds} rounds (per-round lines on stderr)");
    }
    for rec in &finals {
        println!("{}", rec.line());
    }
    summary(&finals);
    println!(
        "# {} mode, {:.1}s total",
        if opts.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    failed
}

/// The slower and the faster of a run's two reference loops (`None`: no reference, as for
/// an unsupported run or one that failed in its process).
fn references(outcome: &Outcome) -> Option<(f64, f64)> {
    match outcome {
        Outcome::Values(vals) => spells::references(vals),
        Outcome::Unsupported(_) => None,
    }
}

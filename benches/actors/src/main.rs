#![warn(missing_docs)]
//! Actor benchmark: Mycelium beside kameo 0.22, ractor 0.16 and actix 0.13.
//!
//! ```text
//! cargo run --release -p mycelium-bench -- compare [--quick] [--only w1,w2,w3,w4,w5,w6,w7,w8,w9,w13]
//!     [--frameworks mycelium,kameo,ractor,actix,mycelium-metrics,mycelium-hibernating,mycelium-supervised] [--rounds N] [--retries N] [--rt ct|mt]
//! ```
//!
//! `mycelium-metrics` (never run unless named) is Mycelium on a bus built with
//! `metrics(true)`, with the Prometheus recorder installed in the process: the cost of the
//! metrics, read as its ratio to `mycelium` in the same run (w1, w2 and w13 only).
//! `mycelium-hibernating` (never run unless named) spawns the actors of w2, w3 and w4 with
//! `SpawnOptions::hibernate`: actors that hold no task while they have no mail (w3: their
//! memory; w2: every ask wakes one; w4: every batch wakes all the subscribers).
//! `mycelium-supervised` (never run unless named) runs w2 through the address that follows a
//! supervised child (`SupervisorRef::child_reply_recipient`).
//!
//! Prints one line per workload, framework and variant:
//! `<workload> <framework> rt=<ct|mt> <key>=<value> ...`, then a ratio summary. The full mode
//! runs 3 rounds by default (workloads in turn: w1 for every framework, w2 for every
//! framework, ..., then again) and prints the per-key median of the rounds; the lines of each
//! round go to stderr as they are measured. `--quick` uses 1/100 of the counts and 1 round.
//! Each run of one workload for one framework and variant (and each unpaced w13 run that sets
//! the offered rate) is a fresh process of this binary (hidden `__run`, `__w13max`), so that
//! none finds the heap as an earlier run left it.
//!
//! Each such process also times a fixed reference loop just before and just after its run
//! ([`spells::reference_ns`]; keys `ref_before_ns`, `ref_after_ns`), and so does `compare`
//! around each w8/w9 measurement. The machine has slow spells, seconds long, in which the
//! same code takes 1.2-1.5x longer: a run whose reference took more than
//! [`spells::SLOW_SPELL`] times the fastest reference of the whole `compare` is made again, up
//! to `--retries` times (4 in full mode, none in quick mode), and the attempt with the
//! fastest reference is kept. So every framework is measured on the machine in the same
//! state; the choice reads only the reference loop, never the workload's own figures.
//! Around each w8/w9 measurement `compare` also times a cache line's round trips between two
//! CPUs ([`spells::crossing_ns`]; keys `cross_before_ns`, `cross_after_ns`), which the loop
//! cannot see and which moves on its own on this machine; they count in the reference.
//! w8 and w9 (two processes: `remote.rs` over sockets beside a raw socket and
//! `ractor_cluster`, `shm.rs` over shared memory beside a hand-written ring and iceoryx2)
//! print `transport=<unix|tcp|shm> mode=<block|spin>` lines after the others, each the
//! median of `--rounds` rounds as well (the frameworks of one transport and mode in turn in
//! each round, so that a line and its floor are measured minutes, not tens of minutes,
//! apart); `--frameworks` and `--rt` do not apply to them.
//!
//! Layout: `framework.rs` (the [`framework::Framework`] trait; one implementation per
//! framework in `fw_<name>.rs`), `workload.rs` (the named in-process workloads, their keys and
//! goals), one file per workload whose code is more than a method (`w4.rs`, `w6.rs`, `w7.rs`,
//! `w13.rs`), `remote.rs`, `remote_ractor.rs` and `shm.rs` for w8/w9.

mod common;
mod floor;
mod framework;
mod fw_actix;
mod fw_kameo;
mod fw_mycelium;
mod fw_ractor;
mod remote;
mod remote_ractor;
mod shm;
mod spells;
mod w13;
mod w4;
mod w6;
mod w7;
mod workload;

use std::process::ExitCode;
use std::time::Instant;

use common::{reset_counters, Rt};
use framework::Framework;
use spells::Spells;
use workload::{Ctx, Outcome, W13Rates, Workload, FULL, QUICK, WORKLOADS};

#[derive(Clone)]
struct Record {
    workload: &'static Workload,
    framework: &'static dyn Framework,
    rt: Rt,
    outcome: Outcome,
}

impl Record {
    fn value(&self, key: &str) -> Option<f64> {
        match &self.outcome {
            Outcome::Values(vals) => vals.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            Outcome::Unsupported(_) => None,
        }
    }

    fn line(&self) -> String {
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

fn fmt_value(key: &str, v: f64) -> String {
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

struct Options {
    quick: bool,
    workloads: Vec<&'static Workload>,
    frameworks: Vec<&'static dyn Framework>,
    /// `None`: 3 rounds in full mode, 1 in quick mode.
    rounds: Option<usize>,
    /// Only this runtime variant (`--rt ct|mt`); `None`: every variant of each workload.
    rt: Option<Rt>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: mycelium-bench compare [--quick] [--only w1,w2,w3,w4,w5,w6,w7,w8,w9,w13] \
         [--frameworks mycelium,kameo,ractor,actix,mycelium-metrics,mycelium-hibernating,mycelium-supervised] [--rounds N] [--retries N] [--rt ct|mt]"
    );
    ExitCode::from(2)
}

fn parse_options(args: &[String]) -> Result<Options, String> {
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("compare") => {
            // w8/w9 (two processes over sockets) run apart: see remote.rs.
            let (local, remote_sel) = match remote::split_args(&args[1..]) {
                Ok(split) => split,
                Err(e) => {
                    eprintln!("{e}");
                    return usage();
                }
            };
            let mut failed = 0;
            // The in-process runs are judged by the loop, w8/w9 by the loop and crossings:
            // each kind against the fastest reference of its own kind.
            let mut spells = Spells::new(remote_sel.retries());
            let mut slowers = Vec::new();
            if let Some(local) = local {
                match parse_options(&local) {
                    Ok(opts) => failed = compare(&opts, &mut spells, &mut slowers),
                    Err(e) => {
                        eprintln!("{e}");
                        return usage();
                    }
                }
            }
            let mut remote_spells = Spells::crossed(remote_sel.retries());
            let mut remote_slowers = Vec::new();
            remote::compare(remote_sel, &mut remote_spells, &mut remote_slowers);
            let reports = [
                spells.report(slowers.into_iter()),
                remote_spells.report(remote_slowers.into_iter()),
            ];
            for line in reports.into_iter().flatten() {
                println!("{line}");
            }
            if failed > 0 {
                eprintln!("{failed} run(s) failed in their process (child_failed above)");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        // Hidden: the server process of w8/w9.
        Some("__remote_peer") => remote::peer_main(&args[1..]),
        // Hidden: the other process of the shared-memory lines of w8/w9.
        Some("__shm_peer") => shm::peer_main(&args[1..]),
        // Hidden: one run of an in-process workload, in a fresh process (`isolated`).
        Some("__run") => run_child(&args[1..]),
        // Hidden: w13's unpaced maximum of one framework, in a fresh process.
        Some("__w13max") if args.len() == 4 => {
            let (Some(fw), Some(rt), Ok(n)) = (
                framework::parse(&args[1]),
                Rt::parse(&args[2]),
                args[3].parse::<u64>(),
            ) else {
                return usage();
            };
            let run = fw.w13(rt, n, 0);
            workload::print_outcome(&Outcome::Values(vec![(
                "max_msgs_per_sec",
                n as f64 / run.secs,
            )]));
            ExitCode::SUCCESS
        }
        // Hidden: the reference loop `n` times, `gap_ms` apart, in one process: the slow
        // spells over time (docs/perf/actors.md, "Slow spells").
        Some("__reference") if args.len() == 3 => {
            let (Ok(n), Ok(gap_ms)) = (args[1].parse::<usize>(), args[2].parse::<u64>()) else {
                return usage();
            };
            let times: Vec<String> = (0..n)
                .map(|i| {
                    if i > 0 {
                        std::thread::sleep(std::time::Duration::from_millis(gap_ms));
                    }
                    (spells::reference_ns() / 1_000).to_string()
                })
                .collect();
            println!("reference_us {}", times.join(" "));
            ExitCode::SUCCESS
        }
        // Hidden: one w3 measurement of `n` actors, result on stdout (for profilers).
        Some("__w3") if args.len() == 3 => {
            let (Some(fw), Ok(n)) = (framework::parse(&args[1]), args[2].parse::<usize>()) else {
                return usage();
            };
            reset_counters();
            workload::print_outcome(&workload::w3_outcome(fw.w3(n)));
            ExitCode::SUCCESS
        }
        // Hidden: a supervised tree's shutdown, Mycelium only (`fw_mycelium::tree_shutdown`).
        Some("__tree") if args.len() == 3 => {
            let (Ok(children), Ok(trees)) = (args[1].parse::<usize>(), args[2].parse::<usize>())
            else {
                return usage();
            };
            let ns = fw_mycelium::tree_shutdown(children.max(1), trees.max(1));
            println!("ns_per_child_stopped={ns:.1}");
            ExitCode::SUCCESS
        }
        // Hidden: one w7 measurement of `n` buses, result on stdout (for profilers).
        Some("__w7") if args.len() == 3 => {
            let (Some(fw), Ok(n)) = (framework::parse(&args[1]), args[2].parse::<usize>()) else {
                return usage();
            };
            workload::print_outcome(&Outcome::Values(fw.w7(n).values()));
            ExitCode::SUCCESS
        }
        // Hidden: reference points without an actor layer (bare channels, plain tokio tasks).
        Some("__floor") => {
            let c = if args.get(1).map(String::as_str) == Some("--quick") {
                QUICK
            } else {
                FULL
            };
            for rt in [Rt::Ct, Rt::Mt] {
                for (name, v) in floor::w1_channels(rt, c.w1_tells) {
                    println!(
                        "w1 {name} rt={} msgs_per_sec={}",
                        rt.label(),
                        v.round() as u64
                    );
                }
            }
            for (name, l) in [
                ("mpsc_oneshot", floor::mpsc_oneshot(c.w2_asks, c.w2_warmup)),
                ("handoff", floor::handoff(c.w2_asks, c.w2_warmup)),
            ] {
                println!(
                    "w2 tokio-{name} rt=ct p50_ns={} p99_ns={} p999_ns={} mean_ns={}",
                    l.p50, l.p99, l.p999, l.mean
                );
            }
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
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
/// two (docs/perf/actors.md, "Session twenty-five").
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
fn run_child(args: &[String]) -> ExitCode {
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
fn compare(opts: &Options, spells: &mut Spells, slowers: &mut Vec<f64>) -> usize {
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
fn medians(rounds: &[Vec<Record>]) -> Vec<Record> {
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

/// Prints mycelium / best peer for each target metric.
fn summary(recs: &[Record]) {
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

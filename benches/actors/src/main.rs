//! Actor benchmark: Mycelium beside kameo 0.22, ractor 0.16 and actix 0.13.
//!
//! ```text
//! cargo run --release -p mycelium-bench -- compare [--quick] [--only w1,w2,w3,w4,w5,w6,w7,w8,w9,w13]
//!     [--frameworks mycelium,kameo,ractor,actix,mycelium-metrics] [--rounds N] [--rt ct|mt]
//! ```
//!
//! `mycelium-metrics` (never run unless named) is Mycelium on a bus built with
//! `metrics(true)`, with the Prometheus recorder installed in the process: the cost of the
//! metrics, read as its ratio to `mycelium` in the same run (w1, w2 and w13 only).
//!
//! Prints one line per workload, framework and variant:
//! `<workload> <framework> rt=<ct|mt> <key>=<value> ...`, then a ratio summary. The full mode
//! runs 3 rounds by default (workloads in turn: w1 for every framework, w2 for every
//! framework, ..., then again) and prints the per-key median of the rounds; the lines of each
//! round go to stderr as they are measured. `--quick` uses 1/100 of the counts and 1 round.
//! w8 and w9 (`remote.rs`: two processes over sockets, beside a raw socket) print
//! `transport=<unix|tcp> mode=<block|spin>` lines after the others, one round;
//! `--frameworks`, `--rounds` and `--rt` do not apply to them.

mod common;
mod floor;
mod fw_actix;
mod fw_kameo;
mod fw_mycelium;
mod fw_ractor;
mod remote;
mod w13;
mod w4;
mod w6;
mod w7;

use std::process::{Command, ExitCode};
use std::time::Instant;

use common::{reset_counters, with_quiet_panics, Latency, Rt, SpawnResult, W5Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framework {
    Mycelium,
    Kameo,
    Ractor,
    Actix,
    /// Mycelium with metrics on (not a peer; only when named in `--frameworks`).
    MyceliumMetrics,
}

const ALL_FRAMEWORKS: [Framework; 4] = [
    Framework::Mycelium,
    Framework::Kameo,
    Framework::Ractor,
    Framework::Actix,
];

impl Framework {
    fn name(self) -> &'static str {
        match self {
            Framework::Mycelium => "mycelium",
            Framework::Kameo => "kameo",
            Framework::Ractor => "ractor",
            Framework::Actix => "actix",
            Framework::MyceliumMetrics => "mycelium-metrics",
        }
    }

    fn parse(s: &str) -> Option<Framework> {
        ALL_FRAMEWORKS
            .into_iter()
            .chain([Framework::MyceliumMetrics])
            .find(|f| f.name() == s)
    }

    fn w1(self, rt: Rt, n: u64) -> f64 {
        match self {
            Framework::Mycelium => fw_mycelium::w1(rt, n),
            Framework::MyceliumMetrics => fw_mycelium::with_metrics(|| fw_mycelium::w1(rt, n)),
            Framework::Kameo => fw_kameo::w1(rt, n),
            Framework::Ractor => fw_ractor::w1(rt, n),
            Framework::Actix => fw_actix::w1(rt, n),
        }
    }

    fn w2(self, rt: Rt, n: usize, warmup: usize) -> Vec<u64> {
        match self {
            Framework::Mycelium => fw_mycelium::w2(rt, n, warmup),
            Framework::MyceliumMetrics => {
                fw_mycelium::with_metrics(|| fw_mycelium::w2(rt, n, warmup))
            }
            Framework::Kameo => fw_kameo::w2(rt, n, warmup),
            Framework::Ractor => fw_ractor::w2(rt, n, warmup),
            Framework::Actix => fw_actix::w2(rt, n, warmup),
        }
    }

    fn w3(self, n: usize) -> SpawnResult {
        reset_counters();
        match self {
            Framework::Mycelium | Framework::MyceliumMetrics => fw_mycelium::w3(n),
            Framework::Kameo => fw_kameo::w3(n),
            Framework::Ractor => fw_ractor::w3(n),
            Framework::Actix => fw_actix::w3(n),
        }
    }

    fn w5(self, n: usize) -> W5Result {
        with_quiet_panics(|| match self {
            Framework::Mycelium | Framework::MyceliumMetrics => fw_mycelium::w5(n),
            Framework::Kameo => fw_kameo::w5(n),
            Framework::Ractor => fw_ractor::w5(n),
            Framework::Actix => fw_actix::w5(n),
        })
    }

    fn w4(self, rt: Rt, n: u64) -> w4::W4Result {
        match self {
            Framework::Mycelium | Framework::MyceliumMetrics => w4::mycelium::run(rt, n),
            Framework::Kameo => w4::kameo::run(rt, n),
            Framework::Ractor => w4::ractor::run(rt, n),
            Framework::Actix => w4::actix::run(rt, n),
        }
    }

    /// rt=mt: `mode=shared`; rt=ct: `mode=iso`.
    fn w6(self, rt: Rt, instances: usize, n: u64) -> w6::W6Result {
        match self {
            Framework::Mycelium | Framework::MyceliumMetrics => w6::mycelium::run(rt, instances, n),
            Framework::Kameo => w6::kameo::run(rt, instances, n),
            Framework::Ractor => w6::ractor::run(rt, instances, n),
            Framework::Actix => w6::actix::run(rt, instances, n),
        }
    }

    /// One w13 run: `n` messages, one every `period_ns` (0: unpaced).
    fn w13(self, rt: Rt, n: u64, period_ns: u64) -> w13::W13Run {
        match self {
            Framework::Mycelium => w13::mycelium::run(rt, n, period_ns, false),
            Framework::MyceliumMetrics => w13::mycelium::run(rt, n, period_ns, true),
            Framework::Kameo => w13::kameo::run(rt, n, period_ns),
            Framework::Ractor => w13::ractor::run(rt, n, period_ns),
            Framework::Actix => w13::actix::run(rt, n, period_ns),
        }
    }

    fn w7(self, n: usize) -> w7::W7Result {
        match self {
            Framework::Mycelium | Framework::MyceliumMetrics => w7::mycelium(n),
            Framework::Kameo => w7::kameo(n),
            Framework::Ractor => w7::ractor(n),
            Framework::Actix => w7::actix(n),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    W1,
    W2,
    W3,
    W4,
    W5,
    W6,
    W7,
    W13,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W5 => "w5",
            Workload::W6 => "w6",
            Workload::W7 => "w7",
            Workload::W13 => "w13",
        }
    }

    fn parse(s: &str) -> Option<Workload> {
        [
            Workload::W1,
            Workload::W2,
            Workload::W3,
            Workload::W4,
            Workload::W5,
            Workload::W6,
            Workload::W7,
            Workload::W13,
        ]
        .into_iter()
        .find(|w| w.name() == s)
    }

    /// Runtime variants reported for this workload.
    fn variants(self) -> &'static [Rt] {
        match self {
            Workload::W1 | Workload::W2 | Workload::W4 | Workload::W13 => &[Rt::Ct, Rt::Mt],
            Workload::W6 => &[Rt::Mt, Rt::Ct],
            Workload::W3 | Workload::W5 | Workload::W7 => &[Rt::Ct],
        }
    }

    /// The `mode=` key printed after `rt=` (w6: `shared` on rt=mt, `iso` on rt=ct).
    fn mode(self, rt: Rt) -> Option<&'static str> {
        match (self, rt) {
            (Workload::W6, Rt::Mt) => Some("shared"),
            (Workload::W6, Rt::Ct) => Some("iso"),
            _ => None,
        }
    }
}

/// Iteration counts for one run.
#[derive(Clone, Copy, Debug)]
struct Counts {
    w1_tells: u64,
    w2_asks: usize,
    w2_warmup: usize,
    w3_actors: usize,
    w5_restarts: usize,
    w4_msgs: u64,
    w6_instances: usize,
    w6_msgs: u64,
    w7_buses: usize,
    w13_msgs: u64,
}

const FULL: Counts = Counts {
    w1_tells: 2_000_000,
    w2_asks: 200_000,
    w2_warmup: 10_000,
    w3_actors: 100_000,
    w5_restarts: 1_000,
    w4_msgs: 100_000,
    w6_instances: 1_000,
    w6_msgs: 1_000,
    w7_buses: 10_000,
    w13_msgs: 200_000,
};

const QUICK: Counts = Counts {
    w1_tells: 20_000,
    w2_asks: 2_000,
    w2_warmup: 100,
    w3_actors: 1_000,
    w5_restarts: 10,
    w4_msgs: 1_000,
    w6_instances: 20,
    w6_msgs: 100,
    w7_buses: 100,
    w13_msgs: 2_000,
};

/// Outcome of one workload for one framework and runtime variant.
#[derive(Clone, Debug)]
enum Outcome {
    Values(Vec<(&'static str, f64)>),
    Unsupported(String),
}

#[derive(Clone, Debug)]
struct Record {
    workload: Workload,
    framework: Framework,
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
            self.workload.name(),
            self.framework.name(),
            self.rt.label()
        );
        if let Some(mode) = self.workload.mode(self.rt) {
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
        "bytes_per_actor" | "ns_per_spawn" | "ns_per_bus" | "bytes_per_bus" => format!("{v:.1}"),
        _ => format!("{}", v.round() as u64),
    }
}

struct Options {
    quick: bool,
    workloads: Vec<Workload>,
    frameworks: Vec<Framework>,
    /// `None`: 3 rounds in full mode, 1 in quick mode.
    rounds: Option<usize>,
    /// Only this runtime variant (`--rt ct|mt`); `None`: every variant of each workload.
    rt: Option<Rt>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: mycelium-bench compare [--quick] [--only w1,w2,w3,w4,w5,w6,w7,w8,w9,w13] \
         [--frameworks mycelium,kameo,ractor,actix,mycelium-metrics] [--rounds N] [--rt ct|mt]"
    );
    ExitCode::from(2)
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        quick: false,
        workloads: vec![
            Workload::W1,
            Workload::W2,
            Workload::W3,
            Workload::W4,
            Workload::W5,
            Workload::W6,
            Workload::W7,
            Workload::W13,
        ],
        frameworks: ALL_FRAMEWORKS.to_vec(),
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
                    .map(|w| Workload::parse(w).ok_or_else(|| format!("unknown workload {w}")))
                    .collect::<Result<_, _>>()?;
            }
            "--frameworks" => {
                opts.frameworks = value("--frameworks")?
                    .split(',')
                    .map(|f| Framework::parse(f).ok_or_else(|| format!("unknown framework {f}")))
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
                opts.rt = Some(match value("--rt")?.as_str() {
                    "ct" => Rt::Ct,
                    "mt" => Rt::Mt,
                    other => return Err(format!("unknown runtime {other} (ct or mt)")),
                });
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    opts.workloads.sort();
    opts.workloads.dedup();
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("compare") => {
            // w8/w9 (two processes over sockets) run apart: see remote.rs.
            let (local, remote_sel) = remote::split_args(&args[1..]);
            if let Some(local) = local {
                match parse_options(&local) {
                    Ok(opts) => compare(&opts),
                    Err(e) => {
                        eprintln!("{e}");
                        return usage();
                    }
                }
            }
            remote::compare(remote_sel);
            ExitCode::SUCCESS
        }
        // Hidden: the server process of w8/w9.
        Some("__remote_peer") => remote::peer_main(&args[1..]),
        // Hidden: one w3 measurement in a fresh process, result on stdout.
        Some("__w3") if args.len() == 3 => {
            let (Some(fw), Ok(n)) = (Framework::parse(&args[1]), args[2].parse::<usize>()) else {
                return usage();
            };
            let r = fw.w3(n);
            println!(
                "ns_per_spawn={} bytes_per_actor={} stop_secs={}",
                r.ns_per_spawn, r.bytes_per_actor, r.stop_secs
            );
            ExitCode::SUCCESS
        }
        // Hidden: one w7 measurement in a fresh process, result on stdout.
        Some("__w7") if args.len() == 3 => {
            let (Some(fw), Ok(n)) = (Framework::parse(&args[1]), args[2].parse::<usize>()) else {
                return usage();
            };
            let r = fw.w7(n);
            println!(
                "ns_per_bus={} bytes_per_bus={}",
                r.ns_per_bus, r.bytes_per_bus
            );
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

/// Runs w3 for `fw` in a fresh child process of this binary, so allocator state left by
/// earlier workloads does not skew the RSS growth.
fn w3_in_child(fw: Framework, n: usize) -> Outcome {
    in_child(
        "__w3",
        fw,
        n,
        &["ns_per_spawn", "bytes_per_actor", "stop_secs"],
    )
}

/// Runs the hidden subcommand `cmd` for `fw` in a fresh child process of this binary and
/// reads `keys` from its stdout.
fn in_child(cmd: &str, fw: Framework, n: usize, keys: &[&'static str]) -> Outcome {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([cmd, fw.name(), &n.to_string()])
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Outcome::Unsupported(format!(
            "child_failed:{}:{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut vals = Vec::new();
    for &key in keys {
        let v = stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        vals.push((key, v));
    }
    Outcome::Values(vals)
}

/// w13's offered rate per runtime variant, in messages per second.
#[derive(Clone, Copy, Debug, Default)]
struct W13Rates {
    ct: Option<f64>,
    mt: Option<f64>,
}

impl W13Rates {
    fn get(&self, rt: Rt) -> Option<f64> {
        match rt {
            Rt::Ct => self.ct,
            Rt::Mt => self.mt,
        }
    }
}

/// w13's offered rate on `rt`: half of the slowest peer's unpaced maximum (the peers among
/// `frameworks`; Mycelium's own when no peer is selected). Prints each maximum.
fn w13_rate(rt: Rt, frameworks: &[Framework], n: u64) -> f64 {
    let peers: Vec<Framework> = frameworks
        .iter()
        .copied()
        .filter(|f| !matches!(f, Framework::Mycelium | Framework::MyceliumMetrics))
        .collect();
    let measured = if peers.is_empty() {
        vec![Framework::Mycelium]
    } else {
        peers
    };
    let mut slowest = f64::INFINITY;
    for fw in measured {
        let run = fw.w13(rt, n, 0);
        let max = n as f64 / run.secs;
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
    rate
}

fn run_one(w: Workload, fw: Framework, rt: Rt, c: &Counts, rates: &W13Rates) -> Outcome {
    if fw == Framework::MyceliumMetrics && !matches!(w, Workload::W1 | Workload::W2 | Workload::W13)
    {
        return Outcome::Unsupported("metrics variant measured on w1, w2, w13 only".into());
    }
    match w {
        Workload::W1 => Outcome::Values(vec![("msgs_per_sec", fw.w1(rt, c.w1_tells))]),
        Workload::W2 => {
            let mut samples = fw.w2(rt, c.w2_asks, c.w2_warmup);
            let l = Latency::from_samples(&mut samples);
            Outcome::Values(vec![
                ("p50_ns", l.p50 as f64),
                ("p99_ns", l.p99 as f64),
                ("p999_ns", l.p999 as f64),
                ("mean_ns", l.mean as f64),
            ])
        }
        Workload::W3 => w3_in_child(fw, c.w3_actors),
        Workload::W5 => match fw.w5(c.w5_restarts) {
            Ok(mut samples) => {
                let l = Latency::from_samples(&mut samples);
                Outcome::Values(vec![("p50_ns", l.p50 as f64), ("p99_ns", l.p99 as f64)])
            }
            Err(u) => Outcome::Unsupported(u.0),
        },
        Workload::W4 => {
            let r = fw.w4(rt, c.w4_msgs);
            Outcome::Values(vec![
                ("deliveries_per_sec", r.deliveries_per_sec),
                ("lost", r.lost),
            ])
        }
        Workload::W6 => {
            let r = fw.w6(rt, c.w6_instances, c.w6_msgs);
            Outcome::Values(vec![("msgs_per_sec", r.msgs_per_sec), ("secs", r.secs)])
        }
        Workload::W7 => in_child("__w7", fw, c.w7_buses, &["ns_per_bus", "bytes_per_bus"]),
        Workload::W13 => {
            let Some(rate) = rates.get(rt) else {
                return Outcome::Unsupported("no offered rate".into());
            };
            let period_ns = (1e9 / rate).max(1.0) as u64;
            let mut run = fw.w13(rt, c.w13_msgs, period_ns);
            let l = Latency::from_samples(&mut run.samples);
            Outcome::Values(vec![
                ("rate", rate),
                ("p50_ns", l.p50 as f64),
                ("p99_ns", l.p99 as f64),
                ("p999_ns", l.p999 as f64),
            ])
        }
    }
}

fn compare(opts: &Options) {
    let counts = if opts.quick { QUICK } else { FULL };
    let n_rounds = opts.rounds.unwrap_or(if opts.quick { 1 } else { 3 });
    let started = Instant::now();
    if opts.frameworks.contains(&Framework::MyceliumMetrics) {
        fw_mycelium::install_recorder();
    }
    let mut rates = W13Rates::default();
    if opts.workloads.contains(&Workload::W13) {
        for &rt in Workload::W13.variants() {
            if !matches!(opts.rt, Some(o) if o != rt) {
                let rate = Some(w13_rate(rt, &opts.frameworks, counts.w13_msgs));
                match rt {
                    Rt::Ct => rates.ct = rate,
                    Rt::Mt => rates.mt = rate,
                }
            }
        }
    }
    // rounds[r] holds every record of round r, in run order.
    let mut rounds: Vec<Vec<Record>> = Vec::with_capacity(n_rounds);
    for round in 0..n_rounds {
        let mut records = Vec::new();
        for &w in &opts.workloads {
            for &rt in w
                .variants()
                .iter()
                .filter(|&&rt| !matches!(opts.rt, Some(o) if o != rt))
            {
                for &fw in &opts.frameworks {
                    let outcome = run_one(w, fw, rt, &counts, &rates);
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
    struct Target {
        w: Workload,
        rt: Rt,
        key: &'static str,
        higher_is_better: bool,
        goal: f64,
    }
    let targets = [
        Target {
            w: Workload::W1,
            rt: Rt::Ct,
            key: "msgs_per_sec",
            higher_is_better: true,
            goal: 2.0,
        },
        Target {
            w: Workload::W1,
            rt: Rt::Mt,
            key: "msgs_per_sec",
            higher_is_better: true,
            goal: 2.0,
        },
        Target {
            w: Workload::W2,
            rt: Rt::Ct,
            key: "p50_ns",
            higher_is_better: false,
            goal: 0.5,
        },
        Target {
            w: Workload::W2,
            rt: Rt::Mt,
            key: "p50_ns",
            higher_is_better: false,
            goal: 0.5,
        },
        Target {
            w: Workload::W3,
            rt: Rt::Ct,
            key: "bytes_per_actor",
            higher_is_better: false,
            goal: 0.5,
        },
        Target {
            w: Workload::W3,
            rt: Rt::Ct,
            key: "ns_per_spawn",
            higher_is_better: false,
            goal: 1.0,
        },
        Target {
            w: Workload::W5,
            rt: Rt::Ct,
            key: "p50_ns",
            higher_is_better: false,
            goal: 0.5,
        },
        Target {
            w: Workload::W4,
            rt: Rt::Ct,
            key: "deliveries_per_sec",
            higher_is_better: true,
            goal: 4.0,
        },
        Target {
            w: Workload::W4,
            rt: Rt::Mt,
            key: "deliveries_per_sec",
            higher_is_better: true,
            goal: 4.0,
        },
        Target {
            w: Workload::W6,
            rt: Rt::Mt,
            key: "msgs_per_sec",
            higher_is_better: true,
            goal: 2.0,
        },
        Target {
            w: Workload::W6,
            rt: Rt::Ct,
            key: "msgs_per_sec",
            higher_is_better: true,
            goal: 2.0,
        },
        // w7: no goal, reported only (NaN goal).
        Target {
            w: Workload::W7,
            rt: Rt::Ct,
            key: "ns_per_bus",
            higher_is_better: false,
            goal: f64::NAN,
        },
        Target {
            w: Workload::W7,
            rt: Rt::Ct,
            key: "bytes_per_bus",
            higher_is_better: false,
            goal: f64::NAN,
        },
        Target {
            w: Workload::W13,
            rt: Rt::Ct,
            key: "p99_ns",
            higher_is_better: false,
            goal: 0.5,
        },
        Target {
            w: Workload::W13,
            rt: Rt::Mt,
            key: "p99_ns",
            higher_is_better: false,
            goal: 0.5,
        },
    ];
    println!("# ratio summary: mycelium / best peer (same run)");
    for t in targets {
        let variant = match t.w.mode(t.rt) {
            Some(mode) => format!("{} mode={mode}", t.rt.label()),
            None => t.rt.label().to_string(),
        };
        let find = |fw: Framework| {
            recs.iter()
                .find(|r| r.workload == t.w && r.rt == t.rt && r.framework == fw)
        };
        let Some(myc) = find(Framework::Mycelium).and_then(|r| r.value(t.key)) else {
            continue;
        };
        let peers: Vec<(Framework, f64)> = ALL_FRAMEWORKS[1..]
            .iter()
            .filter_map(|&fw| find(fw).and_then(|r| r.value(t.key)).map(|v| (fw, v)))
            .filter(|(_, v)| v.is_finite() && *v > 0.0)
            .collect();
        let best = if t.higher_is_better {
            peers.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
        } else {
            peers.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
        };
        let Some((best_fw, best_v)) = best else {
            println!("# {} rt={variant} {}: no peer result", t.w.name(), t.key);
            continue;
        };
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
            "# {} rt={variant} {}: mycelium={} best_peer={}({}) ratio={:.2} goal={goal}",
            t.w.name(),
            t.key,
            fmt_value(t.key, myc),
            best_fw.name(),
            fmt_value(t.key, best_v),
            ratio,
        );
    }
    metrics_cost(recs);
}

/// Prints mycelium-metrics / mycelium for the workloads both ran: the cost of metrics.
fn metrics_cost(recs: &[Record]) {
    let keys = [
        (Workload::W1, "msgs_per_sec"),
        (Workload::W2, "p50_ns"),
        (Workload::W2, "p99_ns"),
        (Workload::W13, "p50_ns"),
        (Workload::W13, "p99_ns"),
    ];
    for (w, key) in keys {
        for rt in [Rt::Ct, Rt::Mt] {
            let find = |fw: Framework| {
                recs.iter()
                    .find(|r| r.workload == w && r.rt == rt && r.framework == fw)
                    .and_then(|r| r.value(key))
            };
            if let (Some(off), Some(on)) =
                (find(Framework::Mycelium), find(Framework::MyceliumMetrics))
            {
                println!(
                    "# metrics cost {} rt={} {key}: off={} on={} on/off={:.2}",
                    w.name(),
                    rt.label(),
                    fmt_value(key, off),
                    fmt_value(key, on),
                    on / off
                );
            }
        }
    }
}

#![warn(missing_docs)]
//! Actor benchmark: Mycelium beside kameo 0.22, ractor 0.16 and actix 0.13.
//!
//! ```text
//! cargo run --release -p mycelium-bench -- compare [--quick] [--only w1,w2,w3,w4,w5,w6,w7,w8,w9,w13,w14,w15]
//!     [--frameworks mycelium,kameo,ractor,actix,mycelium-metrics,mycelium-hibernating,mycelium-supervised,mycelium-recorded] [--rounds N] [--retries N] [--rt ct|mt]
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
//! `mycelium-recorded` (never run unless named) records w1's counter and w14's subscriber
//! into a journal (`SpawnOptions::record`): the cost of the flight recorder, read as its
//! ratio to `mycelium` in the same run (`# recording cost` lines). w15 (`journal.rs`) is the
//! journal writer beside the floor of plain sequential writes of the same bytes.
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
//! `w13.rs`), `inprocess.rs` (running and reporting the in-process workloads of `compare`: its
//! options, one fresh process per run, w13's offered rate; the rounds, their medians and the
//! summary in `inprocess/`), `remote.rs`, `remote_ractor.rs` and `shm.rs` for w8/w9.

mod common;
mod floor;
mod framework;
mod fw_actix;
mod fw_kameo;
mod fw_mycelium;
mod fw_ractor;
mod inprocess;
mod journal;
mod publications;
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

use common::{reset_counters, Rt};
use inprocess::{compare, parse_options, run_child};
use spells::Spells;
use workload::{Outcome, FULL, QUICK};

fn usage() -> ExitCode {
    eprintln!(
        "usage: mycelium-bench compare [--quick] [--only w1,w2,w3,w4,w5,w6,w7,w8,w9,w13,w14,w15] \
         [--frameworks mycelium,kameo,ractor,actix,mycelium-metrics,mycelium-hibernating,mycelium-supervised,mycelium-recorded] [--rounds N] [--retries N] [--rt ct|mt]\n       mycelium-bench publications [--quick]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("compare") => {
            // w15 (the journal writer beside its floor) runs apart: see journal.rs.
            let (journal_sel, rest) = journal::split_args(&args[1..]);
            let Some(rest) = rest else {
                journal::compare(&journal_sel);
                return ExitCode::SUCCESS;
            };
            // w8/w9 (two processes over sockets) run apart: see remote.rs.
            let (local, remote_sel) = match remote::split_args(&rest) {
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
            journal::compare(&journal_sel);
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
        // A topic's publications across a Unix-socket link (publications.rs).
        Some("publications") => publications::main(&args[1..]),
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

//! w8 and w9: two processes over a Unix socket or TCP loopback.
//!
//! - **w8**, ask round trip: the client asks, the server's actor answers with the same
//!   message; `p50_ns`, `p99_ns` of the round trip seen by the client.
//! - **w9**, one-way tells, then one ask: `n` tells, then one ask answered after all of them
//!   (in order on the link, in order in the mailbox); `msgs_per_sec` = `n` / time from the
//!   first tell to the ask's answer.
//!
//! The server is a second process: this binary run with the hidden subcommand
//! `__remote_peer <framework> <transport> <mode>`, which prints `ready <endpoint>` and serves
//! one client until its stdin closes (or, `raw`, until the client hangs up).
//!
//! Frameworks:
//! - `mycelium`: two nodes of `mycelium-remote` (one bus each, a `current_thread` runtime each),
//!   the client asking through a `ReplyRecipient<Quote, Quote>` and telling through a
//!   `Recipient<Quote>`, the server's actor exported under `echo`. The message is the contract
//!   type `Quote` (`mycelium-contracts`, the closest to a 64-byte payload).
//! - `raw`: the floor. Plain std sockets, fixed frames of exactly the size of a mycelium frame
//!   (codec header, link header, service name, `Quote` body), the first byte saying ping, tell
//!   or ask. The client writes one frame per `write` and reads the answer with `read`; the
//!   server reads whatever is there (up to 64 KiB) and handles each whole frame. `mode=block`:
//!   blocking sockets; `mode=spin`: nonblocking sockets polled in a busy loop.
//! - `ractor`: `ractor_cluster` over TCP and over Unix sockets; see `remote_ractor.rs`.
//!
//! `mode=spin` for mycelium is `Mode::Spin(SPIN)` on both links: the reader polls its socket
//! for up to `SPIN` after the last bytes before parking.

mod mycelium;
mod pair;
mod raw;
mod rounds;
mod summary;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mycelium_contracts::Quote;

use crate::shm;
use crate::spells::Spells;

pub(crate) use self::pair::{expected_count, ready, w8_values, w9_values, PairResult};

use self::mycelium::mycelium_peer;
use self::pair::run_pair;
use self::raw::raw_peer;
use self::rounds::{in_rounds, Line, Vals};
use self::summary::{crossings, ratios};

/// How long a spinning mycelium link reader polls after the last bytes before parking
/// (`MYCELIUM_BENCH_SPIN_US` overrides it, for diagnosis).
pub const SPIN: Duration = Duration::from_micros(200);

fn spin_budget() -> Duration {
    std::env::var("MYCELIUM_BENCH_SPIN_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_micros)
        .unwrap_or(SPIN)
}

/// The modes to run: both, or those named in `MYCELIUM_BENCH_MODES` (`block`, `spin`), for
/// diagnosis.
fn modes() -> Vec<Mode> {
    chosen_modes([Mode::Block, Mode::Spin])
}

/// The shared-memory modes, spin first (as the shm lines have always been printed).
fn shm_modes() -> Vec<Mode> {
    chosen_modes([Mode::Spin, Mode::Block])
}

/// The transports to run: all, or those named in `MYCELIUM_BENCH_TRANSPORTS` (`unix`, `tcp`,
/// `shm`), for diagnosis.
fn chosen_transports<const N: usize>(all: [Transport; N]) -> Vec<Transport> {
    let only = std::env::var("MYCELIUM_BENCH_TRANSPORTS").unwrap_or_default();
    all.into_iter()
        .filter(|t| only.is_empty() || only.split(',').any(|o| o == t.name()))
        .collect()
}

/// The socket implementations to run: all, or those named in `MYCELIUM_BENCH_SOCKETS` (`raw`,
/// `mycelium`, `ractor`), for diagnosis.
fn chosen_socket_fws() -> Vec<Fw> {
    let only = std::env::var("MYCELIUM_BENCH_SOCKETS").unwrap_or_default();
    [Fw::Raw, Fw::Mycelium, Fw::Ractor]
        .into_iter()
        .filter(|f| only.is_empty() || only.split(',').any(|o| o == f.name()))
        .collect()
}

fn chosen_modes(all: [Mode; 2]) -> Vec<Mode> {
    let only = std::env::var("MYCELIUM_BENCH_MODES").unwrap_or_default();
    all.into_iter()
        .filter(|m| only.is_empty() || only.split(',').any(|o| o == m.name()))
        .collect()
}

/// Service name of the server's actor (also the raw frame's name bytes' length).
const SERVICE: &str = "echo";
/// Codec header + link header.
const HEADERS: usize = 32 + 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
    /// Shared memory (`shm.rs`).
    Shm,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
            Transport::Shm => "shm",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Block,
    Spin,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Spin => "spin",
        }
    }
    fn parse(s: &str) -> Option<Mode> {
        [Mode::Block, Mode::Spin]
            .into_iter()
            .find(|m| m.name() == s)
    }
    fn link(self) -> mycelium_remote::Mode {
        match self {
            Mode::Block => mycelium_remote::Mode::Block,
            Mode::Spin => mycelium_remote::Mode::Spin(spin_budget()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fw {
    Mycelium,
    Raw,
    Ractor,
}

impl Fw {
    fn name(self) -> &'static str {
        match self {
            Fw::Mycelium => "mycelium",
            Fw::Raw => "raw",
            Fw::Ractor => "ractor",
        }
    }
    fn parse(s: &str) -> Option<Fw> {
        [Fw::Mycelium, Fw::Raw, Fw::Ractor]
            .into_iter()
            .find(|f| f.name() == s)
    }
}

/// Counts of one run.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub w8_warmup: usize,
    pub w8_asks: usize,
    pub w9_tells: u64,
}

pub const FULL: Counts = Counts {
    w8_warmup: 2_000,
    w8_asks: 50_000,
    w9_tells: 1_000_000,
};

pub const QUICK: Counts = Counts {
    w8_warmup: 200,
    w8_asks: 2_000,
    w9_tells: 20_000,
};

/// What `compare` selected for the remote workloads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Selection {
    pub w8: bool,
    pub w9: bool,
    pub quick: bool,
    /// `--rounds N`; `None`: 3 in full mode, 1 in quick mode, as for the other workloads.
    pub rounds: Option<usize>,
    /// `--retries N` (for every workload, local or not); `None`: 4 in full mode, 0 in quick.
    pub retries: Option<usize>,
}

impl Selection {
    /// How many rounds each line is the median of.
    fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 1 } else { 3 })
    }

    /// How many times a measurement made in a slow spell is made again (`spells`).
    pub fn retries(&self) -> usize {
        self.retries.unwrap_or(if self.quick { 0 } else { 4 })
    }
}

/// Takes w8 and w9 out of `compare`'s arguments. Returns the arguments for the in-process
/// workloads (`None` when `--only` named only w8/w9) and the remote selection; `Err` for a
/// `--rounds` that is not a positive number or a `--retries` that is not a number. `--retries`
/// is taken out here for every workload (`Selection::retries`).
pub fn split_args(args: &[String]) -> Result<(Option<Vec<String>>, Selection), String> {
    let mut rest = Vec::new();
    let mut sel = Selection {
        w8: true,
        w9: true,
        quick: false,
        rounds: None,
        retries: None,
    };
    let mut local = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                sel.quick = true;
                rest.push(a.clone());
            }
            "--rounds" => {
                let n = it.next().ok_or("--rounds needs a value")?;
                let rounds = n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--rounds: `{n}` is not a number of rounds (1 or more)")
                })?;
                sel.rounds = Some(rounds);
                rest.push(a.clone());
                rest.push(n.clone());
            }
            "--retries" => {
                let n = it.next().ok_or("--retries needs a value")?;
                sel.retries = Some(n.parse::<usize>().map_err(|_| {
                    format!("--retries: `{n}` is not a number of retries (0 or more)")
                })?);
            }
            "--only" => {
                let Some(list) = it.next() else {
                    rest.push(a.clone());
                    continue;
                };
                let names: Vec<&str> = list.split(',').collect();
                sel.w8 = names.contains(&"w8");
                sel.w9 = names.contains(&"w9");
                let others: Vec<&str> = names
                    .into_iter()
                    .filter(|n| *n != "w8" && *n != "w9")
                    .collect();
                if others.is_empty() {
                    local = false;
                } else {
                    rest.push(a.clone());
                    rest.push(others.join(","));
                }
            }
            _ => rest.push(a.clone()),
        }
    }
    Ok((local.then_some(rest), sel))
}

/// The message sent: a `Quote`.
pub(crate) fn quote(i: u64) -> Quote {
    Quote {
        ts_ns: i,
        instrument: 7,
        bid_px: 101.25,
        bid_qty: 3.0,
        ask_px: 101.5,
        ask_qty: 4.0,
    }
}

fn body_len() -> usize {
    use mycelium_codec::WireMessage;
    let mut out = Vec::new();
    quote(u64::MAX / 3).encode_body(&mut out);
    out.len()
}

/// Bytes of one mycelium tell/ask frame of a `Quote` to `echo`: the raw frame size.
fn frame_len() -> usize {
    HEADERS + SERVICE.len() + body_len()
}

/// Runs w8 and w9 as `sel` says and prints their lines and ratios, each measurement checked
/// for a slow spell by `spells`; adds the slower reference of each measurement kept to
/// `slowers`.
pub fn compare(sel: Selection, spells: &mut Spells, slowers: &mut Vec<f64>) {
    if !sel.w8 && !sel.w9 {
        return;
    }
    let c = if sel.quick { QUICK } else { FULL };
    let started = Instant::now();
    println!(
        "# w8/w9: message Quote, body {} bytes, frame {} bytes (raw frames the same size); \
         w8 {} asks after {} warm-up, w9 {} tells then one ask; mycelium spin = {}us",
        body_len(),
        frame_len(),
        c.w8_asks,
        c.w8_warmup,
        c.w9_tells,
        spin_budget().as_micros()
    );
    let n_rounds = sel.rounds();
    if n_rounds > 1 {
        println!(
            "# each line: the median of {n_rounds} rounds, the frameworks of a transport and \
             mode in turn in each (per-round lines on stderr)"
        );
    }
    let mut lines = Vec::new();
    let mut emit = |line: Line| {
        println!("{}", line.text());
        lines.push(line);
    };
    for transport in chosen_transports([Transport::Unix, Transport::Tcp]) {
        for mode in modes() {
            let fws: Vec<(Fw, &'static str)> = chosen_socket_fws()
                .into_iter()
                .map(|fw| (fw, fw.name()))
                .collect();
            let measured = in_rounds(n_rounds, transport, mode, &fws, spells, slowers, |fw| {
                let (w8, w9) = match run_pair(fw, transport, mode, c, sel) {
                    Ok((w8, w9)) => (w8.ok_or_else(String::new), w9.ok_or_else(String::new)),
                    Err(e) => (Err(e.clone()), Err(e)),
                };
                [("w8", sel.w8, w8), ("w9", sel.w9, w9)]
                    .into_iter()
                    .filter(|(_, on, _)| *on)
                    .map(|(w, _, vals)| (w, vals))
                    .collect()
            });
            measured.into_iter().for_each(&mut emit);
        }
    }
    let sc = if sel.quick { shm::QUICK } else { shm::FULL };
    println!(
        "# w8/w9 transport=shm: 64-byte messages; w8 {} round trips in spin mode ({} in block \
         mode), w9 {} messages ({} over the mycelium link)",
        sc.rtt,
        sc.rtt / 5,
        sc.tput,
        sc.tput / 5
    );
    let shm = !chosen_transports([Transport::Shm]).is_empty();
    type Measure = fn(&'static str, Mode, shm::ShmCounts) -> Result<Vals, String>;
    let w8: Measure = |imp, mode, sc| {
        shm::w8(imp, mode, sc)
            .map(|(p50, p99)| vec![("p50_ns", p50 as f64), ("p99_ns", p99 as f64)])
    };
    let w9: Measure = |imp, mode, sc| shm::w9(imp, mode, sc).map(|r| vec![("msgs_per_sec", r)]);
    for (w, on, measure) in [("w8", sel.w8, w8), ("w9", sel.w9, w9)] {
        for mode in shm_modes().into_iter().filter(|_| shm && on) {
            let imps: Vec<(&'static str, &'static str)> =
                shm::impls().into_iter().map(|imp| (imp, imp)).collect();
            let measured = in_rounds(
                n_rounds,
                Transport::Shm,
                mode,
                &imps,
                spells,
                slowers,
                |imp| vec![(w, measure(imp, mode, sc))],
            );
            measured.into_iter().for_each(&mut emit);
        }
    }
    ratios(&lines);
    if let Some(text) = crossings(&lines) {
        println!("{text}");
    }
    println!(
        "# w8/w9 {} mode, {:.1}s",
        if sel.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
}

/// Runs `driver` as a task on `rt` and waits for it. The driving code of the remote workloads
/// (the asker, the sender) is spawned, as the in-process workloads' is (`common::run_tokio`):
/// it runs as an actor would, not as the `block_on` future, which a current-thread runtime
/// polls only between full turns of its scheduler.
pub(crate) fn drive<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    driver: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    rt.block_on(rt.spawn(driver))
        .map_err(|e| format!("driver task: {e}"))?
}

pub(crate) fn ct_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Waits until the parent closes this process's stdin (a pipe), on the runtime's reactor.
///
/// Not on a thread of its own: in a process of one thread the kernel looks a descriptor up
/// without taking a reference to its file, and with a second thread every system call on a
/// socket takes one and drops it (`fdget`, `fput`). A peer process that watched its stdin
/// from a thread paid that on each of its spinning `recv`s and on its `send`, where the raw
/// floor's single-threaded server did not: a few tens of nanoseconds of a spinning round
/// trip (measured at 5322013, 2026-11-27: docs/perf/remote.md).
pub(crate) async fn until_stdin_closes() {
    use tokio::io::AsyncReadExt;
    let stdin = std::io::stdin();
    let Ok(fd) = std::os::fd::AsFd::as_fd(&stdin).try_clone_to_owned() else {
        return;
    };
    // Checks that it is a pipe and makes it non-blocking; when stdin is not one, the peer
    // does not wait for it.
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut buf = [0u8; 64];
    while let Ok(1..) = pipe.read(&mut buf).await {}
}

/// Hidden subcommand `__remote_peer <framework> <mode> <endpoint>`: the server process.
pub fn peer_main(args: &[String]) -> ExitCode {
    let (Some(fw), Some(mode), Some(endpoint)) = (
        args.first().and_then(|s| Fw::parse(s)),
        args.get(1).and_then(|s| Mode::parse(s)),
        args.get(2),
    ) else {
        eprintln!(
            "usage: mycelium-bench __remote_peer mycelium|raw|ractor block|spin unix:PATH|tcp:ADDR"
        );
        return ExitCode::from(2);
    };
    let r = match fw {
        Fw::Raw => raw_peer(mode, endpoint),
        Fw::Mycelium => mycelium_peer(mode, endpoint),
        Fw::Ractor => crate::remote_ractor::peer(endpoint),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("__remote_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

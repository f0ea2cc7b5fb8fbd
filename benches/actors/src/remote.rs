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

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium::actors::{Actor, BoxError, Bus, Context, Handler, Recipient, ReplyRecipient};
use mycelium_contracts::{Quote, SCHEMA_DIGEST};
use mycelium_remote::{Endpoint, LinkConfig, LocalSchema, Node, RemoteActor, Secret};

use crate::common::Latency;
use crate::shm;
use crate::spells::{self, Spells};

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

/// Raw frame kinds (first byte).
const RAW_PING: u8 = 1;
const RAW_TELL: u8 = 2;
const RAW_ASK: u8 = 3;

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

/// The keys and values of one line.
type Vals = Vec<(&'static str, f64)>;

/// A framework's lines of one measurement, as (workload, values).
type Measured = Vec<(&'static str, Result<Vals, String>)>;

/// Measures each framework of `fws` (with its name) in each of `n_rounds` rounds, the
/// frameworks in turn within a round; `measure` gives a framework's lines of one round. Each
/// measurement is timed between two reference loops and two crossings of a cache line
/// between the CPUs (their keys added to its lines) and made again by `spells` while they say
/// it was made in a slow spell; the slower reference of each
/// one kept goes to `slowers`. Prints every round's lines on stderr when there are several,
/// and returns the lines of per-key medians, in the order `fws` and `measure` give them.
fn in_rounds<F: Copy>(
    n_rounds: usize,
    transport: Transport,
    mode: Mode,
    fws: &[(F, &'static str)],
    spells: &mut Spells,
    slowers: &mut Vec<f64>,
    mut measure: impl FnMut(F) -> Measured,
) -> Vec<Line> {
    // rounds[r][i]: framework i's lines in round r.
    let mut rounds = Vec::with_capacity(n_rounds);
    for round in 0..n_rounds {
        let mut this = Vec::with_capacity(fws.len());
        for &(fw, name) in fws {
            let label = format!("{name} transport={} mode={}", transport.name(), mode.name());
            let measured = spells.run(
                &label,
                || {
                    let (mut measured, refs) =
                        spells::between_references_and_crossings(|| measure(fw));
                    for vals in measured.iter_mut().filter_map(|(_, v)| v.as_mut().ok()) {
                        vals.extend(refs);
                    }
                    measured
                },
                references,
            );
            slowers.extend(references(&measured).map(|(slower, _)| slower));
            if n_rounds > 1 {
                for (w, vals) in &measured {
                    let line = Line {
                        w,
                        fw: name,
                        transport,
                        mode,
                        vals: vals.clone(),
                    };
                    eprintln!("# round {} {}", round + 1, line.text());
                }
            }
            this.push(measured);
        }
        rounds.push(this);
    }
    let mut lines = Vec::new();
    for (i, &(_, name)) in fws.iter().enumerate() {
        for (j, &(w, _)) in rounds[0][i].iter().enumerate() {
            let vals = median_vals(rounds.iter().map(|r| r[i][j].1.clone()).collect());
            lines.push(Line {
                w,
                fw: name,
                transport,
                mode,
                vals,
            });
        }
    }
    lines
}

/// The slower and the faster reference loop around a measurement (`None` when none of its
/// lines measured).
fn references(measured: &Measured) -> Option<(f64, f64)> {
    spells::references(measured.iter().find_map(|(_, v)| v.as_ref().ok())?)
}

/// Per-key medians of the rounds that measured; the first round's error when none did.
fn median_vals(rounds: Vec<Result<Vals, String>>) -> Result<Vals, String> {
    let ok: Vec<&Vals> = rounds.iter().filter_map(|r| r.as_ref().ok()).collect();
    let Some(first) = ok.first() else {
        return Err(rounds.into_iter().find_map(Result::err).unwrap_or_default());
    };
    Ok(first
        .iter()
        .map(|&(key, _)| {
            let mut v: Vec<f64> = ok
                .iter()
                .filter_map(|vals| vals.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len();
            let median = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            };
            (key, median)
        })
        .collect())
}

/// One measured line.
struct Line {
    w: &'static str,
    fw: &'static str,
    transport: Transport,
    mode: Mode,
    vals: Result<Vals, String>,
}

impl Line {
    fn text(&self) -> String {
        let mut s = format!(
            "{} {} transport={} mode={}",
            self.w,
            self.fw,
            self.transport.name(),
            self.mode.name()
        );
        match &self.vals {
            Ok(vals) => {
                for (k, v) in vals {
                    s.push_str(&format!(" {k}={}", v.round() as u64));
                }
            }
            Err(why) => {
                let why: String = why
                    .chars()
                    .map(|c| if c.is_whitespace() { '_' } else { c })
                    .collect();
                s.push_str(&format!(" unsupported=1 reason={why}"));
            }
        }
        s
    }

    fn value(&self, key: &str) -> Option<f64> {
        self.vals
            .as_ref()
            .ok()?
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
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

/// Goals of one transport: (workload, key, higher is better, mode, [(peer, goal)]).
type Goals = Vec<(
    &'static str,
    &'static str,
    bool,
    Mode,
    Vec<(&'static str, f64)>,
)>;

fn goals(transport: Transport) -> Goals {
    let both = [Mode::Block, Mode::Spin];
    match transport {
        Transport::Unix | Transport::Tcp => both
            .into_iter()
            .flat_map(|m| {
                [
                    (
                        "w8",
                        "p50_ns",
                        false,
                        m,
                        vec![("raw", 1.2), ("ractor", 0.5)],
                    ),
                    (
                        "w9",
                        "msgs_per_sec",
                        true,
                        m,
                        vec![("raw", 0.8), ("ractor", 3.0)],
                    ),
                ]
            })
            .collect(),
        Transport::Shm => vec![
            (
                "w8",
                "p50_ns",
                false,
                Mode::Spin,
                vec![("ring", 1.2), ("iceoryx2", 0.5)],
            ),
            ("w8", "p50_ns", false, Mode::Block, vec![("ring", 1.2)]),
            ("w9", "msgs_per_sec", true, Mode::Spin, vec![("ring", 0.8)]),
            ("w9", "msgs_per_sec", true, Mode::Block, vec![("ring", 0.8)]),
        ],
    }
}

/// The line that sums up the crossings the lines kept were measured between: the fastest and
/// the slowest, and how many lines had one over [`SLOW_CROSSING`] times the fastest (made in
/// the machine's slow state, which the retries could not avoid). `None` without crossings.
fn crossings(lines: &[Line]) -> Option<String> {
    let pairs: Vec<(f64, f64)> = lines
        .iter()
        .filter_map(|l| {
            Some((
                l.value(spells::CROSS_BEFORE)?,
                l.value(spells::CROSS_AFTER)?,
            ))
        })
        .filter(|&(before, after)| before > 0.0 && after > 0.0)
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let fastest = pairs
        .iter()
        .map(|&(b, a)| b.min(a))
        .fold(f64::INFINITY, f64::min);
    let slowers: Vec<f64> = pairs.iter().map(|&(b, a)| b.max(a)).collect();
    let slowest = slowers.iter().copied().fold(0.0, f64::max);
    let slow = slowers
        .iter()
        .filter(|&&v| v > SLOW_CROSSING * fastest)
        .count();
    Some(format!(
        "# crossings ({} round trips of a cache line between two CPUs, around each \
         measurement): fastest {:.0} us, slowest {:.0} us; {slow} of {} lines with one over \
         {SLOW_CROSSING}x the fastest (the machine's slow state: compare them only with \
         each other)",
        spells::CROSSINGS,
        fastest / 1e3,
        slowest / 1e3,
        slowers.len(),
    ))
}

/// A line whose slower crossing took more than this many times the fastest of the run was
/// measured in the machine's slow state (about nine times the fast one on this machine:
/// 204-209 µs against 21-30 µs, docs/perf/remote.md).
const SLOW_CROSSING: f64 = 2.0;

fn ratios(lines: &[Line]) {
    println!("# w8/w9 ratio summary: mycelium / peer (same run)");
    for transport in [Transport::Unix, Transport::Tcp, Transport::Shm] {
        for (w, key, hib, mode, peers) in goals(transport) {
            let find = |fw: &str| {
                lines
                    .iter()
                    .find(|l| l.w == w && l.fw == fw && l.transport == transport && l.mode == mode)
                    .and_then(|l| l.value(key))
            };
            let Some(myc) = find("mycelium") else {
                continue;
            };
            for (peer, goal) in peers {
                let head = format!(
                    "# {w} transport={} mode={} {key} vs {peer}",
                    transport.name(),
                    mode.name(),
                );
                match find(peer).filter(|v| *v > 0.0) {
                    Some(p) => {
                        let ratio = myc / p;
                        let met = if hib { ratio >= goal } else { ratio <= goal };
                        println!(
                            "{head}: mycelium={} {peer}={} ratio={ratio:.2} goal={}{goal:.1} {}",
                            myc.round() as u64,
                            p.round() as u64,
                            if hib { ">=" } else { "<=" },
                            if met { "met" } else { "MISSED" }
                        );
                    }
                    None => println!("{head}: no {peer} result"),
                }
            }
        }
    }
}

/// A server process; killed if still running when dropped.
struct Peer {
    child: Child,
    endpoint: String,
    dir: Option<PathBuf>,
}

impl Peer {
    fn start(fw: Fw, transport: Transport, mode: Mode, secret: &str) -> Result<Peer, String> {
        let dir = match transport {
            Transport::Unix => {
                use std::os::unix::fs::DirBuilderExt;
                let d = std::env::temp_dir().join(format!(
                    "mycelium-bench-{}-{}",
                    std::process::id(),
                    fw.name()
                ));
                let _ = std::fs::remove_dir_all(&d);
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&d)
                    .map_err(|e| format!("socket dir {}: {e}", d.display()))?;
                Some(d)
            }
            Transport::Tcp => None,
            Transport::Shm => return Err("shared memory runs in shm.rs".into()),
        };
        let endpoint = match &dir {
            Some(d) => format!("unix:{}", d.join("peer.sock").display()),
            None => "tcp:127.0.0.1:0".to_string(),
        };
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(["__remote_peer", fw.name(), mode.name(), &endpoint])
            .env("MYCELIUM_BENCH_SECRET", secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn peer: {e}"))?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|o| BufReader::new(o).read_line(&mut line));
        let mut peer = Peer {
            child,
            endpoint: String::new(),
            dir,
        };
        match (read, line.trim().strip_prefix("ready ")) {
            (Some(Ok(_)), Some(at)) => {
                peer.endpoint = at.to_string();
                Ok(peer)
            }
            _ => Err(format!("peer did not start: {line:?}")),
        }
    }

    /// Closes the peer's stdin and waits for it to exit.
    fn finish(mut self) -> Result<(), String> {
        drop(self.child.stdin.take());
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("peer_exited_{status}"))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub(crate) type PairResult = (
    Option<Vec<(&'static str, f64)>>,
    Option<Vec<(&'static str, f64)>>,
);

/// Starts a server, runs w8 then w9 against it on one connection.
fn run_pair(
    fw: Fw,
    transport: Transport,
    mode: Mode,
    c: Counts,
    sel: Selection,
) -> Result<PairResult, String> {
    let secret = bench_secret();
    let peer = Peer::start(fw, transport, mode, &secret)?;
    let out = match fw {
        Fw::Raw => raw_client(&peer.endpoint, mode, c, sel),
        Fw::Mycelium => mycelium_client(&peer.endpoint, mode, &secret, c, sel),
        Fw::Ractor => crate::remote_ractor::client(&peer.endpoint, &secret, c, sel),
    };
    let done = peer.finish();
    let out = out?;
    done?;
    Ok(out)
}

/// A fresh secret per run, from the clock and the process id (loopback benchmark only).
fn bench_secret() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:032x}{:016x}", std::process::id())
}

pub(crate) fn w8_values(mut samples: Vec<u64>) -> Vec<(&'static str, f64)> {
    let l = Latency::from_samples(&mut samples);
    vec![("p50_ns", l.p50 as f64), ("p99_ns", l.p99 as f64)]
}

pub(crate) fn w9_values(n: u64, t: Duration) -> Vec<(&'static str, f64)> {
    vec![("msgs_per_sec", n as f64 / t.as_secs_f64())]
}

/// Messages the server will have counted when it answers the w9 ask.
pub(crate) fn expected_count(c: Counts, sel: Selection) -> u64 {
    let w8 = if sel.w8 {
        (c.w8_warmup + c.w8_asks) as u64
    } else {
        0
    };
    let w9 = if sel.w9 { c.w9_tells + 1 } else { 0 };
    w8 + w9
}

// ---------------------------------------------------------------- raw

enum Sock {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Sock {
    fn connect(endpoint: &str, mode: Mode) -> io::Result<Sock> {
        let s = if let Some(p) = endpoint.strip_prefix("unix:") {
            Sock::Unix(UnixStream::connect(p)?)
        } else if let Some(a) = endpoint.strip_prefix("tcp:") {
            let s = TcpStream::connect(a)?;
            s.set_nodelay(true)?;
            Sock::Tcp(s)
        } else {
            return Err(io::Error::other(format!("bad endpoint {endpoint}")));
        };
        s.set_mode(mode)?;
        Ok(s)
    }

    fn set_mode(&self, mode: Mode) -> io::Result<()> {
        let nb = mode == Mode::Spin;
        match self {
            Sock::Unix(s) => s.set_nonblocking(nb),
            Sock::Tcp(s) => s.set_nonblocking(nb),
        }
    }

    /// One `read`; in spin mode polls until some bytes (or EOF) arrive.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = match self {
                Sock::Unix(s) => s.read(buf),
                Sock::Tcp(s) => s.read(buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.read_some(&mut buf[got..])? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        Ok(())
    }

    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let r = match self {
                Sock::Unix(s) => s.write(buf),
                Sock::Tcp(s) => s.write(buf),
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn raw_frame(kind: u8, i: u64) -> Vec<u8> {
    let mut f = vec![0u8; frame_len()];
    f[0] = kind;
    f[8..16].copy_from_slice(&i.to_le_bytes());
    f
}

fn raw_client(endpoint: &str, mode: Mode, c: Counts, sel: Selection) -> Result<PairResult, String> {
    let mut s = Sock::connect(endpoint, mode).map_err(|e| format!("connect: {e}"))?;
    let io = |e: io::Error| format!("raw: {e}");
    let mut back = vec![0u8; frame_len()];
    let mut w8 = None;
    if sel.w8 {
        let mut samples = Vec::with_capacity(c.w8_asks);
        for i in 0..c.w8_warmup + c.w8_asks {
            let f = raw_frame(RAW_PING, i as u64);
            let t0 = Instant::now();
            s.write_all(&f).map_err(io)?;
            s.read_exact(&mut back).map_err(io)?;
            let dt = t0.elapsed().as_nanos() as u64;
            if back[8..16] != f[8..16] {
                return Err("raw: echo mismatch".into());
            }
            if i >= c.w8_warmup {
                samples.push(dt);
            }
        }
        w8 = Some(w8_values(samples));
    }
    let mut w9 = None;
    if sel.w9 {
        let t0 = Instant::now();
        for i in 0..c.w9_tells {
            let f = raw_frame(RAW_TELL, i);
            s.write_all(&f).map_err(io)?;
        }
        s.write_all(&raw_frame(RAW_ASK, 0)).map_err(io)?;
        s.read_exact(&mut back).map_err(io)?;
        let t = t0.elapsed();
        let count = u64::from_le_bytes(back[8..16].try_into().unwrap_or_default());
        if count != expected_count(c, sel) {
            return Err(format!(
                "raw: server counted {count}, expected {}",
                expected_count(c, sel)
            ));
        }
        w9 = Some(w9_values(c.w9_tells, t));
    }
    Ok((w8, w9))
}

/// The raw server: reads whatever is there, handles each whole frame, until EOF.
fn raw_serve(mut s: Sock) -> io::Result<()> {
    let f = frame_len();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    let mut count: u64 = 0;
    loop {
        let n = s.read_some(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut at = 0;
        while len - at >= f {
            let frame = &mut buf[at..at + f];
            count += 1;
            match frame[0] {
                RAW_PING => s.write_all(frame)?,
                RAW_ASK => {
                    frame[8..16].copy_from_slice(&count.to_le_bytes());
                    s.write_all(frame)?
                }
                RAW_TELL => {}
                k => return Err(io::Error::other(format!("unknown raw kind {k}"))),
            }
            at += f;
        }
        buf.copy_within(at..len, 0);
        len -= at;
    }
}

fn raw_peer(mode: Mode, endpoint: &str) -> Result<(), String> {
    let s = if let Some(p) = endpoint.strip_prefix("unix:") {
        let l = UnixListener::bind(p).map_err(|e| format!("bind {p}: {e}"))?;
        ready(&format!("unix:{p}"));
        Sock::Unix(l.accept().map_err(|e| e.to_string())?.0)
    } else if let Some(a) = endpoint.strip_prefix("tcp:") {
        let l = TcpListener::bind(a).map_err(|e| format!("bind {a}: {e}"))?;
        let at = l.local_addr().map_err(|e| e.to_string())?;
        ready(&format!("tcp:{at}"));
        let (s, _) = l.accept().map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        Sock::Tcp(s)
    } else {
        return Err(format!("bad endpoint {endpoint}"));
    };
    s.set_mode(mode).map_err(|e| e.to_string())?;
    raw_serve(s).map_err(|e| format!("raw serve: {e}"))
}

pub(crate) fn ready(at: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "ready {at}");
    let _ = out.flush();
}

// ---------------------------------------------------------------- mycelium

/// The server's actor: answers a `Quote` with the same quote, its `ts_ns` replaced by the
/// number of quotes it has handled (so the client can check that every tell arrived).
struct Echo {
    count: u64,
}

impl Actor for Echo {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo { count: 0 })
    }
}

impl Handler<Quote> for Echo {
    type Reply = Quote;
    async fn handle(&mut self, q: Quote, _ctx: &mut Context<Self>) -> Quote {
        self.count += 1;
        Quote {
            ts_ns: self.count,
            ..q
        }
    }
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if let Some(p) = s.strip_prefix("unix:") {
        Ok(Endpoint::Unix(PathBuf::from(p)))
    } else if let Some(a) = s.strip_prefix("tcp:") {
        Ok(Endpoint::Tcp(a.to_string()))
    } else {
        Err(format!("bad endpoint {s}"))
    }
}

fn link_config(mode: Mode) -> LinkConfig {
    LinkConfig {
        mode: mode.link(),
        ..LinkConfig::default()
    }
}

fn secret_from(s: &str) -> Result<Secret, String> {
    Secret::new(s.as_bytes().to_vec()).map_err(|e| e.to_string())
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

fn mycelium_peer(mode: Mode, endpoint: &str) -> Result<(), String> {
    let secret = secret_from(&std::env::var("MYCELIUM_BENCH_SECRET").map_err(|e| e.to_string())?)?;
    let endpoint = parse_endpoint(endpoint)?;
    ct_runtime()?.block_on(async move {
        let bus = Bus::new();
        let echo = bus.spawn::<Echo>(());
        bus.exports()
            .export_ask(SERVICE, echo.reply_recipient::<Quote>())
            .map_err(|e| e.to_string())?;
        let node = Node::builder("server", LocalSchema::from_digest(SCHEMA_DIGEST), secret)
            .config(link_config(mode))
            .build(&bus, Arc::new(bus.exports()));
        let at = node
            .listen(&endpoint, &["client"])
            .await
            .map_err(|e| e.to_string())?;
        ready(&at.to_string());
        // Serve until the client closes our stdin.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            let _ = tx.send(());
        });
        let _ = rx.await;
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

fn mycelium_client(
    endpoint: &str,
    mode: Mode,
    secret: &str,
    c: Counts,
    sel: Selection,
) -> Result<PairResult, String> {
    let secret = secret_from(secret)?;
    let endpoint = parse_endpoint(endpoint)?;
    drive(&ct_runtime()?, async move {
        let bus = Bus::new();
        let node = Node::builder("client", LocalSchema::from_digest(SCHEMA_DIGEST), secret)
            .config(link_config(mode))
            .build(&bus, Arc::new(bus.exports()));
        let link = node.connect("server", endpoint);
        let asks: ReplyRecipient<Quote, Quote> =
            RemoteActor::new(link.clone(), SERVICE).reply_recipient();
        let tells: Recipient<Quote> = RemoteActor::<Quote, Quote>::new(link, SERVICE).recipient();
        let err = |e: &dyn std::fmt::Display| format!("mycelium: {e}");
        let mut w8 = None;
        if sel.w8 {
            let mut samples = Vec::with_capacity(c.w8_asks);
            for i in 0..c.w8_warmup + c.w8_asks {
                let t0 = Instant::now();
                let r = asks.ask(quote(i as u64)).await.map_err(|e| err(&e))?;
                let dt = t0.elapsed().as_nanos() as u64;
                if r.instrument != 7 {
                    return Err("mycelium: echo mismatch".into());
                }
                if i >= c.w8_warmup {
                    samples.push(dt);
                }
            }
            w8 = Some(w8_values(samples));
        }
        let mut w9 = None;
        if sel.w9 {
            let t0 = Instant::now();
            for i in 0..c.w9_tells {
                tells.tell(quote(i)).await.map_err(|e| err(&e))?;
            }
            let r = asks.ask(quote(0)).await.map_err(|e| err(&e))?;
            let t = t0.elapsed();
            if r.ts_ns != expected_count(c, sel) {
                return Err(format!(
                    "mycelium: server counted {}, expected {}",
                    r.ts_ns,
                    expected_count(c, sel)
                ));
            }
            w9 = Some(w9_values(c.w9_tells, t));
        }
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok((w8, w9))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fw: &'static str, cross: [f64; 2]) -> Line {
        Line {
            w: "w8",
            fw,
            transport: Transport::Shm,
            mode: Mode::Spin,
            vals: Ok(vec![
                ("p50_ns", 100.0),
                (spells::CROSS_BEFORE, cross[0]),
                (spells::CROSS_AFTER, cross[1]),
            ]),
        }
    }

    #[test]
    fn the_crossings_line_counts_the_lines_made_in_the_slow_state() {
        let lines = [
            line("ring", [22_000.0, 24_000.0]),
            line("mycelium", [23_000.0, 110_000.0]),
            line("iceoryx2", [21_000.0, 25_000.0]),
        ];
        let text = crossings(&lines).expect("a line");
        assert!(text.contains("fastest 21 us, slowest 110 us"), "{text}");
        assert!(text.contains("1 of 3 lines with one over 2x"), "{text}");
    }

    #[test]
    fn no_crossings_no_line() {
        let lines = [Line {
            w: "w8",
            fw: "raw",
            transport: Transport::Unix,
            mode: Mode::Spin,
            vals: Ok(vec![("p50_ns", 100.0)]),
        }];
        assert_eq!(crossings(&lines), None);
    }
}

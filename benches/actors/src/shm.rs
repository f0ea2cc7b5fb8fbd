//! The `transport=shm` lines of w8 and w9: shared memory between two processes.
//!
//! - **w8**, round trip of a 64-byte message: `p50_ns`, `p99_ns` seen by the sender.
//! - **w9**, one-way 64-byte messages, then one answer after the last: `msgs_per_sec`.
//!
//! Implementations, each in `mode=spin` (the waiting end polls) and `mode=block` (the
//! waiting end parks, and the other end wakes it):
//!
//! - `ring`: the floor. A minimal hand-written single-producer/single-consumer ring of
//!   64-byte slots per direction in a POSIX shared-memory segment, as many bytes as a link's
//!   ring (1 MiB); in `mode=block` the waiting end parks on a futex on the index word (the
//!   futex ping-pong floor), and the other end wakes it only when it sleeps there.
//! - `mycelium-channel`: the `mycelium_remote::shm` channel ends (checked variable-length
//!   records, spin-then-park).
//! - `mycelium`: an ask, or tells then an ask, over a `mycelium-remote` link with an `shm:`
//!   endpoint (handshake, sequence numbers, acknowledgements, the link layer's tokio tasks).
//! - `iceoryx2`: iceoryx2 0.10 publish/subscribe (`ipc::Service`, a `[u64; 8]` payload,
//!   `loan_uninit` → `write_payload` → `send` and `receive`, as its docs show), one service
//!   per direction, no safe overflow and `RetryUntilDelivered` backpressure so nothing is
//!   lost; in `mode=block` each direction also has an event service: the sender notifies after
//!   every sample and the receiver waits on its listener (iceoryx2's documented way to wake a
//!   subscriber).
//!
//! The other process is this binary again, run with the hidden subcommand `__shm_peer`.

mod channel;
mod iceoryx2;
mod link;
mod ring;

use std::fmt::Display;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};

use crate::remote::Mode;

use self::channel::{chan_echo, chan_sink, channel_rtt, channel_tput};
use self::iceoryx2::{ice_echo, ice_rtt, ice_sink, ice_tput};
use self::link::{link_echo, link_rtt, link_tput};
use self::ring::{floor_echo, floor_rtt, floor_sink, floor_tput};

/// Payload bytes of one message.
const PAYLOAD: usize = 64;
/// Round trips not counted at the start of each w8 run.
const WARMUP: usize = 1_000;

/// Attaches what failed to an error.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Counts of one run.
#[derive(Clone, Copy, Debug)]
pub struct ShmCounts {
    /// w8 round trips in `mode=spin` (`mode=block`: a fifth).
    pub rtt: usize,
    /// w9 messages for the floors and iceoryx2 (the link: a fifth).
    pub tput: usize,
}

/// Full counts.
pub const FULL: ShmCounts = ShmCounts {
    rtt: 50_000,
    tput: 5_000_000,
};

/// `--quick` counts.
pub const QUICK: ShmCounts = ShmCounts {
    rtt: 2_000,
    tput: 200_000,
};

/// The implementations, in the order they are run.
pub const IMPLS: [&str; 4] = ["ring", "mycelium-channel", "mycelium", "iceoryx2"];

/// The implementations to run: all, or those named in `MYCELIUM_BENCH_SHM` (comma-separated),
/// for diagnosis.
pub fn impls() -> Vec<&'static str> {
    let only = std::env::var("MYCELIUM_BENCH_SHM").unwrap_or_default();
    IMPLS
        .into_iter()
        .filter(|i| only.is_empty() || only.split(',').any(|o| o == *i))
        .collect()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Block => "block",
        Mode::Spin => "spin",
    }
}

/// One w8 measurement: `(p50_ns, p99_ns)`.
pub fn w8(imp: &str, mode: Mode, c: ShmCounts) -> Result<(u64, u64), String> {
    let n = match mode {
        Mode::Block => c.rtt / 5,
        Mode::Spin => c.rtt,
    };
    let m = mode_name(mode);
    let tag = format!("{}-{m}", std::process::id());
    match imp {
        "ring" => floor_rtt(&format!("bench-floor-{tag}"), m, n),
        "mycelium-channel" => channel_rtt(&format!("bench-chan-{tag}"), m, n),
        "mycelium" => link_rtt(m, n),
        "iceoryx2" => ice_rtt(&format!("bench-ice-{tag}"), m, n),
        other => Err(format!("unknown shm implementation {other}")),
    }
}

/// One w9 measurement: messages per second.
pub fn w9(imp: &str, mode: Mode, c: ShmCounts) -> Result<f64, String> {
    let m = mode_name(mode);
    let tag = format!("{}-{m}", std::process::id());
    match imp {
        "ring" => floor_tput(&format!("bench-floor-t-{tag}"), m, c.tput),
        "mycelium-channel" => channel_tput(&format!("bench-chan-t-{tag}"), m, c.tput),
        "mycelium" => link_tput(m, c.tput / 5),
        "iceoryx2" => ice_tput(&format!("bench-ice-t-{tag}"), m, c.tput),
        other => Err(format!("unknown shm implementation {other}")),
    }
}

/// Starts this binary as the other process in `role`.
fn spawn(args: &[&str]) -> Result<Child, String> {
    Command::new(std::env::current_exe().ctx("own path")?)
        .arg("__shm_peer")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ctx("spawn the other process")
}

/// Waits for the other process's `ready` line.
fn await_ready(child: &mut Child) -> Result<(), String> {
    let out = child
        .stdout
        .take()
        .ok_or("no stdout of the other process")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).ctx("ready line")?;
    if line.trim() == "ready" {
        Ok(())
    } else {
        Err(format!("the other process did not start: {line:?}"))
    }
}

fn ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

/// Waits for the other process and checks that it succeeded.
fn finish(mut child: Child) -> Result<(), String> {
    drop(child.stdin.take());
    let status = child.wait().ctx("wait for the other process")?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the other process failed: {status}"))
    }
}

fn percentiles(mut ns: Vec<u64>) -> Result<(u64, u64), String> {
    if ns.is_empty() {
        return Err("no samples".into());
    }
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    Ok((at(0.50), at(0.99)))
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

/// Hidden subcommand `__shm_peer <role> <name> <mode> [<n>]`: the other process.
pub fn peer_main(args: &[String]) -> ExitCode {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let n = || arg(3).parse::<usize>().ctx("count");
    let r = match arg(0) {
        "floor-echo" => n().and_then(|n| floor_echo(arg(1), arg(2), n)),
        "floor-sink" => n().and_then(|n| floor_sink(arg(1), arg(2), n)),
        "chan-echo" => n().and_then(|n| chan_echo(arg(1), arg(2), n)),
        "chan-sink" => n().and_then(|n| chan_sink(arg(1), arg(2), n)),
        "link-echo" => link_echo(arg(1), arg(2)),
        "ice-echo" => n().and_then(|n| ice_echo(arg(1), arg(2), n)),
        "ice-sink" => n().and_then(|n| ice_sink(arg(1), arg(2), n)),
        other => Err(format!("unknown role {other}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("__shm_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

//! One client-server pair: the server process (started, told `ready`, finished), w8 then
//! w9 against it on one connection, and the values of their lines.

use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::Latency;

use super::mycelium::mycelium_client;
use super::raw::raw_client;
use super::{Counts, Fw, Mode, Selection, Transport};

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
pub(super) fn run_pair(
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

pub(crate) fn ready(at: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "ready {at}");
    let _ = out.flush();
}

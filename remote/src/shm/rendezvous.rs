//! How two processes set up a shared-memory link: where a node accepts them (a Unix socket,
//! a segment name prefix, a ring size), the segment each accepted connection gets and its
//! name, sent over the socket to the dialling side, which opens it.
//!
//! The accepting side creates a segment named `/{prefix}.{pid}-{nonce}-{n}` (the nonce: random,
//! drawn once per process) per connection and sends its name (one length byte, the name); the
//! socket then serves the stream ([`super::stream`]) as its doorbell and death detector. An
//! acceptor sweeps its prefix when it is made: segments whose owners are all dead (left by a
//! `kill -9`) are removed.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

use super::error::ShmError;
use super::segment::{segment_name, sweep, Segment};
use super::stream::ShmStream;

/// Segments of links carry no schema digest: the link's handshake checks the schemas (and
/// accepts compatible ones), which a digest in the segment could not.
pub(super) const LINK_DIGEST: [u8; 32] = [0; 32];

/// Where a node accepts shared-memory links: the Unix socket that sets them up, the segment
/// name prefix, and the ring size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShmEndpoint {
    /// The Unix socket of the rendezvous (and doorbell).
    pub socket: PathBuf,
    /// Segment names start with `/{prefix}.`. Default `mycelium`.
    pub prefix: String,
    /// Bytes of each ring's data area (a power of two, 4 KiB to 1 GiB). Default 1 MiB.
    pub ring_bytes: usize,
}

impl ShmEndpoint {
    /// An endpoint at `socket` with the default prefix and ring size.
    pub fn new(socket: impl Into<PathBuf>) -> ShmEndpoint {
        ShmEndpoint {
            socket: socket.into(),
            prefix: "mycelium".into(),
            ring_bytes: 1 << 20,
        }
    }

    /// Reads the part of a topology endpoint after `shm:`: a socket path (relative to
    /// `socket_dir`), optionally followed by `?prefix=NAME` and/or `ring_bytes=N` joined
    /// with `&`, e.g. `feed.sock?prefix=desk1&ring_bytes=65536`.
    pub fn parse(text: &str, socket_dir: &std::path::Path) -> Result<ShmEndpoint, String> {
        let (path, query) = text.split_once('?').unwrap_or((text, ""));
        if path.is_empty() {
            return Err("empty shared-memory socket path".into());
        }
        let mut e = ShmEndpoint::new(socket_dir.join(path));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", v)) => {
                    segment_name(v, "0-0").map_err(|e| e.to_string())?;
                    e.prefix = v.to_owned();
                }
                Some(("ring_bytes", v)) => {
                    let n: usize = v
                        .parse()
                        .map_err(|_| format!("ring_bytes `{v}` is not a number"))?;
                    if !super::ring::check_capacity(n) {
                        return Err(ShmError::BadRingSize(n).to_string());
                    }
                    e.ring_bytes = n;
                }
                _ => {
                    return Err(format!(
                        "unknown shared-memory option `{pair}`; use prefix=NAME or ring_bytes=N"
                    ))
                }
            }
        }
        Ok(e)
    }
}

/// Dials `endpoint`: connects its socket, receives the segment's name, opens it. Returns the
/// socket, the segment and who is at the other end (for logs).
pub(super) async fn dial(
    endpoint: &ShmEndpoint,
) -> Result<(UnixStream, Segment, String), ShmError> {
    let name = endpoint.socket.display().to_string();
    let io = |what| {
        let name = name.clone();
        move |source| ShmError::Io { name, what, source }
    };
    let mut socket = UnixStream::connect(&endpoint.socket)
        .await
        .map_err(io("connect to the socket of"))?;
    let len = socket
        .read_u8()
        .await
        .map_err(io("receive the segment name from"))?;
    let mut segment = vec![0u8; usize::from(len)];
    socket
        .read_exact(&mut segment)
        .await
        .map_err(io("receive the segment name from"))?;
    let segment =
        String::from_utf8(segment).map_err(|_| ShmError::InvalidName("(not UTF-8)".into()))?;
    if !segment.starts_with('/') || segment_name("x", &segment[1..]).is_err() {
        return Err(ShmError::InvalidName(segment));
    }
    let seg = Segment::open(&segment, LINK_DIGEST)?;
    let peer = format!("shm:{} ({segment})", endpoint.socket.display());
    Ok((socket, seg, peer))
}

/// The link part of a segment's name: `{pid}-{nonce}-{n}`. The pid alone does not tell
/// processes apart when containers with their own pid namespaces share `/dev/shm` (several
/// may be pid 1); the nonce, drawn at random once per process, does.
fn link_name(pid: u32, nonce: u64, n: u64) -> String {
    format!("{pid}-{nonce:016x}-{n}")
}

/// This process's nonce for segment names.
fn process_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(fresh_nonce)
}

/// A random 64-bit value (from the system's generator; if that fails, from the standard
/// library's randomly keyed hasher and the time).
fn fresh_nonce() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    })
}

/// Accepts shared-memory links on a Unix socket that the caller bound.
#[derive(Debug)]
pub struct ShmAcceptor {
    prefix: String,
    ring_bytes: usize,
}

/// The number of the next link segment this process creates: one count for all acceptors, so
/// that two listeners of one prefix never pick the same name.
static NEXT_LINK: AtomicU64 = AtomicU64::new(0);

impl ShmAcceptor {
    /// An acceptor for `endpoint`; sweeps segments of its prefix that dead processes left.
    pub fn new(endpoint: &ShmEndpoint) -> Result<ShmAcceptor, ShmError> {
        segment_name(&endpoint.prefix, &link_name(u32::MAX, u64::MAX, u64::MAX))?;
        if !super::ring::check_capacity(endpoint.ring_bytes) {
            return Err(ShmError::BadRingSize(endpoint.ring_bytes));
        }
        for removed in sweep(&endpoint.prefix) {
            tracing::info!(target: "mycelium::remote", segment = %removed,
                "removed a shared-memory segment left by a dead process");
        }
        Ok(ShmAcceptor {
            prefix: endpoint.prefix.clone(),
            ring_bytes: endpoint.ring_bytes,
        })
    }

    /// Sets up the segment of a connection just accepted on the socket.
    pub fn accepted(&self, socket: UnixStream, peer: String) -> Result<ShmStream, ShmError> {
        let n = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
        let link = link_name(std::process::id(), process_nonce(), n);
        let name = segment_name(&self.prefix, &link)?;
        let seg = Segment::create(&name, self.ring_bytes, LINK_DIGEST)?;
        let mut hello = vec![name.len() as u8];
        hello.extend_from_slice(name.as_bytes());
        // A fresh socket's buffer takes a few hundred bytes without waiting. The standard
        // library under tokio sends on a socket with MSG_NOSIGNAL: a peer that already closed
        // is EPIPE, not a SIGPIPE that would kill a host that has not ignored it (checked by
        // `writes_to_a_dead_peer_raise_no_sigpipe`).
        match socket.try_write(&hello) {
            Ok(n) if n == hello.len() => {}
            Ok(_) => {
                return Err(ShmError::Io {
                    name,
                    what: "send the name of",
                    source: io::Error::new(io::ErrorKind::WriteZero, "short write"),
                })
            }
            Err(source) => {
                return Err(ShmError::Io {
                    name,
                    what: "send the name of",
                    source,
                })
            }
        }
        let peer = format!("{peer} ({name})");
        ShmStream::new(socket, seg, peer).map_err(|source| ShmError::Io {
            name,
            what: "register the link's socket with the runtime",
            source,
        })
    }
}

#[cfg(all(test, not(mycelium_loom)))]
#[path = "rendezvous_tests.rs"]
mod tests;

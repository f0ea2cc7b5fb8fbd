//! The shared-memory transport of a link: a byte stream over the two rings of a segment, so
//! that the link layer (handshake, sequence numbers, acknowledgements, resends, loss reports,
//! heartbeats) runs on shared memory unchanged.
//!
//! Setting up: the accepting side listens on a Unix socket (mode 0600, same-user peers only,
//! as for `unix:` endpoints). For each connection it creates a segment named
//! `/{prefix}.{pid}-{nonce}-{n}` (the nonce: random, drawn once per process) and sends its
//! name over the socket (one length byte, the name); the dialling side opens it. Bytes then flow through the rings; each write of the link layer
//! (several frames when it coalesces) becomes one ring record, split at the ring's largest
//! message. The socket stays open as the doorbell of tasks that wait (see
//! [`super::wake::Doorbell`]) and as the death detector: when the peer process dies the kernel
//! closes its end and the other side reads end of file at once.
//!
//! A listener sweeps its prefix when it binds: segments whose owners are all dead (left by a
//! `kill -9`) are removed.

use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;

use super::error::{RingError, ShmError};
use super::ring::{Consumer, Producer};
use super::segment::{segment_name, sweep, Segment};
use super::wake::Doorbell;

/// Segments of links carry no schema digest: the link's handshake checks the schemas (and
/// accepts compatible ones), which a digest in the segment could not.
const LINK_DIGEST: [u8; 32] = [0; 32];

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
}

impl ShmEndpoint {
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

/// What both halves of a stream share: the socket, and the wakers of the two halves (a
/// half that drains the socket's doorbell bytes wakes the other one, whose byte it may have
/// taken).
#[derive(Debug)]
struct Shared {
    socket: Arc<UnixStream>,
    segment: Arc<Segment>,
    read_waker: Mutex<Option<Waker>>,
    write_waker: Mutex<Option<Waker>>,
    /// The reading half parked on the socket since it last moved bytes.
    read_parked: AtomicBool,
    /// The writing half parked on the socket since it last wrote.
    write_parked: AtomicBool,
}

impl Shared {
    /// Reads every byte waiting on the socket; `Ok(true)` on end of file (the peer is gone).
    /// End of file or an error marks the peer gone in the segment.
    fn drain(&self) -> io::Result<bool> {
        let mut buf = [0u8; 64];
        loop {
            match self.socket.try_read(&mut buf) {
                Ok(0) => {
                    // The peer's end closed: it dropped the link or died (its process may
                    // not look dead yet), so this side may remove the segment when done.
                    self.segment.retire();
                    return Ok(true);
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => {
                    // A dead peer that left doorbell bytes unread shows as a reset.
                    self.segment.retire();
                    return Err(e);
                }
            }
        }
    }

    fn wake(slot: &Mutex<Option<Waker>>) {
        if let Some(w) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            w.wake();
        }
    }

    fn park(slot: &Mutex<Option<Waker>>, parked: &AtomicBool, cx: &Context<'_>) {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        parked.store(true, Ordering::Relaxed);
    }

    /// A half that had parked on the socket goes on without waiting (its ring became ready,
    /// or a direct `try_write_vectored` / `try_read` succeeded, which the link uses for asks
    /// and replies):
    /// wakes the other half if it is parked. The runtime keeps one waker per socket for
    /// readiness, the last half's to poll it, so the wake this half took may have been meant
    /// for the other, whose registration it replaced; woken, the other looks at its ring
    /// and, if it must wait still, registers again. (Without this, a reader whose doorbell
    /// woke the writer instead slept until the writer next waited for room, and the peer,
    /// which rings once per arming, did not ring again: a link stalled.)
    fn went_on(parked: &AtomicBool, other: &Mutex<Option<Waker>>) {
        if parked.load(Ordering::Relaxed) && parked.swap(false, Ordering::Relaxed) {
            Shared::wake(other);
        }
    }
}

/// A ring error as an I/O error; a corrupt ring retires the segment.
fn ring_io(e: RingError, segment: &Segment) -> io::Error {
    if matches!(e, RingError::Corrupt(_)) {
        segment.retire();
    }
    match e {
        RingError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, e),
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// A connected shared-memory stream.
#[derive(Debug)]
pub struct ShmStream {
    read: ShmReadHalf,
    write: ShmWriteHalf,
    peer: String,
}

/// The reading half of a [`ShmStream`].
#[derive(Debug)]
pub struct ShmReadHalf {
    shared: Arc<Shared>,
    inner: Mutex<ReadState>,
}

#[derive(Debug)]
struct ReadState {
    ring: Consumer,
    segment: Arc<Segment>,
    /// Bytes of the current record not yet handed out.
    pending: Vec<u8>,
    at: usize,
    eof: bool,
}

/// The writing half of a [`ShmStream`].
#[derive(Debug)]
pub struct ShmWriteHalf {
    shared: Arc<Shared>,
    ring: Producer,
    gather: Vec<u8>,
}

impl ShmStream {
    fn new(socket: UnixStream, segment: Segment, peer: String) -> ShmStream {
        let segment = Arc::new(segment);
        let socket = Arc::new(socket);
        let (mut producer, mut consumer) = segment.ends();
        let bell: Arc<dyn AsFd + Send + Sync> = socket.clone();
        producer.set_doorbell(Doorbell::new(bell.clone()));
        consumer.set_doorbell(Doorbell::new(bell));
        let shared = Arc::new(Shared {
            socket,
            segment: segment.clone(),
            read_waker: Mutex::new(None),
            write_waker: Mutex::new(None),
            read_parked: AtomicBool::new(false),
            write_parked: AtomicBool::new(false),
        });
        ShmStream {
            read: ShmReadHalf {
                shared: shared.clone(),
                inner: Mutex::new(ReadState {
                    ring: consumer,
                    segment: segment.clone(),
                    pending: Vec::new(),
                    at: 0,
                    eof: false,
                }),
            },
            write: ShmWriteHalf {
                shared,
                ring: producer,
                gather: Vec::new(),
            },
            peer,
        }
    }

    /// Dials `endpoint`: connects its socket, receives the segment's name, opens it.
    pub async fn connect(endpoint: &ShmEndpoint) -> Result<ShmStream, ShmError> {
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
        Ok(ShmStream::new(socket, seg, peer))
    }

    /// Who is at the other end (for logs).
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Splits into halves that a reader and a writer own.
    pub fn into_split(self) -> (ShmReadHalf, ShmWriteHalf) {
        (self.read, self.write)
    }
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
        Ok(ShmStream::new(socket, seg, peer))
    }
}

impl ShmReadHalf {
    /// Reads without waiting; `WouldBlock` when nothing is there, `Ok(0)` at the end.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = ReadBuf::new(buf);
        match st.take(&mut out) {
            Ok(true) => {
                // Going on after a wait, like `poll_read`: the wake may have been the writer's.
                Shared::went_on(&self.shared.read_parked, &self.shared.write_waker);
                Ok(out.filled().len())
            }
            Ok(false) if st.eof => Ok(0),
            Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        }
    }
}

impl ReadState {
    /// Moves bytes into `out`: `Ok(true)` if some were moved (or the ring is closed: `eof`).
    fn take(&mut self, out: &mut ReadBuf<'_>) -> io::Result<bool> {
        loop {
            if self.at < self.pending.len() {
                let n = (self.pending.len() - self.at).min(out.remaining());
                out.put_slice(&self.pending[self.at..self.at + n]);
                self.at += n;
                return Ok(true);
            }
            let room = out.initialize_unfilled();
            let space = room.len();
            let popped = self.ring.try_pop_split(room, &mut self.pending);
            if let Ok(Some(len)) = popped {
                let n = len.min(space);
                out.advance(n);
                self.at = 0;
            }
            match popped {
                Ok(Some(0)) => continue, // an empty record carries nothing
                Ok(Some(_)) => return Ok(true),
                Ok(None) => return Ok(false),
                Err(RingError::Closed) => {
                    self.eof = true;
                    return Ok(false);
                }
                Err(e) => return Err(ring_io(e, &self.segment)),
            }
        }
    }
}

impl AsyncRead for ShmReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shared = &this.shared;
        let st = this.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        loop {
            match st.take(buf) {
                Ok(true) => {
                    Shared::went_on(&shared.read_parked, &shared.write_waker);
                    return Poll::Ready(Ok(()));
                }
                Ok(false) if st.eof => return Poll::Ready(Ok(())),
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let ring = &st.ring;
            if !ring.readable().arm_doorbell(|| ring.ready()) {
                continue;
            }
            Shared::park(&shared.read_waker, &shared.read_parked, cx);
            match shared.socket.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let gone = shared.drain();
            ring.readable().disarm();
            Shared::wake(&shared.write_waker);
            match gone {
                Err(e) => return Poll::Ready(Err(e)),
                // The peer's process closed the socket (or died): whatever it published was
                // read above; after one more look the stream ends.
                Ok(true) => {
                    if !st.take(buf)? {
                        st.eof = true;
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(false) => {}
            }
        }
    }
}

/// Writes `data` as one ring record, or parks the task until the ring has room for it.
fn push(
    ring: &mut Producer,
    shared: &Shared,
    cx: &mut Context<'_>,
    data: &[u8],
) -> Poll<io::Result<usize>> {
    let len = data.len();
    loop {
        match ring.try_push(data) {
            Ok(true) => {
                Shared::went_on(&shared.write_parked, &shared.read_waker);
                return Poll::Ready(Ok(len));
            }
            Ok(false) => {}
            Err(e) => return Poll::Ready(Err(ring_io(e, &shared.segment))),
        }
        if !ring.writable().arm_doorbell(|| ring.ready_for(len)) {
            continue;
        }
        Shared::park(&shared.write_waker, &shared.write_parked, cx);
        match shared.socket.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        let gone = shared.drain();
        ring.writable().disarm();
        Shared::wake(&shared.read_waker);
        match gone {
            Err(e) => return Poll::Ready(Err(e)),
            Ok(true) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the peer of the shared-memory link is gone",
                )))
            }
            Ok(false) => {}
        }
    }
}

/// The bytes of the next ring record: the front of `bufs`, up to `max` bytes, taken where
/// they lie when one slice holds them all (the link writes one slice), else gathered into
/// `gather`.
fn record<'a>(gather: &'a mut Vec<u8>, max: usize, bufs: &'a [io::IoSlice<'_>]) -> &'a [u8] {
    let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
    if let Some(first) = nonempty.next() {
        if first.len() >= max || nonempty.next().is_none() {
            return &first[..first.len().min(max)];
        }
    }
    gather.clear();
    for b in bufs {
        let room = max - gather.len();
        gather.extend_from_slice(&b[..b.len().min(room)]);
        if gather.len() == max {
            break;
        }
    }
    gather
}

impl ShmWriteHalf {
    /// Writes one ring record of `bufs` (up to the ring's largest message) without waiting:
    /// `WouldBlock` when the ring has no room for it.
    pub fn try_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let data = record(&mut self.gather, self.ring.max_message(), bufs);
        if data.is_empty() {
            return Ok(0);
        }
        match self.ring.try_push(data) {
            Ok(true) => {
                // Going on after a wait, like `push`: the wake that ended it may have been the
                // reader's, and the writer task, woken, may find nothing left to write.
                Shared::went_on(&self.shared.write_parked, &self.shared.read_waker);
                Ok(data.len())
            }
            Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(ring_io(e, &self.shared.segment)),
        }
    }
}

impl AsyncWrite for ShmWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = buf.len().min(this.ring.max_message());
        if n == 0 {
            return Poll::Ready(Ok(0));
        }
        push(&mut this.ring, &this.shared, cx, &buf[..n])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let data = record(&mut this.gather, this.ring.max_message(), bufs);
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        push(&mut this.ring, &this.shared, cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ring.close();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ShmStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl AsyncWrite for ShmStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
    }
}

#[cfg(all(test, not(mycelium_loom)))]
#[path = "stream_tests.rs"]
mod tests;

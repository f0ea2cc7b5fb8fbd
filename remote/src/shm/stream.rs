//! The shared-memory transport of a link: a byte stream over the two rings of a segment, so
//! that the link layer (handshake, sequence numbers, acknowledgements, resends, loss reports,
//! heartbeats) runs on shared memory unchanged.
//!
//! The two processes set the stream up over a Unix socket ([`super::rendezvous`]). Bytes then
//! flow through the rings; each write of the link layer (several frames when it coalesces)
//! becomes one ring record, split at the ring's largest message. The socket stays open as the
//! doorbell of tasks that wait (see [`super::wake::Doorbell`]) and as the death detector: when
//! the peer process dies the kernel closes its end and the other side reads end of file at
//! once.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::UnixStream;

use super::error::{RingError, ShmError};
use super::rendezvous::{self, ShmEndpoint};
use super::ring::{Consumer, Producer, Watch};
use super::segment::Segment;
use super::wake::Doorbell;

/// What both halves of a stream share: the socket, and the wakers of the two halves (a
/// half that drains the socket's doorbell bytes wakes the other one, whose byte it may have
/// taken).
#[derive(Debug)]
struct Shared {
    /// Registered with the runtime for reading and writing ([`DOORBELL_INTEREST`]), read
    /// through the readiness guard so that a drain knows when it has emptied the socket.
    socket: Arc<AsyncFd<OwnedFd>>,
    read_waker: Mutex<Option<Waker>>,
    write_waker: Mutex<Option<Waker>>,
    /// The reading half parked on the socket since it last moved bytes.
    read_parked: AtomicBool,
    /// The writing half parked on the socket since it last wrote.
    write_parked: AtomicBool,
}

impl Shared {
    /// Reads every byte waiting on the socket, once the runtime says it is readable (`ready`,
    /// from `poll_read_ready`); `Ok(true)` on end of file (the peer is gone). A read that
    /// fills less than the buffer emptied the socket: the next byte raises a new edge, so no
    /// read is made to learn that nothing is left.
    fn drain(
        &self,
        mut ready: tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>,
    ) -> io::Result<bool> {
        let mut buf = [0u8; 64];
        loop {
            let read = ready.try_io(|fd| crate::polled::recv_now(fd.get_ref(), &mut buf));
            let Ok(read) = read else {
                // Would block: `try_io` cleared the readiness.
                return Ok(false);
            };
            match read {
                Ok(n) if n > 0 && n < buf.len() => {
                    ready.clear_ready();
                    return Ok(false);
                }
                Ok(0) => return Ok(true),
                Ok(_) => continue,
                // A dead peer that left doorbell bytes unread shows as a reset.
                Err(e) => return Err(e),
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

/// What the doorbell socket is registered for: reading (the peer's doorbell bytes and its
/// death) and, on purpose, writing, which no task waits for. A Unix socket registered for
/// writing raises an event when the peer reads what this side sent: the peer's drain of this
/// side's doorbell, the moment it wakes to take this side's record. On a host whose idle CPUs
/// halt, that event starts waking this side while the peer still works on its answer, and a
/// blocking round trip is faster with it; where the two ends share a CPU it is a wake-up for
/// nothing (measured at a2bf761, 2026-11-28: docs/perf/remote.md, "Why a blocking round trip
/// costs what it does"). tokio registers its own sockets the same way, and the link's Unix
/// sockets in block mode keep that registration for the same reason.
const DOORBELL_INTEREST: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// A ring error as an I/O error.
fn ring_io(e: RingError) -> io::Error {
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
    /// Its owner's alone: both reads take `&mut self`.
    inner: ReadState,
    /// The ring's write index and closed word, seen without a read ([`Self::nothing_new`]).
    watch: Watch,
    /// The last read found nothing, at [`Self::idle_at`]; cleared when a read moves bytes.
    idle: AtomicBool,
    /// The ring's read index (which was its write index) when a look last found nothing.
    idle_at: AtomicU64,
}

#[derive(Debug)]
struct ReadState {
    ring: Consumer,
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
    pub(super) fn new(socket: UnixStream, segment: Segment, peer: String) -> io::Result<ShmStream> {
        let socket: OwnedFd = socket.into_std()?.into();
        let socket = crate::polled::register(socket, DOORBELL_INTEREST).map_err(|(_, e)| e)?;
        let socket = Arc::new(socket);
        // The ring ends keep the segment mapped.
        let (mut producer, mut consumer) = Arc::new(segment).ends();
        let bell: Arc<dyn AsFd + Send + Sync> = socket.clone();
        producer.set_doorbell(Doorbell::new(bell.clone()));
        consumer.set_doorbell(Doorbell::new(bell));
        let shared = Arc::new(Shared {
            socket,
            read_waker: Mutex::new(None),
            write_waker: Mutex::new(None),
            read_parked: AtomicBool::new(false),
            write_parked: AtomicBool::new(false),
        });
        Ok(ShmStream {
            read: ShmReadHalf {
                shared: shared.clone(),
                watch: consumer.watch(),
                idle: AtomicBool::new(false),
                idle_at: AtomicU64::new(0),
                inner: ReadState {
                    ring: consumer,
                    pending: Vec::new(),
                    at: 0,
                    eof: false,
                },
            },
            write: ShmWriteHalf {
                shared,
                ring: producer,
                gather: Vec::new(),
            },
            peer,
        })
    }

    /// Dials `endpoint`: connects its socket, receives the segment's name, opens it.
    pub async fn connect(endpoint: &ShmEndpoint) -> Result<ShmStream, ShmError> {
        let (socket, segment, peer) = rendezvous::dial(endpoint).await?;
        ShmStream::new(socket, segment, peer).map_err(|source| ShmError::Io {
            name: endpoint.socket.display().to_string(),
            what: "register the link's socket with the runtime",
            source,
        })
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

impl ShmReadHalf {
    /// Reads without waiting; `WouldBlock` when nothing is there, `Ok(0)` at the end.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let st = &mut self.inner;
        let mut out = ReadBuf::new(buf);
        match st.take(&mut out) {
            Ok(true) => {
                self.idle.store(false, Ordering::Relaxed);
                // Going on after a wait, like `poll_read`: the wake may have been the writer's.
                Shared::went_on(&self.shared.read_parked, &self.shared.write_waker);
                Ok(out.filled().len())
            }
            Ok(false) if st.eof => Ok(0),
            Ok(false) => {
                // Nothing pending and the ring empty: its read index is the write index this
                // look found.
                self.idle_at.store(st.ring.position(), Ordering::Relaxed);
                self.idle.store(true, Ordering::Relaxed);
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        }
    }

    /// True when a [`try_read`](Self::try_read) would surely find nothing: the last one found
    /// nothing, and the writer has published nothing and closed nothing since: two loads of
    /// the ring's lines and no checked read, for a reader that spins: shared memory's spinning
    /// round trip 962-1,072 ns against 1,142-1,182 in the machine's slow state, no gain in its
    /// fast one (measured at a9838db, 2026-11-27: docs/perf/remote.md). `false` says only that
    /// a read is worth making: the read checks what the peer wrote, this need not.
    #[inline]
    pub fn nothing_new(&self) -> bool {
        self.idle.load(Ordering::Relaxed)
            && self.watch.now() == (self.idle_at.load(Ordering::Relaxed), 0)
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
                Err(e) => return Err(ring_io(e)),
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
        let st = &mut this.inner;
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
            let ready = match shared.socket.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(ready)) => ready,
            };
            let gone = shared.drain(ready);
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
            Err(e) => return Poll::Ready(Err(ring_io(e))),
        }
        if !ring.writable().arm_doorbell(|| ring.ready_for(len)) {
            continue;
        }
        Shared::park(&shared.write_waker, &shared.write_parked, cx);
        let ready = match shared.socket.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(ready)) => ready,
        };
        let gone = shared.drain(ready);
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
            Err(e) => Err(ring_io(e)),
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

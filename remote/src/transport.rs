//! Unix domain sockets and TCP behind one stream type.
//!
//! A Unix socket file is created mode 0600 in a directory that this user owns and that is
//! closed to others (created 0700 when missing); a connecting process must run as the same
//! user (`SO_PEERCRED`). TCP sockets have `TCP_NODELAY` set on both sides.
//!
//! Listening (and the socket file's checks) is in `transport/listener.rs`.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{tcp, unix, TcpStream, UnixStream};

use crate::config::Mode;
use crate::error::TransportError;
use crate::polled::{recv_now, send_now};
pub use crate::polled::{PolledRead, PolledWrite};
use crate::shm::{ShmEndpoint, ShmReadHalf, ShmStream, ShmWriteHalf};

/// Where a node listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix domain socket at this path.
    Unix(PathBuf),
    /// A TCP address, `host:port`.
    Tcp(String),
    /// Shared memory, set up through a Unix socket (same host only).
    Shm(ShmEndpoint),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
            Endpoint::Shm(e) => write!(f, "shm:{}", e.socket.display()),
        }
    }
}

/// A connected socket of either kind.
#[derive(Debug)]
pub enum Stream {
    /// Unix domain socket.
    Unix(UnixStream),
    /// TCP.
    Tcp(TcpStream),
    /// Shared memory.
    Shm(Box<ShmStream>),
    /// TLS over TCP (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

/// The read half of a [`Stream`].
#[derive(Debug)]
pub enum ReadHalf {
    /// Unix domain socket.
    Unix(unix::OwnedReadHalf),
    /// TCP.
    Tcp(tcp::OwnedReadHalf),
    /// Shared memory.
    Shm(ShmReadHalf),
    /// A Unix or TCP socket that a spinning reader polls itself, outside the runtime's
    /// reactor while it spins ([`Stream::into_polled_split`]).
    Polled(PolledRead),
    /// TLS over TCP (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(tokio::io::ReadHalf<tokio_rustls::TlsStream<TcpStream>>),
}

/// The write half of a [`Stream`].
#[derive(Debug)]
pub enum WriteHalf {
    /// Unix domain socket.
    Unix(unix::OwnedWriteHalf),
    /// TCP.
    Tcp(tcp::OwnedWriteHalf),
    /// Shared memory.
    Shm(ShmWriteHalf),
    /// The write half of a polled socket ([`Stream::into_polled_split`]).
    Polled(PolledWrite),
    /// TLS over TCP (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(tokio::io::WriteHalf<tokio_rustls::TlsStream<TcpStream>>),
}

impl Stream {
    /// Splits into halves that a reader and a writer own.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Unix(r), WriteHalf::Unix(w))
            }
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Shm(s) => {
                let (r, w) = (*s).into_split();
                (ReadHalf::Shm(r), WriteHalf::Shm(w))
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (ReadHalf::Tls(r), WriteHalf::Tls(w))
            }
        }
    }

    /// Splits into halves for a link in `mode`: [`into_polled_split`](Self::into_polled_split)
    /// when its reader spins, [`into_split`](Self::into_split) when it parks.
    ///
    /// A parking reader keeps tokio's own registration, for reading and writing, on purpose:
    /// a Unix socket registered for writing raises an event when the peer reads this side's
    /// ask, which on a host whose idle CPUs halt starts waking this side while the peer works
    /// on the answer; where the two ends share a CPU the same event is a wake-up for nothing.
    /// Measured at a2bf761, 2026-11-28, a blocking round trip was faster with it on the idle
    /// host (docs/perf/remote.md, "Why a blocking round trip costs what it does").
    pub fn split_for(self, mode: Mode) -> io::Result<(ReadHalf, WriteHalf)> {
        match mode {
            Mode::Spin(_) => self.into_polled_split(),
            Mode::Block => Ok(self.into_split()),
        }
    }

    /// Splits into halves for a link whose reader spins: a Unix or TCP socket leaves the
    /// runtime's reactor and is registered again only while one of its halves waits
    /// (`polled.rs`); shared memory and TLS split as [`into_split`](Self::into_split) does.
    pub fn into_polled_split(self) -> io::Result<(ReadHalf, WriteHalf)> {
        let socket: std::os::fd::OwnedFd = match self {
            Stream::Unix(s) => s.into_std()?.into(),
            Stream::Tcp(s) => s.into_std()?.into(),
            other => return Ok(other.into_split()),
        };
        let (rd, wr) = crate::polled::split(socket)?;
        Ok((ReadHalf::Polled(rd), WriteHalf::Polled(wr)))
    }

    /// Connects to `endpoint` (plain TCP or Unix; see [`TlsClient`](crate::tls::TlsClient)
    /// for TLS).
    pub async fn connect(endpoint: &Endpoint) -> Result<Stream, TransportError> {
        let err = |source| TransportError::Io {
            what: "cannot connect to",
            endpoint: endpoint.to_string(),
            source,
        };
        match endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path)
                .await
                .map(Stream::Unix)
                .map_err(err),
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect(addr.as_str()).await.map_err(err)?;
                s.set_nodelay(true).map_err(err)?;
                Ok(Stream::Tcp(s))
            }
            Endpoint::Shm(e) => ShmStream::connect(e)
                .await
                .map(|s| Stream::Shm(Box::new(s)))
                .map_err(|e| shm_error("cannot set up shared memory with", endpoint, e)),
        }
    }
}

impl ReadHalf {
    /// Reads without waiting; `WouldBlock` when nothing is there.
    ///
    /// Sockets are read with a system call every time, not only once tokio's I/O driver has
    /// seen them readable: a spinning reader looks at its socket between the driver's polls.
    /// (Edge-triggered readiness stays correct: bytes that arrive later raise a new edge.)
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ReadHalf::Unix(r) => recv_now(r.as_ref(), buf),
            ReadHalf::Tcp(r) => recv_now(r.as_ref(), buf),
            ReadHalf::Shm(r) => r.try_read(buf),
            ReadHalf::Polled(r) => r.try_read(buf),
            // A TLS stream has no readiness-free read: poll it once with a waker that does
            // nothing (the next real poll registers the task's waker again).
            #[cfg(feature = "tls")]
            ReadHalf::Tls(r) => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                let mut rb = ReadBuf::new(buf);
                match Pin::new(r).poll_read(&mut cx, &mut rb) {
                    Poll::Ready(Ok(())) => Ok(rb.filled().len()),
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    /// A polled socket leaves the runtime's reactor: its reader polls it from now on, until
    /// a read waits again. Other kinds stay as they are.
    pub(crate) fn unregister(&mut self) {
        if let ReadHalf::Polled(r) = self {
            r.unregister();
        }
    }

    /// Whether [`try_read`](Self::try_read) sees bytes as soon as they arrive (sockets and
    /// shared memory), or only after the runtime's I/O driver has run (TLS).
    pub fn reads_directly(&self) -> bool {
        match self {
            ReadHalf::Unix(_) | ReadHalf::Tcp(_) | ReadHalf::Shm(_) | ReadHalf::Polled(_) => true,
            #[cfg(feature = "tls")]
            ReadHalf::Tls(_) => false,
        }
    }
}

impl ReadHalf {
    /// Whether a spinning reader should pause between two looks ([`std::hint::spin_loop`]):
    /// on shared memory, whose look is a load of a line the other process writes. A look at
    /// a socket is a system call, which takes far longer than the pause would, and a pause
    /// there only delays the look that finds the bytes (measured at 425a328, 2026-11-27:
    /// docs/perf/remote.md).
    pub fn pauses_between_looks(&self) -> bool {
        matches!(self, ReadHalf::Shm(_))
    }

    /// True when a [`try_read`](Self::try_read) would surely find nothing, known without
    /// reading: on shared memory, the ring unchanged since a read found it empty
    /// ([`ShmReadHalf::nothing_new`]); never on a socket, where only the read can tell.
    #[inline]
    pub fn nothing_new(&self) -> bool {
        match self {
            ReadHalf::Shm(r) => r.nothing_new(),
            _ => false,
        }
    }
}

impl WriteHalf {
    /// Writes without waiting and without registering for readiness: `WouldBlock` when the
    /// socket's buffer or the ring is full. Sockets are written with `send` (one slice) or `sendmsg` and
    /// `MSG_NOSIGNAL` (a closed peer is an error, never a `SIGPIPE`).
    pub(crate) fn try_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            WriteHalf::Unix(w) => send_now(w.as_ref(), bufs),
            WriteHalf::Tcp(w) => send_now(w.as_ref(), bufs),
            WriteHalf::Shm(w) => w.try_write_vectored(bufs),
            WriteHalf::Polled(w) => w.try_write_vectored(bufs),
            #[cfg(feature = "tls")]
            WriteHalf::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Whether [`try_write_vectored`](Self::try_write_vectored) can write (not TLS, which is
    /// written only by polling it).
    pub(crate) fn writes_directly(&self) -> bool {
        match self {
            WriteHalf::Unix(_) | WriteHalf::Tcp(_) | WriteHalf::Shm(_) | WriteHalf::Polled(_) => {
                true
            }
            #[cfg(feature = "tls")]
            WriteHalf::Tls(_) => false,
        }
    }
}

/// The error of setting up an accepted shared-memory connection. A peer that closed before
/// the segment's name reached it (a probe of whether the node listens, a health check) is
/// `ConnectionAborted`: that one connection is gone, and the accept loop goes on at once.
/// Anything else (no room in `/dev/shm`, a segment that cannot be created) is about this
/// process: the loop waits before it tries again.
fn shm_accept_error(peer: &str, e: crate::shm::ShmError) -> io::Error {
    let gone = matches!(
        &e,
        crate::shm::ShmError::Io { source, .. }
            if matches!(
                source.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            )
    );
    let kind = if gone {
        io::ErrorKind::ConnectionAborted
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, format!("{peer}: {e}"))
}

macro_rules! delegate {
    ($self:ident, $inner:ident => $e:expr $(, $extra:ident)*) => {
        match $self.get_mut() {
            Self::Unix($inner) => $e,
            Self::Tcp($inner) => $e,
            Self::Shm($inner) => $e,
            $(Self::$extra($inner) => $e,)*
            #[cfg(feature = "tls")]
            Self::Tls($inner) => $e,
        }
    };
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf), Polled)
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf), Polled)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs), Polled)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx), Polled)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx), Polled)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

fn shm_error(what: &'static str, endpoint: &Endpoint, e: crate::shm::ShmError) -> TransportError {
    TransportError::Io {
        what,
        endpoint: endpoint.to_string(),
        source: io::Error::other(e),
    }
}

mod listener;
#[cfg(test)]
mod tests;

pub use listener::{Listener, SocketFile};

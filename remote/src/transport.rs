//! Unix domain sockets and TCP behind one stream type.
//!
//! A Unix socket file is created mode 0600 in a directory that this user owns and that is
//! closed to others (created 0700 when missing); a connecting process must run as the same
//! user (`SO_PEERCRED`). TCP sockets have `TCP_NODELAY` set on both sides.

use std::fmt;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{tcp, unix, TcpListener, TcpStream, UnixListener, UnixStream};

use crate::config::Mode;
use crate::error::TransportError;
use crate::polled::{recv_now, send_now};
pub use crate::polled::{PolledRead, PolledWrite};
use crate::shm::{ShmAcceptor, ShmEndpoint, ShmReadHalf, ShmStream, ShmWriteHalf};

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

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// Unix domain socket; `uid` owns the socket file and is the only uid accepted.
    Unix {
        /// The socket.
        listener: UnixListener,
        /// Its path (removed when the listener is dropped).
        path: PathBuf,
        /// The uid that owns the socket file.
        uid: u32,
        /// The socket file, removed when the listener is dropped unless
        /// [`take_socket_file`](Listener::take_socket_file) took it out first.
        file: Option<SocketFile>,
    },
    /// TCP.
    Tcp(TcpListener),
    /// Shared memory: a Unix socket where links are set up, and what sets them up.
    Shm {
        /// The Unix socket (a `Listener::Unix`).
        socket: Box<Listener>,
        /// Creates a segment per accepted connection.
        acceptor: ShmAcceptor,
        /// The endpoint as given.
        endpoint: ShmEndpoint,
    },
}

/// Why the socket file at `path` must not be replaced: a process listens on it, or whether
/// one does cannot be told. `None` when nobody answers (the file is stale).
async fn listened_on(path: &Path) -> Option<String> {
    let shown = path.display();
    let probe =
        tokio::time::timeout(std::time::Duration::from_secs(1), UnixStream::connect(path)).await;
    match probe {
        Ok(Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            None
        }
        Ok(Ok(_)) | Err(_) => Some(format!(
            "another process listens on {shown}; stop it, or give this node another socket path"
        )),
        Ok(Err(e)) => Some(format!(
            "cannot tell whether another process listens on {shown} (connecting to it: {e}); \
             if no process uses it, remove it"
        )),
    }
}

impl Listener {
    /// Binds `endpoint`. For a Unix socket, the directory is created (0700) if missing and
    /// must be owned by this user and closed to group and others; a stale socket file left by
    /// a dead process (nobody answers on it) is replaced, one where a process listens is
    /// refused (`AddrInUse`).
    pub async fn bind(endpoint: &Endpoint) -> Result<Listener, TransportError> {
        let err = |source| TransportError::Io {
            what: "cannot listen on",
            endpoint: endpoint.to_string(),
            source,
        };
        match endpoint {
            Endpoint::Tcp(addr) => TcpListener::bind(addr.as_str())
                .await
                .map(Listener::Tcp)
                .map_err(err),
            Endpoint::Shm(e) => {
                let acceptor =
                    ShmAcceptor::new(e).map_err(|e| shm_error("cannot listen on", endpoint, e))?;
                let socket = Box::pin(Listener::bind(&Endpoint::Unix(e.socket.clone()))).await?;
                Ok(Listener::Shm {
                    socket: Box::new(socket),
                    acceptor,
                    endpoint: e.clone(),
                })
            }
            Endpoint::Unix(path) => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                    _ => PathBuf::from("."),
                };
                if !dir.exists() {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(&dir)
                        .map_err(err)?;
                }
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    use std::os::unix::fs::FileTypeExt;
                    if meta.file_type().is_socket() {
                        if let Some(why) = listened_on(path).await {
                            return Err(err(io::Error::new(io::ErrorKind::AddrInUse, why)));
                        }
                        // Already gone is fine: a listener that was closing removed it.
                        match std::fs::remove_file(path) {
                            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err(e)),
                            _ => {}
                        }
                    }
                }
                let listener = UnixListener::bind(path).map_err(err)?;
                let cleanup = |e: TransportError| {
                    let _ = std::fs::remove_file(path);
                    e
                };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(err)
                    .map_err(cleanup)?;
                // The socket file was just created by this process: its owner is our uid.
                let meta = std::fs::metadata(path).map_err(err).map_err(cleanup)?;
                check_directory(&dir, meta.uid()).map_err(cleanup)?;
                Ok(Listener::Unix {
                    listener,
                    path: path.clone(),
                    uid: meta.uid(),
                    file: Some(SocketFile {
                        path: path.clone(),
                        id: (meta.dev(), meta.ino()),
                    }),
                })
            }
        }
    }

    /// Accepts one connection and returns it with the peer's address. A Unix peer running as
    /// another user is refused here (`PermissionDenied`).
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), addr.to_string()))
            }
            Listener::Unix {
                listener,
                path,
                uid,
                ..
            } => {
                let (s, _) = listener.accept().await?;
                let cred = s.peer_cred()?;
                let peer = format!(
                    "unix:{} (pid {:?}, uid {})",
                    path.display(),
                    cred.pid(),
                    cred.uid()
                );
                if cred.uid() != *uid {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("{peer} runs as another user; refused"),
                    ));
                }
                Ok((Stream::Unix(s), peer))
            }
            Listener::Shm {
                socket, acceptor, ..
            } => {
                let (s, peer) = Box::pin(socket.accept()).await?;
                let Stream::Unix(s) = s else {
                    return Err(io::Error::other(
                        "a Unix listener accepted a non-Unix stream",
                    ));
                };
                let stream = acceptor
                    .accepted(s, peer.clone())
                    .map_err(|e| shm_accept_error(&peer, e))?;
                Ok((Stream::Shm(Box::new(stream)), format!("shm:{peer}")))
            }
        }
    }

    /// Takes the duty of removing the socket file (Unix and shared-memory endpoints) out of
    /// the listener: the file is then removed when the returned [`SocketFile`] is dropped,
    /// not when the listener is. A node keeps it, so that shutting the node down removes the
    /// file at once, while the listener itself may live on a little longer in a task that is
    /// being aborted (and must not then remove a file that a successor bound at the path).
    pub fn take_socket_file(&mut self) -> Option<SocketFile> {
        match self {
            Listener::Unix { file, .. } => file.take(),
            Listener::Shm { socket, .. } => socket.take_socket_file(),
            Listener::Tcp(_) => None,
        }
    }

    /// The address bound (for TCP port 0: the port chosen).
    pub fn local_endpoint(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => Ok(Endpoint::Tcp(l.local_addr()?.to_string())),
            Listener::Unix { path, .. } => Ok(Endpoint::Unix(path.clone())),
            Listener::Shm { endpoint, .. } => Ok(Endpoint::Shm(endpoint.clone())),
        }
    }
}

/// A Unix listener's socket file: removed when this is dropped, if the path still names the
/// file that was bound (device and inode), never one that a successor bound at the same path.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn shm_error(what: &'static str, endpoint: &Endpoint, e: crate::shm::ShmError) -> TransportError {
    TransportError::Io {
        what,
        endpoint: endpoint.to_string(),
        source: io::Error::other(e),
    }
}

fn check_directory(dir: &Path, uid: u32) -> Result<(), TransportError> {
    let unsafe_dir = |problem: String| TransportError::UnsafeDirectory {
        path: dir.to_owned(),
        problem,
    };
    let meta = std::fs::metadata(dir).map_err(|e| unsafe_dir(format!("cannot be read: {e}")))?;
    if meta.uid() != uid {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, not by this user (uid {uid})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "has mode {mode:o}, open to other users"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_dir::Dir;

    #[tokio::test]
    async fn a_socket_where_a_process_listens_is_not_replaced() {
        let dir = Dir::new("live");
        let endpoint = Endpoint::Unix(dir.0.join("a.sock"));
        let first = Listener::bind(&endpoint).await.unwrap();
        let err = Listener::bind(&endpoint).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("another process listens on"), "{msg}");
        assert!(msg.contains("a.sock"), "{msg}");
        // The first listener still has its file and takes connections.
        UnixStream::connect(dir.0.join("a.sock")).await.unwrap();
        drop(first);
    }

    #[tokio::test]
    async fn a_shm_peer_that_closes_before_the_segment_name_aborts_one_connection() {
        let dir = Dir::new("shm-probe");
        let mut shm = ShmEndpoint::new(dir.0.join("a.sock"));
        shm.prefix = format!("myc-probe-{}", std::process::id());
        shm.ring_bytes = 4096;
        let listener = Listener::bind(&Endpoint::Shm(shm.clone())).await.unwrap();
        // A probe: connects, closes before the acceptor sends the segment's name.
        drop(std::os::unix::net::UnixStream::connect(&shm.socket).unwrap());
        let Err(err) = listener.accept().await else {
            panic!("a connection whose peer closed was set up");
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
        // The listener goes on: the next connection is set up.
        let (accepted, connected) = tokio::join!(listener.accept(), ShmStream::connect(&shm));
        let (Stream::Shm(_), _) = accepted.unwrap() else {
            panic!("not a shared-memory stream");
        };
        drop(connected.unwrap());
        // Both ends dropped: no segment is left, the probe's included.
        let left = std::fs::read_dir("/dev/shm")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&shm.prefix))
            .count();
        assert_eq!(left, 0, "segments left behind");
    }

    #[tokio::test]
    async fn a_stale_socket_file_is_replaced() {
        let dir = Dir::new("stale");
        let path = dir.0.join("a.sock");
        // Bound and closed without removing its file, as a killed process leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = Listener::bind(&Endpoint::Unix(path.clone())).await.unwrap();
        UnixStream::connect(&path).await.unwrap();
        drop(listener);
    }
}

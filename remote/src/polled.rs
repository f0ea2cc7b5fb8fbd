//! A socket that a spinning link polls itself: outside tokio's reactor while it is polled,
//! registered with it only while a task waits for it.
//!
//! A socket registered with the runtime's epoll set pays for it on every crossing, whoever
//! reads it: the peer's write raises its readable event and this side's read raises the
//! peer's writable one, each a callback in the kernel and an event for the runtime's next poll
//! of its I/O driver. A spinning reader reads its socket with `recv` whatever the runtime
//! knows, so while it spins the registration only costs: without it, a spinning round trip's
//! ratio to a raw socket's fell from 1.34 to 1.29 over Unix sockets and from 1.22 to 1.15
//! over TCP (measured at c33f01d, 2026-11-25: docs/perf/remote.md, "History"). So in
//! spin mode each half of a Unix or TCP connection holds a descriptor of its own (the read
//! half the socket's, the write half a duplicate: epoll tells registrations apart by
//! descriptor), registers it only when a read or a write must wait, and leaves the reactor
//! again when its owner says so ([`PolledRead::unregister`], called as the reader starts to
//! spin) or, for the write half, at the first write that goes through after a wait.
//!
//! Nothing is missed between a `recv` (or `send`) that would block and the registration that
//! follows it: adding a descriptor to an epoll set reports the readiness it already has.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A descriptor of the socket, in the reactor or out of it.
#[derive(Debug)]
enum Registration {
    /// Out of the reactor: read and written with system calls only.
    Out(OwnedFd),
    /// In the reactor, for the one interest of its half.
    In(AsyncFd<OwnedFd>),
    /// Only while moving between the two (every call would fail with [`gone`]).
    Moving,
}

impl Registration {
    fn fd(&self) -> io::Result<std::os::fd::BorrowedFd<'_>> {
        match self {
            Registration::Out(fd) => Ok(fd.as_fd()),
            Registration::In(fd) => Ok(fd.get_ref().as_fd()),
            Registration::Moving => Err(gone()),
        }
    }

    /// In the reactor for `interest` (a no-op when already in). A registration that fails
    /// leaves the descriptor out of the reactor.
    fn register(&mut self, interest: Interest) -> io::Result<&AsyncFd<OwnedFd>> {
        if let Registration::Out(_) = self {
            if let Registration::Out(fd) = std::mem::replace(self, Registration::Moving) {
                *self = match register(fd, interest) {
                    Ok(registered) => Registration::In(registered),
                    Err((fd, e)) => {
                        *self = Registration::Out(fd);
                        return Err(e);
                    }
                };
            }
        }
        match self {
            Registration::In(fd) => Ok(fd),
            _ => Err(gone()),
        }
    }

    /// Out of the reactor (a no-op when already out).
    fn unregister(&mut self) {
        if let Registration::In(_) = self {
            if let Registration::In(fd) = std::mem::replace(self, Registration::Moving) {
                *self = Registration::Out(fd.into_inner());
            }
        }
    }
}

/// Registers `fd`, a socket, with the current runtime's reactor for `interest`; on failure the
/// descriptor comes back with the error.
pub(crate) fn register(
    fd: OwnedFd,
    interest: Interest,
) -> Result<AsyncFd<OwnedFd>, (OwnedFd, io::Error)> {
    // SAFETY: the `OwnedFd` is an open descriptor of the socket; the `AsyncFd` owns it until
    // `into_inner` hands it back (`unregister`) or it is dropped, and nothing replaces it
    // meanwhile, so it names the same socket throughout. The unit tests below (and the
    // spin-mode tests of `remote/tests/delivery/`) park and wake both halves through it and
    // check, in `/proc/self/fdinfo`, which descriptor each epoll set holds and for what; the
    // shared-memory stream's tests park and wake its doorbell socket through it.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts())
}

/// The error of a half caught between its two states (a panic inside tokio's registration).
fn gone() -> io::Error {
    io::Error::other("the socket could not be registered with the runtime's reactor")
}

/// Splits a connected socket (Unix or TCP, in non-blocking mode, out of any reactor) into
/// halves polled by their owners.
pub(crate) fn split(socket: OwnedFd) -> io::Result<(PolledRead, PolledWrite)> {
    let dup = socket.try_clone()?;
    Ok((
        PolledRead(Registration::Out(socket)),
        PolledWrite(Registration::Out(dup)),
    ))
}

/// The read half of a polled socket.
#[derive(Debug)]
pub struct PolledRead(Registration);

impl PolledRead {
    /// One `recv` without waiting: `WouldBlock` when nothing is there.
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        recv_now(self.0.fd()?, buf)
    }

    /// Leaves the reactor: the owner polls the socket itself from now on.
    pub(crate) fn unregister(&mut self) {
        self.0.unregister();
    }
}

impl AsyncRead for PolledRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match recv_now(this.0.fd()?, buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let mut guard = ready!(this.0.register(Interest::READABLE)?.poll_read_ready(cx))?;
            // Readiness the `recv` above already used up: wait for the next edge.
            guard.clear_ready();
        }
    }
}

/// The write half of a polled socket. Dropping it shuts the socket's writing direction down,
/// as tokio's halves do.
#[derive(Debug)]
pub struct PolledWrite(Registration);

impl PolledWrite {
    /// Writes without waiting: `WouldBlock` when the socket's buffer is full.
    pub(crate) fn try_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        send_now(self.0.fd()?, bufs)
    }
}

impl AsyncWrite for PolledWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match send_now(this.0.fd()?, bufs) {
                Ok(n) => {
                    // The wait is over: out of the reactor until the next full buffer.
                    this.0.unregister();
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let mut guard = ready!(this.0.register(Interest::WRITABLE)?.poll_write_ready(cx))?;
            guard.clear_ready();
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let fd = self.0.fd()?;
        Poll::Ready(
            rustix::net::shutdown(fd, rustix::net::Shutdown::Write).map_err(io::Error::from),
        )
    }
}

impl Drop for PolledWrite {
    fn drop(&mut self) {
        if let Ok(fd) = self.0.fd() {
            // A socket the peer already closed, or shut down before: nothing left to do.
            let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Write);
        }
    }
}

/// One non-blocking send on a socket (polled, or one tokio owns): `WouldBlock` when its buffer
/// is full; `MSG_NOSIGNAL`, so a closed peer is an error, never a `SIGPIPE`.
///
/// One slice (what the link writes: its frames copied back to back) goes with `send`, several
/// with `sendmsg`: `send` skips the message header that `sendmsg` copies in and checks
/// (measured at dbc8d18, 2026-11-25: docs/perf/remote.md, "History").
pub(crate) fn send_now(socket: impl AsFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
    if let [one] = bufs {
        return rustix::net::send(socket, one, flags).map_err(io::Error::from);
    }
    let mut no_control = rustix::net::SendAncillaryBuffer::default();
    rustix::net::sendmsg(socket, bufs, &mut no_control, flags).map_err(io::Error::from)
}

/// One non-blocking `recv` on a socket (polled, or one tokio owns): `WouldBlock` when nothing
/// is there.
pub(crate) fn recv_now(socket: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    match rustix::net::recv(socket, buf, rustix::net::RecvFlags::DONTWAIT) {
        Ok((n, _)) => Ok(n),
        Err(e) => Err(io::Error::from(e)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::future::Future;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, RawFd};
    use std::task::Waker;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Whether some epoll set of this process holds descriptor `fd`.
    fn registered(fd: RawFd) -> bool {
        !registered_events(fd).is_empty()
    }

    /// The event masks with which the epoll sets of this process watch descriptor `fd`
    /// (`/proc/self/fdinfo` of each epoll descriptor lists the descriptors it watches as
    /// `tfd:`, each with its `events:` in hexadecimal and its `data:`). A runtime's epoll set
    /// has two descriptors (its registry is a duplicate): each registration counts once.
    pub(crate) fn registered_events(fd: RawFd) -> Vec<u32> {
        let mut found = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir("/proc/self/fd").expect("proc").flatten() {
            let is_epoll = std::fs::read_link(entry.path())
                .is_ok_and(|t| t.to_string_lossy() == "anon_inode:[eventpoll]");
            if !is_epoll {
                continue;
            }
            let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
            let Ok(text) = std::fs::read_to_string(info) else {
                continue;
            };
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("tfd:") else {
                    continue;
                };
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.first().and_then(|n| n.parse().ok()) != Some(fd) {
                    continue;
                }
                let after = |key: &str| {
                    let at = words.iter().position(|w| *w == key).expect(key);
                    words[at + 1].to_owned()
                };
                let events = u32::from_str_radix(&after("events:"), 16).expect("an events mask");
                found.insert(after("data:"), events);
            }
        }
        found.into_values().collect()
    }

    pub(crate) const EPOLLIN: u32 = 0x1;
    pub(crate) const EPOLLOUT: u32 = 0x4;

    fn fd_of(r: &Registration) -> RawFd {
        r.fd().expect("a descriptor").as_raw_fd()
    }

    /// A polled pair: this side's halves and the other end, a plain non-blocking socket.
    fn pair() -> (PolledRead, PolledWrite, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("non-blocking");
        b.set_nonblocking(true).expect("non-blocking");
        let (rd, wr) = split(a.into()).expect("split");
        (rd, wr, b)
    }

    /// Polls `f` once with a waker that does nothing.
    fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Fills the socket's buffer from `wr` until a write would block.
    fn fill(wr: &mut PolledWrite) {
        let chunk = [7u8; 4096];
        while wr.try_write_vectored(&[io::IoSlice::new(&chunk)]).is_ok() {}
    }

    /// Reads everything the other end has, without waiting.
    fn drain(b: &mut std::os::unix::net::UnixStream) -> usize {
        let (mut buf, mut total) = ([0u8; 65536], 0);
        while let Ok(n) = b.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    }

    #[tokio::test]
    async fn a_read_that_waits_registers_and_unregister_leaves_the_reactor() {
        let (mut rd, _wr, mut b) = pair();
        let fd = fd_of(&rd.0);
        assert!(!registered(fd), "split out of the reactor");
        let mut buf = [0u8; 16];
        {
            let mut read = std::pin::pin!(rd.read(&mut buf));
            assert!(poll_once(read.as_mut()).is_pending());
            assert!(registered(fd), "a read that waits registers");
            b.write_all(b"hello").expect("write");
            assert_eq!(read.await.expect("read"), 5);
        }
        assert_eq!(&buf[..5], b"hello");
        rd.unregister();
        assert!(!registered(fd), "unregistered");
        assert_eq!(
            rd.try_read(&mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        b.write_all(b"again").expect("write");
        assert_eq!(rd.try_read(&mut buf).expect("read"), 5);
        // Bytes that came while out of the reactor are read at once by a read that would
        // otherwise wait: nothing is missed between the two.
        b.write_all(b"third").expect("write");
        assert_eq!(rd.read(&mut buf).await.expect("read"), 5);
        assert_eq!(&buf[..5], b"third");
    }

    #[tokio::test]
    async fn a_write_that_finds_the_buffer_full_waits_for_room_then_leaves_the_reactor() {
        let (_rd, mut wr, mut b) = pair();
        let fd = fd_of(&wr.0);
        fill(&mut wr);
        let mut total = 0;
        {
            let mut write = std::pin::pin!(wr.write(b"after the wait"));
            assert!(poll_once(write.as_mut()).is_pending());
            assert!(registered(fd), "a write that waits registers");
            total += drain(&mut b);
            assert_eq!(write.await.expect("write"), 14);
        }
        assert!(!registered(fd), "out of the reactor after the write");
        total += drain(&mut b);
        assert!(total > 14, "the filled buffer and the last write arrived");
    }

    /// Each half registers for its own interest alone: a socket registered for writing
    /// raises an event each time the peer reads what this side sent, which a spinning reader,
    /// parked for want of traffic, has no use for.
    #[tokio::test]
    async fn a_half_that_waits_registers_for_its_own_interest_alone() {
        let (mut rd, mut wr, _b) = pair();
        let rfd = fd_of(&rd.0);
        let mut buf = [0u8; 16];
        let mut read = std::pin::pin!(rd.read(&mut buf));
        assert!(poll_once(read.as_mut()).is_pending());
        let events = registered_events(rfd);
        assert_eq!(events.len(), 1, "one registration: {events:x?}");
        assert_ne!(events[0] & EPOLLIN, 0, "{:x}", events[0]);
        assert_eq!(events[0] & EPOLLOUT, 0, "not for writing: {:x}", events[0]);

        fill(&mut wr);
        let wfd = fd_of(&wr.0);
        let mut write = std::pin::pin!(wr.write(b"x"));
        assert!(poll_once(write.as_mut()).is_pending());
        let events = registered_events(wfd);
        assert_eq!(events.len(), 1, "one registration: {events:x?}");
        assert_ne!(events[0] & EPOLLOUT, 0, "{:x}", events[0]);
        assert_eq!(events[0] & EPOLLIN, 0, "not for reading: {:x}", events[0]);
    }

    #[tokio::test]
    async fn both_halves_wait_at_once_on_the_same_socket() {
        let (mut rd, mut wr, mut b) = pair();
        fill(&mut wr);
        let mut buf = [0u8; 8];
        let mut read = std::pin::pin!(rd.read(&mut buf));
        let mut write = std::pin::pin!(wr.write(b"x"));
        assert!(poll_once(read.as_mut()).is_pending());
        // Would fail with "File exists" were both halves the same descriptor.
        assert!(poll_once(write.as_mut()).is_pending());
        b.write_all(b"ping").expect("write");
        assert_eq!(read.await.expect("read"), 4);
        drain(&mut b);
        assert_eq!(write.await.expect("write"), 1);
    }

    #[tokio::test]
    async fn dropping_the_write_half_shuts_its_direction_down() {
        let (mut rd, wr, mut b) = pair();
        drop(wr);
        b.set_nonblocking(false).expect("blocking");
        let mut buf = [0u8; 4];
        assert_eq!(b.read(&mut buf).expect("end of stream"), 0);
        // The other direction is still open.
        b.write_all(b"back").expect("write");
        assert_eq!(rd.read(&mut buf).await.expect("read"), 4);
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream_for_the_peer() {
        let (_rd, mut wr, mut b) = pair();
        wr.write_all(b"last").await.expect("write");
        wr.shutdown().await.expect("shutdown");
        b.set_nonblocking(false).expect("blocking");
        let mut got = Vec::new();
        b.read_to_end(&mut got).expect("read to the end");
        assert_eq!(got, b"last");
    }
}

//! Unit tests of the shared-memory stream.

use super::*;
use crate::shm::rendezvous::{ShmAcceptor, LINK_DIGEST};
use crate::shm::segment::sweep;
use tokio::io::AsyncReadExt;

/// Set for the child of `writes_to_a_dead_peer_raise_no_sigpipe`.
const SIGPIPE_CHILD: &str = "MYCELIUM_SHM_TEST_SIGPIPE_CHILD";

/// In that child only (otherwise it does nothing): with SIGPIPE at its default (death),
/// rings a doorbell and sends a segment's name to sockets whose peers are gone.
#[test]
fn sigpipe_child_writes_to_dead_peers() {
    let Ok(prefix) = std::env::var(SIGPIPE_CHILD) else {
        return;
    };
    // SAFETY: restores the default action of one signal; no handler runs Rust code.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);

    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(theirs);
    let bell = Doorbell::new(Arc::new(ours));
    let signal = super::super::wake::Signal::new();
    assert!(signal.arm_doorbell(|| false));
    signal.notify(Some(&bell));
    eprintln!("the doorbell rang a dead peer");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut endpoint = ShmEndpoint::new("unused.sock");
        endpoint.prefix = prefix;
        endpoint.ring_bytes = 4096;
        let acceptor = ShmAcceptor::new(&endpoint).unwrap();
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        let err = acceptor.accepted(ours, "test".into()).unwrap_err();
        assert!(err.to_string().contains("send the name"), "{err}");
    });
    eprintln!("the segment's name was sent to a dead peer");
}

#[test]
fn writes_to_a_dead_peer_raise_no_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let prefix = format!("myc-sigpipe-{}", std::process::id());
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "shm::stream::tests::sigpipe_child_writes_to_dead_peers",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(SIGPIPE_CHILD, &prefix)
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        None,
        "the child died by a signal: {status}"
    );
    assert!(status.success(), "{status}");
    assert!(sweep(&prefix).is_empty(), "no segment was left behind");
}

/// A waker that counts its wakes and lets a test await the next one.
#[derive(Default)]
struct Counting {
    wakes: std::sync::atomic::AtomicUsize,
    woken: tokio::sync::Notify,
}

impl std::task::Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.woken.notify_one();
    }
}

impl Counting {
    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::Relaxed)
    }

    /// Waits (bounded) until this waker is woken: the runtime's I/O driver runs meanwhile.
    async fn woken(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.woken.notified())
            .await
            .expect("the waker was not woken");
    }
}

/// Both ends of a link over a segment with rings of 4 KiB (records of 1000 bytes: four
/// fill a ring), as the acceptor and the dialler set them up.
async fn linked(tag: &str) -> (ShmStream, ShmStream) {
    let mut endpoint = ShmEndpoint::new("unused.sock");
    endpoint.prefix = format!("myc-{tag}-{}", std::process::id());
    endpoint.ring_bytes = 4096;
    let acceptor = ShmAcceptor::new(&endpoint).unwrap();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let accepted = acceptor.accepted(ours, "acceptor".into()).unwrap();
    let len = theirs.read_u8().await.unwrap();
    let mut name = vec![0; usize::from(len)];
    theirs.read_exact(&mut name).await.unwrap();
    let seg = Segment::open(std::str::from_utf8(&name).unwrap(), LINK_DIGEST).unwrap();
    (
        accepted,
        ShmStream::new(theirs, seg, "dialler".into()).expect("registered"),
    )
}

const RECORD: [u8; 1000] = [5; 1000];

/// Fills `w`'s ring with direct writes.
fn fill(w: &mut ShmWriteHalf) {
    while w.try_write_vectored(&[io::IoSlice::new(&RECORD)]).is_ok() {}
}

/// Reads everything `r` holds with direct reads.
fn drain_all(r: &mut ShmReadHalf) {
    let mut buf = [0u8; 4096];
    while r.try_read(&mut buf).is_ok_and(|n| n > 0) {}
}

fn poll_read_with(r: &mut ShmReadHalf, waker: &Arc<Counting>) -> Poll<io::Result<()>> {
    let waker = Waker::from(waker.clone());
    let mut buf = [0u8; 4096];
    let mut buf = ReadBuf::new(&mut buf);
    Pin::new(r).poll_read(&mut Context::from_waker(&waker), &mut buf)
}

fn poll_write_with(w: &mut ShmWriteHalf, waker: &Arc<Counting>) -> Poll<io::Result<usize>> {
    let waker = Waker::from(waker.clone());
    Pin::new(w).poll_write(&mut Context::from_waker(&waker), &RECORD)
}

/// The doorbell socket is registered with the runtime once, for reading and for writing
/// (`DOORBELL_INTEREST`: the writable event the peer's drain raises wakes a halted CPU early).
#[tokio::test]
async fn the_doorbell_socket_is_registered_once_for_both_directions() {
    use crate::polled::tests::{registered_events, EPOLLIN, EPOLLOUT};
    use std::os::fd::AsRawFd;
    let (a, d) = linked("doorbell-interest").await;
    for end in [&a, &d] {
        let events = registered_events(end.read.shared.socket.as_raw_fd());
        assert_eq!(events.len(), 1, "one registration: {events:x?}");
        assert_eq!(
            events[0] & (EPOLLIN | EPOLLOUT),
            EPOLLIN | EPOLLOUT,
            "{:x}",
            events[0]
        );
    }
}

/// A parked reader is woken by each doorbell. The record comes through the ring, so the
/// doorbell byte is drained at the next park, with one read that finds fewer bytes than the
/// buffer holds and clears the readiness: the next byte must still raise a new edge.
#[tokio::test]
async fn a_parked_reader_wakes_at_every_doorbell() {
    let (a, d) = linked("doorbells").await;
    let ((mut a_read, _a_write), (_d_read, mut d_write)) = (a.into_split(), d.into_split());
    let mut buf = [0u8; 64];
    for round in 0..50u8 {
        let reader = Arc::<Counting>::default();
        assert!(
            poll_read_with(&mut a_read, &reader).is_pending(),
            "round {round}"
        );
        d_write
            .try_write_vectored(&[io::IoSlice::new(&[round; 3])])
            .unwrap();
        reader.woken().await;
        let n = a_read.try_read(&mut buf).unwrap();
        assert_eq!(buf[..n], [round; 3]);
    }
}

/// Both halves of one end wait on the socket, whose one registration is the writer's (it
/// polled last); the peer rings for both, and the runtime wakes the writer alone. A direct
/// write then succeeds (an ask's), and the writer task, woken, finds nothing to write: the
/// direct write must pass the wake on to the reader, or its record waits for the writer's
/// next push (a heartbeat away).
#[tokio::test]
async fn a_direct_write_after_a_wait_wakes_the_parked_reader() {
    let (a, d) = linked("direct-write").await;
    let ((mut a_read, mut a_write), (mut d_read, mut d_write)) = (a.into_split(), d.into_split());
    let (reader, writer) = (Arc::<Counting>::default(), Arc::<Counting>::default());
    assert!(poll_read_with(&mut a_read, &reader).is_pending());
    fill(&mut a_write);
    assert!(poll_write_with(&mut a_write, &writer).is_pending());
    // The peer publishes a record (rings the reader's doorbell) and frees the ring (rings
    // the writer's).
    d_write
        .try_write_vectored(&[io::IoSlice::new(b"for the reader")])
        .unwrap();
    drain_all(&mut d_read);
    writer.woken().await;
    assert_eq!(reader.wakes(), 0, "the runtime keeps one waker per socket");
    let n = a_write
        .try_write_vectored(&[io::IoSlice::new(b"an ask")])
        .unwrap();
    assert_eq!(n, 6);
    assert!(reader.wakes() > 0, "the parked reader was not woken");
    let mut buf = [0u8; 64];
    let n = a_read.try_read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"for the reader");
}

/// As `a_direct_write_after_a_wait_wakes_the_parked_reader`, the other way round: the
/// reader polled last, the runtime wakes it alone, and a direct read takes the record: it
/// must pass the wake on to the writer, which waits for room.
#[tokio::test]
async fn a_direct_read_after_a_wait_wakes_the_parked_writer() {
    let (a, d) = linked("direct-read").await;
    let ((mut a_read, mut a_write), (mut d_read, mut d_write)) = (a.into_split(), d.into_split());
    let (reader, writer) = (Arc::<Counting>::default(), Arc::<Counting>::default());
    fill(&mut a_write);
    assert!(poll_write_with(&mut a_write, &writer).is_pending());
    assert!(poll_read_with(&mut a_read, &reader).is_pending());
    drain_all(&mut d_read);
    d_write
        .try_write_vectored(&[io::IoSlice::new(b"for the reader")])
        .unwrap();
    reader.woken().await;
    assert_eq!(writer.wakes(), 0, "the runtime keeps one waker per socket");
    let mut buf = [0u8; 64];
    let n = a_read.try_read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"for the reader");
    assert!(writer.wakes() > 0, "the parked writer was not woken");
}

#[tokio::test]
async fn two_acceptors_of_one_prefix_in_one_process_both_accept() {
    let dir = std::env::temp_dir();
    let mut endpoint = ShmEndpoint::new(dir.join("unused.sock"));
    endpoint.prefix = format!("myc-two-acceptors-{}", std::process::id());
    endpoint.ring_bytes = 4096;
    let first = ShmAcceptor::new(&endpoint).unwrap();
    let second = ShmAcceptor::new(&endpoint).unwrap();
    let mut kept = Vec::new();
    for _ in 0..2 {
        for acceptor in [&first, &second] {
            let (ours, theirs) = UnixStream::pair().unwrap();
            let stream = acceptor.accepted(ours, "test".into()).unwrap();
            kept.push((stream, theirs));
        }
    }
    let mut names: Vec<&str> = kept.iter().map(|(s, _)| s.peer()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "{names:?}");
    drop(kept);
    assert!(sweep(&endpoint.prefix).is_empty());
    let left = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&endpoint.prefix)
        })
        .count();
    assert_eq!(left, 0, "every segment was unlinked");
}

/// A spinning reader's look without the lock (`nothing_new`) says "nothing" only while the
/// ring is as the last empty read left it: a record, bytes of a record still pending, the
/// writer's close and a scribbled control block each make it read again, and that read sees
/// them.
#[tokio::test]
async fn a_look_without_the_lock_hides_no_record_no_close_and_no_scribble() {
    let (a, b) = linked("nothing-new").await;
    let (mut r, _aw) = a.into_split();
    let (_br, mut w) = b.into_split();
    let mut buf = [0u8; 4096];
    let would_block =
        |r: io::Result<usize>| r.is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock);

    assert!(!r.nothing_new(), "no read has found the ring empty yet");
    assert!(would_block(r.try_read(&mut buf)));
    assert!(r.nothing_new());

    w.try_write_vectored(&[io::IoSlice::new(b"quote")]).unwrap();
    assert!(!r.nothing_new(), "a record came");
    assert_eq!(r.try_read(&mut buf).unwrap(), 5);
    assert!(!r.nothing_new(), "bytes moved: the next look reads");
    assert!(would_block(r.try_read(&mut buf)));
    assert!(r.nothing_new());

    // A record longer than the read leaves bytes pending in the reader, none in the ring.
    w.try_write_vectored(&[io::IoSlice::new(&[7; 100])])
        .unwrap();
    assert_eq!(r.try_read(&mut buf[..10]).unwrap(), 10);
    assert!(!r.nothing_new(), "90 bytes are pending");
    assert_eq!(r.try_read(&mut buf).unwrap(), 90);
    assert!(would_block(r.try_read(&mut buf)));
    assert!(r.nothing_new());

    // Random words over both control blocks (write and read indices, wake-up words, closed
    // flags), as the link test `a_scribbled_segment_closes_the_connection_and_the_link_recovers`
    // writes them.
    let lead = format!("myc-nothing-new-{}.", std::process::id());
    let name = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(&lead))
        .expect("the link's segment");
    let fd = rustix::shm::open(
        format!("/{name}").as_str(),
        rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for at in (256..1536).step_by(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rustix::io::pwrite(&fd, &x.to_le_bytes(), at).unwrap();
    }
    assert!(!r.nothing_new(), "the scribbled words are looked at");
    let err = r.try_read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(
        !r.nothing_new(),
        "a failed read leaves the look to the next read"
    );
}

/// The writer's close, with nothing published after the last empty read, ends the stream at
/// the next read: the look without the lock sees the closed flag.
#[tokio::test]
async fn a_look_without_the_lock_sees_the_writer_close() {
    let (a, b) = linked("nothing-new-close").await;
    let (mut r, _aw) = a.into_split();
    let (_br, w) = b.into_split();
    let mut buf = [0u8; 64];
    assert!(r.try_read(&mut buf).is_err());
    assert!(r.nothing_new());
    drop(w);
    assert!(!r.nothing_new(), "the writer closed");
    assert_eq!(r.try_read(&mut buf).unwrap(), 0, "end of stream");
}

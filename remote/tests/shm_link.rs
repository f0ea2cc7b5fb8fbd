//! The link layer over shared memory: the same order, ask, loss-report and cleanup rules as
//! over sockets, with `shm:` endpoints.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::scenario::{self, body, index, no_segments_left, segments};
use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::shm::ShmEndpoint;
use mycelium_remote::{Endpoint, LinkEventKind, Mode, Topology};

/// A shared-memory endpoint in `dir` with a prefix of its own.
fn shm_endpoint(dir: &TempDir, ring_bytes: usize) -> ShmEndpoint {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut e = ShmEndpoint::new(dir.path().join("a.sock"));
    e.prefix = format!(
        "myc-link-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    e.ring_bytes = ring_bytes;
    e
}

async fn in_order_over_shm(mode: Mode, ring_bytes: usize) {
    let dir = TempDir::new("shm-order");
    let endpoint = shm_endpoint(&dir, ring_bytes);
    // A reply larger than the ring's largest message crosses in several records.
    let (a, b, link) =
        scenario::in_order(&Endpoint::Shm(endpoint.clone()), mode, 5000, ring_bytes).await;
    assert_eq!(
        segments(&endpoint.prefix).len(),
        1,
        "one segment per connection"
    );
    drop((link, a, b));
    no_segments_left(&endpoint.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_peer_fills_the_ring_and_nothing_is_lost_or_reordered() {
    let dir = TempDir::new("shm-stalled");
    // A 64 KiB ring: 32 asks of 16 KiB fill it many times over.
    let endpoint = shm_endpoint(&dir, 64 * 1024);
    scenario::stalled_peer(&Endpoint::Shm(endpoint.clone()), Mode::Block, 32, 16 * 1024).await;
    no_segments_left(&endpoint.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_shm_blocking() {
    in_order_over_shm(Mode::Block, 4096).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_and_asks_in_order_over_shm_spinning() {
    in_order_over_shm(Mode::Spin(Duration::from_micros(50)), 1 << 16).await;
}

/// Same as over sockets: the first incarnation of `a` takes 3 messages and stops consuming;
/// a new incarnation takes its place; the sender reports exactly the unacknowledged ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_restart_over_shm_reports_the_exact_lost_range() {
    let dir = TempDir::new("shm-restart");
    let endpoint = shm_endpoint(&dir, 4096);
    let (a2, b, link) = scenario::peer_restart(&Endpoint::Shm(endpoint.clone())).await;
    drop((link, a2, b));
    no_segments_left(&endpoint.prefix).await;
}

#[test]
fn topology_reads_shm_endpoints_and_their_options() {
    let text = r#"
socket_dir = "/run/myc"
secret_env = "MYC_SECRET"

[[node]]
name = "feed"
endpoint = "shm:feed.sock?prefix=desk1&ring_bytes=65536"
services = []

[[node]]
name = "strategy"
endpoint = "shm:strategy.sock"
services = []
"#;
    let t = Topology::parse(text, "split-shm.toml", std::path::Path::new("/base")).unwrap();
    let Endpoint::Shm(feed) = &t.nodes[0].endpoint else {
        panic!("not shm: {:?}", t.nodes[0].endpoint)
    };
    assert_eq!(feed.socket, std::path::Path::new("/run/myc/feed.sock"));
    assert_eq!((feed.prefix.as_str(), feed.ring_bytes), ("desk1", 65536));
    let Endpoint::Shm(strategy) = &t.nodes[1].endpoint else {
        panic!("not shm")
    };
    assert_eq!(
        (strategy.prefix.as_str(), strategy.ring_bytes),
        ("mycelium", 1 << 20)
    );

    for (bad, says) in [
        ("shm:", "empty"),
        ("shm:a.sock?ring_bytes=1000", "power of two"),
        (
            "shm:a.sock?prefix=a/b",
            "invalid shared-memory segment name",
        ),
        ("shm:a.sock?colour=blue", "unknown shared-memory option"),
    ] {
        let text = format!(
            "socket_dir = \"/run/myc\"\nsecret_env = \"S\"\n[[node]]\nname = \"a\"\nendpoint = \"{bad}\"\n"
        );
        let err = Topology::parse(&text, "t.toml", std::path::Path::new("/base")).unwrap_err();
        assert!(err.to_string().contains(says), "{bad}: {err}");
        assert_eq!(err.line, 5, "{bad}: {err}");
    }
}

/// A listener that hands out `name` as the segment to open, then keeps the socket open.
async fn fake_acceptor(dir: &TempDir, name: &'static [u8]) -> ShmEndpoint {
    use tokio::io::AsyncWriteExt;
    let path = dir.path().join("fake.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let mut hello = vec![name.len() as u8];
            hello.extend_from_slice(name);
            let _ = s.write_all(&hello).await;
            let mut buf = [0u8; 16];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
        }
    });
    ShmEndpoint::new(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_segment_name_from_the_acceptor_is_refused() {
    use mycelium_remote::shm::{ShmError, ShmStream};
    let dir = TempDir::new("shm-badname");
    let e = fake_acceptor(&dir, b"/../../etc/passwd").await;
    let err = ShmStream::connect(&e).await.unwrap_err();
    assert!(matches!(err, ShmError::InvalidName(_)), "{err}");

    let dir = TempDir::new("shm-noname");
    let e = fake_acceptor(&dir, b"/myc-absent.segment-that-does-not-exist").await;
    let err = ShmStream::connect(&e).await.unwrap_err();
    assert!(
        matches!(err, ShmError::Io { .. }) && err.to_string().contains("does-not-exist"),
        "{err}"
    );

    // A listener with a bad ring size or prefix is refused before it binds.
    let mut bad = ShmEndpoint::new(dir.path().join("bad.sock"));
    bad.ring_bytes = 1000;
    let err = mycelium_remote::shm::ShmAcceptor::new(&bad).unwrap_err();
    assert!(err.to_string().contains("power of two"), "{err}");
    bad.ring_bytes = 1 << 16;
    bad.prefix = "a/b".into();
    let err = mycelium_remote::shm::ShmAcceptor::new(&bad).unwrap_err();
    assert!(matches!(err, ShmError::InvalidName(_)), "{err}");

    // Nobody listening: the error names the socket.
    let e = ShmEndpoint::new(dir.path().join("nobody.sock"));
    let err = ShmStream::connect(&e).await.unwrap_err();
    assert!(err.to_string().contains("nobody.sock"), "{err}");
}

/// Random bytes written over a live link's segment (both control blocks): the side that
/// reads them closes the connection with the reason, the link comes back on a fresh
/// segment, and every message arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scribbled_segment_closes_the_connection_and_the_link_recovers() {
    let dir = TempDir::new("shm-scribble");
    let endpoint = shm_endpoint(&dir, 4096);
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a
        .listen(&Endpoint::Shm(endpoint.clone()), &["b"])
        .await
        .unwrap();
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at);
    let svc: Arc<str> = "sink".into();
    for i in 0..100u32 {
        link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    let mut all = recv_n(&mut got, 100).await;

    let names = segments(&endpoint.prefix);
    assert_eq!(names.len(), 1);
    let fd = rustix::shm::open(
        format!("/{}", names[0]).as_str(),
        rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    // Past the header: both control blocks (write and read indices, wake-up words).
    for at in (256..1536).step_by(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rustix::io::pwrite(&fd, &x.to_le_bytes(), at).unwrap();
    }
    drop(fd);

    for i in 100..200u32 {
        link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    let corrupt = |k: &LinkEventKind| matches!(k, LinkEventKind::Down { reason, by_peer: false } if reason.contains("corrupt"));
    // One side or the other reads the scribbled indices first.
    tokio::select! {
        _ = a_events.wait("down on a corrupt ring", corrupt) => {}
        _ = b_events.wait("down on a corrupt ring", corrupt) => {}
    }
    all.extend(recv_n(&mut got, 100).await);
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
    drop((link, a, b));
    no_segments_left(&endpoint.prefix).await;
}

#[tokio::test]
async fn a_shm_stream_carries_gathered_and_direct_writes_through_a_small_read_buffer() {
    use mycelium_remote::shm::{ShmAcceptor, ShmStream};
    use std::io::IoSlice;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = TempDir::new("shm-stream");
    let endpoint = shm_endpoint(&dir, 4096);
    let listener = tokio::net::UnixListener::bind(&endpoint.socket).unwrap();
    let acceptor = ShmAcceptor::new(&endpoint).unwrap();
    // The acceptor sends the segment's name, which `connect` waits for.
    let (server, connected) = tokio::join!(
        async {
            let (socket, _) = listener.accept().await.unwrap();
            acceptor.accepted(socket, "test".into()).unwrap()
        },
        ShmStream::connect(&endpoint)
    );
    let (mut rd, _w) = connected.unwrap().into_split();
    let (_r, mut wr) = server.into_split();

    let max = 4096 / 2 - 8; // the largest record of a 4 KiB ring
    let big: Vec<u8> = (0..max + 100).map(|i| (i % 251) as u8).collect();
    let mut expected = b"abcdef".to_vec();
    expected.extend_from_slice(&big[..max]);
    expected.extend_from_slice(&big[..max]);
    expected.extend_from_slice(b"tail");
    let write = async {
        // Several slices: gathered into one record.
        let n = wr
            .write_vectored(&[
                IoSlice::new(b"ab"),
                IoSlice::new(b""),
                IoSlice::new(b"cdef"),
            ])
            .await
            .unwrap();
        assert_eq!(n, 6);
        // One slice (after an empty one), longer than a record: written where it lies, cut
        // at the largest record.
        let n = wr
            .write_vectored(&[IoSlice::new(b""), IoSlice::new(&big)])
            .await
            .unwrap();
        assert_eq!(n, max);
        // A slice that fills a record, then more: only the first slice goes (the ring has
        // room for it once the reader took the record before).
        let slices = [IoSlice::new(&big[..max]), IoSlice::new(b"zz")];
        let mut turns = 0;
        let n = loop {
            match wr.try_write_vectored(&slices) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && turns < 100_000 => {
                    turns += 1;
                    tokio::task::yield_now().await
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(n, max);
        assert_eq!(wr.write(b"tail").await.unwrap(), 4);
    };
    let read = async {
        let mut got = Vec::new();
        let mut small = [0u8; 13]; // records arrive split across reads
        while got.len() < expected.len() {
            let n = rd.read(&mut small).await.unwrap();
            assert!(n > 0, "the stream ended after {} bytes", got.len());
            got.extend_from_slice(&small[..n]);
        }
        got
    };
    let ((), got) = tokio::join!(write, read);
    assert_eq!(got, expected);
    drop((rd, wr, _r, _w));
    no_segments_left(&endpoint.prefix).await;
}

/// With no heartbeat to wake a sleeping side now and then, streams of tells and a reply
/// larger than a ring record still complete, in both modes: no doorbell is lost. (Both
/// halves of a link's end wait on one socket, for which the runtime keeps a single waker; a
/// reader whose doorbell woke the writer instead slept until the writer next waited for
/// room, and the link stalled until a heartbeat came, a second later at best.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_doorbell_is_lost_when_no_heartbeat_comes() {
    for mode in [Mode::Block, Mode::Spin(Duration::from_micros(50))] {
        for _ in 0..3 {
            let dir = TempDir::new("shm-doorbell");
            let endpoint = shm_endpoint(&dir, 1 << 16);
            let config = mycelium_remote::LinkConfig {
                mode,
                heartbeat_interval: Duration::from_secs(3600),
                heartbeat_timeout: Duration::from_secs(7200),
                ..fast_config()
            };
            let at = Endpoint::Shm(endpoint.clone());
            let (a, b, link) =
                tokio::time::timeout(BOUND, scenario::in_order_with(&at, config, 5000, 1 << 16))
                    .await
                    .unwrap_or_else(|_| panic!("the link stalled ({mode:?})"));
            drop((link, a, b));
            no_segments_left(&endpoint.prefix).await;
        }
    }
}

//! Connections that never authenticate: more than the handshakes in progress allowed, and
//! garbage bytes that never reach a link.

use std::sync::Arc;

use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::transport::Stream;
use mycelium_remote::{Endpoint, LinkEventKind};
use tokio::io::AsyncWriteExt;

/// More connections that never authenticate than the listener has handshake slots, all
/// held open (each opened by `open`): the oldest is closed to make room (at once, not after
/// the handshake deadline), and a well-behaved peer that dials while they are held links and
/// delivers.
async fn half_open_connections_never_keep_a_peer_out<S, F>(
    listen_on: Endpoint,
    open: impl Fn(usize, Endpoint) -> F,
) where
    S: tokio::io::AsyncRead + Unpin,
    F: std::future::Future<Output = S>,
{
    use tokio::io::AsyncReadExt;
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = mycelium_remote::LinkConfig {
        // Longer than any wait of the test: a connection closed in time had its slot taken.
        handshake_timeout: 3 * BOUND,
        ..fast_config()
    };
    let (a, _) = node("a", &bus, rec.clone(), config);
    let at = a.listen(&listen_on, &["b"]).await.unwrap();
    let mut idle = Vec::new();
    for n in 0..mycelium_remote::MAX_HANDSHAKES + 8 {
        idle.push(open(n, at.clone()).await);
    }
    // The oldest is closed once the slots are full (the accepting node's hello may come
    // first); read until the end.
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match idle[0].read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the oldest half-open connection is closed");
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at);
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "svc".into();
    link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(b"after"))
        .await
        .unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, b"after");
    drop(idle);
    b.shutdown();
    a.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_unix_connections_never_keep_a_peer_out() {
    let dir = TempDir::new("handshakes");
    half_open_connections_never_keep_a_peer_out(dir.socket("a.sock"), connect).await;
}

/// All from one address, the peer's: that address's limit, its own oldest closed each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_tcp_connections_never_keep_a_peer_out() {
    half_open_connections_never_keep_a_peer_out(Endpoint::Tcp("127.0.0.1:0".into()), connect).await;
}

/// From eight other loopback addresses, each under its own limit: the listener's limit, the
/// oldest of all closed each time.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_tcp_connections_from_many_addresses_never_keep_a_peer_out() {
    const SOURCES: usize = 8;
    assert!(
        (mycelium_remote::MAX_HANDSHAKES + 8).div_ceil(SOURCES)
            < mycelium_remote::MAX_HANDSHAKES_PER_SOURCE
    );
    let from = |n: usize, at: Endpoint| async move {
        // Linux routes all of 127.0.0.0/8 to the loopback interface.
        let source = std::net::SocketAddr::from(([127, 0, 0, 2 + (n % SOURCES) as u8], 0));
        let Endpoint::Tcp(addr) = at else {
            unreachable!("a TCP listener")
        };
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(source).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    };
    half_open_connections_never_keep_a_peer_out(Endpoint::Tcp("127.0.0.1:0".into()), from).await;
}

async fn connect(_: usize, at: Endpoint) -> Stream {
    Stream::connect(&at).await.unwrap()
}

/// A listener that closes connections without a word (as a node does to a connection whose
/// handshake slot a newer one took, or whose deadline passed): the dialler's reason names
/// those causes, not a peer that "closed the connection before sending anything".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialler_closed_on_mid_handshake_names_the_likely_causes() {
    let dir = TempDir::new("dropped");
    let at = dir.socket("mute.sock");
    let Endpoint::Unix(path) = &at else {
        unreachable!("a socket in a temporary directory")
    };
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let mute = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = mycelium_remote::LinkConfig {
        max_attempts: 1,
        ..fast_config()
    };
    let (b, mut events) = node("b", &bus, rec, config);
    let _link = b.connect("a", at);
    let gave_up = events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let LinkEventKind::GaveUp { reason } = gave_up.kind else {
        unreachable!("waited for it")
    };
    assert!(
        reason.contains("handshake slots") && reason.contains("deadline"),
        "{reason}"
    );
    assert!(!reason.contains("before sending anything"), "{reason}");
    b.shutdown();
    mute.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_garbage_never_reaches_a_link() {
    let dir = TempDir::new("garbage");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    for junk in [
        &b"\x00\x01\x02"[..],
        b"MYCL\x01\x00\x00\x00\xff\xff\xff\xff",
        &[0xffu8; 100],
    ] {
        let mut s = Stream::connect(&at).await.unwrap();
        let _ = s.write_all(junk).await;
        let _ = s.shutdown().await;
    }
    let (b, _) = node("b", &bus, rec, fast_config());
    let link = b.connect("a", at);
    let svc: Arc<str> = "svc".into();
    link.send(Kind::Tell, &svc, 1, |o| o.push(9)).await.unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, vec![9]);
    assert!(a_events
        .drain()
        .iter()
        .all(|e| !matches!(e.kind, LinkEventKind::Down { .. })));
}

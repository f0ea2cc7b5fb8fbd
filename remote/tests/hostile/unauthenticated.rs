//! Connections that never authenticate: more than the handshakes in progress allowed, and
//! garbage bytes that never reach a link.

use std::sync::Arc;

use crate::common::*;
use crate::good_peer_tells_after;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::transport::Stream;
use mycelium_remote::LinkEventKind;
use tokio::io::AsyncWriteExt;

/// Connections that never finish their handshake hold at most `MAX_HANDSHAKES` places: one
/// more is closed at once (not after the handshake deadline), and the node serves a
/// well-behaved peer once they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_handshakes_in_progress_are_closed_at_once() {
    use tokio::io::AsyncReadExt;
    let dir = TempDir::new("handshakes");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = mycelium_remote::LinkConfig {
        // Longer than any wait of the test: a connection closed in time was turned away.
        handshake_timeout: 3 * BOUND,
        ..fast_config()
    };
    let (a, _) = node("a", &bus, rec.clone(), config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..mycelium_remote::MAX_HANDSHAKES {
        idle.push(Stream::connect(&at).await.unwrap());
    }
    let mut extra = Stream::connect(&at).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(BOUND, extra.read(&mut buf))
        .await
        .expect("the connection beyond the limit is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(idle);
    let _b = good_peer_tells_after(&bus, rec, at).await;
    assert_eq!(recv_n(&mut got, 1).await[0].body, b"after");
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

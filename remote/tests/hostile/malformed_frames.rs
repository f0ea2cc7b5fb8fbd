//! Malformed frames from an authenticated peer: random bytes, an oversized or truncated
//! frame, a lying length, a frame out of sequence, a handshake frame after the handshake.

use crate::common::*;
use crate::good_peer_tells_after;

use mycelium_actors::Bus;
use mycelium_codec::HEADER_LEN;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::LinkEventKind;
use tokio::io::AsyncWriteExt;

fn tell(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let spec = FrameSpec {
        kind: Kind::Tell,
        type_id: 1,
        seq,
        ts_ns: 0,
        ack: 0,
        corr: 0,
        name: "svc",
        key: None,
    };
    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(payload)
    })
    .unwrap();
    out
}

/// Sends `bytes` after a valid frame and returns the reason the node gave for closing.
async fn close_reason(bytes: Vec<u8>, then_eof: bool) -> String {
    let (reason, delivered) = close_reason_and_deliveries(bytes, then_eof).await;
    assert!(delivered.is_empty(), "{delivered:?}");
    reason
}

/// Also returns the bodies the hostile bytes got delivered (a frame whose length lies but
/// whose layout holds is, to the link, a frame; the receiving codec then judges its body).
async fn close_reason_and_deliveries(bytes: Vec<u8>, then_eof: bool) -> (String, Vec<Vec<u8>>) {
    let dir = TempDir::new("hostile");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();

    let (mut peer, _) = authenticated_peer(&at).await;
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    peer.write_all(&tell(1, b"fine")).await.unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, b"fine");
    peer.write_all(&bytes).await.unwrap();
    if then_eof {
        peer.shutdown().await.unwrap();
    }
    let down = a_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, by_peer } = down.kind else {
        unreachable!()
    };
    assert!(
        !by_peer,
        "seen on this side, not closed by the peer: {reason}"
    );
    drop(peer);

    // The node lives on: a real `b` connects and is served.
    let _b = good_peer_tells_after(&bus, rec, at).await;
    let mut delivered = Vec::new();
    loop {
        let next = recv_n(&mut got, 1).await.remove(0);
        if next.body == b"after" {
            break;
        }
        delivered.push(next.body);
    }
    (reason, delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_close_the_link() {
    // Fixed pseudo-random bytes (xorshift), never starting with the magic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8 | 0x80
        })
        .collect();
    let reason = close_reason(bytes, false).await;
    assert!(reason.contains("malformed frame"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_is_refused_from_its_header() {
    let mut frame = tell(2, b"x");
    frame[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    frame.truncate(HEADER_LEN);
    let reason = close_reason(frame, false).await;
    assert!(
        reason.contains("malformed frame") && reason.contains("exceeds"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_then_close() {
    let frame = tell(2, b"payload");
    let reason = close_reason(frame[..frame.len() - 3].to_vec(), true).await;
    assert!(reason.contains("middle of a frame"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_length_desynchronises_and_closes() {
    // The header claims 10 more bytes than the frame has: the next frame's first bytes are
    // swallowed into this one, and what follows is no frame.
    let mut first = tell(2, b"abc");
    let claimed = u32::from_le_bytes(first[8..12].try_into().unwrap()) + 10;
    first[8..12].copy_from_slice(&claimed.to_le_bytes());
    let second = tell(3, b"def");
    first.extend(&second);
    first.extend(tell(4, b"ghi"));
    let (reason, delivered) = close_reason_and_deliveries(first, false).await;
    assert!(reason.contains("malformed frame"), "{reason}");
    // One body arrived, with the next frame's first 10 bytes in it; nothing after it.
    let mut swallowed = b"abc".to_vec();
    swallowed.extend(&second[..10]);
    assert_eq!(delivered, vec![swallowed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_sequence_frame_closes() {
    let reason = close_reason(tell(5, b"early"), false).await;
    assert!(reason.contains("out-of-sequence"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_frame_after_the_handshake_closes() {
    for kind in [Kind::Hello, Kind::Proof, Kind::Verdict, Kind::Schema] {
        let mut frame = Vec::new();
        encode_frame(
            &mut frame,
            &FrameSpec::control(kind),
            DEFAULT_MAX_BODY,
            |_| {},
        )
        .unwrap();
        let reason = close_reason(frame, false).await;
        assert!(
            reason.contains("protocol violation") && reason.contains(&format!("{kind:?}")),
            "{kind:?}: {reason}"
        );
    }
}

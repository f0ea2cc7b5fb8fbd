//! Heartbeats: a silent peer declared dead, and a heartbeat sent only an interval after the
//! last frame.

use std::time::Duration;

use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{Endpoint, LinkConfig, LinkEventKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_declared_dead_by_heartbeat_timeout() {
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let quiet = LinkConfig {
        heartbeat_interval: Duration::from_secs(3600),
        ..fast_config()
    };
    let watchful = LinkConfig {
        heartbeat_interval: Duration::from_millis(50),
        heartbeat_timeout: Duration::from_millis(300),
        ..fast_config()
    };
    // `a` never sends a heartbeat; `b` expects one every 300 ms.
    let (a, _) = node("a", &bus, rec.clone(), quiet);
    let at = a
        .listen(&Endpoint::Tcp("127.0.0.1:0".into()), &["b"])
        .await
        .unwrap();
    let (b, mut b_events) = node("b", &bus, rec, watchful);
    let _link = b.connect("a", at);
    let down = b_events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    let LinkEventKind::Down { reason, by_peer } = down.kind else {
        unreachable!()
    };
    assert!(reason.contains("heartbeat timeout"), "{reason}");
    assert!(!by_peer, "a timeout is seen on this side");
}

/// A heartbeat goes out only once nothing else was written for an interval: the acks of a
/// stream of tells put it off, and after the stream it comes an interval after the last frame.
/// Read from the times the frames carry (`ts_ns`, the writer's bus clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_comes_only_an_interval_after_the_last_frame_written() {
    use mycelium_remote::frame::{encode_frame, FrameSpec, DEFAULT_MAX_BODY};
    use mycelium_remote::reader::FrameReader;
    use mycelium_remote::transport::Stream;
    use tokio::io::AsyncWriteExt;

    /// The next frame from `a`: its kind, time and acknowledgement.
    async fn next(peer: &mut Stream, reader: &mut FrameReader) -> (Kind, u64, u64) {
        loop {
            if let Some(f) = reader.next_buffered().expect("well-formed frames") {
                return (f.kind, f.ts_ns, f.ack);
            }
            reader.fill(peer).await.expect("a stays connected");
        }
    }

    let interval = Duration::from_millis(40);
    let dir = TempDir::new("heartbeat-gap");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let config = LinkConfig {
        heartbeat_interval: interval,
        heartbeat_timeout: BOUND,
        ..fast_config()
    };
    let (a, _a_events) = node("a", &bus, rec, config);
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, mut reader) = authenticated_peer(&at).await;
    let mut seen: Vec<(Kind, u64)> = Vec::new();
    let mut streamed = 0;
    tokio::time::timeout(BOUND, async {
        // Tells, each sent once the last is acknowledged, for three intervals of a's time.
        for seq in 1..=100_000u64 {
            let mut frame = Vec::new();
            let spec = FrameSpec {
                seq,
                name: "svc",
                type_id: 1,
                ..FrameSpec::control(Kind::Tell)
            };
            encode_frame(&mut frame, &spec, DEFAULT_MAX_BODY, |o| o.push(7)).unwrap();
            peer.write_all(&frame).await.unwrap();
            loop {
                let (kind, ts, ack) = next(&mut peer, &mut reader).await;
                seen.push((kind, ts));
                if ack >= seq {
                    break;
                }
            }
            streamed = seen.last().unwrap().1 - seen[0].1;
            if streamed >= 3 * interval.as_nanos() as u64 {
                break;
            }
        }
        // Then nothing: two heartbeats.
        while seen.iter().filter(|f| f.0 == Kind::Heartbeat).count() < 2 {
            let (kind, ts, _) = next(&mut peer, &mut reader).await;
            seen.push((kind, ts));
        }
    })
    .await
    .expect("two heartbeats within the bound");
    assert!(
        streamed >= 3 * interval.as_nanos() as u64,
        "the tells went on for {streamed} ns only"
    );
    for (i, w) in seen.windows(2).enumerate() {
        if w[1].0 == Kind::Heartbeat {
            assert!(
                w[1].1 - w[0].1 >= interval.as_nanos() as u64,
                "frame {}: a heartbeat {} ns after the frame before it ({:?}), under the interval",
                i + 1,
                w[1].1 - w[0].1,
                w[0].0
            );
        }
    }
}

/// A tell is queued without a time: the writer stamps each batch it takes with one reading
/// of the clock (`write.rs`). Every tell on the wire carries one, read on the sender's bus
/// clock after the tell was sent and before it arrived, never earlier than the tell before
/// it; a batch that left a frame unstamped would show it as time 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tell_written_carries_the_time_it_was_taken_for_writing() {
    use mycelium_remote::reader::FrameReader;
    use mycelium_remote::transport::Stream;
    use std::sync::Arc;

    async fn next_tell(peer: &mut Stream, reader: &mut FrameReader) -> (u64, u64) {
        loop {
            if let Some(f) = reader.next_buffered().expect("well-formed frames") {
                if f.kind == Kind::Tell {
                    return (f.seq, f.ts_ns);
                }
                continue;
            }
            reader.fill(peer).await.expect("a stays connected");
        }
    }

    /// Bursts of 1, 2, ... tells.
    const BURSTS: u64 = 12;
    let dir = TempDir::new("frame-times");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let (a, _a_events) = node("a", &bus, rec, fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, mut reader) = authenticated_peer(&at).await;
    let link = a.link("b").expect("a's link to b");
    let svc: Arc<str> = "svc".into();
    let before = bus.now().as_nanos() as u64;
    assert!(before > 0, "the bus clock has moved since the bus was made");
    // In bursts, so that the writer takes batches of several tells as well as single ones.
    let mut last = before;
    let mut seen = 0;
    tokio::time::timeout(BOUND, async {
        for burst in 1..=BURSTS {
            for _ in 0..burst {
                link.send(Kind::Tell, &svc, 1, |o| o.push(7)).await.unwrap();
            }
            tokio::task::yield_now().await;
        }
        let sent = (1..=BURSTS).sum::<u64>();
        while seen < sent {
            let (seq, ts) = next_tell(&mut peer, &mut reader).await;
            let now = bus.now().as_nanos() as u64;
            assert!(
                ts >= last && ts <= now,
                "tell {seq}: time {ts} ns, outside [{last}, {now}] (the tell before it, and now)"
            );
            last = ts;
            seen += 1;
        }
    })
    .await
    .expect("every tell within the bound");
}

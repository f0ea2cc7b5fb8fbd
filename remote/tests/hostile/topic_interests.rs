//! Topic interests from an authenticated peer: refused beyond the limit, the link living on.

use crate::common::*;

use mycelium_actors::Bus;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::LinkEventKind;
use tokio::io::AsyncWriteExt;

/// A peer that knows the secret cannot grow its topic interests without bound: beyond
/// `MAX_TOPIC_INTERESTS` a Subscribe is refused (counted, logged, the link lives on), and an
/// Unsubscribe makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_interests_beyond_the_limit_are_refused_and_the_link_lives_on() {
    use mycelium_codec::WireMessage;
    use mycelium_contracts::Quote;
    use mycelium_remote::link::MAX_TOPIC_INTERESTS;
    let dir = TempDir::new("interests");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec, fast_config());
    a.forward_topic::<Quote>();
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (mut peer, _) = authenticated_peer(&at).await;
    a_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let mut seq = 0;
    let mut frame = |kind: Kind, name: &str, type_id: u16| {
        seq += 1;
        let mut out = Vec::new();
        let spec = FrameSpec {
            kind,
            type_id,
            seq,
            ts_ns: 0,
            ack: 0,
            corr: 0,
            name,
            key: None,
        };
        encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |_| {}).unwrap();
        out
    };
    let mut bytes = Vec::new();
    for i in 0..MAX_TOPIC_INTERESTS {
        bytes.extend(frame(Kind::Subscribe, &format!("t.{i}"), 100));
    }
    // Again the first (already held: accepted), then one too many, then room made for it.
    bytes.extend(frame(Kind::Subscribe, "t.0", 100));
    bytes.extend(frame(Kind::Subscribe, "t.extra", 100));
    bytes.extend(frame(Kind::Unsubscribe, "t.1", 100));
    bytes.extend(frame(Kind::Subscribe, "t.extra", 100));
    // A pattern the topic grammar refuses, for a type the node forwards: refused as well
    // (after an Unsubscribe, so not for the limit).
    bytes.extend(frame(Kind::Unsubscribe, "t.2", 100));
    bytes.extend(frame(Kind::Subscribe, "md.\nquote", Quote::TYPE_ID));
    bytes.extend(frame(Kind::Tell, "svc", 100));
    peer.write_all(&bytes).await.unwrap();
    // The tell comes after every Subscribe on the same connection: all were handled.
    assert_eq!(recv_n(&mut got, 1).await[0].service, "svc");
    let stats = a.link("b").expect("the link to b").stats();
    assert_eq!(stats.dispatch_failures, 2, "{stats:?}");
    assert!(
        a_events
            .drain()
            .iter()
            .all(|e| !matches!(e.kind, LinkEventKind::Down { .. })),
        "the link stayed up"
    );
}

//! Handshake: accept, refuse on a wrong secret or schema (both sides), deadlines, secrets.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::handshake::{authenticate, finish, Identity, Resume};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::{
    Endpoint, HandshakeError, LinkConfig, LinkEventKind, LocalSchema, Node, Secret, SecretError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

fn identity(node: &str, instance: u64, digest: u8, secret: &[u8]) -> Identity {
    Identity {
        node: node.into(),
        instance,
        incarnation: instance,
        schema: LocalSchema::from_digest([digest; 32]),
        secret: Secret::new(secret.to_vec()).unwrap(),
        max_frame: mycelium_remote::frame::DEFAULT_MAX_BODY,
    }
}

const S1: &[u8] = b"first secret, 32 bytes long.....";
const S2: &[u8] = b"second secret, 32 bytes long....";

/// Runs both sides' authentication over a socket pair.
async fn both(
    a: Identity,
    b: Identity,
) -> (
    Result<mycelium_remote::handshake::Authenticated, HandshakeError>,
    Result<mycelium_remote::handshake::Authenticated, HandshakeError>,
) {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let ta = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &a, "peer-b", Some("b"), &|_| false).await
    });
    let tb = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sb, &mut r, &b, "peer-a", None, &|n| n == "a").await
    });
    (ta.await.unwrap(), tb.await.unwrap())
}

#[tokio::test]
async fn same_secret_and_digest_accepted_with_peer_identity() {
    let (ra, rb) = both(identity("a", 1, 7, S1), identity("b", 2, 7, S1)).await;
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((ra.node.as_str(), ra.instance), ("b", 2));
    assert_eq!((rb.node.as_str(), rb.instance), ("a", 1));
}

#[tokio::test]
async fn wrong_secret_refused_on_both_sides() {
    let (ra, rb) = both(identity("a", 1, 7, S1), identity("b", 2, 7, S2)).await;
    for r in [ra, rb] {
        match r {
            Err(HandshakeError::AuthFailed { .. }) => {}
            other => panic!("expected an authentication refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn digest_mismatch_refused_on_both_sides_naming_both_digests() {
    let (ra, rb) = both(identity("a", 1, 0x11, S1), identity("b", 2, 0x22, S1)).await;
    let a_hex = "11".repeat(32);
    let b_hex = "22".repeat(32);
    for (r, local, remote) in [(ra, &a_hex, &b_hex), (rb, &b_hex, &a_hex)] {
        match r {
            Err(HandshakeError::SchemaMismatch {
                local: l,
                remote: r,
                ..
            }) => {
                assert_eq!((&l, &r), (local, remote));
            }
            other => panic!("expected a schema mismatch, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unexpected_node_refused() {
    let (ra, _) = both(identity("a", 1, 7, S1), identity("c", 2, 7, S1)).await;
    assert!(matches!(ra, Err(HandshakeError::UnexpectedNode { node, .. }) if node == "c"));
}

/// A relay that connects to two listening nodes and passes each the other's hello and then
/// its proof: each node receives a proof made by a listener where it expects a dialler's, so
/// neither authenticates the relay (before proofs bound their prover's role, both did, and only
/// the rule that a node accepts the nodes sorting before it stood in the way).
#[tokio::test]
async fn a_relay_between_two_listeners_authenticates_to_neither() {
    let (mut a_side, mut a_relay) = UnixStream::pair().unwrap();
    let (mut b_side, mut b_relay) = UnixStream::pair().unwrap();
    let (a, b) = (identity("a", 1, 7, S1), identity("b", 2, 7, S1));
    let ta = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut a_side, &mut r, &a, "relay", None, &|_| true).await
    });
    let tb = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut b_side, &mut r, &b, "relay", None, &|_| true).await
    });
    let (mut ra, mut rb) = (FrameReader::new(4096), FrameReader::new(4096));
    async fn take(
        r: &mut FrameReader,
        s: &mut UnixStream,
    ) -> (FrameSpec<'static>, Vec<u8>, String) {
        let f = r.read_frame(s).await.unwrap();
        (
            FrameSpec::control(f.kind),
            f.payload.to_vec(),
            f.name.to_owned(),
        )
    }
    async fn give(s: &mut UnixStream, (mut spec, payload, name): (FrameSpec<'_>, Vec<u8>, String)) {
        let mut out = Vec::new();
        spec.name = &name;
        encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
            o.extend_from_slice(&payload)
        })
        .unwrap();
        s.write_all(&out).await.unwrap();
    }
    // The hellos, then the proofs, each to the other node.
    for _ in 0..2 {
        let from_a = take(&mut ra, &mut a_relay).await;
        let from_b = take(&mut rb, &mut b_relay).await;
        give(&mut b_relay, from_a).await;
        give(&mut a_relay, from_b).await;
    }
    for task in [ta, tb] {
        let outcome = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the node decides at once")
            .unwrap();
        assert!(
            matches!(outcome, Err(HandshakeError::AuthFailed { .. })),
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn reflected_hello_refused() {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let me = identity("a", 1, 7, S1);
    let task = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &me, "mirror", None, &|_| true).await
    });
    // A mirror: sends back whatever it receives.
    let mut buf = vec![0u8; 4096];
    let n = sb.read(&mut buf).await.unwrap();
    sb.write_all(&buf[..n]).await.unwrap();
    assert!(matches!(
        task.await.unwrap(),
        Err(HandshakeError::Protocol { .. })
    ));
}

/// Incarnation 0 stands for "none" in a verdict: a hello that claims it is refused.
#[tokio::test]
async fn a_hello_with_incarnation_zero_is_refused() {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let a = identity("a", 1, 7, S1);
    let zero = Identity {
        incarnation: 0,
        ..identity("b", 2, 7, S1)
    };
    let task = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &a, "b", None, &|_| true).await
    });
    let mut r = FrameReader::new(4096);
    let _ = authenticate(&mut sb, &mut r, &zero, "a", Some("a"), &|_| false).await;
    match task.await.unwrap() {
        Err(HandshakeError::Protocol { reason, .. }) => {
            assert!(reason.contains("incarnation 0"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// Each side learns the largest frame body the other accepts; a limit below the least a link
/// needs is declared as that least.
#[tokio::test]
async fn each_side_learns_the_peer_s_max_frame() {
    let a = Identity {
        max_frame: 1000,
        ..identity("a", 1, 7, S1)
    };
    let b = Identity {
        max_frame: 65536,
        ..identity("b", 2, 7, S1)
    };
    let (ra, rb) = both(a, b).await;
    assert_eq!(ra.unwrap().max_frame, 65536);
    assert_eq!(rb.unwrap().max_frame, mycelium_remote::MIN_MAX_FRAME);
}

/// A hello of protocol version 3, which did not carry `max_frame`, is refused, the error
/// naming both versions.
#[tokio::test]
async fn a_hello_of_the_previous_version_is_refused_naming_both_versions() {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let me = identity("a", 1, 7, S1);
    let task = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &me, "old", None, &|_| true).await
    });
    // Version 3: version | instance | incarnation | challenge | schema digest.
    let mut hello = vec![3u8];
    hello.extend_from_slice(&2u64.to_le_bytes());
    hello.extend_from_slice(&2u64.to_le_bytes());
    hello.extend_from_slice(&[9; 32]);
    hello.extend_from_slice(&[7; 32]);
    let spec = FrameSpec {
        name: "b",
        ..FrameSpec::control(Kind::Hello)
    };
    let mut frame = Vec::new();
    encode_frame(&mut frame, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(&hello)
    })
    .unwrap();
    sb.write_all(&frame).await.unwrap();
    match tokio::time::timeout(BOUND, task).await {
        Ok(Ok(Err(HandshakeError::Protocol { reason, .. }))) => assert!(
            reason.contains("version 3") && reason.contains("version 4"),
            "{reason}"
        ),
        other => panic!("expected the old hello refused, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_instead_of_hello_is_a_protocol_error() {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let me = identity("a", 1, 7, S1);
    let task = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &me, "junk", None, &|_| true).await
    });
    sb.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(matches!(
        task.await.unwrap(),
        Err(HandshakeError::Protocol { .. })
    ));
    // A hello announcing a body far above the handshake limit is refused from its header.
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let me = identity("a", 1, 7, S1);
    let task = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &me, "bomb", None, &|_| true).await
    });
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        &FrameSpec::control(Kind::Hello),
        DEFAULT_MAX_BODY,
        |_| {},
    )
    .unwrap();
    frame[8..12].copy_from_slice(&(64u32 << 20).to_le_bytes());
    sb.write_all(&frame).await.unwrap();
    assert!(matches!(
        task.await.unwrap(),
        Err(HandshakeError::Protocol { reason, .. }) if reason.contains("exceeds") || reason.contains("too large") || reason.contains("maximum")
    ));
}

#[tokio::test]
async fn verdicts_carry_resume_points() {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let a = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        let me = identity("a", 1, 7, S1);
        authenticate(&mut sa, &mut r, &me, "b", Some("b"), &|_| false)
            .await
            .unwrap();
        let mine = Resume {
            known_incarnation: 2,
            received: 10,
            first_seq: 4,
        };
        finish(&mut sa, &mut r, "b", mine).await.unwrap()
    });
    let mut r = FrameReader::new(4096);
    let me = identity("b", 2, 7, S1);
    authenticate(&mut sb, &mut r, &me, "a", None, &|n| n == "a")
        .await
        .unwrap();
    let theirs = finish(&mut sb, &mut r, "a", Resume::default())
        .await
        .unwrap();
    assert_eq!(
        theirs,
        Resume {
            known_incarnation: 2,
            received: 10,
            first_seq: 4
        }
    );
    assert_eq!(a.await.unwrap(), Resume::default());
}

/// Nodes: a dialler with the wrong secret is refused, gives up, and nothing reaches the
/// listener's dispatcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_between_nodes_reaches_no_actor() {
    let dir = TempDir::new("secret");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();

    let (observer, mut b_events) = events();
    let b = Node::builder("b", schema(), Secret::new(S2.to_vec()).unwrap())
        .config(fast_config())
        .observer(observer)
        .build(&bus, rec);
    // Queued before dialling, so that the refusal cannot come first.
    let link = b.link_to("a");
    let svc: Arc<str> = "svc".into();
    link.try_send(Kind::Tell, &svc, 1, |o| o.push(1)).unwrap();
    b.connect("a", at);
    let refused = b_events
        .wait("refused", |k| matches!(k, LinkEventKind::Refused { .. }))
        .await;
    let LinkEventKind::Refused { reason } = refused.kind else {
        unreachable!()
    };
    assert!(
        reason.contains("authentication") || reason.contains("refused"),
        "{reason}"
    );
    b_events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    // The queued tell is reported lost, not dropped silently.
    let report = b_events.loss().await;
    assert_eq!((report.first_seq, report.last_seq), (1, 1));
    assert!(got.try_recv().is_err());
    assert!(a_events
        .drain()
        .iter()
        .all(|e| !matches!(e.kind, LinkEventKind::Up { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_dropped_at_the_handshake_deadline() {
    let dir = TempDir::new("deadline");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let config = LinkConfig {
        handshake_timeout: Duration::from_millis(200),
        ..fast_config()
    };
    let (a, _) = node("a", &bus, rec, config);
    let Endpoint::Unix(path) = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap() else {
        unreachable!()
    };
    let mut silent = UnixStream::connect(&path).await.unwrap();
    // The node sends its hello, then closes the connection at the deadline.
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the listener kept a silent client open");
}

#[test]
fn secret_file_must_be_private() {
    let dir = TempDir::new("secretfile");
    let path = dir.path().join("secret");
    std::fs::write(&path, b"0123456789abcdef0123\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Secret::from_file(&path),
        Err(SecretError::Permissions { mode: 0o644, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Secret::from_file(&path).is_ok());
    assert!(matches!(
        Secret::from_file(dir.path().join("absent")),
        Err(SecretError::Read { .. })
    ));
    std::fs::write(&path, b"short").unwrap();
    assert!(matches!(
        Secret::from_file(&path),
        Err(SecretError::TooShort { len: 5 })
    ));
}

#[test]
fn secret_file_must_be_a_regular_file_not_a_link() {
    let dir = TempDir::new("secretlink");
    let target = dir.path().join("secret");
    std::fs::write(&target, b"0123456789abcdef0123\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = Secret::from_file(&link).unwrap_err();
    assert!(matches!(err, SecretError::NotOwnFile { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("symbolic link") && msg.contains("name the file itself"),
        "{msg}"
    );
    let err = Secret::from_file(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let err = Secret::from_file(target.with_file_name("absent")).unwrap_err();
    assert!(matches!(err, SecretError::Read { .. }), "{err}");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e644 = Secret::from_file(&target).unwrap_err();
    assert!(e644.to_string().contains("chmod 600"), "{e644}");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(Secret::from_file(&target).is_ok());
}

#[test]
fn secret_from_environment() {
    let name = "MYCELIUM_REMOTE_TEST_SECRET_UNSET_VARIABLE";
    assert!(matches!(
        Secret::from_env(name),
        Err(SecretError::MissingEnv { .. })
    ));
}

const V1: &str = "package: p\nmessages:\n  Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: n, type: u64, tag: 1 }\n";

fn with_schema(node: &str, instance: u64, yaml: &str) -> Identity {
    Identity {
        node: node.into(),
        instance,
        incarnation: instance,
        schema: LocalSchema::from_yaml("contracts.yaml", yaml).unwrap(),
        secret: Secret::new(S1.to_vec()).unwrap(),
        max_frame: mycelium_remote::frame::DEFAULT_MAX_BODY,
    }
}

#[tokio::test]
async fn different_but_compatible_schemas_are_accepted() {
    let added = format!("{V1}      - {{ name: note, type: string, tag: 2, optional: true }}\n");
    let (ra, rb) = both(with_schema("a", 1, V1), with_schema("b", 2, &added)).await;
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_ne!(ra.digest, rb.digest);
}

#[tokio::test]
async fn incompatible_schemas_refused_on_both_sides_naming_the_field() {
    let a = with_schema("a", 1, V1);
    let b = with_schema("b", 2, &V1.replace("type: u64", "type: u32"));
    let (a_hex, b_hex) = (
        mycelium_codegen::digest::hex(&a.schema.digest),
        mycelium_codegen::digest::hex(&b.schema.digest),
    );
    let (ra, rb) = both(a, b).await;
    for (r, local, remote) in [(ra, &a_hex, &b_hex), (rb, &b_hex, &a_hex)] {
        match r {
            Err(e @ HandshakeError::SchemaMismatch { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(local.as_str()) && text.contains(remote.as_str()),
                    "{text}"
                );
                assert!(
                    text.contains("message `Ping`") && text.contains("field `n`"),
                    "{text}"
                );
            }
            other => panic!("expected a schema mismatch, got {other:?}"),
        }
    }
}

/// A node that refuses a dialler sends its verdict and closes; the dialler's own verdict,
/// written after that close, fails (a broken pipe). The dialler still reads the refusal and
/// reports it, with its reason (a refusal is not tried again), every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_dialler_always_learns_why() {
    let dir = TempDir::new("refused-why");
    let (rec, _) = Recorder::new(true);
    let (a, _) = node("a", &Bus::new(), rec, fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    for i in 0..100 {
        let mut stream = mycelium_remote::transport::Stream::connect(&at)
            .await
            .unwrap();
        let mut reader = FrameReader::new(4096);
        let me = Identity {
            node: "stranger".into(),
            instance: 1000 + i,
            incarnation: 1000 + i,
            schema: schema(),
            secret: secret(),
            max_frame: mycelium_remote::frame::DEFAULT_MAX_BODY,
        };
        let result =
            match authenticate(&mut stream, &mut reader, &me, "a", Some("a"), &|_| false).await {
                Ok(_) => finish(&mut stream, &mut reader, "a", Resume::default())
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
        match result {
            Err(HandshakeError::Refused { reason, .. }) => {
                assert!(reason.contains("unexpected node `stranger`"), "{reason}")
            }
            other => panic!("handshake {i}: {other:?}"),
        }
    }
    a.shutdown();
}

/// The accepting side sends its hello and closes before its proof (its handshake slots were
/// full, or its deadline passed): the dialler's error names those causes (and the link tries
/// again).
#[tokio::test]
async fn a_dialler_closed_on_after_the_hello_names_the_likely_causes() {
    let (mut sa, mut sb) = UnixStream::pair().unwrap();
    let me = identity("b", 1, 7, S1);
    let task = tokio::spawn(async move {
        let mut r = FrameReader::new(4096);
        authenticate(&mut sa, &mut r, &me, "a", Some("a"), &|_| false).await
    });
    let mut hello = vec![mycelium_remote::handshake::PROTOCOL_VERSION];
    hello.extend_from_slice(&2u64.to_le_bytes());
    hello.extend_from_slice(&2u64.to_le_bytes());
    hello.extend_from_slice(&[9; 32]);
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&DEFAULT_MAX_BODY.to_le_bytes());
    let spec = FrameSpec {
        name: "a",
        ..FrameSpec::control(Kind::Hello)
    };
    let mut frame = Vec::new();
    encode_frame(&mut frame, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(&hello)
    })
    .unwrap();
    sb.write_all(&frame).await.unwrap();
    // Read the dialler's hello, then close without a word.
    let mut buf = vec![0u8; 4096];
    let mut read = 0;
    while read < 64 {
        match tokio::time::timeout(BOUND, sb.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break,
        }
    }
    drop(sb);
    match tokio::time::timeout(BOUND, task).await {
        Ok(Ok(Err(e @ HandshakeError::Dropped { .. }))) => {
            let text = e.to_string();
            assert!(
                text.contains("handshake slots") && text.contains("deadline"),
                "{text}"
            );
        }
        other => panic!("expected the dialler to name the likely causes, got {other:?}"),
    }
}

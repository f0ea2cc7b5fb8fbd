//! TLS on TCP links, on loopback, with certificates made in the test: the right CA connects
//! and delivers; a wrong CA on either side, an expired certificate or a missing client
//! certificate is refused, and nothing reaches the receiving side's actors. File and PEM
//! errors are typed.
#![cfg(feature = "tls")]

mod common;

use std::sync::Arc;

use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::{
    Endpoint, LinkConfig, LinkEventKind, LocalSchema, Node, SetupError, TlsClient, TlsError,
    TlsServer, Topology,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A certificate authority made for one test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("ca cert");
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn issue(&self, name: &str) -> Leaf {
        self.issue_with(name, |_| {})
    }

    fn issue_with(&self, name: &str, adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        adjust(&mut params);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf cert");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn config() -> LinkConfig {
    LinkConfig {
        max_attempts: 3,
        ..fast_config()
    }
}

fn server(leaf: &Leaf, client_ca: Option<&Ca>) -> TlsServer {
    let ca = client_ca.map(Ca::pem);
    TlsServer::from_pem(
        leaf.cert.as_bytes(),
        leaf.key.as_bytes(),
        ca.as_deref().map(str::as_bytes),
    )
    .expect("server tls")
}

fn client(trusts: &Ca, identity: Option<&Leaf>) -> TlsClient {
    TlsClient::from_pem(
        trusts.pem().as_bytes(),
        "localhost",
        identity.map(|l| (l.cert.as_bytes(), l.key.as_bytes())),
    )
    .expect("client tls")
}

const TCP: fn() -> Endpoint = || Endpoint::Tcp("127.0.0.1:0".into());

/// Node `b` dials node `a` over TLS and tells it one message; returns what `b` saw: the
/// reason of its refusal, or `None` when the message was delivered.
async fn attempt(a_tls: TlsServer, b_tls: TlsClient) -> Option<String> {
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), config());
    let at = a.listen_tls(&TCP(), &["b"], a_tls).await.expect("listen");
    let (b, mut b_events) = node("b", &bus, rec, config());
    let link = b.connect_tls("a", at, b_tls);
    let svc: Arc<str> = "svc".into();
    // A fast refusal can make the link give up before the tell is queued: then the tell is
    // handed back at once instead of being reported lost later.
    let queued = link
        .send(Kind::Tell, &svc, 7, |o| o.extend_from_slice(b"over tls"))
        .await
        .is_ok();
    let outcome = b_events
        .wait("up or refused", |k| {
            matches!(k, LinkEventKind::Up { .. } | LinkEventKind::Refused { .. })
        })
        .await;
    let result = match outcome.kind {
        LinkEventKind::Refused { reason } => {
            // The queued tell is reported, never dropped silently, and never delivered.
            if queued {
                b_events.loss().await;
            }
            assert!(got.try_recv().is_err(), "a refused peer reached an actor");
            assert!(
                a_events
                    .drain()
                    .iter()
                    .all(|e| !matches!(e.kind, LinkEventKind::Up { .. })),
                "the refusing side brought the link up"
            );
            Some(reason)
        }
        _ => {
            assert!(queued, "the link came up but refused the tell");
            let received = recv_n(&mut got, 1).await;
            assert_eq!(received[0].body, b"over tls");
            assert_eq!(received[0].service, "svc");
            None
        }
    };
    a.shutdown();
    b.shutdown();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_ca_connects_and_delivers() {
    let ca = Ca::new("test ca");
    let outcome = attempt(server(&ca.issue("localhost"), None), client(&ca, None)).await;
    assert_eq!(outcome, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_the_right_ca_connects_and_delivers() {
    let ca = Ca::new("test ca");
    let b_cert = ca.issue("b");
    let outcome = attempt(
        server(&ca.issue("localhost"), Some(&ca)),
        client(&ca, Some(&b_cert)),
    )
    .await;
    assert_eq!(outcome, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_trusting_another_ca_refuses_the_server() {
    let ca = Ca::new("test ca");
    let other = Ca::new("another ca");
    let reason = attempt(server(&ca.issue("localhost"), None), client(&other, None))
        .await
        .expect("refused");
    assert!(
        reason.contains("not signed by a CA this node trusts"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_trusting_another_ca_refuses_the_client() {
    let ca = Ca::new("test ca");
    let other = Ca::new("another ca");
    // The client trusts the server; the server requires client certificates from `ca` and
    // the client's comes from `other`.
    let b_cert = other.issue("b");
    let reason = attempt(
        server(&ca.issue("localhost"), Some(&ca)),
        client(&ca, Some(&b_cert)),
    )
    .await
    .expect("refused");
    assert!(
        reason.contains("refused this node's certificate"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_a_certificate_is_refused_when_one_is_required() {
    let ca = Ca::new("test ca");
    let reason = attempt(server(&ca.issue("localhost"), Some(&ca)), client(&ca, None))
        .await
        .expect("refused");
    assert!(
        reason.contains("refused this node's certificate"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_server_certificate_is_refused() {
    let ca = Ca::new("test ca");
    let expired = ca.issue_with("localhost", |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let reason = attempt(server(&expired, None), client(&ca, None))
        .await
        .expect("refused");
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_another_name_is_refused() {
    let ca = Ca::new("test ca");
    let reason = attempt(
        server(&ca.issue("elsewhere.example"), None),
        client(&ca, None),
    )
    .await
    .expect("refused");
    assert!(reason.contains("server_name"), "{reason}");
}

/// TLS connections cut anywhere: a relay cuts each of the first 60 after a seeded random
/// number of bytes each way (up to 4,000: inside the TLS handshake, the link's handshake
/// inside it, a record), with mutual TLS. A cut is never taken for a refusal: the link
/// reconnects, every tell arrives once and in order, and nothing is reported lost
/// (`MYCELIUM_CHAOS_SEED` for another seed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_cut_anywhere_lose_nothing() {
    const N: u32 = 1000;
    const CUTS: u64 = 60;
    let ca = Ca::new("test ca");
    let (a_leaf, b_leaf) = (ca.issue("localhost"), ca.issue("b"));
    let config = LinkConfig {
        backoff: mycelium_supervisor::Backoff::exponential(
            std::time::Duration::from_millis(1),
            2.0,
            std::time::Duration::from_millis(4),
        ),
        max_attempts: 10_000,
        ..fast_config()
    };
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, mut a_events) = node("a", &bus, rec.clone(), config.clone());
    let at = a
        .listen_tls(&TCP(), &["b"], server(&a_leaf, Some(&ca)))
        .await
        .expect("listen");
    let seed = std::env::var("MYCELIUM_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x715);
    let relay = CuttingRelay::start(at, seed, CUTS, 4000).await;
    let (b, mut b_events) = node("b", &bus, rec, config);
    let link = b.connect_tls("a", relay.endpoint.clone(), client(&ca, Some(&b_leaf)));
    let sender = tokio::spawn(async move {
        let svc: Arc<str> = "sink".into();
        for i in 0..N {
            link.send(Kind::Tell, &svc, 1, |o| {
                o.extend_from_slice(&i.to_le_bytes())
            })
            .await
            .expect("queued");
        }
    });
    let indices: Vec<u32> = recv_n(&mut got, N as usize)
        .await
        .iter()
        .map(|g| u32::from_le_bytes(g.body[..4].try_into().expect("a numbered body")))
        .collect();
    assert_eq!(indices, (0..N).collect::<Vec<_>>());
    sender.await.expect("sender");
    assert_eq!(relay.cut(), CUTS, "every cut connection was cut");
    let refused = b_events.drain().iter().any(|e| {
        matches!(
            e.kind,
            LinkEventKind::Refused { .. } | LinkEventKind::GaveUp { .. }
        )
    });
    assert!(
        !refused,
        "a cut was taken for a refusal: {:#?}",
        b_events.drain()
    );
    a_events.assert_no_loss();
    b_events.assert_no_loss();
    a.shutdown();
    b.shutdown();
}

#[test]
fn missing_file_is_a_read_error_naming_the_file() {
    let dir = TempDir::new("tls-missing");
    let missing = dir.path().join("nope.pem");
    let err = TlsServer::from_files(&missing, &missing, None).unwrap_err();
    assert!(matches!(&err, TlsError::Read { what: "certificate", path, .. } if *path == missing));
    assert!(err.to_string().contains("check the path"), "{err}");
    let err = TlsClient::from_files(&missing, "localhost", None).unwrap_err();
    assert!(matches!(err, TlsError::Read { what: "CA", .. }), "{err}");
}

/// A private key file every user of the host can read is refused, on either side, naming the
/// file and its mode; one its group may read is taken, also through a symbolic link.
#[test]
fn a_private_key_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("tls-key-mode");
    let ca = Ca::new("test ca");
    let leaf = ca.issue("localhost");
    let file = |name: &str, text: &str, mode: u32| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    };
    let cert = file("leaf.pem", &leaf.cert, 0o644);
    let ca_pem = file("ca.pem", &ca.pem(), 0o644);
    let open = file("open.key", &leaf.key, 0o644);
    let err = TlsServer::from_files(&cert, &open, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::KeyPermissions { path, mode: 0o644 } if *path == open),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    let err = TlsClient::from_files(&ca_pem, "localhost", Some((&cert, &open))).unwrap_err();
    assert!(matches!(err, TlsError::KeyPermissions { .. }), "{err}");
    let group = file("group.key", &leaf.key, 0o640);
    TlsServer::from_files(&cert, &group, None).expect("a key its group may read");
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&group, &link).expect("symlink");
    TlsClient::from_files(&ca_pem, "localhost", Some((&cert, &link))).expect("through a link");
}

#[test]
fn bad_pem_is_a_pem_error() {
    let ca = Ca::new("test ca");
    let leaf = ca.issue("localhost");
    let err = TlsServer::from_pem(b"not pem at all", leaf.key.as_bytes(), None).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Pem {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );
    let err = TlsServer::from_pem(leaf.cert.as_bytes(), b"garbage", None).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Pem {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
    let broken = leaf.cert.replace("-----END CERTIFICATE-----", "");
    let err = TlsClient::from_pem(broken.as_bytes(), "localhost", None).unwrap_err();
    assert!(matches!(err, TlsError::Pem { what: "CA", .. }), "{err}");
}

#[test]
fn key_of_another_certificate_is_a_config_error() {
    let ca = Ca::new("test ca");
    let one = ca.issue("localhost");
    let two = ca.issue("localhost");
    let err = TlsServer::from_pem(one.cert.as_bytes(), two.key.as_bytes(), None).unwrap_err();
    assert!(matches!(err, TlsError::Config { .. }), "{err}");
    assert!(err.to_string().contains("private key belongs"), "{err}");
}

#[test]
fn invalid_server_name_is_refused() {
    let ca = Ca::new("test ca");
    let err = TlsClient::from_pem(ca.pem().as_bytes(), "not a name!", None).unwrap_err();
    assert!(matches!(err, TlsError::ServerName { .. }), "{err}");
}

fn write(dir: &TempDir, name: &str, text: &str) {
    std::fs::write(dir.path().join(name), text).expect("write");
}

fn tls_topology(dir: &TempDir, a_tls: &str, b_tls: &str) -> String {
    write(dir, "link.secret", "0123456789abcdef0123456789abcdef");
    {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join("link.secret");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    format!(
        "secret_file = \"link.secret\"\n\
         [[node]]\nname = \"a\"\nendpoint = \"tcp:127.0.0.1:1\"\nservices = []\n{a_tls}\n\
         [[node]]\nname = \"b\"\nendpoint = \"unix:b.sock\"\nservices = []\n{b_tls}\n"
    )
}

#[test]
fn topology_reads_tls_per_node() {
    let dir = TempDir::new("tls-topology");
    let text = tls_topology(
        &dir,
        "tls = { cert = \"a.pem\", key = \"a.key\", ca = \"ca.pem\", client_auth = true }",
        "tls = { cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\" }",
    );
    let t = Topology::parse(&text, "topology.toml", dir.path()).expect("valid");
    let a = t.node("a").expect("a");
    let tls = a.tls.as_ref().expect("tls");
    assert_eq!(tls.cert, dir.path().join("a.pem"));
    assert!(tls.client_auth);
    assert_eq!(a.tls_server_name().as_deref(), Some("127.0.0.1"));
}

#[test]
fn topology_with_tls_on_some_nodes_only_is_refused() {
    let dir = TempDir::new("tls-mixed");
    let text = tls_topology(
        &dir,
        "tls = { cert = \"a.pem\", key = \"a.key\", ca = \"ca.pem\" }",
        "",
    );
    let err = Topology::parse(&text, "topology.toml", dir.path()).unwrap_err();
    assert!(err.message.contains("node `b` has no `tls`"), "{err}");
    assert_eq!(err.line, 7); // the `[[node]]` of `b`
}

#[test]
fn client_auth_on_a_unix_node_is_refused() {
    let dir = TempDir::new("tls-unix");
    let text = tls_topology(
        &dir,
        "tls = { cert = \"a.pem\", key = \"a.key\", ca = \"ca.pem\" }",
        "tls = { cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\", client_auth = true }",
    );
    let err = Topology::parse(&text, "topology.toml", dir.path()).unwrap_err();
    assert!(err.message.contains("Unix socket"), "{err}");
}

#[tokio::test]
async fn node_from_topology_reports_a_missing_certificate() {
    let dir = TempDir::new("tls-start");
    let text = tls_topology(
        &dir,
        "tls = { cert = \"a.pem\", key = \"a.key\", ca = \"ca.pem\" }",
        "tls = { cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\" }",
    );
    let t = Topology::parse(&text, "topology.toml", dir.path()).expect("valid");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let err = match Node::start(t, "a", LocalSchema::from_digest([1; 32]), &bus, rec, None).await {
        Ok(_) => panic!("started without its certificate"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, SetupError::Tls(TlsError::Read { path, .. }) if path.ends_with("a.pem")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_secret_is_still_proved_inside_tls() {
    let ca = Ca::new("test ca");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec.clone(), config());
    let at = a
        .listen_tls(&TCP(), &["b"], server(&ca.issue("localhost"), None))
        .await
        .expect("listen");
    let (observer, mut b_events) = events();
    let wrong = mycelium_remote::Secret::new(*b"another secret, also 32 bytes...").expect("secret");
    let b = Node::builder("b", schema(), wrong)
        .config(config())
        .observer(observer)
        .build(&bus, rec);
    let link = b.connect_tls("a", at, client(&ca, None));
    let svc: Arc<str> = "svc".into();
    let _ = link.try_send(Kind::Tell, &svc, 1, |o| o.push(1));
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
    assert!(got.try_recv().is_err());
    a.shutdown();
    b.shutdown();
}

/// Bytes that are no TLS handshake, sent to a TLS listener, are refused and counted under
/// `tls` in the refusal metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_speaks_no_tls_is_refused_and_counted() {
    use common::seen::{metrics_bus, Seen};
    use mycelium_actors::telemetry::names;
    use mycelium_remote::transport::Stream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let ca = Ca::new("test ca");
    let bus = metrics_bus();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = metrics::with_local_recorder(&recorder, || node("a", &bus, rec, config()));
    let at = a
        .listen_tls(&TCP(), &["b"], server(&ca.issue("localhost"), None))
        .await
        .expect("listen");
    let mut plain = Stream::connect(&at).await.unwrap();
    plain.write_all(&[0x42; 64]).await.unwrap();
    // The listener closes the connection.
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match plain.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a peer without TLS was not closed");
    let tls = format!("{}{{reason=tls}}", names::LINK_REFUSED);
    let mut seen = Seen::default();
    seen.until(&snapshotter, |s| s.get(&tls) == 1.0).await;
    assert!(got.try_recv().is_err(), "a refused peer reached an actor");
    a.shutdown();
}

/// A client that connects to a TLS listener and closes before sending a byte (a probe, a
/// health check) is counted as `silent`, as on a listener without TLS, not as a failed TLS
/// handshake; a client that sends something that is not TLS still counts as `tls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_closing_before_its_first_byte_is_silent_not_a_tls_failure() {
    use common::seen::{metrics_bus, Seen};
    use metrics_util::debugging::DebuggingRecorder;
    use mycelium_actors::telemetry::names;
    use mycelium_remote::transport::Stream;
    use tokio::io::AsyncWriteExt;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let bus = metrics_bus();
    let ca = Ca::new("ca");
    let leaf = ca.issue("localhost");
    let (rec, _) = Recorder::new(true);
    let (a, _) = metrics::with_local_recorder(&recorder, || node("a", &bus, rec, config()));
    let at = a
        .listen_tls(&TCP(), &["b"], server(&leaf, None))
        .await
        .expect("listen");
    drop(Stream::connect(&at).await.unwrap());
    let mut garbage = Stream::connect(&at).await.unwrap();
    garbage.write_all(&[0xff; 64]).await.unwrap();
    let silent = format!("{}{{reason=silent}}", names::LINK_REFUSED);
    let tls = format!("{}{{reason=tls}}", names::LINK_REFUSED);
    let mut seen = Seen::default();
    seen.until(&snapshotter, |s| s.get(&silent) + s.get(&tls) == 2.0)
        .await;
    assert_eq!((seen.get(&silent), seen.get(&tls)), (1.0, 1.0));
    a.shutdown();
}

/// More half-open connections than the handshake slots, held on a mutual-TLS listener (no
/// TLS hello, so no certificate): a peer with its certificate dialling while they are held
/// links and delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_never_keep_a_tls_peer_out() {
    let ca = Ca::new("test ca");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let config = LinkConfig {
        // Longer than any wait of the test: the idle connections keep their slots but for
        // those a newer connection takes.
        handshake_timeout: 3 * BOUND,
        ..config()
    };
    let (a, _) = node("a", &bus, rec.clone(), config);
    let a_tls = server(&ca.issue("localhost"), Some(&ca));
    let at = a.listen_tls(&TCP(), &["b"], a_tls).await.expect("listen");
    let mut idle = Vec::new();
    for _ in 0..mycelium_remote::MAX_HANDSHAKES + 8 {
        idle.push(
            mycelium_remote::transport::Stream::connect(&at)
                .await
                .unwrap(),
        );
    }
    let (b, mut b_events) = node("b", &bus, rec, fast_config());
    let link = b.connect_tls("a", at, client(&ca, Some(&ca.issue("b"))));
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let svc: Arc<str> = "svc".into();
    link.send(Kind::Tell, &svc, 7, |o| o.extend_from_slice(b"over tls"))
        .await
        .unwrap();
    assert_eq!(recv_n(&mut got, 1).await[0].body, b"over tls");
    drop(idle);
    b.shutdown();
    a.shutdown();
}

/// A TLS listener that closes connections without an alert (as a node does to a connection
/// whose handshake slot a newer one took, or whose deadline passed): the dialler's reason
/// names those causes, and it is no refusal (the link tries again until its attempts run out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_dialler_closed_on_mid_handshake_names_the_likely_causes() {
    let ca = Ca::new("test ca");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = Endpoint::Tcp(listener.local_addr().unwrap().to_string());
    let mute = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    let bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let config = LinkConfig {
        max_attempts: 2,
        ..fast_config()
    };
    let (b, mut events) = node("b", &bus, rec, config);
    let _link = b.connect_tls("a", at, client(&ca, None));
    let gave_up = events
        .wait("gave up", |k| matches!(k, LinkEventKind::GaveUp { .. }))
        .await;
    let LinkEventKind::GaveUp { reason } = gave_up.kind else {
        unreachable!("waited for it")
    };
    assert!(
        reason.starts_with("2 connection attempts failed")
            && reason.contains("handshake slots")
            && reason.contains("deadline"),
        "{reason}"
    );
    assert!(
        !events
            .drain()
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::Refused { .. })),
        "not a refusal"
    );
    b.shutdown();
    mute.abort();
}

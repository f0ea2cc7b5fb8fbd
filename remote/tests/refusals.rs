//! The refusing verdicts of the handshake: a node that refuses a dialler (the dialler's proof
//! does not verify, its schema cannot be agreed with, or the node gave the link up) writes
//! its reason before it closes, and logs it; the dialler reads the refusal, reports that
//! reason, and gives up.
//!
//! Both sides of a wrong secret or of incompatible schemas decide alike, each before it reads
//! the other's verdict, so a relay between them spoils one frame of the dialler's on its way:
//! only the listener finds fault, and the dialler learns of it from the verdict alone.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use mycelium_actors::Bus;
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::{Endpoint, LinkEventKind, LocalSchema, Node};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the nodes on this test's thread log (the tests run on one-thread runtimes, so every
/// task of theirs logs here).
#[derive(Clone, Default)]
struct Logs {
    text: Arc<Mutex<Vec<u8>>>,
    written: Arc<Notify>,
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        self.written.notify_waiters();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures this thread's logs until the guard is dropped.
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Waits for a log line that contains every one of `parts`, and returns it.
    async fn line(&self, parts: &[&str]) -> String {
        let found = tokio::time::timeout(BOUND, async {
            loop {
                let written = self.written.notified();
                let mut written = std::pin::pin!(written);
                written.as_mut().enable();
                let text =
                    String::from_utf8_lossy(&self.text.lock().unwrap_or_else(|e| e.into_inner()))
                        .into_owned();
                if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                    return line.to_owned();
                }
                written.await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            let text = self.text.lock().unwrap_or_else(|e| e.into_inner());
            panic!(
                "no log line with {parts:?}; logged:\n{}",
                String::from_utf8_lossy(&text)
            )
        })
    }
}

/// A relay in front of `to`: what a dialler sends is passed frame by frame through `tamper`,
/// what `to` sends back is passed as it is.
fn relay(
    dir: &TempDir,
    to: &Endpoint,
    tamper: fn(Kind, &mut Vec<u8>),
) -> (Endpoint, JoinHandle<()>) {
    let Endpoint::Unix(target) = to.clone() else {
        panic!("a Unix endpoint: {to}")
    };
    let path = dir.path().join("relay.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let task = tokio::spawn(async move {
        while let Ok((dialler, _)) = listener.accept().await {
            let Ok(node) = UnixStream::connect(&target).await else {
                continue;
            };
            tokio::spawn(async move {
                let (mut from_dialler, mut to_dialler) = dialler.into_split();
                let (mut from_node, mut to_node) = node.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_node, &mut to_dialler).await;
                    let _ = to_dialler.shutdown().await;
                });
                let mut reader = FrameReader::new(DEFAULT_MAX_BODY);
                while let Ok(f) = reader.read_frame(&mut from_dialler).await {
                    let (kind, name, mut payload) = (f.kind, f.name.to_owned(), f.payload.to_vec());
                    tamper(kind, &mut payload);
                    let mut spec = FrameSpec::control(kind);
                    spec.name = &name;
                    let mut out = Vec::new();
                    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
                        o.extend_from_slice(&payload)
                    })
                    .unwrap();
                    if to_node.write_all(&out).await.is_err() {
                        break;
                    }
                }
                let _ = to_node.shutdown().await;
                let _ = back.await;
            });
        }
    });
    (Endpoint::Unix(path), task)
}

/// Dials `a` at `at` from `b`, and returns the reason of the refusal `b` reports (or of its
/// giving up, which fails the test: a refusal is not retried, a connection that merely
/// closed is).
async fn refusal_reported(b: &Node, b_events: &mut Events, at: Endpoint) -> String {
    b.connect("a", at);
    let ended = b_events
        .wait("refused or gave up", |k| {
            matches!(
                k,
                LinkEventKind::Refused { .. } | LinkEventKind::GaveUp { .. }
            )
        })
        .await;
    match ended.kind {
        LinkEventKind::Refused { reason } => reason,
        other => panic!("the dialler was not told why: {other:?}"),
    }
}

#[tokio::test]
async fn a_proof_that_does_not_verify_is_refused_and_the_dialler_learns_why() {
    let (logs, _guard) = Logs::capture();
    let dir = TempDir::new("refused-proof");
    let (rec, mut got) = Recorder::new(true);
    let (a, _a_events) = node("a", &Bus::new(), rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    // The dialler's proof arrives spoilt: `a` finds it wrong, while the dialler, which
    // knows the secret, verifies `a`'s proof and goes on to read `a`'s verdict.
    let (via, relay) = relay(&dir, &at, |kind, payload| {
        if kind == Kind::Proof {
            payload[0] ^= 1;
        }
    });
    let (b, mut b_events) = node("b", &Bus::new(), rec, fast_config());
    let reason = refusal_reported(&b, &mut b_events, via).await;
    assert!(
        reason.contains("refused the link: authentication failed: wrong or missing shared secret"),
        "{reason}"
    );
    let line = logs
        .line(&["incoming connection refused", "failed authentication"])
        .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(got.try_recv().is_err(), "nothing reached a's dispatcher");
    relay.abort();
    a.shutdown();
    b.shutdown();
}

const V1: &str = "package: p\nmessages:\n  Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: n, type: u64, tag: 1 }\n";

fn yaml_schema(yaml: &str) -> LocalSchema {
    LocalSchema::from_yaml("contracts.yaml", yaml).unwrap()
}

#[tokio::test]
async fn a_schema_that_cannot_be_agreed_with_is_refused_and_the_dialler_learns_why() {
    let (logs, _guard) = Logs::capture();
    let dir = TempDir::new("refused-schema");
    let (rec, mut got) = Recorder::new(true);
    let (a_schema, b_schema) = (
        yaml_schema(V1),
        yaml_schema(&format!(
            "{V1}      - {{ name: note, type: string, tag: 2, optional: true }}\n"
        )),
    );
    let (a_hex, b_hex) = (
        mycelium_codegen::digest::hex(&a_schema.digest),
        mycelium_codegen::digest::hex(&b_schema.digest),
    );
    let a = Node::builder("a", a_schema, secret())
        .config(fast_config())
        .build(&Bus::new(), rec.clone());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    // The schemas differ but agree; the dialler's canonical schema arrives spoilt, so `a`
    // refuses it while the dialler, which reads `a`'s schema intact, agrees.
    let (via, relay) = relay(&dir, &at, |kind, payload| {
        if kind == Kind::Schema {
            *payload = V1.replace("type: u64", "type: u32").into_bytes();
        }
    });
    let (observer, mut b_events) = events();
    let b = Node::builder("b", b_schema, secret())
        .config(fast_config())
        .observer(observer)
        .build(&Bus::new(), rec);
    let reason = refusal_reported(&b, &mut b_events, via).await;
    assert!(
        reason.contains("refused the link: schema mismatch")
            && reason.contains(&format!("local digest {a_hex}, peer digest {b_hex}")),
        "{reason}"
    );
    let line = logs
        .line(&["incoming connection refused", "schema mismatch", &a_hex])
        .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(got.try_recv().is_err(), "nothing reached a's dispatcher");
    relay.abort();
    a.shutdown();
    b.shutdown();
}

#[tokio::test]
async fn a_link_given_up_is_refused_and_the_dialler_learns_why() {
    let (logs, _guard) = Logs::capture();
    let dir = TempDir::new("refused-gone");
    let (rec, mut got) = Recorder::new(true);
    let (a, _a_events) = node("a", &Bus::new(), rec.clone(), fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    a.link_to("b").close("the operator retired node b");
    let (b, mut b_events) = node("b", &Bus::new(), rec, fast_config());
    let reason = refusal_reported(&b, &mut b_events, at).await;
    assert!(
        reason
            .contains("refused the link: this node gave the link up: the operator retired node b"),
        "{reason}"
    );
    let line = logs
        .line(&["incoming connection refused", "the operator retired node b"])
        .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(got.try_recv().is_err(), "nothing reached a's dispatcher");
    a.shutdown();
    b.shutdown();
}

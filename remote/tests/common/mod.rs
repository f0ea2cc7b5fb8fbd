//! Helpers shared by the link tests: temporary directories, a recording dispatcher, an event
//! log, and a TCP relay whose connections a test can cut; scenarios that run over every
//! transport ([`scenario`]); a receiving node in a child process ([`child`]).
#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod certs;
pub mod child;
pub mod scenario;
pub mod seen;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::handshake::{authenticate, finish, Identity, Resume};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::transport::Stream;
use mycelium_remote::{
    Dispatch, DispatchError, Endpoint, LinkConfig, LinkEvent, LinkEventKind, LocalSchema,
    LossReport, Node, ReplyFuture, Secret,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// Upper bound on any wait in these tests: reached only when a test is failing.
pub const BOUND: Duration = Duration::from_secs(20);

pub fn secret() -> Secret {
    Secret::new(*b"0123456789abcdef0123456789abcdef").expect("valid secret")
}

pub fn schema() -> LocalSchema {
    LocalSchema::from_digest([0xab; 32])
}

/// A peer that passes the handshake with node `a` as node `b` (it knows the secret), by hand:
/// what it writes and reads next is up to the test. Returns its stream and the reader that
/// holds whatever `a` sent after the handshake.
pub async fn authenticated_peer(at: &Endpoint) -> (Stream, FrameReader) {
    authenticated_peer_as(at, 77).await
}

/// [`authenticated_peer`] as incarnation `incarnation` of node `b`: another number than an
/// earlier peer's is node `b` restarted.
pub async fn authenticated_peer_as(at: &Endpoint, incarnation: u64) -> (Stream, FrameReader) {
    let (mut stream, mut reader) = authenticated_before_verdict_as(at, incarnation).await;
    let resume = Resume {
        known_incarnation: 0,
        received: 0,
        first_seq: 1,
    };
    finish(&mut stream, &mut reader, "a", resume).await.unwrap();
    reader.set_max_body(mycelium_remote::frame::DEFAULT_MAX_BODY);
    (stream, reader)
}

/// [`authenticated_peer`] up to its verdict, which the test writes itself.
pub async fn authenticated_before_verdict(at: &Endpoint) -> (Stream, FrameReader) {
    authenticated_before_verdict_as(at, 77).await
}

async fn authenticated_before_verdict_as(at: &Endpoint, incarnation: u64) -> (Stream, FrameReader) {
    let mut stream = Stream::connect(at).await.unwrap();
    let mut reader = FrameReader::new(4096);
    let me = Identity {
        node: "b".into(),
        instance: incarnation,
        incarnation,
        schema: schema(),
        secret: secret(),
        max_frame: mycelium_remote::frame::DEFAULT_MAX_BODY,
    };
    authenticate(&mut stream, &mut reader, &me, "a", Some("a"), &|_| false)
        .await
        .unwrap();
    (stream, reader)
}

/// A directory under the system's temporary directory, mode 0700, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::DirBuilderExt;
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "mycelium-remote-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn socket(&self, name: &str) -> Endpoint {
        Endpoint::Unix(self.0.join(name))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a recorder saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub service: String,
    pub type_id: u16,
    pub body: Vec<u8>,
}

/// A dispatcher that records tells and publishes, answers asks with the reversed body
/// (service `never` never answers), refuses service `missing`, and lets each message through
/// only when the gate has a permit (a slow or stuck consumer).
pub struct Recorder {
    tx: mpsc::UnboundedSender<Got>,
    pub gate: Arc<Semaphore>,
}

impl Recorder {
    pub fn new(open: bool) -> (Arc<Recorder>, mpsc::UnboundedReceiver<Got>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(if open {
            Semaphore::MAX_PERMITS
        } else {
            0
        }));
        (Arc::new(Recorder { tx, gate }), rx)
    }

    async fn pass(&self, service: &str, type_id: u16, body: &[u8]) -> Result<(), DispatchError> {
        if service == "missing" {
            return Err(DispatchError::UnknownService(service.into()));
        }
        match self.gate.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(DispatchError::Failed("gate closed".into())),
        }
        let _ = self.tx.send(Got {
            service: service.into(),
            type_id,
            body: body.to_vec(),
        });
        Ok(())
    }
}

impl Dispatch for Recorder {
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(self.pass(service, type_id, body))
    }

    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        Box::pin(async move {
            self.pass(service, type_id, body).await?;
            let mut reply: Vec<u8> = body.iter().rev().copied().collect();
            // `huge`: a reply too large for a frame, ready at once; `huge-later`: the same
            // after a turn of the scheduler (the reply is still to come when the ask returns).
            if service.starts_with("huge") {
                reply = vec![0; mycelium_remote::frame::DEFAULT_MAX_BODY as usize + 1];
            }
            // `ten-kib`: a reply of 10 KiB, within the default frame limit and above the least.
            if service == "ten-kib" {
                reply = vec![0; 10 * 1024];
            }
            let never = service == "never";
            let later = service == "huge-later";
            Ok(Box::pin(async move {
                if never {
                    std::future::pending::<()>().await;
                }
                if later {
                    tokio::task::yield_now().await;
                }
                Ok((type_id, reply))
            }) as ReplyFuture)
        })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        type_id: u16,
        _key: Option<u64>,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(self.pass(topic, type_id, body))
    }
}

/// Link events of one node, awaitable.
pub struct Events {
    rx: mpsc::UnboundedReceiver<LinkEvent>,
    pub seen: Vec<LinkEvent>,
}

pub fn events() -> (impl Fn(&LinkEvent) + Send + Sync + 'static, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        move |e: &LinkEvent| {
            let _ = tx.send(e.clone());
        },
        Events {
            rx,
            seen: Vec::new(),
        },
    )
}

impl Events {
    /// Waits for the first event (from now on) matching `pred` and returns it.
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&LinkEventKind) -> bool) -> LinkEvent {
        let found = tokio::time::timeout(BOUND, async {
            while let Some(e) = self.rx.recv().await {
                self.seen.push(e.clone());
                if pred(&e.kind) {
                    return Some(e);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(e)) => e,
            _ => panic!("no `{what}` event; saw {:#?}", self.seen),
        }
    }

    /// Waits for the next loss report and returns it.
    pub async fn loss(&mut self) -> LossReport {
        let event = self
            .wait("loss", |k| matches!(k, LinkEventKind::Loss(_)))
            .await;
        match event.kind {
            LinkEventKind::Loss(report) => report,
            _ => unreachable!("waited for a loss report"),
        }
    }

    /// Every event received so far without waiting.
    pub fn drain(&mut self) -> &[LinkEvent] {
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }

    /// Panics if any event received so far (without waiting) is a loss report.
    pub fn assert_no_loss(&mut self) {
        assert_no_loss(self.drain());
    }
}

/// Panics if any of `events` is a loss report.
pub fn assert_no_loss(events: &[LinkEvent]) {
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, LinkEventKind::Loss(_))),
        "nothing reported lost: {events:#?}"
    );
}

pub fn fast_config() -> LinkConfig {
    LinkConfig {
        backoff: mycelium_supervisor::Backoff::exponential(
            Duration::from_millis(5),
            2.0,
            Duration::from_millis(100),
        )
        .with_jitter(0.2),
        ..LinkConfig::default()
    }
}

pub fn node(
    name: &str,
    bus: &Bus,
    dispatch: Arc<dyn Dispatch>,
    config: LinkConfig,
) -> (Node, Events) {
    let (observer, events) = events();
    let node = Node::builder(name, schema(), secret())
        .config(config)
        .observer(observer)
        .build(bus, dispatch);
    (node, events)
}

/// Receives exactly `n` messages (or fails after the bound).
pub async fn recv_n(rx: &mut mpsc::UnboundedReceiver<Got>, n: usize) -> Vec<Got> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match tokio::time::timeout(BOUND, rx.recv()).await {
            Ok(Some(g)) => got.push(g),
            _ => panic!("received {} of {n} messages", got.len()),
        }
    }
    got
}

/// A TCP relay in front of `target`: each accepted connection is piped to a new connection to
/// the target; `cut()` closes the current ones, as a network failure would.
pub struct Relay {
    pub endpoint: Endpoint,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: Endpoint) -> Relay {
        let Endpoint::Tcp(target) = target else {
            panic!("relay targets TCP")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let endpoint = Endpoint::Tcp(listener.local_addr().expect("addr").to_string());
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let p = pipes.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                p.lock().unwrap().push(pipe);
            }
        });
        Relay {
            endpoint,
            pipes,
            accept,
        }
    }

    /// Closes every connection through the relay (both sockets are dropped).
    pub fn cut(&self) {
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// A TCP relay in front of `target` that cuts each of its first `cuts` connections once it
/// has passed a number of bytes, drawn for each direction from 1 to `max_bytes` by a
/// generator seeded with `seed`: cuts fall inside handshakes, frames and acknowledgements
/// alike. A direction that has passed its bytes stops at once, the other a moment later.
/// Later connections pass everything.
pub struct CuttingRelay {
    pub endpoint: Endpoint,
    cut: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl CuttingRelay {
    pub async fn start(target: Endpoint, seed: u64, cuts: u64, max_bytes: u64) -> CuttingRelay {
        let Endpoint::Tcp(target) = target else {
            panic!("relay targets TCP")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let endpoint = Endpoint::Tcp(listener.local_addr().expect("addr").to_string());
        let cut = Arc::new(AtomicU64::new(0));
        let counted = cut.clone();
        let accept = tokio::spawn(async move {
            let mut rng = seed | 1;
            let mut draw = move || {
                // xorshift64
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                1 + rng % max_bytes
            };
            let mut pipes = tokio::task::JoinSet::new();
            for n in 0.. {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let budgets = (n < cuts).then(|| (draw(), draw()));
                let target = target.clone();
                let counted = counted.clone();
                pipes.spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let (up, down) = budgets.unwrap_or((u64::MAX, u64::MAX));
                    let up = pump(&mut cr, &mut sw, up);
                    let down = pump(&mut sr, &mut cw, down);
                    tokio::pin!(up, down);
                    // A direction that has passed its bytes stops; the other goes on a
                    // little longer (a cut seen by one side only a moment after the other,
                    // as a real network failure can be), then both close.
                    let grace = Duration::from_millis(2);
                    tokio::select! {
                        _ = &mut up => { let _ = tokio::time::timeout(grace, down).await; }
                        _ = &mut down => { let _ = tokio::time::timeout(grace, up).await; }
                    }
                    if budgets.is_some() {
                        counted.fetch_add(1, Ordering::AcqRel);
                    }
                });
            }
        });
        CuttingRelay {
            endpoint,
            cut,
            accept,
        }
    }

    /// How many connections it has cut so far.
    pub fn cut(&self) -> u64 {
        self.cut.load(Ordering::Acquire)
    }
}

impl Drop for CuttingRelay {
    fn drop(&mut self) {
        // The accept task owns the pipes (a `JoinSet`): aborting it closes every connection.
        self.accept.abort();
    }
}

/// Copies from `from` to `to` until `budget` bytes have passed or `from` ends.
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut budget: u64,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while budget > 0 {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let pass = n.min(usize::try_from(budget).unwrap_or(usize::MAX));
        if to.write_all(&buf[..pass]).await.is_err() {
            return;
        }
        budget -= pass as u64;
    }
}

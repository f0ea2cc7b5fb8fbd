//! The `ractor` peer of w8 and w9: `ractor_cluster` 0.16 between two processes.
//!
//! Each process runs a `NodeServer` (cookie authentication, no TLS) on a `current_thread`
//! runtime, as the mycelium nodes do. The server's actor [`Echo`] joins the process group
//! `echo`; the client connects, waits until the group's remote member appears (ractor's
//! process-group synchronisation), and talks to it through the typed `ActorRef` of that
//! remote actor: `call` (an RPC over the cluster link) for asks, `cast` for tells.
//!
//! Transports: TCP through the node server's own listener (`client_connect`); Unix sockets
//! through ractor_cluster's external-transport hook (`ClusterBidiStream`, the accepted or
//! connected `UnixStream` handed to the node server), with the same framing and protocol.
//! ractor has no busy-poll mode: `mode=spin` runs the same configuration as `mode=block`.
//!
//! The message is the contract type `Quote`, carried as its codec body (48 bytes) inside
//! ractor's protobuf envelope.

use std::time::{Duration, Instant};

use mycelium_codec::WireMessage;
use mycelium_contracts::Quote;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{
    BoxRead, BoxWrite, BytesConvertable, ClusterBidiStream, NodeServer, NodeServerMessage,
    RactorClusterMessage,
};

use crate::remote::{
    expected_count, quote, ready, w8_values, w9_values, Counts, PairResult, Selection,
};

/// Process group the server's actor joins.
const GROUP: &str = "echo";
/// How long the client waits for the connection and the group's synchronisation.
const SETUP: Duration = Duration::from_secs(20);

/// A `Quote` that ractor can put on its wire: the codec body.
#[derive(Clone, Debug)]
pub struct WireQuote(pub Quote);

impl BytesConvertable for WireQuote {
    fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        self.0.encode_body(&mut out);
        out
    }

    /// A body that does not decode yields a quote with `instrument == 0`, which the client's
    /// echo check rejects (this trait cannot return an error).
    fn from_bytes(bytes: Vec<u8>) -> Self {
        WireQuote(Quote::decode_body(&bytes).unwrap_or(Quote {
            ts_ns: 0,
            instrument: 0,
            bid_px: 0.0,
            bid_qty: 0.0,
            ask_px: 0.0,
            ask_qty: 0.0,
        }))
    }
}

/// The messages of the remote echo actor (serialisable: `RactorClusterMessage`).
#[derive(RactorClusterMessage)]
pub enum EchoMsg {
    /// One-way: counted.
    Tell(WireQuote),
    /// Counted, then answered with the quote, its `ts_ns` replaced by the count.
    #[rpc]
    Ask(WireQuote, RpcReplyPort<WireQuote>),
}

/// The server's actor: the same semantics as the mycelium server's `Echo`.
struct Echo;

impl Actor for Echo {
    type Msg = EchoMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, me: ActorRef<EchoMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        ractor::pg::join(GROUP.to_string(), vec![me.get_cell()]);
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<EchoMsg>,
        msg: EchoMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *count += 1;
        match msg {
            EchoMsg::Tell(_) => {}
            EchoMsg::Ask(WireQuote(q), port) => {
                // The client may have gone: nothing to do about a closed port.
                let _ = port.send(WireQuote(Quote { ts_ns: *count, ..q }));
            }
        }
        Ok(())
    }
}

/// A connected Unix socket as a ractor_cluster transport.
struct UnixBidi(tokio::net::UnixStream);

impl ClusterBidiStream for UnixBidi {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (r, w) = self.0.into_split();
        (Box::new(r), Box::new(w))
    }
    fn peer_label(&self) -> Option<String> {
        Some("unix:peer".into())
    }
    fn local_label(&self) -> Option<String> {
        Some("unix:local".into())
    }
}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |e| format!("ractor: {what}: {e}")
}

/// Starts a node server on `port` (0: any) bound to loopback.
async fn node(name: &str, cookie: &str, port: u16) -> Result<ActorRef<NodeServerMessage>, String> {
    let server = NodeServer::new(
        port,
        cookie.to_string(),
        name.to_string(),
        "localhost".to_string(),
        None,
        Some(ractor_cluster::node::NodeConnectionMode::Isolated),
    )
    .with_listen_addr(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let (node, _) = Actor::spawn(None, server, ())
        .await
        .map_err(|e| err("node server")(&e))?;
    Ok(node)
}

/// A free loopback TCP port (bound, read and released: the node server binds it next).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err("free port")(&e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| err("free port")(&e))
}

/// The server process: serves until its stdin closes.
pub fn peer(endpoint: &str) -> Result<(), String> {
    let cookie = std::env::var("MYCELIUM_BENCH_SECRET").map_err(|e| err("secret")(&e))?;
    crate::remote::ct_runtime()?.block_on(async move {
        let unix = endpoint.strip_prefix("unix:").map(str::to_string);
        let port = match &unix {
            Some(_) => 0,
            None => free_port()?,
        };
        let node = node("server", &cookie, port).await?;
        let (echo, _) = Actor::spawn(None, Echo, ())
            .await
            .map_err(|e| err("spawn echo")(&e))?;
        let accept = match &unix {
            Some(path) => {
                let l = tokio::net::UnixListener::bind(path).map_err(|e| err("bind")(&e))?;
                ready(&format!("unix:{path}"));
                let node = node.clone();
                Some(tokio::spawn(async move {
                    while let Ok((s, _)) = l.accept().await {
                        let opened = NodeServerMessage::ConnectionOpenedExternal {
                            stream: Box::new(UnixBidi(s)),
                            is_server: true,
                        };
                        if node.cast(opened).is_err() {
                            break;
                        }
                    }
                }))
            }
            None => {
                ready(&format!("tcp:127.0.0.1:{port}"));
                None
            }
        };
        crate::remote::until_stdin_closes().await;
        if let Some(a) = accept {
            a.abort();
        }
        echo.stop(None);
        node.stop(None);
        Ok(())
    })
}

/// The client: connects, runs w8 then w9.
pub fn client(
    endpoint: &str,
    secret: &str,
    c: Counts,
    sel: Selection,
) -> Result<PairResult, String> {
    let endpoint = endpoint.to_string();
    let cookie = secret.to_string();
    crate::remote::drive(&crate::remote::ct_runtime()?, async move {
        let node = node("client", &cookie, 0).await?;
        if let Some(path) = endpoint.strip_prefix("unix:") {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| err("connect")(&e))?;
            ractor_cluster::client_connect_external(&node, Box::new(UnixBidi(s)))
                .await
                .map_err(|e| err("connect")(&e))?;
        } else if let Some(addr) = endpoint.strip_prefix("tcp:") {
            ractor_cluster::client_connect(&node, addr)
                .await
                .map_err(|e| err("connect")(&e))?;
        } else {
            return Err(format!("ractor: bad endpoint {endpoint}"));
        }
        // The remote echo appears in the group once the nodes have authenticated and
        // synchronised their groups: poll for it, bounded.
        let t0 = Instant::now();
        let echo: ActorRef<EchoMsg> = loop {
            if let Some(cell) = ractor::pg::get_members(&GROUP.to_string())
                .into_iter()
                .next()
            {
                break cell.into();
            }
            if t0.elapsed() > SETUP {
                return Err("ractor: the remote echo actor never appeared".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let ask = |q: Quote| {
            let echo = echo.clone();
            async move {
                match echo
                    .call(|port| EchoMsg::Ask(WireQuote(q), port), None)
                    .await
                {
                    Ok(ractor::rpc::CallResult::Success(WireQuote(r))) => Ok(r),
                    Ok(other) => Err(format!("ractor: ask failed: {other:?}")),
                    Err(e) => Err(format!("ractor: ask: {e}")),
                }
            }
        };
        let mut w8 = None;
        if sel.w8 {
            let mut samples = Vec::with_capacity(c.w8_asks);
            for i in 0..c.w8_warmup + c.w8_asks {
                let t0 = Instant::now();
                let r = ask(quote(i as u64)).await?;
                let dt = t0.elapsed().as_nanos() as u64;
                if r.instrument != 7 {
                    return Err("ractor: echo mismatch".into());
                }
                if i >= c.w8_warmup {
                    samples.push(dt);
                }
            }
            w8 = Some(w8_values(samples));
        }
        let mut w9 = None;
        if sel.w9 {
            let t0 = Instant::now();
            for i in 0..c.w9_tells {
                echo.cast(EchoMsg::Tell(WireQuote(quote(i))))
                    .map_err(|e| format!("ractor: tell: {e}"))?;
            }
            let r = ask(quote(0)).await?;
            let t = t0.elapsed();
            if r.ts_ns != expected_count(c, sel) {
                return Err(format!(
                    "ractor: server counted {}, expected {}",
                    r.ts_ns,
                    expected_count(c, sel)
                ));
            }
            w9 = Some(w9_values(c.w9_tells, t));
        }
        node.stop(None);
        Ok((w8, w9))
    })
}

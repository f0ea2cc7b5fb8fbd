//! The `mycelium` side: two `mycelium-remote` nodes, the server's `Echo` actor exported
//! under `echo` and the client asking and telling it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium::actors::{Actor, BoxError, Bus, Context, Handler, Recipient, ReplyRecipient};
use mycelium_contracts::{Quote, SCHEMA_DIGEST};
use mycelium_remote::{Endpoint, LinkConfig, LocalSchema, Node, RemoteActor, Secret};

use super::{
    ct_runtime, drive, expected_count, quote, ready, w8_values, w9_values, Counts, Mode,
    PairResult, Selection, SERVICE,
};

/// The server's actor: answers a `Quote` with the same quote, its `ts_ns` replaced by the
/// number of quotes it has handled (so the client can check that every tell arrived).
struct Echo {
    count: u64,
}

impl Actor for Echo {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo { count: 0 })
    }
}

impl Handler<Quote> for Echo {
    type Reply = Quote;
    async fn handle(&mut self, q: Quote, _ctx: &mut Context<Self>) -> Quote {
        self.count += 1;
        Quote {
            ts_ns: self.count,
            ..q
        }
    }
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if let Some(p) = s.strip_prefix("unix:") {
        Ok(Endpoint::Unix(PathBuf::from(p)))
    } else if let Some(a) = s.strip_prefix("tcp:") {
        Ok(Endpoint::Tcp(a.to_string()))
    } else {
        Err(format!("bad endpoint {s}"))
    }
}

fn link_config(mode: Mode) -> LinkConfig {
    LinkConfig {
        mode: mode.link(),
        ..LinkConfig::default()
    }
}

fn secret_from(s: &str) -> Result<Secret, String> {
    Secret::new(s.as_bytes().to_vec()).map_err(|e| e.to_string())
}

pub(super) fn mycelium_peer(mode: Mode, endpoint: &str) -> Result<(), String> {
    let secret = secret_from(&std::env::var("MYCELIUM_BENCH_SECRET").map_err(|e| e.to_string())?)?;
    let endpoint = parse_endpoint(endpoint)?;
    ct_runtime()?.block_on(async move {
        let bus = Bus::new();
        let echo = bus.spawn::<Echo>(());
        bus.exports()
            .export_ask(SERVICE, echo.reply_recipient::<Quote>())
            .map_err(|e| e.to_string())?;
        let node = Node::builder("server", LocalSchema::from_digest(SCHEMA_DIGEST), secret)
            .config(link_config(mode))
            .build(&bus, Arc::new(bus.exports()));
        let at = node
            .listen(&endpoint, &["client"])
            .await
            .map_err(|e| e.to_string())?;
        ready(&at.to_string());
        // Serve until the client closes our stdin.
        super::until_stdin_closes().await;
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

pub(super) fn mycelium_client(
    endpoint: &str,
    mode: Mode,
    secret: &str,
    c: Counts,
    sel: Selection,
) -> Result<PairResult, String> {
    let secret = secret_from(secret)?;
    let endpoint = parse_endpoint(endpoint)?;
    drive(&ct_runtime()?, async move {
        let bus = Bus::new();
        let node = Node::builder("client", LocalSchema::from_digest(SCHEMA_DIGEST), secret)
            .config(link_config(mode))
            .build(&bus, Arc::new(bus.exports()));
        let link = node.connect("server", endpoint);
        let asks: ReplyRecipient<Quote, Quote> =
            RemoteActor::new(link.clone(), SERVICE).reply_recipient();
        let tells: Recipient<Quote> = RemoteActor::<Quote, Quote>::new(link, SERVICE).recipient();
        let err = |e: &dyn std::fmt::Display| format!("mycelium: {e}");
        let mut w8 = None;
        if sel.w8 {
            let mut samples = Vec::with_capacity(c.w8_asks);
            for i in 0..c.w8_warmup + c.w8_asks {
                let t0 = Instant::now();
                let r = asks.ask(quote(i as u64)).await.map_err(|e| err(&e))?;
                let dt = t0.elapsed().as_nanos() as u64;
                if r.instrument != 7 {
                    return Err("mycelium: echo mismatch".into());
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
                tells.tell(quote(i)).await.map_err(|e| err(&e))?;
            }
            let r = asks.ask(quote(0)).await.map_err(|e| err(&e))?;
            let t = t0.elapsed();
            if r.ts_ns != expected_count(c, sel) {
                return Err(format!(
                    "mycelium: server counted {}, expected {}",
                    r.ts_ns,
                    expected_count(c, sel)
                ));
            }
            w9 = Some(w9_values(c.w9_tells, t));
        }
        node.shutdown();
        bus.shutdown(Duration::from_secs(2)).await;
        Ok((w8, w9))
    })
}

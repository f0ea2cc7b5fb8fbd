//! The `mycelium` lines: a `mycelium-remote` link with an `shm:` endpoint to an echo node in
//! the other process.

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium::actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::shm::ShmEndpoint;
use mycelium_remote::{
    AskNow, Dispatch, DispatchError, Endpoint, LinkConfig, LocalSchema, Node, ReplyFuture, Secret,
};

use super::{await_ready, check, percentiles, ready, spawn, Ctx, PAYLOAD, WARMUP};

/// The echo node's dispatch: tells are dropped, asks answered with their body.
struct Echo;

impl Dispatch for Echo {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async { Ok(()) })
    }
    fn ask<'a>(
        &'a self,
        _: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        let reply = body.to_vec();
        Box::pin(async move { Ok(Box::pin(async move { Ok((type_id, reply)) }) as ReplyFuture) })
    }
    /// The echo answers at once, into the reply's frame.
    fn ask_now<'a>(
        &'a self,
        _: &'a str,
        type_id: u16,
        body: &'a [u8],
        _: &mut std::task::Context<'_>,
        out: &mut Vec<u8>,
    ) -> Result<AskNow<'a>, DispatchError> {
        out.extend_from_slice(body);
        Ok(AskNow::Answered(type_id))
    }
    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async { Ok(()) })
    }
}

fn link_config(mode: &str) -> LinkConfig {
    LinkConfig {
        mode: if mode == "block" {
            mycelium_remote::Mode::Block
        } else {
            mycelium_remote::Mode::Spin(Duration::from_millis(100))
        },
        queue_capacity: 4096,
        ..LinkConfig::default()
    }
}

fn secret() -> Result<Secret, String> {
    Secret::new(*b"benchmark secret of 32 bytes....").ctx("secret")
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ctx("runtime")
}

pub(super) fn link_echo(dir: &str, mode: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let bus = Bus::new();
        let node = Node::builder("echo", LocalSchema::from_digest([2; 32]), secret()?)
            .config(link_config(mode))
            .build(&bus, Arc::new(Echo));
        let mut e = ShmEndpoint::new(std::path::Path::new(dir).join("echo.sock"));
        e.prefix = format!("bench-link-{}", std::process::id());
        node.listen(&Endpoint::Shm(e), &["bench"])
            .await
            .ctx("listen")?;
        ready();
        // Until the parent closes stdin.
        crate::remote::until_stdin_closes().await;
        node.shutdown();
        Ok(())
    })
}

/// The other process of a link run and its socket directory (removed on drop).
struct LinkPeer {
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Drop for LinkPeer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the echo node in another process; returns it and a link to it.
fn link_to_echo(mode: &str, bus: &Bus) -> Result<(LinkPeer, mycelium_remote::Link, Node), String> {
    let dir = std::env::temp_dir().join(format!("myc-bench-{}-{mode}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .ctx("socket directory")?;
    let dir_s = dir
        .to_str()
        .ok_or("socket directory is not UTF-8")?
        .to_owned();
    let mut child = spawn(&["link-echo", &dir_s, mode])?;
    let pid = child.id();
    let ready = await_ready(&mut child);
    let peer = LinkPeer {
        child: Some(child),
        dir: dir.clone(),
    };
    ready?;
    let node = Node::builder("bench", LocalSchema::from_digest([2; 32]), secret()?)
        .config(link_config(mode))
        .build(bus, Arc::new(Echo));
    // The echo node's prefix is derived from its pid: give ours the same.
    let mut ep = ShmEndpoint::new(dir.join("echo.sock"));
    ep.prefix = format!("bench-link-{pid}");
    let link = node.connect("echo", Endpoint::Shm(ep));
    Ok((peer, link, node))
}

pub(super) fn link_rtt(mode: &str, n: usize) -> Result<(u64, u64), String> {
    let mode = mode.to_owned();
    crate::remote::drive(&runtime()?, async move {
        let bus = Bus::new();
        let (peer, link, node) = link_to_echo(&mode, &bus)?;
        let svc: Arc<str> = "echo".into();
        let body = [7u8; PAYLOAD];
        let mut samples = Vec::with_capacity(n);
        for i in 0..(n + WARMUP) {
            let t0 = Instant::now();
            let (_, reply) = link
                .ask(&svc, 1, |o| o.extend_from_slice(&body))
                .await
                .ctx("ask")?;
            if i >= WARMUP {
                samples.push(t0.elapsed().as_nanos() as u64);
            }
            check(reply.len() == PAYLOAD, "link echo length")?;
        }
        node.shutdown();
        drop((link, node, peer));
        percentiles(samples)
    })
}

pub(super) fn link_tput(mode: &str, n: usize) -> Result<f64, String> {
    let mode = mode.to_owned();
    crate::remote::drive(&runtime()?, async move {
        let bus = Bus::new();
        let (peer, link, node) = link_to_echo(&mode, &bus)?;
        let svc: Arc<str> = "echo".into();
        let body = [7u8; PAYLOAD];
        link.ask(&svc, 1, |o| o.extend_from_slice(&body))
            .await
            .ctx("warm-up ask")?;
        let t0 = Instant::now();
        for _ in 0..n {
            link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body))
                .await
                .ctx("tell")?;
        }
        link.ask(&svc, 1, |o| o.extend_from_slice(&body))
            .await
            .ctx("ask")?;
        let rate = n as f64 / t0.elapsed().as_secs_f64();
        node.shutdown();
        drop((link, node, peer));
        Ok(rate)
    })
}

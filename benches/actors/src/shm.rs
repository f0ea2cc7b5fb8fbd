//! The `transport=shm` lines of w8 and w9: shared memory between two processes.
//!
//! - **w8**, round trip of a 64-byte message: `p50_ns`, `p99_ns` seen by the sender.
//! - **w9**, one-way 64-byte messages, then one answer after the last: `msgs_per_sec`.
//!
//! Implementations, each in `mode=spin` (the waiting end polls) and `mode=block` (the
//! waiting end parks and the other end wakes it after every message):
//!
//! - `ring`: the floor. A minimal hand-written single-producer/single-consumer ring of
//!   64-byte slots per direction in a POSIX shared-memory segment; in `mode=block` the waiting
//!   end parks on a futex on the index word (the futex ping-pong floor).
//! - `mycelium-channel`: the `mycelium_remote::shm` channel ends (checked variable-length
//!   records, spin-then-park).
//! - `mycelium`: an ask, or tells then an ask, over a `mycelium-remote` link with an `shm:`
//!   endpoint (handshake, sequence numbers, acknowledgements, the link layer's tokio tasks).
//! - `iceoryx2`: iceoryx2 0.10 publish/subscribe (`ipc::Service`, a `[u64; 8]` payload,
//!   `loan_uninit` → `write_payload` → `send` and `receive`, as its docs show), one service
//!   per direction, no safe overflow and `RetryUntilDelivered` backpressure so nothing is
//!   lost; in `mode=block` each direction also has an event service: the sender notifies after
//!   every sample and the receiver waits on its listener (iceoryx2's documented way to wake a
//!   subscriber).
//!
//! The other process is this binary again, run with the hidden subcommand `__shm_peer`.

use std::fmt::Display;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium::actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::shm::{self, ShmEndpoint, ShmOptions, WaitPolicy};
use mycelium_remote::{
    AskNow, Dispatch, DispatchError, Endpoint, LinkConfig, LocalSchema, Node, ReplyFuture, Secret,
};

use crate::remote::Mode;

/// Payload bytes of one message.
const PAYLOAD: usize = 64;
/// Round trips not counted at the start of each w8 run.
const WARMUP: usize = 1_000;

/// Attaches what failed to an error.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Counts of one run.
#[derive(Clone, Copy, Debug)]
pub struct ShmCounts {
    /// w8 round trips in `mode=spin` (`mode=block`: a fifth).
    pub rtt: usize,
    /// w9 messages for the floors and iceoryx2 (the link: a fifth).
    pub tput: usize,
}

/// Full counts.
pub const FULL: ShmCounts = ShmCounts {
    rtt: 50_000,
    tput: 5_000_000,
};

/// `--quick` counts.
pub const QUICK: ShmCounts = ShmCounts {
    rtt: 2_000,
    tput: 200_000,
};

/// The implementations, in the order they are run.
pub const IMPLS: [&str; 4] = ["ring", "mycelium-channel", "mycelium", "iceoryx2"];

/// The implementations to run: all, or those named in `MYCELIUM_BENCH_SHM` (comma-separated),
/// for diagnosis.
pub fn impls() -> Vec<&'static str> {
    let only = std::env::var("MYCELIUM_BENCH_SHM").unwrap_or_default();
    IMPLS
        .into_iter()
        .filter(|i| only.is_empty() || only.split(',').any(|o| o == *i))
        .collect()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Block => "block",
        Mode::Spin => "spin",
    }
}

/// One w8 measurement: `(p50_ns, p99_ns)`.
pub fn w8(imp: &str, mode: Mode, c: ShmCounts) -> Result<(u64, u64), String> {
    let n = match mode {
        Mode::Block => c.rtt / 5,
        Mode::Spin => c.rtt,
    };
    let m = mode_name(mode);
    let tag = format!("{}-{m}", std::process::id());
    match imp {
        "ring" => floor_rtt(&format!("bench-floor-{tag}"), m, n),
        "mycelium-channel" => channel_rtt(&format!("bench-chan-{tag}"), m, n),
        "mycelium" => link_rtt(m, n),
        "iceoryx2" => ice_rtt(&format!("bench-ice-{tag}"), m, n),
        other => Err(format!("unknown shm implementation {other}")),
    }
}

/// One w9 measurement: messages per second.
pub fn w9(imp: &str, mode: Mode, c: ShmCounts) -> Result<f64, String> {
    let m = mode_name(mode);
    let tag = format!("{}-{m}", std::process::id());
    match imp {
        "ring" => floor_tput(&format!("bench-floor-t-{tag}"), m, c.tput),
        "mycelium-channel" => channel_tput(&format!("bench-chan-t-{tag}"), m, c.tput),
        "mycelium" => link_tput(m, c.tput / 5),
        "iceoryx2" => ice_tput(&format!("bench-ice-t-{tag}"), m, c.tput),
        other => Err(format!("unknown shm implementation {other}")),
    }
}

/// Starts this binary as the other process in `role`.
fn spawn(args: &[&str]) -> Result<Child, String> {
    Command::new(std::env::current_exe().ctx("own path")?)
        .arg("__shm_peer")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ctx("spawn the other process")
}

/// Waits for the other process's `ready` line.
fn await_ready(child: &mut Child) -> Result<(), String> {
    let out = child
        .stdout
        .take()
        .ok_or("no stdout of the other process")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).ctx("ready line")?;
    if line.trim() == "ready" {
        Ok(())
    } else {
        Err(format!("the other process did not start: {line:?}"))
    }
}

fn ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

/// Waits for the other process and checks that it succeeded.
fn finish(mut child: Child) -> Result<(), String> {
    drop(child.stdin.take());
    let status = child.wait().ctx("wait for the other process")?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the other process failed: {status}"))
    }
}

fn percentiles(mut ns: Vec<u64>) -> Result<(u64, u64), String> {
    if ns.is_empty() {
        return Err("no samples".into());
    }
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    Ok((at(0.50), at(0.99)))
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

/// Hidden subcommand `__shm_peer <role> <name> <mode> [<n>]`: the other process.
pub fn peer_main(args: &[String]) -> ExitCode {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let n = || arg(3).parse::<usize>().ctx("count");
    let r = match arg(0) {
        "floor-echo" => n().and_then(|n| floor_echo(arg(1), arg(2), n)),
        "floor-sink" => n().and_then(|n| floor_sink(arg(1), arg(2), n)),
        "chan-echo" => n().and_then(|n| chan_echo(arg(1), arg(2), n)),
        "chan-sink" => n().and_then(|n| chan_sink(arg(1), arg(2), n)),
        "link-echo" => link_echo(arg(1), arg(2)),
        "ice-echo" => n().and_then(|n| ice_echo(arg(1), arg(2), n)),
        "ice-sink" => n().and_then(|n| ice_sink(arg(1), arg(2), n)),
        other => Err(format!("unknown role {other}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("__shm_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------- the floor

const SLOTS: usize = 256;
const WORDS: usize = PAYLOAD / 8;

/// An index on its own cache line pair.
#[repr(C, align(128))]
struct Line(AtomicU64);

/// One direction: write index, read index, slots.
#[repr(C)]
struct FloorRing {
    write: Line,
    read: Line,
    slots: [[AtomicU64; WORDS]; SLOTS],
}

/// A mapped segment of two `FloorRing`s.
struct Floor {
    map: *mut u8,
    len: usize,
    name: String,
    owner: bool,
}

impl Floor {
    fn new(name: &str, create: bool) -> Result<Floor, String> {
        use rustix::fs::Mode as FMode;
        use rustix::shm::OFlags;
        let len = 2 * std::mem::size_of::<FloorRing>();
        let fd = if create {
            let fd = rustix::shm::open(
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
                FMode::RUSR | FMode::WUSR,
            )
            .ctx("create the floor segment")?;
            rustix::fs::ftruncate(&fd, len as u64).ctx("size the floor segment")?;
            fd
        } else {
            rustix::shm::open(name, OFlags::RDWR, FMode::empty()).ctx("open the floor segment")?
        };
        // SAFETY: a fresh shared mapping of an object of `len` bytes, owned by the `Floor`.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .ctx("map the floor segment")?;
        Ok(Floor {
            map: map.cast(),
            len,
            name: name.to_owned(),
            owner: create,
        })
    }

    fn ring(&self, i: usize) -> &FloorRing {
        debug_assert!(i < 2);
        // SAFETY: the mapping holds two `FloorRing`s (zeroed atomics are valid), is page
        // aligned, and lives as long as `self`.
        unsafe { &*self.map.cast::<FloorRing>().add(i) }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; no reference into it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.map.cast(), self.len) };
        if self.owner {
            let _ = rustix::shm::unlink(self.name.as_str());
        }
    }
}

/// The futex word of an index: its low half (little endian).
fn futex_word(word: &AtomicU64) -> &AtomicU32 {
    // SAFETY: an `AtomicU64` is 8-aligned and 8 bytes: its first 4 bytes are a valid,
    // aligned `AtomicU32` for as long as the `AtomicU64` lives; both are only accessed
    // atomically.
    unsafe { &*(word as *const AtomicU64).cast::<AtomicU32>() }
}

fn floor_wait(word: &AtomicU64, seen: u64, block: bool) -> u64 {
    loop {
        let now = word.load(Ordering::Acquire);
        if now != seen {
            return now;
        }
        if block {
            let _ = rustix::thread::futex::wait(
                futex_word(word),
                rustix::thread::futex::Flags::empty(),
                seen as u32,
                None,
            );
        } else {
            std::hint::spin_loop();
        }
    }
}

/// One end's private state: its own index and the last index of the other end it read
/// (reloaded only when the ring looks full, or empty).
#[derive(Default)]
struct End {
    mine: u64,
    seen: u64,
}

fn floor_send(r: &FloorRing, e: &mut End, msg: &[u64; WORDS], block: bool) {
    while e.mine - e.seen >= SLOTS as u64 {
        let read = r.read.0.load(Ordering::Acquire);
        e.seen = if e.mine - read >= SLOTS as u64 {
            floor_wait(&r.read.0, read, block)
        } else {
            read
        };
    }
    for (slot, v) in r.slots[(e.mine % SLOTS as u64) as usize].iter().zip(msg) {
        slot.store(*v, Ordering::Relaxed);
    }
    e.mine += 1;
    r.write.0.store(e.mine, Ordering::Release);
    if block {
        let _ = rustix::thread::futex::wake(
            futex_word(&r.write.0),
            rustix::thread::futex::Flags::empty(),
            1,
        );
    }
}

fn floor_recv(r: &FloorRing, e: &mut End, out: &mut [u64; WORDS], block: bool) {
    if e.seen == e.mine {
        e.seen = floor_wait(&r.write.0, e.mine, block);
    }
    for (o, slot) in out
        .iter_mut()
        .zip(&r.slots[(e.mine % SLOTS as u64) as usize])
    {
        *o = slot.load(Ordering::Relaxed);
    }
    e.mine += 1;
    r.read.0.store(e.mine, Ordering::Release);
    if block {
        let _ = rustix::thread::futex::wake(
            futex_word(&r.read.0),
            rustix::thread::futex::Flags::empty(),
            1,
        );
    }
}

fn floor_rtt(link: &str, mode: &str, n: usize) -> Result<(u64, u64), String> {
    let name = format!("/{link}");
    let floor = Floor::new(&name, true)?;
    let other = spawn(&["floor-echo", &name, mode, &n.to_string()])?;
    let block = mode == "block";
    let (mut w, mut r) = (End::default(), End::default());
    let mut msg = [0u64; WORDS];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        msg[0] = i;
        let t0 = Instant::now();
        floor_send(floor.ring(0), &mut w, &msg, block);
        floor_recv(floor.ring(1), &mut r, &mut msg, block);
        samples.push(t0.elapsed().as_nanos() as u64);
        check(msg[0] == i + 1, "ring echo")?;
    }
    finish(other)?;
    percentiles(samples)
}

fn floor_echo(name: &str, mode: &str, n: usize) -> Result<(), String> {
    let floor = Floor::new(name, false)?;
    let block = mode == "block";
    let (mut w, mut r) = (End::default(), End::default());
    let mut msg = [0u64; WORDS];
    for _ in 0..n {
        floor_recv(floor.ring(0), &mut r, &mut msg, block);
        msg[0] += 1;
        floor_send(floor.ring(1), &mut w, &msg, block);
    }
    Ok(())
}

fn floor_tput(link: &str, mode: &str, n: usize) -> Result<f64, String> {
    let name = format!("/{link}");
    let floor = Floor::new(&name, true)?;
    let other = spawn(&["floor-sink", &name, mode, &n.to_string()])?;
    let block = mode == "block";
    let (mut w, mut r) = (End::default(), End::default());
    let mut msg = [0u64; WORDS];
    let t0 = Instant::now();
    for i in 0..n as u64 {
        msg[0] = i;
        floor_send(floor.ring(0), &mut w, &msg, block);
    }
    floor_recv(floor.ring(1), &mut r, &mut msg, block);
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    check(msg[0] == n as u64, "ring sink count")?;
    finish(other)?;
    Ok(rate)
}

fn floor_sink(name: &str, mode: &str, n: usize) -> Result<(), String> {
    let floor = Floor::new(name, false)?;
    let block = mode == "block";
    let (mut w, mut r) = (End::default(), End::default());
    let mut msg = [0u64; WORDS];
    for i in 0..n as u64 {
        floor_recv(floor.ring(0), &mut r, &mut msg, block);
        check(msg[0] == i, "ring sequence")?;
    }
    msg[0] = n as u64;
    floor_send(floor.ring(1), &mut w, &msg, block);
    Ok(())
}

// ---------------------------------------------------------------- mycelium's shm channel

fn chan_options(prefix: &str, mode: &str) -> ShmOptions {
    let mut o = ShmOptions::new([1; 32]);
    o.prefix = prefix.to_owned();
    o.ring_bytes = 1 << 16;
    o.wait = if mode == "block" {
        WaitPolicy::block()
    } else {
        WaitPolicy::spin(Duration::from_millis(100))
    };
    o
}

fn word(m: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let k = m.len().min(8);
    b[..k].copy_from_slice(&m[..k]);
    u64::from_le_bytes(b)
}

fn channel_rtt(prefix: &str, mode: &str, n: usize) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = shm::create("bench", &chan_options(prefix, mode)).ctx("create")?;
    let other = spawn(&["chan-echo", prefix, mode, &n.to_string()])?;
    let mut msg = [0u8; PAYLOAD];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        tx.send(&msg).ctx("send")?;
        let v = rx.recv_with(word).ctx("recv")?;
        samples.push(t0.elapsed().as_nanos() as u64);
        check(v == i + 1, "channel echo")?;
    }
    finish(other)?;
    percentiles(samples)
}

fn chan_echo(prefix: &str, mode: &str, n: usize) -> Result<(), String> {
    let (mut tx, mut rx) = shm::open("bench", &chan_options(prefix, mode)).ctx("open")?;
    let mut msg = [0u8; PAYLOAD];
    for _ in 0..n {
        let v = rx.recv_with(word).ctx("recv")? + 1;
        msg[..8].copy_from_slice(&v.to_le_bytes());
        tx.send(&msg).ctx("send")?;
    }
    Ok(())
}

fn channel_tput(prefix: &str, mode: &str, n: usize) -> Result<f64, String> {
    let (mut tx, mut rx) = shm::create("bench", &chan_options(prefix, mode)).ctx("create")?;
    let other = spawn(&["chan-sink", prefix, mode, &n.to_string()])?;
    let mut msg = [0u8; PAYLOAD];
    let t0 = Instant::now();
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        tx.send(&msg).ctx("send")?;
    }
    let last = rx.recv_with(word).ctx("recv")?;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    check(last == n as u64, "channel sink count")?;
    finish(other)?;
    Ok(rate)
}

fn chan_sink(prefix: &str, mode: &str, n: usize) -> Result<(), String> {
    let (mut tx, mut rx) = shm::open("bench", &chan_options(prefix, mode)).ctx("open")?;
    for i in 0..n as u64 {
        let v = rx.recv_with(word).ctx("recv")?;
        check(v == i, "channel sequence")?;
    }
    tx.send(&(n as u64).to_le_bytes()).ctx("send")?;
    Ok(())
}

// ---------------------------------------------------------------- mycelium links over shm

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

fn link_echo(dir: &str, mode: &str) -> Result<(), String> {
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
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        });
        let _ = rx.await;
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

fn link_rtt(mode: &str, n: usize) -> Result<(u64, u64), String> {
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

fn link_tput(mode: &str, n: usize) -> Result<f64, String> {
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

// ---------------------------------------------------------------- iceoryx2

mod ice {
    //! iceoryx2 publish/subscribe ends of one process.

    use iceoryx2::node::Node;
    use iceoryx2::port::listener::Listener;
    use iceoryx2::port::notifier::Notifier;
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::prelude::*;
    use iceoryx2::service::port_factory::event::PortFactory as EventFactory;
    use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSubFactory;

    use super::{Ctx, PAYLOAD};

    /// The payload: 64 bytes.
    pub type Msg = [u64; PAYLOAD / 8];

    /// Samples a subscriber buffers (as many as the floor ring's slots).
    const BUFFER: usize = 256;

    /// This process's node, its publisher on `tx`, its subscriber on `rx`, and in block mode
    /// a notifier and a listener on the matching event services.
    pub struct Ends {
        pub_: Publisher<ipc::Service, Msg, ()>,
        sub: Subscriber<ipc::Service, Msg, ()>,
        notifier: Option<Notifier<ipc::Service>>,
        listener: Option<Listener<ipc::Service>>,
        /// The service we publish on, and its event service in block mode: to see whether the
        /// other side's subscriber (and listener) are there.
        out: PubSubFactory<ipc::Service, Msg, ()>,
        out_event: Option<EventFactory<ipc::Service>>,
        /// Block mode: waits on the listener that ended with no notification, after which a
        /// sample was there: wake-ups lost ([`Ends::lost_wakeups`]).
        lost_wakeups: std::cell::Cell<u64>,
        // Dropped last: the ports above belong to it.
        _node: Node<ipc::Service>,
    }

    /// The files of one measurement: iceoryx2's directories under a root of its own in the
    /// temporary directory, and its shared-memory objects named with a prefix of its own, so
    /// that [`Files`] can remove them all afterwards (by default iceoryx2 keeps a global
    /// management object in `/dev/shm` and directories in `/tmp/iceoryx2` for good).
    fn config(name: &str) -> Result<Config, String> {
        let mut config = Config::default();
        config.global.prefix = FileName::new(prefix(name).as_bytes()).ctx("iceoryx2 prefix")?;
        let root = format!("{}/", root(name).display());
        config
            .global
            .set_root_path(&Path::new(root.as_bytes()).ctx("iceoryx2 root path")?);
        Ok(config)
    }

    fn prefix(name: &str) -> String {
        format!("{name}_")
    }

    fn root(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(name)
    }

    /// Removes what iceoryx2 left of measurement `name` when dropped (after both processes
    /// have let go of it).
    pub struct Files(pub String);

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(root(&self.0));
            let prefix = prefix(&self.0);
            let Ok(entries) = std::fs::read_dir("/dev/shm") else {
                return;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    fn service_name(s: &str) -> Result<ServiceName, String> {
        ServiceName::new(s).ctx("service name")
    }

    impl Ends {
        /// Opens (or creates) the services `<name>/<tx>` and `<name>/<rx>` and this side's
        /// ports.
        pub fn new(name: &str, tx: &str, rx: &str, block: bool) -> Result<Ends, String> {
            set_log_level(LogLevel::Error);
            let node = NodeBuilder::new()
                .config(&config(name)?)
                .create::<ipc::Service>()
                .ctx("iceoryx2 node")?;
            let pubsub = |dir: &str| {
                node.service_builder(&service_name(&format!("{name}/{dir}"))?)
                    .publish_subscribe::<Msg>()
                    .enable_safe_overflow(false)
                    .subscriber_max_buffer_size(BUFFER)
                    .history_size(0)
                    .max_publishers(1)
                    .max_subscribers(1)
                    .open_or_create()
                    .ctx("iceoryx2 publish-subscribe service")
            };
            let out = pubsub(tx)?;
            let inp = pubsub(rx)?;
            let pub_ = out
                .publisher_builder()
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .ctx("iceoryx2 publisher")?;
            let sub = inp
                .subscriber_builder()
                .buffer_size(BUFFER)
                .create()
                .ctx("iceoryx2 subscriber")?;
            let (notifier, listener, out_event) = if block {
                let event = |dir: &str| {
                    node.service_builder(&service_name(&format!("{name}/{dir}-event"))?)
                        .event()
                        .open_or_create()
                        .ctx("iceoryx2 event service")
                };
                let out_event = event(tx)?;
                let n = out_event
                    .notifier_builder()
                    .create()
                    .ctx("iceoryx2 notifier")?;
                let l = event(rx)?
                    .listener_builder()
                    .create()
                    .ctx("iceoryx2 listener")?;
                (Some(n), Some(l), Some(out_event))
            } else {
                (None, None, None)
            };
            Ok(Ends {
                pub_,
                sub,
                notifier,
                listener,
                out,
                out_event,
                lost_wakeups: std::cell::Cell::new(0),
                _node: node,
            })
        }

        /// Whether the other side's subscriber is connected to our publisher's service.
        pub fn peer_subscribed(&self) -> bool {
            self.out.dynamic_config().number_of_subscribers() >= 1
                && self
                    .out_event
                    .as_ref()
                    .is_none_or(|e| e.dynamic_config().number_of_listeners() >= 1)
        }

        /// Sends one message (and, in block mode, a notification).
        pub fn send(&self, msg: Msg) -> Result<(), String> {
            let sample = self.pub_.loan_uninit().ctx("iceoryx2 loan")?;
            let delivered = sample.write_payload(msg).send().ctx("iceoryx2 send")?;
            if delivered == 0 {
                return Err("iceoryx2: no subscriber received the sample".into());
            }
            if let Some(n) = &self.notifier {
                n.notify().ctx("iceoryx2 notify")?;
            }
            Ok(())
        }

        /// Receives one message: spins on the subscriber, or in block mode waits on the
        /// listener between attempts.
        ///
        /// The wait is bounded ([`WAKE_BOUND`]): in w9's block mode a sink was seen asleep on
        /// its listener with a full buffer while the publisher retried for good (two full runs
        /// in three). A wake-up lost that way now costs a stall, counted in
        /// [`lost_wakeups`](Self::lost_wakeups), not a hang.
        pub fn recv(&self) -> Result<Msg, String> {
            let mut timed_out = false;
            loop {
                if let Some(s) = self.sub.receive().ctx("iceoryx2 receive")? {
                    if timed_out {
                        self.lost_wakeups.set(self.lost_wakeups.get() + 1);
                    }
                    return Ok(*s);
                }
                match &self.listener {
                    Some(l) => {
                        // A wait can also end early with nothing new (a notification of an
                        // event already collected): only one that lasted its bound counts.
                        let t0 = std::time::Instant::now();
                        let woken = l.timed_wait(|_| {}, WAKE_BOUND).ctx("iceoryx2 wait")?;
                        timed_out = woken == 0 && t0.elapsed() >= WAKE_BOUND;
                    }
                    None => std::hint::spin_loop(),
                }
            }
        }

        /// Waits of [`recv`](Self::recv) that ended at their bound, with no notification,
        /// though a sample was there: wake-ups iceoryx2 lost.
        pub fn lost_wakeups(&self) -> u64 {
            self.lost_wakeups.get()
        }
    }

    /// The longest a blocking receive waits on its listener before it looks at its
    /// subscriber again.
    const WAKE_BOUND: std::time::Duration = std::time::Duration::from_millis(20);

    impl Ends {
        /// Says on stderr how many wake-ups were lost, if any (`who` names the end).
        pub fn report_lost_wakeups(&self, who: &str) {
            if self.lost_wakeups() > 0 {
                eprintln!(
                    "# iceoryx2 {who}: {} waits on the listener ended at their {WAKE_BOUND:?} \
                     bound with a sample waiting (wake-ups lost; each a stall in the figure)",
                    self.lost_wakeups()
                );
            }
        }
    }
}

/// Waits until the other process's subscriber is connected (bounded).
fn ice_connected(ends: &ice::Ends) -> Result<(), String> {
    let t0 = Instant::now();
    while !ends.peer_subscribed() {
        if t0.elapsed() > Duration::from_secs(20) {
            return Err("iceoryx2: the other process never subscribed".into());
        }
        std::thread::yield_now();
    }
    Ok(())
}

fn ice_rtt(name: &str, mode: &str, n: usize) -> Result<(u64, u64), String> {
    // Declared first, dropped last: after this side's ends and the other process.
    let _files = ice::Files(name.to_string());
    let ends = ice::Ends::new(name, "ping", "pong", mode == "block")?;
    let mut other = spawn(&["ice-echo", name, mode, &n.to_string()])?;
    await_ready(&mut other)?;
    ice_connected(&ends)?;
    let mut msg: ice::Msg = [0; PAYLOAD / 8];
    let mut samples = Vec::with_capacity(n);
    for i in 0..(n + WARMUP) as u64 {
        msg[0] = i;
        let t0 = Instant::now();
        ends.send(msg)?;
        msg = ends.recv()?;
        let dt = t0.elapsed().as_nanos() as u64;
        check(msg[0] == i + 1, "iceoryx2 echo")?;
        if i >= WARMUP as u64 {
            samples.push(dt);
        }
    }
    ends.report_lost_wakeups("asker");
    finish(other)?;
    percentiles(samples)
}

fn ice_echo(name: &str, mode: &str, n: usize) -> Result<(), String> {
    let ends = ice::Ends::new(name, "pong", "ping", mode == "block")?;
    ready();
    ice_connected(&ends)?;
    for _ in 0..n + WARMUP {
        let mut msg = ends.recv()?;
        msg[0] += 1;
        ends.send(msg)?;
    }
    ends.report_lost_wakeups("echo");
    until_stdin_closes();
    Ok(())
}

/// Blocks until the parent closes our stdin. An iceoryx2 process stays until then: samples
/// it sent live in its own data segment, and a subscriber drops the samples of a publisher
/// that is gone.
fn until_stdin_closes() {
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
}

fn ice_tput(name: &str, mode: &str, n: usize) -> Result<f64, String> {
    // Declared first, dropped last: after this side's ends and the other process.
    let _files = ice::Files(name.to_string());
    let ends = ice::Ends::new(name, "data", "done", mode == "block")?;
    let mut other = spawn(&["ice-sink", name, mode, &n.to_string()])?;
    await_ready(&mut other)?;
    ice_connected(&ends)?;
    let mut msg: ice::Msg = [0; PAYLOAD / 8];
    let t0 = Instant::now();
    for i in 0..n as u64 {
        msg[0] = i;
        ends.send(msg)?;
    }
    let last = ends.recv()?;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    check(last[0] == n as u64, "iceoryx2 sink count")?;
    ends.report_lost_wakeups("sender");
    finish(other)?;
    Ok(rate)
}

fn ice_sink(name: &str, mode: &str, n: usize) -> Result<(), String> {
    let ends = ice::Ends::new(name, "done", "data", mode == "block")?;
    ready();
    ice_connected(&ends)?;
    for i in 0..n as u64 {
        let msg = ends.recv()?;
        check(msg[0] == i, "iceoryx2 sequence")?;
    }
    let mut msg: ice::Msg = [0; PAYLOAD / 8];
    msg[0] = n as u64;
    ends.send(msg)?;
    ends.report_lost_wakeups("sink");
    until_stdin_closes();
    Ok(())
}

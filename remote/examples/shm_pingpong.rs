//! Shared-memory latency and throughput between two processes, beside a floor.
//!
//! ```text
//! cargo run --release -p mycelium-remote --example shm_pingpong [-- --quick]
//! ```
//!
//! Prints, in the format of `compare`'s w8/w9 lines:
//!
//! - `w8 <impl> transport=shm mode=<spin|block> p50_ns=.. p99_ns=..`: round trip of a
//!   64-byte message between two processes;
//! - `w9 <impl> transport=shm mode=<spin|block> msgs_per_sec=..`: one-way 64-byte messages.
//!
//! for `ring` (the floor: a minimal hand-written single-producer/single-consumer ring of
//! 64-byte slots in a shared segment per direction; in `mode=block` the waiting end parks on
//! a futex and the other end wakes it after every message), `mycelium-channel` (the
//! `mycelium_remote::shm` channel ends: checked variable-length records, spin-then-park) and
//! `mycelium` (an ask or tells over a link with an `shm:` endpoint: handshake, sequence
//! numbers, acknowledgements, the tokio tasks of the link layer).
//!
//! The program starts itself again as the other process.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium_actors::{BoxFuture, Bus};
use mycelium_remote::frame::Kind;
use mycelium_remote::shm::{self, ShmEndpoint, ShmOptions, WaitPolicy};
use mycelium_remote::{
    Dispatch, DispatchError, Endpoint, LinkConfig, LocalSchema, Mode, Node, ReplyFuture, Secret,
};

const PAYLOAD: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__child") {
        child(&args[2..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rtt_n, tput_n) = if quick {
        (2_000, 200_000)
    } else {
        (50_000, 5_000_000)
    };
    let tag = std::process::id();
    for mode in ["spin", "block"] {
        let n = if mode == "block" { rtt_n / 5 } else { rtt_n };
        let (p50, p99) = floor_rtt(&format!("bench-floor-{tag}-{mode}"), mode, n);
        println!("w8 ring transport=shm mode={mode} p50_ns={p50} p99_ns={p99}");
        let (p50, p99) = channel_rtt(&format!("bench-chan-{tag}-{mode}"), mode, n);
        println!("w8 mycelium-channel transport=shm mode={mode} p50_ns={p50} p99_ns={p99}");
        let (p50, p99) = link_rtt(mode, n);
        println!("w8 mycelium transport=shm mode={mode} p50_ns={p50} p99_ns={p99}");
    }
    for mode in ["spin", "block"] {
        let rate = floor_tput(&format!("bench-floor-t-{tag}-{mode}"), mode, tput_n);
        println!("w9 ring transport=shm mode={mode} msgs_per_sec={rate:.0}");
        let rate = channel_tput(&format!("bench-chan-t-{tag}-{mode}"), mode, tput_n);
        println!("w9 mycelium-channel transport=shm mode={mode} msgs_per_sec={rate:.0}");
        let rate = link_tput(mode, tput_n / 5);
        println!("w9 mycelium transport=shm mode={mode} msgs_per_sec={rate:.0}");
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .arg("__child")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn the other process")
}

fn percentiles(mut ns: Vec<u64>) -> (u64, u64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    (at(0.50), at(0.99))
}

fn child(args: &[String]) {
    let arg = |i: usize| args[i].as_str();
    match arg(0) {
        "floor-echo" => floor_echo(arg(1), arg(2), arg(3).parse().unwrap()),
        "floor-sink" => floor_sink(arg(1), arg(2), arg(3).parse().unwrap()),
        "chan-echo" => chan_echo(arg(1), arg(2), arg(3).parse().unwrap()),
        "chan-sink" => chan_sink(arg(1), arg(2), arg(3).parse().unwrap()),
        "link-echo" => link_echo(arg(1), arg(2)),
        other => panic!("unknown role {other}"),
    }
}

// ---- the floor: a minimal SPSC ring of 64-byte slots ----

const SLOTS: usize = 256;
const WORDS: usize = PAYLOAD / 8;

/// One direction: write index, read index (each on its own line), slots.
#[repr(C, align(128))]
struct Line(AtomicU64);

#[repr(C)]
struct FloorRing {
    write: Line,
    read: Line,
    slots: [[AtomicU64; WORDS]; SLOTS],
}

struct Floor {
    map: *mut u8,
    len: usize,
    name: String,
    owner: bool,
}

impl Floor {
    fn new(name: &str, create: bool) -> Floor {
        use rustix::fs::Mode as FMode;
        use rustix::shm::OFlags;
        let len = 2 * std::mem::size_of::<FloorRing>();
        let fd = if create {
            let fd = rustix::shm::open(
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
                FMode::RUSR | FMode::WUSR,
            )
            .expect("create the floor segment");
            rustix::fs::ftruncate(&fd, len as u64).expect("size");
            fd
        } else {
            rustix::shm::open(name, OFlags::RDWR, FMode::empty()).expect("open the floor segment")
        };
        // SAFETY: a fresh shared mapping of an object of `len` bytes.
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
        .expect("map");
        Floor {
            map: map.cast(),
            len,
            name: name.to_owned(),
            owner: create,
        }
    }

    fn ring(&self, i: usize) -> &FloorRing {
        // SAFETY: the mapping holds two `FloorRing`s (zeroed atomics are valid) and lives as
        // long as `self`.
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

fn floor_wait(word: &AtomicU64, seen: u64, block: bool) -> u64 {
    loop {
        let now = word.load(Ordering::Acquire);
        if now != seen {
            return now;
        }
        if block {
            // The futex is the low half of the index word (little endian).
            // SAFETY: an `AtomicU64` is 8-aligned: its first 4 bytes are a valid `AtomicU32`.
            let low = unsafe { &*(word as *const AtomicU64).cast::<AtomicU32>() };
            let _ = rustix::thread::futex::wait(
                low,
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
/// (reloaded only when the ring looks full, or empty, as any decent SPSC ring does).
#[derive(Default)]
struct End {
    mine: u64,
    seen: u64,
}

fn floor_send(r: &FloorRing, e: &mut End, msg: &[u64; WORDS], block: bool) {
    let w = &mut e.mine;
    while *w - e.seen >= SLOTS as u64 {
        let read = r.read.0.load(Ordering::Acquire);
        e.seen = if *w - read >= SLOTS as u64 {
            floor_wait(&r.read.0, read, block)
        } else {
            read
        };
    }
    for (slot, v) in r.slots[(*w % SLOTS as u64) as usize].iter().zip(msg) {
        slot.store(*v, Ordering::Relaxed);
    }
    *w += 1;
    r.write.0.store(*w, Ordering::Release);
    if block {
        // SAFETY: as in `floor_wait`.
        let low = unsafe { &*(&r.write.0 as *const AtomicU64).cast::<AtomicU32>() };
        let _ = rustix::thread::futex::wake(low, rustix::thread::futex::Flags::empty(), 1);
    }
}

fn floor_recv(r: &FloorRing, e: &mut End, out: &mut [u64; WORDS], block: bool) {
    let rd = &mut e.mine;
    if e.seen == *rd {
        e.seen = floor_wait(&r.write.0, *rd, block);
    }
    for (o, slot) in out.iter_mut().zip(&r.slots[(*rd % SLOTS as u64) as usize]) {
        *o = slot.load(Ordering::Relaxed);
    }
    *rd += 1;
    r.read.0.store(*rd, Ordering::Release);
    if block {
        // SAFETY: as in `floor_wait`.
        let low = unsafe { &*(&r.read.0 as *const AtomicU64).cast::<AtomicU32>() };
        let _ = rustix::thread::futex::wake(low, rustix::thread::futex::Flags::empty(), 1);
    }
}

fn floor_rtt(link: &str, mode: &str, n: usize) -> (u64, u64) {
    let name = format!("/{link}");
    let floor = Floor::new(&name, true);
    let mut other = spawn(&["floor-echo", &name, mode, &n.to_string()]);
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
        assert_eq!(msg[0], i + 1);
    }
    other.wait().expect("echo ends");
    percentiles(samples)
}

fn floor_echo(name: &str, mode: &str, n: usize) {
    let floor = Floor::new(name, false);
    let block = mode == "block";
    let (mut w, mut r) = (End::default(), End::default());
    let mut msg = [0u64; WORDS];
    for _ in 0..n {
        floor_recv(floor.ring(0), &mut r, &mut msg, block);
        msg[0] += 1;
        floor_send(floor.ring(1), &mut w, &msg, block);
    }
}

fn floor_tput(link: &str, mode: &str, n: usize) -> f64 {
    let name = format!("/{link}");
    let floor = Floor::new(&name, true);
    let mut other = spawn(&["floor-sink", &name, mode, &n.to_string()]);
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
    assert_eq!(msg[0], n as u64);
    other.wait().expect("sink ends");
    rate
}

fn floor_sink(name: &str, mode: &str, n: usize) {
    let floor = Floor::new(name, false);
    let block = mode == "block";
    let (mut w, mut r) = (End::default(), End::default());
    let mut msg = [0u64; WORDS];
    for i in 0..n as u64 {
        floor_recv(floor.ring(0), &mut r, &mut msg, block);
        assert_eq!(msg[0], i);
    }
    msg[0] = n as u64;
    floor_send(floor.ring(1), &mut w, &msg, block);
}

// ---- mycelium's shm channel ends ----

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

fn channel_rtt(prefix: &str, mode: &str, n: usize) -> (u64, u64) {
    let (mut tx, mut rx) = shm::create("bench", &chan_options(prefix, mode)).expect("create");
    let mut other = spawn(&["chan-echo", prefix, mode, &n.to_string()]);
    let mut msg = [0u8; PAYLOAD];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        tx.send(&msg).expect("send");
        rx.recv_with(|m| msg.copy_from_slice(m)).expect("recv");
        samples.push(t0.elapsed().as_nanos() as u64);
        assert_eq!(u64::from_le_bytes(msg[..8].try_into().unwrap()), i + 1);
    }
    other.wait().expect("echo ends");
    percentiles(samples)
}

fn chan_echo(prefix: &str, mode: &str, n: usize) {
    let (mut tx, mut rx) = shm::open("bench", &chan_options(prefix, mode)).expect("open");
    let mut msg = [0u8; PAYLOAD];
    for _ in 0..n {
        rx.recv_with(|m| msg.copy_from_slice(m)).expect("recv");
        let v = u64::from_le_bytes(msg[..8].try_into().unwrap()) + 1;
        msg[..8].copy_from_slice(&v.to_le_bytes());
        tx.send(&msg).expect("send");
    }
}

fn channel_tput(prefix: &str, mode: &str, n: usize) -> f64 {
    let (mut tx, mut rx) = shm::create("bench", &chan_options(prefix, mode)).expect("create");
    let mut other = spawn(&["chan-sink", prefix, mode, &n.to_string()]);
    let mut msg = [0u8; PAYLOAD];
    let t0 = Instant::now();
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        tx.send(&msg).expect("send");
    }
    let last = rx
        .recv_with(|m| u64::from_le_bytes(m[..8].try_into().unwrap()))
        .expect("recv");
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    assert_eq!(last, n as u64);
    other.wait().expect("sink ends");
    rate
}

fn chan_sink(prefix: &str, mode: &str, n: usize) {
    let (mut tx, mut rx) = shm::open("bench", &chan_options(prefix, mode)).expect("open");
    for i in 0..n as u64 {
        let v = rx
            .recv_with(|m| u64::from_le_bytes(m[..8].try_into().unwrap()))
            .expect("recv");
        assert_eq!(v, i);
    }
    tx.send(&(n as u64).to_le_bytes()).expect("send");
}

// ---- mycelium links over shm ----

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
            Mode::Block
        } else {
            Mode::Spin(Duration::from_millis(100))
        },
        queue_capacity: 4096,
        ..LinkConfig::default()
    }
}

fn secret() -> Secret {
    Secret::new(*b"benchmark secret of 32 bytes....").expect("secret")
}

fn endpoint(dir: &str) -> Endpoint {
    let mut e = ShmEndpoint::new(std::path::Path::new(dir).join("echo.sock"));
    e.prefix = format!("bench-link-{}", std::process::id());
    Endpoint::Shm(e)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn link_echo(dir: &str, mode: &str) {
    runtime().block_on(async {
        let bus = Bus::new();
        let node = Node::builder("echo", LocalSchema::from_digest([2; 32]), secret())
            .config(link_config(mode))
            .build(&bus, Arc::new(Echo));
        node.listen(&endpoint(dir), &["bench"])
            .await
            .expect("listen");
        println!("ready");
        // Until the parent closes stdin.
        let mut buf = [0u8; 16];
        use tokio::io::AsyncReadExt;
        while matches!(tokio::io::stdin().read(&mut buf).await, Ok(n) if n > 0) {}
    });
}

/// Starts the echo node in another process; returns it and the link to it.
async fn link_to_echo(
    mode: &str,
    bus: &Bus,
) -> (Child, mycelium_remote::Link, Node, std::path::PathBuf) {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("myc-bench-{}-{mode}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .expect("socket directory");
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "__child",
            "link-echo",
            dir.to_str().expect("utf-8 path"),
            mode,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ready line");
    let node = Node::builder("bench", LocalSchema::from_digest([2; 32]), secret())
        .config(link_config(mode))
        .build(bus, Arc::new(Echo));
    // The echo node's prefix is derived from its pid: give ours the same.
    let mut ep = ShmEndpoint::new(dir.join("echo.sock"));
    ep.prefix = format!("bench-link-{}", child.id());
    let link = node.connect("echo", Endpoint::Shm(ep));
    (child, link, node, dir)
}

fn link_rtt(mode: &str, n: usize) -> (u64, u64) {
    runtime().block_on(async {
        let bus = Bus::new();
        let (mut child, link, node, dir) = link_to_echo(mode, &bus).await;
        let svc: Arc<str> = "echo".into();
        let body = [7u8; PAYLOAD];
        let mut samples = Vec::with_capacity(n);
        for i in 0..(n + 1000) {
            let t0 = Instant::now();
            let (_, reply) = link
                .ask(&svc, 1, |o| o.extend_from_slice(&body))
                .await
                .expect("ask");
            if i >= 1000 {
                samples.push(t0.elapsed().as_nanos() as u64);
            }
            assert_eq!(reply.len(), PAYLOAD);
        }
        drop((link, node));
        drop(child.stdin.take());
        child.wait().expect("echo ends");
        let _ = std::fs::remove_dir_all(dir);
        percentiles(samples)
    })
}

fn link_tput(mode: &str, n: usize) -> f64 {
    runtime().block_on(async {
        let bus = Bus::new();
        let (mut child, link, node, dir) = link_to_echo(mode, &bus).await;
        let svc: Arc<str> = "echo".into();
        let body = [7u8; PAYLOAD];
        link.ask(&svc, 1, |o| o.extend_from_slice(&body))
            .await
            .expect("warm-up ask");
        let t0 = Instant::now();
        for _ in 0..n {
            link.send(Kind::Tell, &svc, 1, |o| o.extend_from_slice(&body))
                .await
                .expect("tell");
        }
        link.ask(&svc, 1, |o| o.extend_from_slice(&body))
            .await
            .expect("ask");
        let rate = n as f64 / t0.elapsed().as_secs_f64();
        drop((link, node));
        drop(child.stdin.take());
        child.wait().expect("echo ends");
        let _ = std::fs::remove_dir_all(dir);
        rate
    })
}

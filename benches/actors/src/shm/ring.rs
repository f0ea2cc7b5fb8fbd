//! The `ring` floor: a hand-written single-producer/single-consumer ring of 64-byte slots
//! per direction in a POSIX shared-memory segment, spinning or parking on a futex.
//!
//! In `mode=block` an end that finds nothing to do says so in its index's `sleeping` word,
//! looks once more and parks on the index's futex; the other end wakes it only when it sees
//! that word set (a `SeqCst` fence on each side between the store and the load: the
//! store-fence-load handshake `mycelium_remote::shm` uses too). A busy ring so makes no system
//! call, as a hand-written blocking ring would; a floor that woke after every message would
//! make one system call per message and flatter whatever is compared with it.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use super::{check, finish, percentiles, spawn, Ctx, PAYLOAD};

/// The bytes of a link's ring by default (`ShmEndpoint::new`), in 64-byte slots: the floor
/// holds as much as the ring it is compared with (with 256 slots, a quarter of them, the
/// floor's one-way stream ran 2.5 times slower spinning and 2-4 times slower blocking).
const SLOTS: usize = (1 << 20) / PAYLOAD;
const WORDS: usize = PAYLOAD / 8;

/// An index on its own cache line pair, with the flag of the end that parks on it.
#[repr(C, align(128))]
struct Line {
    index: AtomicU64,
    /// Non-zero while the other end is (about to be) parked on `index`'s futex.
    sleeping: AtomicU32,
}

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
        let link_ring = mycelium_remote::shm::ShmEndpoint::new("").ring_bytes;
        check(
            SLOTS * PAYLOAD == link_ring,
            "the floor's ring holds as many bytes as a link's",
        )?;
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

/// Waits until `line`'s index is no longer `seen`; returns it.
fn floor_wait(line: &Line, seen: u64, block: bool) -> u64 {
    loop {
        let now = line.index.load(Ordering::Acquire);
        if now != seen {
            return now;
        }
        if !block {
            std::hint::spin_loop();
            continue;
        }
        line.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let now = line.index.load(Ordering::Acquire);
        if now == seen {
            // Returns at once if the index moved since (its low half no longer `seen`'s).
            let _ = rustix::thread::futex::wait(
                futex_word(&line.index),
                rustix::thread::futex::Flags::empty(),
                seen as u32,
                None,
            );
        }
        line.sleeping.store(0, Ordering::Relaxed);
    }
}

/// Publishes `index` on `line`, waking the other end if it sleeps there.
fn floor_publish(line: &Line, index: u64, block: bool) {
    line.index.store(index, Ordering::Release);
    if block {
        fence(Ordering::SeqCst);
        if line.sleeping.load(Ordering::Relaxed) != 0 {
            let _ = rustix::thread::futex::wake(
                futex_word(&line.index),
                rustix::thread::futex::Flags::empty(),
                1,
            );
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
        let read = r.read.index.load(Ordering::Acquire);
        e.seen = if e.mine - read >= SLOTS as u64 {
            floor_wait(&r.read, read, block)
        } else {
            read
        };
    }
    for (slot, v) in r.slots[(e.mine % SLOTS as u64) as usize].iter().zip(msg) {
        slot.store(*v, Ordering::Relaxed);
    }
    e.mine += 1;
    floor_publish(&r.write, e.mine, block);
}

fn floor_recv(r: &FloorRing, e: &mut End, out: &mut [u64; WORDS], block: bool) {
    if e.seen == e.mine {
        e.seen = floor_wait(&r.write, e.mine, block);
    }
    for (o, slot) in out
        .iter_mut()
        .zip(&r.slots[(e.mine % SLOTS as u64) as usize])
    {
        *o = slot.load(Ordering::Relaxed);
    }
    e.mine += 1;
    floor_publish(&r.read, e.mine, block);
}

pub(super) fn floor_rtt(link: &str, mode: &str, n: usize) -> Result<(u64, u64), String> {
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

pub(super) fn floor_echo(name: &str, mode: &str, n: usize) -> Result<(), String> {
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

pub(super) fn floor_tput(link: &str, mode: &str, n: usize) -> Result<f64, String> {
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

pub(super) fn floor_sink(name: &str, mode: &str, n: usize) -> Result<(), String> {
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

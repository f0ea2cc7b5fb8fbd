//! The `ring` floor: a hand-written single-producer/single-consumer ring of 64-byte slots
//! per direction in a POSIX shared-memory segment, spinning or parking on a futex.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use super::{check, finish, percentiles, spawn, Ctx, PAYLOAD};

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

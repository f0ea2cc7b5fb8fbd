//! One single-producer/single-consumer ring of byte records in (shared) memory.
//!
//! The ring is a control block ([`RingControl`]: write index, read index and two wake-up
//! signals, each on its own cache line) and a data area of `capacity` bytes seen as 64-bit
//! words. Indices count bytes ever written or read and only grow (wrapping at 2^64); a position in the data
//! area is the index modulo the capacity (a power of two). A record is an 8-byte header
//! (tag and payload length, little endian) and the payload padded to 8 bytes; a record never
//! wraps: when it does not fit before the end of the data area, a padding record fills the
//! rest and the record starts at offset 0. Hence the largest message is half the capacity
//! less a header ([`Producer::max_message`]), which always fits once the ring drains.
//!
//! The other end is not trusted. Each end keeps its own index privately and only publishes
//! it; what it reads from the other end (the peer's index, a record header) is checked
//! against the ring before use — alignment, distance within the capacity, tag, length
//! within the record space left before the end of the data area and before the write index.
//! Anything else is [`RingError::Corrupt`], and the ring must be dropped. Payload bytes are
//! copied out word by word with atomic loads before anyone looks at them, so a peer that
//! rewrites a record while it is read can make the bytes wrong (the codec checks them) but
//! cannot make this process read outside the ring or race in the Rust memory model.
//!
//! ```
//! use mycelium_remote::shm::ring::heap_ring;
//!
//! let (mut tx, mut rx) = heap_ring(4096)?;
//! tx.try_push(b"quote")?;
//! let got = rx.try_pop_with(|bytes| bytes.to_vec())?;
//! assert_eq!(got.as_deref(), Some(&b"quote"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::any::Any;
use std::sync::Arc;

use super::error::RingError;
use super::sync::{AtomicU32, AtomicU64, Ordering};
use super::wake::{Doorbell, Signal};

mod record;

use record::{
    check_distance, copy_out, copy_words, corrupt, max_message, parse_record, record_words, round8,
    store_words, Record, RECORD_HEADER, TAG_FRAME, TAG_PAD,
};

/// The writer closed its end.
const WRITER_CLOSED: u32 = 1;
/// The reader closed its end.
const READER_CLOSED: u32 = 2;

/// Smallest data area. (The model checker runs on tiny rings, where a few messages fill it.)
#[cfg(not(mycelium_loom))]
pub const MIN_CAPACITY: usize = 4096;
/// Smallest data area. (The model checker runs on tiny rings, where a few messages fill it.)
#[cfg(mycelium_loom)]
pub const MIN_CAPACITY: usize = 64;
/// Largest data area.
pub const MAX_CAPACITY: usize = 1 << 30;

/// One cache line pair (x86 prefetches lines in pairs): keeps the two ends' words apart.
#[repr(C, align(128))]
#[derive(Debug)]
struct Line<T>(T);

/// The control block of a ring, `repr(C)` so that both processes agree on it.
#[repr(C)]
#[derive(Debug)]
pub struct RingControl {
    /// Bytes ever published by the writer.
    write: Line<AtomicU64>,
    /// Bytes ever consumed by the reader.
    read: Line<AtomicU64>,
    /// The reader parks here when the ring is empty.
    readable: Line<Signal>,
    /// The writer parks here when the ring is full.
    writable: Line<Signal>,
    /// `WRITER_CLOSED | READER_CLOSED`.
    closed: Line<AtomicU32>,
}

impl RingControl {
    /// A fresh control block (in shared memory, zeroed bytes are the same thing).
    pub(crate) fn new() -> RingControl {
        RingControl {
            write: Line(AtomicU64::new(0)),
            read: Line(AtomicU64::new(0)),
            readable: Line(Signal::new()),
            writable: Line(Signal::new()),
            closed: Line(AtomicU32::new(0)),
        }
    }

    /// The closed flags; any other bit set means the word was overwritten (the other process
    /// is not trusted).
    fn closed_flags(&self) -> Result<u32, RingError> {
        let flags = self.closed.0.load(Ordering::Acquire);
        if flags & !(WRITER_CLOSED | READER_CLOSED) != 0 {
            return Err(corrupt(format!("closed flags {flags:#x}")));
        }
        Ok(flags)
    }
}

/// Checks a data-area size.
pub fn check_capacity(capacity: usize) -> bool {
    capacity.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity)
}

/// Where a ring lives: a control block and a data area, kept alive by `owner`.
struct RingPtr {
    ctl: *const RingControl,
    data: *const AtomicU64,
    /// Data-area size in bytes.
    cap: u64,
    /// Keeps the memory alive; never read.
    _owner: Arc<dyn Any + Send + Sync>,
    /// How to wake a peer task that waits on the link's socket.
    doorbell: Option<Doorbell>,
}

// SAFETY: the pointers refer to atomics only (shared by design between the two ends, and
// between processes), kept alive by `owner`, which is itself `Send + Sync`.
unsafe impl Send for RingPtr {}

impl RingPtr {
    fn ctl(&self) -> &RingControl {
        // SAFETY: `ctl` points to a `RingControl` that `owner` keeps mapped and that is only
        // ever accessed through atomics (constructor contract of `Producer::from_raw`).
        unsafe { &*self.ctl }
    }

    fn data(&self) -> &[AtomicU64] {
        // SAFETY: `data` points to `cap / 8` atomics kept alive by `owner` (same contract).
        unsafe { std::slice::from_raw_parts(self.data, (self.cap / 8) as usize) }
    }
}

/// The writer's published index and the closed flags of a ring, seen from outside its
/// [`Consumer`] (which a reader keeps behind a lock): a look that costs two loads of lines
/// the writer rarely leaves in another state than it found them, for a reader that spins.
/// Nothing it returns is trusted: it only tells whether the consumer's own checked read
/// ([`Consumer::try_pop_split`]) is worth making.
pub struct Watch {
    ctl: *const RingControl,
    /// Keeps the memory alive; never read.
    _owner: Arc<dyn Any + Send + Sync>,
}

// SAFETY: `ctl` refers to atomics only, shared by design between the two ends and between
// processes, kept alive by `_owner`, which is itself `Send + Sync`; `Watch` only loads them.
unsafe impl Send for Watch {}
// SAFETY: as for `Send`: shared references to atomics may be used from any thread.
unsafe impl Sync for Watch {}

impl Watch {
    /// The write index last published and the closed word, as they are now (unchecked).
    #[inline]
    pub fn now(&self) -> (u64, u32) {
        // SAFETY: `ctl` points to a `RingControl` that `_owner` keeps mapped and that is only
        // ever accessed through atomics (constructor contract of `Consumer::from_raw`).
        let ctl = unsafe { &*self.ctl };
        (
            ctl.write.0.load(Ordering::Acquire),
            ctl.closed.0.load(Ordering::Relaxed),
        )
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

/// The writing end of a ring.
pub struct Producer {
    ring: RingPtr,
    /// Private write index: what this end published last.
    write: u64,
    /// Last read index seen.
    read_seen: u64,
}

/// The reading end of a ring.
pub struct Consumer {
    ring: RingPtr,
    /// Private read index.
    read: u64,
    /// Last write index seen.
    write_seen: u64,
    /// Messages are copied here before anyone looks at them.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.ring.cap)
            .field("write", &self.write)
            .finish()
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.ring.cap)
            .field("read", &self.read)
            .finish()
    }
}

/// A ring on the heap, both ends in this process: for tests and for the protocol's models.
pub fn heap_ring(capacity: usize) -> Result<(Producer, Consumer), super::ShmError> {
    heap_ring_left_at(capacity, 0, 0)
}

/// A heap ring whose control block holds the indices `write` and `read` before its ends
/// attach, as a segment's creator (trusted or not) may leave them.
fn heap_ring_left_at(
    capacity: usize,
    write: u64,
    read: u64,
) -> Result<(Producer, Consumer), super::ShmError> {
    if !check_capacity(capacity) {
        return Err(super::ShmError::BadRingSize(capacity));
    }
    struct Heap {
        ctl: Box<RingControl>,
        data: Box<[AtomicU64]>,
    }
    let heap = Arc::new(Heap {
        ctl: Box::new(RingControl::new()),
        data: (0..capacity / 8).map(|_| AtomicU64::new(0)).collect(),
    });
    heap.ctl.write.0.store(write, Ordering::Relaxed);
    heap.ctl.read.0.store(read, Ordering::Relaxed);
    let ctl: *const RingControl = &*heap.ctl;
    let data = heap.data.as_ptr();
    // SAFETY: `heap` owns both regions and is passed as their owner; the data area has
    // `capacity / 8` words and `capacity` was checked.
    unsafe {
        Ok((
            Producer::from_raw(ctl, data, capacity, heap.clone()),
            Consumer::from_raw(ctl, data, capacity, heap),
        ))
    }
}

impl Producer {
    /// The writing end of the ring at `ctl` with `capacity` bytes of data at `data`.
    ///
    /// # Safety
    ///
    /// `ctl` must point to a `RingControl` (zeroed or initialised) and `data` to
    /// `capacity / 8` `AtomicU64`s, both valid while `owner` lives, accessed by others only
    /// through atomics; `capacity` must pass [`check_capacity`]; at most one `Producer` may
    /// exist for a ring at a time. The ring's indices should be where this end left them (zero
    /// for a new ring); any others, as a hostile peer may leave them, are reported as
    /// corruption by the first operation that reads them, and are never unsafe.
    pub unsafe fn from_raw(
        ctl: *const RingControl,
        data: *const AtomicU64,
        capacity: usize,
        owner: Arc<dyn Any + Send + Sync>,
    ) -> Producer {
        let ring = RingPtr {
            ctl,
            data,
            cap: capacity as u64,
            _owner: owner,
            doorbell: None,
        };
        // Kept 8-aligned whatever the word says; no room is known until the reader's index
        // has been read and checked (`refresh`, on the first push).
        let write = ring.ctl().write.0.load(Ordering::Relaxed) & !7;
        let read_seen = write.wrapping_sub(capacity as u64);
        Producer {
            ring,
            write,
            read_seen,
        }
    }

    /// Wakes a reader task of the peer through `bell` (see [`Doorbell`]).
    pub fn set_doorbell(&mut self, bell: Doorbell) {
        self.ring.doorbell = Some(bell);
    }

    /// Largest message this ring carries.
    pub fn max_message(&self) -> usize {
        max_message(self.ring.cap) as usize
    }

    /// Bytes ever published.
    pub fn written(&self) -> u64 {
        self.write
    }

    /// Space needed for a message of `len` bytes at the current position, padding included.
    fn space_for(&self, len: usize) -> u64 {
        let need = RECORD_HEADER + round8(len as u64);
        let tail = self.ring.cap - self.write % self.ring.cap;
        if need <= tail {
            need
        } else {
            tail + need
        }
    }

    /// Bytes free as of the reader's index last seen (checked by `refresh`, or the
    /// constructor's "none known free", so never more than `cap` behind).
    fn free(&self) -> u64 {
        self.ring.cap - self.write.wrapping_sub(self.read_seen)
    }

    /// Reloads the reader's index, checked.
    fn refresh(&mut self) -> Result<(), RingError> {
        let read = self.ring.ctl().read.0.load(Ordering::Acquire);
        if read % 8 != 0 || self.write.wrapping_sub(read) > self.ring.cap {
            return Err(corrupt(format!(
                "read index {read} is impossible (write index {}, ring of {} bytes)",
                self.write, self.ring.cap
            )));
        }
        self.read_seen = read;
        Ok(())
    }

    /// Writes one message, or returns `Ok(false)` when the ring has no room for it now
    /// (nothing written). Refuses a message larger than [`Producer::max_message`].
    pub fn try_push(&mut self, msg: &[u8]) -> Result<bool, RingError> {
        if msg.len() > self.max_message() {
            return Err(RingError::TooLarge {
                len: msg.len(),
                max: self.max_message(),
            });
        }
        if self.ring.ctl().closed_flags()? & READER_CLOSED != 0 {
            return Err(RingError::Closed);
        }
        let total = self.space_for(msg.len());
        if self.free() < total {
            self.refresh()?;
            if self.free() < total {
                return Ok(false);
            }
        }
        let cap = self.ring.cap;
        let data = self.ring.data();
        let mut off = self.write % cap;
        let tail = cap - off;
        let need = RECORD_HEADER + round8(msg.len() as u64);
        if need > tail {
            let header = (u64::from(TAG_PAD) << 32) | (tail - RECORD_HEADER);
            data[(off / 8) as usize].store(header, Ordering::Relaxed);
            self.write = self.write.wrapping_add(tail);
            off = 0;
        }
        let first = (off / 8) as usize;
        store_words(&data[first + 1..first + 1 + msg.len().div_ceil(8)], msg);
        let header = (u64::from(TAG_FRAME) << 32) | msg.len() as u64;
        data[first].store(header, Ordering::Relaxed);
        self.write = self.write.wrapping_add(need);
        self.ring.ctl().write.0.store(self.write, Ordering::Release);
        self.ring
            .ctl()
            .readable
            .0
            .notify(self.ring.doorbell.as_ref());
        Ok(true)
    }

    /// True when a message of `len` bytes fits now, or the reader closed (so that a waiting
    /// writer wakes and sees it). Used as a wake-up condition.
    pub(crate) fn ready_for(&self, len: usize) -> bool {
        let ctl = self.ring.ctl();
        // Closed, or a corrupt flag word (which `try_push` reports): ready.
        if ctl.closed_flags().map_or(true, |f| f & READER_CLOSED != 0) {
            return true;
        }
        let read = ctl.read.0.load(Ordering::Acquire);
        let used = self.write.wrapping_sub(read);
        // An impossible index counts as ready: `try_push` reports it.
        used > self.ring.cap || self.ring.cap - used >= self.space_for(len)
    }

    /// The signal this end parks on when the ring is full.
    pub(crate) fn writable(&self) -> &Signal {
        &self.ring.ctl().writable.0
    }

    /// The messages published but not consumed, oldest first: after the reader died they are
    /// what it never saw (resend them, or report them lost).
    pub fn unconsumed(&mut self) -> Result<Vec<Vec<u8>>, RingError> {
        self.refresh()?;
        let (cap, end) = (self.ring.cap, self.write);
        let data = self.ring.data();
        let mut pos = self.read_seen;
        let mut out = Vec::new();
        while pos != end {
            match parse_record(data, cap, pos, end)? {
                Record::Pad { next } => pos = next,
                Record::Frame { word, len, next } => {
                    let mut msg = Vec::new();
                    copy_out(data, word, len, &mut msg)?;
                    out.push(msg);
                    pos = next;
                }
            }
        }
        Ok(out)
    }

    /// Closes this end: the reader gets [`RingError::Closed`] once it has read everything.
    pub fn close(&self) {
        let ctl = self.ring.ctl();
        ctl.closed.0.fetch_or(WRITER_CLOSED, Ordering::Release);
        ctl.readable.0.notify(self.ring.doorbell.as_ref());
    }
}

impl Consumer {
    /// The reading end of the ring; same contract as [`Producer::from_raw`], for the reader.
    ///
    /// # Safety
    ///
    /// As for [`Producer::from_raw`], with "at most one `Consumer`".
    pub unsafe fn from_raw(
        ctl: *const RingControl,
        data: *const AtomicU64,
        capacity: usize,
        owner: Arc<dyn Any + Send + Sync>,
    ) -> Consumer {
        let ring = RingPtr {
            ctl,
            data,
            cap: capacity as u64,
            _owner: owner,
            doorbell: None,
        };
        let read = ring.ctl().read.0.load(Ordering::Relaxed) & !7;
        Consumer {
            ring,
            read,
            write_seen: read,
            scratch: Vec::new(),
        }
    }

    /// The read index: where the next record starts (after an empty look, the write index
    /// that look found).
    pub fn position(&self) -> u64 {
        self.read
    }

    /// A handle that sees, without this end, whether the writer may have published or closed
    /// since: what a spinning reader looks at between two reads ([`Watch`]).
    pub fn watch(&self) -> Watch {
        Watch {
            ctl: self.ring.ctl,
            _owner: self.ring._owner.clone(),
        }
    }

    /// Wakes a writer task of the peer through `bell` (see [`Doorbell`]).
    pub fn set_doorbell(&mut self, bell: Doorbell) {
        self.ring.doorbell = Some(bell);
    }

    /// Bytes ever consumed.
    pub fn consumed(&self) -> u64 {
        self.read
    }

    /// Reads one message and hands its bytes (a private copy) to `f`; the record is released
    /// to the writer only after `f` returns, so a reader that dies inside `f` leaves the
    /// message unconsumed. `Ok(None)`: nothing to read now. [`RingError::Closed`]: the writer
    /// closed and everything was read.
    pub fn try_pop_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, RingError> {
        let Some((word, len, next)) = self.next_record()? else {
            return Ok(None);
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        copy_out(self.ring.data(), word, len, &mut scratch)?;
        let out = f(&scratch);
        self.scratch = scratch;
        self.release(next);
        Ok(Some(out))
    }

    /// Reads one message straight into the caller's memory: its first bytes into `out` (as
    /// many as fit), the rest into `rest` (emptied first). Returns the message's length; as
    /// [`try_pop_with`](Self::try_pop_with) otherwise, without its intermediate copy.
    pub fn try_pop_split(
        &mut self,
        out: &mut [u8],
        rest: &mut Vec<u8>,
    ) -> Result<Option<usize>, RingError> {
        let Some((word, len, next)) = self.next_record()? else {
            return Ok(None);
        };
        let words = record_words(self.ring.data(), word, len)?;
        let head = len.min(out.len());
        copy_words(words, &mut out[..head]);
        rest.clear();
        if head < len {
            // `head` is a multiple of 8 here unless `out` is full: only then does `rest`
            // start inside a word.
            let start = head / 8;
            rest.resize(len - start * 8, 0);
            copy_words(&words[start..], rest);
            rest.drain(..head - start * 8);
        }
        self.release(next);
        Ok(Some(len))
    }

    /// The next published message record, padding skipped: its first payload word, its
    /// length, and the read index after it. `Ok(None)`: nothing published.
    fn next_record(&mut self) -> Result<Option<(usize, usize, u64)>, RingError> {
        let cap = self.ring.cap;
        loop {
            if self.read == self.write_seen {
                let write = self.ring.ctl().write.0.load(Ordering::Acquire);
                check_distance("write", write, self.read, cap)?;
                self.write_seen = write;
                if write == self.read {
                    if self.ring.ctl().closed_flags()? & WRITER_CLOSED != 0 {
                        // The writer publishes before it closes: look once more.
                        let write = self.ring.ctl().write.0.load(Ordering::Acquire);
                        check_distance("write", write, self.read, cap)?;
                        self.write_seen = write;
                        if write == self.read {
                            return Err(RingError::Closed);
                        }
                        continue;
                    }
                    return Ok(None);
                }
            }
            match parse_record(self.ring.data(), cap, self.read, self.write_seen)? {
                Record::Pad { next } => self.read = next,
                Record::Frame { word, len, next } => return Ok(Some((word, len, next))),
            }
        }
    }

    /// Hands the record read up to `next` back to the writer.
    fn release(&mut self, next: u64) {
        self.read = next;
        let ctl = self.ring.ctl();
        ctl.read.0.store(self.read, Ordering::Release);
        ctl.writable.0.notify(self.ring.doorbell.as_ref());
    }

    /// True when something may be read (or the writer closed): a wake-up condition.
    pub(crate) fn ready(&self) -> bool {
        let ctl = self.ring.ctl();
        ctl.write.0.load(Ordering::Acquire) != self.read
            || ctl.closed_flags().map_or(true, |f| f & WRITER_CLOSED != 0)
    }

    /// The signal this end parks on when the ring is empty.
    pub(crate) fn readable(&self) -> &Signal {
        &self.ring.ctl().readable.0
    }

    /// Closes this end: the writer gets [`RingError::Closed`].
    pub fn close(&self) {
        let ctl = self.ring.ctl();
        ctl.closed.0.fetch_or(READER_CLOSED, Ordering::Release);
        ctl.writable.0.notify(self.ring.doorbell.as_ref());
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(all(test, not(mycelium_loom)))]
#[path = "ring_tests.rs"]
mod tests;

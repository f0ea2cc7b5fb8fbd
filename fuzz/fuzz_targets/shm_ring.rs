//! Drives both ends of a shared-memory ring (`mycelium_remote::shm::ring`) with a script of
//! pushes, pops, closes and a hostile peer's writes to any word of the control block or the
//! data area, some of them before the ends attach.
//!
//! Nothing may panic or read outside the ring (the fuzzer's build checks overflow and
//! memory). While nobody has scribbled, the ring must behave as a FIFO queue: every pop gives
//! the oldest message pushed and not yet popped, `unconsumed` lists exactly those, and no
//! operation fails but as the closes say. Once a word has been scribbled, a failure may only
//! be `Corrupt` (or `Closed` when a close flag was written), and a popped message is never
//! longer than the ring's largest.

#![no_main]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mycelium_remote::shm::ring::{Consumer, Producer, RingControl, MIN_CAPACITY};
use mycelium_remote::shm::RingError;

/// A control block and a data area, zeroed, as a fresh segment maps them.
struct Memory {
    ctl: *mut u8,
    ctl_layout: Layout,
    data: Box<[AtomicU64]>,
}

// SAFETY: the memory is only ever accessed through atomics.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

impl Memory {
    fn new(capacity: usize) -> Memory {
        let ctl_layout = Layout::new::<RingControl>();
        // SAFETY: the layout is not zero-sized.
        let ctl = unsafe { alloc_zeroed(ctl_layout) };
        assert!(!ctl.is_null(), "out of memory");
        Memory {
            ctl,
            ctl_layout,
            data: (0..capacity / 8).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The control block as words, as the peer process sees it.
    fn ctl_words(&self) -> &[AtomicU64] {
        // SAFETY: the block is `ctl_layout.size()` bytes, 128-aligned, alive while `self` is;
        // every field of a `RingControl` is an atomic, so the words are only ever accessed
        // atomically.
        unsafe {
            std::slice::from_raw_parts(self.ctl.cast::<AtomicU64>(), self.ctl_layout.size() / 8)
        }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ctl, self.ctl_layout) }
    }
}

/// The script: bytes taken one at a time, zero once they run out.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    fn index(&mut self, len: usize) -> usize {
        (usize::from(self.byte()) << 8 | usize::from(self.byte())) % len
    }
}

/// The expected state while nobody has scribbled.
#[derive(Default)]
struct Model {
    scribbled: bool,
    queued: VecDeque<Vec<u8>>,
    reader_closed: bool,
    writer_closed: bool,
    next: u8,
}

impl Model {
    /// A failure is allowed only as the model's state says.
    fn check_err(&self, e: &RingError, closed_by_peer: bool) {
        match e {
            RingError::Corrupt(_) => {
                assert!(self.scribbled, "corruption reported on a clean ring: {e}")
            }
            RingError::Closed => {
                assert!(
                    closed_by_peer || self.scribbled,
                    "closed reported but never closed"
                )
            }
            RingError::TooLarge { .. } => panic!("TooLarge from an operation that cannot give it"),
        }
    }

    fn popped(&mut self, got: Option<Vec<u8>>, max: usize) {
        if let Some(msg) = &got {
            assert!(
                msg.len() <= max,
                "a message of {} bytes from a ring of at most {max}",
                msg.len()
            );
        }
        if !self.scribbled {
            assert_eq!(got, self.queued.pop_front(), "a clean ring is a FIFO queue");
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let mut s = Script(bytes);
    let capacity = MIN_CAPACITY << (s.byte() % 3);
    let memory = Arc::new(Memory::new(capacity));
    let mut model = Model::default();

    // A hostile creator may set words before the ends attach.
    for _ in 0..(s.byte() % 4) {
        let words = memory.ctl_words();
        words[s.index(words.len())].store(s.u64(), Ordering::Relaxed);
        model.scribbled = true;
    }
    let ctl = memory.ctl.cast::<RingControl>().cast_const();
    let data = memory.data.as_ptr();
    // SAFETY: `ctl` points to a `RingControl`'s memory (zeroed or scribbled: only atomics) and
    // `data` to `capacity / 8` atomics, both kept alive by the owner passed; `capacity` is a
    // valid ring size; one producer and one consumer.
    let (mut tx, mut rx) = unsafe {
        (
            Producer::from_raw(ctl, data, capacity, memory.clone()),
            Consumer::from_raw(ctl, data, capacity, memory.clone()),
        )
    };
    let max = tx.max_message();

    let mut tx_dead = false;
    let mut rx_dead = false;
    while !s.0.is_empty() {
        match s.byte() % 10 {
            0..=2 if !tx_dead => {
                let len = match s.byte() {
                    255 => max + 1,
                    254 => max,
                    n => usize::from(n) * 3,
                };
                let msg: Vec<u8> = (0..len).map(|i| model.next.wrapping_add(i as u8)).collect();
                model.next = model.next.wrapping_add(1);
                match tx.try_push(&msg) {
                    Ok(true) => {
                        assert!(len <= max);
                        if !model.scribbled {
                            model.queued.push_back(msg);
                        }
                    }
                    Ok(false) => assert!(len <= max),
                    Err(RingError::TooLarge { len: l, max: m }) => {
                        assert_eq!((l, m), (len, max));
                        assert!(len > max, "a message that fits refused as too large");
                    }
                    Err(e) => {
                        model.check_err(&e, model.reader_closed);
                        tx_dead = true;
                    }
                }
            }
            3..=4 if !rx_dead => match rx.try_pop_with(|b| b.to_vec()) {
                Ok(got) => model.popped(got, max),
                Err(e) => {
                    model.check_err(&e, model.writer_closed && model.queued.is_empty());
                    rx_dead = true;
                }
            },
            5 if !rx_dead => {
                let mut out = [0u8; 80];
                let room = usize::from(s.byte()) % (out.len() + 1);
                let mut rest = Vec::new();
                match rx.try_pop_split(&mut out[..room], &mut rest) {
                    Ok(Some(len)) => {
                        let head = len.min(room);
                        assert_eq!(rest.len(), len - head);
                        let mut msg = out[..head].to_vec();
                        msg.extend_from_slice(&rest);
                        model.popped(Some(msg), max);
                    }
                    Ok(None) => model.popped(None, max),
                    Err(e) => {
                        model.check_err(&e, model.writer_closed && model.queued.is_empty());
                        rx_dead = true;
                    }
                }
            }
            6 => {
                let words = memory.ctl_words();
                words[s.index(words.len())].store(s.u64(), Ordering::Relaxed);
                model.scribbled = true;
            }
            7 => {
                let i = s.index(memory.data.len());
                memory.data[i].store(s.u64(), Ordering::Relaxed);
                model.scribbled = true;
            }
            8 if !tx_dead => match tx.unconsumed() {
                Ok(left) => {
                    for msg in &left {
                        assert!(msg.len() <= max);
                    }
                    if !model.scribbled {
                        assert_eq!(left, Vec::from(model.queued.clone()), "unconsumed");
                    }
                }
                Err(e) => {
                    model.check_err(&e, false);
                    tx_dead = true;
                }
            },
            9 => match s.byte() % 2 {
                0 => {
                    tx.close();
                    model.writer_closed = true;
                }
                _ => {
                    rx.close();
                    model.reader_closed = true;
                }
            },
            _ => {}
        }
    }
});

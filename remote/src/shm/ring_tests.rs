//! Unit tests of the ring on the heap (they also run under AddressSanitizer and valgrind).

use super::*;

fn pop(rx: &mut Consumer) -> Result<Option<Vec<u8>>, RingError> {
    rx.try_pop_with(|b| b.to_vec())
}

/// A deterministic xorshift generator: the tests need noise, not quality.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn messages_come_out_in_order_across_many_wraps() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut sent = 0u32;
    let mut got = 0u32;
    while got < 20_000 {
        // Varying lengths (0 to 300 bytes) move the wrap point around.
        while sent < 20_000 {
            let len = (noise.next() % 301) as usize;
            let mut msg = sent.to_le_bytes().to_vec();
            msg.resize(len.max(4), sent as u8);
            if !tx.try_push(&msg).unwrap() {
                break;
            }
            sent += 1;
        }
        while let Some(msg) = pop(&mut rx).unwrap() {
            assert_eq!(u32::from_le_bytes(msg[..4].try_into().unwrap()), got);
            assert!(msg[4..].iter().all(|&b| b == got as u8));
            got += 1;
        }
    }
    assert_eq!(pop(&mut rx).unwrap(), None);
}

#[test]
fn empty_and_zero_length_messages() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    assert_eq!(pop(&mut rx).unwrap(), None);
    assert!(tx.try_push(b"").unwrap());
    assert_eq!(pop(&mut rx).unwrap(), Some(vec![]));
    assert_eq!(pop(&mut rx).unwrap(), None);
}

#[test]
fn a_full_ring_refuses_until_the_reader_frees_room() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    let msg = [1u8; 56]; // 64 bytes with its header: 64 fit
    for _ in 0..64 {
        assert!(tx.try_push(&msg).unwrap());
    }
    assert!(
        !tx.try_push(&msg).unwrap(),
        "a full ring must refuse, not overwrite"
    );
    assert!(!tx.ready_for(msg.len()));
    assert_eq!(pop(&mut rx).unwrap(), Some(msg.to_vec()));
    assert!(tx.ready_for(msg.len()));
    assert!(tx.try_push(&msg).unwrap());
    let mut n = 0;
    while pop(&mut rx).unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 64);
}

#[test]
fn the_largest_message_always_fits_once_the_ring_drains() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    let max = tx.max_message();
    assert_eq!(max, 2048 - 8);
    // Try every alignment of the write position.
    for shift in 0..64usize {
        assert!(tx.try_push(&vec![0u8; shift * 8]).unwrap());
        assert!(pop(&mut rx).unwrap().is_some());
        let big = vec![shift as u8; max];
        assert!(tx.try_push(&big).unwrap(), "shift {shift}");
        assert_eq!(pop(&mut rx).unwrap(), Some(big));
    }
}

#[test]
fn a_message_larger_than_half_the_ring_is_refused_with_its_size() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    let err = tx.try_push(&vec![0u8; 2041]).unwrap_err();
    assert_eq!(
        err,
        RingError::TooLarge {
            len: 2041,
            max: 2040
        }
    );
    assert!(err.to_string().contains("2041 bytes"), "{err}");
    // Nothing was written and the ring still works.
    assert_eq!(pop(&mut rx).unwrap(), None);
    assert!(tx.try_push(b"after").unwrap());
    assert_eq!(pop(&mut rx).unwrap(), Some(b"after".to_vec()));
}

#[test]
fn a_bad_capacity_is_refused() {
    assert!(heap_ring(4095).is_err());
    assert!(heap_ring(2048).is_err());
    assert!(heap_ring(1 << 31).is_err());
}

#[test]
fn closing_the_writer_ends_the_reader_after_the_last_message() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    tx.try_push(b"last").unwrap();
    drop(tx);
    assert!(rx.ready());
    assert_eq!(pop(&mut rx).unwrap(), Some(b"last".to_vec()));
    assert_eq!(pop(&mut rx), Err(RingError::Closed));
}

#[test]
fn closing_the_reader_fails_the_writer() {
    let (mut tx, rx) = heap_ring(4096).unwrap();
    drop(rx);
    assert!(tx.ready_for(8));
    assert_eq!(tx.try_push(b"x"), Err(RingError::Closed));
}

#[test]
fn unconsumed_returns_what_the_reader_did_not_take() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    for i in 0u8..10 {
        tx.try_push(&[i; 100]).unwrap();
    }
    for _ in 0..4 {
        pop(&mut rx).unwrap().unwrap();
    }
    let left = tx.unconsumed().unwrap();
    assert_eq!(left, (4u8..10).map(|i| vec![i; 100]).collect::<Vec<_>>());
}

/// Direct access to the shared words, as a hostile peer has it.
fn words(rx: &Consumer) -> (&RingControl, &[AtomicU64]) {
    (rx.ring.ctl(), rx.ring.data())
}

#[test]
fn an_impossible_write_index_is_corruption() {
    for bad in [4096 + 8, 3, u64::MAX, u64::MAX - 7] {
        let (tx, mut rx) = heap_ring(4096).unwrap();
        words(&rx).0.write.0.store(bad, Ordering::Release);
        let err = pop(&mut rx).unwrap_err();
        assert!(
            matches!(err, RingError::Corrupt(ref m) if m.contains("write index")),
            "{bad}: {err}"
        );
        drop(tx);
    }
}

#[test]
fn an_overwritten_closed_word_is_corruption_not_a_close() {
    for bad in [4, 0x8000_0002, u32::MAX] {
        let (mut tx, mut rx) = heap_ring(4096).unwrap();
        words(&rx).0.closed.0.store(bad, Ordering::Release);
        let err = tx.try_push(b"x").unwrap_err();
        assert!(
            matches!(err, RingError::Corrupt(ref m) if m.contains("closed flags")),
            "{bad:#x}: writer got {err}"
        );
        let err = pop(&mut rx).unwrap_err();
        assert!(
            matches!(err, RingError::Corrupt(ref m) if m.contains("closed flags")),
            "{bad:#x}: reader got {err}"
        );
    }
}

#[test]
fn an_impossible_read_index_is_corruption_for_the_writer() {
    let (mut tx, rx) = heap_ring(4096).unwrap();
    let msg = [0u8; 1000];
    for _ in 0..4 {
        tx.try_push(&msg).unwrap();
    }
    words(&rx).0.read.0.store(12_345, Ordering::Release);
    let err = tx.try_push(&msg).unwrap_err();
    assert!(
        matches!(err, RingError::Corrupt(ref m) if m.contains("read index")),
        "{err}"
    );
    assert!(tx.unconsumed().is_err());
}

#[test]
fn a_lying_length_or_tag_is_corruption() {
    let cases: [(u64, &str); 4] = [
        ((u64::from(TAG_FRAME) << 32) | 4000, "does not fit"),
        ((u64::from(TAG_FRAME) << 32) | 200, "does not fit"), // beyond the write index
        ((u64::from(TAG_PAD) << 32) | 16, "padding"),
        (0xdead_beef_0000_0008, "unknown record tag"),
    ];
    for (header, what) in cases {
        let (mut tx, mut rx) = heap_ring(4096).unwrap();
        tx.try_push(&[7u8; 16]).unwrap();
        words(&rx).1[0].store(header, Ordering::Relaxed);
        let err = pop(&mut rx).unwrap_err();
        assert!(
            matches!(err, RingError::Corrupt(ref m) if m.contains(what)),
            "{header:#x}: {err}"
        );
        let err = rx.try_pop_split(&mut [0; 8], &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, RingError::Corrupt(ref m) if m.contains(what)),
            "{header:#x}, split: {err}"
        );
    }
}

#[test]
fn a_message_split_between_the_callers_buffer_and_the_rest_comes_out_whole() {
    let (mut tx, mut rx) = heap_ring(4096).unwrap();
    let mut rest = vec![0xee; 3]; // emptied by each pop
    for len in [0usize, 1, 7, 8, 9, 37, 64, 300] {
        for room in [0usize, 1, 5, 8, 13, 16, len, len + 9] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + len + room) as u8).collect();
            assert!(tx.try_push(&msg).unwrap());
            assert!(tx.try_push(b"next").unwrap());
            let mut out = vec![0xaa; room];
            assert_eq!(rx.try_pop_split(&mut out, &mut rest).unwrap(), Some(len));
            let head = len.min(room);
            assert!(
                out[head..].iter().all(|&b| b == 0xaa),
                "len {len} room {room}"
            );
            let mut whole = out[..head].to_vec();
            whole.extend_from_slice(&rest);
            assert_eq!(whole, msg, "len {len} room {room}");
            assert_eq!(pop(&mut rx).unwrap().as_deref(), Some(&b"next"[..]));
        }
    }
    assert_eq!(rx.try_pop_split(&mut [0; 8], &mut rest).unwrap(), None);
}

#[test]
fn random_scribbles_never_crash_the_reader_or_the_writer() {
    let mut noise = Noise(42);
    let mut corrupt = 0;
    for round in 0..300 {
        let (mut tx, mut rx) = heap_ring(4096).unwrap();
        let mut outcome = Ok(());
        for step in 0..200u32 {
            // Normal traffic ...
            let len = (noise.next() % 200) as usize;
            if let Err(e) = tx.try_push(&vec![step as u8; len]) {
                outcome = Err(e);
                break;
            }
            // ... and a hostile peer that writes random words anywhere it can: the data
            // area, the write index, the read index.
            let (ctl, data) = words(&rx);
            match noise.next() % 8 {
                0 => ctl.write.0.store(noise.next() % 8192, Ordering::Release),
                1 => ctl.read.0.store(noise.next() % 8192, Ordering::Release),
                2..=4 => {
                    let i = (noise.next() % data.len() as u64) as usize;
                    data[i].store(noise.next(), Ordering::Relaxed);
                }
                _ => {}
            }
            let popped = if step % 2 == 0 {
                rx.try_pop_with(|b| b.len())
            } else {
                let mut out = [0u8; 64];
                let room = (noise.next() % 65) as usize;
                rx.try_pop_split(&mut out[..room], &mut Vec::new())
            };
            match popped {
                Ok(Some(n)) => assert!(n <= tx.max_message()),
                Ok(None) => {}
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if let Err(e) = outcome {
            assert!(matches!(e, RingError::Corrupt(_)), "round {round}: {e}");
            corrupt += 1;
        }
    }
    // The noise is strong enough that most rounds end in a detected corruption.
    assert!(
        corrupt > 200,
        "only {corrupt} of 300 rounds detected corruption"
    );
}

/// The two ends of a 4096-byte heap ring whose control block already holds `write` and
/// `read`.
fn ring_left_at(write: u64, read: u64) -> (Producer, Consumer) {
    heap_ring_left_at(4096, write, read).unwrap()
}

#[test]
fn indices_a_hostile_creator_left_are_corruption_not_a_panic() {
    // (Found by the `shm_ring` fuzz target: a reader's index ahead of the writer's made the
    // writer's free-space sum overflow, a panic in a build that checks overflow.)
    let cases = [
        (5, 100),
        (0, 8),
        (8, 0),
        (0, u64::MAX),
        (u64::MAX, 0),
        (u64::MAX - 3, u64::MAX - 64),
        (4096 * 3, 0),
    ];
    for (write, read) in cases {
        let (mut tx, mut rx) = ring_left_at(write, read);
        let pushed = tx.try_push(b"order");
        let popped = pop(&mut rx);
        let left = tx.unconsumed();
        for outcome in [pushed.map(|_| ()), popped.map(|_| ()), left.map(|_| ())] {
            if let Err(e) = outcome {
                assert!(
                    matches!(e, RingError::Corrupt(_)),
                    "write {write}, read {read}: {e}"
                );
            }
        }
        assert!(
            tx.try_push(b"order").is_err() || pop(&mut rx).is_err(),
            "write {write}, read {read}: a ring left in an impossible state was used as is"
        );
    }
}

#[test]
fn a_ring_carries_messages_across_the_index_wrap() {
    // Indices only grow and wrap at 2^64: a ring whose indices start just below it (a
    // consistent state: nothing published, nothing to read) works on through the wrap,
    // whether a message record (64 bytes from a lap's start) or a padding record (96 bytes
    // before the end, then a record of 112) is the one that ends at 2^64.
    for (start, first_len) in [(0u64.wrapping_sub(4096), 56), (0u64.wrapping_sub(96), 104)] {
        let (mut tx, mut rx) = ring_left_at(start, start);
        for i in 0..500u32 {
            let len = if i < 100 {
                first_len
            } else {
                (i % 200) as usize
            };
            let msg = vec![i as u8; len];
            assert!(tx.try_push(&msg).unwrap(), "message {i}");
            assert_eq!(pop(&mut rx).unwrap(), Some(msg), "message {i}");
        }
        assert!(tx.written() < start, "the write index wrapped");
        assert_eq!(tx.unconsumed().unwrap(), Vec::<Vec<u8>>::new());
    }
}

//! Models of the ring's index protocol and of the wake-up protocol, checked with `loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg mycelium_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p mycelium-remote --lib --release shm::loom_tests
//! ```
//!
//! Every interleaving (up to the preemption bound) and every value a relaxed load may return
//! under the C11 model is explored: messages arrive whole and in order, and a reader or writer
//! that parks is always woken (a lost wake-up shows as a deadlock). The models fail when the
//! protocol is weakened: without the fence before the waiter's last look (a lost wake-up,
//! reported as a deadlock), or with a relaxed store of the write index (torn messages).

use loom::thread;

use super::error::RingError;
use super::ring::{heap_ring, Consumer, Producer};

/// Receives until the writer closes, parking whenever the ring is empty.
fn drain(rx: &mut Consumer) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        match rx.try_pop_with(|b| b.to_vec()) {
            Ok(Some(m)) => got.push(m),
            Ok(None) => {
                rx.readable().park_unless(|| rx.ready(), None);
            }
            Err(RingError::Closed) => return got,
            Err(e) => panic!("unexpected ring error: {e}"),
        }
    }
}

/// Sends, parking whenever the ring is full.
fn send(tx: &mut Producer, msg: &[u8]) {
    while !tx.try_push(msg).expect("push") {
        tx.writable().park_unless(|| tx.ready_for(msg.len()), None);
    }
}

#[test]
fn a_parked_reader_is_always_woken_and_sees_whole_messages() {
    loom::model(|| {
        let (mut tx, mut rx) = heap_ring(64).unwrap();
        let writer = thread::spawn(move || {
            send(&mut tx, b"first");
            send(&mut tx, b"second!!x");
            // Dropping the producer closes the ring, which must wake the reader too.
        });
        let got = drain(&mut rx);
        assert_eq!(got, vec![b"first".to_vec(), b"second!!x".to_vec()]);
        writer.join().unwrap();
    });
}

#[test]
fn a_writer_parked_on_a_full_ring_is_always_woken() {
    loom::model(|| {
        // 64 bytes: two 24-byte messages (32 bytes with their headers) fill it.
        let (mut tx, mut rx) = heap_ring(64).unwrap();
        let writer = thread::spawn(move || {
            for i in 0..3u8 {
                send(&mut tx, &[i; 24]);
            }
        });
        let got = drain(&mut rx);
        assert_eq!(got, (0..3u8).map(|i| vec![i; 24]).collect::<Vec<_>>());
        writer.join().unwrap();
    });
}

#[test]
fn a_reader_that_closes_wakes_a_parked_writer() {
    loom::model(|| {
        let (mut tx, rx) = heap_ring(64).unwrap();
        let writer = thread::spawn(move || {
            let mut result = Ok(true);
            for i in 0..3u8 {
                result = loop {
                    match tx.try_push(&[i; 24]) {
                        Ok(true) => break Ok(true),
                        Ok(false) => {
                            tx.writable().park_unless(|| tx.ready_for(24), None);
                        }
                        Err(e) => break Err(e),
                    }
                };
                if result.is_err() {
                    break;
                }
            }
            result
        });
        drop(rx);
        // Two fit; the third either finds the reader closed or parks and is woken by close.
        assert_eq!(writer.join().unwrap(), Err(RingError::Closed));
    });
}

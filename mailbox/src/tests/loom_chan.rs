//! Loom models of the mailbox's wake-up protocol, through the public API.
//!
//! Each test runs the real channel code (its atomics and `Arc` come from loom under
//! `--cfg mycelium_loom`, see `src/loom.rs`, and its lock is loom's mutex, see `src/lock.rs`)
//! in every interleaving loom can reach within its preemption bound. Threads wait with
//! `loom::future::block_on`: a future that returns `Pending` and is never woken makes loom
//! report a deadlock, so a lost wake-up fails the model.

use std::future::{poll_fn, Future};
use std::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::{channel, Empty, MailboxConfig, Receiver, SendError, TrySendError};

/// The actor runner's way of receiving: wait for readiness with `poll_ready` unless a batch is
/// in hand, then take with `try_next`.
fn next_like_the_runner<T>(rx: &mut Receiver<T>) -> Option<T> {
    loop {
        if !rx.has_batched() {
            block_on(poll_fn(|cx| rx.poll_ready(cx)));
        }
        match rx.try_next() {
            Ok(msg) => return Some(msg),
            Err(Empty::Closed) => return None,
            Err(Empty::Pending) => {}
        }
    }
}

/// A parked receiver is woken by every kind of send: no message is left unread while the
/// receiver sleeps.
#[test]
fn parked_receiver_is_woken_by_a_send() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(4));
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.try_send(1).unwrap());
        let b = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let mut got = vec![block_on(rx.recv()).unwrap(), block_on(rx.recv()).unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(rx.try_next(), Err(Empty::Pending));
    });
}

/// The runner's path (`poll_ready`, then `try_next`) is woken too, and the user lane keeps
/// each sender's order.
#[test]
fn runner_style_receiver_is_woken_and_keeps_send_order() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Unbounded);
        let sender = thread::spawn(move || {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
        });
        assert_eq!(next_like_the_runner(&mut rx), Some(1));
        assert_eq!(next_like_the_runner(&mut rx), Some(2));
        sender.join().unwrap();
    });
}

/// A system signal overtakes user messages queued before it and is never overtaken by one
/// sent after it; the receiver parked on `recv` is woken by the signal.
#[test]
fn system_signal_overtakes_and_wakes() {
    loom::model(|| {
        let (tx, mut rx) = channel::<&str>(MailboxConfig::Bounded(4));
        let sender = thread::spawn(move || {
            tx.try_send("before").unwrap();
            tx.send_system("signal").unwrap();
            tx.try_send("after").unwrap();
        });
        let got: Vec<&str> = (0..3).map(|_| block_on(rx.recv()).unwrap()).collect();
        sender.join().unwrap();
        let pos = |m: &str| got.iter().position(|g| *g == m).unwrap();
        assert!(pos("signal") < pos("after"), "{got:?}");
        assert!(pos("before") < pos("after"), "{got:?}");
    });
}

/// A signal sent after the receiver took a batch still overtakes the rest of that batch (the
/// receiver's lock-free path checks the system flag first), and a receiver parked meanwhile
/// is woken by it.
#[test]
fn system_signal_overtakes_a_batch_in_hand() {
    loom::model(|| {
        let (tx, mut rx) = channel::<&str>(MailboxConfig::Bounded(4));
        tx.try_send("a").unwrap();
        tx.try_send("b").unwrap();
        assert_eq!(rx.try_next(), Ok("a")); // "b" now sits in the receiver's batch
        let signal = thread::spawn(move || tx.send_system("signal").unwrap());
        signal.join().unwrap();
        assert_eq!(block_on(rx.recv()), Some("signal"));
        assert_eq!(block_on(rx.recv()), Some("b"));
    });
}

/// `recv_system` parks until a signal arrives, and user messages sent meanwhile stay queued.
#[test]
fn recv_system_is_woken_by_a_signal_only() {
    loom::model(|| {
        let (tx, mut rx) = channel::<&str>(MailboxConfig::Bounded(4));
        let sender = thread::spawn(move || {
            tx.try_send("user").unwrap();
            tx.send_system("signal").unwrap();
        });
        assert_eq!(block_on(rx.recv_system()), Some("signal"));
        sender.join().unwrap();
        assert_eq!(rx.try_next(), Ok("user"));
    });
}

/// Backpressure: a sender parked on a full mailbox is woken when the receiver takes the
/// queue, and every message arrives once, in order.
#[test]
fn full_mailbox_wakes_the_parked_sender() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        let sender = thread::spawn(move || {
            for i in 0..3 {
                block_on(tx.send(i)).unwrap();
            }
        });
        for i in 0..3 {
            assert_eq!(block_on(rx.recv()), Some(i));
        }
        sender.join().unwrap();
    });
}

/// Two senders parked on a full mailbox are both woken when room is made.
#[test]
fn every_parked_sender_is_woken() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        tx.try_send(0).unwrap();
        let senders: Vec<_> = (1..3)
            .map(|i| {
                let tx = tx.clone();
                thread::spawn(move || block_on(tx.send(i)).unwrap())
            })
            .collect();
        let mut got: Vec<u32> = (0..3).map(|_| block_on(rx.recv()).unwrap()).collect();
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(got[0], 0);
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
    });
}

/// A sender that gives up while parked (its future dropped) leaves the wait list without
/// taking another parked sender's wake-up with it, and its message is queued only if its one
/// poll said so.
#[test]
fn a_sender_giving_up_leaves_the_others_waiting() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        tx.try_send(0).unwrap();
        let tx2 = tx.clone();
        let quitter = thread::spawn(move || {
            let mut send = std::pin::pin!(tx.send(1));
            // One poll, then the future is dropped.
            block_on(poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx).is_ready())))
        });
        let waiter = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let mut got = Vec::new();
        while got.last() != Some(&2) {
            got.push(block_on(rx.recv()).unwrap());
        }
        let queued = quitter.join().unwrap();
        waiter.join().unwrap();
        got.extend(rx.drain());
        got.sort_unstable();
        let expected: &[u32] = if queued { &[0, 1, 2] } else { &[0, 2] };
        assert_eq!(got, expected);
    });
}

/// Closing wakes a sender parked on a full mailbox; its message comes back in the error or
/// is among the queued ones, never both and never lost.
#[test]
fn close_wakes_a_parked_sender_and_hands_the_message_back() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || match block_on(tx.send(2)) {
            Ok(()) => None,
            Err(SendError(msg)) => Some(msg),
        });
        rx.close();
        let queued = rx.drain();
        let returned = sender.join().unwrap();
        assert_eq!(queued, [1]);
        assert_eq!(returned, Some(2));
    });
}

/// A sender racing the receiver's close either queues its message (and the receiver's drain
/// finds it) or gets it back as `Closed`.
#[test]
fn send_racing_close_loses_nothing() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        let sender = thread::spawn(move || match tx.try_send(7) {
            Ok(()) => None,
            Err(TrySendError::Closed(msg)) => Some(msg),
            Err(TrySendError::Full(_)) => panic!("an empty mailbox of capacity 1 was full"),
        });
        rx.close();
        let queued = rx.drain();
        let returned = sender.join().unwrap();
        match returned {
            Some(msg) => assert_eq!((msg, queued.len()), (7, 0)),
            None => assert_eq!(queued, [7]),
        }
    });
}

/// A receiver that empties its open mailbox with `drain` wakes a sender parked on it: the
/// sender's message arrives, and no side is left asleep.
#[test]
fn drain_wakes_a_parked_sender() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || block_on(tx.send(2)).unwrap());
        let mut got = rx.drain();
        if got.len() < 2 {
            got.push(block_on(rx.recv()).unwrap());
        }
        sender.join().unwrap();
        assert_eq!(got, [1, 2]);
    });
}

/// Dropping the receiver while a sender waits for room wakes that sender with `Closed`.
#[test]
fn dropping_the_receiver_wakes_a_parked_sender() {
    loom::model(|| {
        let (tx, rx) = channel::<u32>(MailboxConfig::Bounded(1));
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || block_on(tx.send(2)));
        drop(rx);
        assert_eq!(sender.join().unwrap(), Err(SendError(2)));
    });
}

/// A batch larger than the mailbox waits for room and is woken as the receiver takes
/// messages: every message arrives, in order, and neither side is left asleep.
#[test]
fn send_many_waits_for_room_and_keeps_order() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        let sender = thread::spawn(move || block_on(tx.send_many(vec![1, 2, 3])).unwrap());
        let got: Vec<u32> = (0..3)
            .map(|_| next_like_the_runner(&mut rx).unwrap())
            .collect();
        sender.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}

/// A batch waiting for room is woken by the receiver closing, and hands back exactly the
/// messages it did not queue.
#[test]
fn send_many_is_woken_by_close_and_hands_back_the_rest() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
        let sender = thread::spawn(move || block_on(tx.send_many(vec![1, 2, 3])));
        rx.close();
        let queued = rx.drain();
        let result = sender.join().unwrap();
        let back = match result {
            Ok(()) => Vec::new(),
            Err(SendError(back)) => back,
        };
        let mut all = queued;
        all.extend(back);
        assert_eq!(all, [1, 2, 3]);
    });
}

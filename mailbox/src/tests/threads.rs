//! The channel on real threads and the real spin lock. CI runs these under ThreadSanitizer,
//! which checks every access to the queues against the happens-before order that the spin
//! lock's atomics create, and under valgrind's memcheck.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::{channel, MailboxConfig};

/// Blocks the calling thread on a future, parking between polls.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn threads_lose_nothing_and_keep_each_senders_order() {
    const PER_SENDER: u32 = 5_000;
    let (tx, mut rx) = channel::<(u32, u32)>(MailboxConfig::Bounded(16));
    std::thread::scope(|s| {
        for sender in 0..2 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..PER_SENDER {
                    block_on(tx.send((sender, i))).unwrap();
                    if i % 1000 == 0 {
                        tx.send_system((sender + 10, i)).unwrap();
                    }
                }
            });
        }
        let mut next = [0u32; 2];
        let mut signals = 0;
        while next.iter().sum::<u32>() < 2 * PER_SENDER {
            let (from, i) = block_on(rx.recv()).unwrap();
            if from >= 10 {
                signals += 1;
                continue;
            }
            assert_eq!(i, next[from as usize], "sender {from} out of order");
            next[from as usize] += 1;
        }
        // Signals may trail the last user message: take what is left.
        signals += rx.drain().len();
        assert_eq!(signals, 2 * (PER_SENDER as usize).div_ceil(1000));
    });
}

#[test]
fn wake_receiver_wakes_a_waiting_receiver_once_and_queues_nothing() {
    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(Default::default()));
    let waker = Waker::from(count.clone());
    let mailbox = crate::Mailbox::<u32>::new(MailboxConfig::Bounded(4));
    let mut inbox = crate::Inbox::new();
    // Nothing registered yet: nothing to wake.
    mailbox.wake_receiver();
    assert!(inbox
        .poll_ready(&mailbox, &mut Context::from_waker(&waker))
        .is_pending());
    mailbox.wake_receiver();
    mailbox.wake_receiver();
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(mailbox.is_idle(), "a wake queues nothing");
}

//! Behaviour of the two-lane mailbox.
#![cfg(not(mycelium_loom))]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use mycelium_mailbox::{
    channel, Empty, Inbox, Mailbox, MailboxConfig, SendError, TrySendError, Unless,
};
use proptest::prelude::*;

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn bounded_hands_back_when_full_and_closed() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(2));
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.try_recv(), Some(1));
    // The receiver drained the queue into its batch: there is room again.
    tx.try_send(3).unwrap();
    rx.close();
    assert_eq!(tx.try_send(4), Err(TrySendError::Closed(4)));
    assert_eq!(tx.send_system(5), Err(5));
    assert!(tx.is_closed());
    // What was queued before the close is still there.
    assert_eq!(rx.drain(), vec![2, 3]);
}

#[test]
fn idle_means_open_and_nothing_queued_in_either_lane() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(4));
    assert!(tx.is_idle());
    tx.try_send(1).unwrap();
    assert!(!tx.is_idle());
    assert_eq!(rx.try_recv(), Some(1));
    assert!(tx.is_idle());
    tx.send_system(2).unwrap();
    assert!(!tx.is_idle(), "a system signal waits");
    assert_eq!(rx.try_recv(), Some(2));
    assert!(tx.is_idle());
    rx.close();
    assert!(!tx.is_idle(), "a closed mailbox is not idle");
}

/// `try_send_unless_idle` queues only behind mail (or signals) already there, and says why
/// it did not.
#[test]
fn sending_unless_idle_queues_only_behind_mail() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(2));
    let wrapped = |n: u32| n * 10;
    assert!(matches!(
        tx.try_send_unless_idle(1, wrapped),
        Unless::Idle(1)
    ));
    assert!(tx.is_idle(), "an idle answer queues nothing");
    tx.send_system(9).unwrap();
    assert!(
        matches!(tx.try_send_unless_idle(2, wrapped), Unless::Sent),
        "behind a signal"
    );
    assert!(matches!(tx.try_send_unless_idle(3, wrapped), Unless::Sent));
    assert!(matches!(
        tx.try_send_unless_idle(4, wrapped),
        Unless::Full(4)
    ));
    assert_eq!(rx.drain(), vec![9, 20, 30], "queued as wrapped, in order");
    rx.close();
    assert!(matches!(
        tx.try_send_unless_idle(5, wrapped),
        Unless::Closed(5)
    ));
}

#[test]
fn zero_capacity_means_one() {
    let (tx, _rx) = channel::<u8>(MailboxConfig::Bounded(0));
    assert_eq!(tx.capacity(), 1);
    tx.try_send(1).unwrap();
    assert!(tx.try_send(2).unwrap_err().is_full());
}

#[test]
fn system_lane_overtakes_even_a_taken_batch() {
    let (tx, mut rx) = channel::<&str>(MailboxConfig::Unbounded);
    tx.try_send("a").unwrap();
    tx.try_send("b").unwrap();
    assert_eq!(rx.try_recv(), Some("a")); // "b" now sits in the receiver's batch
    tx.send_system("stop").unwrap();
    assert_eq!(rx.try_recv(), Some("stop"));
    assert_eq!(rx.try_recv(), Some("b"));
    assert_eq!(rx.try_recv(), None);
}

#[test]
fn recv_system_leaves_user_messages_queued() {
    let (tx, mut rx) = channel::<u8>(MailboxConfig::default());
    tx.try_send(1).unwrap();
    {
        let mut fut = pin!(rx.recv_system());
        assert!(poll_once(fut.as_mut()).is_pending());
        tx.send_system(9).unwrap();
        assert_eq!(poll_once(fut.as_mut()), Poll::Ready(Some(9)));
    }
    assert_eq!(rx.try_recv(), Some(1));
}

#[test]
fn send_waits_for_room_and_fails_on_close() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
    tx.try_send(1).unwrap();
    {
        let mut send = pin!(tx.send(2));
        assert!(poll_once(send.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(poll_once(send.as_mut()), Poll::Ready(Ok(())));
    }
    let mut send = pin!(tx.send(3));
    assert!(poll_once(send.as_mut()).is_pending());
    rx.close();
    assert_eq!(poll_once(send.as_mut()), Poll::Ready(Err(SendError(3))));
}

/// Counts its wake-ups.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn an_inline_mailbox_wakes_a_waiting_sender_when_its_inbox_takes_the_batch() {
    let mailbox = Mailbox::<u32>::new(MailboxConfig::Bounded(1));
    let mut inbox = Inbox::new();
    mailbox.try_send(1).unwrap();
    let counter = std::sync::Arc::new(CountingWaker(Default::default()));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut send = pin!(mailbox.send(2));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    assert_eq!(inbox.try_next(&mailbox), Ok(1));
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    // A sender waiting when the inbox closes the mailbox is woken and gets its message back.
    let mut late = pin!(mailbox.send(3));
    assert!(late.as_mut().poll(&mut cx).is_pending());
    inbox.close(&mailbox);
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(late.as_mut().poll(&mut cx), Poll::Ready(Err(SendError(3))));
    assert_eq!(inbox.drain(&mailbox), vec![2]);
    assert_eq!(inbox.try_next(&mailbox), Err(Empty::Closed));
}

#[test]
fn dropping_the_receiver_closes() {
    let (tx, rx) = channel::<u8>(MailboxConfig::default());
    drop(rx);
    assert_eq!(tx.try_send(1), Err(TrySendError::Closed(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_senders_lose_nothing_and_keep_per_sender_order() {
    let (tx, mut rx) = channel::<(u32, u32)>(MailboxConfig::Bounded(16));
    let senders: Vec<_> = (0..4)
        .map(|s| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for n in 0..5_000 {
                    tx.send((s, n)).await.unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0u32; 4];
    let mut total = 0;
    while total < 20_000 {
        let (s, n) = rx.recv().await.unwrap();
        assert_eq!(n, next[s as usize], "sender {s} out of order");
        next[s as usize] += 1;
        total += 1;
    }
    for s in senders {
        s.await.unwrap();
    }
}

#[derive(Debug, Clone)]
enum Op {
    User(u8),
    System(u8),
    Recv,
}

proptest! {
    /// The mailbox behaves like two FIFO queues with the system one read first, and a user
    /// lane that refuses messages beyond its capacity.
    #[test]
    fn matches_a_two_queue_model(cap in 1usize..8, ops in proptest::collection::vec(
        prop_oneof![any::<u8>().prop_map(Op::User), any::<u8>().prop_map(Op::System), Just(Op::Recv)], 0..200)) {
        let (tx, mut rx) = channel::<u8>(MailboxConfig::Bounded(cap));
        let mut system = VecDeque::new();
        let mut batch = VecDeque::new();
        let mut queued = VecDeque::new();
        for op in ops {
            match op {
                Op::User(v) => {
                    let accepted = tx.try_send(v).is_ok();
                    prop_assert_eq!(accepted, queued.len() < cap);
                    if accepted { queued.push_back(v); }
                }
                Op::System(v) => { tx.send_system(v).unwrap(); system.push_back(v); }
                Op::Recv => {
                    let expect = system.pop_front().or_else(|| {
                        if batch.is_empty() { std::mem::swap(&mut batch, &mut queued); }
                        batch.pop_front()
                    });
                    prop_assert_eq!(rx.try_recv(), expect);
                }
            }
        }
    }
}

#[test]
fn send_many_queues_in_order_and_waits_for_room() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(2));
    tx.try_send(0).unwrap();
    let mut batch = pin!(tx.send_many(vec![1, 2, 3, 4]));
    // One slot left: 1 goes in, the rest wait.
    assert!(poll_once(batch.as_mut()).is_pending());
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.try_recv(), Some(0)); // the receiver takes 0 and 1 into its batch
    assert!(poll_once(batch.as_mut()).is_pending());
    assert_eq!(tx.len(), 2, "2 and 3 queued, 4 still waits");
    assert_eq!(rx.try_recv(), Some(1));
    assert_eq!(rx.try_recv(), Some(2));
    assert_eq!(poll_once(batch.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(rx.drain(), vec![3, 4]);
}

#[test]
fn send_many_on_a_closed_mailbox_hands_back_what_was_not_queued() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(2));
    let mut batch = pin!(tx.send_many(vec![1, 2, 3, 4]));
    assert!(poll_once(batch.as_mut()).is_pending());
    rx.close();
    assert_eq!(
        poll_once(batch.as_mut()),
        Poll::Ready(Err(SendError(vec![3, 4])))
    );
    assert_eq!(rx.drain(), vec![1, 2]);
    let mut empty = pin!(tx.send_many(Vec::new()));
    assert_eq!(
        poll_once(empty.as_mut()),
        Poll::Ready(Err(SendError(vec![])))
    );
}

#[test]
fn send_many_wakes_the_receiver() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(8));
    let mut recv = pin!(rx.recv());
    let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Count(woken.clone())));
    assert!(recv
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let mut batch = pin!(tx.send_many(vec![1, 2, 3]));
    assert_eq!(poll_once(batch.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(
        woken.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one wake per batch"
    );
    assert_eq!(
        recv.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(Some(1))
    );
}

#[test]
fn draining_an_open_mailbox_wakes_the_senders_waiting_for_room() {
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
    tx.try_send(1).unwrap();
    let counter = std::sync::Arc::new(CountingWaker(Default::default()));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut send = pin!(tx.send(2));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    // The receiver empties the queue without closing it: there is room again, and the
    // waiting sender must hear of it (nothing else would wake it).
    assert_eq!(rx.drain(), vec![1]);
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Some(2));
}

#[test]
fn a_sender_that_gives_up_waiting_leaves_no_waker_behind() {
    // Tasks that time out against a full mailbox: each send future is dropped while it
    // waits. Their wakers (each holding its task alive) must go with them, not stay until
    // the receiver next takes a batch.
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
    tx.try_send(0).unwrap();
    let counters: Vec<_> = (0..100)
        .map(|_| std::sync::Arc::new(CountingWaker(Default::default())))
        .collect();
    for (i, counter) in counters.iter().enumerate() {
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        if i % 2 == 0 {
            let mut send = pin!(tx.send(1));
            assert!(send.as_mut().poll(&mut cx).is_pending());
            // Polled again with the same task: still one registration.
            assert!(send.as_mut().poll(&mut cx).is_pending());
        } else {
            let mut many = pin!(tx.send_many(vec![1, 2]));
            assert!(many.as_mut().poll(&mut cx).is_pending());
        }
    }
    for counter in &counters {
        assert_eq!(
            std::sync::Arc::strong_count(counter),
            1,
            "a waker outlived its sender"
        );
    }
    assert_eq!(rx.try_recv(), Some(0));
    assert!(counters
        .iter()
        .all(|c| c.0.load(std::sync::atomic::Ordering::SeqCst) == 0));
}

#[test]
fn one_of_two_senders_of_one_task_giving_up_leaves_the_other_waiting() {
    // Two sends polled by the same task share its waker; dropping one must not take the
    // other's registration with it, or the other would never hear of room.
    let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
    tx.try_send(0).unwrap();
    let counter = std::sync::Arc::new(CountingWaker(Default::default()));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut kept = pin!(tx.send(1));
    assert!(kept.as_mut().poll(&mut cx).is_pending());
    {
        let mut dropped = pin!(tx.send(2));
        assert!(dropped.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(rx.try_recv(), Some(0));
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(kept.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Some(1));
    assert_eq!(rx.try_recv(), None);
}

/// `release_spare` gives back the buffer of each empty lane over the limit, and nothing else:
/// not a lane with messages in it, not one within the limit, not the receiver's batch.
#[test]
fn release_spare_gives_back_only_empty_lanes_grown_past_the_limit() {
    let mailbox = Mailbox::new(MailboxConfig::Bounded(1024));
    let mut inbox = Inbox::new();
    assert_eq!(mailbox.allocated(), 0, "a new mailbox holds no queue");
    for n in 0..100 {
        mailbox.try_send(n).unwrap();
    }
    for n in 0..40 {
        mailbox.send_system(1000 + n).unwrap();
    }
    let grown = mailbox.allocated();
    assert!(grown >= 140, "both lanes grew: {grown} places");
    mailbox.release_spare(8);
    assert_eq!(mailbox.allocated(), grown, "lanes with messages are kept");
    // The system lane empties and gives its buffer back; the user lane still holds mail.
    for n in 0..40 {
        assert_eq!(inbox.try_next(&mailbox), Ok(1000 + n));
    }
    mailbox.release_spare(8);
    let user = mailbox.allocated();
    assert!(
        (100..grown).contains(&user),
        "the user lane alone: {user} places"
    );
    // The receiver takes the user lane's messages into its batch, in exchange for its empty
    // one; more mail then grows the lane again, within and past a limit.
    assert_eq!(inbox.try_next(&mailbox), Ok(0));
    for n in 100..120 {
        mailbox.try_send(n).unwrap();
    }
    for n in 1..120 {
        assert_eq!(inbox.try_next(&mailbox), Ok(n));
    }
    assert_eq!(inbox.try_next(&mailbox), Err(Empty::Pending));
    let lane = mailbox.allocated();
    assert!(lane >= 20, "the second burst's lane: {lane} places");
    mailbox.release_spare(lane);
    assert_eq!(mailbox.allocated(), lane, "a lane within the limit is kept");
    mailbox.release_spare(lane - 1);
    assert_eq!(
        mailbox.allocated(),
        0,
        "an empty lane past the limit is given back"
    );
    // A lane given back works as a new one.
    mailbox.try_send(7).unwrap();
    mailbox.send_system(8).unwrap();
    assert_eq!(inbox.try_next(&mailbox), Ok(8));
    assert_eq!(inbox.try_next(&mailbox), Ok(7));
}

/// `poll_ready_releasing` gives the spare buffers back only when it registers for a wake-up:
/// with mail queued it is ready and keeps them.
#[test]
fn poll_ready_releasing_gives_back_only_when_nothing_is_queued() {
    let mailbox = Mailbox::new(MailboxConfig::Bounded(1024));
    let mut inbox = Inbox::new();
    let mut cx = Context::from_waker(Waker::noop());
    for n in 0..100 {
        mailbox.try_send(n).unwrap();
    }
    let grown = mailbox.allocated();
    assert!(grown >= 100);
    assert_eq!(
        Inbox::new().poll_ready_releasing(&mailbox, &mut cx, 8),
        Poll::Ready(())
    );
    assert_eq!(
        mailbox.allocated(),
        grown,
        "mail is queued: the lane is kept"
    );
    // Taken into the batch, whose empty buffer the lane gets; more mail grows the lane again.
    assert_eq!(inbox.try_next(&mailbox), Ok(0));
    for n in 100..140 {
        mailbox.try_send(n).unwrap();
    }
    for n in 1..140 {
        assert_eq!(inbox.try_next(&mailbox), Ok(n));
    }
    let lane = mailbox.allocated();
    assert!(
        lane > 8,
        "the lane holds the first batch's buffer: {lane} places"
    );
    drop(inbox);
    assert_eq!(
        Inbox::new().poll_ready_releasing(&mailbox, &mut cx, 8),
        Poll::Pending
    );
    assert_eq!(
        mailbox.allocated(),
        0,
        "registered, and the lane given back"
    );
}

/// Sends `count` messages and takes them all, the first one refilling the batch.
fn burst(mailbox: &Mailbox<u32>, inbox: &mut Inbox<u32>, count: u32) {
    for n in 0..count {
        mailbox.try_send(n).unwrap();
    }
    for n in 0..count {
        assert_eq!(inbox.try_next(mailbox), Ok(n));
    }
    assert_eq!(inbox.try_next(mailbox), Err(Empty::Pending));
}

/// A refill gives back the queue a burst grew once the batches are small again, and keeps it
/// while bursts come between small batches.
#[test]
fn a_refill_gives_back_the_queue_a_burst_grew() {
    let mailbox = Mailbox::new(MailboxConfig::Bounded(1024));
    let mut inbox = Inbox::new();
    burst(&mailbox, &mut inbox, 1000);
    // The burst's queue is the batch; the lane has the batch's old (empty) buffer.
    assert!(mailbox.allocated() < 64);
    // Small batches: the first follows the burst, and the lane keeps the burst's buffer.
    burst(&mailbox, &mut inbox, 1);
    assert!(mailbox.allocated() >= 1000, "kept after one small batch");
    burst(&mailbox, &mut inbox, 1);
    burst(&mailbox, &mut inbox, 1);
    // The second small batch in a row handed the burst's buffer back to the allocator.
    assert!(
        mailbox.allocated() <= 64,
        "given back: {} places",
        mailbox.allocated()
    );
    // Both buffers take turns in the lane: neither holds the burst's places any more.
    burst(&mailbox, &mut inbox, 1);
    assert!(mailbox.allocated() <= 64);
    burst(&mailbox, &mut inbox, 1);
    assert!(mailbox.allocated() <= 64);

    // Bursts and small batches in turn: each small batch follows a big one, so the queues are
    // kept and steady traffic of that shape allocates nothing.
    for _ in 0..4 {
        burst(&mailbox, &mut inbox, 1000);
        burst(&mailbox, &mut inbox, 1);
        assert!(mailbox.allocated() >= 1000, "kept between bursts");
    }
    // Batches of more than a quarter of the burst's queue keep it too: it is in the lane
    // after one refill in two, the batch after the other.
    for _ in 0..4 {
        burst(&mailbox, &mut inbox, 300);
        let first = mailbox.allocated();
        burst(&mailbox, &mut inbox, 300);
        let second = mailbox.allocated();
        assert!(first.max(second) >= 1000, "kept for batches of 300");
    }
}

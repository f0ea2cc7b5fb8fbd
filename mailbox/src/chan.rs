//! The local mailbox: a multi-producer, single-consumer queue with two lanes.
//!
//! The *system* lane carries control signals (stop, supervision events); it is unbounded and
//! always read first, so a signal overtakes every user message already queued. The *user*
//! lane is bounded by the configured capacity.
//!
//! Why a mutex and a batch: senders take one short, usually uncontended lock per message; the
//! receiver swaps the whole user queue into a private batch under one lock and then pops from
//! the batch without any synchronisation. A receiver that is busy is never woken, and a
//! sender wakes the receiver only when it is parked. Capacity counts the messages waiting in
//! the shared queue; the batch the actor has already taken is its work in hand, like a
//! message a `tokio::sync::mpsc` receiver has already received.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::lock::{Lock, LockGuard};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Arc;
use crate::{MailboxConfig, SendError, TrySendError};

struct Chan<T> {
    state: Lock<State<T>>,
    /// Set while the system lane is non-empty, so the receiver can skip the lock on its fast
    /// path. Written only under the lock; read without it as a hint.
    system_pending: AtomicBool,
    capacity: usize,
}

struct State<T> {
    user: VecDeque<T>,
    system: VecDeque<T>,
    closed: bool,
    rx_waker: Option<Waker>,
    tx_waiters: Vec<Waker>,
}

impl<T> Chan<T> {
    fn lock(&self) -> LockGuard<'_, State<T>> {
        self.state.lock()
    }
}

/// Creates a mailbox and returns its two ends.
///
/// ```
/// use mycelium_mailbox::{channel, MailboxConfig, TrySendError};
///
/// let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(1));
/// tx.try_send(1).unwrap();
/// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
/// tx.send_system(9).unwrap(); // system signals ignore capacity and jump the queue
/// assert_eq!(rx.try_recv(), Some(9));
/// assert_eq!(rx.try_recv(), Some(1));
/// ```
pub fn channel<T>(config: MailboxConfig) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Lock::new(State {
            user: VecDeque::new(),
            system: VecDeque::new(),
            closed: false,
            rx_waker: None,
            tx_waiters: Vec::new(),
        }),
        system_pending: AtomicBool::new(false),
        capacity: config.capacity(),
    });
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            batch: VecDeque::new(),
            spare_waiters: Vec::new(),
        },
    )
}

/// The sending end of a mailbox. Cheap to clone; every clone feeds the same receiver.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `msg` if there is room, without waiting. On a full or closed mailbox the message
    /// comes back in the error.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let mut state = self.chan.lock();
        if state.closed {
            return Err(TrySendError::Closed(msg));
        }
        if state.user.len() >= self.chan.capacity {
            return Err(TrySendError::Full(msg));
        }
        state.user.push_back(msg);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues `msg`, waiting for room in a bounded mailbox. Fails (returning the message) only
    /// when the mailbox is closed. Dropping the future before it completes drops the message.
    pub fn send(&self, msg: T) -> Send<'_, T> {
        Send {
            sender: self,
            msg: Some(msg),
        }
    }

    /// Queues every message of `msgs`, in order, taking the mailbox's lock once per run of
    /// messages that fit (once in all when there is room for the whole batch) and waking the
    /// receiver once per run, where [`send`](Self::send) in a loop locks and wakes per message.
    /// Waits for room like `send` when the mailbox fills up. Fails only when the mailbox is
    /// closed, handing back the messages not yet queued, in order (the ones before them were
    /// queued). Dropping the future before it completes drops the messages not yet queued.
    ///
    /// ```
    /// use mycelium_mailbox::{channel, MailboxConfig};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, mut rx) = channel::<u32>(MailboxConfig::Bounded(8));
    /// tx.send_many(vec![1, 2, 3]).await.unwrap();
    /// assert_eq!(rx.drain(), [1, 2, 3]);
    /// # });
    /// ```
    pub async fn send_many(&self, msgs: Vec<T>) -> Result<(), SendError<Vec<T>>> {
        let mut pending = VecDeque::from(msgs);
        std::future::poll_fn(|cx| {
            let chan = &self.chan;
            let mut state = chan.lock();
            if state.closed {
                drop(state);
                return Poll::Ready(Err(SendError(std::mem::take(&mut pending).into())));
            }
            let room = chan.capacity.saturating_sub(state.user.len());
            let n = room.min(pending.len());
            state.user.extend(pending.drain(..n));
            let waker = if n > 0 { state.rx_waker.take() } else { None };
            if pending.is_empty() {
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Ok(()));
            }
            if !state.tx_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.tx_waiters.push(cx.waker().clone());
            }
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
            Poll::Pending
        })
        .await
    }

    /// Queues `msg` on the system lane: ahead of every user message, regardless of capacity.
    /// Fails (returning the message) only when the mailbox is closed.
    pub fn send_system(&self, msg: T) -> Result<(), T> {
        let mut state = self.chan.lock();
        if state.closed {
            return Err(msg);
        }
        state.system.push_back(msg);
        self.chan.system_pending.store(true, Ordering::Release);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True once the receiver has closed the mailbox.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// The number of user messages waiting in the shared queue (not counting the batch the
    /// receiver has already taken).
    pub fn len(&self) -> usize {
        self.chan.lock().user.len()
    }

    /// True when no user message waits in the shared queue.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the mailbox is open and neither lane holds a message: nothing is queued
    /// ahead of a message sent now.
    pub fn is_idle(&self) -> bool {
        let state = self.chan.lock();
        !state.closed && state.user.is_empty() && state.system.is_empty()
    }

    /// The capacity of the user lane (`usize::MAX` when unbounded).
    pub fn capacity(&self) -> usize {
        self.chan.capacity
    }

    /// True when both senders feed the same mailbox.
    pub fn same_mailbox(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// Future returned by [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    sender: &'a Sender<T>,
    msg: Option<T>,
}

// The message is never pinned: it is moved into the queue by value.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(msg) = self.msg.take() else {
            panic!("mailbox Send future polled after it completed");
        };
        let chan = &self.sender.chan;
        let mut state = chan.lock();
        if state.closed {
            return Poll::Ready(Err(SendError(msg)));
        }
        if state.user.len() < chan.capacity {
            state.user.push_back(msg);
            let waker = state.rx_waker.take();
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        if !state.tx_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.tx_waiters.push(cx.waker().clone());
        }
        drop(state);
        self.msg = Some(msg);
        Poll::Pending
    }
}

/// Why [`Receiver::try_next`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// Nothing is queued now.
    Pending,
    /// The mailbox is closed and nothing is left.
    Closed,
}

/// The receiving end of a mailbox, owned by the actor's task.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// User messages taken from the shared queue in one lock, handed out one by one.
    batch: VecDeque<T>,
    /// Reused buffer for waking senders that waited for room.
    spare_waiters: Vec<Waker>,
}

impl<T> Receiver<T> {
    /// Takes the next message if one is queued, without registering for a wake-up:
    /// system signals first, then user messages in send order. `Err(Closed)` once the mailbox
    /// is closed and empty.
    pub fn try_next(&mut self) -> Result<T, Empty> {
        if !self.chan.system_pending.load(Ordering::Acquire) {
            if let Some(msg) = self.batch.pop_front() {
                return Ok(msg);
            }
        }
        let mut state = self.chan.lock();
        if let Some(msg) = self.pop_system(&mut state) {
            return Ok(msg);
        }
        if let Some(msg) = self.batch.pop_front() {
            return Ok(msg);
        }
        if !state.user.is_empty() {
            std::mem::swap(&mut state.user, &mut self.batch);
            std::mem::swap(&mut state.tx_waiters, &mut self.spare_waiters);
            drop(state);
            for w in self.spare_waiters.drain(..) {
                w.wake();
            }
            return self.batch.pop_front().ok_or(Empty::Pending);
        }
        if state.closed {
            Err(Empty::Closed)
        } else {
            Err(Empty::Pending)
        }
    }

    /// Takes the next message: system signals first, then user messages in send order.
    /// Returns `Ready(None)` once the mailbox is closed and empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.try_next() {
            Ok(msg) => return Poll::Ready(Some(msg)),
            Err(Empty::Closed) => return Poll::Ready(None),
            Err(Empty::Pending) => {}
        }
        let mut state = self.chan.lock();
        // Re-check under the lock: a sender that pushed after `try_next` looked has either
        // left its message here or will find the waker registered below.
        if !state.system.is_empty() || !state.user.is_empty() || state.closed {
            drop(state);
            return match self.try_next() {
                Ok(msg) => Poll::Ready(Some(msg)),
                Err(Empty::Closed) => Poll::Ready(None),
                Err(Empty::Pending) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            };
        }
        Self::register(&mut state, cx);
        Poll::Pending
    }

    /// How many user messages wait in the batch already taken from the queue: everything that
    /// was queued when the receiver last emptied the shared queue, less what it took since.
    /// Needs no lock (messages sent meanwhile are counted at the next refill).
    pub fn batched_len(&self) -> usize {
        self.batch.len()
    }

    /// True when [`try_next`](Self::try_next) will return a message without taking the lock:
    /// the batch already taken from the queue is not empty (or a system signal waits).
    pub fn has_batched(&self) -> bool {
        !self.batch.is_empty() || self.chan.system_pending.load(Ordering::Acquire)
    }

    /// Ready once a message can be taken with [`try_next`](Self::try_next) (or the mailbox
    /// is closed); registers for a wake-up otherwise. Takes nothing.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.batch.is_empty() || self.chan.system_pending.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut state = self.chan.lock();
        if !state.system.is_empty() || !state.user.is_empty() || state.closed {
            return Poll::Ready(());
        }
        Self::register(&mut state, cx);
        Poll::Pending
    }

    /// Like [`poll_recv`](Self::poll_recv) but reads only the system lane; user messages stay
    /// queued. Used while an actor waits for its supervisor's decision.
    pub fn poll_recv_system(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.chan.lock();
        if let Some(msg) = self.pop_system(&mut state) {
            return Poll::Ready(Some(msg));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        Self::register(&mut state, cx);
        Poll::Pending
    }

    /// Waits for the next message (system first). `None` once closed and empty.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Waits for the next system signal, leaving user messages queued.
    pub async fn recv_system(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv_system(cx)).await
    }

    /// Takes the next message if one is ready.
    pub fn try_recv(&mut self) -> Option<T> {
        self.try_next().ok()
    }

    /// Closes the mailbox: senders now get their messages back as `Closed`, and waiting
    /// senders are woken. Messages already queued stay readable (see [`drain`](Self::drain)).
    pub fn close(&mut self) {
        let mut state = self.chan.lock();
        state.closed = true;
        std::mem::swap(&mut state.tx_waiters, &mut self.spare_waiters);
        drop(state);
        for w in self.spare_waiters.drain(..) {
            w.wake();
        }
    }

    /// True once [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// Removes and returns every queued message, system signals first, then user messages in
    /// send order.
    pub fn drain(&mut self) -> Vec<T> {
        let mut state = self.chan.lock();
        let mut out: Vec<T> = state.system.drain(..).collect();
        self.chan.system_pending.store(false, Ordering::Release);
        out.extend(self.batch.drain(..));
        out.extend(state.user.drain(..));
        out
    }

    /// A new sender for this mailbox.
    pub fn sender(&self) -> Sender<T> {
        Sender {
            chan: self.chan.clone(),
        }
    }

    fn pop_system(&self, state: &mut State<T>) -> Option<T> {
        let msg = state.system.pop_front();
        if state.system.is_empty() {
            self.chan.system_pending.store(false, Ordering::Release);
        }
        msg
    }

    fn register(state: &mut State<T>, cx: &mut Context<'_>) {
        match &state.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.rx_waker = Some(cx.waker().clone()),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

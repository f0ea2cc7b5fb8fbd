//! The receiving side: the batch an actor takes from its mailbox's shared queue and hands
//! out one by one ([`Inbox`]), and the [`Receiver`] that owns one.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use super::{Mailbox, Sender, State};
use crate::lock::LockGuard;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Arc;

/// Why [`Receiver::try_next`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// Nothing is queued now.
    Pending,
    /// The mailbox is closed and nothing is left.
    Closed,
}

/// The receiving side's own state of a [`Mailbox`] held inline elsewhere: the batch of user
/// messages already taken from the shared queue. Every call takes the mailbox it belongs to;
/// an inbox serves one mailbox for its whole life (a second mailbox would get the first one's
/// batch). Unlike a [`Receiver`], dropping an inbox does not close the mailbox: its owner
/// calls [`close`](Self::close).
pub struct Inbox<T> {
    /// User messages taken from the shared queue in one lock, handed out one by one.
    batch: VecDeque<T>,
    /// How many messages the batch before this one held when it was taken: with the current
    /// batch's, what tells a queue a burst grew from one that steady traffic needs
    /// ([`RETURNED_PLACES`]).
    last_batch: usize,
}

/// The places the queue handed back to the senders at a refill may hold whatever the
/// traffic: past them, it is given back to the allocator when it holds over four times both
/// the batch just taken and the one before it.
///
/// Why: the receiver trades the shared queue for its emptied batch at each refill, so the
/// two buffers take turns, and a burst leaves both grown (an actor's bounded lane of 1,024
/// places is 56 KiB), for as long as the mailbox lives if nothing gives them back. Given
/// back at the second or third small batch after a burst, the senders' next messages grow a
/// new queue from nothing, doubling; a run of bursts and small batches in turn keeps its
/// queues, since each small batch follows a big one. The check costs a refill one
/// comparison; the rest is cold.
const RETURNED_PLACES: usize = 64;

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Inbox<T> {
    /// An inbox with nothing taken yet.
    pub fn new() -> Self {
        Inbox {
            batch: VecDeque::new(),
            last_batch: 0,
        }
    }

    /// Takes the next message if one is queued, without registering for a wake-up:
    /// system signals first, then user messages in send order. `Err(Closed)` once the mailbox
    /// is closed and empty.
    #[inline]
    pub fn try_next(&mut self, mailbox: &Mailbox<T>) -> Result<T, Empty> {
        if !mailbox.system_pending.load(Ordering::Acquire) {
            if let Some(msg) = self.batch.pop_front() {
                return Ok(msg);
            }
        }
        let mut state = mailbox.lock();
        if let Some(msg) = pop_system(mailbox, &mut state) {
            return Ok(msg);
        }
        if let Some(msg) = self.batch.pop_front() {
            return Ok(msg);
        }
        if !state.user.is_empty() {
            std::mem::swap(&mut state.user, &mut self.batch);
            let before = std::mem::replace(&mut self.last_batch, self.batch.len());
            if state.user.capacity() > RETURNED_PLACES {
                return self.refilled_after_a_burst(state, before);
            }
            let waiters = state.take_waiters();
            drop(state);
            wake_all(waiters);
            return self.batch.pop_front().ok_or(Empty::Pending);
        }
        if mailbox.closed.load(Ordering::Relaxed) {
            Err(Empty::Closed)
        } else {
            Err(Empty::Pending)
        }
    }

    /// The rest of [`try_next`](Self::try_next)'s refill when the queue it handed back to the
    /// senders holds more than [`RETURNED_PLACES`]: gives that queue's buffer back to the
    /// allocator, after the lock is let go, when a burst grew it and the batches are small
    /// again. `before` is the length of the batch before this one.
    #[cold]
    #[inline(never)]
    fn refilled_after_a_burst(
        &mut self,
        mut state: LockGuard<'_, State<T>>,
        before: usize,
    ) -> Result<T, Empty> {
        let places = state.user.capacity();
        let small = |batch: usize| batch.saturating_mul(4) < places;
        let spare =
            (small(self.batch.len()) && small(before)).then(|| std::mem::take(&mut state.user));
        let waiters = state.take_waiters();
        drop(state);
        drop(spare);
        wake_all(waiters);
        self.batch.pop_front().ok_or(Empty::Pending)
    }

    /// Takes the next message: system signals first, then user messages in send order.
    /// Returns `Ready(None)` once the mailbox is closed and empty.
    pub fn poll_recv(&mut self, mailbox: &Mailbox<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.try_next(mailbox) {
            Ok(msg) => return Poll::Ready(Some(msg)),
            Err(Empty::Closed) => return Poll::Ready(None),
            Err(Empty::Pending) => {}
        }
        let mut state = mailbox.lock();
        // Re-check under the lock: a sender that pushed after `try_next` looked has either
        // left its message here or will find the waker registered below.
        if mailbox.has_mail(&state) {
            drop(state);
            return match self.try_next(mailbox) {
                Ok(msg) => Poll::Ready(Some(msg)),
                Err(Empty::Closed) => Poll::Ready(None),
                Err(Empty::Pending) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            };
        }
        register(&mut state, cx);
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
    pub fn has_batched(&self, mailbox: &Mailbox<T>) -> bool {
        !self.batch.is_empty() || mailbox.system_pending.load(Ordering::Acquire)
    }

    /// Ready once a message can be taken with [`try_next`](Self::try_next) (or the mailbox
    /// is closed); registers for a wake-up otherwise. Takes nothing.
    pub fn poll_ready(&mut self, mailbox: &Mailbox<T>, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_batched(mailbox) {
            return Poll::Ready(());
        }
        let mut state = mailbox.lock();
        if mailbox.has_mail(&state) {
            return Poll::Ready(());
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// [`poll_ready`](Self::poll_ready) for a receiver about to leave the mailbox idle for a
    /// while (a hibernating actor going to sleep): when it registers for a wake-up it also
    /// gives back, under the same lock, the buffer of each empty lane grown past `keep`
    /// places, as [`Mailbox::release_spare`] does. Its own copy of `poll_ready`'s steps: one
    /// body for both, even inlined, moved the code of every park and cost the default actors'
    /// paths 0.3-0.4% more instructions (measured at 67b0255, 2026-11-26: docs/perf/actors.md).
    pub fn poll_ready_releasing(
        &mut self,
        mailbox: &Mailbox<T>,
        cx: &mut Context<'_>,
        keep: usize,
    ) -> Poll<()> {
        if self.has_batched(mailbox) {
            return Poll::Ready(());
        }
        let mut state = mailbox.lock();
        if mailbox.has_mail(&state) {
            return Poll::Ready(());
        }
        register(&mut state, cx);
        let spare = state.take_spare(keep);
        drop(state);
        drop(spare);
        Poll::Pending
    }

    /// Like [`poll_recv`](Self::poll_recv) but reads only the system lane; user messages stay
    /// queued. Used while an actor waits for its supervisor's decision.
    pub fn poll_recv_system(
        &mut self,
        mailbox: &Mailbox<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        let mut state = mailbox.lock();
        if let Some(msg) = pop_system(mailbox, &mut state) {
            return Poll::Ready(Some(msg));
        }
        if mailbox.closed.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Closes the mailbox: senders now get their messages back as `Closed`, and waiting
    /// senders are woken. Messages already queued stay readable (see [`drain`](Self::drain)).
    pub fn close(&mut self, mailbox: &Mailbox<T>) {
        let mut state = mailbox.lock();
        mailbox.closed.store(true, Ordering::Release);
        let waiters = state.take_waiters();
        drop(state);
        wake_all(waiters);
    }

    /// Removes and returns every queued message, system signals first, then user messages in
    /// send order. Senders waiting for room in an open mailbox are woken: there is room again.
    pub fn drain(&mut self, mailbox: &Mailbox<T>) -> Vec<T> {
        let mut state = mailbox.lock();
        let mut out: Vec<T> = match &mut state.rare {
            Some(rare) => rare.system.drain(..).collect(),
            None => Vec::new(),
        };
        mailbox.system_pending.store(false, Ordering::Release);
        out.extend(self.batch.drain(..));
        out.extend(state.user.drain(..));
        let waiters = state.take_waiters();
        drop(state);
        wake_all(waiters);
        out
    }
}

/// Wakes the senders [`State::take_waiters`] took.
fn wake_all(waiters: Vec<(u64, Waker)>) {
    waiters.into_iter().for_each(|(_, w)| w.wake());
}

fn pop_system<T>(mailbox: &Mailbox<T>, state: &mut State<T>) -> Option<T> {
    let rare = state.rare.as_mut()?;
    let msg = rare.system.pop_front();
    if rare.system.is_empty() {
        mailbox.system_pending.store(false, Ordering::Release);
    }
    msg
}

fn register<T>(state: &mut State<T>, cx: &mut Context<'_>) {
    match &state.rx_waker {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => state.rx_waker = Some(cx.waker().clone()),
    }
}

/// The receiving end of a mailbox, owned by the actor's task. Dropping it closes the mailbox.
pub struct Receiver<T> {
    chan: Arc<Mailbox<T>>,
    inbox: Inbox<T>,
}

impl<T> Receiver<T> {
    /// The receiving end of `chan`, with an empty batch.
    pub(super) fn new(chan: Arc<Mailbox<T>>) -> Self {
        Receiver {
            chan,
            inbox: Inbox::new(),
        }
    }

    /// Takes the next message if one is queued, without registering for a wake-up:
    /// system signals first, then user messages in send order. `Err(Closed)` once the mailbox
    /// is closed and empty.
    pub fn try_next(&mut self) -> Result<T, Empty> {
        self.inbox.try_next(&self.chan)
    }

    /// Takes the next message: system signals first, then user messages in send order.
    /// Returns `Ready(None)` once the mailbox is closed and empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inbox.poll_recv(&self.chan, cx)
    }

    /// See [`Inbox::batched_len`].
    pub fn batched_len(&self) -> usize {
        self.inbox.batched_len()
    }

    /// See [`Inbox::has_batched`].
    pub fn has_batched(&self) -> bool {
        self.inbox.has_batched(&self.chan)
    }

    /// See [`Inbox::poll_ready`].
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inbox.poll_ready(&self.chan, cx)
    }

    /// See [`Inbox::poll_recv_system`].
    pub fn poll_recv_system(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inbox.poll_recv_system(&self.chan, cx)
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
        self.inbox.close(&self.chan)
    }

    /// True once [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Removes and returns every queued message, system signals first, then user messages in
    /// send order. Senders waiting for room in an open mailbox are woken: there is room again.
    pub fn drain(&mut self) -> Vec<T> {
        self.inbox.drain(&self.chan)
    }

    /// A new sender for this mailbox.
    pub fn sender(&self) -> Sender<T> {
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

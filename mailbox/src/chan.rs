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
//!
//! Why `#[inline]` on the paths of every message (`try_send`, `try_send_unless_idle`,
//! `push_user`, `Inbox::try_next`): they are generic, so they are compiled in the crate that
//! sends, and without the attribute that crate's codegen units share one copy of each. Which
//! unit it lands in, and so whether LLVM inlines it into its caller, then depends on all of
//! that crate's code, and an unrelated change can add instructions to every message. Marked,
//! each unit that calls them has its own copy: w6 isolated ran with 5% fewer instructions
//! (measured at 28ebf75, 2026-11-26: docs/perf/actors.md).
//!
//! This file holds the shared state and the sending side; the receiving side (the batch,
//! [`Inbox`], and the [`Receiver`] that owns one) is in `chan/inbox.rs`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::lock::{Lock, LockGuard};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Arc;
use crate::{MailboxConfig, SendError, TrySendError};

mod inbox;

pub use inbox::{Empty, Inbox, Receiver};

/// What [`Mailbox::try_send_unless_idle`] did with an item.
#[derive(Debug)]
pub enum Unless<I> {
    /// Queued.
    Sent,
    /// Not queued: the mailbox is open and nothing is queued in it.
    Idle(I),
    /// Not queued: the user lane is full.
    Full(I),
    /// Not queued: the mailbox is closed.
    Closed(I),
}

/// A mailbox's shared part: the two lanes and their lock. [`channel`] puts one behind an
/// `Arc` shared by its [`Sender`]s and [`Receiver`]; a structure that already has one shared
/// home (an actor's cell) can hold it inline instead, send through `&Mailbox`, and receive
/// through an [`Inbox`], saving an allocation per mailbox.
///
/// ```
/// use mycelium_mailbox::{Inbox, Mailbox, MailboxConfig};
///
/// let mailbox = Mailbox::new(MailboxConfig::Bounded(4));
/// let mut inbox = Inbox::new();
/// mailbox.try_send("a").unwrap();
/// mailbox.send_system("stop").unwrap();
/// assert_eq!(inbox.try_next(&mailbox), Ok("stop"));
/// assert_eq!(inbox.try_next(&mailbox), Ok("a"));
/// inbox.close(&mailbox);
/// assert!(mailbox.is_closed());
/// ```
pub struct Mailbox<T> {
    state: Lock<State<T>>,
    /// Set while the system lane is non-empty, so the receiver can skip the lock on its fast
    /// path. Written only under the lock; read without it as a hint.
    system_pending: AtomicBool,
    /// Set by the receiver's `close`. Written only under the lock, and read under it by
    /// senders; outside the State so that it shares the flags' word (the mailbox lives inline
    /// in every actor cell).
    closed: AtomicBool,
    capacity: usize,
}

struct State<T> {
    user: VecDeque<T>,
    /// The system lane and the senders waiting for room, allocated when first needed: most
    /// mailboxes carry no signal until their actor stops and are never full, and an actor's
    /// cell holds its mailbox inline (docs/perf/actors.md, w3).
    rare: Option<Box<Rare<T>>>,
    rx_waker: Option<Waker>,
}

struct Rare<T> {
    system: VecDeque<T>,
    /// The senders waiting for room, each under the number its future holds, so that a
    /// future dropped while it waits takes its waker out ([`Waiter`]'s `Drop`): without that,
    /// every task that gave up on a full mailbox would stay allocated until the next batch.
    tx_waiters: Vec<(u64, Waker)>,
    next_waiter: u64,
}

impl<T> State<T> {
    fn rare(&mut self) -> &mut Rare<T> {
        self.rare.get_or_insert_with(|| {
            Box::new(Rare {
                system: VecDeque::new(),
                tx_waiters: Vec::new(),
                next_waiter: 0,
            })
        })
    }

    fn system_is_empty(&self) -> bool {
        self.rare.as_ref().is_none_or(|r| r.system.is_empty())
    }

    /// Registers `cx`'s task to be woken when room is made, under the waiter's number: a
    /// waiter still registered has its waker refreshed, one woken since (or new) is
    /// registered anew.
    fn wait_for_room(&mut self, waiter: &mut Option<u64>, cx: &Context<'_>) {
        let rare = self.rare();
        if let Some(id) = *waiter {
            if let Some((_, w)) = rare.tx_waiters.iter_mut().find(|(i, _)| *i == id) {
                if !w.will_wake(cx.waker()) {
                    *w = cx.waker().clone();
                }
                return;
            }
        }
        let id = rare.next_waiter;
        rare.next_waiter = rare.next_waiter.wrapping_add(1);
        rare.tx_waiters.push((id, cx.waker().clone()));
        *waiter = Some(id);
    }

    /// Takes waiter `id`'s waker out, if it is still registered. Returns it, to be dropped
    /// once the lock is released (dropping a waker may run a task's destructor).
    fn forget_waiter(&mut self, id: u64) -> Option<Waker> {
        let waiters = &mut self.rare.as_mut()?.tx_waiters;
        let at = waiters.iter().position(|(i, _)| *i == id)?;
        Some(waiters.swap_remove(at).1)
    }

    /// The senders waiting for room, to be woken once the lock is released
    /// ([`wake_all`]): the list itself is taken, not copied.
    fn take_waiters(&mut self) -> Vec<(u64, Waker)> {
        self.rare
            .as_mut()
            .map(|r| std::mem::take(&mut r.tx_waiters))
            .unwrap_or_default()
    }
}

impl<T> Mailbox<T> {
    /// An empty, open mailbox.
    pub fn new(config: MailboxConfig) -> Self {
        Mailbox {
            state: Lock::new(State {
                user: VecDeque::new(),
                rare: None,
                rx_waker: None,
            }),
            system_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            capacity: config.capacity(),
        }
    }

    fn lock(&self) -> LockGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Under the lock: something to take (either lane), or the mailbox is closed.
    fn has_mail(&self, state: &State<T>) -> bool {
        !state.system_is_empty() || !state.user.is_empty() || self.closed.load(Ordering::Relaxed)
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
    let chan = Arc::new(Mailbox::new(config));
    (Sender { chan: chan.clone() }, Receiver::new(chan))
}

/// The sending end of a mailbox. Cheap to clone; every clone feeds the same receiver. The
/// sending calls are [`Mailbox`]'s, reached through `Deref`.
pub struct Sender<T> {
    chan: Arc<Mailbox<T>>,
}

impl<T> std::ops::Deref for Sender<T> {
    type Target = Mailbox<T>;

    fn deref(&self) -> &Mailbox<T> {
        &self.chan
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Mailbox<T> {
    /// Queues `msg` if there is room, without waiting. On a full or closed mailbox the message
    /// comes back in the error.
    #[inline]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let state = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Err(TrySendError::Closed(msg));
        }
        if state.user.len() >= self.capacity {
            return Err(TrySendError::Full(msg));
        }
        self.push_user(state, msg);
        Ok(())
    }

    /// Queues the message `wrap(item)` if there is room, unless the mailbox is idle (open,
    /// and nothing queued in either lane): then `item` comes back as [`Unless::Idle`], not
    /// queued, for a sender that can hand it to the receiver another way (the actor's direct
    /// call). One lock either way, where [`is_idle`](Self::is_idle) then
    /// [`try_send`](Self::try_send) take two.
    ///
    /// ```
    /// use mycelium_mailbox::{Mailbox, MailboxConfig, Unless};
    ///
    /// let mailbox = Mailbox::new(MailboxConfig::Bounded(4));
    /// assert!(matches!(mailbox.try_send_unless_idle(1, |n| n), Unless::Idle(1)));
    /// mailbox.try_send(1).unwrap();
    /// assert!(matches!(mailbox.try_send_unless_idle(2, |n| n), Unless::Sent));
    /// ```
    #[inline]
    pub fn try_send_unless_idle<I>(&self, item: I, wrap: impl FnOnce(I) -> T) -> Unless<I> {
        let state = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Unless::Closed(item);
        }
        if state.user.is_empty() && state.system_is_empty() {
            return Unless::Idle(item);
        }
        if state.user.len() >= self.capacity {
            return Unless::Full(item);
        }
        self.push_user(state, wrap(item));
        Unless::Sent
    }

    /// Queues `msg` in the user lane under `state` (room checked), and wakes the receiver
    /// outside the lock.
    #[inline]
    fn push_user(&self, mut state: LockGuard<'_, State<T>>, msg: T) {
        state.user.push_back(msg);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Queues `msg`, waiting for room in a bounded mailbox. Fails (returning the message) only
    /// when the mailbox is closed. Dropping the future before it completes drops the message.
    pub fn send(&self, msg: T) -> Send<'_, T> {
        Send {
            waiter: Waiter::new(self),
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
        let mut waiter = Waiter::new(self);
        std::future::poll_fn(|cx| {
            let mut state = self.lock();
            if self.closed.load(Ordering::Relaxed) {
                let stale = waiter.leave(&mut state);
                drop(state);
                drop(stale);
                return Poll::Ready(Err(SendError(std::mem::take(&mut pending).into())));
            }
            let room = self.capacity.saturating_sub(state.user.len());
            let n = room.min(pending.len());
            if n == pending.len() {
                // The common case, room for the whole batch: moved in one copy, where
                // `extend` would move message by message.
                state.user.append(&mut pending);
            } else {
                state.user.extend(pending.drain(..n));
            }
            let waker = if n > 0 { state.rx_waker.take() } else { None };
            if pending.is_empty() {
                let stale = waiter.leave(&mut state);
                drop(state);
                drop(stale);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Ok(()));
            }
            state.wait_for_room(&mut waiter.id, cx);
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
        let mut state = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Err(msg);
        }
        state.rare().system.push_back(msg);
        self.system_pending.store(true, Ordering::Release);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Wakes the receiver if it is registered for a wake-up, without queuing anything: for an
    /// owner that must make the receiver look again (an actor being killed while it waits).
    pub fn wake_receiver(&self) {
        let waker = self.lock().rx_waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once the receiver has closed the mailbox.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The number of user messages waiting in the shared queue (not counting the batch the
    /// receiver has already taken).
    pub fn len(&self) -> usize {
        self.lock().user.len()
    }

    /// True when no user message waits in the shared queue.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the mailbox is open and neither lane holds a message: nothing is queued
    /// ahead of a message sent now.
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        !self.closed.load(Ordering::Relaxed) && state.user.is_empty() && state.system_is_empty()
    }

    /// The capacity of the user lane (`usize::MAX` when unbounded).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The places allocated in both lanes' queues, empty or not: the memory the mailbox holds
    /// beyond its own size is about this many messages' worth (the batch the receiver has
    /// taken is its [`Inbox`]'s). A lane keeps what a burst grew it to (steady traffic then
    /// allocates nothing) until [`release_spare`] gives it back.
    ///
    /// [`release_spare`]: Self::release_spare
    pub fn allocated(&self) -> usize {
        let state = self.lock();
        state.user.capacity() + state.rare.as_ref().map_or(0, |r| r.system.capacity())
    }

    /// Gives back the buffer of each empty lane that holds more than `keep` places: for an
    /// owner about to leave the mailbox idle for a while (a hibernating actor going to sleep),
    /// after a burst grew it. A lane with messages in it is left as it is, and the next
    /// message of a lane given back allocates again. The buffers are freed after the lock is
    /// let go.
    pub fn release_spare(&self, keep: usize) {
        let mut state = self.lock();
        let spare = state.take_spare(keep);
        drop(state);
        drop(spare);
    }
}

/// The buffers of a mailbox's lanes taken out by [`State::take_spare`], to be freed once the
/// lock is let go.
type Spare<T> = (Option<VecDeque<T>>, Option<VecDeque<T>>);

impl<T> State<T> {
    /// Takes out the buffer of each empty lane that holds more than `keep` places.
    fn take_spare(&mut self, keep: usize) -> Spare<T> {
        let user = take_if_spare(&mut self.user, keep);
        let system = self
            .rare
            .as_mut()
            .and_then(|r| take_if_spare(&mut r.system, keep));
        (user, system)
    }
}

/// `queue`'s buffer, if it is empty and holds more than `keep` places; an empty queue, which
/// holds none, takes its place.
fn take_if_spare<T>(queue: &mut VecDeque<T>, keep: usize) -> Option<VecDeque<T>> {
    (queue.is_empty() && queue.capacity() > keep).then(|| std::mem::take(queue))
}

impl<T> Sender<T> {
    /// True when both senders feed the same mailbox.
    pub fn same_mailbox(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// A sender's place among those waiting for room: the number its waker is registered under
/// while it waits. Dropped while still registered (its future given up), it takes the waker
/// out.
struct Waiter<'a, T> {
    mailbox: &'a Mailbox<T>,
    id: Option<u64>,
}

impl<'a, T> Waiter<'a, T> {
    fn new(mailbox: &'a Mailbox<T>) -> Self {
        Waiter { mailbox, id: None }
    }

    /// Leaves the wait list under the lock already held, as a sender done waiting: usually
    /// out of it already (room is made by waking the whole list). Returns the waker to drop
    /// once the lock is released.
    fn leave(&mut self, state: &mut State<T>) -> Option<Waker> {
        self.id.take().and_then(|id| state.forget_waiter(id))
    }
}

impl<T> Drop for Waiter<'_, T> {
    fn drop(&mut self) {
        // Never registered (the common case: there was room at once): no lock taken.
        if let Some(id) = self.id {
            let waker = self.mailbox.lock().forget_waiter(id);
            drop(waker);
        }
    }
}

/// Future returned by [`Mailbox::send`] (a [`Sender`]'s `send`). Dropped while it waits for room, it leaves the
/// senders' wait list at once (its message is dropped, as `send` says).
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    waiter: Waiter<'a, T>,
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
        let this = &mut *self;
        let mailbox = this.waiter.mailbox;
        let mut state = mailbox.lock();
        if mailbox.closed.load(Ordering::Relaxed) {
            let stale = this.waiter.leave(&mut state);
            drop(state);
            drop(stale);
            return Poll::Ready(Err(SendError(msg)));
        }
        if state.user.len() < mailbox.capacity {
            state.user.push_back(msg);
            let stale = this.waiter.leave(&mut state);
            let waker = state.rx_waker.take();
            drop(state);
            drop(stale);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        state.wait_for_room(&mut this.waiter.id, cx);
        drop(state);
        this.msg = Some(msg);
        Poll::Pending
    }
}

//! The per-subscription buffer of streams and of actors' `DropOldest` / `LatestPerKey`
//! subscriptions: where the overflow policy is applied.
//!
//! Those two policies choose what the actor sees at the last moment, which a FIFO mailbox
//! cannot do, so the messages wait here and the mailbox holds at most one drain message,
//! whose handler takes the next message out of the buffer and queues the next drain behind
//! whatever else is in the mailbox. A task forwarding from the buffer into the mailbox would
//! let a mailbox's worth of stale values through before the policy applied, and cost a task
//! per subscription; only `Bus::subscribe_recipient` uses one, since a recipient has no
//! drain handler.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use crate::shared::Shared;
use crate::topic::drain::TopicDrain;
use crate::topic::{Overflow, Published, SubscribeOptions};
use crate::{Handler, MessageSink};

/// Who reads a buffer.
pub(super) enum Reader<T: Send + Sync + 'static> {
    /// A `TopicStream`, woken through the waker it leaves in the buffer.
    Stream,
    /// An actor, sent one drain message at a time.
    Actor(Arc<dyn DrainReader<T>>),
}

/// The mailbox of an actor that reads a buffer.
pub(super) trait DrainReader<T: Send + Sync + 'static>: MessageSink<TopicDrain<T>> {
    /// True once the mailbox is closed (the actor is ending or has stopped): a drain message
    /// queued earlier will not be handled, so messages taken into the buffer would stay
    /// there. One atomic load, cheap enough for every message the buffer takes.
    fn is_closed(&self) -> bool;
}

impl<A, T> DrainReader<T> for Shared<A>
where
    A: Handler<TopicDrain<T>>,
    T: Send + Sync + 'static,
{
    fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }
}

pub(super) struct Buffer<T: Send + Sync + 'static> {
    state: Mutex<BufferState<T>>,
    pub(super) reader: Reader<T>,
    /// Publishers blocked on a full `Block` stream wait here.
    writable: Notify,
}

struct BufferState<T> {
    pending: Pending<T>,
    capacity: usize,
    closed: bool,
    /// A drain message is in the actor's mailbox (or on its way).
    drain_scheduled: bool,
    /// A stream reader waiting for a message.
    reader_waker: Option<Waker>,
    blocked_writers: usize,
}

enum Pending<T> {
    Fifo(VecDeque<Published<T>>),
    /// Keys in arrival order of their first waiting value; the newest value of each.
    Latest {
        order: VecDeque<Option<u64>>,
        values: HashMap<Option<u64>, Published<T>>,
    },
}

impl<T> Pending<T> {
    pub(super) fn len(&self) -> usize {
        match self {
            Pending::Fifo(q) => q.len(),
            Pending::Latest { order, .. } => order.len(),
        }
    }

    fn pop(&mut self) -> Option<Published<T>> {
        match self {
            Pending::Fifo(q) => q.pop_front(),
            Pending::Latest { order, values } => {
                let key = order.pop_front()?;
                values.remove(&key)
            }
        }
    }

    fn clear(&mut self) {
        match self {
            Pending::Fifo(q) => q.clear(),
            Pending::Latest { order, values } => {
                order.clear();
                values.clear();
            }
        }
    }
}

/// The outcome of offering a message to a buffer.
pub(super) enum Offer<T> {
    /// `drain`: the actor reading the buffer needs a drain message.
    Taken {
        evicted: bool,
        drain: bool,
    },
    Refused,
    Full(Published<T>),
    Closed,
}

impl<T: Send + Sync + 'static> Buffer<T> {
    pub(super) fn new(options: &SubscribeOptions, reader: Reader<T>) -> Self {
        let pending = match options.overflow {
            Overflow::LatestPerKey => Pending::Latest {
                order: VecDeque::new(),
                values: HashMap::new(),
            },
            _ => Pending::Fifo(VecDeque::new()),
        };
        Buffer {
            state: Mutex::new(BufferState {
                pending,
                capacity: options.capacity.max(1),
                closed: false,
                drain_scheduled: false,
                reader_waker: None,
                blocked_writers: 0,
            }),
            reader,
            writable: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, BufferState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn offer(
        &self,
        overflow: Overflow,
        msg: Published<T>,
        wait_if_full: bool,
    ) -> Offer<T> {
        let mut s = self.state();
        if s.closed {
            return Offer::Closed;
        }
        let capacity = s.capacity;
        let mut evicted = false;
        match &mut s.pending {
            Pending::Fifo(q) => {
                if q.len() >= capacity {
                    match overflow {
                        Overflow::DropOldest => {
                            q.pop_front();
                            evicted = true;
                        }
                        Overflow::DropNewest => return Offer::Refused,
                        Overflow::Block | Overflow::LatestPerKey => {
                            if wait_if_full {
                                s.blocked_writers += 1;
                            }
                            return Offer::Full(msg);
                        }
                    }
                }
                q.push_back(msg);
            }
            Pending::Latest { order, values } => {
                let key = msg.key();
                if values.insert(key, msg).is_some() {
                    evicted = true;
                } else {
                    order.push_back(key);
                }
            }
        }
        let drain = match self.reader {
            Reader::Stream => {
                if let Some(waker) = s.reader_waker.take() {
                    drop(s);
                    waker.wake();
                }
                false
            }
            Reader::Actor(_) => !std::mem::replace(&mut s.drain_scheduled, true),
        };
        Offer::Taken { evicted, drain }
    }

    /// Offers `msg` to a full `Block` buffer, waiting for room. No lock is held meanwhile.
    pub(super) async fn offer_waiting(
        &self,
        overflow: Overflow,
        mut msg: Published<T>,
    ) -> Offer<T> {
        loop {
            let writable = self.writable.notified();
            let mut writable = std::pin::pin!(writable);
            writable.as_mut().enable();
            match self.offer(overflow, msg, true) {
                Offer::Full(back) => {
                    msg = back;
                    let _registered = BlockedWriter(self);
                    writable.await;
                }
                done => return done,
            }
        }
    }

    /// Takes the next message; also says whether more are waiting.
    pub(super) fn take(&self) -> (Option<Published<T>>, bool) {
        self.take_or_wait(None).unwrap_or((None, false))
    }

    /// For a stream: the next message, `Ready(None)` once closed, or `Pending` with the task
    /// woken when a message arrives or the buffer closes.
    pub(super) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Published<T>>> {
        match self.take_or_wait(Some(cx)) {
            Some((item, _)) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }

    /// `None` when nothing waits and `cx`'s waker was registered.
    fn take_or_wait(&self, cx: Option<&mut Context<'_>>) -> Option<(Option<Published<T>>, bool)> {
        let mut s = self.state();
        let item = s.pending.pop();
        if item.is_none() && !s.closed {
            if let Some(cx) = cx {
                match &mut s.reader_waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return None;
            }
        }
        let more = s.pending.len() > 0;
        if !more {
            s.drain_scheduled = false;
        }
        let wake_writers = item.is_some() && s.blocked_writers > 0;
        drop(s);
        if wake_writers {
            self.writable.notify_waiters();
        }
        Some((item, more))
    }

    pub(super) fn len(&self) -> usize {
        self.state().pending.len()
    }

    /// Closes the buffer; returns how many waiting messages were discarded.
    pub(super) fn close(&self) -> usize {
        let mut s = self.state();
        if s.closed {
            return 0;
        }
        s.closed = true;
        let discarded = s.pending.len();
        s.pending.clear();
        let reader = s.reader_waker.take();
        drop(s);
        self.writable.notify_waiters();
        if let Some(waker) = reader {
            waker.wake();
        }
        discarded
    }
}

/// Keeps a buffer's count of blocked publishers right, even if the waiting publish is dropped.
struct BlockedWriter<'a, T: Send + Sync + 'static>(&'a Buffer<T>);

impl<T: Send + Sync + 'static> Drop for BlockedWriter<'_, T> {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.blocked_writers = s.blocked_writers.saturating_sub(1);
    }
}

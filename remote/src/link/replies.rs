//! The replies this node sends to the peer's asks: queued at once when there is room, or by
//! a task of their own that waits for it, and dropped when the incarnation that asked is gone.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use mycelium_actors::Receipt;

use super::{Inner, Link, RemoteReply, State, FRAME_HEADERS};
use crate::error::{SendError, WireError};
use crate::frame::{encode_frame, encode_frame_around, Kind};

impl Inner {
    /// Queues the reply to ask `corr` once it is ready, on a task of its own (the reader
    /// never waits on its own link), as [`reply_now`](Self::reply_now) does. Used when the
    /// reply is still to come.
    ///
    /// `to` is the peer incarnation that asked: a reply ready once the peer has restarted is
    /// dropped, not sent to the new process. `receipt` is the ask's: signed once its reply
    /// (or failure) is made, so the peer keeps the ask in its resend log until it is answered.
    /// Signed just before the reply is queued, so the reply's frame usually carries the
    /// acknowledgement of its ask: an asker that has its answer rarely finds the ask in a
    /// loss report as well.
    pub fn reply_later(
        self: &Arc<Self>,
        corr: u64,
        to: u64,
        reply: impl std::future::Future<Output = Result<RemoteReply, String>> + Send + 'static,
        receipt: Receipt,
    ) {
        let link = self.clone();
        tokio::spawn(async move {
            let reply = reply.await;
            receipt.sign();
            link.reply_now(corr, to, reply);
        });
    }

    /// Queues the reply to ask `corr` of the peer incarnation `to` now; when the queue is
    /// full, a task waits for room with the encoded frame (the reader never waits on its own
    /// link).
    pub fn reply_now(self: &Arc<Self>, corr: u64, to: u64, reply: Result<RemoteReply, String>) {
        let link = Link {
            inner: self.clone(),
        };
        let sent = link
            .encode_reply(corr, reply)
            .and_then(|(kind, type_id, frame)| {
                self.queue_reply(self.lock(), corr, to, kind, type_id, frame)
            });
        self.reply_not_sent(corr, sent);
    }

    /// Queues the reply to ask `corr` of the peer incarnation `to`, encoded already as
    /// `frame`, under the link's lock `st` (the reader's, which recorded the ask's delivery
    /// under it); when the queue is full, a task waits for room with it (the reader never
    /// waits on its own link). Logs a reply that cannot be queued.
    pub fn reply_frame(
        self: &Arc<Self>,
        st: MutexGuard<'_, State>,
        corr: u64,
        to: u64,
        type_id: u16,
        frame: Vec<u8>,
    ) {
        let sent = self.queue_reply(st, corr, to, Kind::Reply, type_id, frame);
        self.reply_not_sent(corr, sent);
    }

    /// Queues the reply to ask `corr` under the link's lock `st` (see
    /// [`reply_frame`](Self::reply_frame)).
    fn queue_reply(
        self: &Arc<Self>,
        st: MutexGuard<'_, State>,
        corr: u64,
        to: u64,
        kind: Kind,
        type_id: u16,
        frame: Vec<u8>,
    ) -> Result<(), SendError> {
        match self.push_reply(st, kind, type_id, frame, to)? {
            Queued::Yes => {}
            Queued::Stale => self.stale_reply(corr),
            Queued::Full(frame) => {
                let link = Link {
                    inner: self.clone(),
                };
                // Counted before the reader reads on (it looks before each ask).
                let waiting = WaitingReply::new(self);
                tokio::spawn(async move {
                    let sent = link
                        .reply_when_room(kind, type_id, frame, to, waiting)
                        .await;
                    if let Ok(Queued::Stale) = sent {
                        link.inner.stale_reply(corr);
                    }
                    link.inner.reply_not_sent(corr, sent.map(|_| ()));
                });
            }
        }
        Ok(())
    }

    /// Queues a reply to an ask of the peer incarnation `to` under the link's lock `st`, unless
    /// the peer restarted since: checked under the lock that attaches a new incarnation's
    /// connection, which drops the replies already queued for its predecessor.
    fn push_reply(
        &self,
        mut st: MutexGuard<'_, State>,
        kind: Kind,
        type_id: u16,
        frame: Vec<u8>,
        to: u64,
    ) -> Result<Queued, SendError> {
        if let Some(reason) = &st.closed {
            return Err(self.closed_err(reason));
        }
        if !st.inb.knows(to) {
            st.stats.stale_replies += 1;
            return Ok(Queued::Stale);
        }
        self.fits_peer(frame.len())?;
        match st.out.push(kind, type_id, "reply", frame) {
            Ok(_) => {
                self.write_queued(st, kind);
                Ok(Queued::Yes)
            }
            Err(back) => Ok(Queued::Full(back)),
        }
    }

    /// A reply to an ask of the peer's previous incarnation was dropped (the peer restarted).
    fn stale_reply(&self, corr: u64) {
        tracing::debug!(
            target: "mycelium::remote",
            peer = %self.peer, corr,
            "reply to an ask of the peer's previous incarnation dropped: it restarted"
        );
    }

    /// Logs a reply that could not be queued (the asker's link closed, or the reply could not
    /// be encoded even as a failure).
    fn reply_not_sent(&self, corr: u64, sent: Result<(), SendError>) {
        if let Err(e) = sent {
            tracing::warn!(target: "mycelium::remote", peer = %self.peer, corr, error = %e, "reply not sent");
        }
    }
}

impl Link {
    /// Replies to the peer's asks waiting for room in the queue.
    #[doc(hidden)]
    pub fn replies_waiting(&self) -> usize {
        self.inner.replies_waiting.load(Ordering::Acquire)
    }

    /// Queues a reply frame once there is room; counted as waiting until then.
    async fn reply_when_room(
        &self,
        kind: Kind,
        type_id: u16,
        mut frame: Vec<u8>,
        to: u64,
        waiting: WaitingReply,
    ) -> Result<Queued, SendError> {
        let sent = loop {
            let (_counted, room) = self.inner.room.wait();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self
                .inner
                .push_reply(self.inner.lock(), kind, type_id, frame, to)
            {
                Ok(Queued::Full(back)) => frame = back,
                other => break other,
            }
            room.await;
        };
        drop(waiting);
        sent
    }

    /// The frame of the reply to ask `corr`: a reply too large for a frame becomes a failure
    /// the asker can read.
    fn encode_reply(
        &self,
        corr: u64,
        reply: Result<RemoteReply, String>,
    ) -> Result<(Kind, u16, Vec<u8>), SendError> {
        let (kind, type_id, body) = match reply {
            Ok((type_id, body)) => (Kind::Reply, type_id, body),
            Err(reason) => (Kind::ReplyFailed, 0, reason.into_bytes()),
        };
        let spec = self.data_spec(kind, "", type_id, corr, None);
        // A reply too large for the peer becomes a failure it can read, as one too large
        // for this node does.
        let max = self.inner.send_limit();
        let encoded = if body.capacity() - body.len() >= FRAME_HEADERS || body.len() > max as usize
        {
            // In the body's own buffer: made for most replies (the export table's are), it
            // has room for the headers. A body too large for a frame is refused there too,
            // before anything is copied.
            encode_frame_around(body, &spec, max)
        } else {
            // A body made to measure (a `Dispatch` of the caller's own): copied into a frame
            // buffer, one an acknowledged frame left, rather than its own buffer grown (a
            // reallocation, which copies it as well).
            let mut frame = self
                .inner
                .lock()
                .out
                .frame_buffer(FRAME_HEADERS + body.len());
            encode_frame(&mut frame, &spec, max, |o| o.extend_from_slice(&body)).map(|_| frame)
        };
        match encoded {
            Ok(frame) => Ok((kind, type_id, frame)),
            Err(WireError::TooLargeToSend { body_len, max }) => {
                let reason = reply_too_large(body_len, max);
                let frame = self.encode(Kind::ReplyFailed, "", 0, corr, |o| {
                    o.extend_from_slice(reason.as_bytes())
                })?;
                Ok((Kind::ReplyFailed, 0, frame))
            }
            Err(other) => Err(SendError::TooLarge(other)),
        }
    }
}

/// Why a reply whose frame body would be `body_len` bytes is not sent: it is sent as a
/// failure instead.
pub(crate) fn reply_too_large(body_len: usize, max: u32) -> String {
    format!(
        "reply of {body_len} bytes exceeds the frame maximum {max} of this link (the smaller \
         of both nodes' `max_frame`)"
    )
}

/// A reply waiting for room in the queue, counted in [`Inner::replies_waiting`] while it
/// lives: a place in the queue is kept for it ([`Inner::room_for_own`]).
pub(crate) struct WaitingReply(Arc<Inner>);

impl WaitingReply {
    fn new(link: &Arc<Inner>) -> WaitingReply {
        link.replies_waiting.fetch_add(1, Ordering::AcqRel);
        WaitingReply(link.clone())
    }
}

impl Drop for WaitingReply {
    fn drop(&mut self) {
        self.0.replies_waiting.fetch_sub(1, Ordering::AcqRel);
        // The place kept free for this reply is free for this node's own frames again (the
        // reply was queued, or was dropped unqueued: its asker restarted, or the link closed).
        self.0.room.wake_all();
    }
}

/// What became of a reply handed to the queue.
enum Queued {
    Yes,
    /// The queue is full: the frame is handed back.
    Full(Vec<u8>),
    /// The peer incarnation that asked is gone (the peer restarted): dropped.
    Stale,
}

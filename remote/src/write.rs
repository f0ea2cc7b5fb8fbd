//! The write side of one connection: frames leave the link's queue for the transport.
//!
//! The connection's writer task writes whatever is queued, several frames per (vectored)
//! write, acknowledgements and heartbeats with them. The sender of an ask or a reply writes
//! itself, at once, when no one else is writing: it waits for the answer, so nothing would
//! join its frame in a coalesced write, and writing saves the hop to the writer task (a turn
//! of the scheduler, or a wake-up on an idle runtime). Tells and publications go to the writer
//! task, which writes a burst of them with one system call (one ring record on shared
//! memory). Both take frames in queue order under one lock, so the bytes on the wire are the
//! queue's order whoever writes them; bytes taken but not yet written (`pending`) are written
//! first by whoever writes next. TLS is written by the writer task only.
//!
//! Frames taken from the queue are copied into one reused buffer (`pending`) and written from
//! there: the log keeps its own frame for a resend, and a copy of a few hundred bytes costs
//! less than sharing the frame (an allocation for the shared handle, and its reference counts).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWrite;

use crate::frame::{encode_frame, frame_time, set_time, FrameSpec, Kind, ACK_AT};
use crate::link::{Inner, State};
use crate::transport::WriteHalf;

/// The write side of connection `id`: its half of the transport and what was taken from the
/// queue but not yet written.
pub(crate) struct WriteSide {
    id: u64,
    direct: bool,
    out: Mutex<Out>,
}

struct Out {
    half: WriteHalf,
    /// The frames taken from the queue (and control frames), back to back, in order; the
    /// first `offset` bytes are written. Emptied (its capacity kept) once written whole.
    pending: Vec<u8>,
    offset: usize,
    /// The lengths of the pending frames not yet counted as sent, in order; `counted` bytes
    /// of `pending` are frames already counted.
    lens: VecDeque<usize>,
    counted: usize,
    /// Bus time of the newest frame written whole (its `ts_ns`, read from its bytes: read
    /// when it was made or taken for writing, so never later than its write): a heartbeat is
    /// due an interval after it.
    last_sent: Duration,
    /// The last `refill` left frames in the queue (more than a batch was queued).
    more_queued: bool,
}

/// What the writer task's turn found to do.
pub(crate) enum Turn {
    /// Bytes are pending: write them.
    Write,
    /// Nothing to write until woken or the next heartbeat, due at this bus time.
    Idle(Duration),
    /// Only an acknowledgement is owed: wait one turn of the scheduler for a frame to carry it.
    DeferAck,
}

impl WriteSide {
    pub fn new(id: u64, half: WriteHalf, now: Duration) -> WriteSide {
        WriteSide {
            id,
            direct: half.writes_directly(),
            out: Mutex::new(Out {
                half,
                pending: Vec::new(),
                offset: 0,
                lens: VecDeque::new(),
                counted: 0,
                last_sent: now,
                more_queued: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a sender that queued a frame of `kind` writes it itself.
    pub fn writes_directly(&self, kind: Kind) -> bool {
        self.direct && kind.stamped_when_made()
    }

    /// Called by a sender that just queued a frame, with the link's lock `st` it queued it
    /// under: writes what is queued (and an owed acknowledgement) without waiting, if no one
    /// else is writing; the first batch is taken under `st`, without taking it again. `false`
    /// when the writer task must be woken instead: someone else is writing, the transport
    /// would block (the rest stays pending for the writer), or the write failed (the writer
    /// meets the error and ends the connection).
    ///
    /// It writes what is pending, then takes at most two batches from the queue (the first
    /// holds its own frame unless more than a batch was queued ahead of it): senders on other
    /// threads that keep queueing do not keep it writing, the writer task takes over.
    pub fn write_now(&self, link: &Inner, mut st: MutexGuard<'_, State>) -> bool {
        // The write side's lock is taken before the link's everywhere else: only tried here.
        let Ok(mut out) = self.out.try_lock() else {
            return false;
        };
        if !out.is_written() {
            drop(st);
            return self.write_taken(link, out, 0);
        }
        if take_lone(link, &mut st, self.id, &mut out) {
            drop(st);
            return self.write_lone(link, out);
        }
        let refilled = refill_locked(link, &mut st, self.id, &mut out, None, false, false);
        drop(st);
        match refilled {
            Ok(Refilled::Some) => self.write_taken(link, out, 1),
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Writes the one frame [`take_lone`] took: written whole, it is counted sent without
    /// the batch's per-frame bookkeeping (about 200 instructions a frame under callgrind); a
    /// short write goes on as [`write_taken`](Self::write_taken).
    fn write_lone(&self, link: &Inner, mut out: MutexGuard<'_, Out>) -> bool {
        let o = &mut *out;
        let len = o.pending.len();
        let written = o.half.try_write_vectored(&[IoSlice::new(&o.pending)]);
        if matches!(written, Ok(n) if n == len) {
            let made = frame_time(&out.pending);
            out.last_sent = out.last_sent.max(Duration::from_nanos(made));
            out.pending.clear();
            link.metrics.frame_sent(len as u64);
            return true;
        }
        out.lens.push_back(len);
        match written {
            Ok(n) if n > 0 => {
                out.advance(link, n);
                self.write_taken(link, out, 1)
            }
            // Nothing written (the transport would block, or failed): the writer writes it,
            // or meets the error.
            _ => false,
        }
    }

    /// Writes what is pending in `out`, then takes batches from the queue (`refills` taken
    /// already), as [`write_now`](Self::write_now) says.
    fn write_taken(&self, link: &Inner, mut out: MutexGuard<'_, Out>, refills: u32) -> bool {
        let mut refills = refills;
        loop {
            if out.is_written() {
                if refills > 0 && !out.more_queued {
                    return true;
                }
                if refills == 2 {
                    // More is queued: the writer writes it.
                    return false;
                }
                refills += 1;
                match refill(link, self.id, &mut out, None, false, false) {
                    Ok(Refilled::Some) => {}
                    Ok(_) => return true,
                    Err(_) => return false,
                }
            }
            match out.write_with(link, |half, slices| half.try_write_vectored(slices)) {
                Ok(()) => {}
                Err(_) => return false,
            }
        }
    }

    /// The writer task's turn: takes the next frames (an acknowledgement or a heartbeat
    /// first when one is due). With `may_defer_ack`, an acknowledgement with nothing to go
    /// with it waits a turn ([`Turn::DeferAck`]). `Err` when this connection is no longer the
    /// link's.
    pub fn turn(
        &self,
        link: &Inner,
        now: Duration,
        interval: Duration,
        may_defer_ack: bool,
    ) -> Result<Turn, String> {
        let mut out = self.lock();
        if !out.is_written() {
            return Ok(Turn::Write);
        }
        let heartbeat_at = out.last_sent + interval;
        let heartbeat = now >= heartbeat_at;
        match refill(link, self.id, &mut out, Some(now), heartbeat, may_defer_ack)? {
            Refilled::Some => Ok(Turn::Write),
            Refilled::AckDeferred => Ok(Turn::DeferAck),
            Refilled::Nothing => Ok(Turn::Idle(heartbeat_at)),
        }
    }

    /// Writes what is pending, waiting for the transport (the writer task).
    pub fn poll_write_pending(&self, link: &Inner, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut out = self.lock();
        while !out.is_written() {
            let polled = out.write_with(link, |half, slices| {
                match Pin::new(half).poll_write_vectored(cx, slices) {
                    Poll::Ready(result) => result,
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            });
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues the Close frame after what is pending (the link was closed for `reason`). It
    /// acknowledges every frame delivered: a node that shuts down right after a delivery (the
    /// last message of a stream, whose handler ends the process) would otherwise leave the
    /// peer holding it as unacknowledged, and report it lost when it gives up waiting.
    pub fn close_frame(&self, link: &Inner, reason: &str) {
        let ack = {
            let mut st = link.lock();
            let handled = st.inb.handled().take_through();
            st.acked = st.acked.max(handled);
            handled
        };
        let spec = FrameSpec {
            ack,
            ..FrameSpec::control(Kind::Close)
        };
        // A reason too long for a frame (this node's, or the one the peer accepts) is cut (at a
        // character), not the Close frame left out or sent too large for the peer to read.
        let max = link.send_limit();
        let room = (max as usize).saturating_sub(crate::frame::LINK_HEADER_LEN);
        let mut cut = reason.len().min(room);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut out = self.lock();
        if let Ok(len) = encode_frame(&mut out.pending, &spec, max, |o| {
            o.extend_from_slice(&reason.as_bytes()[..cut])
        }) {
            out.lens.push_back(len);
        }
    }

    /// Shuts the transport's write direction down.
    pub fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().half).poll_shutdown(cx)
    }
}

impl Out {
    /// Everything taken has been written.
    fn is_written(&self) -> bool {
        self.offset == self.pending.len()
    }

    /// One write of the pending bytes with `write` (as many as one call takes); `Ok` when it
    /// wrote something.
    fn write_with(
        &mut self,
        link: &Inner,
        write: impl FnOnce(&mut WriteHalf, &[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        let n = write(
            &mut self.half,
            &[IoSlice::new(&self.pending[self.offset..])],
        )?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.advance(link, n);
        Ok(())
    }

    /// `n` more bytes were written: counts the frames written whole, and empties the buffer
    /// once all of it is.
    fn advance(&mut self, link: &Inner, n: usize) {
        self.offset = (self.offset + n).min(self.pending.len());
        while let Some(&len) = self.lens.front() {
            if self.counted + len > self.offset {
                break;
            }
            let made = frame_time(&self.pending[self.counted..self.counted + len]);
            self.last_sent = self.last_sent.max(Duration::from_nanos(made));
            self.counted += len;
            self.lens.pop_front();
            link.metrics.frame_sent(len as u64);
        }
        if self.is_written() {
            self.pending.clear();
            self.offset = 0;
            self.counted = 0;
            self.lens.clear();
        }
    }
}

/// The sender's own frame alone in the queue with nothing pending (the common case of an ask
/// or a reply): copied into `pending` with the acknowledgement owed, without the bookkeeping
/// of a batch, for [`WriteSide::write_lone`]. `false` when the queue holds none or more, or
/// another connection is the link's (`refill` sees to those).
fn take_lone(link: &Inner, st: &mut State, id: u64, out: &mut Out) -> bool {
    if st.connection != Some(id) {
        return false;
    }
    let ack = st.inb.handled().take_through();
    let Some(frame) = st.out.take_lone() else {
        return false;
    };
    // Called with everything written: `pending` was emptied then (`Out::advance`), so the
    // frame starts at its first byte.
    debug_assert!(out.pending.is_empty());
    out.pending.extend_from_slice(frame);
    if frame_time(&out.pending) == 0 {
        // Never so far: the lone frame is the asker's or replier's own, stamped when made.
        set_time(&mut out.pending, link.clock.now());
    }
    if ack > st.acked && out.pending.len() >= ACK_AT + 8 {
        // The frame carries the acknowledgement (the log keeps it as queued).
        out.pending[ACK_AT..ACK_AT + 8].copy_from_slice(&ack.to_le_bytes());
        st.acked = ack;
    }
    out.more_queued = false;
    true
}

/// What `refill` found.
enum Refilled {
    /// Bytes are pending.
    Some,
    /// Nothing to write.
    Nothing,
    /// Only an acknowledgement is owed, and it may wait a turn.
    AckDeferred,
}

/// Copies the next queued frames into `pending` (which is written whole), with an
/// acknowledgement if one is owed: in the first frame's `ack` field (the log keeps the frame
/// as it was queued, for a resend), or in an Ack frame ahead of them when there are none (or
/// a heartbeat if `heartbeat` and no acknowledgement goes). With `may_defer_ack`, an
/// acknowledgement with no frame to go with it is held back (the writer's first look).
/// `Err` when this connection is no longer the link's.
///
/// The frames taken that were not stamped when made ([`Kind::stamped_when_made`]) get the
/// bus time `now`, or the clock's, read once for the batch when `now` is `None`; the copies
/// are stamped, the log keeps its frames as queued (a resend stamps them again).
fn refill(
    link: &Inner,
    id: u64,
    out: &mut Out,
    now: Option<Duration>,
    heartbeat: bool,
    may_defer_ack: bool,
) -> Result<Refilled, String> {
    refill_locked(
        link,
        &mut link.lock(),
        id,
        out,
        now,
        heartbeat,
        may_defer_ack,
    )
}

/// [`refill`] under the link's lock `st`, held already.
fn refill_locked(
    link: &Inner,
    st: &mut State,
    id: u64,
    out: &mut Out,
    mut now: Option<Duration>,
    heartbeat: bool,
    may_defer_ack: bool,
) -> Result<Refilled, String> {
    if st.connection != Some(id) {
        return Err("replaced by a newer connection".to_owned());
    }
    let ack = st.inb.handled().take_through();
    let owed = ack > st.acked;
    let has_data = st.out.has_unwritten();
    if owed && !has_data && !heartbeat && may_defer_ack {
        return Ok(Refilled::AckDeferred);
    }
    // A control frame goes first when no data frame carries the acknowledgement.
    let kind = if owed && !has_data {
        Some(Kind::Ack)
    } else if heartbeat && !owed {
        Some(Kind::Heartbeat)
    } else {
        None
    };
    if let Some(kind) = kind {
        let mut spec = FrameSpec::control(kind);
        spec.ack = ack;
        spec.ts_ns = now.get_or_insert_with(|| link.clock.now()).as_nanos() as u64;
        if let Ok(len) = encode_frame(&mut out.pending, &spec, link.config.max_frame, |_| {}) {
            out.lens.push_back(len);
            st.acked = ack;
        }
    }
    let Out { pending, lens, .. } = out;
    let first = pending.len();
    st.out
        .take_batch(link.config.batch_frames, link.config.batch_bytes, |frame| {
            let at = pending.len();
            pending.extend_from_slice(frame);
            lens.push_back(frame.len());
            if frame_time(frame) == 0 {
                set_time(
                    &mut pending[at..],
                    *now.get_or_insert_with(|| link.clock.now()),
                );
            }
        });
    if owed && st.acked < ack && pending.len() >= first + ACK_AT + 8 {
        // The first data frame carries the acknowledgement.
        pending[first + ACK_AT..first + ACK_AT + 8].copy_from_slice(&ack.to_le_bytes());
        st.acked = ack;
    }
    out.more_queued = st.out.has_unwritten();
    Ok(if out.is_written() {
        Refilled::Nothing
    } else {
        Refilled::Some
    })
}

//! The sequencing state of one link, independent of sockets: the outbound log (queue and
//! resend buffer in one) and the inbound order check.
//!
//! Outbound, every data frame gets the next sequence number when it is queued and stays in
//! the log until the peer acknowledges it. The log is bounded: it is both the per-link queue
//! (frames not yet written) and the resend buffer (frames written, not yet acknowledged), so a
//! full log makes `tell` wait and `try_tell` hand the message back, and the resend buffer can
//! never overflow. On reconnect to the same peer instance the writer starts again at the first
//! unacknowledged frame; the receiver drops what it already delivered. Only when the peer has
//! lost its state (it restarted) or the link gives up are frames removed unacknowledged, and
//! then they are returned as a loss report.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use crate::event::{LossReason, LossReport, LostMessage};
use crate::frame::Kind;
use crate::handled::{AckWake, Handled};

/// Offset of the sequence number in a frame (the codec header's `seq`).
const SEQ_AT: usize = 12;

/// A queued or unacknowledged data frame.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub kind: Kind,
    pub type_id: u16,
    pub message: &'static str,
    /// Queued beside the capacity ([`Outbound::push_beyond_capacity`]): a control frame of
    /// the link's own, which takes no sender's place.
    pub beside: bool,
}

impl Entry {
    /// The service or topic name the frame is for (empty for a reply), read from the frame
    /// itself: only loss reports and interest renewals ask for it, so the log keeps no copy
    /// of it (a reference count taken and given back a frame).
    pub fn name(&self) -> &str {
        match crate::frame::parse_frame(&self.bytes, u32::MAX) {
            Ok(Some((frame, _))) => frame.name,
            _ => "",
        }
    }
}

/// Outbound half: the bounded log.
#[derive(Debug)]
pub(crate) struct Outbound {
    log: VecDeque<Entry>,
    next_seq: u64,
    /// Highest sequence number ever written to a socket.
    written: u64,
    /// Next sequence number to write on the current connection.
    cursor: u64,
    capacity: usize,
    /// The frames in the log queued beside the capacity: the capacity bounds the others.
    beside: usize,
    /// The bytes of the frames in the log.
    bytes: usize,
    /// Frames are queued only while [`bytes`](Self::bytes) is below it (so the log holds at
    /// most this plus one frame).
    byte_capacity: usize,
    /// Frames taken out of the log without the peer's acknowledgement, ever (reported lost,
    /// or replies to a restarted peer's predecessor dropped): a drain that sees it grow
    /// knows that not everything it waited for was acknowledged.
    removed_unacknowledged: u64,
    /// Buffers of acknowledged frames, kept for the frames encoded next ([`SPARE_FRAMES`] at
    /// most, none larger than [`SPARE_FRAME_BYTES`]). An acknowledgement releases frames by
    /// the dozen, more than the allocator's per-thread cache keeps, and the rest took its slow
    /// path: a malloc and a free cost about 370 instructions per frame.
    spare: Vec<Vec<u8>>,
}

/// Most buffers an outbound log keeps for reuse.
const SPARE_FRAMES: usize = 256;

/// Largest buffer an outbound log keeps for reuse: a frame of a large message is freed.
const SPARE_FRAME_BYTES: usize = 1024;

impl Outbound {
    pub fn new(capacity: usize) -> Self {
        Outbound {
            log: VecDeque::with_capacity(capacity.min(4096)),
            next_seq: 1,
            written: 0,
            cursor: 1,
            capacity: capacity.max(1),
            beside: 0,
            bytes: 0,
            byte_capacity: usize::MAX,
            removed_unacknowledged: 0,
            spare: Vec::new(),
        }
    }

    /// An empty buffer for the next frame, with room for `want` bytes: one an acknowledged
    /// frame left, if any.
    pub fn frame_buffer(&mut self, want: usize) -> Vec<u8> {
        match self.spare.pop() {
            Some(mut buf) => {
                buf.reserve(want);
                buf
            }
            None => Vec::with_capacity(want),
        }
    }

    /// Keeps the buffer of a frame that left the log, emptied, if there is room for it.
    fn keep_buffer(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_FRAMES && buf.capacity() <= SPARE_FRAME_BYTES {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// The log also holds frames only while their bytes are below `bytes` (a frame is
    /// queued while they are, so one large frame always goes, and the log holds at most
    /// `bytes` plus one frame).
    pub fn with_byte_capacity(mut self, bytes: usize) -> Self {
        self.byte_capacity = bytes.max(1);
        self
    }

    /// Room for a sender's frame: the frames queued beside the capacity (the link's own
    /// control frames) do not count against it, so a gap notice queued behind a full log
    /// never keeps a sender out once the peer has acknowledged one of the senders' frames.
    pub fn has_room(&self) -> bool {
        self.has_room_beside(0)
    }

    /// Room for a frame with `reserved` places kept free beside it.
    pub fn has_room_beside(&self, reserved: usize) -> bool {
        (self.log.len() - self.beside).saturating_add(reserved) < self.capacity
            && self.bytes < self.byte_capacity
    }

    /// Takes a frame that left the log out of the counts.
    fn left(&mut self, e: &Entry) {
        self.bytes -= e.bytes.len();
        if e.beside {
            self.beside -= 1;
        }
    }

    /// The bytes of the frames queued or awaiting acknowledgement.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.log.len()
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// The sequence number of the last frame queued so far (0 before the first).
    pub fn last_queued(&self) -> u64 {
        self.next_seq - 1
    }

    /// True when no frame numbered up to `seq` is left in the log: the peer acknowledged
    /// them, or they were taken out unacknowledged ([`removed_unacknowledged`](Self::removed_unacknowledged)).
    pub fn settled_through(&self, seq: u64) -> bool {
        self.log.front().is_none_or(|e| e.seq > seq)
    }

    /// Frames numbered up to `seq` still in the log.
    pub fn unsettled_through(&self, seq: u64) -> usize {
        self.log.iter().take_while(|e| e.seq <= seq).count()
    }

    /// How many frames were ever taken out of the log without the peer's acknowledgement.
    pub fn removed_unacknowledged(&self) -> u64 {
        self.removed_unacknowledged
    }

    /// Queues an encoded frame (its seq bytes are overwritten). Hands it back when full.
    pub fn push(
        &mut self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
    ) -> Result<u64, Vec<u8>> {
        if !self.has_room() {
            return Err(frame);
        }
        self.queue(kind, type_id, message, frame, false)
    }

    /// Queues an encoded frame even when the log is full: for the few control frames the
    /// link itself must send (the renewal of this node's topic interest to a restarted peer,
    /// at most one frame per interest), which a full log must not refuse.
    pub fn push_beyond_capacity(
        &mut self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
    ) -> Result<u64, Vec<u8>> {
        self.queue(kind, type_id, message, frame, true)
    }

    fn queue(
        &mut self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        mut frame: Vec<u8>,
        beside: bool,
    ) -> Result<u64, Vec<u8>> {
        if frame.len() < SEQ_AT + 8 {
            return Err(frame);
        }
        let seq = self.next_seq;
        frame[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_le_bytes());
        self.next_seq += 1;
        self.bytes += frame.len();
        self.log.push_back(Entry {
            seq,
            bytes: frame,
            kind,
            type_id,
            message,
            beside,
        });
        self.beside += usize::from(beside);
        Ok(seq)
    }

    /// The peer delivered everything up to `upto`: drops those entries. Returns how many.
    pub fn ack(&mut self, upto: u64) -> usize {
        // Never past what was written: a lying ack must not drop unsent frames.
        let upto = upto.min(self.written);
        let mut n = 0;
        while self.log.front().is_some_and(|e| e.seq <= upto) {
            if let Some(e) = self.log.pop_front() {
                self.left(&e);
                self.keep_buffer(e.bytes);
            }
            n += 1;
        }
        n
    }

    /// The queued frames never written to any connection, in order.
    pub fn never_written(&self) -> impl Iterator<Item = &Entry> {
        let written = self.written;
        self.log.iter().filter(move |e| e.seq > written)
    }

    /// Frames are queued that the current connection has not written yet.
    pub fn has_unwritten(&self) -> bool {
        self.cursor < self.next_seq
    }

    /// The one frame queued that the current connection has not written, taken as
    /// [`take_batch`](Self::take_batch) would take it; `None` when there are none or more.
    pub fn take_lone(&mut self) -> Option<&[u8]> {
        if self.cursor + 1 != self.next_seq {
            return None;
        }
        let front = self.log.front()?.seq;
        let e = self.log.get(self.cursor.checked_sub(front)? as usize)?;
        self.cursor = e.seq + 1;
        self.written = self.written.max(e.seq);
        Some(&e.bytes)
    }

    /// Up to `max_frames` frames (and about `max_bytes`) to write next, each handed to
    /// `take` in order, advancing the cursor.
    pub fn take_batch(&mut self, max_frames: usize, max_bytes: usize, mut take: impl FnMut(&[u8])) {
        let Some(front) = self.log.front().map(|e| e.seq) else {
            return;
        };
        let start = self.cursor.saturating_sub(front) as usize;
        let mut bytes = 0;
        for e in self.log.iter().skip(start).take(max_frames) {
            if bytes > 0 && bytes + e.bytes.len() > max_bytes {
                break;
            }
            bytes += e.bytes.len();
            take(&e.bytes);
            self.cursor = e.seq + 1;
            self.written = self.written.max(e.seq);
        }
    }

    /// The first sequence number the next connection will carry, if the peer kept its state
    /// (`continuity`) or not.
    pub fn first_seq(&self, continuity: bool) -> u64 {
        let front = self.log.front().map_or(self.next_seq, |e| e.seq);
        if continuity {
            front
        } else {
            front.max(self.written + 1).min(self.next_seq)
        }
    }

    /// Prepares a new connection. With `continuity` the peer delivered up to `received` and
    /// everything after is resent. Without, frames already written may have reached a peer
    /// instance that is gone: they are removed and reported.
    pub fn resume(
        &mut self,
        continuity: bool,
        received: u64,
        reason: LossReason,
        peer: &str,
        peer_instance: Option<u64>,
    ) -> (u64, Option<LossReport>) {
        let mut loss = None;
        if continuity {
            self.ack(received);
        } else {
            let cut = self.written;
            loss = self.remove_while(|e| e.seq <= cut, reason, peer, peer_instance);
        }
        self.cursor = self.log.front().map_or(self.next_seq, |e| e.seq);
        let resent = self.written.saturating_sub(self.cursor.saturating_sub(1));
        (resent, loss)
    }

    /// The peer restarted: removes the replies queued and never written, which answer asks
    /// of its predecessor (the new process would take them for answers to its own asks with
    /// the same correlation ids), and numbers the frames left on from the last one written,
    /// as the resume point sent to the new process said. Returns how many were removed.
    /// Called after [`resume`](Self::resume) without continuity, which left only frames never
    /// written.
    pub fn drop_unwritten_replies(&mut self) -> usize {
        let removed = self.remove_unwritten(|e| matches!(e.kind, Kind::Reply | Kind::ReplyFailed));
        let n = removed.len();
        for e in removed {
            self.keep_buffer(e.bytes);
        }
        n
    }

    /// Takes out the frames never written whose body is larger than `max_body` (the most the
    /// peer accepts, learnt in this connection's handshake: they were queued before it was
    /// known) and numbers the others on, as [`drop_unwritten_replies`](Self::drop_unwritten_replies)
    /// does. Returns them, in order, with the numbers they had.
    pub fn remove_too_large(&mut self, max_body: u32) -> Vec<Entry> {
        self.remove_unwritten(|e| body_len(e.bytes.len()) > max_body as usize)
    }

    /// Removes the frames never written for which `remove` holds, and numbers those left on
    /// from the last frame written. No connection carried them, so their numbers are free:
    /// the peer, whichever resume point it was sent, expects `written + 1` after the frames
    /// written, and sees no gap. Returns the removed frames, in order.
    fn remove_unwritten(&mut self, mut remove: impl FnMut(&Entry) -> bool) -> Vec<Entry> {
        let written = self.written;
        let mut removed = Vec::new();
        let mut kept = VecDeque::with_capacity(self.log.len());
        let mut next = written + 1;
        for mut e in std::mem::take(&mut self.log) {
            if e.seq > written {
                if remove(&e) {
                    removed.push(e);
                    continue;
                }
                e.seq = next;
                e.bytes[SEQ_AT..SEQ_AT + 8].copy_from_slice(&next.to_le_bytes());
                next += 1;
            }
            kept.push_back(e);
        }
        self.log = kept;
        for e in &removed {
            self.left(e);
        }
        self.removed_unacknowledged += removed.len() as u64;
        if !removed.is_empty() {
            self.next_seq = next;
            // The frames written keep their numbers: a cursor at one of them still points at
            // it, one past them at the first frame numbered on (or the next to come).
            self.cursor = self.cursor.min(next);
        }
        removed
    }

    /// The link gave up: everything left is lost.
    pub fn give_up(&mut self, peer: &str, peer_instance: Option<u64>) -> Option<LossReport> {
        let loss = self.remove_while(|_| true, LossReason::GaveUp, peer, peer_instance);
        self.written = self.next_seq - 1;
        self.cursor = self.next_seq;
        loss
    }

    fn remove_while(
        &mut self,
        lost: impl Fn(&Entry) -> bool,
        reason: LossReason,
        peer: &str,
        peer_instance: Option<u64>,
    ) -> Option<LossReport> {
        let mut removed = Vec::new();
        while self.log.front().is_some_and(&lost) {
            if let Some(e) = self.log.pop_front() {
                self.left(&e);
                removed.push(e);
            }
        }
        self.removed_unacknowledged += removed.len() as u64;
        loss_report(&removed, reason, peer, peer_instance)
    }
}

/// The length of the body of a frame of `frame_len` bytes (what `max_frame` bounds): all
/// but the codec's header.
pub(crate) fn body_len(frame_len: usize) -> usize {
    frame_len.saturating_sub(mycelium_codec::HEADER_LEN)
}

/// The report of the frames `removed` (in sequence order), if there are any.
pub(crate) fn loss_report(
    removed: &[Entry],
    reason: LossReason,
    peer: &str,
    peer_instance: Option<u64>,
) -> Option<LossReport> {
    let messages: Vec<LostMessage> = removed
        .iter()
        .map(|e| LostMessage {
            seq: e.seq,
            kind: e.kind,
            type_id: e.type_id,
            name: Arc::from(e.name()),
            message: e.message,
        })
        .collect();
    let (first, last) = (messages.first()?.seq, messages.last()?.seq);
    Some(LossReport {
        peer: peer.to_owned(),
        peer_instance,
        reason,
        first_seq: first,
        last_seq: last,
        messages,
    })
}

/// What to do with an incoming data frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// The next one: deliver it.
    Deliver,
    /// Already delivered (a resend): drop it.
    Duplicate,
    /// A frame is missing before it: the link is broken.
    Gap { expected: u64 },
}

/// Inbound half: which peer instance we hear from, what was delivered (the order check, and
/// the resends it drops) and what was handled (the acknowledgement, [`Handled`]).
#[derive(Debug)]
pub(crate) struct Inbound {
    /// The peer's instance id (for reports).
    pub instance: Option<u64>,
    /// The peer's incarnation: what `delivered` refers to.
    pub incarnation: Option<u64>,
    pub delivered: u64,
    /// Counts the times the numbering started anew ([`Inbound::resume`] without
    /// continuity): a delivery checked before it is not recorded after it.
    epoch: u64,
    /// The frames of this numbering handled.
    handled: Arc<Handled>,
    /// Wakes the writer when receipts are signed.
    wake: Weak<dyn AckWake>,
}

impl Default for Inbound {
    fn default() -> Self {
        Inbound::new(Weak::<NoWake>::new())
    }
}

/// No writer to wake (a record outside a link).
struct NoWake;

impl AckWake for NoWake {
    fn ack_ready(&self) {}
}

/// Whose numbering a frame that passed [`Inbound::check`] belongs to: the [`Inbound`]'s epoch
/// at the check (a new peer instance starts a new epoch too).
pub(crate) type Numbering = u64;

impl Inbound {
    /// A link's inbound half, whose receipts wake `wake`.
    pub fn new(wake: Weak<dyn AckWake>) -> Self {
        Inbound {
            instance: None,
            incarnation: None,
            delivered: 0,
            epoch: 0,
            handled: Handled::new(0, wake.clone()),
            wake,
        }
    }

    /// The record of handled frames of the numbering frames checked now belong to.
    pub fn handled(&self) -> &Arc<Handled> {
        &self.handled
    }

    /// What the link acknowledges: every frame up to it is handled.
    pub fn handled_through(&self) -> u64 {
        self.handled.through()
    }

    /// A new connection from the peer `(instance, incarnation)`, whose first frame will be
    /// `first_seq`. `peer_knows_us`: the peer's verdict names this node's incarnation as the
    /// one it last heard from, so it kept its state for this link. A peer that does not (it
    /// never installed a connection from this node) numbers its frames anew: what was
    /// delivered before says nothing about them.
    pub fn resume(
        &mut self,
        (instance, incarnation): (u64, u64),
        first_seq: u64,
        peer_knows_us: bool,
    ) {
        let first = first_seq.max(1);
        if self.knows(incarnation) && peer_knows_us {
            // The sender reported frames up to `first - 1` lost if it skipped any.
            self.delivered = self.delivered.max(first - 1);
            self.handled.skip_through(first - 1);
        } else {
            self.instance = Some(instance);
            self.incarnation = Some(incarnation);
            self.delivered = first - 1;
            self.epoch = self.epoch.wrapping_add(1);
            self.handled = Handled::new(first - 1, self.wake.clone());
        }
    }

    /// Whether `delivered` refers to the peer incarnation `incarnation`.
    pub fn knows(&self, incarnation: u64) -> bool {
        self.incarnation == Some(incarnation)
    }

    /// The numbering frames checked now belong to (for [`Inbound::record`]).
    pub fn numbering(&self) -> Numbering {
        self.epoch
    }

    /// Frame `seq` of `numbering`, which passed [`Inbound::check`], was delivered. Ignored
    /// when the numbering started anew meanwhile (a different peer instance, or the same one
    /// with fresh state); never moves backwards, so a late record (a replaced connection's)
    /// cannot make delivered frames deliverable again.
    pub fn record(&mut self, numbering: Numbering, seq: u64) {
        if self.numbering() == numbering {
            self.delivered = self.delivered.max(seq);
        }
    }

    /// [`record`](Self::record) of a frame handled with its delivery (a reply, an
    /// acknowledgement's carrier): it counts as handled at once.
    pub fn record_handled(&mut self, numbering: Numbering, seq: u64) {
        if self.numbering() == numbering {
            self.delivered = self.delivered.max(seq);
            self.handled.mark(seq);
        }
    }

    pub fn check(&self, seq: u64) -> Order {
        // A peer that numbers up to u64::MAX gets a gap (the link closes), never an overflow.
        let expected = self.delivered.saturating_add(1);
        if seq <= self.delivered {
            Order::Duplicate
        } else if seq == expected && self.delivered < u64::MAX {
            Order::Deliver
        } else {
            Order::Gap { expected }
        }
    }
}

#[cfg(test)]
mod tests;

//! What senders call: tells and publications queued with or without waiting for room, the
//! frames they are encoded into, and the one lock under which a frame is queued (and an ask
//! registered).

use std::sync::Arc;

use super::asks::{next_corr, register};
use super::{Link, ReplyTo, BODY_GUESS, FRAME_HEADERS, UNNAMED};
use crate::error::SendError;
use crate::frame::{encode_frame, FrameSpec, Kind};

impl Link {
    /// Encodes a data frame into a buffer with room for a body of [`BODY_GUESS`] bytes (one an
    /// acknowledged frame left, when the log kept one): a buffer that grows while the body is
    /// written costs a reallocation and a copy.
    pub(super) fn encode(
        &self,
        kind: Kind,
        name: &str,
        type_id: u16,
        corr: u64,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Vec<u8>, SendError> {
        let frame = self.inner.lock().out.frame_buffer(frame_guess(name));
        self.encode_into(frame, kind, name, type_id, corr, None, body)
    }

    /// Encodes a data frame into `frame`, an empty buffer.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn encode_into(
        &self,
        mut frame: Vec<u8>,
        kind: Kind,
        name: &str,
        type_id: u16,
        corr: u64,
        key: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Vec<u8>, SendError> {
        let spec = self.data_spec(kind, name, type_id, corr, key);
        encode_frame(&mut frame, &spec, self.inner.config.max_frame, body)
            .map_err(SendError::TooLarge)?;
        Ok(frame)
    }

    /// Under one lock: refuses a frame of this node's own when the link is closed or (with
    /// `room`) its queue has no room for it, and takes a correlation id for an ask (`ask`, 0
    /// otherwise) and a buffer for a frame named `name` (one an acknowledged frame left, if
    /// any).
    pub(super) fn begin(
        &self,
        ask: bool,
        room: bool,
        name: &str,
    ) -> Result<(u64, Vec<u8>), SendError> {
        let mut st = self.inner.lock();
        if let Some(reason) = &st.closed {
            return Err(self.closed_err(reason));
        }
        if room && !self.inner.room_for_own(&st) {
            return Err(SendError::Full);
        }
        let corr = if ask { next_corr(&mut st) } else { 0 };
        Ok((corr, st.out.frame_buffer(frame_guess(name))))
    }

    /// The fields of a data frame sent now (its sequence number is written by the log).
    pub(super) fn data_spec<'a>(
        &self,
        kind: Kind,
        name: &'a str,
        type_id: u16,
        corr: u64,
        key: Option<u64>,
    ) -> FrameSpec<'a> {
        // An ask or a reply is stamped as it is made: its sender writes it at once. Any
        // other frame waits for a batch, and whoever takes the batch stamps it with one
        // reading of the clock (`write.rs`, `refill_locked`): read for each frame, the clock
        // took a sixth of the sending thread's time in a stream of tells.
        let ts_ns = if kind.stamped_when_made() {
            self.inner.clock.now().as_nanos() as u64
        } else {
            0
        };
        FrameSpec {
            kind,
            type_id,
            // Placeholder: the log writes the real sequence number.
            seq: u64::MAX,
            ts_ns,
            ack: 0,
            corr,
            name,
            key,
        }
    }

    /// Queues a data frame without waiting: `Err(Full)` when the queue is full, and `body` is
    /// then not called (so a typed caller still holds its message).
    pub fn try_send(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        self.try_send_named(kind, name, type_id, UNNAMED, body)
    }

    pub(crate) fn try_send_named(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let (_, frame) = self.begin(false, true, name)?;
        let frame = self.encode_into(frame, kind, name, type_id, 0, None, body)?;
        self.push(kind, type_id, message, frame, false)
            .map_err(|e| e.err().unwrap_or(SendError::Full))
    }

    /// Queues a data frame, waiting for room.
    pub async fn send(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        self.send_named(kind, name, type_id, UNNAMED, body).await
    }

    /// Queues a publication with its key, waiting for room.
    pub(crate) async fn publish_keyed(
        &self,
        topic: &Arc<str>,
        type_id: u16,
        message: &'static str,
        key: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let frame = self.inner.lock().out.frame_buffer(frame_guess(topic));
        let frame = self.encode_into(frame, Kind::Publish, topic, type_id, 0, key, body)?;
        self.push_waiting(Kind::Publish, type_id, message, frame)
            .await
    }

    /// Queues a publication with its key without waiting; `body` is not called when full.
    pub(crate) fn try_publish_keyed(
        &self,
        topic: &Arc<str>,
        type_id: u16,
        message: &'static str,
        key: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let (_, frame) = self.begin(false, true, topic)?;
        let frame = self.encode_into(frame, Kind::Publish, topic, type_id, 0, key, body)?;
        self.push(Kind::Publish, type_id, message, frame, false)
            .map_err(|e| e.err().unwrap_or(SendError::Full))
    }

    pub(crate) async fn send_named(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let frame = self.encode(kind, name, type_id, 0, body)?;
        self.push_waiting(kind, type_id, message, frame).await
    }

    async fn push_waiting(
        &self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
    ) -> Result<u64, SendError> {
        self.push_waiting_asking(kind, type_id, message, frame, None)
            .await
    }

    /// [`push_waiting`](Self::push_waiting); with `ask`, the ask's correlation id and where
    /// its answer goes, registered in the asks in flight when (and only when) the frame is
    /// queued.
    pub(super) async fn push_waiting_asking(
        &self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        mut frame: Vec<u8>,
        mut ask: Option<(u64, &mut Option<ReplyTo>)>,
    ) -> Result<u64, SendError> {
        // Most sends find room: only a full queue registers for the wake-up (and then tries
        // again, so a wake-up between the two tries is not missed).
        fn again<'a>(
            ask: &'a mut Option<(u64, &mut Option<ReplyTo>)>,
        ) -> Option<(u64, &'a mut Option<ReplyTo>)> {
            ask.as_mut().map(|(corr, slot)| (*corr, &mut **slot))
        }
        match self.push_asking(kind, type_id, message, frame, true, again(&mut ask)) {
            Ok(seq) => return Ok(seq),
            Err(Ok(back)) => frame = back,
            Err(Err(e)) => return Err(e),
        }
        loop {
            let (_counted, room) = self.inner.room.wait();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self.push_asking(kind, type_id, message, frame, true, again(&mut ask)) {
                Ok(seq) => return Ok(seq),
                Err(Ok(back)) => frame = back,
                Err(Err(e)) => return Err(e),
            }
            room.await;
        }
    }

    /// `Err(Ok(frame))`: full, frame handed back; `Err(Err(e))`: closed.
    #[allow(clippy::type_complexity)]
    fn push(
        &self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
        hand_back: bool,
    ) -> Result<u64, Result<Vec<u8>, SendError>> {
        self.push_asking(kind, type_id, message, frame, hand_back, None)
    }

    /// [`push`](Self::push); with `ask`, registers the ask (taken from its slot) in the asks
    /// in flight under the same lock as it is queued: an ask waiting for room is not in
    /// flight, so a connection that drops meanwhile does not fail it (it goes out on the
    /// next one), and a link that closes meanwhile refuses it, its request unsent.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    pub(super) fn push_asking(
        &self,
        kind: Kind,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
        hand_back: bool,
        ask: Option<(u64, &mut Option<ReplyTo>)>,
    ) -> Result<u64, Result<Vec<u8>, SendError>> {
        let mut st = self.inner.lock();
        if let Some(reason) = &st.closed {
            return Err(Err(self.closed_err(reason)));
        }
        // Checked under the lock that attaches a connection: a frame queued before the
        // peer's limit was known is checked there instead.
        self.inner.fits_peer(frame.len()).map_err(Err)?;
        if !self.inner.room_for_own(&st) {
            return Err(if hand_back {
                Ok(frame)
            } else {
                Err(SendError::Full)
            });
        }
        match st.out.push(kind, type_id, message, frame) {
            Ok(seq) => {
                let gone = match ask.and_then(|(corr, slot)| Some((corr, slot.take()?))) {
                    Some((corr, reply_to)) => register(&mut st, corr, reply_to),
                    None => Vec::new(),
                };
                self.inner.write_queued(st, kind);
                // Their answer slots go outside the lock.
                drop(gone);
                Ok(seq)
            }
            Err(back) if hand_back => Err(Ok(back)),
            Err(_) => Err(Err(SendError::Full)),
        }
    }
}

/// The size a frame named `name` is first made for: a buffer that grows while the body is
/// written costs a reallocation and a copy, and most contract messages fit [`BODY_GUESS`].
fn frame_guess(name: &str) -> usize {
    FRAME_HEADERS + name.len() + BODY_GUESS
}

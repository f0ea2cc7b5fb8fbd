//! The two ends of a shared-memory link for threads: blocking send and receive with the
//! spin-then-park wake-up, backpressure when the ring is full, and peer-death detection.

use std::sync::Arc;
use std::time::Duration;

use super::error::ShmError;
use super::ring::{Consumer, Producer};
use super::segment::{segment_name, Segment};
use super::wake::{spin_until, WaitPolicy};

/// How a shared-memory link is set up.
#[derive(Clone, Debug)]
pub struct ShmOptions {
    /// Segment names start with this (`/{prefix}.{link}`). Default `mycelium`.
    pub prefix: String,
    /// Bytes of each ring's data area: a power of two, 4 KiB to 1 GiB. The largest message
    /// is half of it less 8 bytes. Default 1 MiB.
    pub ring_bytes: usize,
    /// How each end waits for the other.
    pub wait: WaitPolicy,
    /// The schema digest both sides must share.
    pub digest: [u8; 32],
}

impl ShmOptions {
    /// Defaults for schema `digest`.
    pub fn new(digest: [u8; 32]) -> ShmOptions {
        ShmOptions {
            prefix: "mycelium".into(),
            ring_bytes: 1 << 20,
            wait: WaitPolicy::default(),
            digest,
        }
    }
}

/// Creates the segment of `link` (replacing a stale one left by a dead process) and returns
/// this side's ends.
pub fn create(link: &str, opts: &ShmOptions) -> Result<(ShmSender, ShmReceiver), ShmError> {
    let name = segment_name(&opts.prefix, link)?;
    let seg = Arc::new(Segment::create(&name, opts.ring_bytes, opts.digest)?);
    Ok(ends(seg, opts.wait))
}

/// Opens the segment of `link` that the other side created.
pub fn open(link: &str, opts: &ShmOptions) -> Result<(ShmSender, ShmReceiver), ShmError> {
    let name = segment_name(&opts.prefix, link)?;
    let seg = Arc::new(Segment::open(&name, opts.digest)?);
    Ok(ends(seg, opts.wait))
}

fn ends(seg: Arc<Segment>, wait: WaitPolicy) -> (ShmSender, ShmReceiver) {
    let (producer, consumer) = seg.ends();
    (
        ShmSender {
            seg: seg.clone(),
            ring: producer,
            wait,
        },
        ShmReceiver {
            seg,
            ring: consumer,
            wait,
        },
    )
}

fn gone(seg: &Segment) -> ShmError {
    ShmError::PeerGone {
        name: seg.name().to_owned(),
        pid: seg.peer_pid().unwrap_or(0),
    }
}

/// The sending end of a link.
#[derive(Debug)]
pub struct ShmSender {
    seg: Arc<Segment>,
    ring: Producer,
    wait: WaitPolicy,
}

impl ShmSender {
    /// Sends one message, waiting for room while the ring is full (spin, then park; the
    /// peer's liveness is checked at every `liveness_check`). Nothing is dropped: the call
    /// returns when the message is in the ring, or with an error that says why it is not.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), ShmError> {
        loop {
            if self.ring.try_push(msg).map_err(ShmError::Ring)? {
                return Ok(());
            }
            let ring = &self.ring;
            if spin_until(self.wait.spin, || ring.ready_for(msg.len())) {
                continue;
            }
            let woke = ring
                .writable()
                .park_unless(|| ring.ready_for(msg.len()), Some(self.wait.liveness_check));
            if !woke && !self.seg.peer_alive() {
                return Err(gone(&self.seg));
            }
        }
    }

    /// Sends one message if the ring has room now; `Ok(false)` (nothing sent) when it is full.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool, ShmError> {
        self.ring.try_push(msg).map_err(ShmError::Ring)
    }

    /// Largest message the ring carries;
    /// [`RingError::TooLarge`](super::error::RingError::TooLarge) refuses longer ones.
    pub fn max_message(&self) -> usize {
        self.ring.max_message()
    }

    /// The messages sent but never consumed by the peer, oldest first: after the peer died,
    /// exactly the ones it did not see.
    pub fn unconsumed(&mut self) -> Result<Vec<Vec<u8>>, ShmError> {
        self.ring.unconsumed().map_err(ShmError::Ring)
    }

    /// Whether the peer runs (or has not attached yet).
    pub fn peer_alive(&self) -> bool {
        self.seg.peer_alive()
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

/// The receiving end of a link.
#[derive(Debug)]
pub struct ShmReceiver {
    seg: Arc<Segment>,
    ring: Consumer,
    wait: WaitPolicy,
}

impl ShmReceiver {
    /// Receives one message and hands it to `f`; the message is released to the sender only
    /// when `f` returns. Waits (spin, then park) while the ring is empty. Everything the peer
    /// published is delivered before its death or its close is reported.
    pub fn recv_with<R>(&mut self, mut f: impl FnMut(&[u8]) -> R) -> Result<R, ShmError> {
        self.recv_timeout_with(None, &mut f)?
            .ok_or_else(|| gone(&self.seg))
    }

    /// As [`ShmReceiver::recv_with`], but gives up after about `timeout` with `Ok(None)`.
    pub fn recv_timeout_with<R>(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&[u8]) -> R,
    ) -> Result<Option<R>, ShmError> {
        // A timeout too long to add to the clock is no timeout.
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            if let Some(r) = self.ring.try_pop_with(&mut f).map_err(ShmError::Ring)? {
                return Ok(Some(r));
            }
            let ring = &self.ring;
            if spin_until(self.wait.spin, || ring.ready()) {
                continue;
            }
            let mut park = self.wait.liveness_check;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                park = park.min(left);
            }
            let woke = ring.readable().park_unless(|| ring.ready(), Some(park));
            if !woke && !ring.ready() && !self.seg.peer_alive() {
                // The peer may have published just before dying: drain first.
                if let Some(r) = self.ring.try_pop_with(&mut f).map_err(ShmError::Ring)? {
                    return Ok(Some(r));
                }
                return Err(gone(&self.seg));
            }
        }
    }

    /// Receives one message if there is one now.
    pub fn try_recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, ShmError> {
        self.ring.try_pop_with(f).map_err(ShmError::Ring)
    }

    /// Whether the peer runs (or has not attached yet).
    pub fn peer_alive(&self) -> bool {
        self.seg.peer_alive()
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

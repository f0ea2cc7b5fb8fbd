//! The read side of one connection: frames come off the transport, in order.
//!
//! The connection's reader task reads and delivers every frame (`connection.rs`). In spin
//! mode an asker that has just written its ask may read the replies itself while the reader
//! task is between two turns of the scheduler ([`ReadSide::read_for_answer`]): it takes the
//! read side if no one holds it, polls the transport for a slice at most, and takes the
//! frames that need no task of their own: replies, handed to their askers (its own among
//! them), and acknowledgements. At the first frame of any other kind it stops and leaves
//! that frame and everything after it to the reader task, so frames are still taken in
//! order. Its own reply then needs no hop through the reader task: no wake-up, no turn of the
//! scheduler between the reply's arrival and the asker (measured at dbc8d18, 2026-11-25:
//! docs/perf/remote.md, "History").

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::error::RemoteAskError;
use crate::frame::{Frame, Kind};
use crate::link::{take_for_its_asker, Inner, Mine, Taken};
use crate::reader::{FrameReader, ReadError};
use crate::session::Order;
use crate::transport::ReadHalf;

/// The read side of connection `id`: where its reader task leaves what it reads with while
/// it takes a turn of the scheduler, for an asker to read its reply.
pub(crate) struct ReadSide {
    pub id: u64,
    /// The transport shows bytes as soon as they arrive (not TLS): an asker may read it.
    direct: bool,
    /// The reader's parts while the reader task is in a turn (spin mode); `None` while it
    /// reads, delivers or parks on the transport. Only the reader task takes them out.
    /// Boxed, so that handing them back and taking them again moves a pointer, not the
    /// reader's buffer state and transport (280 bytes, copied several times a turn).
    parts: Slot,
}

/// Where a connection's [`ReadParts`] wait while its reader task takes a turn.
type Slot = Mutex<Option<Box<ReadParts>>>;

/// What the reader of a connection reads with.
pub(crate) struct ReadParts {
    pub reader: FrameReader,
    pub rd: ReadHalf,
    /// Why reading failed, when an asker met it: the reader task ends the connection with it.
    pub failed: Option<ReadError>,
    /// An asker read bytes with these parts since the reader task last had them: bytes came,
    /// and the reader's spin budget starts again (`connection.rs`).
    pub asker_read: bool,
}

impl ReadParts {
    pub fn new(reader: FrameReader, rd: ReadHalf) -> Box<ReadParts> {
        Box::new(ReadParts {
            reader,
            rd,
            failed: None,
            asker_read: false,
        })
    }
}

/// How long an asker polls the transport for its reply, at most, before it leaves the
/// reading to the reader task and waits: as long as the reader task polls between two turns
/// of the scheduler (`connection/turns.rs`, `SPIN_SLICE`), so the asker holds its thread no longer
/// than the reader would.
pub(crate) const ASKER_SLICE: Duration = Duration::from_micros(20);

impl ReadSide {
    pub fn new(id: u64, direct: bool) -> ReadSide {
        ReadSide {
            id,
            direct,
            parts: Mutex::new(None),
        }
    }

    /// The reader task leaves its parts for askers while it takes a turn.
    pub fn hand_back(&self, parts: Box<ReadParts>) {
        *lock(&self.parts) = Some(parts);
    }

    /// The reader task takes its parts back after a turn, once no asker reads with them
    /// (an asker on another thread holds them for a slice at most).
    pub async fn take_back(&self) -> Box<ReadParts> {
        loop {
            if let Some(parts) = try_lock(&self.parts).and_then(|mut slot| slot.take()) {
                return parts;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Reads for an asker that has just queued its ask, until `answered()` holds, for
    /// [`ASKER_SLICE`] (and the link's spin budget) at most: returns at once when the reader
    /// task or another asker holds the read side; stops early at a frame it does not take
    /// (any but a reply or an acknowledgement, or a reply while a reader delivers), a read
    /// that fails (left for the reader task), a wake of the link's writer or a task woken
    /// from another thread (both wait for this thread).
    ///
    /// For [`ReadFor::Mine`] (an asker whose answer waits in its entry of the asks in flight,
    /// [`Link::read_in_place`](crate::link::Link::read_in_place)), the reply to its ask goes
    /// straight to it when this thread reads it, and it stops when its answer came another
    /// way (counted in [`Inner::answered_in_place`]).
    pub fn read_for_answer(&self, link: &Inner, budget: Duration, mut waiting: ReadFor<'_, '_>) {
        if !self.direct {
            return;
        }
        let in_place_before = link.answered_in_place.load(Ordering::Acquire);
        let Some(mut slot) = try_lock(&self.parts) else {
            return;
        };
        let Some(parts) = slot.as_mut() else {
            return;
        };
        link.self_reads.fetch_add(1, Ordering::Relaxed);
        let ReadParts {
            reader,
            rd,
            failed,
            asker_read,
        } = &mut **parts;
        if failed.is_some() {
            return;
        }
        let mut end = None;
        let mut looks = 0u32;
        // This runtime's queue, looked up at the first check (a lookup clones its handle).
        let mut runtime = None;
        let answered = |waiting: &ReadFor<'_, '_>| match waiting {
            ReadFor::Mine(mine) => {
                mine.taken || link.answered_in_place.load(Ordering::Acquire) != in_place_before
            }
            ReadFor::Channel(answered) => answered(),
        };
        'frames: loop {
            loop {
                match reader.next_buffered() {
                    Ok(Some(frame)) => {
                        let mine = match &mut waiting {
                            ReadFor::Mine(mine) => Some(&mut **mine),
                            ReadFor::Channel(_) => None,
                        };
                        if !take(link, self.id, &frame, mine) {
                            reader.put_back();
                            return;
                        }
                        link.metrics.frame_received(frame.wire_len() as u64);
                    }
                    Ok(None) => break,
                    // The reader task parses it again and closes the connection.
                    Err(_) => return,
                }
            }
            if answered(&waiting) {
                return;
            }
            // Looks until bytes come: nothing new to parse before. (A look that needs no
            // read, `nothing_new`, counts as one all the same.)
            loop {
                if !rd.nothing_new() {
                    match reader.try_fill(|buf| rd.try_read(buf)) {
                        Ok(true) => {
                            *asker_read = true;
                            continue 'frames;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            *failed = Some(e);
                            return;
                        }
                    }
                }
                looks = looks.wrapping_add(1);
                // The clock and the flags every few looks, as the spinning reader does; and
                // whether the answer came another way (a failure left in place, say).
                if looks % 8 == 0 {
                    if link.writes_due.load(Ordering::Acquire)
                        || other_thread_waits(&mut runtime)
                        || answered(&waiting)
                    {
                        return;
                    }
                    let now = Instant::now();
                    if now >= *end.get_or_insert(now + ASKER_SLICE.min(budget)) {
                        return;
                    }
                }
                if rd.pauses_between_looks() {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// What an asker reading for its answer ([`ReadSide::read_for_answer`]) waits for.
pub(crate) enum ReadFor<'a, 'b> {
    /// An answer that comes on a channel: it reads until `answered()` holds.
    Channel(&'a dyn Fn() -> bool),
    /// An answer that waits in its entry of the asks in flight.
    Mine(&'a mut Mine<'b>),
}

/// Locks the slot of a reader's parts. A panic while it was held (an answer callback of an
/// asker's that panicked) left the parts whole: the frame it answered was taken and recorded
/// before.
fn lock(slot: &Slot) -> MutexGuard<'_, Option<Box<ReadParts>>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`lock`] without waiting: `None` when an asker holds the slot.
fn try_lock(slot: &Slot) -> Option<MutexGuard<'_, Option<Box<ReadParts>>>> {
    match slot.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// A task woken from another thread waits for this runtime's thread; `runtime` keeps the
/// runtime's metrics from the first call on (`None` inside: no runtime).
fn other_thread_waits(runtime: &mut Option<Option<tokio::runtime::RuntimeMetrics>>) -> bool {
    runtime
        .get_or_insert_with(|| {
            tokio::runtime::Handle::try_current()
                .ok()
                .map(|h| h.metrics())
        })
        .as_ref()
        .is_some_and(|m| m.global_queue_depth() > 0)
}

/// Takes frame `f` of connection `id` here, as the reader task would: a reply to an ask of
/// this node, or an acknowledgement. `false` for any other frame, and for one whose
/// delivery the reader task must judge (the link closed, the connection replaced, a frame
/// out of sequence): it is left for the reader task.
///
/// The reply to `mine`'s ask goes to `mine`, and its ask leaves the asks in flight.
fn take(link: &Inner, id: u64, f: &Frame<'_>, mine: Option<&mut Mine<'_>>) -> bool {
    match f.kind {
        Kind::Heartbeat | Kind::Ack => {
            link.on_ack(f.ack);
            true
        }
        Kind::Reply | Kind::ReplyFailed => {
            let (freed, mine, taken) = {
                let mut st = link.lock();
                // A reader delivering (a replaced connection's) may have checked this frame
                // already; the link closed, or the connection replaced: the reader judges.
                if st.closed.is_some() || st.connection != Some(id) || link.delivery.is_held() {
                    return false;
                }
                let numbering = match st.inb.check(f.seq) {
                    Order::Deliver => st.inb.numbering(),
                    Order::Duplicate => {
                        st.stats.duplicates += 1;
                        let freed = f.ack > 0 && st.out.ack(f.ack) > 0;
                        drop(st);
                        if freed {
                            link.room_freed();
                        }
                        return true;
                    }
                    Order::Gap { .. } => return false,
                };
                let freed = f.ack > 0 && st.out.ack(f.ack) > 0;
                let asker = match mine {
                    Some(mine) if mine.corr == f.corr && take_for_its_asker(&mut st, f.corr) => {
                        Some(mine)
                    }
                    _ => None,
                };
                let taken = match asker {
                    Some(_) => Taken::Missing,
                    None => link.take_ask(&mut st, f.corr, reply_of(f)),
                };
                st.inb.record_handled(numbering, f.seq);
                st.stats.delivered += 1;
                st.stats.asker_reads += 1;
                (freed, asker, taken)
            };
            if freed {
                link.room_freed();
            }
            match mine {
                Some(mine) => {
                    (mine.take)(reply_of(f));
                    mine.taken = true;
                }
                None => link.hand_over(taken),
            }
            true
        }
        _ => false,
    }
}

/// The answer a reply frame carries.
pub(crate) fn reply_of<'a>(f: &Frame<'a>) -> Result<crate::link::ReplyBody<'a>, RemoteAskError> {
    match f.kind {
        Kind::Reply => Ok((f.type_id, f.payload)),
        _ => Err(RemoteAskError::Failed(crate::frame::peer_text(f.payload))),
    }
}

//! How a spinning reader shares its thread: slices of polling the transport, and turns of
//! the scheduler between them, short or full.

use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use crate::link::Inner;
use crate::reader::{FrameReader, ReadError};
use crate::transport::ReadHalf;

/// How long a spinning reader polls its socket between turns of the scheduler, at most: the
/// longest a timer or another socket of this thread waits for it. A task woken from another
/// thread, or this link's writer woken, ends the slice at once.
const SPIN_SLICE: Duration = Duration::from_micros(20);

/// How a spinning reader gives the runtime's other tasks their turn.
///
/// A full turn (`yield_now`) lets tokio poll its I/O driver and timers first, and, on a
/// current-thread runtime, the future of `block_on`, which is polled only between such turns:
/// it costs a system call. A short turn (the task woken again at once, at the back of the
/// queue) lets every task that is ready run, and nothing else. The reader takes a full turn
/// after a reply went to an asker outside any task (a `block_on` future; an asker that is a
/// task runs in the short turn) and at least every [`SPIN_SLICE`]; short turns otherwise. No
/// clock is read between the last frame and the turn: whether a full turn is due is judged
/// by the time last read while spinning ([`Turns::seen`]), so that what the frames woke runs
/// as soon as it can.
///
/// An acknowledgement owed when the reader starts to spin waits for that turn: the handler
/// or the asker that the delivered frames woke usually queues a frame in it (a reply, the
/// next ask), and the write of that frame carries the acknowledgement. Only if none did is
/// the writer woken, to send it alone at once. (In block mode the writer waits that turn
/// itself, at the cost of a wake-up and a turn of its own per delivery.)
pub(super) struct Turns {
    /// A reply went to an asker outside any task since the last full turn.
    answered: bool,
    /// An acknowledgement was owed when the reader last finished its frames.
    pub(super) ack_owed: bool,
    last_full: std::time::Instant,
    /// The time the reader last read while spinning: at most one turn and a few looks old.
    seen: std::time::Instant,
    /// When the reader started to spin since bytes last came: its budget counts from there.
    pub(super) spin_start: Option<std::time::Instant>,
    /// [`Inner::self_reads`] when the reader last looked.
    self_reads: u64,
    /// An asker read the connection since the reader's look before last: the next turn is
    /// a full one. An asker whose task used up its cooperative budget (tokio's 128
    /// operations per poll) reading one reply after another waits for the runtime's next
    /// poll of its I/O driver, which a short turn never brings.
    askers: bool,
    /// When the reader last saw that an asker had read: for a slice after it, the reader
    /// looks once between turns rather than poll, so that an asker queued behind it runs.
    askers_at: Option<std::time::Instant>,
    /// The reader's runtime, whose queue a slice watches (looked up once: a lookup clones
    /// the runtime's handle).
    runtime: tokio::runtime::RuntimeMetrics,
}

impl Turns {
    pub(super) fn new() -> Turns {
        Turns {
            answered: false,
            ack_owed: false,
            last_full: std::time::Instant::now(),
            seen: std::time::Instant::now(),
            spin_start: None,
            self_reads: 0,
            askers: false,
            askers_at: None,
            runtime: tokio::runtime::Handle::current().metrics(),
        }
    }

    /// After a turn: wakes the writer for an acknowledgement that no frame carried. An
    /// asker that read replies since the last look may have left one owed too.
    pub(super) fn send_owed_ack(&mut self, link: &Inner) {
        let asker_read = link.self_reads.load(Ordering::Relaxed) != self.self_reads;
        if (std::mem::take(&mut self.ack_owed) || asker_read) && link.owes_ack() {
            link.ack_now.store(true, Ordering::Relaxed);
            link.wake_writer();
        }
    }

    pub(super) async fn take(&mut self, link: &Inner) {
        // A reply to an asker outside any task, delivered by this reader or by an asker.
        if link.answered_outside_task.swap(false, Ordering::Relaxed) {
            self.answered = true;
        }
        if self.answered
            || std::mem::take(&mut self.askers)
            || self.seen.saturating_duration_since(self.last_full) >= SPIN_SLICE
        {
            tokio::task::yield_now().await;
            self.answered = false;
            self.last_full = std::time::Instant::now();
        } else {
            let mut woken = false;
            std::future::poll_fn(|cx| {
                if woken {
                    return Poll::Ready(());
                }
                woken = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await;
        }
    }
}

/// How a slice of polling ended.
pub(super) enum Slice {
    /// Bytes arrived.
    Bytes,
    /// The slice is over (or cut short): a turn of the scheduler, then the next.
    Over,
    /// The spin budget is spent: park on the transport.
    Spent,
}

/// Polls the socket without parking for a slice of up to [`SPIN_SLICE`], within a budget of
/// `budget` of CPU time since bytes last came (the turn of the scheduler before each slice is
/// taken by the caller, [`Turns`]).
///
/// A slice ends early when the link's writer is woken or a task woken from another thread
/// waits. It is a single look when an asker read the connection less than a slice ago
/// ([`Turns::askers_at`]): that asker may be waiting for this thread; the turn after the look
/// that first sees such a read is a full one ([`Turns::askers`]). A TLS stream shows new bytes
/// only after the driver has run: its reader takes a full turn between looks.
pub(super) fn spin(
    link: &Inner,
    reader: &mut FrameReader,
    rd: &mut ReadHalf,
    budget: Duration,
    turns: &mut Turns,
) -> Result<Slice, ReadError> {
    let now = std::time::Instant::now();
    turns.seen = now;
    let reads = link.self_reads.load(Ordering::Relaxed);
    turns.askers = reads != turns.self_reads;
    turns.self_reads = reads;
    if turns.askers {
        turns.askers_at = Some(now);
    }
    let askers_recently = turns
        .askers_at
        .is_some_and(|at| now.saturating_duration_since(at) < SPIN_SLICE);
    let one_look = !rd.reads_directly() || askers_recently;
    let slice = if one_look {
        Duration::ZERO
    } else {
        SPIN_SLICE.min(budget)
    };
    // The budget counts from the end of the first turn: the clock is read after it.
    let start = *turns.spin_start.get_or_insert(now);
    // Polled, the socket raises no events for the runtime while this reader spins.
    rd.unregister();
    let slice_end = now + slice;
    let pause = rd.pauses_between_looks();
    let mut looks = 0u32;
    loop {
        if !rd.nothing_new() && reader.try_fill(|buf| rd.try_read(buf))? {
            turns.spin_start = None;
            return Ok(Slice::Bytes);
        }
        if one_look {
            break;
        }
        looks = looks.wrapping_add(1);
        // The clock and the runtime's queue every few looks: each costs more than a look.
        if looks % 8 == 0 {
            if link.writes_due.load(Ordering::Acquire) || turns.runtime.global_queue_depth() > 0 {
                break;
            }
            turns.seen = std::time::Instant::now();
            if turns.seen >= slice_end {
                break;
            }
        }
        if pause {
            std::hint::spin_loop();
        }
    }
    if turns.seen.saturating_duration_since(start) >= budget {
        turns.spin_start = None;
        return Ok(Slice::Spent);
    }
    Ok(Slice::Over)
}

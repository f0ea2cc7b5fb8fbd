//! One established connection of a link: a reader that delivers frames in order and a writer
//! that sends control frames first, then queued data frames, several per (vectored) write.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::config::Mode;
use crate::dispatch::AskNow;
use crate::error::WireError;
use crate::frame::{encode_frame, set_time, set_type_id, Frame, FrameSpec, Kind};
use crate::link::{reply_too_large, Inner};
use crate::read::{reply_of, ReadParts, ReadSide};
use crate::reader::{FrameReader, ReadError};
use crate::session::Order;
use crate::transport::{ReadHalf, WriteHalf};
use crate::write::{Turn, WriteSide};

/// Starts the task that runs connection `id` of `link` and records it as the link's
/// current one; it is counted as running ([`Inner::running`]) from now until it ends.
pub(crate) fn spawn(
    link: &Arc<Inner>,
    id: u64,
    reader: FrameReader,
    rd: ReadHalf,
    wr: WriteHalf,
) -> tokio::task::JoinHandle<String> {
    let running = Running::new(link);
    let task = tokio::spawn(run(link.clone(), id, reader, rd, wr, running));
    link.set_task(id, task.abort_handle());
    task
}

/// Runs the connection until it fails, the link closes or a newer connection replaces it.
/// Returns why it ended (already reported to the link's observer).
async fn run(
    link: Arc<Inner>,
    id: u64,
    reader: FrameReader,
    rd: ReadHalf,
    wr: WriteHalf,
    _running: Running,
) -> String {
    // The writer is a task of its own: were it a branch of one task with the reader, every
    // wake of the writer would resume the reader too, and a spinning reader's turn of the
    // scheduler (`spin`) would not let the runtime's other tasks run first.
    let side = Arc::new(WriteSide::new(id, wr, link.clock.now()));
    link.set_write_side(id, &side);
    let read_side = Arc::new(ReadSide::new(id, rd.reads_directly()));
    link.set_read_side(id, &read_side);
    let writer = tokio::spawn({
        let link = link.clone();
        let side = side.clone();
        async move { write_loop(&link, &side).await }
    });
    let mut writer = AbortOnDrop(writer);
    let reading = read_loop(&link, &read_side, ReadParts::new(reader, rd));
    tokio::pin!(reading);
    let ending = async {
        // Biased: polled in this order, without the random start that costs each poll of a
        // spinning reader's task (one per turn of the scheduler) a draw of the runtime's RNG.
        let (ended, writer_done) = tokio::select! {
            biased;
            r = &mut reading => (r, false),
            r = &mut writer.0 => {
                let reason = r.unwrap_or_else(|e| format!("the link's writer stopped: {e}"));
                (Ended::here(reason), true)
            }
        };
        // This side closed the link. Its writer sends the Close frame and shuts its direction
        // down; its reader reads and drops what the peer still sends (`drain`) until the peer,
        // having read the Close, closes its end. Each may finish: closing a socket with unread
        // bytes resets the connection, and a reset can destroy the Close before the peer
        // reads it.
        if link.lock().closed.is_some() {
            if writer_done {
                let _ = link.clock.timeout(CLOSE_GRACE, &mut reading).await;
            } else {
                let _ = link.clock.timeout(CLOSE_GRACE, &mut writer.0).await;
            }
        } else if ended.by_peer && !writer_done {
            // The peer closed the link: its Close frame is answered with one that
            // acknowledges what this side delivered, so that the peer's loss report leaves it
            // out. The writer stops first; what it had taken but not written goes before the
            // answer.
            writer.0.abort();
            let _ = (&mut writer.0).await;
            let _ = link
                .clock
                .timeout(CLOSE_GRACE, answer_close(&link, &side))
                .await;
        }
        ended
    };
    // A closed link's connection ends within its grace whatever its reader and writer wait
    // for: a writer parked on a full socket (the peer's reader stuck in a delivery) while the
    // peer's heartbeats keep the reader alive would otherwise hold it, the link's loss report
    // and `Link::closed` for ever.
    // The watch is a task of its own that fires a oneshot: polled on every wake of the
    // reader's task, a oneshot is an atomic load, where a waiting `Notified` takes a lock.
    let (fire, expired) = tokio::sync::oneshot::channel::<()>();
    let watch = AbortOnDrop(tokio::spawn({
        let link = link.clone();
        async move {
            closed_then_grace(&link).await;
            let _ = fire.send(());
        }
    }));
    let ended = tokio::select! {
        biased;
        ended = ending => ended,
        // A watch dropped unfired (its runtime shutting down) leaves the connection be.
        Ok(()) = expired => Ended::here(format!(
            "link closed: {}; the connection did not end within {CLOSE_LIFE:?} of it",
            link.lock().closed.clone().unwrap_or_default()
        )),
    };
    drop(watch);
    // A writer still running (the reader ended first) stops with its connection.
    drop(writer);
    link.detach(id, &ended.reason, ended.by_peer);
    ended.reason
}

/// Returns [`CLOSE_LIFE`] after the link is closed.
async fn closed_then_grace(link: &Inner) {
    loop {
        let closing = link.closing.notified();
        let mut closing = std::pin::pin!(closing);
        closing.as_mut().enable();
        if link.lock().closed.is_some() {
            break;
        }
        closing.await;
    }
    link.clock.sleep(CLOSE_LIFE).await;
}

/// The longest a closed link's connection lives on: [`CLOSE_GRACE`] for a delivery in
/// progress to be recorded, as long to write the Close frame, and as long again for the peer
/// to close its end (`close_if_closed`, and the close in `run`).
pub(crate) const CLOSE_LIFE: Duration = Duration::from_secs(3);

/// How long a closed link's connection may take to send its Close frame and see the peer
/// close its end (bus time).
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Counts a connection task in [`Inner::running`] while it runs, aborted or not.
struct Running(Arc<Inner>);

impl Running {
    fn new(link: &Arc<Inner>) -> Running {
        link.running.fetch_add(1, Ordering::AcqRel);
        Running(link.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
        // A closed link's loss report waited for its connections (`Inner::end`).
        self.0.report_owed_loss();
        self.0.ran.notify_waiters();
    }
}

/// Why a connection ended.
struct Ended {
    reason: String,
    /// The peer sent a Close frame.
    by_peer: bool,
    /// An ask was not taken: a queue's worth of replies waits for room.
    replies_held: bool,
}

impl Ended {
    /// Ended by what this side saw (not by the peer's Close frame).
    fn here(reason: String) -> Self {
        Ended {
            reason,
            by_peer: false,
            replies_held: false,
        }
    }
}

/// Aborts a task when dropped: the connection's writer ends with the connection's task (which
/// a newer connection may abort).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn read_loop(link: &Arc<Inner>, side: &ReadSide, parts: ReadParts) -> Ended {
    let id = side.id;
    let timeout = link.config.heartbeat_timeout;
    let mut turns = Turns::new();
    let mut parts = parts;
    // Spin mode: a turn of the scheduler before each slice of polling (`Turns`), taken with
    // the read side handed back, so that an asker that runs in it can read its reply
    // (`read.rs`); `slice_next` once it is taken.
    let (mut turn_due, mut slice_next) = (false, false);
    loop {
        if turn_due {
            side.hand_back(parts);
            turns.take(link).await;
            parts = side.take_back().await;
            // Bytes an asker read came in as much as the reader's own: the link is live, and
            // the spin budget counts from them (a reader whose replies askers read would
            // otherwise park on the transport once a budget, with replies coming).
            if std::mem::take(&mut parts.asker_read) {
                turns.spin_start = None;
            }
            turns.send_owed_ack(link);
            (turn_due, slice_next) = (false, true);
        }
        let ReadParts {
            reader, rd, failed, ..
        } = &mut parts;
        if let Some(e) = failed.take() {
            // An asker's read failed.
            return Ended::here(ended(e));
        }
        // Taken at the first data frame of what was read and held until it is all delivered
        // (`Delivering`).
        let mut delivering = Delivering(None);
        loop {
            let frame = match reader.next_buffered() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    return Ended::here(format!("closed on a malformed frame from the peer: {e}"))
                }
            };
            link.metrics.frame_received(frame.wire_len() as u64);
            if let Err(ended) = handle(link, id, frame, &mut delivering).await {
                drop(delivering);
                if link.lock().closed.is_some() {
                    drain(link, reader, rd, || false).await;
                } else if ended.replies_held {
                    // The ask is not taken, but the connection ends only once the writer had
                    // its chance to write what is queued and the peer's acknowledgements made
                    // room for a reply (or a grace passed). Ended at once, a connection on
                    // which the peer resends that ask first could close before its writer ran:
                    // nothing queued would ever reach the peer, nothing be acknowledged, no
                    // reply get room, and every connection after would close the same way.
                    let capacity = link.config.queue_capacity.max(1);
                    drain(link, reader, rd, || {
                        link.replies_waiting.load(Ordering::Acquire) < capacity
                    })
                    .await;
                }
                return ended;
            }
        }
        drop(delivering);
        if link.owes_ack() {
            if spinning(link) {
                // Looked at again after the next turn of the scheduler (`Turns`).
                turns.ack_owed = true;
            } else {
                link.wake_writer();
            }
        }
        if let Mode::Spin(budget) = link.config.mode {
            if !std::mem::take(&mut slice_next) {
                turn_due = true;
                continue;
            }
            match spin(link, reader, rd, budget, &mut turns) {
                Ok(Slice::Bytes) => continue,
                Ok(Slice::Over) => {
                    turn_due = true;
                    continue;
                }
                // The budget is spent: the reader parks on the transport.
                Ok(Slice::Spent) => {
                    link.lock().stats.parks += 1;
                    link.metrics.parked();
                }
                Err(e) => return Ended::here(ended(e)),
            }
        }
        match link.clock.timeout(timeout, reader.fill(rd)).await {
            Err(_) => {
                return Ended::here(format!(
                    "nothing from the peer for {timeout:?}: heartbeat timeout, peer presumed dead"
                ))
            }
            Ok(Err(e)) => return Ended::here(ended(e)),
            Ok(Ok(())) => turns.spin_start = None,
        }
    }
}

/// Whether this link's readers spin: a spinning reader, not the writer, waits one turn of the
/// scheduler for a frame to carry an owed acknowledgement (`Turns::ack_owed`).
fn spinning(link: &Inner) -> bool {
    matches!(link.config.mode, Mode::Spin(_))
}

/// Reads and drops what the peer sends, applying the acknowledgements it carries, until
/// `done`, the peer closes its end, or [`CLOSE_GRACE`] passes; the writer writes on
/// meanwhile.
///
/// This side closed the link while the peer was still sending: the peer closes its end once
/// it has read the Close frame the writer sends (`done` never holds). Closing a socket with
/// unread bytes would reset the connection, and a reset can destroy the Close frame before
/// the peer reads it. Or the reader did not take an ask while a queue's worth of replies
/// waits for room (`handle`): `done` once there is room for one.
async fn drain(link: &Inner, reader: &mut FrameReader, rd: &mut ReadHalf, done: impl Fn() -> bool) {
    let _ = link
        .clock
        .timeout(CLOSE_GRACE, async {
            loop {
                // Not delivered; the acknowledgements they carry are applied, the answer to
                // this side's Close frame above all (`answer_close`).
                while let Ok(Some(frame)) = reader.next_buffered() {
                    link.on_ack(frame.ack);
                }
                if done() || reader.fill(rd).await.is_err() {
                    break;
                }
            }
        })
        .await;
}

fn ended(e: ReadError) -> String {
    match e {
        ReadError::Wire(w) => format!("closed on a malformed frame from the peer: {w}"),
        other => other.to_string(),
    }
}

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
struct Turns {
    /// A reply went to an asker outside any task since the last full turn.
    answered: bool,
    /// An acknowledgement was owed when the reader last finished its frames.
    ack_owed: bool,
    last_full: std::time::Instant,
    /// The time the reader last read while spinning: at most one turn and a few looks old.
    seen: std::time::Instant,
    /// When the reader started to spin since bytes last came: its budget counts from there.
    spin_start: Option<std::time::Instant>,
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
    fn new() -> Turns {
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
    fn send_owed_ack(&mut self, link: &Inner) {
        let asker_read = link.self_reads.load(Ordering::Relaxed) != self.self_reads;
        if (std::mem::take(&mut self.ack_owed) || asker_read) && link.owes_ack() {
            link.ack_now.store(true, Ordering::Relaxed);
            link.wake_writer();
        }
    }

    async fn take(&mut self, link: &Inner) {
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
enum Slice {
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
fn spin(
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
    let mut looks = 0u32;
    loop {
        if reader.try_fill(|buf| rd.try_read(buf))? {
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
        std::hint::spin_loop();
    }
    if turns.seen.saturating_duration_since(start) >= budget {
        turns.spin_start = None;
        return Ok(Slice::Spent);
    }
    Ok(Slice::Over)
}

/// The link's delivery lock ([`Inner::delivery`]) while a reader holds it: from the order
/// check of the first data frame of one read until the last of them is delivered and
/// recorded. Taken once per read rather than once per frame (its release alone cost about
/// 70 instructions); another reader of the link, which can only be a connection replacing
/// this one, waits as long as before, since this reader gives it up before it waits for
/// bytes and ends at its next frame once replaced.
///
/// While held, [`Inner::delivering`] is set (from before the first order check), so that an
/// asker reading replies (`read.rs`) leaves them to the readers.
struct Delivering<'a>(Option<(tokio::sync::MutexGuard<'a, ()>, &'a Inner)>);

impl Drop for Delivering<'_> {
    fn drop(&mut self) {
        if let Some((_, link)) = &self.0 {
            link.delivering.store(false, Ordering::Release);
        }
    }
}

async fn handle<'a>(
    link: &'a Arc<Inner>,
    id: u64,
    f: Frame<'_>,
    delivering: &mut Delivering<'a>,
) -> Result<(), Ended> {
    match f.kind {
        Kind::Heartbeat | Kind::Ack => {
            link.on_ack(f.ack);
            return Ok(());
        }
        Kind::Close => {
            // What the peer delivered before it closed (`WriteSide::close_frame`).
            link.on_ack(f.ack);
            return Err(Ended {
                reason: format!(
                    "the peer closed the link: {}",
                    crate::frame::peer_text(f.payload)
                ),
                by_peer: true,
                replies_held: false,
            });
        }
        Kind::Hello | Kind::Proof | Kind::Verdict | Kind::Schema => {
            return Err(Ended::here(format!(
                "closed on a {:?} frame after the handshake (protocol violation)",
                f.kind
            )))
        }
        Kind::Ask => {
            // Not taken (nor acknowledged: the peer sends it again on its next connection)
            // while a queue's worth of replies waits for room: the peer does not acknowledge
            // the replies it was sent, and each further ask would hold one more here.
            let waiting = link.replies_waiting.load(Ordering::Acquire);
            if waiting >= link.config.queue_capacity.max(1) {
                return Err(Ended {
                    replies_held: true,
                    ..Ended::here(format!(
                        "closed: {waiting} replies to the peer's asks wait for room in a queue \
                         of {} that the peer does not acknowledge (it sends asks faster than it \
                         takes their replies); its asks in flight fail",
                        link.config.queue_capacity
                    ))
                });
            }
        }
        _ => {}
    }
    // From the order check until the delivery is recorded no other reader of this link may
    // check: a replaced connection's reader can still run (an abort takes effect at its next
    // await) while its successor already resumed from the same `delivered`.
    if delivering.0.is_none() {
        let held = link.delivery.lock().await;
        link.delivering.store(true, Ordering::Release);
        delivering.0 = Some((held, link));
    }
    // A unit of the task's cooperative budget per frame, as the lock's acquisition took when
    // it was taken per frame: a long read yields every so often, so the writer sends the
    // acknowledgements that let the peer's sender go on, and the actors it fed run. (Without
    // it, one-way streams in block mode ran 30-40% slower.)
    tokio::task::consume_budget().await;
    let (numbering, asker, reply_buffer) = {
        let mut st = link.lock();
        // The acknowledgement a data frame may carry (`write.rs`, `refill`), whatever its
        // order: it is cumulative, and never counts past what was written.
        if f.ack > 0 && st.out.ack(f.ack) > 0 {
            link.room_freed();
        }
        if let Some(reason) = &st.closed {
            // Not delivered: the Close frame acknowledged what was (`close_if_closed`), and
            // the peer reports the rest lost.
            return Err(Ended::here(format!("link closed: {reason}")));
        }
        if st.connection != Some(id) {
            // Replaced: the newer connection delivers this frame (or has already).
            return Err(Ended::here("replaced by a newer connection".to_owned()));
        }
        match st.inb.check(f.seq) {
            // The peer incarnation an ask came from, whom its reply is for; and, for an ask, a
            // buffer for its reply's frame (one an acknowledged frame left, if any).
            Order::Deliver => (
                st.inb.numbering(),
                st.inb.incarnation.unwrap_or(0),
                (f.kind == Kind::Ask).then(|| st.out.frame_buffer(REPLY_FRAME_GUESS)),
            ),
            Order::Duplicate => {
                st.stats.duplicates += 1;
                return Ok(());
            }
            Order::Gap { expected } => {
                return Err(Ended::here(format!(
                    "closed on an out-of-sequence frame: seq {} where {expected} was expected",
                    f.seq
                )))
            }
        }
    };
    let (failed, answered) = match deliver(link, &f, asker, reply_buffer).await {
        Delivered::Done => (None, None),
        Delivered::Failed(e) => (Some(e), None),
        Delivered::Answered(reply) => (None, Some(Answer::Reply(reply))),
        Delivered::AnsweredFrame(type_id, frame) => (None, Some(Answer::Frame(type_id, frame))),
    };
    let mut st = link.lock();
    // Recorded even when a newer connection from the same peer instance took over meanwhile
    // (it must not deliver this frame again); never moves `delivered` backwards.
    st.inb.record(numbering, f.seq);
    st.stats.delivered += 1;
    let failures = if failed.is_some() {
        st.stats.dispatch_failures += 1;
        st.stats.dispatch_failures
    } else {
        0
    };
    // The writer sends the ack with whatever it writes next (one permit however many frames
    // were delivered meanwhile). A reply ready at once is queued here, after the delivery is
    // recorded (a reply's frame under the same lock), so the write that carries it
    // acknowledges the ask too: then the writer is woken only if that write did not happen.
    // A spinning reader leaves an owed acknowledgement for its next turn (`Turns`).
    let answered = match answered {
        Some(Answer::Frame(type_id, frame)) => {
            link.reply_frame(st, f.corr, asker, type_id, frame);
            true
        }
        Some(Answer::Reply(reply)) => {
            drop(st);
            link.reply_now(f.corr, asker, reply);
            true
        }
        None => {
            drop(st);
            false
        }
    };
    if let Some(e) = failed.filter(|_| logged_failure(failures)) {
        tracing::warn!(
            target: "mycelium::remote",
            peer = %link.peer, service = f.name, type_id = f.type_id, seq = f.seq, error = %e,
            failures,
            "incoming message not delivered (failures counts this link's; past the eighth, only \
             every power of two is logged)"
        );
    }
    let owed = if answered {
        !spinning(link) && link.owes_ack()
    } else {
        !spinning(link)
    };
    if owed {
        link.wake_writer();
    }
    Ok(())
}

/// Whether the link's `n`th message that could not be delivered is logged: the first eight,
/// then the 16th, the 32nd, the 64th and so on (each line gives the count). A peer that sends
/// a stream of them (to a service this node does not export, say) fills no log; the count is
/// in `LinkStats::dispatch_failures` and an asker gets its failure as the reply all the same.
fn logged_failure(n: u64) -> bool {
    n <= 8 || n.is_power_of_two()
}

/// What became of a data frame handed to this node.
enum Delivered {
    Done,
    /// A local service could not take it.
    Failed(crate::error::DispatchError),
    /// An ask answered during its delivery (the handler ran on this task).
    Answered(Result<crate::link::RemoteReply, String>),
    /// An ask answered during its delivery, its reply's frame made at once: the reply's type
    /// id, and the frame.
    AnsweredFrame(u16, Vec<u8>),
}

/// The answer to an ask, ready when its delivery is recorded.
enum Answer {
    Reply(Result<crate::link::RemoteReply, String>),
    Frame(u16, Vec<u8>),
}

/// The size a reply's frame buffer is first made for: the headers and a body of most sizes.
const REPLY_FRAME_GUESS: usize = 192;

/// Hands a data frame that passed the order check to this node; `asker` is the peer
/// incarnation it came from, and `reply_buffer` (for an ask) a buffer for its reply's frame.
async fn deliver(
    link: &Arc<Inner>,
    f: &Frame<'_>,
    asker: u64,
    reply_buffer: Option<Vec<u8>>,
) -> Delivered {
    let done = |r: Result<(), crate::error::DispatchError>| match r {
        Ok(()) => Delivered::Done,
        Err(e) => Delivered::Failed(e),
    };
    match f.kind {
        Kind::Tell => done(link.dispatch.tell(f.name, f.type_id, f.payload).await),
        Kind::Publish => done(
            link.dispatch
                .publish(f.name, f.type_id, f.key, f.payload)
                .await,
        ),
        Kind::Ask => {
            let corr = f.corr;
            // The reply's frame is made first: an idle local actor answers on this task, and
            // its reply is encoded straight into it (`Dispatch::ask_now`). Its type id and
            // time are written once it is made.
            let mut frame = reply_buffer.unwrap_or_default();
            let spec = FrameSpec {
                corr,
                ..FrameSpec::control(Kind::Reply)
            };
            let max = link.send_limit();
            let (encoded, asked) = std::future::poll_fn(|cx| {
                let mut asked = None;
                let encoded = encode_frame(&mut frame, &spec, max, |out| {
                    asked = Some(link.dispatch.ask_now(f.name, f.type_id, f.payload, cx, out));
                });
                Poll::Ready((encoded, asked))
            })
            .await;
            let queued = match asked {
                Some(Ok(AskNow::Answered(type_id))) => {
                    return match encoded {
                        Ok(_) => {
                            set_type_id(&mut frame, type_id);
                            set_time(&mut frame, link.clock.now());
                            Delivered::AnsweredFrame(type_id, frame)
                        }
                        // Too large for a frame: sent as a failure.
                        Err(WireError::TooLargeToSend { body_len, max }) => {
                            Delivered::Answered(Err(reply_too_large(body_len, max)))
                        }
                        Err(e) => Delivered::Answered(Err(e.to_string())),
                    };
                }
                Some(Ok(AskNow::Later(queued))) => queued,
                Some(Err(e)) => return Delivered::Answered(Err(e.to_string())),
                // The name is empty, so encoding always calls the body.
                None => {
                    return Delivered::Answered(Err("the reply's frame could not be made".into()))
                }
            };
            let mut reply = match queued.await {
                Ok(reply) => reply,
                Err(e) => return Delivered::Answered(Err(e.to_string())),
            };
            // An idle local actor ran the handler during `ask`: its reply is ready now.
            let first = std::future::poll_fn(|cx| Poll::Ready(reply.as_mut().poll(cx))).await;
            if let Poll::Ready(answer) = first {
                return Delivered::Answered(answer.map_err(|e| e.to_string()));
            }
            link.reply_later(corr, asker, async move {
                reply.await.map_err(|e| e.to_string())
            });
            Delivered::Done
        }
        Kind::Reply | Kind::ReplyFailed => {
            link.on_reply(f.corr, reply_of(f));
            Delivered::Done
        }
        Kind::Subscribe => done(
            link.on_subscribe(f.name, f.type_id)
                .map_err(crate::error::DispatchError::Failed),
        ),
        Kind::Unsubscribe => {
            link.on_unsubscribe(f.name, f.type_id);
            Delivered::Done
        }
        _ => Delivered::Done,
    }
}

/// Answers the peer's Close frame with one of this side's, which acknowledges what it
/// delivered, and shuts the write direction down.
async fn answer_close(link: &Inner, side: &WriteSide) {
    side.close_frame(link, "answering the peer's Close");
    let _ = std::future::poll_fn(|cx| side.poll_write_pending(link, cx)).await;
    let _ = std::future::poll_fn(|cx| side.poll_shutdown(cx)).await;
}

/// When the link was closed: writes what is pending and a Close frame with the reason, shuts
/// the transport's write direction down, and returns why the writer ends.
async fn close_if_closed(link: &Inner, side: &WriteSide) -> Option<String> {
    let reason = link.lock().closed.clone()?;
    {
        // A frame being delivered now is recorded first, so that the Close frame acknowledges
        // it; a delivery stuck behind a full mailbox holds the Close back for CLOSE_GRACE at
        // most.
        let _delivering = link
            .clock
            .timeout(CLOSE_GRACE, link.delivery.lock())
            .await
            .ok();
        side.close_frame(link, &reason);
    }
    let _ = std::future::poll_fn(|cx| side.poll_write_pending(link, cx)).await;
    let _ = std::future::poll_fn(|cx| side.poll_shutdown(cx)).await;
    Some(format!("link closed: {reason}"))
}

async fn write_loop(link: &Arc<Inner>, side: &WriteSide) -> String {
    let interval = link.config.heartbeat_interval;
    // An ack owed with nothing else to write waits one turn of the scheduler first: the
    // reply, or the next message, it would precede is usually about to be queued (a handler
    // answering, a caller asking again), and then one write carries both and the peer's
    // reader wakes once instead of twice. One turn only, so an ack is never held back for
    // long.
    let mut ack_deferred = false;
    let mut heartbeat: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let wake = link.writer.notified();
        let mut wake = std::pin::pin!(wake);
        wake.as_mut().enable();
        link.writes_due.store(false, Ordering::Release);
        if let Some(ended) = close_if_closed(link, side).await {
            return ended;
        }
        // Taken whatever `ack_deferred` says, so that a cue never outlives its turn.
        let ack_now = link.ack_now.swap(false, Ordering::Relaxed);
        let may_defer_ack = !ack_deferred && !ack_now;
        match side.turn(link, link.clock.now(), interval, may_defer_ack) {
            // Closed since the look above (closing lets the connection go, so the turn fails):
            // the Close frame still goes.
            Err(reason) => return close_if_closed(link, side).await.unwrap_or(reason),
            Ok(Turn::DeferAck) => {
                ack_deferred = true;
                tokio::task::yield_now().await;
                continue;
            }
            Ok(Turn::Idle(heartbeat_at)) => {
                ack_deferred = false;
                // The timer is armed again only once it has fired: a write moves the next
                // heartbeat later, and a timer that fires early finds none due and re-arms.
                // (Arming a timer on every turn cost more than the rest of the turn.)
                let timer = match &mut heartbeat {
                    Some(t) if !t.is_elapsed() => t,
                    _ => heartbeat.insert(Box::pin(link.clock.sleep_until(heartbeat_at))),
                };
                tokio::select! {
                    _ = wake => {}
                    _ = timer.as_mut() => {}
                }
            }
            Ok(Turn::Write) => {
                ack_deferred = false;
                if let Err(e) = std::future::poll_fn(|cx| side.poll_write_pending(link, cx)).await {
                    return format!("write failed: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logged_failure;

    #[test]
    fn failures_past_the_eighth_are_logged_at_powers_of_two() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| logged_failure(n)).collect();
        assert_eq!(logged, [1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64, 128, 256, 512]);
    }
}

//! One established connection of a link: a reader that delivers frames in order and a writer
//! that sends control frames first, then queued data frames, several per (vectored) write.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Mode;
use crate::link::Inner;
use crate::read::{ReadParts, ReadSide};
use crate::reader::{FrameReader, ReadError};
use crate::transport::{ReadHalf, WriteHalf};
use crate::write::{Turn, WriteSide};

mod deliver;
mod turns;

use deliver::{handle, Delivering};
use turns::{spin, Slice, Turns};

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

async fn read_loop(link: &Arc<Inner>, side: &ReadSide, parts: Box<ReadParts>) -> Ended {
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
        } = &mut *parts;
        if let Some(e) = failed.take() {
            // An asker's read failed.
            return Ended::here(ended(e));
        }
        // Taken at the first data frame of what was read and held until it is all delivered
        // (`Delivering`).
        let mut delivering: Delivering = None;
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

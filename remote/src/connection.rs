//! One established connection of a link: a reader that delivers frames in order and a writer
//! that sends control frames first, then queued data frames, several per (vectored) write.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::config::Mode;
use crate::error::RemoteAskError;
use crate::frame::{encode_frame, Frame, FrameSpec, Kind};
use crate::link::Inner;
use crate::reader::{FrameReader, ReadError};
use crate::session::Order;
use crate::transport::{ReadHalf, WriteHalf};

/// Runs the connection until it fails, the link closes or a newer connection replaces it.
/// Returns why it ended (already reported to the link's observer).
pub(crate) async fn run(
    link: Arc<Inner>,
    id: u64,
    reader: FrameReader,
    rd: ReadHalf,
    wr: WriteHalf,
) -> String {
    let reason = tokio::select! {
        r = read_loop(&link, id, reader, rd) => r,
        r = write_loop(&link, id, wr) => r,
    };
    link.detach(id, &reason);
    reason
}

async fn read_loop(
    link: &Arc<Inner>,
    id: u64,
    mut reader: FrameReader,
    mut rd: ReadHalf,
) -> String {
    let timeout = link.config.heartbeat_timeout;
    loop {
        loop {
            let frame = match reader.next_buffered() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return format!("closed on a malformed frame from the peer: {e}"),
            };
            link.metrics.frame_received(frame.wire_len() as u64);
            if let Err(reason) = handle(link, id, frame).await {
                return reason;
            }
        }
        let owed = {
            let st = link.lock();
            st.inb.delivered > st.acked
        };
        if owed {
            link.wake_writer.notify_one();
        }
        if let Mode::Spin(budget) = link.config.mode {
            match spin(&mut reader, &mut rd, budget).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return ended(e),
            }
        }
        match link.clock.timeout(timeout, reader.fill(&mut rd)).await {
            Err(_) => {
                return format!(
                    "nothing from the peer for {timeout:?}: heartbeat timeout, peer presumed dead"
                )
            }
            Ok(Err(e)) => return ended(e),
            Ok(Ok(())) => {}
        }
    }
}

fn ended(e: ReadError) -> String {
    match e {
        ReadError::Wire(w) => format!("closed on a malformed frame from the peer: {w}"),
        other => other.to_string(),
    }
}

/// Polls the socket without parking for up to `budget` of CPU time; `Ok(true)` once bytes
/// arrived.
async fn spin(
    reader: &mut FrameReader,
    rd: &mut ReadHalf,
    budget: Duration,
) -> Result<bool, ReadError> {
    let start = std::time::Instant::now();
    loop {
        if reader.try_fill(|buf| rd.try_read(buf))? {
            return Ok(true);
        }
        if start.elapsed() >= budget {
            return Ok(false);
        }
        tokio::task::yield_now().await;
    }
}

async fn handle(link: &Arc<Inner>, id: u64, f: Frame<'_>) -> Result<(), String> {
    match f.kind {
        Kind::Heartbeat | Kind::Ack => {
            link.on_ack(f.ack);
            return Ok(());
        }
        Kind::Close => {
            return Err(format!(
                "the peer closed the link: {}",
                String::from_utf8_lossy(f.payload)
            ))
        }
        Kind::Hello | Kind::Proof | Kind::Verdict => {
            return Err(format!(
                "closed on a {:?} frame after the handshake (protocol violation)",
                f.kind
            ))
        }
        _ => {}
    }
    // From the order check until the delivery is recorded no other reader of this link may
    // check: a replaced connection's reader can still run (an abort takes effect at its next
    // await) while its successor already resumed from the same `delivered`.
    let _delivering = link.delivery.lock().await;
    let instance = {
        let mut st = link.lock();
        if st.connection != Some(id) {
            // Replaced: the newer connection delivers this frame (or has already).
            return Err("replaced by a newer connection".to_owned());
        }
        match st.inb.check(f.seq) {
            Order::Deliver => st.inb.instance,
            Order::Duplicate => {
                st.stats.duplicates += 1;
                return Ok(());
            }
            Order::Gap { expected } => {
                return Err(format!(
                    "closed on an out-of-sequence frame: seq {} where {expected} was expected",
                    f.seq
                ))
            }
        }
    };
    let failed = deliver(link, &f).await;
    let mut st = link.lock();
    // Recorded even when a newer connection from the same peer instance took over meanwhile
    // (it must not deliver this frame again); never moves `delivered` backwards.
    st.inb.record(instance, f.seq);
    st.stats.delivered += 1;
    // The writer sends the ack with whatever it writes next (one permit however many
    // frames were delivered meanwhile).
    link.wake_writer.notify_one();
    if let Some(e) = failed {
        st.stats.dispatch_failures += 1;
        drop(st);
        tracing::warn!(
            target: "mycelium::remote",
            peer = %link.peer, service = f.name, type_id = f.type_id, seq = f.seq, error = %e,
            "incoming message not delivered"
        );
    }
    Ok(())
}

/// Hands a data frame that passed the order check to this node; the error when a local
/// service could not take it.
async fn deliver(link: &Arc<Inner>, f: &Frame<'_>) -> Option<crate::error::DispatchError> {
    match f.kind {
        Kind::Tell => link.dispatch.tell(f.name, f.type_id, f.payload).await.err(),
        Kind::Publish => link
            .dispatch
            .publish(f.name, f.type_id, f.key, f.payload)
            .await
            .err(),
        Kind::Ask => {
            let corr = f.corr;
            let queued = link.dispatch.ask(f.name, f.type_id, f.payload).await;
            let link = link.clone();
            // Replies wait for room in the link's queue on their own task, so the reader
            // never waits on its own link.
            tokio::spawn(async move {
                let reply = match queued {
                    Ok(reply) => reply.await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = link.send_reply(corr, reply).await {
                    tracing::warn!(target: "mycelium::remote", peer = %link.peer, corr, error = %e, "reply not sent");
                }
            });
            None
        }
        Kind::Reply => {
            link.on_reply(f.corr, Ok((f.type_id, f.payload.to_vec())));
            None
        }
        Kind::ReplyFailed => {
            let reason = String::from_utf8_lossy(f.payload).into_owned();
            link.on_reply(f.corr, Err(RemoteAskError::Failed(reason)));
            None
        }
        Kind::Subscribe => link
            .on_subscribe(f.name, f.type_id)
            .err()
            .map(crate::error::DispatchError::Failed),
        Kind::Unsubscribe => {
            link.on_unsubscribe(f.name, f.type_id);
            None
        }
        _ => None,
    }
}

async fn write_loop(link: &Arc<Inner>, id: u64, mut wr: WriteHalf) -> String {
    let interval = link.config.heartbeat_interval;
    let mut batch: Vec<Bytes> = Vec::with_capacity(link.config.batch_frames);
    let mut control: Vec<u8> = Vec::with_capacity(64);
    let mut last_sent = link.clock.now();
    // An ack owed with nothing else to write waits one turn of the scheduler first: the
    // reply, or the next message, it would precede is usually about to be queued (a handler
    // answering, a caller asking again), and then one write carries both and the peer's
    // reader wakes once instead of twice. One turn only, so an ack is never held back for
    // long.
    let mut ack_deferred = false;
    loop {
        let wake = link.wake_writer.notified();
        let mut wake = std::pin::pin!(wake);
        wake.as_mut().enable();
        let now = link.clock.now();
        let closed = link.lock().closed.clone();
        if let Some(reason) = closed {
            let mut out = Vec::new();
            let spec = FrameSpec::control(Kind::Close);
            let _ = encode_frame(&mut out, &spec, link.config.max_frame, |o| {
                o.extend_from_slice(reason.as_bytes())
            });
            let _ = wr.write_all(&out).await;
            let _ = wr.shutdown().await;
            return format!("link closed: {reason}");
        }
        let defer = {
            let mut st = link.lock();
            if st.connection != Some(id) {
                return "replaced by a newer connection".to_owned();
            }
            control.clear();
            st.out.take_batch(
                link.config.batch_frames,
                link.config.batch_bytes,
                &mut batch,
            );
            let ack = st.inb.delivered;
            let heartbeat_due = now.saturating_sub(last_sent) >= interval;
            let defer = ack > st.acked && batch.is_empty() && !heartbeat_due && !ack_deferred;
            let kind = if defer {
                None
            } else if ack > st.acked {
                Some(Kind::Ack)
            } else if heartbeat_due {
                Some(Kind::Heartbeat)
            } else {
                None
            };
            if let Some(kind) = kind {
                let mut spec = FrameSpec::control(kind);
                spec.ack = ack;
                spec.ts_ns = now.as_nanos() as u64;
                let _ = encode_frame(&mut control, &spec, link.config.max_frame, |_| {});
                st.acked = ack;
            }
            defer
        };
        if defer {
            ack_deferred = true;
            tokio::task::yield_now().await;
            continue;
        }
        ack_deferred = false;
        if control.is_empty() && batch.is_empty() {
            tokio::select! {
                _ = wake => {}
                _ = link.clock.sleep_until(last_sent + interval) => {}
            }
            continue;
        }
        if let Err(e) = write_all(&mut wr, &control, &batch).await {
            return format!("write failed: {e}");
        }
        if link.metrics.is_enabled() {
            if !control.is_empty() {
                link.metrics.frame_sent(control.len() as u64);
            }
            for frame in &batch {
                link.metrics.frame_sent(frame.len() as u64);
            }
        }
        last_sent = link.clock.now();
        batch.clear();
    }
}

/// Writes the control bytes, then every frame, in as few vectored writes as the socket takes.
async fn write_all(wr: &mut WriteHalf, control: &[u8], frames: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.len() + 1);
    if !control.is_empty() {
        slices.push(IoSlice::new(control));
    }
    slices.extend(frames.iter().map(|f| IoSlice::new(f)));
    let mut rest: &mut [IoSlice<'_>] = &mut slices;
    while !rest.is_empty() {
        let n = wr.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

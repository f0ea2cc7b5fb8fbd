//! What a reader does with each frame: acknowledgements and control frames applied, data
//! frames checked for order and handed to this node (an ask answered at once when its actor
//! is idle), and the delivery recorded.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use super::{spinning, Ended};
use crate::dispatch::AskNow;
use crate::error::WireError;
use crate::frame::{encode_frame, set_time, set_type_id, Frame, FrameSpec, Kind};
use crate::handled::{Deferred, Handled};
use crate::link::{reply_too_large, DeliveryGuard, Inner};
use crate::read::reply_of;
use crate::session::Order;

/// The link's delivery lock ([`Inner::delivery`]) while a reader holds it: from the order
/// check of the first data frame of one read until the last of them is delivered and
/// recorded. Taken once per read rather than once per frame (its release alone cost about
/// 70 instructions); another reader of the link, which can only be a connection replacing
/// this one, waits as long as before, since this reader gives it up before it waits for
/// bytes and ends at its next frame once replaced.
///
/// While it is held (from before the first order check), an asker reading replies
/// (`read.rs`) leaves them to the readers.
pub(super) type Delivering<'a> = Option<DeliveryGuard<'a>>;

pub(super) async fn handle<'a>(
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
    if delivering.is_none() {
        *delivering = Some(link.delivery.lock().await);
    }
    // A unit of the task's cooperative budget per frame, as the lock's acquisition took when
    // it was taken per frame: a long read yields every so often, so the writer sends the
    // acknowledgements that let the peer's sender go on, and the actors it fed run. (Without
    // it, one-way streams in block mode ran 30-40% slower.)
    tokio::task::consume_budget().await;
    let (numbering, asker, reply_buffer, handled) = {
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
                st.inb.handled().clone(),
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
    // What the frame delivers comes from the peer node, for a recorded actor's journal.
    let from_peer = mycelium_actors::recording::Source::Node(link.node);
    let delivering = deliver(link, &f, asker, reply_buffer, &handled);
    let (failed, answered, later) =
        match mycelium_actors::recording::sending_as(from_peer, delivering).await {
            Delivered::Done => (None, None, false),
            Delivered::Later => (None, None, true),
            Delivered::Failed(e) => (Some(e), None, false),
            Delivered::Answered(reply) => (None, Some(Answer::Reply(reply)), false),
            Delivered::AnsweredFrame(type_id, frame) => {
                (None, Some(Answer::Frame(type_id, frame)), false)
            }
        };
    let mut st = link.lock();
    // Recorded even when a newer connection from the same peer instance took over meanwhile
    // (it must not deliver this frame again); never moves `delivered` backwards. Handled at
    // once unless its receipt (a tell in a mailbox) or its reply (an ask) says so later.
    st.inb.record(numbering, f.seq);
    if !later {
        handled.mark(f.seq);
    }
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
    /// Handled (or failed for good): acknowledged with the next write.
    Done,
    /// A tell in a mailbox, or an ask whose reply is still to come: its receipt marks it
    /// handled ([`crate::handled`]).
    Later,
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
    handled: &Arc<Handled>,
) -> Delivered {
    let done = |r: Result<(), crate::error::DispatchError>| match r {
        Ok(()) => Delivered::Done,
        Err(e) => Delivered::Failed(e),
    };
    // A tell in a mailbox is handled once its receipt is signed; one that was not queued is
    // done (its failure logged and counted).
    let queued = |r: Result<(), crate::error::DispatchError>| match r {
        Ok(()) => Delivered::Later,
        Err(e) => Delivered::Failed(e),
    };
    match f.kind {
        // Most tells find room: taken without a future, and only a full mailbox waits.
        Kind::Tell => {
            let receipt = handled.receipt(f.seq);
            match link
                .dispatch
                .try_tell_receipted(f.name, f.type_id, f.payload, receipt)
            {
                Some(told) => queued(told),
                None => {
                    // A wait for room can be abandoned (the connection ends): the receipt
                    // dropped with the unqueued message must not count as handled.
                    let deferred = Deferred::new(handled);
                    let abandoned = deferred.cancel_on_drop();
                    let told = link
                        .dispatch
                        .tell_receipted(f.name, f.type_id, f.payload, deferred.receipt(f.seq))
                        .await;
                    deferred.queued(f.seq);
                    drop(abandoned);
                    queued(told)
                }
            }
        }
        // Most publications are taken by every subscriber at once, without a future.
        Kind::Publish => match link
            .dispatch
            .publish_now(f.name, f.type_id, f.key, f.payload)
        {
            Ok(None) => Delivered::Done,
            Ok(Some(rest)) => done(rest.await),
            Err(e) => Delivered::Failed(e),
        },
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
            // Acknowledged once answered (its reply queued): until then the ask stays in the
            // peer's resend log, so a process that dies with it in a mailbox leaves it to be
            // sent again or reported lost, by sequence number, as a tell.
            link.reply_later(
                corr,
                asker,
                async move { reply.await.map_err(|e| e.to_string()) },
                handled.receipt(f.seq),
            );
            Delivered::Later
        }
        Kind::Reply | Kind::ReplyFailed => {
            link.on_reply(f.corr, reply_of(f));
            Delivered::Done
        }
        Kind::Subscribe => done(
            crate::topics::RemoteOverflow::decode(f.payload)
                .and_then(|policy| link.on_subscribe(f.name, f.type_id, policy))
                .map_err(crate::error::DispatchError::Failed),
        ),
        // A topic notice (`link/interests.rs`): a pattern is never empty.
        Kind::Unsubscribe if f.name.is_empty() => {
            link.on_topic_notice(f.type_id, f.payload).await;
            Delivered::Done
        }
        Kind::Unsubscribe => {
            link.on_unsubscribe(f.name, f.type_id);
            Delivered::Done
        }
        _ => Delivered::Done,
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

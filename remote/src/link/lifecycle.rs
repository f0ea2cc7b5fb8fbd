//! A link's connections coming and going: each one attached after its handshake (where the
//! two sides agree on what to resend and what was lost), detached when it drops, and the
//! link's end with its loss report; the events that tell an observer.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Waker;

use mycelium_actors::telemetry::LinkState;
use mycelium_actors::{ActorId, DeadLetter, DeadLetterReason};

use super::{Inner, ReplyTo};
use crate::error::{RemoteAskError, SendError};
use crate::event::{GapReason, LinkEvent, LinkEventKind, LossReason};
use crate::frame::{parse_frame, Kind};
use crate::handshake::{Authenticated, Resume};
use crate::read::ReadSide;
use crate::session::body_len;
use crate::write::WriteSide;

impl Inner {
    /// Makes `side` the one senders write to, if connection `id` is still the current one.
    pub fn set_write_side(&self, id: u64, side: &Arc<WriteSide>) {
        let mut st = self.lock();
        if st.connection == Some(id) {
            st.write = Some(side.clone());
        }
    }

    /// Makes `side` the one askers read their replies from, if connection `id` is still
    /// the current one.
    pub fn set_read_side(&self, id: u64, side: &Arc<ReadSide>) {
        let mut st = self.lock();
        if st.connection == Some(id) {
            st.read = Some(side.clone());
        }
    }

    pub fn emit(&self, kind: LinkEventKind) {
        let event = LinkEvent {
            at: self.clock.now(),
            peer: self.peer.clone(),
            kind,
        };
        match &event.kind {
            LinkEventKind::Connecting { .. } => self.metrics.state(LinkState::Connecting),
            LinkEventKind::Up { resent, .. } => {
                self.metrics.state(LinkState::Up);
                self.metrics.resent(*resent);
            }
            LinkEventKind::Down { .. }
            | LinkEventKind::Refused { .. }
            | LinkEventKind::GaveUp { .. } => self.metrics.state(LinkState::Down),
            LinkEventKind::Loss(report) => self.metrics.loss_report(report.messages.len() as u64),
            LinkEventKind::TopicGap(_) => {}
        }
        match &event.kind {
            LinkEventKind::Connecting { attempt } => {
                tracing::debug!(target: "mycelium::remote", peer = %event.peer, attempt, "connecting")
            }
            LinkEventKind::Up {
                peer_instance,
                resent,
            } => tracing::info!(
                target: "mycelium::remote",
                peer = %event.peer, peer_instance = format_args!("{peer_instance:016x}"), resent,
                "link up"
            ),
            LinkEventKind::Down {
                reason,
                by_peer: true,
            } => {
                tracing::info!(target: "mycelium::remote", peer = %event.peer, %reason, "link closed by the peer")
            }
            LinkEventKind::Down {
                reason,
                by_peer: false,
            } => {
                tracing::warn!(target: "mycelium::remote", peer = %event.peer, %reason, "link down")
            }
            LinkEventKind::Refused { reason } => {
                tracing::warn!(target: "mycelium::remote", peer = %event.peer, %reason, "link refused")
            }
            // Logged by `end`, which knows whether the close was asked for.
            LinkEventKind::GaveUp { .. } => {}
            LinkEventKind::Loss(report) => tracing::error!(
                target: "mycelium::remote",
                peer = %event.peer, first_seq = report.first_seq, last_seq = report.last_seq,
                count = report.messages.len(), reason = ?report.reason,
                types = ?report.messages.iter().map(|m| m.type_id).collect::<std::collections::BTreeSet<_>>(),
                "messages lost"
            ),
            LinkEventKind::TopicGap(gap) => tracing::warn!(
                target: "mycelium::remote",
                peer = %event.peer, topic = %gap.topic, type_id = gap.type_id,
                first_seq = gap.first_seq, last_seq = gap.last_seq, count = gap.count,
                reason = ?gap.reason, "{gap}"
            ),
        }
        if let LinkEventKind::Loss(report) = &event.kind {
            // Every lost tell and publication is also a dead letter of this bus: one event,
            // whose first letters are logged one by one and the rest counted in one line
            // (the error above sums the loss up).
            let lost = report
                .messages
                .iter()
                .filter(|m| matches!(m.kind, Kind::Tell | Kind::Publish));
            self.bus.dead_letters().post_all(lost.map(|m| DeadLetter {
                actor: ActorId::new(self.node, 0),
                actor_type: "remote service",
                message_type: m.message,
                reason: DeadLetterReason::Lost {
                    node: self.node,
                    reason: format!(
                        "{:?} to `{}` on node `{}`, seq {}, type id {}: {:?}",
                        m.kind, m.name, self.peer, m.seq, m.type_id, report.reason
                    ),
                },
                message: None,
            }));
        }
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// Ends the current connection, if any, before a new one from the peer takes its place.
    pub fn replace_current(&self, reason: &str) {
        let (id, task) = {
            let mut st = self.lock();
            (st.connection, st.task.take())
        };
        if let Some(task) = task {
            task.abort();
        }
        if let Some(id) = id {
            self.detach(id, reason, false);
        }
    }

    /// Records the task that runs connection `id`.
    pub fn set_task(&self, id: u64, task: tokio::task::AbortHandle) {
        let mut st = self.lock();
        if st.connection == Some(id) {
            st.task = Some(task);
        } else if st.closed.is_none() {
            // Replaced already by a newer connection.
            task.abort();
        }
        // Closed since it was attached: as `end` does, the task is left to send the Close
        // frame and end by itself.
    }

    /// How many connections were attached so far (a new one changes it).
    pub fn generation(&self) -> u64 {
        self.lock().next_connection
    }

    /// Computes our resume point for a connection with `peer` (sent in our verdict).
    pub fn resume_point(&self, peer: &Authenticated) -> Resume {
        let st = self.lock();
        let same = st.inb.knows(peer.incarnation);
        Resume {
            known_incarnation: st.inb.incarnation.unwrap_or(0),
            received: st.inb.handled_through(),
            first_seq: st.out.first_seq(same),
        }
    }

    /// Installs a new connection after both verdicts. Returns its id, or an error when the
    /// two sides' resume points disagree (the connection must then close; the next one
    /// agrees).
    pub fn attach(&self, peer: &Authenticated, theirs: Resume) -> Result<u64, String> {
        let mut st = self.lock();
        if let Some(reason) = &st.closed {
            return Err(format!("link closed: {reason}"));
        }
        let same = st.inb.knows(peer.incarnation);
        let peer_knows_us = theirs.known_incarnation == self.me.incarnation;
        // The process this side installed a connection with, which never installed one from
        // this node: its handshake ended between the two verdicts (a connection cut after
        // ours arrived and before theirs did), so it handled nothing of this side's, and
        // everything unacknowledged is sent again.
        let never_installed = same && theirs.known_incarnation == 0;
        let continuity = same && (peer_knows_us || never_installed);
        let received = if peer_knows_us { theirs.received } else { 0 };
        let reason = if same {
            LossReason::PeerForgot
        } else {
            LossReason::PeerRestarted
        };
        let old_instance = st.inb.instance;
        let (resent, loss) = st
            .out
            .resume(continuity, received, reason, &self.peer, old_instance);
        // Replies to a restarted peer's predecessor would reach the new process as answers
        // to its own asks of the same correlation ids: nobody can receive them.
        let stale_replies = if same {
            0
        } else {
            st.out.drop_unwritten_replies()
        };
        st.stats.stale_replies += stale_replies as u64;
        // Frames queued before this side knew the peer's limit (while it was away, or meant
        // for a predecessor that took larger ones) would close every connection at the
        // peer's reader and be sent again without end: they are reported lost instead, and
        // the asks among them fail. One incarnation's limit never changes (a node's
        // configuration is fixed), so frames written to it already always fit it.
        self.peer_max_frame.store(peer.max_frame, Ordering::Release);
        let too_large = st.out.remove_too_large(peer.max_frame);
        let mut too_large_asks: Vec<(ReplyTo, usize)> = Vec::new();
        let mut too_large_wakers = Vec::new();
        for e in too_large.iter().filter(|e| e.kind == Kind::Ask) {
            let Some((f, _)) = parse_frame(&e.bytes, self.config.max_frame).ok().flatten() else {
                continue;
            };
            let len = body_len(e.bytes.len());
            match st.pending.get_mut(&f.corr) {
                // Failed in its entry, where its asker takes it.
                Some(p) if matches!(p.reply_to, ReplyTo::InPlace(_)) => {
                    let failure = RemoteAskError::NotSent(SendError::TooLarge(
                        self.too_large_for_peer(len, peer.max_frame),
                    ));
                    too_large_wakers.extend(self.settle(p, Err(failure)));
                }
                Some(_) => {
                    if let Some(p) = st.pending.remove(&f.corr) {
                        too_large_asks.push((p.reply_to, len));
                    }
                }
                None => {}
            }
        }
        let too_large_loss = crate::session::loss_report(
            &too_large,
            LossReason::TooLargeForPeer,
            &self.peer,
            Some(peer.instance),
        );
        let largest = too_large.iter().map(|e| body_len(e.bytes.len())).max();
        drop(too_large);
        // A peer that does not know this node's incarnation numbers its frames anew.
        st.inb.resume(
            (peer.instance, peer.incarnation),
            theirs.first_seq,
            peer_knows_us,
        );
        if !same && old_instance.is_some() {
            // A restarted peer: its predecessor's interest is kept and served until the new
            // process renews it or says its interest is complete (`interests.rs`), so what is
            // published meanwhile is queued for it rather than dropped.
            let carried: Vec<(String, u16)> = st
                .forwarded
                .keys()
                .chain(st.waiting.iter())
                .cloned()
                .collect();
            st.carried.extend(carried);
        }
        // The publications lost to the peer: it is told which, first thing on this
        // connection after what was queued before.
        if let Some(loss) = &loss {
            let why = match loss.reason {
                LossReason::PeerForgot => GapReason::Forgot,
                _ => GapReason::Restarted,
            };
            self.queue_gaps(&mut st, loss, why);
        }
        if let Some(loss) = &too_large_loss {
            self.queue_gaps(&mut st, loss, GapReason::TooLarge);
        }
        // This node's interest, sent again on every connection (a peer that restarted, or
        // whose link gave up and was opened again, no longer serves it; one that does takes
        // it as a repeat); and, to a peer that knew this node's predecessor, the notice that
        // it is complete, which ends what the peer kept for that predecessor.
        let knew_predecessor = theirs.known_incarnation != 0 && !peer_knows_us;
        self.queue_interest(&mut st, knew_predecessor);
        st.acked = st.inb.handled_through();
        st.ack_due = false;
        let id = st.next_connection;
        st.next_connection += 1;
        let consistent = continuity || !same;
        // The previous connection's write side goes with it (its task may still be stopping).
        st.write = None;
        st.read = None;
        if consistent {
            st.connection = Some(id);
        }
        drop(st);
        self.room.wake_all();
        if stale_replies > 0 {
            tracing::info!(
                target: "mycelium::remote",
                peer = %self.peer, count = stale_replies,
                "replies to the asks of the peer's previous incarnation dropped: it restarted, and nobody can receive them"
            );
        }
        if let Some(loss) = loss {
            self.emit(LinkEventKind::Loss(loss));
        }
        if let Some(largest) = largest {
            tracing::warn!(
                target: "mycelium::remote",
                peer = %self.peer, largest, peer_max = peer.max_frame, own_max = self.config.max_frame,
                "messages queued before the peer's largest frame was known do not fit in it; reported lost (raise `max_frame` on the peer or send smaller messages)"
            );
        }
        for (reply_to, body_len) in too_large_asks {
            reply_to.answer(Err(RemoteAskError::NotSent(SendError::TooLarge(
                self.too_large_for_peer(body_len, peer.max_frame),
            ))));
        }
        too_large_wakers.into_iter().for_each(Waker::wake);
        if let Some(loss) = too_large_loss {
            self.emit(LinkEventKind::Loss(loss));
        }
        if !consistent {
            return Err("the peer no longer knows this link; unacknowledged messages were reported lost, reconnecting".into());
        }
        self.emit(LinkEventKind::Up {
            peer_instance: peer.instance,
            resent,
        });
        Ok(id)
    }

    /// The connection `id` ended (`by_peer`: the peer closed it with a Close frame): asks in
    /// flight fail at once.
    pub fn detach(&self, id: u64, reason: &str, by_peer: bool) {
        let pending = {
            let mut st = self.lock();
            if st.connection != Some(id) {
                return;
            }
            st.connection = None;
            st.task = None;
            st.write = None;
            st.read = None;
            self.take_failing(&mut st, &mut HashMap::new(), reason)
        };
        let (pending, wakers) = pending;
        self.fail_asks(pending, HashMap::new(), reason);
        wakers.into_iter().for_each(Waker::wake);
        self.emit(LinkEventKind::Down {
            reason: reason.to_owned(),
            by_peer,
        });
    }

    /// Gives up: everything queued or unacknowledged is reported lost.
    pub fn give_up(&self, reason: &str) {
        self.end(reason, false);
    }

    /// Ends the link: given up (an error), or closed by this node's shutdown (`asked`: logged
    /// at info; the loss report, if any, is an error either way).
    ///
    /// What is queued or unacknowledged is reported lost once no connection of the link runs
    /// ([`report_owed_loss`](Self::report_owed_loss)): a running one writes the Close frame
    /// and reads the peer's answer to it, whose acknowledgement takes what the peer delivered
    /// out of the report.
    pub(super) fn end(&self, reason: &str, asked: bool) {
        let (pending, unsent, wakers) = {
            let mut st = self.lock();
            if st.closed.is_some() {
                if asked {
                    // The node shuts down: the interest kept through the close ends now.
                    let lapsed = self.end_lapsed(&mut st);
                    drop(st);
                    self.report_lapsed(lapsed, "the node shut down before the link opened again");
                }
                return;
            }
            st.closed = Some(reason.to_owned());
            st.end_reported = false;
            st.connection = None;
            st.write = None;
            st.read = None;
            if let Some(task) = st.task.take() {
                // Let the writer send a Close frame first; the task ends by itself.
                drop(task);
            }
            if asked {
                for (_, subscription) in std::mem::take(&mut st.forwarded) {
                    subscription.cancel();
                }
            } else {
                // The link may open again: the peer's interest stays served, and what is
                // published for it meanwhile is counted, then told to the peer as a gap
                // when it does (`interests.rs`), rather than missed without a word.
                st.lapsed = st.forwarded.keys().map(|k| (k.clone(), 0)).collect();
            }
            // Asks never written go back to their askers: they were not handled. (The link
            // writes nothing more: frames already taken for a write count as written.)
            let mut unsent: HashMap<u64, Vec<u8>> = st
                .out
                .never_written()
                .filter(|e| e.kind == Kind::Ask)
                .filter_map(|e| parse_frame(&e.bytes, self.config.max_frame).ok().flatten())
                .map(|(f, _)| (f.corr, f.payload.to_vec()))
                .collect();
            let (pending, wakers) = self.take_failing(&mut st, &mut unsent, reason);
            (pending, unsent, wakers)
        };
        self.fail_asks(pending, unsent, reason);
        wakers.into_iter().for_each(Waker::wake);
        self.room.wake_all();
        self.closing.notify_waiters();
        self.writes_due.store(true, Ordering::Release);
        self.writer.notify_waiters();
        if asked {
            tracing::info!(target: "mycelium::remote", peer = %self.peer, %reason, "link closed");
        } else {
            tracing::error!(target: "mycelium::remote", peer = %self.peer, %reason, "link gave up");
        }
        self.emit(LinkEventKind::GaveUp {
            reason: reason.to_owned(),
        });
        // Owed only now, so that the report follows the GaveUp event.
        self.lock().loss_owed = true;
        self.report_owed_loss();
    }

    /// Makes a closed link's loss report once no connection of it runs (called by the link's
    /// end and by each connection task as it ends, [`Inner::running`]); at most once.
    pub fn report_owed_loss(&self) {
        let loss = {
            let mut st = self.lock();
            // Read under the lock: a connection task that ends after this look finds the
            // report owed when it looks itself, one that ended before has been counted out.
            if !st.loss_owed || self.running.load(Ordering::Acquire) != 0 {
                return;
            }
            st.loss_owed = false;
            let instance = st.inb.instance;
            st.out.give_up(&self.peer, instance)
        };
        if let Some(loss) = loss {
            self.emit(LinkEventKind::Loss(loss));
        }
        self.lock().end_reported = true;
        self.ended.notify_waiters();
    }

    /// Waits until the closed link's end is over: its `GaveUp` event emitted and its loss
    /// report (with the dead letters of it) made, once no connection of it runs. An end in
    /// progress on another thread (a give-up as the node closes) is waited for too. Returns
    /// at once on a link that is open.
    pub(crate) async fn ended(&self) {
        loop {
            let ended = self.ended.notified();
            let mut ended = std::pin::pin!(ended);
            ended.as_mut().enable();
            {
                let st = self.lock();
                if st.closed.is_none() || st.end_reported {
                    return;
                }
            }
            ended.await;
        }
    }
}

//! Topic interest across a link: this node's, sent to the peer (and again on each new
//! connection), and the peer's, served with a subscription on this bus per pattern and type;
//! and the topic notices that travel with them.
//!
//! A notice is an Unsubscribe frame with an empty name (a pattern can never be empty, so a
//! node of an older version takes it as the withdrawal of nothing and ignores it). Its body
//! says what it is:
//!
//! - empty (or tag 0): *interest complete*. Sent on a connection to a peer that does not know
//!   this process (it just started, or the peer did), after this node's interest: the peer
//!   drops what it kept for this node's predecessor and this node did not renew.
//! - tag 1: *gap*. `reason: u8`, `first_seq: u64`, `last_seq: u64`, `count: u64` (little
//!   endian), then the topic's name: publications of the frame's type id on that topic that
//!   this node sent toward the peer and that will never arrive ([`TopicGap`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Inner, Link, State};
use crate::error::SendError;
use crate::event::{GapReason, LinkEventKind, LossReport, TopicGap, GAP_TOPIC};
use crate::frame::{encode_frame, FrameSpec, Kind};
use crate::topics::RemoteOverflow;

/// A notice's tag: this node's interest is complete.
const INTEREST_COMPLETE: u8 = 0;
/// A notice's tag: publications were lost.
const GAP: u8 = 1;
/// A gap notice's fixed part: tag, reason, three numbers.
const GAP_HEAD: usize = 2 + 3 * 8;

/// Distinct topic interests (pattern and type id) a peer may hold on one link: each costs a
/// subscription on this bus, so a peer that knows the secret still cannot grow them without
/// bound. Far above what a topology uses.
pub const MAX_TOPIC_INTERESTS: usize = 4096;

impl Link {
    /// Asks the peer to forward publications of type `type_id` on topics matching `pattern`
    /// (sent once per pattern and type; sent again on each new connection). An interest that
    /// could not be queued (the link is closed, the frame too large) is not kept.
    pub async fn subscribe_remote(&self, pattern: &str, type_id: u16) -> Result<(), SendError> {
        self.subscribe_remote_with(pattern, type_id, RemoteOverflow::Block)
            .await
    }

    /// As [`subscribe_remote`](Self::subscribe_remote), with the overflow policy the peer
    /// applies while this link's queue is full. Subscribing again with another policy
    /// changes it.
    pub async fn subscribe_remote_with(
        &self,
        pattern: &str,
        type_id: u16,
        policy: RemoteOverflow,
    ) -> Result<(), SendError> {
        let name: Arc<str> = Arc::from(pattern);
        let before = {
            let mut st = self.inner.lock();
            let at = st
                .interests
                .iter()
                .position(|(p, t, _)| **p == *pattern && *t == type_id);
            match at {
                Some(at) if st.interests[at].2 == policy => return Ok(()),
                Some(at) => Some(std::mem::replace(&mut st.interests[at].2, policy)),
                None => {
                    st.interests.push((name.clone(), type_id, policy));
                    None
                }
            }
        };
        let sent = self
            .send_named(Kind::Subscribe, &name, type_id, "subscription", |out| {
                policy.encode(out)
            })
            .await;
        if sent.is_err() {
            // Not recorded: a later call sends it again, and a restarted peer is not asked
            // for an interest it never had.
            let mut st = self.inner.lock();
            let at = st
                .interests
                .iter()
                .position(|(p, t, _)| **p == *pattern && *t == type_id);
            match (at, before) {
                (Some(at), Some(before)) => st.interests[at].2 = before,
                (Some(at), None) => {
                    st.interests.remove(at);
                }
                _ => {}
            }
        }
        sent.map(|_| ())
    }

    /// Tells the peer that `count` publications of `type_id` for its subscription to
    /// `pattern` were dropped by the subscription's policy (`topics.rs`). Queued beyond the
    /// capacity: right behind a publication just queued, or once the queue has room
    /// ([`room_for_notice`](Self::room_for_notice)), so at most one per publication queued or
    /// per wait for room. Returns false when it was not queued (the link is closed).
    pub(crate) fn notice_dropped(&self, pattern: &str, type_id: u16, count: u64) -> bool {
        let mut st = self.inner.lock();
        if st.closed.is_some() {
            return false;
        }
        self.inner
            .push_gap(&mut st, pattern, type_id, (0, 0, count), GapReason::Dropped);
        true
    }

    /// Waits until the link is open and its queue has room for a frame of this node's own:
    /// when a notice the peer is owed (drops, publications too large) can go out. A link
    /// that closes is waited through until it opens again.
    pub(crate) async fn room_for_notice(&self) {
        loop {
            let (_counted, room) = self.inner.room.wait();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            {
                let st = self.inner.lock();
                if st.closed.is_none() && self.inner.room_for_own(&st) {
                    return;
                }
            }
            room.await;
        }
    }

    /// Tells the peer that `count` publications for its subscription, on `topic` (or
    /// matching it), were too large for a frame: queued when the queue has room for the
    /// notice, or (`behind_publication`: right behind a publication just queued) beyond its
    /// capacity. Returns false when it was not queued (no room, or the link is closed).
    pub(crate) fn notice_too_large(
        &self,
        topic: &str,
        type_id: u16,
        count: u64,
        behind_publication: bool,
    ) -> bool {
        let mut st = self.inner.lock();
        if st.closed.is_some() || !(behind_publication || self.inner.room_for_own(&st)) {
            return false;
        }
        self.inner
            .push_gap(&mut st, topic, type_id, (0, 0, count), GapReason::TooLarge);
        self.inner.write_queued(st, Kind::Unsubscribe);
        true
    }

    /// Withdraws the interest [`subscribe_remote`](Self::subscribe_remote) sent: the peer
    /// stops forwarding `type_id` on `pattern`, and a restarted peer is not asked for it
    /// again. Sends nothing for an interest this link never sent.
    pub async fn unsubscribe_remote(&self, pattern: &str, type_id: u16) -> Result<(), SendError> {
        {
            let mut st = self.inner.lock();
            let before = st.interests.len();
            st.interests
                .retain(|(p, t, _)| !(**p == *pattern && *t == type_id));
            if st.interests.len() == before {
                return Ok(());
            }
        }
        let name: Arc<str> = Arc::from(pattern);
        self.send_named(Kind::Unsubscribe, &name, type_id, "unsubscription", |_| {})
            .await
            .map(|_| ())
    }

    /// The peer's topic interest this node serves: (pattern, type id), in order.
    pub fn forwarded_topics(&self) -> Vec<(String, u16)> {
        self.inner.lock().forwarded.keys().cloned().collect()
    }
}

impl Inner {
    /// The peer asks for publications of `type_id` on `pattern`. Refused beyond
    /// [`MAX_TOPIC_INTERESTS`] distinct interests on the link.
    pub fn on_subscribe(
        self: &Arc<Self>,
        pattern: &str,
        type_id: u16,
        policy: RemoteOverflow,
    ) -> Result<(), String> {
        let key = (pattern.to_owned(), type_id);
        {
            let mut st = self.lock();
            let same_policy = st.policies.get(&key) == Some(&policy);
            if st.waiting.contains(&key) || (same_policy && st.forwarded.contains_key(&key)) {
                // Renewed: what was kept for the peer's predecessor is the new process's.
                st.carried.remove(&key);
                st.policies.insert(key, policy);
                return Ok(());
            }
            // A new policy for a served interest: subscribed again below, replacing it.
            let renewed = st.forwarded.contains_key(&key);
            if !renewed && st.forwarded.len() + st.waiting.len() >= MAX_TOPIC_INTERESTS {
                return Err(format!(
                    "the peer already holds {MAX_TOPIC_INTERESTS} topic interests on this link, \
                     the most one link keeps; unsubscribe from others first"
                ));
            }
            if !self.topics.has(type_id) {
                // The node may name the type later (it starts its links first).
                tracing::debug!(target: "mycelium::remote", peer = %self.peer, pattern, type_id, "topic interest waits for forward_topic");
                st.policies.insert(key.clone(), policy);
                st.waiting.push(key);
                return Ok(());
            }
        }
        let link = Link {
            inner: self.clone(),
        };
        // The error quotes the peer's pattern: escaped like the peer's other text.
        let subscription = self
            .topics
            .subscribe(&self.bus, link, pattern, type_id, policy)
            .map_err(|e| crate::frame::peer_text(e.as_bytes()))?;
        let previous = {
            let mut st = self.lock();
            st.carried.remove(&key);
            st.policies.insert(key.clone(), policy);
            st.forwarded.insert(key, subscription)
        };
        if let Some(previous) = previous {
            previous.cancel();
        }
        Ok(())
    }

    /// `type_id` is now forwarded: serves the interest that waited for it.
    pub fn serve_waiting(self: &Arc<Self>, type_id: u16) {
        let ready: Vec<(String, u16)> = {
            let mut st = self.lock();
            let (ready, rest) = std::mem::take(&mut st.waiting)
                .into_iter()
                .partition(|(_, t)| *t == type_id);
            st.waiting = rest;
            ready
        };
        for (pattern, type_id) in ready {
            let policy = self
                .lock()
                .policies
                .get(&(pattern.clone(), type_id))
                .copied()
                .unwrap_or_default();
            if let Err(e) = self.on_subscribe(&pattern, type_id, policy) {
                tracing::warn!(target: "mycelium::remote", peer = %self.peer, pattern = pattern.as_str(), type_id, error = %e, "topic interest not served");
            }
        }
    }

    /// The peer no longer wants `type_id` on `pattern`.
    pub fn on_unsubscribe(&self, pattern: &str, type_id: u16) {
        let key = (pattern.to_owned(), type_id);
        let mut st = self.lock();
        st.carried.remove(&key);
        st.policies.remove(&key);
        // Interest still waiting for `forward_topic` is withdrawn as well.
        st.waiting.retain(|k| *k != key);
        // Cancelled before the lock is let go: once `forwarded_topics` no longer lists the
        // interest, nothing published is forwarded for it.
        if let Some(subscription) = st.forwarded.remove(&key) {
            subscription.cancel();
        }
    }
}

/// What became of a publication for the peer that found the link closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lapse {
    /// Counted: the link may open again, and the peer will be told of it as a gap.
    Counted,
    /// The link is open again: the publication can be queued.
    Open,
    /// The link is closed for good, or no longer serves this interest.
    Gone,
}

/// Publications of one of the peer's interests (pattern, type id) that could not be queued
/// while the link was closed, and their count.
pub(crate) type Lapsed = Vec<((String, u16), u64)>;

impl Inner {
    /// A publication for the peer's interest in `pattern` of `type_id` found the link
    /// closed: counted when the link keeps the interest through the close.
    pub(crate) fn count_lapsed(&self, pattern: &str, type_id: u16) -> Lapse {
        let mut st = self.lock();
        if st.closed.is_none() {
            return Lapse::Open;
        }
        match st.lapsed.get_mut(&(pattern.to_owned(), type_id)) {
            Some(count) => {
                *count += 1;
                Lapse::Counted
            }
            None => Lapse::Gone,
        }
    }

    /// True while the link serves the peer's interest in `pattern` of `type_id`: open, or
    /// closed and keeping it until it opens again.
    pub(crate) fn serves(&self, pattern: &str, type_id: u16) -> bool {
        let st = self.lock();
        st.closed.is_none() || st.lapsed.contains_key(&(pattern.to_owned(), type_id))
    }

    /// The link opens again (under its lock): queues a gap notice, reason
    /// [`GapReason::Closed`], for each interest whose publications were counted while it was
    /// closed, and returns them.
    pub(super) fn tell_lapsed(&self, st: &mut State) -> Lapsed {
        let lapsed: Lapsed = std::mem::take(&mut st.lapsed)
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .collect();
        for ((pattern, type_id), count) in &lapsed {
            self.push_gap(st, pattern, *type_id, (0, 0, *count), GapReason::Closed);
        }
        lapsed
    }

    /// The closed link will not open again (the node shuts down): the interest kept through
    /// the close ends, and what was counted for it is returned.
    pub(super) fn end_lapsed(&self, st: &mut State) -> Lapsed {
        for (_, subscription) in std::mem::take(&mut st.forwarded) {
            subscription.cancel();
        }
        std::mem::take(&mut st.lapsed)
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// Publications for the peer that were never queued (the link was closed): logged, and
    /// posted as dead letters of this bus, one per publication.
    pub(super) fn report_lapsed(&self, lapsed: Lapsed, why: &str) {
        for ((pattern, type_id), count) in lapsed {
            tracing::warn!(
                target: "mycelium::remote",
                peer = %self.peer, pattern = pattern.as_str(), type_id, count,
                "publications for the peer's subscription were not sent: {why}"
            );
            let reason = format!(
                "a publication matching `{pattern}` (type id {type_id}) for node `{}` was not \
                 sent: {why}",
                self.peer
            );
            self.bus
                .dead_letters()
                .post_all((0..count).map(|_| mycelium_actors::DeadLetter {
                    actor: mycelium_actors::ActorId::new(self.node, 0),
                    actor_type: "remote service",
                    message_type: "publication",
                    reason: mycelium_actors::DeadLetterReason::Lost {
                        node: self.node,
                        reason: reason.clone(),
                    },
                    message: None,
                }));
        }
    }

    /// Queues, for a new connection, this node's interest (each one not queued and unwritten
    /// already) and, when `complete`, the notice that it is complete. Queued even when the
    /// log is full (senders may have filled it while the peer was away): a renewal refused
    /// here would never be sent again, since the interest stays recorded. At most one frame
    /// per interest and one notice go beyond the capacity, and interests are this node's own.
    pub(super) fn queue_interest(&self, st: &mut State, complete: bool) {
        let interests = st.interests.clone();
        for (pattern, type_id, policy) in interests {
            let mut body = Vec::new();
            policy.encode(&mut body);
            // A frame queued for the same interest with another policy is sent all the same:
            // this one, behind it, sets the policy recorded now.
            let queued = st.out.never_written().any(|e| {
                e.kind == Kind::Subscribe
                    && e.type_id == type_id
                    && e.name() == &*pattern
                    && e.bytes.len() == super::FRAME_HEADERS + pattern.len() + body.len()
                    && e.bytes.ends_with(&body)
            });
            if !queued {
                // Encoding fails only for a pattern too long for a frame, which
                // `subscribe_remote` refused and never recorded.
                self.push_control(
                    st,
                    Kind::Subscribe,
                    &pattern,
                    type_id,
                    "subscription",
                    |out| out.extend_from_slice(&body),
                );
            }
        }
        if complete {
            self.push_control(st, Kind::Unsubscribe, "", 0, "topic notice", |out| {
                out.push(INTEREST_COMPLETE)
            });
        }
    }

    /// Queues a gap notice for each topic whose publications `lost` names (one per topic and
    /// type, with the first and last sequence numbers and the count), for the peer.
    pub(super) fn queue_gaps(&self, st: &mut State, lost: &LossReport, reason: GapReason) {
        let mut gaps: BTreeMap<(&str, u16), (u64, u64, u64)> = BTreeMap::new();
        for m in lost.messages.iter().filter(|m| m.kind == Kind::Publish) {
            let gap = gaps
                .entry((&m.name, m.type_id))
                .or_insert((m.seq, m.seq, 0));
            gap.1 = m.seq;
            gap.2 += 1;
        }
        for ((topic, type_id), numbers) in gaps {
            self.push_gap(st, topic, type_id, numbers, reason);
        }
    }

    /// Queues one gap notice: (first seq, last seq, count) of `topic`'s publications.
    pub(super) fn push_gap(
        &self,
        st: &mut State,
        topic: &str,
        type_id: u16,
        (first, last, count): (u64, u64, u64),
        reason: GapReason,
    ) {
        self.push_control(st, Kind::Unsubscribe, "", type_id, "topic notice", |out| {
            out.push(GAP);
            out.push(reason.to_u8());
            out.extend_from_slice(&first.to_le_bytes());
            out.extend_from_slice(&last.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(topic.as_bytes());
        });
    }

    /// Queues a frame the link itself sends, beyond the log's capacity (see
    /// [`queue_interest`](Self::queue_interest)).
    fn push_control(
        &self,
        st: &mut State,
        kind: Kind,
        name: &str,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut frame = Vec::with_capacity(64 + name.len());
        let spec = FrameSpec {
            kind,
            type_id,
            seq: u64::MAX,
            ts_ns: self.clock.now().as_nanos() as u64,
            ack: 0,
            corr: 0,
            name,
            key: None,
        };
        if encode_frame(&mut frame, &spec, self.config.max_frame, body).is_ok() {
            let _ = st.out.push_beyond_capacity(kind, type_id, message, frame);
        }
    }

    /// A topic notice from the peer (an Unsubscribe frame with an empty name): its interest
    /// is complete, or publications it sent here were lost. A body this version does not
    /// understand (a newer peer's) is ignored.
    pub async fn on_topic_notice(&self, type_id: u16, body: &[u8]) {
        match body.first().copied() {
            None | Some(INTEREST_COMPLETE) => self.interest_complete(),
            Some(GAP) if body.len() >= GAP_HEAD => {
                let number = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&body[at..at + 8]);
                    u64::from_le_bytes(b)
                };
                let gap = TopicGap {
                    source: self.peer.clone(),
                    topic: crate::frame::peer_text(&body[GAP_HEAD..]),
                    type_id,
                    first_seq: number(2),
                    last_seq: number(10),
                    count: number(18),
                    reason: GapReason::from_u8(body[1]),
                };
                self.emit(LinkEventKind::TopicGap(gap.clone()));
                // Published like any other message: its subscribers with `Block` are waited
                // for, as those of the publications around it are.
                let _ = self.bus.publish(GAP_TOPIC, gap).await;
            }
            Some(_) => {}
        }
    }

    /// The peer's interest is complete: what was kept for its predecessor and not renewed
    /// ends.
    fn interest_complete(&self) {
        let mut st = self.lock();
        let carried = std::mem::take(&mut st.carried);
        st.waiting.retain(|k| !carried.contains(k));
        st.policies.retain(|k, _| !carried.contains(k));
        for key in &carried {
            // Cancelled under the lock, as in `on_unsubscribe`.
            if let Some(subscription) = st.forwarded.remove(key) {
                tracing::debug!(target: "mycelium::remote", peer = %self.peer, pattern = key.0.as_str(), type_id = key.1, "the restarted peer did not renew this topic interest: no longer served");
                subscription.cancel();
            }
        }
    }
}

//! A link to one peer node: its queue, its sequencing state, its asks in flight, its events.
//!
//! A [`Link`] outlives connections: the dialling side reconnects with backoff
//! ([`crate::dial`]), the accepting side waits for the peer to come back, and each new
//! connection resumes where the last one stopped.
//!
//! This file holds the link's state; the rest lives beside it, one concept a file: `sends.rs`
//! (what senders call: tells, publications, the queue), `asks.rs` (the asks this node sends
//! and their answers), `replies.rs` (the replies to the peer's asks), `lifecycle.rs`
//! (connections attached and detached, the link's end and its events), `interests.rs`
//! (topic interest both ways), `drain.rs` (waiting for the peer to acknowledge what is
//! queued), `revive.rs` (a link that gave up, opened again) and `dialler.rs` (which dialler
//! drives the link).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_actors::telemetry::LinkMetrics;
use mycelium_actors::{ActorId, Bus, Clock, DeadLetter, DeadLetterReason, NodeId, Subscription};
use tokio::sync::Notify;

use crate::config::LinkConfig;
use crate::dispatch::Dispatch;
use crate::error::{SendError, WireError};
use crate::event::Observer;
use crate::frame::Kind;
use crate::handled::AckWake;
use crate::handshake::Identity;
use crate::read::ReadSide;
use crate::session::{body_len, Inbound, Outbound};
use crate::topics::TopicTypes;
use crate::write::WriteSide;

mod asks;
mod delivery_lock;
mod dialler;
mod drain;
mod interests;
mod lifecycle;
mod replies;
mod revive;
mod room;
mod sends;

pub use asks::OnReply;
use asks::{first_corr, SWEEP_ASKS_FROM};
pub(crate) use asks::{take_for_its_asker, Asker, Asks, Mine, ReplyTo, Taken};
pub(crate) use delivery_lock::{DeliveryGuard, DeliveryLock};
pub(crate) use interests::Lapse;
pub use interests::MAX_TOPIC_INTERESTS;
pub(crate) use replies::reply_too_large;

/// The message name recorded for untyped sends (raw bytes).
const UNNAMED: &str = "bytes";

/// The codec's header and the link's, before a frame's name and body.
const FRAME_HEADERS: usize = mycelium_codec::HEADER_LEN + crate::frame::LINK_HEADER_LEN;

/// The body size a frame's buffer is first made for when the body's is not known: most
/// contract messages fit, so encoding them does not reallocate.
const BODY_GUESS: usize = 128;

/// A reply to a remote ask: the reply's type id and body.
pub type RemoteReply = (u16, Vec<u8>);

/// A reply to a remote ask as it is read: the reply's type id and its body in the frame.
pub type ReplyBody<'a> = (u16, &'a [u8]);

/// A link to one peer node. Cheap to clone.
#[derive(Clone)]
pub struct Link {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub peer: String,
    pub me: Identity,
    /// The peer's number in this process's addresses.
    pub node: NodeId,
    pub config: LinkConfig,
    pub clock: Clock,
    bus: Bus,
    pub dispatch: Arc<dyn Dispatch>,
    topics: Arc<TopicTypes>,
    observer: Option<Observer>,
    /// The link's instruments (no-ops on a bus without metrics).
    pub metrics: LinkMetrics,
    state: Mutex<State>,
    /// Wakes the writer of the current connection (through [`Inner::wake_writer`]).
    pub writer: Notify,
    /// Set when the writer is woken, cleared when it starts a turn: a spinning reader stops
    /// polling to let it run.
    pub writes_due: AtomicBool,
    /// Wakes senders waiting for room.
    room: room::Room,
    /// Set when a reply went to an asker outside any task; a spinning reader takes (and
    /// clears) it as its cue for a full turn of the scheduler.
    pub answered_outside_task: AtomicBool,
    /// Set by a spinning reader that already waited a turn for a frame to carry an owed
    /// acknowledgement: the writer sends it at once, without deferring it again.
    pub ack_now: AtomicBool,
    /// Held by a reader from the order check of a data frame until the delivery of it and of
    /// the frames read with it is recorded (`connection/deliver.rs`, `Delivering`), so that two
    /// readers of the link (a replaced connection's, not yet stopped, and its successor's)
    /// never deliver the same frame twice.
    pub delivery: DeliveryLock,
    /// On the accepting side: hands established connections to the link's supervised
    /// keeper (`accept.rs`). Unset on a link this node does not accept connections for.
    pub keeper: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<crate::accept::Accepted>>,
    /// Notified when the link closes: a connection task ends within its grace after it
    /// (`connection::run`).
    pub closing: Notify,
    /// Set when this node dials the peer (`Node::connect`): then the dialler, not the
    /// accepting side's wait for a first connection, gives the link up.
    pub dialled: AtomicBool,
    /// Set when the link gave up waiting for the peer (not when it was closed on purpose):
    /// the peer's next connection opens it again (`revive.rs`).
    pub(crate) revivable: AtomicBool,
    /// The number of the dialler that drives the link (`dialler.rs`), 0 when none does.
    dialler: AtomicU64,
    /// Diallers started for the link so far: the last one's number.
    diallers: AtomicU64,
    /// The supervisor of the last dialler that started one, stopped by the next (`dial.rs`);
    /// held while a dialler starts, so that diallers start one at a time.
    pub(crate) dialler_supervisor: tokio::sync::Mutex<Option<mycelium_supervisor::SupervisorRef>>,
    /// The largest frame body the peer accepts, from its hello; 0 until the first handshake
    /// (a hello declares at least `MIN_MAX_FRAME`). Stored at attach under the link's lock, so
    /// a frame queued under that lock is checked against the limit of the connection it will
    /// go out on ([`Inner::fits_peer`]); those queued before it was known that exceed it leave
    /// the log at attach. An atomic, so that encoding a reply reads it without the lock.
    peer_max_frame: AtomicU32,
    /// Connection tasks running (`connection::run`, replaced ones still ending included).
    pub running: AtomicUsize,
    /// Notified each time a connection task ends.
    pub ran: Notify,
    /// Notified when a closed link's end is over: its `GaveUp` event and loss report made
    /// ([`State::end_reported`]).
    ended: Notify,
    /// Counts the times an asker read the link's current connection for its reply
    /// (`read.rs`): a spinning reader that sees it change gives its thread back at once
    /// rather than poll for a whole slice, so that an asker waiting for its turn runs.
    pub self_reads: AtomicU64,
    /// Counts the answers left where their asks wait ([`ReplyTo::InPlace`]) by anyone but
    /// their asker: an asker reading for its own answer looks at it to learn, without the
    /// link's lock, that its answer may have come another way.
    pub answered_in_place: AtomicU64,
    /// Replies to the peer's asks that wait for room in the full queue, each on a task of
    /// its own ([`WaitingReply`]). A reader closes its connection rather than take one more
    /// ask while there are [`LinkConfig::queue_capacity`] of them (`connection/deliver.rs`): a peer
    /// that does not acknowledge replies cannot make this node hold more and more of them.
    pub replies_waiting: AtomicUsize,
}

pub(crate) struct State {
    pub out: Outbound,
    pub inb: Inbound,
    pub pending: Asks,
    /// At this many asks in flight, the next one registered first removes those whose
    /// askers gave up (`register`, `asks.rs`).
    sweep_asks_at: usize,
    next_corr: u64,
    /// Set when a connection is up: its id.
    pub connection: Option<u64>,
    /// The task running the current connection.
    task: Option<tokio::task::AbortHandle>,
    /// The current connection's write side (for senders that write themselves).
    write: Option<Arc<WriteSide>>,
    /// The current connection's read side (for askers that read their replies themselves).
    read: Option<Arc<ReadSide>>,
    next_connection: u64,
    /// An ack is owed to the peer.
    pub ack_due: bool,
    pub acked: u64,
    /// Set when the link gave up or was shut down.
    pub closed: Option<String>,
    /// The link is closed and its loss report not made yet: it waits until no connection
    /// runs, for the acknowledgement of the peer's Close frame ([`Inner::report_owed_loss`]).
    loss_owed: bool,
    /// The closed link's end is over: its `GaveUp` event, its loss report (if anything was
    /// lost) and the dead letters of it were made (`Inner::ended`).
    end_reported: bool,
    /// Frames delivered and duplicates dropped (for tests and stats).
    pub stats: LinkStats,
    /// Topic interest sent to the peer: (pattern, type id, policy).
    interests: Vec<crate::topics::Interest>,
    /// The peer's interest this node serves: one subscription per (pattern, type id).
    forwarded: BTreeMap<(String, u16), Subscription>,
    /// The peer's interest in types this node does not forward (yet): served once
    /// `Node::forward_topic` names the type.
    waiting: Vec<(String, u16)>,
    /// The interest of a restarted peer's predecessor, in `forwarded` or `waiting`, kept
    /// (and served) until the new process renews it or says its interest is complete
    /// (`interests.rs`): what is published meanwhile is queued for the new process, not
    /// dropped.
    carried: BTreeSet<(String, u16)>,
    /// The overflow policy of each of the peer's interests (`forwarded` and `waiting`).
    policies: BTreeMap<(String, u16), crate::topics::RemoteOverflow>,
    /// While the link is closed but may be opened again (it gave up, or was closed by
    /// [`Link::close`]): the peer's interests still served, each with the publications for
    /// it that could not be queued since (`interests.rs`, `lapsed`). They are told to the
    /// peer as a gap when the link opens again, and posted as dead letters here.
    lapsed: BTreeMap<(String, u16), u64>,
}

/// Counters of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Data frames delivered to this node, in order.
    pub delivered: u64,
    /// Resent frames dropped because they had been delivered already.
    pub duplicates: u64,
    /// Replies that arrived after their ask had failed.
    pub late_replies: u64,
    /// Replies to asks of a restarted peer's previous incarnation, dropped: nobody could
    /// receive them.
    pub stale_replies: u64,
    /// Incoming messages a local service could not take (logged).
    pub dispatch_failures: u64,
    /// Replies read off the connection by an asker itself (spin mode), not by the link's
    /// reader task; counted in `delivered` too.
    pub asker_reads: u64,
    /// Times a spinning reader went a whole spin budget without a byte coming in, and parked
    /// on the transport (spin mode; in block mode a reader always waits there). Bytes that an
    /// asker read count as coming in.
    pub parks: u64,
    /// Highest sequence number written to a socket so far.
    pub written: u64,
    /// Messages queued or awaiting acknowledgement.
    pub queued: usize,
}

impl Link {
    // Called from one place (the node), which holds every part.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        peer: String,
        node: NodeId,
        me: Identity,
        config: LinkConfig,
        bus: &Bus,
        dispatch: Arc<dyn Dispatch>,
        topics: Arc<TopicTypes>,
        observer: Option<Observer>,
    ) -> Link {
        let config = config.with_frame_floor();
        let (capacity, queue_bytes) = (config.queue_capacity, config.queue_bytes);
        let metrics = LinkMetrics::new(bus, &peer);
        let interests = topics.interests();
        Link {
            inner: Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| Inner {
                peer,
                node,
                me,
                config,
                clock: bus.clock().clone(),
                bus: bus.clone(),
                dispatch,
                topics,
                observer,
                metrics,
                state: Mutex::new(State {
                    out: Outbound::new(capacity).with_byte_capacity(queue_bytes),
                    inb: Inbound::new(weak.clone() as std::sync::Weak<dyn AckWake>),
                    pending: Asks::default(),
                    sweep_asks_at: SWEEP_ASKS_FROM,
                    next_corr: first_corr(),
                    connection: None,
                    write: None,
                    read: None,
                    task: None,
                    next_connection: 1,
                    ack_due: false,
                    acked: 0,
                    closed: None,
                    loss_owed: false,
                    end_reported: false,
                    stats: LinkStats::default(),
                    interests,
                    forwarded: BTreeMap::new(),
                    carried: BTreeSet::new(),
                    policies: BTreeMap::new(),
                    lapsed: BTreeMap::new(),
                    waiting: Vec::new(),
                }),
                writer: Notify::new(),
                writes_due: AtomicBool::new(false),
                room: room::Room::default(),
                answered_outside_task: AtomicBool::new(false),
                ack_now: AtomicBool::new(false),
                delivery: DeliveryLock::default(),
                keeper: std::sync::OnceLock::new(),
                closing: Notify::new(),
                dialled: AtomicBool::new(false),
                revivable: AtomicBool::new(false),
                dialler: AtomicU64::new(0),
                diallers: AtomicU64::new(0),
                dialler_supervisor: tokio::sync::Mutex::new(None),
                peer_max_frame: AtomicU32::new(0),
                running: AtomicUsize::new(0),
                ran: Notify::new(),
                ended: Notify::new(),
                self_reads: AtomicU64::new(0),
                answered_in_place: AtomicU64::new(0),
                replies_waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// The peer node's name.
    pub fn peer(&self) -> &str {
        &self.inner.peer
    }

    /// The peer's number in this process's addresses ([`ActorId`]s of its services).
    pub fn node_id(&self) -> NodeId {
        self.inner.node
    }

    /// A publication to the peer that cannot become a frame (a topic name over 255 bytes, a
    /// body over the frame limit) is lost for this link alone: logged, and posted as a dead
    /// letter of this bus. The subscription and the link live on.
    pub(crate) fn unsendable_publication(
        &self,
        topic: &str,
        message: &'static str,
        why: &SendError,
    ) {
        let topic = crate::frame::peer_text(topic.as_bytes());
        tracing::warn!(
            target: "mycelium::remote",
            peer = %self.inner.peer, %topic, message, reason = %why,
            "a publication that cannot be sent to this peer was dropped"
        );
        self.inner.bus.dead_letters().post(DeadLetter {
            actor: ActorId::new(self.inner.node, 0),
            actor_type: "remote service",
            message_type: message,
            reason: DeadLetterReason::Lost {
                node: self.inner.node,
                reason: format!(
                    "a publication on `{topic}` for node `{}` cannot be sent: {why}",
                    self.inner.peer
                ),
            },
            message: None,
        });
    }

    /// The bus clock the link runs on.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// True while a connection is up.
    pub fn is_up(&self) -> bool {
        self.inner.lock().connection.is_some()
    }

    /// Why the link closed for good, if it did.
    pub fn closed_reason(&self) -> Option<String> {
        self.inner.lock().closed.clone()
    }

    /// The largest frame body the peer accepts, as it declared in its hello; `None` until
    /// the link has met the peer. A message whose frame is larger is refused at once
    /// ([`SendError::TooLarge`] with [`WireError::TooLargeForPeer`]).
    pub fn peer_max_frame(&self) -> Option<u32> {
        self.inner.peer_max_frame()
    }

    /// Messages queued or awaiting acknowledgement.
    pub fn queued(&self) -> usize {
        self.inner.lock().out.len()
    }

    /// Bytes of the frames queued or awaiting acknowledgement (bounded by
    /// [`LinkConfig::queue_bytes`]).
    pub fn queued_bytes(&self) -> usize {
        self.inner.lock().out.bytes()
    }

    /// Waits until no connection of this link runs. After [`close`](Self::close) (or the
    /// node's shutdown) that is once the Close frame is written and the peer has closed its
    /// end, or a grace period of a second for each has passed: a process that ends then has
    /// told the peer what it delivered. On a link that is not closed, it waits until the
    /// connection drops.
    pub async fn closed(&self) {
        loop {
            let ran = self.inner.ran.notified();
            let mut ran = std::pin::pin!(ran);
            ran.as_mut().enable();
            if self.inner.running.load(Ordering::Acquire) == 0 {
                return;
            }
            ran.await;
        }
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        let st = self.inner.lock();
        LinkStats {
            written: st.out.written(),
            queued: st.out.len(),
            ..st.stats
        }
    }

    /// Closes the link for good: asks in flight fail, senders get [`SendError::Closed`], and
    /// queued and unacknowledged messages are reported lost, once the connection has sent its
    /// Close frame and read the peer's answer (a second each at most): what the peer
    /// acknowledges in it is not reported.
    pub fn close(&self, reason: &str) {
        self.inner.give_up(reason);
    }

    /// [`close`](Self::close) as part of this node's own shutdown: logged at info, not as an
    /// error (a loss report, if anything was still queued, is an error all the same).
    pub(crate) fn shut_down(&self, reason: &str) {
        self.inner.end(reason, true);
    }

    fn closed_err(&self, reason: &str) -> SendError {
        self.inner.closed_err(reason)
    }
}

impl Inner {
    /// The peer's `max_frame`, once a handshake declared it.
    fn peer_max_frame(&self) -> Option<u32> {
        Some(self.peer_max_frame.load(Ordering::Acquire)).filter(|&max| max > 0)
    }

    /// `Err` when a frame of `frame_len` bytes (its codec header included) has a body larger
    /// than the peer accepts, once the link knows that limit. Called under the link's lock,
    /// which attach holds when it learns the limit.
    fn fits_peer(&self, frame_len: usize) -> Result<(), SendError> {
        let body_len = body_len(frame_len);
        match self.peer_max_frame() {
            Some(peer_max) if body_len > peer_max as usize => Err(SendError::TooLarge(
                self.too_large_for_peer(body_len, peer_max),
            )),
            _ => Ok(()),
        }
    }

    fn too_large_for_peer(&self, body_len: usize, peer_max: u32) -> WireError {
        WireError::TooLargeForPeer {
            peer: self.peer.clone(),
            body_len,
            peer_max,
            own_max: self.config.max_frame,
        }
    }

    /// The largest frame body this link sends: this node's `max_frame`, or the peer's when
    /// it is known and smaller.
    pub(crate) fn send_limit(&self) -> u32 {
        self.peer_max_frame()
            .map_or(self.config.max_frame, |p| p.min(self.config.max_frame))
    }

    /// True when frames were handled that the peer has not been acknowledged yet.
    pub fn owes_ack(&self) -> bool {
        let st = self.lock();
        st.inb.handled_through() > st.acked
    }

    /// Wakes the writer of the current connection.
    pub fn wake_writer(&self) {
        self.writes_due.store(true, Ordering::Release);
        self.writer.notify_one();
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops acknowledged frames and wakes senders waiting for room.
    pub fn on_ack(&self, upto: u64) {
        let freed = self.lock().out.ack(upto);
        if freed > 0 {
            self.room_freed();
        }
    }

    /// Room in the queue for a frame of this node's own (a tell, an ask, a publication, an
    /// interest): a place is kept free for each reply to the peer's asks that waits for room
    /// (`replies_waiting`). So replies take freed room first. Otherwise a sender of this
    /// node that always waits for room with its next frame can take every place an
    /// acknowledgement frees; the replies wait on, the peer's asks go unanswered, and once a
    /// queue's worth of replies waits the reader closes the connection (`handle`).
    fn room_for_own(&self, st: &State) -> bool {
        st.out
            .has_room_beside(self.replies_waiting.load(Ordering::Acquire))
    }

    /// Acknowledged frames left the log (under the lock): wakes senders waiting for room.
    pub fn room_freed(&self) {
        self.room.freed();
    }

    /// A frame of `kind` was just queued (`st` is the lock it was queued under): the sender
    /// writes it itself when the connection lets it, or wakes the writer.
    fn write_queued(&self, st: MutexGuard<'_, State>, kind: Kind) {
        let up = st.connection.is_some();
        let direct = st
            .write
            .as_ref()
            .filter(|w| w.writes_directly(kind))
            .cloned();
        let written = match direct {
            // Takes the frame under the lock it was queued under.
            Some(side) => side.write_now(self, st),
            None => false,
        };
        if !written && up {
            self.wake_writer();
        }
    }

    fn closed_err(&self, reason: &str) -> SendError {
        SendError::Closed {
            peer: self.peer.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// Receipts signed by this node's actors wake the writer, which sends the acknowledgement
/// with whatever it writes next ([`crate::handled`]).
impl AckWake for Inner {
    fn ack_ready(&self) {
        self.wake_writer();
    }
}

//! A link to one peer node: its queue, its sequencing state, its asks in flight, its events.
//!
//! A [`Link`] outlives connections: the dialling side reconnects with backoff
//! ([`crate::dial`]), the accepting side waits for the peer to come back, and each new
//! connection resumes where the last one stopped.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_actors::telemetry::{LinkMetrics, LinkState};
use mycelium_actors::{ActorId, Bus, Clock, DeadLetter, DeadLetterReason, NodeId, Subscription};
use tokio::sync::{oneshot, Notify};

use crate::config::LinkConfig;
use crate::dispatch::Dispatch;
use crate::error::{RemoteAskError, SendError, WireError};
use crate::event::{LinkEvent, LinkEventKind, LossReason, Observer};
use crate::frame::{encode_frame, encode_frame_around, parse_frame, FrameSpec, Kind};
use crate::handshake::{Authenticated, Identity, Resume};
use crate::read::ReadSide;
use crate::session::{body_len, Inbound, Outbound};
use crate::topics::TopicTypes;
use crate::write::WriteSide;

/// What to do with the answer to a remote ask: called once, with the reply (its body
/// borrowed from the frame it came in, to decode without a copy) or the reason there is none.
pub type OnReply = Box<dyn for<'a> FnOnce(Result<ReplyBody<'a>, RemoteAskError>) + Send>;

/// Where the answer to an ask goes, when the asker can tell that it gave up.
pub(crate) trait Asker: Send {
    /// Hands over the reply, or the reason there is none.
    fn answer(self: Box<Self>, result: Result<ReplyBody<'_>, RemoteAskError>);
    /// The asker gave up (it timed out, or dropped its future): an answer would go nowhere.
    fn gone(&self) -> bool;
}

/// Where the answer to an ask goes.
pub(crate) enum ReplyTo {
    /// A callback of the caller's own ([`Link::ask_with`]).
    Callback(OnReply),
    /// An asker that says when it gave up ([`Link::ask`], the typed proxies).
    Asker(Box<dyn Asker>),
}

impl ReplyTo {
    fn answer(self, result: Result<ReplyBody<'_>, RemoteAskError>) {
        match self {
            ReplyTo::Callback(on_reply) => on_reply(result),
            ReplyTo::Asker(asker) => asker.answer(result),
        }
    }

    fn gone(&self) -> bool {
        match self {
            ReplyTo::Callback(_) => false,
            ReplyTo::Asker(asker) => asker.gone(),
        }
    }

    /// As a callback (for [`Link::try_ask_with`], which hands back what it was given).
    fn into_callback(self) -> OnReply {
        match self {
            ReplyTo::Callback(on_reply) => on_reply,
            ReplyTo::Asker(asker) => Box::new(move |result| asker.answer(result)),
        }
    }
}

/// The fewest asks in flight at which a link looks for asks whose askers gave up
/// ([`Link::register`]).
const SWEEP_ASKS_FROM: usize = 64;

/// An ask waiting for its reply.
pub(crate) struct Pending {
    reply_to: ReplyTo,
    /// Asked from outside any task (a `block_on` future, another thread): on a
    /// current-thread runtime such an asker runs only after the scheduler's full turn, which
    /// a spinning reader then takes for it (`connection.rs`, `Turns`).
    outside_task: bool,
}

/// The asks in flight, by correlation id.
pub(crate) type Asks = HashMap<u64, Pending, BuildHasherDefault<CorrHasher>>;

/// Hashes correlation ids: this side hands them out in sequence, and one multiplication
/// spreads them over the table. A peer chooses none of the keys (a reply with a made-up id
/// only misses), so SipHash's defence against chosen keys would buy nothing here.
#[derive(Default)]
pub(crate) struct CorrHasher(u64);

impl Hasher for CorrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The message name recorded for untyped sends (raw bytes).
const UNNAMED: &str = "bytes";

/// The codec's header and the link's, before a frame's name and body.
const FRAME_HEADERS: usize = mycelium_codec::HEADER_LEN + crate::frame::LINK_HEADER_LEN;

/// Distinct topic interests (pattern and type id) a peer may hold on one link: each costs a
/// subscription on this bus, so a peer that knows the secret still cannot grow them without
/// bound. Far above what a topology uses.
pub const MAX_TOPIC_INTERESTS: usize = 4096;

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
    room: Notify,
    /// Set when a reply went to an asker outside any task; a spinning reader takes (and
    /// clears) it as its cue for a full turn of the scheduler.
    pub answered_outside_task: AtomicBool,
    /// Set by a spinning reader that already waited a turn for a frame to carry an owed
    /// acknowledgement: the writer sends it at once, without deferring it again.
    pub ack_now: AtomicBool,
    /// The service name recorded with reply frames (they have none): made once.
    reply_name: Arc<str>,
    /// Held by a reader from the order check of a data frame until the delivery of it and of
    /// the frames read with it is recorded (`connection.rs`, `Delivering`), so that two
    /// readers of the link (a replaced connection's, not yet stopped, and its successor's)
    /// never deliver the same frame twice.
    pub delivery: tokio::sync::Mutex<()>,
    /// On the accepting side: hands established connections to the link's supervised
    /// keeper (`accept.rs`). Unset on a link this node does not accept connections for.
    pub keeper: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<crate::accept::Accepted>>,
    /// Notified when the link closes: a connection task ends within its grace after it
    /// (`connection::run`).
    pub closing: Notify,
    /// Set when this node dials the peer (`Node::connect`): then the dialler, not the
    /// accepting side's wait for a first connection, gives the link up.
    pub dialled: AtomicBool,
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
    /// Set while a reader holds [`delivery`](Self::delivery) to deliver frames (from before
    /// its first order check): an asker reading replies leaves them to the reader then, as it
    /// may be a replaced connection's reader, which checked a frame that the new connection
    /// brings again. Read under the link's lock, after which the reader checks.
    pub delivering: AtomicBool,
    /// Counts the times an asker read the link's current connection for its reply
    /// (`read.rs`): a spinning reader that sees it change gives its thread back at once
    /// rather than poll for a whole slice, so that an asker waiting for its turn runs.
    pub self_reads: AtomicU64,
    /// Replies to the peer's asks that wait for room in the full queue, each on a task of
    /// its own ([`WaitingReply`]). A reader closes its connection rather than take one more
    /// ask while there are [`LinkConfig::queue_capacity`] of them (`connection.rs`): a peer
    /// that does not acknowledge replies cannot make this node hold more and more of them.
    pub replies_waiting: AtomicUsize,
}

pub(crate) struct State {
    pub out: Outbound,
    pub inb: Inbound,
    pub pending: Asks,
    /// At this many asks in flight, the next one registered first removes those whose
    /// askers gave up ([`Link::register`]).
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
    /// Frames delivered and duplicates dropped (for tests and stats).
    pub stats: LinkStats,
    /// Topic interest sent to the peer: (pattern, type id).
    interests: Vec<(Arc<str>, u16)>,
    /// The peer's interest this node serves: one subscription per (pattern, type id).
    forwarded: BTreeMap<(String, u16), Subscription>,
    /// The peer's interest in types this node does not forward (yet): served once
    /// `Node::forward_topic` names the type.
    waiting: Vec<(String, u16)>,
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
        let capacity = config.queue_capacity;
        let metrics = LinkMetrics::new(bus, &peer);
        Link {
            inner: Arc::new(Inner {
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
                    out: Outbound::new(capacity),
                    inb: Inbound::default(),
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
                    stats: LinkStats::default(),
                    interests: Vec::new(),
                    forwarded: BTreeMap::new(),
                    waiting: Vec::new(),
                }),
                writer: Notify::new(),
                writes_due: AtomicBool::new(false),
                room: Notify::new(),
                answered_outside_task: AtomicBool::new(false),
                ack_now: AtomicBool::new(false),
                reply_name: Arc::from(""),
                delivery: tokio::sync::Mutex::new(()),
                keeper: std::sync::OnceLock::new(),
                closing: Notify::new(),
                dialled: AtomicBool::new(false),
                peer_max_frame: AtomicU32::new(0),
                running: AtomicUsize::new(0),
                ran: Notify::new(),
                delivering: AtomicBool::new(false),
                self_reads: AtomicU64::new(0),
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

    /// Encodes a data frame into a buffer with room for a body of [`BODY_GUESS`] bytes (one an
    /// acknowledged frame left, when the log kept one): a buffer that grows while the body is
    /// written costs a reallocation and a copy.
    fn encode(
        &self,
        kind: Kind,
        name: &str,
        type_id: u16,
        corr: u64,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Vec<u8>, SendError> {
        let frame = self.inner.lock().out.frame_buffer(frame_guess(name));
        self.encode_into(frame, kind, name, type_id, corr, None, body)
    }

    /// Encodes a data frame into `frame`, an empty buffer.
    #[allow(clippy::too_many_arguments)]
    fn encode_into(
        &self,
        mut frame: Vec<u8>,
        kind: Kind,
        name: &str,
        type_id: u16,
        corr: u64,
        key: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Vec<u8>, SendError> {
        let spec = self.data_spec(kind, name, type_id, corr, key);
        encode_frame(&mut frame, &spec, self.inner.config.max_frame, body)
            .map_err(SendError::TooLarge)?;
        Ok(frame)
    }

    /// Under one lock: refuses a frame of this node's own when the link is closed or (with
    /// `room`) its queue has no room for it, and takes a correlation id for an ask (`ask`, 0
    /// otherwise) and a buffer for a frame named `name` (one an acknowledged frame left, if
    /// any).
    fn begin(&self, ask: bool, room: bool, name: &str) -> Result<(u64, Vec<u8>), SendError> {
        let mut st = self.inner.lock();
        if let Some(reason) = &st.closed {
            return Err(self.closed_err(reason));
        }
        if room && !self.inner.room_for_own(&st) {
            return Err(SendError::Full);
        }
        let corr = if ask { next_corr(&mut st) } else { 0 };
        Ok((corr, st.out.frame_buffer(frame_guess(name))))
    }

    /// The fields of a data frame sent now (its sequence number is written by the log).
    fn data_spec<'a>(
        &self,
        kind: Kind,
        name: &'a str,
        type_id: u16,
        corr: u64,
        key: Option<u64>,
    ) -> FrameSpec<'a> {
        FrameSpec {
            kind,
            type_id,
            // Placeholder: the log writes the real sequence number.
            seq: u64::MAX,
            ts_ns: self.inner.clock.now().as_nanos() as u64,
            ack: 0,
            corr,
            name,
            key,
        }
    }

    /// Queues a data frame without waiting: `Err(Full)` when the queue is full, and `body` is
    /// then not called (so a typed caller still holds its message).
    pub fn try_send(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        self.try_send_named(kind, name, type_id, UNNAMED, body)
    }

    pub(crate) fn try_send_named(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let (_, frame) = self.begin(false, true, name)?;
        let frame = self.encode_into(frame, kind, name, type_id, 0, None, body)?;
        self.push(kind, name, type_id, message, frame, false)
            .map_err(|e| e.err().unwrap_or(SendError::Full))
    }

    /// Queues a data frame, waiting for room.
    pub async fn send(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        self.send_named(kind, name, type_id, UNNAMED, body).await
    }

    /// Queues a publication with its key, waiting for room.
    pub(crate) async fn publish_keyed(
        &self,
        topic: &Arc<str>,
        type_id: u16,
        message: &'static str,
        key: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let frame = self.inner.lock().out.frame_buffer(frame_guess(topic));
        let frame = self.encode_into(frame, Kind::Publish, topic, type_id, 0, key, body)?;
        self.push_waiting(Kind::Publish, topic, type_id, message, frame)
            .await
    }

    /// Queues a publication with its key without waiting; `body` is not called when full.
    pub(crate) fn try_publish_keyed(
        &self,
        topic: &Arc<str>,
        type_id: u16,
        message: &'static str,
        key: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let (_, frame) = self.begin(false, true, topic)?;
        let frame = self.encode_into(frame, Kind::Publish, topic, type_id, 0, key, body)?;
        self.push(Kind::Publish, topic, type_id, message, frame, false)
            .map_err(|e| e.err().unwrap_or(SendError::Full))
    }

    pub(crate) async fn send_named(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let frame = self.encode(kind, name, type_id, 0, body)?;
        self.push_waiting(kind, name, type_id, message, frame).await
    }

    async fn push_waiting(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
    ) -> Result<u64, SendError> {
        self.push_waiting_asking(kind, name, type_id, message, frame, None)
            .await
    }

    /// [`push_waiting`](Self::push_waiting); with `ask`, the ask's correlation id and where
    /// its answer goes, registered in the asks in flight when (and only when) the frame is
    /// queued.
    async fn push_waiting_asking(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        mut frame: Vec<u8>,
        mut ask: Option<(u64, &mut Option<ReplyTo>)>,
    ) -> Result<u64, SendError> {
        // Most sends find room: only a full queue registers for the wake-up (and then tries
        // again, so a wake-up between the two tries is not missed).
        fn again<'a>(
            ask: &'a mut Option<(u64, &mut Option<ReplyTo>)>,
        ) -> Option<(u64, &'a mut Option<ReplyTo>)> {
            ask.as_mut().map(|(corr, slot)| (*corr, &mut **slot))
        }
        match self.push_asking(kind, name, type_id, message, frame, true, again(&mut ask)) {
            Ok(seq) => return Ok(seq),
            Err(Ok(back)) => frame = back,
            Err(Err(e)) => return Err(e),
        }
        loop {
            let room = self.inner.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self.push_asking(kind, name, type_id, message, frame, true, again(&mut ask)) {
                Ok(seq) => return Ok(seq),
                Err(Ok(back)) => frame = back,
                Err(Err(e)) => return Err(e),
            }
            room.await;
        }
    }

    /// `Err(Ok(frame))`: full, frame handed back; `Err(Err(e))`: closed.
    #[allow(clippy::type_complexity)]
    fn push(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
        hand_back: bool,
    ) -> Result<u64, Result<Vec<u8>, SendError>> {
        self.push_asking(kind, name, type_id, message, frame, hand_back, None)
    }

    /// [`push`](Self::push); with `ask`, registers the ask (taken from its slot) in the asks
    /// in flight under the same lock as it is queued: an ask waiting for room is not in
    /// flight, so a connection that drops meanwhile does not fail it (it goes out on the
    /// next one), and a link that closes meanwhile refuses it, its request unsent.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn push_asking(
        &self,
        kind: Kind,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        frame: Vec<u8>,
        hand_back: bool,
        ask: Option<(u64, &mut Option<ReplyTo>)>,
    ) -> Result<u64, Result<Vec<u8>, SendError>> {
        let mut st = self.inner.lock();
        if let Some(reason) = &st.closed {
            return Err(Err(self.closed_err(reason)));
        }
        // Checked under the lock that attaches a connection: a frame queued before the
        // peer's limit was known is checked there instead.
        self.inner.fits_peer(frame.len()).map_err(Err)?;
        if !self.inner.room_for_own(&st) {
            return Err(if hand_back {
                Ok(frame)
            } else {
                Err(SendError::Full)
            });
        }
        match st.out.push(kind, type_id, name.clone(), message, frame) {
            Ok(seq) => {
                let gone = match ask.and_then(|(corr, slot)| Some((corr, slot.take()?))) {
                    Some((corr, reply_to)) => register(&mut st, corr, reply_to),
                    None => Vec::new(),
                };
                self.inner.write_queued(st, kind);
                // Their answer slots go outside the lock.
                drop(gone);
                Ok(seq)
            }
            Err(back) if hand_back => Err(Ok(back)),
            Err(_) => Err(Err(SendError::Full)),
        }
    }

    /// Sends an ask and waits for its reply. Fails at once, with
    /// [`RemoteAskError::LinkDown`], if the connection drops before the reply arrives, or
    /// with [`RemoteAskError::Unsent`] if the link closes for good before writing the ask.
    /// An ask waiting for room in a full queue is not in flight yet: a connection that drops
    /// meanwhile leaves it waiting, and a link that closes meanwhile refuses it
    /// ([`RemoteAskError::NotSent`]).
    pub async fn ask(
        &self,
        name: &Arc<str>,
        type_id: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<RemoteReply, RemoteAskError> {
        let (tx, rx) = oneshot::channel();
        let asker = ReplyTo::Asker(Box::new(OwnAsk(tx)));
        let corr = match self.ask_to(name, type_id, UNNAMED, body, asker).await {
            Ok(corr) => corr,
            Err(e) => return Err(RemoteAskError::NotSent(e)),
        };
        self.inner.read_for_answer(&|| !rx.is_empty());
        // A caller that stops waiting (a timeout, a dropped future) takes its ask out of the
        // asks in flight: a peer that never answers cannot make them pile up. Once the answer
        // (or the sender's end) came, the entry is gone already: no second lock.
        let registered = Registered { link: self, corr };
        let answered = rx.await;
        std::mem::forget(registered);
        match answered {
            Ok(result) => result,
            Err(_) => Err(RemoteAskError::LinkDown {
                peer: self.inner.peer.clone(),
                reason: "the link was dropped".into(),
            }),
        }
    }

    fn unregister(&self, corr: u64) -> Option<ReplyTo> {
        let removed = self.inner.lock().pending.remove(&corr);
        removed.map(|p| p.reply_to)
    }

    /// Replies to the peer's asks waiting for room in the queue.
    #[doc(hidden)]
    pub fn replies_waiting(&self) -> usize {
        self.inner.replies_waiting.load(Ordering::Acquire)
    }

    /// Asks in flight: sent (or waiting for room) and not yet answered.
    #[doc(hidden)]
    pub fn asks_in_flight(&self) -> usize {
        self.inner.lock().pending.len()
    }

    /// Queues an ask, waiting for room; `on_reply` gets its answer (or, at once, the reason
    /// there will be none when the connection drops after the ask was queued: one that drops
    /// while the ask waits for room leaves it waiting). On `Err` the ask was not queued and
    /// `on_reply` is dropped uncalled.
    pub async fn ask_with(
        &self,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
        on_reply: OnReply,
    ) -> Result<(), SendError> {
        self.ask_to(name, type_id, message, body, ReplyTo::Callback(on_reply))
            .await
            .map(|_| ())
    }

    /// [`ask_with`](Self::ask_with) for any [`ReplyTo`]; returns the ask's correlation id.
    /// The ask is in flight (registered, failed by a dropping connection) once it is queued,
    /// not while it waits for room.
    pub(crate) async fn ask_to(
        &self,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
        reply_to: ReplyTo,
    ) -> Result<u64, SendError> {
        let (corr, frame) = self.begin(true, false, name)?;
        let frame = self.encode_into(frame, Kind::Ask, name, type_id, corr, None, body)?;
        let mut slot = Some(reply_to);
        self.push_waiting_asking(
            Kind::Ask,
            name,
            type_id,
            message,
            frame,
            Some((corr, &mut slot)),
        )
        .await?;
        Ok(corr)
    }

    /// Queues an ask without waiting: when the queue is full or the link closed, `body` is
    /// not called and `on_reply` is handed back.
    pub fn try_ask_with(
        &self,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
        on_reply: OnReply,
    ) -> Result<(), (SendError, OnReply)> {
        self.try_ask_to(name, type_id, message, body, ReplyTo::Callback(on_reply))
            .map_err(|(e, reply_to)| (e, reply_to.into_callback()))
    }

    /// [`try_ask_with`](Self::try_ask_with) for any [`ReplyTo`].
    pub(crate) fn try_ask_to(
        &self,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
        reply_to: ReplyTo,
    ) -> Result<(), (SendError, ReplyTo)> {
        let (corr, frame) = match self.begin(true, true, name) {
            Ok(begun) => begun,
            Err(e) => return Err((e, reply_to)),
        };
        let frame = match self.encode_into(frame, Kind::Ask, name, type_id, corr, None, body) {
            Ok(frame) => frame,
            Err(e) => return Err((e, reply_to)),
        };
        let mut slot = Some(reply_to);
        let pushed = self.push_asking(
            Kind::Ask,
            name,
            type_id,
            message,
            frame,
            false,
            Some((corr, &mut slot)),
        );
        match (pushed, slot) {
            (Ok(_), _) => Ok(()),
            (Err(e), Some(reply_to)) => Err((e.err().unwrap_or(SendError::Full), reply_to)),
            // Not queued, so not registered: the slot is still full (never reached).
            (Err(_), None) => Ok(()),
        }
    }

    /// Asks the peer to forward publications of type `type_id` on topics matching `pattern`
    /// (sent once per pattern and type; sent again to a restarted peer). An interest that
    /// could not be queued (the link is closed, the frame too large) is not kept.
    pub async fn subscribe_remote(&self, pattern: &str, type_id: u16) -> Result<(), SendError> {
        let name: Arc<str> = Arc::from(pattern);
        {
            let mut st = self.inner.lock();
            if st
                .interests
                .iter()
                .any(|(p, t)| **p == *pattern && *t == type_id)
            {
                return Ok(());
            }
            st.interests.push((name.clone(), type_id));
        }
        let sent = self
            .send_named(Kind::Subscribe, &name, type_id, "subscription", |_| {})
            .await;
        if sent.is_err() {
            // Not recorded: a later call sends it again, and a restarted peer is not asked
            // for an interest it never had.
            self.inner
                .lock()
                .interests
                .retain(|(p, t)| !(**p == *pattern && *t == type_id));
        }
        sent.map(|_| ())
    }

    /// Withdraws the interest [`subscribe_remote`](Self::subscribe_remote) sent: the peer
    /// stops forwarding `type_id` on `pattern`, and a restarted peer is not asked for it
    /// again. Sends nothing for an interest this link never sent.
    pub async fn unsubscribe_remote(&self, pattern: &str, type_id: u16) -> Result<(), SendError> {
        {
            let mut st = self.inner.lock();
            let before = st.interests.len();
            st.interests
                .retain(|(p, t)| !(**p == *pattern && *t == type_id));
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

/// A correlation id for a new ask (never 0).
fn next_corr(st: &mut State) -> u64 {
    let corr = st.next_corr;
    st.next_corr = st.next_corr.checked_add(1).unwrap_or(1);
    corr
}

/// The size a frame named `name` is first made for: a buffer that grows while the body is
/// written costs a reallocation and a copy, and most contract messages fit [`BODY_GUESS`].
fn frame_guess(name: &str) -> usize {
    FRAME_HEADERS + name.len() + BODY_GUESS
}

/// The first correlation id of a link: random, so that the asks of a restarted process do
/// not reuse its predecessor's ids (a reply to one of those, should it still arrive, misses
/// and is counted late). Never 0, and far from the end of the range.
fn first_corr() -> u64 {
    (crate::handshake::new_instance_id() >> 2).max(1)
}

/// Records ask `corr` in flight. Once they are [`SWEEP_ASKS_FROM`] or more, and twice as many
/// as the last time this looked, it first takes out those whose askers gave up (an asker that
/// can tell, [`ReplyTo::Asker`]: a typed proxy's `ask_timeout` that timed out, a dropped
/// future), so that asks a peer acknowledges but never answers cannot pile up. Returns them,
/// to be dropped outside the lock.
fn register(st: &mut State, corr: u64, reply_to: ReplyTo) -> Vec<Pending> {
    let mut gone = Vec::new();
    if st.pending.len() >= st.sweep_asks_at {
        let corrs: Vec<u64> = st
            .pending
            .iter()
            .filter(|(_, p)| p.reply_to.gone())
            .map(|(corr, _)| *corr)
            .collect();
        gone.extend(corrs.iter().filter_map(|corr| st.pending.remove(corr)));
        st.sweep_asks_at = (2 * st.pending.len()).max(SWEEP_ASKS_FROM);
    }
    st.pending.insert(
        corr,
        Pending {
            reply_to,
            outside_task: tokio::task::try_id().is_none(),
        },
    );
    gone
}

/// The answer slot of [`Link::ask`].
struct OwnAsk(oneshot::Sender<Result<RemoteReply, RemoteAskError>>);

impl Asker for OwnAsk {
    fn answer(self: Box<Self>, result: Result<ReplyBody<'_>, RemoteAskError>) {
        let _ = self
            .0
            .send(result.map(|(type_id, body)| (type_id, body.to_vec())));
    }

    fn gone(&self) -> bool {
        self.0.is_closed()
    }
}

/// An ask in flight, taken out of the link's asks when dropped (its asker stopped waiting
/// before the answer came); forgotten once the answer came, which took it out already.
struct Registered<'a> {
    link: &'a Link,
    corr: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        // Dropped outside the lock: the answer slot may hold anything.
        drop(self.link.unregister(self.corr));
    }
}

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

    /// Called by an asker whose ask was just queued, before it waits for the answer: in spin
    /// mode, reads the current connection for a while itself, until `answered()` holds
    /// ([`ReadSide::read_for_answer`]). Does nothing in block mode, or when no connection is
    /// up.
    pub(crate) fn read_for_answer(&self, answered: &dyn Fn() -> bool) {
        let crate::config::Mode::Spin(budget) = self.config.mode else {
            return;
        };
        let Some(side) = self.lock().read.clone() else {
            return;
        };
        side.read_for_answer(self, budget, answered);
    }

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

    /// True when frames were delivered that the peer has not been acknowledged yet.
    pub fn owes_ack(&self) -> bool {
        let st = self.lock();
        st.inb.delivered > st.acked
    }

    /// Wakes the writer of the current connection.
    pub fn wake_writer(&self) {
        self.writes_due.store(true, Ordering::Release);
        self.writer.notify_one();
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
            received: st.inb.delivered,
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
        let too_large_asks: Vec<(ReplyTo, usize)> = too_large
            .iter()
            .filter(|e| e.kind == Kind::Ask)
            .filter_map(|e| {
                let (f, _) = parse_frame(&e.bytes, self.config.max_frame)
                    .ok()
                    .flatten()?;
                let pending = st.pending.remove(&f.corr)?;
                Some((pending.reply_to, body_len(e.bytes.len())))
            })
            .collect();
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
        let mut dropped = BTreeMap::new();
        if !same && old_instance.is_some() {
            // A restarted peer: its predecessor's interest ends, ours must be sent again.
            dropped = std::mem::take(&mut st.forwarded);
            st.waiting.clear();
            let interests = st.interests.clone();
            for (pattern, type_id) in interests {
                // A renewal still queued from an earlier restart goes to this instance.
                let queued = st.out.never_written().any(|e| {
                    e.kind == Kind::Subscribe && e.type_id == type_id && e.name == pattern
                });
                if queued {
                    continue;
                }
                let mut frame = Vec::with_capacity(64 + pattern.len());
                let spec = FrameSpec {
                    kind: Kind::Subscribe,
                    type_id,
                    seq: u64::MAX,
                    ts_ns: self.clock.now().as_nanos() as u64,
                    ack: 0,
                    corr: 0,
                    name: &pattern,
                    key: None,
                };
                // Queued even when the log is full (senders may have filled it while the
                // peer was away): a renewal refused here would never be sent again, since
                // the interest stays recorded. At most one frame per interest goes beyond
                // the capacity (the check above), and interests are this node's own.
                // Encoding fails only for a pattern too long for a frame, which
                // `subscribe_remote` refused and never recorded.
                if encode_frame(&mut frame, &spec, self.config.max_frame, |_| {}).is_ok() {
                    let _ = st.out.push_beyond_capacity(
                        Kind::Subscribe,
                        type_id,
                        pattern.clone(),
                        "subscription",
                        frame,
                    );
                }
            }
        }
        st.acked = st.inb.delivered;
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
        for (_, subscription) in dropped {
            subscription.cancel();
        }
        self.room.notify_waiters();
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
            std::mem::take(&mut st.pending)
        };
        self.fail_asks(pending, HashMap::new(), reason);
        self.emit(LinkEventKind::Down {
            reason: reason.to_owned(),
            by_peer,
        });
    }

    /// Fails the asks `pending`, in the order they were asked: those whose request is in
    /// `unsent` (by correlation id: never written, and the link closed for good) with
    /// [`RemoteAskError::Unsent`], the others with [`RemoteAskError::LinkDown`].
    fn fail_asks(&self, pending: Asks, mut unsent: HashMap<u64, Vec<u8>>, reason: &str) {
        let mut pending: Vec<_> = pending.into_iter().collect();
        pending.sort_by_key(|(corr, _)| *corr);
        for (corr, p) in pending {
            p.reply_to.answer(Err(match unsent.remove(&corr) {
                Some(request) => RemoteAskError::Unsent {
                    error: SendError::Closed {
                        peer: self.peer.clone(),
                        reason: reason.to_owned(),
                    },
                    request,
                },
                None => RemoteAskError::LinkDown {
                    peer: self.peer.clone(),
                    reason: reason.to_owned(),
                },
            }));
        }
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
    fn end(&self, reason: &str, asked: bool) {
        let (pending, unsent) = {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(reason.to_owned());
            st.connection = None;
            st.write = None;
            st.read = None;
            if let Some(task) = st.task.take() {
                // Let the writer send a Close frame first; the task ends by itself.
                drop(task);
            }
            for (_, subscription) in std::mem::take(&mut st.forwarded) {
                subscription.cancel();
            }
            // Asks never written go back to their askers: they were not handled. (The link
            // writes nothing more: frames already taken for a write count as written.)
            let unsent: HashMap<u64, Vec<u8>> = st
                .out
                .never_written()
                .filter(|e| e.kind == Kind::Ask)
                .filter_map(|e| parse_frame(&e.bytes, self.config.max_frame).ok().flatten())
                .map(|(f, _)| (f.corr, f.payload.to_vec()))
                .collect();
            (std::mem::take(&mut st.pending), unsent)
        };
        self.fail_asks(pending, unsent, reason);
        self.room.notify_waiters();
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

    /// Acknowledged frames left the log: wakes senders waiting for room.
    pub fn room_freed(&self) {
        self.room.notify_waiters();
    }

    /// The peer asks for publications of `type_id` on `pattern`. Refused beyond
    /// [`MAX_TOPIC_INTERESTS`] distinct interests on the link.
    pub fn on_subscribe(self: &Arc<Self>, pattern: &str, type_id: u16) -> Result<(), String> {
        let key = (pattern.to_owned(), type_id);
        {
            let mut st = self.lock();
            if st.forwarded.contains_key(&key) || st.waiting.contains(&key) {
                return Ok(());
            }
            if st.forwarded.len() + st.waiting.len() >= MAX_TOPIC_INTERESTS {
                return Err(format!(
                    "the peer already holds {MAX_TOPIC_INTERESTS} topic interests on this link, \
                     the most one link keeps; unsubscribe from others first"
                ));
            }
            if !self.topics.has(type_id) {
                // The node may name the type later (it starts its links first).
                tracing::debug!(target: "mycelium::remote", peer = %self.peer, pattern, type_id, "topic interest waits for forward_topic");
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
            .subscribe(&self.bus, link, pattern, type_id)
            .map_err(|e| crate::frame::peer_text(e.as_bytes()))?;
        let previous = self.lock().forwarded.insert(key, subscription);
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
            if let Err(e) = self.on_subscribe(&pattern, type_id) {
                tracing::warn!(target: "mycelium::remote", peer = %self.peer, pattern = pattern.as_str(), type_id, error = %e, "topic interest not served");
            }
        }
    }

    /// The peer no longer wants `type_id` on `pattern`.
    pub fn on_unsubscribe(&self, pattern: &str, type_id: u16) {
        let key = (pattern.to_owned(), type_id);
        let mut st = self.lock();
        // Interest still waiting for `forward_topic` is withdrawn as well.
        st.waiting.retain(|k| *k != key);
        // Cancelled before the lock is let go: once `forwarded_topics` no longer lists the
        // interest, nothing published is forwarded for it.
        if let Some(subscription) = st.forwarded.remove(&key) {
            subscription.cancel();
        }
    }

    /// A reply for ask `corr` arrived.
    pub fn on_reply(&self, corr: u64, reply: Result<ReplyBody<'_>, RemoteAskError>) {
        let asker = self.take_ask(&mut self.lock(), corr);
        if let Some(asker) = asker {
            self.answer(asker, reply);
        }
    }

    /// Takes ask `corr` out of the asks in flight, for its reply: `None` (counted as a late
    /// reply) when it is not there (its asker gave up, or its connection dropped).
    pub(crate) fn take_ask(&self, st: &mut State, corr: u64) -> Option<Pending> {
        let asker = st.pending.remove(&corr);
        if asker.is_none() {
            st.stats.late_replies += 1;
        }
        asker
    }

    /// Hands `reply` to the ask `asker` (outside the link's lock: the answer slot may run
    /// anything).
    pub(crate) fn answer(&self, asker: Pending, reply: Result<ReplyBody<'_>, RemoteAskError>) {
        if asker.outside_task {
            self.answered_outside_task.store(true, Ordering::Relaxed);
        }
        asker.reply_to.answer(reply);
    }

    /// Queues the reply to ask `corr` once it is ready, on a task of its own (the reader
    /// never waits on its own link), as [`reply_now`](Self::reply_now) does. Used when the
    /// reply is still to come.
    ///
    /// `to` is the peer incarnation that asked: a reply ready once the peer has restarted is
    /// dropped, not sent to the new process.
    pub fn reply_later(
        self: &Arc<Self>,
        corr: u64,
        to: u64,
        reply: impl std::future::Future<Output = Result<RemoteReply, String>> + Send + 'static,
    ) {
        let link = self.clone();
        tokio::spawn(async move { link.reply_now(corr, to, reply.await) });
    }

    /// Queues the reply to ask `corr` of the peer incarnation `to` now; when the queue is
    /// full, a task waits for room with the encoded frame (the reader never waits on its own
    /// link).
    pub fn reply_now(self: &Arc<Self>, corr: u64, to: u64, reply: Result<RemoteReply, String>) {
        let link = Link {
            inner: self.clone(),
        };
        let sent = link
            .encode_reply(corr, reply)
            .and_then(|(kind, type_id, frame)| {
                self.queue_reply(self.lock(), corr, to, kind, type_id, frame)
            });
        self.reply_not_sent(corr, sent);
    }

    /// Queues the reply to ask `corr` of the peer incarnation `to`, encoded already as
    /// `frame`, under the link's lock `st` (the reader's, which recorded the ask's delivery
    /// under it); when the queue is full, a task waits for room with it (the reader never
    /// waits on its own link). Logs a reply that cannot be queued.
    pub fn reply_frame(
        self: &Arc<Self>,
        st: MutexGuard<'_, State>,
        corr: u64,
        to: u64,
        type_id: u16,
        frame: Vec<u8>,
    ) {
        let sent = self.queue_reply(st, corr, to, Kind::Reply, type_id, frame);
        self.reply_not_sent(corr, sent);
    }

    /// Queues the reply to ask `corr` under the link's lock `st` (see
    /// [`reply_frame`](Self::reply_frame)).
    fn queue_reply(
        self: &Arc<Self>,
        st: MutexGuard<'_, State>,
        corr: u64,
        to: u64,
        kind: Kind,
        type_id: u16,
        frame: Vec<u8>,
    ) -> Result<(), SendError> {
        match self.push_reply(st, kind, type_id, frame, to)? {
            Queued::Yes => {}
            Queued::Stale => self.stale_reply(corr),
            Queued::Full(frame) => {
                let link = Link {
                    inner: self.clone(),
                };
                // Counted before the reader reads on (it looks before each ask).
                let waiting = WaitingReply::new(self);
                tokio::spawn(async move {
                    let sent = link
                        .reply_when_room(kind, type_id, frame, to, waiting)
                        .await;
                    if let Ok(Queued::Stale) = sent {
                        link.inner.stale_reply(corr);
                    }
                    link.inner.reply_not_sent(corr, sent.map(|_| ()));
                });
            }
        }
        Ok(())
    }

    /// Queues a reply to an ask of the peer incarnation `to` under the link's lock `st`, unless
    /// the peer restarted since: checked under the lock that attaches a new incarnation's
    /// connection, which drops the replies already queued for its predecessor.
    fn push_reply(
        &self,
        mut st: MutexGuard<'_, State>,
        kind: Kind,
        type_id: u16,
        frame: Vec<u8>,
        to: u64,
    ) -> Result<Queued, SendError> {
        if let Some(reason) = &st.closed {
            return Err(self.closed_err(reason));
        }
        if !st.inb.knows(to) {
            st.stats.stale_replies += 1;
            return Ok(Queued::Stale);
        }
        self.fits_peer(frame.len())?;
        let name = self.reply_name.clone();
        match st.out.push(kind, type_id, name, "reply", frame) {
            Ok(_) => {
                self.write_queued(st, kind);
                Ok(Queued::Yes)
            }
            Err(back) => Ok(Queued::Full(back)),
        }
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

    /// A reply to an ask of the peer's previous incarnation was dropped (the peer restarted).
    fn stale_reply(&self, corr: u64) {
        tracing::debug!(
            target: "mycelium::remote",
            peer = %self.peer, corr,
            "reply to an ask of the peer's previous incarnation dropped: it restarted"
        );
    }

    /// Logs a reply that could not be queued (the asker's link closed, or the reply could not
    /// be encoded even as a failure).
    fn reply_not_sent(&self, corr: u64, sent: Result<(), SendError>) {
        if let Err(e) = sent {
            tracing::warn!(target: "mycelium::remote", peer = %self.peer, corr, error = %e, "reply not sent");
        }
    }
}

/// Why a reply whose frame body would be `body_len` bytes is not sent: it is sent as a
/// failure instead.
pub(crate) fn reply_too_large(body_len: usize, max: u32) -> String {
    format!(
        "reply of {body_len} bytes exceeds the frame maximum {max} of this link (the smaller \
         of both nodes' `max_frame`)"
    )
}

/// A reply waiting for room in the queue, counted in [`Inner::replies_waiting`] while it
/// lives: a place in the queue is kept for it ([`Inner::room_for_own`]).
pub(crate) struct WaitingReply(Arc<Inner>);

impl WaitingReply {
    fn new(link: &Arc<Inner>) -> WaitingReply {
        link.replies_waiting.fetch_add(1, Ordering::AcqRel);
        WaitingReply(link.clone())
    }
}

impl Drop for WaitingReply {
    fn drop(&mut self) {
        self.0.replies_waiting.fetch_sub(1, Ordering::AcqRel);
        // The place kept free for this reply is free for this node's own frames again (the
        // reply was queued, or was dropped unqueued: its asker restarted, or the link closed).
        self.0.room_freed();
    }
}

/// What became of a reply handed to the queue.
enum Queued {
    Yes,
    /// The queue is full: the frame is handed back.
    Full(Vec<u8>),
    /// The peer incarnation that asked is gone (the peer restarted): dropped.
    Stale,
}

impl Link {
    /// Queues a reply frame once there is room; counted as waiting until then.
    async fn reply_when_room(
        &self,
        kind: Kind,
        type_id: u16,
        mut frame: Vec<u8>,
        to: u64,
        waiting: WaitingReply,
    ) -> Result<Queued, SendError> {
        let sent = loop {
            let room = self.inner.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self
                .inner
                .push_reply(self.inner.lock(), kind, type_id, frame, to)
            {
                Ok(Queued::Full(back)) => frame = back,
                other => break other,
            }
            room.await;
        };
        drop(waiting);
        sent
    }

    /// The frame of the reply to ask `corr`: a reply too large for a frame becomes a failure
    /// the asker can read.
    fn encode_reply(
        &self,
        corr: u64,
        reply: Result<RemoteReply, String>,
    ) -> Result<(Kind, u16, Vec<u8>), SendError> {
        let (kind, type_id, body) = match reply {
            Ok((type_id, body)) => (Kind::Reply, type_id, body),
            Err(reason) => (Kind::ReplyFailed, 0, reason.into_bytes()),
        };
        let spec = self.data_spec(kind, "", type_id, corr, None);
        // A reply too large for the peer becomes a failure it can read, as one too large
        // for this node does.
        let max = self.inner.send_limit();
        let encoded = if body.capacity() - body.len() >= FRAME_HEADERS || body.len() > max as usize
        {
            // In the body's own buffer: made for most replies (the export table's are), it
            // has room for the headers. A body too large for a frame is refused there too,
            // before anything is copied.
            encode_frame_around(body, &spec, max)
        } else {
            // A body made to measure (a `Dispatch` of the caller's own): copied into a frame
            // buffer, one an acknowledged frame left, rather than its own buffer grown (a
            // reallocation, which copies it as well).
            let mut frame = self
                .inner
                .lock()
                .out
                .frame_buffer(FRAME_HEADERS + body.len());
            encode_frame(&mut frame, &spec, max, |o| o.extend_from_slice(&body)).map(|_| frame)
        };
        match encoded {
            Ok(frame) => Ok((kind, type_id, frame)),
            Err(WireError::TooLargeToSend { body_len, max }) => {
                let reason = reply_too_large(body_len, max);
                let frame = self.encode(Kind::ReplyFailed, "", 0, corr, |o| {
                    o.extend_from_slice(reason.as_bytes())
                })?;
                Ok((Kind::ReplyFailed, 0, frame))
            }
            Err(other) => Err(SendError::TooLarge(other)),
        }
    }
}

//! The asks this node sends: where each answer goes, the asks in flight by correlation id,
//! and their failure when a connection drops or the link closes.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::{Inner, Link, RemoteReply, ReplyBody, State, UNNAMED};
use crate::error::{RemoteAskError, SendError};
use crate::frame::Kind;
use crate::read::ReadFor;

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
    /// An asker that says when it gave up (the typed proxies' asks that waited for room).
    Asker(Box<dyn Asker>),
    /// An asker that takes its answer from the asks in flight itself ([`Link::ask`], and
    /// the typed proxies' asks that found room,
    /// [`RequestSink::ask_placed`](mycelium_actors::RequestSink::ask_placed)): its answer
    /// waits in its entry, which only the asker removes.
    InPlace(InPlace),
}

/// The entry of an ask answered where it waits: the answer, once it came (the reply's body
/// copied, unless the asker read it itself), and the asker's waker while it waits.
#[derive(Default)]
pub(crate) struct InPlace {
    /// Boxed: an entry stays small, and an asker that reads its own reply never fills it.
    answer: Option<Box<Answered>>,
    waker: Option<Waker>,
}

/// An answer kept for its asker: the reply's type id and body, or why there is none.
pub(crate) type Answered = Result<(u16, Vec<u8>), RemoteAskError>;

impl ReplyTo {
    pub(super) fn answer(self, result: Result<ReplyBody<'_>, RemoteAskError>) {
        match self {
            ReplyTo::Callback(on_reply) => on_reply(result),
            ReplyTo::Asker(asker) => asker.answer(result),
            // Answered in its entry (`settle`), never taken out to be answered: an asker
            // that finds its entry gone gets a lost answer rather than wait.
            ReplyTo::InPlace(_) => {}
        }
    }

    fn gone(&self) -> bool {
        match self {
            ReplyTo::Callback(_) => false,
            ReplyTo::Asker(asker) => asker.gone(),
            // Its asker takes it out when it stops waiting.
            ReplyTo::InPlace(_) => false,
        }
    }

    /// As a callback (for [`Link::try_ask_with`], which hands back what it was given).
    fn into_callback(self) -> OnReply {
        match self {
            ReplyTo::Callback(on_reply) => on_reply,
            ReplyTo::Asker(asker) => Box::new(move |result| asker.answer(result)),
            ReplyTo::InPlace(_) => Box::new(|_| {}),
        }
    }
}

/// What became of the answer to an ask taken from the asks in flight ([`Inner::take_ask`]).
pub(crate) enum Taken<'a> {
    /// No such ask (its asker gave up, or its connection dropped): a late reply.
    Missing,
    /// To be answered outside the link's lock ([`Inner::answer`]).
    Answer(Pending, Result<ReplyBody<'a>, RemoteAskError>),
    /// Answered in its entry: the asker's waker, to wake outside the lock.
    InPlace(Option<Waker>),
}

/// The fewest asks in flight at which a link looks for asks whose askers gave up
/// ([`register`]).
pub(super) const SWEEP_ASKS_FROM: usize = 64;

/// An ask waiting for its reply.
pub(crate) struct Pending {
    pub(super) reply_to: ReplyTo,
    /// Asked from outside any task (a `block_on` future, another thread): on a
    /// current-thread runtime such an asker runs only after the scheduler's full turn, which
    /// a spinning reader then takes for it (`connection/turns.rs`, `Turns`).
    pub(super) outside_task: bool,
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

impl Link {
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
        // The answer waits in the ask's entry, with no reply channel.
        let in_place = ReplyTo::InPlace(InPlace::default());
        let corr = match self.ask_to(name, type_id, UNNAMED, body, in_place).await {
            Ok(corr) => corr,
            Err(e) => return Err(RemoteAskError::NotSent(e)),
        };
        // A caller that stops waiting (a timeout, a dropped future) takes its ask out of the
        // asks in flight: a peer that never answers cannot make them pile up. Once the answer
        // is taken, the entry is gone already: no second lock.
        let registered = Registered { link: self, corr };
        let mut answer = None;
        self.read_in_place(corr, &mut |reply| {
            answer = Some(reply.map(|(type_id, body)| (type_id, body.to_vec())));
        });
        let answer = match answer {
            Some(answer) => answer,
            None => std::future::poll_fn(|cx| self.poll_in_place(corr, cx))
                .await
                .unwrap_or_else(|| {
                    Err(RemoteAskError::LinkDown {
                        peer: self.inner.peer.clone(),
                        reason: "the ask left the asks in flight unanswered".into(),
                    })
                }),
        };
        std::mem::forget(registered);
        answer
    }

    fn unregister(&self, corr: u64) -> Option<ReplyTo> {
        let removed = self.inner.lock().pending.remove(&corr);
        removed.map(|p| p.reply_to)
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
        self.push_waiting_asking(Kind::Ask, type_id, message, frame, Some((corr, &mut slot)))
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
            .map(|_| ())
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
    ) -> Result<u64, (SendError, ReplyTo)> {
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
            type_id,
            message,
            frame,
            false,
            Some((corr, &mut slot)),
        );
        match (pushed, slot) {
            (Ok(_), _) => Ok(corr),
            (Err(e), Some(reply_to)) => Err((e.err().unwrap_or(SendError::Full), reply_to)),
            // Not queued, so not registered: the slot is still full (never reached).
            (Err(_), None) => Ok(corr),
        }
    }

    /// Queues an ask without waiting whose answer waits in its entry of the asks in flight
    /// ([`ReplyTo::InPlace`]), for its asker to take with [`read_in_place`](Self::read_in_place)
    /// or [`poll_in_place`](Self::poll_in_place); returns its correlation id. When the queue
    /// is full or the link closed, `body` is not called. An asker that stops waiting first
    /// takes the entry out with [`forget_ask`](Self::forget_ask).
    pub(crate) fn try_ask_in_place(
        &self,
        name: &Arc<str>,
        type_id: u16,
        message: &'static str,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, SendError> {
        let in_place = ReplyTo::InPlace(InPlace::default());
        self.try_ask_to(name, type_id, message, body, in_place)
            .map_err(|(e, _)| e)
    }

    /// In spin mode, reads the connection for a while for the answer to ask `corr` (queued
    /// with [`try_ask_in_place`](Self::try_ask_in_place)), as [`Inner::read_for_answer`] does:
    /// when this thread reads it, `take` gets it, borrowed from the frame it came in, and
    /// the ask leaves the asks in flight. `false` when the answer did not come this way.
    pub(crate) fn read_in_place(
        &self,
        corr: u64,
        take: &mut dyn FnMut(Result<ReplyBody<'_>, RemoteAskError>),
    ) -> bool {
        let crate::config::Mode::Spin(budget) = self.inner.config.mode else {
            return false;
        };
        let Some(side) = self.inner.lock().read.clone() else {
            return false;
        };
        let mut mine = Mine {
            corr,
            take,
            taken: false,
        };
        side.read_for_answer(&self.inner, budget, ReadFor::Mine(&mut mine));
        mine.taken
    }

    /// The answer to ask `corr` (queued with [`try_ask_in_place`](Self::try_ask_in_place)),
    /// once it came; it leaves the asks in flight then. `Ready(None)` when the ask is not
    /// there (never, but for a bug: its asker is the one that takes it out).
    pub(crate) fn poll_in_place(&self, corr: u64, cx: &mut Context<'_>) -> Poll<Option<Answered>> {
        let mut st = self.inner.lock();
        let Entry::Occupied(mut entry) = st.pending.entry(corr) else {
            return Poll::Ready(None);
        };
        let ReplyTo::InPlace(place) = &mut entry.get_mut().reply_to else {
            return Poll::Ready(None);
        };
        match place.answer.take() {
            Some(answer) => {
                entry.remove();
                Poll::Ready(Some(*answer))
            }
            None => {
                match &mut place.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => place.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The asker of `corr` stopped waiting: its ask leaves the asks in flight (its answer
    /// dropped outside the lock, if it came).
    pub(crate) fn forget_ask(&self, corr: u64) {
        drop(self.unregister(corr));
    }
}

/// Takes ask `corr` out of the asks in flight if it is answered in place and its answer has
/// not come yet: the asker reading for it ([`Mine`]) takes its reply itself. `false` leaves
/// the asks as they were.
pub(crate) fn take_for_its_asker(st: &mut State, corr: u64) -> bool {
    match st.pending.entry(corr) {
        Entry::Occupied(entry)
            if matches!(
                entry.get().reply_to,
                ReplyTo::InPlace(InPlace { answer: None, .. })
            ) =>
        {
            entry.remove();
            true
        }
        _ => false,
    }
}

/// The asker reading for its own answer ([`Link::read_in_place`]): the correlation id of its
/// ask, and where the answer goes when this thread reads it.
pub(crate) struct Mine<'a> {
    pub corr: u64,
    pub take: &'a mut dyn FnMut(Result<ReplyBody<'_>, RemoteAskError>),
    pub taken: bool,
}

/// A correlation id for a new ask (never 0).
pub(super) fn next_corr(st: &mut State) -> u64 {
    let corr = st.next_corr;
    st.next_corr = st.next_corr.checked_add(1).unwrap_or(1);
    corr
}

/// The first correlation id of a link: random, so that the asks of a restarted process do
/// not reuse its predecessor's ids (a reply to one of those, should it still arrive, misses
/// and is counted late). Never 0, and far from the end of the range.
pub(super) fn first_corr() -> u64 {
    (crate::handshake::new_instance_id() >> 2).max(1)
}

/// Records ask `corr` in flight. Once they are [`SWEEP_ASKS_FROM`] or more, and twice as many
/// as the last time this looked, it first takes out those whose askers gave up (an asker that
/// can tell, [`ReplyTo::Asker`]: a typed proxy's `ask_timeout` that timed out, a dropped
/// future), so that asks a peer acknowledges but never answers cannot pile up. Returns them,
/// to be dropped outside the lock.
pub(super) fn register(st: &mut State, corr: u64, reply_to: ReplyTo) -> Vec<Pending> {
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
        side.read_for_answer(self, budget, ReadFor::Channel(answered));
    }

    /// Fails the asks `pending`, in the order they were asked: those whose request is in
    /// `unsent` (by correlation id: never written, and the link closed for good) with
    /// [`RemoteAskError::Unsent`], the others with [`RemoteAskError::LinkDown`].
    pub(super) fn fail_asks(&self, pending: Asks, mut unsent: HashMap<u64, Vec<u8>>, reason: &str) {
        let mut pending: Vec<_> = pending.into_iter().collect();
        pending.sort_by_key(|(corr, _)| *corr);
        for (corr, p) in pending {
            p.reply_to
                .answer(Err(self.failure(corr, &mut unsent, reason)));
        }
    }

    /// Why ask `corr` failed: never written (its request in `unsent`), or in flight when its
    /// connection dropped.
    fn failure(
        &self,
        corr: u64,
        unsent: &mut HashMap<u64, Vec<u8>>,
        reason: &str,
    ) -> RemoteAskError {
        match unsent.remove(&corr) {
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
        }
    }

    /// Takes the asks in flight out of `st` to fail them ([`fail_asks`](Self::fail_asks),
    /// outside the lock), but for those answered in place: they fail in their entries here,
    /// and the wakers of their askers are returned, to wake outside the lock.
    pub(super) fn take_failing(
        &self,
        st: &mut State,
        unsent: &mut HashMap<u64, Vec<u8>>,
        reason: &str,
    ) -> (Asks, Vec<Waker>) {
        let mut failing = Asks::default();
        let mut wakers = Vec::new();
        for (corr, mut p) in std::mem::take(&mut st.pending) {
            if !matches!(p.reply_to, ReplyTo::InPlace(_)) {
                failing.insert(corr, p);
                continue;
            }
            let failure = self.failure(corr, unsent, reason);
            wakers.extend(self.settle(&mut p, Err(failure)));
            st.pending.insert(corr, p);
        }
        (failing, wakers)
    }

    /// Leaves `answer` in the entry `p` of an ask answered in place (unless one is there
    /// already: the reply of an ask failed when its connection dropped, say, comes too
    /// late); returns its asker's waker.
    pub(super) fn settle(&self, p: &mut Pending, answer: Answered) -> Option<Waker> {
        let ReplyTo::InPlace(place) = &mut p.reply_to else {
            return None;
        };
        if place.answer.is_some() {
            return None;
        }
        place.answer = Some(Box::new(answer));
        if p.outside_task {
            self.answered_outside_task.store(true, Ordering::Relaxed);
        }
        self.answered_in_place.fetch_add(1, Ordering::Release);
        place.waker.take()
    }

    /// A reply for ask `corr` arrived.
    pub fn on_reply(&self, corr: u64, reply: Result<ReplyBody<'_>, RemoteAskError>) {
        let taken = self.take_ask(&mut self.lock(), corr, reply);
        self.hand_over(taken);
    }

    /// Takes ask `corr` out of the asks in flight, for its `reply`: [`Taken::Missing`]
    /// (counted as a late reply) when it is not there (its asker gave up, or its connection
    /// dropped). An ask answered in place gets the reply in its entry, its body copied.
    pub(crate) fn take_ask<'a>(
        &self,
        st: &mut State,
        corr: u64,
        reply: Result<ReplyBody<'a>, RemoteAskError>,
    ) -> Taken<'a> {
        let mut entry = match st.pending.entry(corr) {
            Entry::Occupied(entry) => entry,
            Entry::Vacant(_) => {
                st.stats.late_replies += 1;
                return Taken::Missing;
            }
        };
        match &entry.get().reply_to {
            // Answered already (failed when its connection dropped): this reply is late.
            ReplyTo::InPlace(InPlace {
                answer: Some(_), ..
            }) => {
                st.stats.late_replies += 1;
                Taken::Missing
            }
            ReplyTo::InPlace(_) => {
                let answer = reply.map(|(type_id, body)| (type_id, body.to_vec()));
                Taken::InPlace(self.settle(entry.get_mut(), answer))
            }
            _ => Taken::Answer(entry.remove(), reply),
        }
    }

    /// Outside the link's lock: answers what [`take_ask`](Self::take_ask) took.
    pub(crate) fn hand_over(&self, taken: Taken<'_>) {
        match taken {
            Taken::Missing | Taken::InPlace(None) => {}
            Taken::Answer(asker, reply) => self.answer(asker, reply),
            Taken::InPlace(Some(waker)) => waker.wake(),
        }
    }

    /// Hands `reply` to the ask `asker` (outside the link's lock: the answer slot may run
    /// anything).
    pub(crate) fn answer(&self, asker: Pending, reply: Result<ReplyBody<'_>, RemoteAskError>) {
        if asker.outside_task {
            self.answered_outside_task.store(true, Ordering::Relaxed);
        }
        asker.reply_to.answer(reply);
    }
}

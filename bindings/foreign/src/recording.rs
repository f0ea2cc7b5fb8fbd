//! Recording a foreign actor into a journal, like a Rust one.
//!
//! A foreign actor's messages are contract messages already encoded ([`ForeignMessage`]), so
//! each is recorded as the contract message of its type id, its bytes as they are; a message
//! of the language's own (a plain Python object between Python actors) is written in the
//! language's serialization where the program allows it ([`ForeignRecording::own_serialization`]),
//! and otherwise by name without its payload. What is recorded is what a Rust actor's
//! recording holds ([`mycelium_actors::recording`]): each message the actor handles, on its
//! host thread, in handling order, as a tell or an ask; each answer; what it sends through a
//! [`ForeignRef`](crate::ForeignRef) and publishes while handling; its starts, restarts,
//! failures and stops, with the actor's type as the language names it.
//!
//! ```
//! use std::sync::Arc;
//! use mycelium_actors::{Bus, StopReason, SpawnOptions};
//! use mycelium_foreign::{spawn_recorded, Foreign, ForeignMessage, ForeignRecord, ForeignRecording, ForeignRef};
//! use mycelium_journal::{JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Recording};
//!
//! struct Echo;
//! impl Foreign for Echo {
//!     type Args = ();
//!     type State = ();
//!     fn start(&self, _: &(), _: &ForeignRef<Self>) -> Result<(), String> { Ok(()) }
//!     fn handle(&self, _: &mut (), msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
//!         Ok(Some(msg))
//!     }
//!     fn stop(&self, _: (), _: &StopReason) {}
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let journal = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
//! let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
//! let bus = Bus::new();
//! let echo = spawn_recorded(&bus, Arc::new(Echo), (), SpawnOptions::new(),
//!                           ForeignRecording::new(recording, "Echo")).await.unwrap();
//! let reply = echo.ask(ForeignMessage { type_id: 7, body: vec![1, 2] }, None).await.unwrap();
//! assert_eq!(reply.body, [1, 2]);
//! journal.close().unwrap();
//!
//! let records: Vec<_> = JournalReader::open(dir.path()).unwrap().records()
//!     .map(|r| r.unwrap()).collect();
//! assert_eq!((records[0].kind, records[0].name.as_str()), (Kind::Started, "Echo"));
//! assert_eq!((records[1].kind, records[1].type_id, &records[1].payload[..]), (Kind::Handled, 7, &[1u8, 2][..]));
//! assert_eq!(records[2].kind, Kind::Replied);
//! # });
//! ```
//!
//! Direct calls ([`ForeignRef::try_direct`](crate::ForeignRef::try_direct)) are off for a
//! recorded actor: every message goes through its mailbox and host thread, where it is
//! recorded in handling order.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mycelium_actors::export::{ByteRefusal, ByteReply, ByteService};

use mycelium_actors::recording::{Delivery, Lifecycle, Recorder, Refusal, Sent, Source};
use mycelium_actors::{ActorId, BoxFuture, Clock, NodeId};
use mycelium_journal::{Described, Encoding};

use crate::{Foreign, ForeignMessage};

/// A foreign actor's message as a journal writes it: choose it in the journal's recording
/// with `Recording::described::<ForeignRecord>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRecord {
    /// The contract type id (0 for a message of the language's own).
    pub type_id: u16,
    /// The message type's name, as the journal lists it.
    pub name: &'static str,
    /// How `body` is encoded: [`Encoding::Contract`] for a contract message, [`Encoding::Raw`]
    /// for the language's own serialization (named by `name`), [`Encoding::Empty`] for a
    /// message that cannot be recorded.
    pub encoding: Encoding,
    /// The payload.
    pub body: Vec<u8>,
}

impl ForeignRecord {
    /// A contract message, recorded as its bytes.
    pub fn contract(msg: &ForeignMessage, name: &'static str) -> Self {
        ForeignRecord {
            type_id: msg.type_id,
            name,
            encoding: Encoding::Contract,
            body: msg.body.clone(),
        }
    }

    /// A message that cannot be recorded: by its name, without a payload.
    pub fn unrecordable(name: &'static str) -> Self {
        ForeignRecord {
            type_id: 0,
            name,
            encoding: Encoding::Empty,
            body: Vec::new(),
        }
    }
}

impl Described for ForeignRecord {
    fn described(&self) -> (u16, Encoding, &[u8]) {
        (self.type_id, self.encoding, &self.body)
    }
}

/// `name` as a `&'static str`: each distinct name is kept once for the process's life (a
/// program has a bounded set of message and actor type names).
pub fn static_name(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(name) = names.get(name) {
        return name;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(name.to_owned(), kept);
    kept
}

/// The name of the contract message `type_id`: its type's name in `mycelium-contracts`, or
/// `type N` for an id it does not define.
pub fn contract_name(type_id: u16) -> &'static str {
    struct Name;
    impl crate::ContractVisitor for Name {
        type Out = &'static str;
        fn visit<M: mycelium_codec::WireMessage + Send + Sync + 'static>(self) -> &'static str {
            let full = std::any::type_name::<M>();
            full.rsplit("::").next().unwrap_or(full)
        }
    }
    crate::visit_contract(type_id, Name).unwrap_or_else(|| static_name(&format!("type {type_id}")))
}

/// How a foreign actor is recorded: the recorder (a journal's `Recording`), the actor's type
/// as its language names it, and whether plain objects of the language may be written in its
/// own serialization. Shared by the actor's incarnations.
#[derive(Clone)]
pub struct ForeignRecording {
    recorder: Arc<dyn Recorder>,
    actor_type: &'static str,
    own_serialization: bool,
    /// Incarnations started so far: 0 is a start, the others restarts.
    started: Arc<AtomicU32>,
    /// Inputs handled so far, over every incarnation.
    inputs: Arc<AtomicU64>,
    /// For a replay: the clock readings recorded live, by input, served in their order.
    served: Option<Arc<Mutex<Vec<VecDeque<Duration>>>>>,
    /// For a replay: the tells refused live, by input, each with its place among the input's
    /// tells (from 0), returned again as they are made.
    refusals: Option<Arc<Refusals>>,
    /// For a replay of the actor alone: its timers' firings are fed from the journal, so
    /// its own timers send nothing.
    timers_fed: bool,
}

impl std::fmt::Debug for ForeignRecording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignRecording")
            .field("actor_type", &self.actor_type)
            .field("own_serialization", &self.own_serialization)
            .finish_non_exhaustive()
    }
}

impl ForeignRecording {
    /// The wait its recorder asks for before the actor begins its next message, `ahead`
    /// messages taken before it still to begin ([`Recorder::input_turn`]: a set's replay's).
    pub(crate) fn input_turn(
        &self,
        actor: ActorId,
        ahead: usize,
    ) -> Option<mycelium_actors::recording::Turn> {
        self.recorder.input_turn(actor, ahead)
    }

    /// Records into `recorder` an actor of the type `actor_type` (the class name).
    pub fn new(recorder: Arc<dyn Recorder>, actor_type: &str) -> Self {
        RECORDING.store(true, Ordering::Relaxed);
        // Sends to the actor carry their sources from now on.
        mycelium_actors::recording::recording_on();
        ForeignRecording {
            recorder,
            actor_type: static_name(actor_type),
            own_serialization: false,
            started: Arc::default(),
            inputs: Arc::default(),
            served: None,
            refusals: None,
            timers_fed: false,
        }
    }

    /// For a replay of the actor: `by_input[i]` are the clock readings it made live while
    /// handling its input `i` (counted over its incarnations), which its handlers read again
    /// in their order ([`clock_read`]); a reading beyond them is the clock's.
    pub fn serve_readings(mut self, by_input: Vec<Vec<Duration>>) -> Self {
        let by_input = by_input.into_iter().map(VecDeque::from).collect();
        self.served = Some(Arc::new(Mutex::new(by_input)));
        self
    }

    /// For a replay of the actor: `by_input[i]` are the tells it made live while handling its
    /// input `i` that were refused, each as its place among that input's tells (from 0) and
    /// the refusal, which its replay's tells return again ([`report_told`]).
    pub fn serve_refusals(mut self, by_input: Refusals) -> Self {
        self.refusals = Some(Arc::new(by_input));
        self
    }

    /// For a replay of the actor alone, which feeds its inputs from the journal: its timers'
    /// recorded firings are fed too, so the timers it sets again send nothing (they are
    /// numbered as live).
    pub fn feed_timers(mut self) -> Self {
        self.timers_fed = true;
        self
    }

    /// The recorder, and whether the actor's timers send nothing (see [`feed_timers`](Self::feed_timers)).
    pub(crate) fn timer_recorder(&self) -> (Arc<dyn Recorder>, bool) {
        (self.recorder.clone(), self.timers_fed)
    }

    /// Lets plain objects of the language (not contract messages) be written in the
    /// language's own serialization (Python's pickle); without it they are recorded by name,
    /// without their payload, and a replay cannot feed them.
    pub fn own_serialization(mut self, allowed: bool) -> Self {
        self.own_serialization = allowed;
        self
    }

    /// True if plain objects are written in the language's own serialization.
    pub fn allows_own_serialization(&self) -> bool {
        self.own_serialization
    }

    /// How many inputs the actor has begun to handle, over every incarnation.
    pub fn inputs(&self) -> u64 {
        self.inputs.load(Ordering::Relaxed)
    }

    pub(crate) fn started(&self, actor: ActorId, clock: &Clock) {
        let incarnation = self.started.fetch_add(1, Ordering::AcqRel);
        self.recorder.lifecycle(
            actor,
            clock.now(),
            Lifecycle::Started {
                incarnation,
                actor_type: self.actor_type,
            },
        );
    }

    pub(crate) fn failed(&self, actor: ActorId, clock: &Clock, reason: &str) {
        self.recorder
            .lifecycle(actor, clock.now(), Lifecycle::Failed { reason });
    }

    pub(crate) fn stopped(&self, actor: ActorId, clock: &Clock, reason: &str) {
        self.recorder
            .lifecycle(actor, clock.now(), Lifecycle::Stopped { reason });
    }

    /// Runs the start callback `start` of `actor`, recorded: what it sends, asks and
    /// publishes (and the answers to its asks, which a replay of the actor alone serves again)
    /// is the actor's, before any input.
    pub(crate) fn start<F: Foreign, T>(
        &self,
        foreign: &Arc<F>,
        actor: ActorId,
        clock: &Clock,
        start: impl FnOnce() -> T,
    ) -> T {
        let outer = HANDLING.with(|h| {
            h.replace(Some(Handling {
                recorder: self.recorder.clone(),
                actor,
                input: None,
                clock: clock.clone(),
                describe: foreign.clone(),
                own_serialization: self.own_serialization,
                served: None,
                refusals: None,
                tells: std::cell::Cell::new(0),
            }))
        });
        let _restore = RestoreHandling(outer);
        start()
    }

    /// Runs the handler `handle` of `msg` for `actor`, recorded: the handled message before,
    /// the answer of an ask and a failure after, and what the handler sends or publishes in
    /// between.
    pub(crate) fn handle<F: Foreign>(
        &self,
        foreign: &Arc<F>,
        actor: ActorId,
        clock: &Clock,
        (msg, source): (ForeignMessage, Source),
        delivery: Delivery,
        handle: impl FnOnce(ForeignMessage) -> Result<Option<ForeignMessage>, String>,
    ) -> Result<Option<ForeignMessage>, String> {
        let record = foreign.recorded(&msg, self.own_serialization);
        let asked = delivery == Delivery::Ask;
        self.recorder
            .handled(actor, clock.now(), delivery, source, record.name, &record);
        let input = self.inputs.fetch_add(1, Ordering::Relaxed);
        let outer = HANDLING.with(|h| {
            h.replace(Some(Handling {
                recorder: self.recorder.clone(),
                actor,
                input: Some(input),
                clock: clock.clone(),
                describe: foreign.clone(),
                own_serialization: self.own_serialization,
                served: self.served.clone(),
                refusals: self.refusals.clone(),
                tells: std::cell::Cell::new(0),
            }))
        });
        let result = {
            let _restore = RestoreHandling(outer);
            catch_unwind(AssertUnwindSafe(|| handle(msg)))
                .unwrap_or_else(|payload| Err(crate::actor::panic_text(payload)))
        };
        match &result {
            Ok(Some(reply)) if asked => {
                let record = foreign.recorded(reply, self.own_serialization);
                self.recorder
                    .replied(actor, clock.now(), record.name, &record);
            }
            Ok(_) => {}
            Err(reason) => self.failed(actor, clock, reason),
        }
        result
    }
}

/// How a language describes its messages to the journal ([`Foreign::recorded`]), without
/// its other callbacks' types.
trait Describe: Send + Sync {
    fn describe(&self, msg: &ForeignMessage, own_serialization: bool) -> ForeignRecord;
}

impl<F: Foreign> Describe for F {
    fn describe(&self, msg: &ForeignMessage, own_serialization: bool) -> ForeignRecord {
        self.recorded(msg, own_serialization)
    }
}

/// The recorded foreign actor whose handler runs on this thread.
struct Handling {
    recorder: Arc<dyn Recorder>,
    actor: ActorId,
    /// Which of the actor's inputs this is: 0 for its first, over every incarnation (`None`:
    /// its `start`, before any).
    input: Option<u64>,
    clock: Clock,
    describe: Arc<dyn Describe>,
    own_serialization: bool,
    served: Option<Arc<Mutex<Vec<VecDeque<Duration>>>>>,
    /// For a replay: the tells refused live ([`ForeignRecording::serve_refusals`]).
    refusals: Option<Arc<Refusals>>,
    /// The tells reported so far while handling this input.
    tells: std::cell::Cell<usize>,
}

/// A recorded actor's refused tells by input, each as its place among that input's tells
/// (from 0) and the refusal ([`ForeignRecording::serve_refusals`]).
pub type Refusals = Vec<Vec<(usize, Refusal)>>;

impl Handling {
    /// The refusal served for the tell reported last: by this replay's own list, else by its
    /// recorder (a set's).
    fn refusal(&self) -> Option<Refusal> {
        let tell = self.tells.get().checked_sub(1)?;
        let own = self.refusals.as_ref().map(|refusals| {
            refusals
                .get(usize::try_from(self.input?).ok()?)?
                .iter()
                .find(|(t, _)| *t == tell)
                .map(|(_, refusal)| *refusal)
        });
        match own {
            Some(own) => own,
            None => self.recorder.refusal(self.actor),
        }
    }

    fn report(&self, msg: &ForeignMessage, how: Sent<'_>) {
        if matches!(how, Sent::Tell { .. }) {
            self.tells.set(self.tells.get() + 1);
        }
        let record = self.describe.describe(msg, self.own_serialization);
        self.recorder
            .sent(self.actor, self.clock.now(), how, record.name, &record);
    }

    fn answered(&self, answer: Result<&ForeignMessage, &str>) {
        match answer {
            Ok(reply) => {
                let record = self.describe.describe(reply, self.own_serialization);
                self.recorder
                    .answered(self.actor, self.clock.now(), record.name, Ok(&record));
            }
            Err(error) => {
                self.recorder
                    .answered(self.actor, self.clock.now(), "error", Err(error));
            }
        }
    }
}

/// Set once a foreign actor is recorded in this process: until then a send does not look for
/// a recorded sender (one load of this flag).
static RECORDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static HANDLING: RefCell<Option<Handling>> = const { RefCell::new(None) };
}

/// Puts back the handling of an outer handler (a handler that asks another on its thread).
struct RestoreHandling(Option<Handling>);

impl Drop for RestoreHandling {
    fn drop(&mut self) {
        let outer = self.0.take();
        let _ = HANDLING.try_with(|h| *h.borrow_mut() = outer);
    }
}

thread_local! {
    /// The receiver of this thread's last `try_tell` that met a full mailbox (reported).
    static FULL: std::cell::Cell<Option<ActorId>> = const { std::cell::Cell::new(None) };
}

/// A `try_tell` to `to`, reported, met a full mailbox.
pub(crate) fn retry_of(to: ActorId) {
    if RECORDING.load(Ordering::Relaxed) {
        let _ = FULL.try_with(|f| f.set(Some(to)));
    }
}

/// True if a `tell` to `to` retries the last `try_tell` of this thread, already reported;
/// forgets it either way.
pub(crate) fn is_retry(to: ActorId) -> bool {
    RECORDING.load(Ordering::Relaxed) && FULL.try_with(|f| f.take() == Some(to)).unwrap_or(false)
}

thread_local! {
    /// A subscription's delivery runs on this thread: what it tells is not a send of the
    /// handler that published.
    static DELIVERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, a subscription's delivery of a publication to a foreign actor: the delivery is
/// not a send of the recorded publisher whose handler runs on this thread (its record is the
/// `published` one).
fn delivering<T>(f: impl FnOnce() -> T) -> T {
    if !RECORDING.load(Ordering::Relaxed) {
        return f();
    }
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = DELIVERING.try_with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DELIVERING.try_with(|d| d.replace(true)).unwrap_or(false));
    f()
}

/// A foreign actor as a subscription's target: it takes each publication as the actor's
/// service does, but a delivery is not reported as a send of the publisher (see
/// [`delivering`]).
pub(crate) struct Delivering(pub(crate) Arc<dyn ByteService>);

impl ByteService for Delivering {
    fn id(&self) -> ActorId {
        self.0.id()
    }

    fn is_alive(&self) -> bool {
        self.0.is_alive()
    }

    fn try_tell(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal> {
        delivering(|| self.0.try_tell(type_id, body))
    }

    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        let mut telling = delivering(|| self.0.tell(type_id, body));
        // The service's future reports when it is first polled.
        Box::pin(std::future::poll_fn(move |cx| {
            delivering(|| telling.as_mut().poll(cx))
        }))
    }

    fn ask(
        &self,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> BoxFuture<'static, ByteReply> {
        self.0.ask(type_id, body, timeout)
    }
}

/// Reports `msg`, about to be sent as `how` says, if a recorded foreign actor's handler on
/// this thread sends it (not in a subscription's delivery).
pub(crate) fn sent(how: Sent<'_>, msg: &ForeignMessage) {
    sending(|handling| {
        handling.report(msg, how);
        Some(())
    });
}

/// Runs `f` on the recorded foreign actor whose handler runs on this thread, if any (and not
/// in a subscription's delivery, which is no send of the handler's): `None` otherwise.
fn sending<R>(f: impl FnOnce(&Handling) -> Option<R>) -> Option<R> {
    if !RECORDING.load(Ordering::Relaxed) || DELIVERING.try_with(|d| d.get()).unwrap_or(false) {
        return None;
    }
    HANDLING
        .try_with(|h| f(h.try_borrow().ok()?.as_ref()?))
        .ok()
        .flatten()
}

/// Reports a tell (`asked` false) or an ask of `msg` to `to`, if a recorded foreign actor's
/// handler on this thread makes it: for a host that sends other than through a
/// [`ForeignRef`](crate::ForeignRef) (whose sends report themselves).
pub fn report_sent(to: ActorId, asked: bool, msg: &ForeignMessage) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    // Any other send ends the chance of a retry of a full `try_tell`.
    let _ = FULL.try_with(|f| f.set(None));
    let how = if asked {
        Sent::Ask { to }
    } else {
        Sent::Tell { to }
    };
    sent(how, msg);
}

/// Reports a tell of `msg` to `to`, as [`report_sent`] does, and returns the refusal a
/// replay serves for it ([`Recorder::refusal`]): the tell then returns that refusal without
/// sending, as it did when it was recorded.
pub fn report_told(to: ActorId, msg: &ForeignMessage) -> Option<Refusal> {
    if !RECORDING.load(Ordering::Relaxed) {
        return None;
    }
    // Any other send ends the chance of a retry of a full `try_tell`.
    let _ = FULL.try_with(|f| f.set(None));
    sending(|handling| {
        handling.report(msg, Sent::Tell { to });
        handling.refusal()
    })
}

/// Reports that the tell to `to` that the recorded foreign actor's handler on this thread
/// reported last was refused (`refusal`): its language's `tell` or `try_tell` raised or
/// returned the error. A full mailbox is a refusal only for a `try_tell` (a `tell` waits for
/// room).
pub fn report_refused(to: ActorId, refusal: Refusal) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    // Refused for good: a `tell` that follows is a send of its own.
    let _ = FULL.try_with(|f| f.set(None));
    sending(|handling| {
        let recorder = &handling.recorder;
        recorder.refused(handling.actor, handling.clock.now(), to, refusal);
        Some(())
    });
}

/// Reports a tell (`asked` false) or an ask of the contract message `type_id` with `body` to
/// the service a link's node `node` hosts, if a recorded foreign actor's handler on this
/// thread makes it (a host's node ref): a `sent` record to actor 0 of that node, as for a
/// Rust actor's send through a remote proxy. Copies the body only while recording.
pub fn report_sent_to_node(node: NodeId, asked: bool, type_id: u16, body: &[u8]) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    let msg = ForeignMessage {
        type_id,
        body: body.to_vec(),
    };
    report_sent(ActorId::new(node, 0), asked, &msg);
}

/// Reports a tell (`asked` false) or an ask of the contract message `type_id` with `body`
/// by the service name `service` of `bus`, if a recorded foreign actor's handler on this
/// thread makes it and a Rust actor takes it (`Exports::rust_receiver`; a foreign actor's
/// byte service reports what it is sent itself). True when it was reported: the answer to
/// the ask is then the host's to report ([`report_answered_bytes`]).
pub fn report_sent_by_name(
    bus: &mycelium_actors::Bus,
    service: &str,
    asked: bool,
    type_id: u16,
    body: &[u8],
) -> bool {
    if !RECORDING.load(Ordering::Relaxed) || handling_actor().is_none() {
        return false;
    }
    let Some(to) = bus.exports().rust_receiver(service, type_id) else {
        return false;
    };
    let msg = ForeignMessage {
        type_id,
        body: body.to_vec(),
    };
    report_sent(to, asked, &msg);
    true
}

/// The actor whose recorded handler runs on this thread, if any: for a replay's stand-in,
/// which answers each replayed actor with what it was answered.
pub fn handling_actor() -> Option<ActorId> {
    HANDLING
        .try_with(|h| {
            h.try_borrow()
                .ok()
                .and_then(|h| h.as_ref().map(|h| h.actor))
        })
        .ok()
        .flatten()
}

/// Which of its inputs the actor whose recorded handler runs on this thread is handling (0
/// for its first, counted over its incarnations), if any: for a replay's stand-in, which
/// answers each input with what it was answered while that input was handled.
pub fn handling_input() -> Option<u64> {
    HANDLING
        .try_with(|h| {
            h.try_borrow()
                .ok()
                .and_then(|h| h.as_ref().and_then(|h| h.input))
        })
        .ok()
        .flatten()
}

/// The bus clock as a language's actor reads it: `reading`, the clock now, unless a recorded
/// foreign actor's handler runs on this thread, whose reading is recorded (a `clock-read`
/// record, as [`Context::now`](mycelium_actors::Context::now) makes for a Rust actor), and
/// whose replay reads the reading recorded at this point instead.
pub fn clock_read(reading: Duration) -> Duration {
    if !RECORDING.load(Ordering::Relaxed) {
        return reading;
    }
    HANDLING
        .try_with(|h| match h.try_borrow() {
            Ok(handling) => match handling.as_ref() {
                // A reading in `start` is not an input's: not recorded.
                Some(Handling { input: None, .. }) => reading,
                Some(handling) => {
                    let served = handling.served.as_ref().and_then(|served| {
                        let mut served = served.lock().unwrap_or_else(|e| e.into_inner());
                        served
                            .get_mut(usize::try_from(handling.input?).ok()?)?
                            .pop_front()
                    });
                    handling
                        .recorder
                        .clock_read(handling.actor, served.unwrap_or(reading))
                }
                None => reading,
            },
            Err(_) => reading,
        })
        .unwrap_or(reading)
}

/// [`report_answered`] of an answer given as its contract type id and body, copied only
/// while recording.
pub fn report_answered_bytes(answer: Result<(u16, &[u8]), &str>) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    match answer {
        Ok((type_id, body)) => report_answered(Ok(&ForeignMessage {
            type_id,
            body: body.to_vec(),
        })),
        Err(error) => report_answered(Err(error)),
    }
}

/// Reports the answer to an ask that a recorded foreign actor's handler on this thread made
/// (the reply, or the asker's error as it reads), before the handler sees it: an input of the
/// actor, which a replay of it alone serves again. For a host that asks other than through
/// [`ForeignRef::ask`](crate::ForeignRef::ask) (whose answers report themselves).
pub fn report_answered(answer: Result<&ForeignMessage, &str>) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    let _ = HANDLING.try_with(|h| {
        if let Ok(handling) = h.try_borrow() {
            if let Some(handling) = handling.as_ref() {
                handling.answered(answer);
            }
        }
    });
}

/// Runs `f` outside the recorded handling on this thread, if any: a direct call runs another
/// actor's handler on the caller's thread, and what that handler sends is not the caller's.
pub(crate) fn outside<R>(f: impl FnOnce() -> R) -> R {
    if !RECORDING.load(Ordering::Relaxed) {
        return f();
    }
    let outer = HANDLING.try_with(|h| h.try_borrow_mut().ok().and_then(|mut h| h.take()));
    let _restore = RestoreHandling(outer.ok().flatten());
    f()
}

/// Reports the publication of `body` (type `type_id`) on `topic`, if a recorded foreign
/// actor's handler on this thread makes it.
pub(crate) fn report_published(topic: &str, type_id: u16, body: &[u8]) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    let _ = HANDLING.try_with(|h| {
        if let Ok(handling) = h.try_borrow() {
            if let Some(handling) = handling.as_ref() {
                let msg = ForeignMessage {
                    type_id,
                    body: body.to_vec(),
                };
                handling.report(&msg, Sent::Publish { topic });
            }
        }
    });
}

/// A recorded input of a foreign actor as the contract message it was: its type id and
/// bytes. Any other encoding is refused with the reason (a replay names the input).
pub fn contract_input(record: &mycelium_journal::Record) -> Result<ForeignMessage, String> {
    if record.encoding != Encoding::Contract {
        return Err(format!(
            "it was recorded as {}, not as a contract message",
            record.encoding.name()
        ));
    }
    Ok(ForeignMessage {
        type_id: record.type_id,
        body: record.payload.clone(),
    })
}

/// How a [`ReplaySet`](mycelium_journal::ReplaySet) feeds and stops the replayed foreign
/// actor `actor` (recorded by the set's [`ReplayRecorder`](mycelium_journal::ReplayRecorder)):
/// each input from outside the set is turned into a message by `input` (see
/// [`contract_input`]) and told, or asked when it was recorded as an ask (the answer, or
/// the failure, is what the recorder compares).
pub fn replay_hosted<F: Foreign>(
    actor: crate::ForeignRef<F>,
    input: impl Fn(&mycelium_journal::Record) -> Result<ForeignMessage, String> + Send + Sync + 'static,
) -> mycelium_journal::Hosted {
    use mycelium_journal::FeedRefused;
    let fed = actor.clone();
    let feed: mycelium_journal::FeedHosted = Box::new(move |record| {
        let msg = input(record);
        let actor = fed.clone();
        Box::pin(async move {
            let msg = msg.map_err(FeedRefused::Decode)?;
            if record.asked {
                match mycelium_journal::queue_ask(async move { actor.ask(msg, None).await }).await {
                    Some(Err(crate::ForeignAskError::Stopped { .. })) => Err(FeedRefused::Stopped),
                    // An answer or a failure, now or later: what the recorder captured is
                    // compared.
                    _ => Ok(()),
                }
            } else {
                actor.tell(msg).await.map_err(|_| FeedRefused::Stopped)
            }
        })
    });
    let id = actor.id();
    let halting = actor.actor_ref().clone();
    let halt: mycelium_journal::Halt = Box::new(move || halting.stop());
    let stop: mycelium_journal::StopHosted = Box::new(move |when| {
        let actor = actor.clone();
        Box::pin(async move {
            match when {
                // Through the host thread: what is queued there runs first. (Stopped
                // already, there is nothing to drain.)
                mycelium_journal::StopWhen::Drained => drop(actor.drain_and_stop().await),
                mycelium_journal::StopWhen::AfterCurrent => actor.actor_ref().stop(),
            }
            actor.wait_for_stop().await;
        })
    });
    mycelium_journal::Hosted {
        id,
        feed,
        stop,
        halt,
    }
}

/// Spawns, on `bus` (the replay's virtual-time bus), the replayed foreign actor for the
/// recorded actor number `recorded` of `set`, recorded as `actor_type` with the language's
/// own serialization allowed, and adds it to the set; `input` turns its inputs from outside
/// the set into messages ([`contract_input`] for contract messages). Its messages (and any
/// foreign actor's in the set) are compared as [`ForeignRecord`]s describe them. It starts
/// at the bus time it started live and, if it was restarted live, is restarted in place after
/// a failure, as many times as recorded
/// ([`ReplayRecorder::spawn_options`](mycelium_journal::ReplayRecorder::spawn_options)); the
/// ref stays valid across its restarts. It waits for a start due now (one that fails is
/// [`ReplayError::Spawn`](mycelium_journal::ReplayError::Spawn)), not for a later one (one
/// that fails then is a difference of the report).
pub async fn spawn_replayed<F: Foreign>(
    set: &mut mycelium_journal::ReplaySet,
    bus: &mycelium_actors::Bus,
    recorded: u64,
    foreign: Arc<F>,
    args: F::Args,
    actor_type: &str,
    input: impl Fn(&mycelium_journal::Record) -> Result<ForeignMessage, String> + Send + Sync + 'static,
) -> Result<crate::ForeignRef<F>, mycelium_journal::ReplayError> {
    spawn_member(set, bus, recorded, foreign, args, actor_type, input, true).await
}

/// [`spawn_replayed`] without waiting for the actor's start, even one due now: for a program
/// that holds the set's clock still while it spawns the members one call at a time (so that
/// no member's timer fires before the last is there), where a start that waits on the bus
/// (an ask answered after a timer) would wait for ever. A start that fails is a difference of
/// the report.
pub async fn spawn_replayed_unstarted<F: Foreign>(
    set: &mut mycelium_journal::ReplaySet,
    bus: &mycelium_actors::Bus,
    recorded: u64,
    foreign: Arc<F>,
    args: F::Args,
    actor_type: &str,
    input: impl Fn(&mycelium_journal::Record) -> Result<ForeignMessage, String> + Send + Sync + 'static,
) -> Result<crate::ForeignRef<F>, mycelium_journal::ReplayError> {
    spawn_member(set, bus, recorded, foreign, args, actor_type, input, false).await
}

/// [`spawn_replayed`], waiting for a start due now if `wait`.
#[allow(clippy::too_many_arguments)]
async fn spawn_member<F: Foreign>(
    set: &mut mycelium_journal::ReplaySet,
    bus: &mycelium_actors::Bus,
    recorded: u64,
    foreign: Arc<F>,
    args: F::Args,
    actor_type: &str,
    input: impl Fn(&mycelium_journal::Record) -> Result<ForeignMessage, String> + Send + Sync + 'static,
    wait: bool,
) -> Result<crate::ForeignRef<F>, mycelium_journal::ReplayError> {
    set.compare_described::<ForeignRecord>();
    let recorder = set.recorder_for(recorded)?;
    let recording = ForeignRecording::new(recorder.recorder(), actor_type).own_serialization(true);
    let options = recorder.spawn_options(bus);
    let due_now = recorder
        .starts_at()
        .is_none_or(|at| at <= bus.clock().now());
    let actor = if !(wait && due_now) {
        // Not waited for: the member starts at its recorded start's bus time, which the
        // clock may reach only once the set runs; a start that fails then is a difference.
        crate::service::spawn_recorded_unawaited(bus, foreign, args, options, recording)
    } else {
        crate::spawn_recorded(bus, foreign, args, options, recording).await
    }
    .map_err(|e| mycelium_journal::ReplayError::Spawn(e.to_string()))?;
    recorder.attach(actor.actor_ref().handle());
    set.add_hosted(bus, recorder, replay_hosted(actor.clone(), input))?;
    Ok(actor)
}

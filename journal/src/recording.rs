//! Recording actors into a journal: a [`Recorder`] for `SpawnOptions::record` that writes
//! what a recorded actor handles, and its starts and failures, as journal records.
//!
//! ```
//! use std::sync::Arc;
//! use mycelium_actors::{actor_from_args, Bus, Context, Handler, SpawnOptions};
//! use mycelium_journal::{JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Recording};
//!
//! #[derive(serde::Serialize)]
//! struct Fill { qty: u32 }
//!
//! #[derive(Clone)]
//! struct Book(u32);
//! actor_from_args!(Book);
//! impl Handler<Fill> for Book {
//!     type Reply = u32;
//!     async fn handle(&mut self, fill: Fill, _ctx: &mut Context<Self>) -> u32 {
//!         self.0 += fill.qty;
//!         self.0
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let journal = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
//! let recording = Arc::new(Recording::new(journal.clone()).serde::<Fill>());
//! let bus = Bus::new();
//! let book = bus.spawn_with::<Book>(Book(0), SpawnOptions::new().record(recording)).unwrap();
//! assert_eq!(book.ask(Fill { qty: 3 }).await.unwrap(), 3);
//! journal.close().unwrap();
//!
//! let kinds: Vec<_> = JournalReader::open(dir.path()).unwrap().records()
//!     .map(|r| { let r = r.unwrap(); (r.kind, r.name, String::from_utf8(r.payload).unwrap()) })
//!     .collect();
//! assert_eq!(kinds[1], (Kind::Handled, "Fill".to_owned(), r#"{"qty":3}"#.to_owned()));
//! # });
//! ```
//!
//! Each message type is written with the codec chosen for it: [`Recording::contract`] for a
//! contract message (the `mycelium-codec` field sequence, with its type id), or
//! [`Recording::serde`] for an in-process type (JSON). A handled message of a type not
//! chosen is still recorded, by name, with no payload, and counted in
//! [`Recording::unrecorded`]: a replay cannot feed it again. An actor that implements
//! [`Recorded`] is checked at spawn instead: [`Recording::spawn_options`] names the types it
//! declares that no codec was chosen for.
//!
//! An ask's answer is a `replied` record whose `cause` is the ask's `handled` record, its
//! payload written with the codec chosen for the reply type (`.serde::<u32>()`).
//!
//! What the actor sends, asks and publishes while handling a message is a `sent` or
//! `published` record (its `cause` the input); the answer to an ask it makes is an
//! `answered` record (an input, served again by [`crate::RecordedAnswers`]); a timer's
//! firing is a `timer-fired` record
//! and its message a `handled` record with [`Origin::Timer`]; each `Context::now` is a
//! `clock-read` record. Every other `handled` record says where its message came from, as
//! the message carried it (`mycelium_actors::recording::Source`): [`Origin::Actor`] for an
//! actor of this process (recorded or not), [`Origin::Remote`] for a link's delivery from
//! another node, [`Origin::Outside`] for code outside the actors, [`Origin::Foreign`] for
//! code of another language outside its actors, and [`Origin::None`] for a message sent
//! before recording began.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::recording::{Delivery, Lifecycle, Recorder, Refusal, Sent, Source};
use mycelium_actors::{ActorId, Published};
use mycelium_codec::WireMessage;

use crate::record::{ActorAddr, Encoding, Entry, Kind, Origin};
use crate::writer::JournalWriter;

type Encode = fn(&dyn Any, &mut Vec<u8>) -> Result<(), String>;

/// A [`Described`] message's type id, encoding and payload.
type Describe = fn(&dyn Any) -> Option<(u16, Encoding, &[u8])>;

/// The maps looked up for every recorded message are keyed by a `TypeId` or an actor's
/// address, which no caller chooses to collide: a multiply-rotate hash (FxHash's) costs a
/// few cycles where the default SipHash costs tens of nanoseconds.
#[derive(Clone, Copy, Default)]
struct QuickHasher(u64);

impl std::hash::Hasher for QuickHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Quick = std::hash::BuildHasherDefault<QuickHasher>;

struct Codec {
    encoding: Encoding,
    type_id: u16,
    encode: Encode,
    /// The topic of a publication (`Published<M>`).
    topic: Option<fn(&dyn Any) -> Option<&str>>,
    /// A message that describes itself ([`Described`]): its type id, encoding and payload
    /// are its own, not the codec's.
    described: Option<Describe>,
}

/// A message that says how it is written: a message held as bytes already encoded (a
/// contract message of a foreign language's actor, given as its type id and body; a plain
/// object in the language's own serialization). Chosen with [`Recording::described`].
pub trait Described: 'static {
    /// The contract type id (0 for none), the payload's encoding and the payload;
    /// [`Encoding::Empty`] for a message that cannot be written (then recorded by name
    /// without its payload, and listed by [`Recording::unrecorded`]).
    fn described(&self) -> (u16, Encoding, &[u8]);
}

fn describe<M: Described>(msg: &dyn Any) -> Option<(u16, Encoding, &[u8])> {
    msg.downcast_ref::<M>().map(Described::described)
}

fn encode_nothing(_: &dyn Any, _: &mut Vec<u8>) -> Result<(), String> {
    Ok(())
}

/// Writes recorded actors' messages and lives into a journal; hand it to
/// `SpawnOptions::record` of each actor to record (one `Recording` may serve many).
pub struct Recording {
    journal: JournalWriter,
    codecs: HashMap<TypeId, Codec, Quick>,
    unrecorded: Mutex<BTreeSet<String>>,
    errors: AtomicU64,
    /// The sequence number (plus one; 0 for none) of the input each recorded actor is
    /// handling: the cause of what it answers. One handler runs at a time per actor, so the
    /// last is the current one. Each actor's slot is made once; a thread keeps the slot it
    /// used last ([`CAUSE`]), so that a message's record and its sends touch no lock.
    handling: Mutex<HashMap<ActorAddr, Arc<AtomicU64>, Quick>>,
    /// This recording's number among the process's recordings (never reused): what a
    /// thread's kept slot is checked against.
    number: u64,
    /// The actor each recorded actor last asked: the origin of the answer it gets.
    asked: Mutex<HashMap<ActorAddr, ActorAddr>>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("journal", &self.journal)
            .field("types", &self.codecs.len())
            .finish_non_exhaustive()
    }
}

/// How many [`Recording`]s the process has made: the next one's number.
static RECORDINGS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The cause slot this thread used last: the recording's number, the actor, its slot.
    static CAUSE: RefCell<Option<(u64, ActorAddr, Arc<AtomicU64>)>> = const { RefCell::new(None) };
    /// The encoding buffer of this thread's recorded handlings, reused.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn encode_contract<M: WireMessage + 'static>(
    msg: &dyn Any,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let msg = msg
        .downcast_ref::<M>()
        .ok_or("the message is not of its registered type")?;
    msg.encode_body(out);
    Ok(())
}

fn encode_published<M: WireMessage + 'static>(
    msg: &dyn Any,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let p = msg
        .downcast_ref::<Published<M>>()
        .ok_or("the message is not of its registered type")?;
    p.msg().encode_body(out);
    Ok(())
}

fn published_topic<M: 'static>(msg: &dyn Any) -> Option<&str> {
    msg.downcast_ref::<Published<M>>().map(Published::topic)
}

fn encode_json<M: serde::Serialize + 'static>(
    msg: &dyn Any,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let msg = msg
        .downcast_ref::<M>()
        .ok_or("the message is not of its registered type")?;
    serde_json::to_writer(out, msg).map_err(|e| e.to_string())
}

/// An actor that declares the message types it handles, so that a [`Recording`] can tell
/// at spawn which of them it has no codec for ([`Recording::spawn_options`]).
///
/// ```
/// use mycelium_actors::{actor_from_args, Context, Handler};
/// use mycelium_journal::{Recorded, RecordedType};
///
/// #[derive(Clone)]
/// struct Book(u32);
/// actor_from_args!(Book);
/// impl Handler<u32> for Book {
///     type Reply = u32;
///     async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> u32 {
///         self.0 += qty;
///         self.0
///     }
/// }
/// impl Recorded for Book {
///     fn recorded_types() -> Vec<RecordedType> {
///         vec![RecordedType::ask::<Self, u32>()] // u32 and its reply, u32
///     }
/// }
/// ```
pub trait Recorded: mycelium_actors::Actor {
    /// Every message type the actor handles (and, for those it is asked, the reply type),
    /// and those it sends, publishes or gets as answers.
    fn recorded_types() -> Vec<RecordedType>;
}

/// A message type a [`Recorded`] actor handles: the type, and its reply's when it is asked.
#[derive(Clone, Copy, Debug)]
pub struct RecordedType {
    types: [Option<(TypeId, &'static str)>; 2],
}

fn type_entry<T: 'static>() -> (TypeId, &'static str) {
    (TypeId::of::<T>(), crate::replay::short_name::<T>())
}

impl RecordedType {
    /// `M`, told to actor `A` (its reply is not recorded).
    pub fn tell<A: mycelium_actors::Handler<M>, M: Send + 'static>() -> Self {
        RecordedType {
            types: [Some(type_entry::<M>()), None],
        }
    }

    /// `M`, asked of actor `A`, and the reply `A` answers it with.
    pub fn ask<A: mycelium_actors::Handler<M>, M: Send + 'static>() -> Self {
        RecordedType {
            types: [
                Some(type_entry::<M>()),
                Some(type_entry::<<A as mycelium_actors::Handler<M>>::Reply>()),
            ],
        }
    }

    /// Any other type the actor's record holds: what it sends or publishes, the answers to
    /// its own asks.
    pub fn of<T: 'static>() -> Self {
        RecordedType {
            types: [Some(type_entry::<T>()), None],
        }
    }

    /// Publications of `M` that actor `A` takes as a subscriber (`Published<M>`).
    pub fn published<A, M>() -> Self
    where
        A: mycelium_actors::Handler<Published<M>>,
        M: Send + Sync + 'static,
    {
        RecordedType {
            types: [Some(type_entry::<Published<M>>()), None],
        }
    }
}

/// The message types of an actor that a [`Recording`] has no codec for: it would record
/// them without their payload, and a replay could not feed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnrecordedTypes {
    /// The actor's type name.
    pub actor: &'static str,
    /// The types without a codec, in declaration order.
    pub types: Vec<&'static str>,
}

impl std::fmt::Display for UnrecordedTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "actor {} cannot be recorded completely: no codec was chosen for {} (choose one \
             with Recording::contract, Recording::serde or Recording::published)",
            self.actor,
            self.types.join(", ")
        )
    }
}

impl std::error::Error for UnrecordedTypes {}

impl Recording {
    /// Records into `journal`, with no message type chosen yet.
    pub fn new(journal: JournalWriter) -> Self {
        Recording {
            journal,
            codecs: HashMap::default(),
            unrecorded: Mutex::new(BTreeSet::new()),
            errors: AtomicU64::new(0),
            handling: Mutex::new(HashMap::default()),
            number: RECORDINGS.fetch_add(1, Ordering::Relaxed),
            asked: Mutex::new(HashMap::new()),
        }
    }

    /// Writes messages of type `M`, a contract message, with the contract codec.
    pub fn contract<M: WireMessage + 'static>(mut self) -> Self {
        self.codecs.insert(
            TypeId::of::<M>(),
            Codec {
                encoding: Encoding::Contract,
                type_id: M::TYPE_ID,
                encode: encode_contract::<M>,
                topic: None,
                described: None,
            },
        );
        self
    }

    /// Writes messages of type `M`, an in-process type, as JSON.
    pub fn serde<M: serde::Serialize + 'static>(mut self) -> Self {
        self.codecs.insert(
            TypeId::of::<M>(),
            Codec {
                encoding: Encoding::Json,
                type_id: 0,
                encode: encode_json::<M>,
                topic: None,
                described: None,
            },
        );
        self
    }

    /// Writes publications of `M`, a contract message (`Published<M>`, what a subscriber
    /// handles), with the contract codec and their topic.
    pub fn published<M: WireMessage + Send + Sync + 'static>(mut self) -> Self {
        self.codecs.insert(
            TypeId::of::<Published<M>>(),
            Codec {
                encoding: Encoding::Contract,
                type_id: M::TYPE_ID,
                encode: encode_published::<M>,
                topic: Some(published_topic::<M>),
                described: None,
            },
        );
        self
    }

    /// Writes messages of type `M` as each describes itself ([`Described`]): a foreign
    /// language's messages, whose bytes are already a contract message's body.
    pub fn described<M: Described>(mut self) -> Self {
        self.codecs.insert(
            TypeId::of::<M>(),
            Codec {
                encoding: Encoding::Empty,
                type_id: 0,
                encode: encode_nothing,
                topic: None,
                described: Some(describe::<M>),
            },
        );
        self
    }

    /// Checks that a codec was chosen for every type actor `A` declares
    /// ([`Recorded::recorded_types`]); the error names the others.
    pub fn check<A: Recorded>(&self) -> Result<(), UnrecordedTypes> {
        let mut types = Vec::new();
        for ty in A::recorded_types() {
            for (id, name) in ty.types.into_iter().flatten() {
                if !self.codecs.contains_key(&id) && !types.contains(&name) {
                    types.push(name);
                }
            }
        }
        if types.is_empty() {
            Ok(())
        } else {
            Err(UnrecordedTypes {
                actor: crate::replay::short_name::<A>(),
                types,
            })
        }
    }

    /// Spawn options that record actor `A` here, once [`check`](Self::check) has found a
    /// codec for every message type it declares: a type that could not be recorded is named
    /// now, not found missing at replay. (To record it anyway, report the error as a warning
    /// and use `SpawnOptions::new().record(recording)`.)
    pub fn spawn_options<A: Recorded>(
        self: &std::sync::Arc<Self>,
    ) -> Result<mycelium_actors::SpawnOptions, UnrecordedTypes> {
        self.check::<A>()?;
        Ok(mycelium_actors::SpawnOptions::new().record(self.clone()))
    }

    /// The names of handled message types that no codec was chosen for, recorded without
    /// their payload.
    pub fn unrecorded(&self) -> Vec<String> {
        self.unrecorded
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many records could not be written (the journal closed or its writer failed) or
    /// encoded.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The input `actor` is handling: the cause of what it does now.
    fn cause(&self, actor: ActorAddr) -> Option<u64> {
        self.with_cause(actor, |slot| slot.load(Ordering::Acquire))
            .and_then(|n| n.checked_sub(1))
    }

    /// Runs `work` on `actor`'s cause slot: the one this thread used last if it is
    /// `actor`'s in this recording, else the map's (made on first use).
    #[inline]
    fn with_cause<R>(&self, actor: ActorAddr, work: impl FnOnce(&AtomicU64) -> R) -> Option<R> {
        let mut work = Some(work);
        let kept = CAUSE.try_with(|kept| {
            // Taken already: a recorder reached again from inside an encoder on this thread.
            let mut kept = kept.try_borrow_mut().ok()?;
            if let Some((number, at, slot)) = &*kept {
                if *number == self.number && *at == actor {
                    return work.take().map(|work| work(slot));
                }
            }
            let slot = self.cause_slot(actor)?;
            let done = work.take().map(|work| work(&slot));
            *kept = Some((self.number, actor, slot));
            done
        });
        match (kept, work) {
            (Ok(Some(done)), _) => Some(done),
            // Not done through the thread's slot: through the map's.
            (_, Some(work)) => self.cause_slot(actor).map(|slot| work(&slot)),
            (_, None) => None,
        }
    }

    #[cold]
    fn cause_slot(&self, actor: ActorAddr) -> Option<Arc<AtomicU64>> {
        let mut handling = self.handling.lock().ok()?;
        Some(Arc::clone(handling.entry(actor).or_default()))
    }

    fn append(&self, entry: &Entry<'_>) -> Option<u64> {
        match self.journal.append(entry) {
            Ok(appended) => Some(appended.seq()),
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Appends `entry` with `message` encoded by its chosen codec (or without a payload, its
    /// type listed as unrecorded).
    fn append_message(&self, entry: Entry<'_>, message: &dyn Any) -> Option<u64> {
        let Some(codec) = self.codecs.get(&message.type_id()) else {
            if let Ok(mut names) = self.unrecorded.lock() {
                if !names.contains(entry.name) {
                    names.insert(entry.name.to_owned());
                }
            }
            return self.append(&entry);
        };
        if let Some((type_id, encoding, payload)) = codec.described.and_then(|d| d(message)) {
            if encoding == Encoding::Empty {
                if let Ok(mut names) = self.unrecorded.lock() {
                    names.insert(entry.name.to_owned());
                }
            }
            return self.append(&Entry {
                type_id,
                encoding,
                payload,
                ..entry
            });
        }
        BUFFER.with(|buffer| {
            // A recorder reached again from inside an encoder on this thread gets a buffer of
            // its own rather than a panic.
            let mut own = Vec::new();
            let mut borrowed = buffer.try_borrow_mut();
            let buffer = match &mut borrowed {
                Ok(b) => &mut **b,
                Err(_) => &mut own,
            };
            buffer.clear();
            match (codec.encode)(message, buffer) {
                Ok(()) => self.append(&Entry {
                    type_id: codec.type_id,
                    encoding: codec.encoding,
                    payload: buffer,
                    topic: codec.topic.and_then(|t| t(message)).unwrap_or(entry.topic),
                    ..entry
                }),
                Err(reason) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    self.append(&Entry {
                        encoding: Encoding::Text,
                        payload: format!("the message could not be encoded: {reason}").as_bytes(),
                        ..entry
                    })
                }
            }
        })
    }
}

fn addr(id: ActorId) -> ActorAddr {
    ActorAddr {
        node: id.node().get(),
        id: id.local(),
    }
}

fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

impl Recorder for Recording {
    fn handled(
        &self,
        actor: ActorId,
        time: Duration,
        delivery: Delivery,
        from: Source,
        type_name: &'static str,
        message: &dyn Any,
    ) {
        let origin = match (delivery, from) {
            (Delivery::Timer { timer }, _) => Origin::Timer { id: timer },
            (_, Source::Actor(sender)) => Origin::Actor(addr(sender)),
            (_, Source::Node(node)) => Origin::Remote { node: node.get() },
            (_, Source::Outside) => Origin::Outside,
            (_, Source::Foreign(language)) => Origin::Foreign {
                language: language.code(),
            },
            (_, Source::Unknown) => Origin::None,
        };
        let entry = Entry {
            name: type_name,
            asked: delivery == Delivery::Ask,
            origin,
            ..Entry::new(Kind::Handled, nanos(time), addr(actor))
        };
        let receiver = addr(actor);
        if let Some(seq) = self.append_message(entry, message) {
            self.with_cause(receiver, |slot| slot.store(seq + 1, Ordering::Release));
        }
    }

    fn sent(
        &self,
        actor: ActorId,
        time: Duration,
        sent: Sent<'_>,
        type_name: &'static str,
        message: &dyn Any,
    ) {
        let sender = addr(actor);
        let (kind, to, asked, topic) = match sent {
            Sent::Tell { to } => (Kind::Sent, Some(addr(to)), false, ""),
            Sent::Ask { to } => {
                if let Ok(mut asked) = self.asked.lock() {
                    asked.insert(sender, addr(to));
                }
                (Kind::Sent, Some(addr(to)), true, "")
            }
            Sent::Publish { topic } => (Kind::Published, None, false, topic),
        };
        let entry = Entry {
            name: type_name,
            cause: self.cause(sender),
            asked,
            topic,
            origin: to.map_or(Origin::None, Origin::Actor),
            ..Entry::new(kind, nanos(time), sender)
        };
        self.append_message(entry, message);
    }

    fn replied(&self, actor: ActorId, time: Duration, type_name: &'static str, reply: &dyn Any) {
        let actor = addr(actor);
        let entry = Entry {
            name: type_name,
            cause: self.cause(actor),
            ..Entry::new(Kind::Replied, nanos(time), actor)
        };
        self.append_message(entry, reply);
    }

    fn answered(
        &self,
        actor: ActorId,
        time: Duration,
        type_name: &'static str,
        answer: Result<&dyn Any, &str>,
    ) {
        let actor = addr(actor);
        // The actor it asked, on this node or another (its node in the origin).
        let from = self
            .asked
            .lock()
            .ok()
            .and_then(|mut asked| asked.remove(&actor));
        let entry = Entry {
            name: type_name,
            cause: self.cause(actor),
            origin: from.map_or(Origin::None, Origin::Actor),
            ..Entry::new(Kind::Answered, nanos(time), actor)
        };
        match answer {
            Ok(reply) => {
                self.append_message(entry, reply);
            }
            Err(error) => {
                self.append(&Entry {
                    encoding: Encoding::Text,
                    payload: error.as_bytes(),
                    ..entry
                });
            }
        }
    }

    fn refused(&self, actor: ActorId, time: Duration, to: ActorId, refusal: Refusal) {
        let actor = addr(actor);
        self.append(&Entry {
            cause: self.cause(actor),
            origin: Origin::Actor(addr(to)),
            encoding: Encoding::Text,
            payload: refusal.as_str().as_bytes(),
            ..Entry::new(Kind::Refused, nanos(time), actor)
        });
    }

    fn refused_many(
        &self,
        actor: ActorId,
        time: Duration,
        to: ActorId,
        handed_back: usize,
        count: usize,
    ) {
        let actor = addr(actor);
        let payload = crate::replay::many_refused_text(handed_back, count);
        self.append(&Entry {
            cause: self.cause(actor),
            origin: Origin::Actor(addr(to)),
            encoding: Encoding::Text,
            payload: payload.as_bytes(),
            ..Entry::new(Kind::Refused, nanos(time), actor)
        });
    }

    fn clock_read(&self, actor: ActorId, reading: Duration) -> Duration {
        let actor = addr(actor);
        let payload = nanos(reading).to_le_bytes();
        self.append(&Entry {
            cause: self.cause(actor),
            encoding: Encoding::U64,
            payload: &payload,
            ..Entry::new(Kind::ClockRead, nanos(reading), actor)
        });
        reading
    }

    fn rng_seeded(&self, actor: ActorId, time: Duration, seed: u64, stream: u64) -> (u64, u64) {
        let actor = addr(actor);
        let payload = crate::record::pair_payload(seed, stream);
        self.append(&Entry {
            cause: self.cause(actor),
            encoding: Encoding::Journal,
            payload: &payload,
            ..Entry::new(Kind::Seeded, nanos(time), actor)
        });
        (seed, stream)
    }

    fn timer_fired(
        &self,
        actor: ActorId,
        time: Duration,
        timer: u64,
        due: Duration,
        every: Duration,
        type_name: &'static str,
    ) {
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&nanos(due).to_le_bytes());
        payload[8..].copy_from_slice(&nanos(every).to_le_bytes());
        self.append(&Entry {
            origin: Origin::Timer { id: timer },
            name: type_name,
            encoding: Encoding::Journal,
            payload: &payload,
            ..Entry::new(Kind::TimerFired, nanos(time), addr(actor))
        });
    }

    fn lifecycle(&self, actor: ActorId, time: Duration, event: Lifecycle<'_>) {
        let (kind, reason) = match event {
            Lifecycle::Started {
                incarnation,
                actor_type,
            } => {
                let payload = u64::from(incarnation).to_le_bytes();
                let kind = if incarnation == 0 {
                    Kind::Started
                } else {
                    Kind::Restarted
                };
                self.append(&Entry {
                    name: actor_type,
                    encoding: Encoding::U64,
                    payload: &payload,
                    ..Entry::new(kind, nanos(time), addr(actor))
                });
                return;
            }
            Lifecycle::Failed { reason } => (Kind::Failed, reason),
            Lifecycle::Stopped { reason } => (Kind::Stopped, reason),
        };
        self.append(&Entry {
            encoding: Encoding::Text,
            payload: reason.as_bytes(),
            ..Entry::new(kind, nanos(time), addr(actor))
        });
    }
}

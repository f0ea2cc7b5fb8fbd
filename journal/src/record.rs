//! One record of a journal: what happened, to which actor, when on the bus clock, where it
//! came from, and the message bytes. The byte layout is in `docs/journal.md`.

use std::fmt;

use crate::error::JournalError;

/// What a record says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// The actor handled a message (an input).
    Handled = 1,
    /// The actor sent a message to another actor (an output).
    Sent = 2,
    /// The actor published a message on a topic (an output).
    Published = 3,
    /// The actor answered an ask (an output; `cause` is the ask's `Handled` record).
    Replied = 4,
    /// One of the actor's timers fired (an input; the payload is the deadline it fired for).
    TimerFired = 5,
    /// The actor read the bus clock (an input: the reading is the payload).
    ClockRead = 6,
    /// An incarnation started (`on_start` ran).
    Started = 7,
    /// The actor failed (panic or error); the payload is the reason as text.
    Failed = 8,
    /// The actor was restarted in place.
    Restarted = 9,
    /// The actor stopped for good; the payload is the reason as text.
    Stopped = 10,
    /// Records were lost before they reached the file ([`Gap`]).
    Gap = 11,
    /// A segment was cut by a crash and truncated when the journal was opened again ([`Cut`]).
    Cut = 12,
    /// An ask the actor made while handling a message was answered (an input: the answer is
    /// the payload, or the asker's error as text; `cause` is the input being handled).
    Answered = 13,
    /// The actor's random numbers ([`Context::rng`](mycelium_actors::Context::rng)) were
    /// seeded (an input: the bus seed and the stream, two `u64`s, served to a replay).
    Seeded = 14,
    /// resumed (the writer opened the journal again after its writer closed it: a new run
    /// begins here, its actors numbered anew; a replay covers the run before it).
    Resumed = 15,
    /// A tell the actor made while handling a message was refused (an input: what the tell
    /// returned, served again to a replay at the same tell; the payload is `full` or
    /// `stopped` as text, the origin the receiver, `cause` the input being handled). It
    /// follows the actor's `sent` record of that tell.
    Refused = 16,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 16] = [
        Kind::Handled,
        Kind::Sent,
        Kind::Published,
        Kind::Replied,
        Kind::TimerFired,
        Kind::ClockRead,
        Kind::Started,
        Kind::Failed,
        Kind::Restarted,
        Kind::Stopped,
        Kind::Gap,
        Kind::Cut,
        Kind::Answered,
        Kind::Seeded,
        Kind::Resumed,
        Kind::Refused,
    ];

    /// The kind with this code.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(code).wrapping_sub(1)).copied()
    }

    /// The lower-case name the tool prints and filters by (`handled`, `timer-fired`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Handled => "handled",
            Kind::Sent => "sent",
            Kind::Published => "published",
            Kind::Replied => "replied",
            Kind::TimerFired => "timer-fired",
            Kind::ClockRead => "clock-read",
            Kind::Started => "started",
            Kind::Failed => "failed",
            Kind::Restarted => "restarted",
            Kind::Stopped => "stopped",
            Kind::Gap => "gap",
            Kind::Cut => "cut",
            Kind::Answered => "answered",
            Kind::Seeded => "seeded",
            Kind::Resumed => "resumed",
            Kind::Refused => "refused",
        }
    }

    /// The kind named `name` (as [`Kind::name`] spells it).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a record's payload is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// No payload.
    Empty = 0,
    /// A contract message body (the `mycelium-codec` field sequence of the record's `type_id`).
    Contract = 1,
    /// JSON (serde_json) of an in-process type.
    Json = 2,
    /// UTF-8 text (failure and stop reasons).
    Text = 3,
    /// Bytes in a format the recording program chose; the record's name says which type.
    Raw = 4,
    /// A little-endian `u64` (a clock reading, a timer's deadline: nanoseconds of bus time).
    U64 = 5,
    /// The journal's own layout of a [`Gap`] or [`Cut`] (three or two `u64`s), or of a
    /// [`Kind::Seeded`] record (the seed and the stream, two `u64`s).
    Journal = 6,
}

impl Encoding {
    fn from_code(code: u8) -> Option<Encoding> {
        Some(match code {
            0 => Encoding::Empty,
            1 => Encoding::Contract,
            2 => Encoding::Json,
            3 => Encoding::Text,
            4 => Encoding::Raw,
            5 => Encoding::U64,
            6 => Encoding::Journal,
            _ => return None,
        })
    }

    /// The lower-case name the tool prints.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Empty => "empty",
            Encoding::Contract => "contract",
            Encoding::Json => "json",
            Encoding::Text => "text",
            Encoding::Raw => "raw",
            Encoding::U64 => "u64",
            Encoding::Journal => "journal",
        }
    }
}

/// An actor's address as the journal keeps it: the node number (0 is the recording node
/// itself) and the actor's number on that node's bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorAddr {
    /// The node (0: this node).
    pub node: u32,
    /// The actor's number on its node's bus.
    pub id: u64,
}

impl fmt::Display for ActorAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.node == 0 {
            write!(f, "#{}", self.id)
        } else {
            write!(f, "#{}@node{}", self.id, self.node)
        }
    }
}

/// Where an input came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Not applicable (outputs, lifecycle records).
    None,
    /// Another actor of this bus (or of a node, for a message that crossed a link from it).
    Actor(ActorAddr),
    /// A link's inbound frame from a remote node, sender unknown.
    Remote {
        /// The node number.
        node: u32,
    },
    /// One of the actor's own timers.
    Timer {
        /// The timer's number within the actor.
        id: u64,
    },
    /// Code outside any actor (a `tell` from `main`, a test, a feed thread).
    Outside,
    /// An actor or host written in another language.
    Foreign {
        /// The language's number: 1 Python, 2 OCaml, 3 C; others are the program's own.
        language: u32,
    },
    /// The journal itself (gap and cut records).
    Journal,
}

impl Origin {
    fn encode(self) -> (u8, u32, u64) {
        match self {
            Origin::None => (0, 0, 0),
            Origin::Actor(a) => (1, a.node, a.id),
            Origin::Remote { node } => (2, node, 0),
            Origin::Timer { id } => (3, 0, id),
            Origin::Outside => (4, 0, 0),
            Origin::Foreign { language } => (5, language, 0),
            Origin::Journal => (6, 0, 0),
        }
    }

    fn decode(kind: u8, node: u32, id: u64) -> Option<Origin> {
        Some(match kind {
            0 => Origin::None,
            1 => Origin::Actor(ActorAddr { node, id }),
            2 => Origin::Remote { node },
            3 => Origin::Timer { id },
            4 => Origin::Outside,
            5 => Origin::Foreign { language: node },
            6 => Origin::Journal,
            _ => return None,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::None => f.write_str("-"),
            Origin::Actor(a) => write!(f, "actor {a}"),
            Origin::Remote { node } => write!(f, "node{node}"),
            Origin::Timer { id } => write!(f, "timer {id}"),
            Origin::Outside => f.write_str("outside"),
            Origin::Foreign { language: 1 } => f.write_str("python"),
            Origin::Foreign { language: 2 } => f.write_str("ocaml"),
            Origin::Foreign { language: 3 } => f.write_str("c"),
            Origin::Foreign { language } => write!(f, "foreign language {language}"),
            Origin::Journal => f.write_str("journal"),
        }
    }
}

/// A record to append, borrowing its texts and payload from the caller.
///
/// The journal gives it its sequence number when it is appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What happened.
    pub kind: Kind,
    /// Bus time in nanoseconds since the bus was created.
    pub time_ns: u64,
    /// The recorded actor.
    pub actor: ActorAddr,
    /// Where an input came from ([`Origin::None`] for outputs).
    pub origin: Origin,
    /// For an output, the sequence number of the input being handled when it was made.
    pub cause: Option<u64>,
    /// A handled message that came as an ask (its handler's return value is the reply).
    pub asked: bool,
    /// The contract type id (0 for types that are not contract messages).
    pub type_id: u16,
    /// The message type's name (or, for lifecycle records, empty).
    pub name: &'a str,
    /// The topic of a publication (empty otherwise).
    pub topic: &'a str,
    /// How `payload` is encoded.
    pub encoding: Encoding,
    /// The message bytes.
    pub payload: &'a [u8],
}

impl<'a> Entry<'a> {
    /// An entry of `kind` for `actor` at `time_ns` with no message: set the other fields
    /// with struct update syntax.
    pub fn new(kind: Kind, time_ns: u64, actor: ActorAddr) -> Entry<'static> {
        Entry {
            kind,
            time_ns,
            actor,
            origin: Origin::None,
            cause: None,
            asked: false,
            type_id: 0,
            name: "",
            topic: "",
            encoding: Encoding::Empty,
            payload: &[],
        }
    }
}

/// A record read back from a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's number in the journal: consecutive, with [`Gap`] records covering the
    /// numbers of records that never reached the file.
    pub seq: u64,
    /// What happened.
    pub kind: Kind,
    /// Bus time in nanoseconds since the bus was created.
    pub time_ns: u64,
    /// The recorded actor.
    pub actor: ActorAddr,
    /// Where an input came from.
    pub origin: Origin,
    /// For an output, the sequence number of the input being handled when it was made.
    pub cause: Option<u64>,
    /// A handled message that came as an ask.
    pub asked: bool,
    /// The contract type id (0 for types that are not contract messages).
    pub type_id: u16,
    /// The message type's name.
    pub name: String,
    /// The topic of a publication.
    pub topic: String,
    /// How `payload` is encoded.
    pub encoding: Encoding,
    /// The message bytes.
    pub payload: Vec<u8>,
}

impl Record {
    /// This record borrowed: its text and payload not copied.
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            seq: self.seq,
            entry: Entry {
                kind: self.kind,
                time_ns: self.time_ns,
                actor: self.actor,
                origin: self.origin,
                cause: self.cause,
                asked: self.asked,
                type_id: self.type_id,
                name: &self.name,
                topic: &self.topic,
                encoding: self.encoding,
                payload: &self.payload,
            },
        }
    }

    /// The gap this record reports, if it is a [`Kind::Gap`] record.
    pub fn gap(&self) -> Option<Gap> {
        self.borrowed().gap()
    }

    /// The cut this record reports, if it is a [`Kind::Cut`] record.
    pub fn cut(&self) -> Option<Cut> {
        self.borrowed().cut()
    }

    /// The payload as a `u64` ([`Encoding::U64`]).
    pub fn payload_u64(&self) -> Option<u64> {
        self.borrowed().payload_u64()
    }

    /// The bus seed and the stream of a [`Kind::Seeded`] record.
    pub fn seeded(&self) -> Option<(u64, u64)> {
        self.borrowed().seeded()
    }

    /// The schedule of a [`Kind::TimerFired`] record: the deadline it fired for, and its
    /// delay or period (`None` in a journal that did not record it).
    pub fn timer_schedule(&self) -> Option<(u64, Option<u64>)> {
        self.borrowed().timer_schedule()
    }

    /// The payload as text ([`Encoding::Text`] or [`Encoding::Json`]).
    pub fn payload_text(&self) -> Option<&str> {
        self.borrowed().payload_text()
    }

    /// This record as an [`Entry`] (to copy it into another journal).
    pub fn as_entry(&self) -> Entry<'_> {
        self.borrowed().as_entry()
    }
}

/// A record as it lies in the reader's buffer ([`Records::next_ref`](crate::Records::next_ref)):
/// the fields of a [`Record`], its name, topic and payload borrowed rather than copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// As [`Record::seq`].
    pub seq: u64,
    /// Its other fields, as they are appended (read through `Deref`: `record.kind`).
    pub entry: Entry<'a>,
}

impl<'a> std::ops::Deref for RecordRef<'a> {
    type Target = Entry<'a>;

    fn deref(&self) -> &Entry<'a> {
        &self.entry
    }
}

impl<'a> RecordRef<'a> {
    /// This record with its own copies of its text and payload.
    pub fn to_record(&self) -> Record {
        Record {
            seq: self.seq,
            kind: self.kind,
            time_ns: self.time_ns,
            actor: self.actor,
            origin: self.origin,
            cause: self.cause,
            asked: self.asked,
            type_id: self.type_id,
            name: self.name.to_owned(),
            topic: self.topic.to_owned(),
            encoding: self.encoding,
            payload: self.payload.to_vec(),
        }
    }

    /// As [`Record::gap`].
    pub fn gap(&self) -> Option<Gap> {
        if self.kind != Kind::Gap {
            return None;
        }
        Some(Gap {
            source: self.name.to_owned(),
            first: read_u64(self.payload, 0)?,
            count: read_u64(self.payload, 8)?,
        })
    }

    /// As [`Record::cut`].
    pub fn cut(&self) -> Option<Cut> {
        if self.kind != Kind::Cut {
            return None;
        }
        Some(Cut {
            segment: read_u64(self.payload, 0)?,
            offset: read_u64(self.payload, 8)?,
            bytes: read_u64(self.payload, 16)?,
        })
    }

    /// As [`Record::seeded`].
    pub fn seeded(&self) -> Option<(u64, u64)> {
        if self.kind != Kind::Seeded {
            return None;
        }
        Some((read_u64(self.payload, 0)?, read_u64(self.payload, 8)?))
    }

    /// As [`Record::timer_schedule`].
    pub fn timer_schedule(&self) -> Option<(u64, Option<u64>)> {
        if self.kind != Kind::TimerFired {
            return None;
        }
        match self.encoding {
            Encoding::U64 => Some((self.payload_u64()?, None)),
            Encoding::Journal => {
                Some((read_u64(self.payload, 0)?, Some(read_u64(self.payload, 8)?)))
            }
            _ => None,
        }
    }

    /// As [`Record::payload_u64`].
    pub fn payload_u64(&self) -> Option<u64> {
        (self.encoding == Encoding::U64 && self.payload.len() == 8)
            .then(|| read_u64(self.payload, 0))
            .flatten()
    }

    /// As [`Record::payload_text`].
    pub fn payload_text(&self) -> Option<&'a str> {
        matches!(self.encoding, Encoding::Text | Encoding::Json)
            .then(|| std::str::from_utf8(self.payload).ok())
            .flatten()
    }

    /// As [`Record::as_entry`].
    pub fn as_entry(&self) -> Entry<'a> {
        self.entry
    }
}

/// Records that never reached the file: `count` records numbered from `first`, lost at
/// `source`.
///
/// The shape is the one a link uses for publications lost in transit (source, first lost
/// sequence number, count), so one reader describes both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Where they were lost (`journal writer` for records the writer dropped because it fell
    /// behind).
    pub source: String,
    /// The first lost sequence number.
    pub first: u64,
    /// How many consecutive numbers were lost.
    pub count: u64,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records lost at {}: sequence numbers {} to {}",
            self.count,
            self.source,
            self.first,
            self.first.saturating_add(self.count).saturating_sub(1)
        )
    }
}

/// The end of a segment that a crash cut inside a record: `bytes` bytes from `offset` were
/// not a whole record (none, for a segment whose writer was killed after a whole record and
/// never closed it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The segment's number.
    pub segment: u64,
    /// Where its last whole record ends.
    pub offset: u64,
    /// How many bytes followed it.
    pub bytes: u64,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bytes == 0 {
            return write!(
                f,
                "segment {} was never closed: its writer stopped (killed?) after its last whole \
                 record, at offset {}",
                self.segment, self.offset
            );
        }
        write!(
            f,
            "segment {} was cut: {} bytes after offset {} were not a whole record",
            self.segment, self.bytes, self.offset
        )
    }
}

/// Bytes of a record body before its name: the fixed fields.
pub(crate) const FIXED: usize = 58;
const NO_CAUSE: u64 = u64::MAX;

/// The encoded body size of `entry`.
pub(crate) fn body_len(entry: &Entry<'_>) -> usize {
    FIXED + entry.name.len() + entry.topic.len() + entry.payload.len()
}

/// Checks what the format cannot hold.
pub(crate) fn check(entry: &Entry<'_>) -> Result<(), JournalError> {
    for (what, text) in [("name", entry.name), ("topic", entry.topic)] {
        if text.len() > usize::from(u16::MAX) {
            return Err(JournalError::FieldTooLong {
                what,
                text: text.chars().take(40).collect(),
            });
        }
    }
    let size = body_len(entry) + crate::frame::HEAD;
    if size > crate::MAX_RECORD {
        return Err(JournalError::RecordTooLarge {
            size,
            max: crate::MAX_RECORD,
        });
    }
    Ok(())
}

/// Appends the body of `entry`, numbered `seq`, to `out`. [`check`] must have passed.
pub(crate) fn encode_body(entry: &Entry<'_>, seq: u64, out: &mut Vec<u8>) {
    let (origin_kind, origin_node, origin_id) = entry.origin.encode();
    // The fixed fields are put together on the stack and copied once: this runs on the
    // recorded actors' threads, once per record.
    let mut fixed = [0u8; FIXED];
    fixed[0] = entry.kind as u8;
    fixed[1] = entry.encoding as u8;
    fixed[2] = origin_kind;
    fixed[3] = u8::from(entry.asked);
    fixed[4..12].copy_from_slice(&seq.to_le_bytes());
    fixed[12..20].copy_from_slice(&entry.time_ns.to_le_bytes());
    fixed[20..24].copy_from_slice(&entry.actor.node.to_le_bytes());
    fixed[24..32].copy_from_slice(&entry.actor.id.to_le_bytes());
    fixed[32..36].copy_from_slice(&origin_node.to_le_bytes());
    fixed[36..44].copy_from_slice(&origin_id.to_le_bytes());
    fixed[44..52].copy_from_slice(&entry.cause.unwrap_or(NO_CAUSE).to_le_bytes());
    fixed[52..54].copy_from_slice(&entry.type_id.to_le_bytes());
    // `check` bounds both lengths by u16::MAX.
    fixed[54..56].copy_from_slice(&(entry.name.len() as u16).to_le_bytes());
    fixed[56..58].copy_from_slice(&(entry.topic.len() as u16).to_le_bytes());
    out.reserve(body_len(entry));
    out.extend_from_slice(&fixed);
    out.extend_from_slice(entry.name.as_bytes());
    out.extend_from_slice(entry.topic.as_bytes());
    out.extend_from_slice(entry.payload);
}

/// Reads a body whose checksum has passed. `Err` says what is wrong with its layout.
pub(crate) fn decode_body(body: &[u8]) -> Result<Record, String> {
    decode_ref(body).map(|r| r.to_record())
}

/// As [`decode_body`], borrowing the body's text and payload.
pub(crate) fn decode_ref(body: &[u8]) -> Result<RecordRef<'_>, String> {
    if body.len() < FIXED {
        return Err(format!(
            "a record body of {} bytes is shorter than the {FIXED} bytes of its fixed fields",
            body.len()
        ));
    }
    let kind = Kind::from_code(body[0]).ok_or_else(|| {
        format!(
            "unknown record kind {} (written by a newer version?)",
            body[0]
        )
    })?;
    let encoding = Encoding::from_code(body[1]).ok_or_else(|| {
        format!(
            "unknown payload encoding {} (written by a newer version?)",
            body[1]
        )
    })?;
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let u16_at = |at: usize| u16::from_le_bytes(body[at..at + 2].try_into().expect("2 bytes"));
    if body[3] > 1 {
        return Err(format!(
            "unknown flags {:#04x} (written by a newer version?)",
            body[3]
        ));
    }
    let origin = Origin::decode(body[2], u32_at(32), u64_at(36))
        .ok_or_else(|| format!("unknown origin kind {}", body[2]))?;
    let name_len = usize::from(u16_at(54));
    let topic_len = usize::from(u16_at(56));
    if FIXED + name_len + topic_len > body.len() {
        return Err(format!(
            "its name ({name_len} bytes) and topic ({topic_len} bytes) run past its end"
        ));
    }
    let text = |from: usize, len: usize, what: &str| {
        std::str::from_utf8(&body[from..from + len]).map_err(|_| format!("its {what} is not UTF-8"))
    };
    let name = text(FIXED, name_len, "name")?;
    let topic = text(FIXED + name_len, topic_len, "topic")?;
    let cause = u64_at(44);
    Ok(RecordRef {
        seq: u64_at(4),
        entry: Entry {
            kind,
            time_ns: u64_at(12),
            actor: ActorAddr {
                node: u32_at(20),
                id: u64_at(24),
            },
            origin,
            cause: (cause != NO_CAUSE).then_some(cause),
            asked: body[3] == 1,
            type_id: u16_at(52),
            name,
            topic,
            encoding,
            payload: &body[FIXED + name_len + topic_len..],
        },
    })
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The payload of a gap record (and, with the seed and the stream, of a seeded record).
pub(crate) fn pair_payload(first: u64, count: u64) -> [u8; 16] {
    let mut p = [0; 16];
    p[..8].copy_from_slice(&first.to_le_bytes());
    p[8..].copy_from_slice(&count.to_le_bytes());
    p
}

/// The payload of a cut record.
pub(crate) fn cut_payload(cut: Cut) -> [u8; 24] {
    let mut p = [0; 24];
    p[..8].copy_from_slice(&cut.segment.to_le_bytes());
    p[8..16].copy_from_slice(&cut.offset.to_le_bytes());
    p[16..].copy_from_slice(&cut.bytes.to_le_bytes());
    p
}

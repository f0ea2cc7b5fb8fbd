//! Replaying one recorded actor: its recorded inputs fed again, at their recorded bus times,
//! to a fresh actor on a virtual-time bus, and what it answers and how it fails compared with
//! what was recorded.
//!
//! ```
//! use mycelium_actors::{actor_from_args, Bus, Context, Handler};
//! use mycelium_journal::{JournalReader, Replay, ReplayMode};
//! # use std::sync::Arc;
//! # use mycelium_actors::SpawnOptions;
//! # use mycelium_journal::{JournalOptions, JournalSchema, JournalWriter, Recording};
//!
//! #[derive(Clone)]
//! struct Book(u32);
//! actor_from_args!(Book);
//! impl Handler<u32> for Book {
//!     type Reply = u32;
//!     async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> u32 {
//!         self.0 += qty;
//!         self.0
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let journal = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
//! # let recording = Arc::new(Recording::new(journal.clone()).serde::<u32>());
//! # let live = Bus::builder().virtual_time().build().unwrap();
//! # let book = live.spawn_with::<Book>(Book(0), SpawnOptions::new().record(recording)).unwrap();
//! # book.ask(2u32).await.unwrap();
//! # book.ask(3u32).await.unwrap();
//! # journal.close().unwrap();
//! // A journal in which the actor #1 was recorded:
//! let journal = JournalReader::open(dir.path()).unwrap();
//! let bus = Bus::builder().virtual_time().build().unwrap();
//! let report = Replay::<Book>::new(Book(0))
//!     .serde::<u32>()
//!     .run(&journal, book.id().local(), &bus, ReplayMode::StopAtFirst)
//!     .await
//!     .unwrap();
//! assert!(report.differences.is_empty(), "{report}");
//! assert_eq!(report.inputs, 2);
//! # });
//! ```
//!
//! The replayed actor is recorded too, by a recorder that keeps what it does in memory with
//! the same codecs, so that recorded and regenerated answers compare byte for byte. What is
//! compared: each answer to an ask (`replied`) and each failure (`failed`), input by input.
//! A gap in the journal is not crossed (the replay ends with [`ReplayError::Gap`]), and a cut
//! record ends the replay (what follows it is another run of the recording program).

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::recording::{Delivery, Lifecycle, Recorder, Refusal, Sent, Source, TimerDue};
use mycelium_actors::{Actor, ActorId, ActorRef, AskError, Bus, Handler, Published, SpawnOptions};
use mycelium_codec::WireMessage;

use crate::error::JournalError;
use crate::reader::JournalReader;
use crate::record::{Encoding, Kind, Origin, Record, RecordRef};
use crate::shown::Shown;

type Feed<A> = Box<
    dyn for<'a> Fn(
            &'a ActorRef<A>,
            &'a Bus,
            &'a Record,
        ) -> Pin<Box<dyn Future<Output = Result<(), Refused>> + Send + 'a>>
        + Send
        + Sync,
>;
/// Appends a message's encoding to the buffer; `false` if it is not of the type or fails.
pub(crate) type Encode = fn(&dyn Any, &mut Vec<u8>) -> bool;

/// Why an input was not handled.
pub(crate) enum Refused {
    /// Its payload does not decode.
    Decode(String),
    /// The replayed actor had stopped (a difference, not an error).
    Stopped,
}

/// Whether a replay stops at the first difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// Stop at the first difference (an unchanged build must reproduce every output).
    StopAtFirst,
    /// Run to the end and report every difference (a changed actor against a recording).
    Compare,
}

/// Why a replay could not run (differences are not errors: they are the report).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Records were lost while recording: the replay does not cross them.
    #[error("the journal lost {count} records from number {first} (at {at}); the replay stops before them, after {inputs} inputs")]
    Gap {
        /// Where they were lost.
        at: String,
        /// The first lost number.
        first: u64,
        /// How many.
        count: u64,
        /// Inputs replayed before the gap.
        inputs: u64,
    },
    /// An input that cannot be fed again.
    #[error("the input of record {seq} ({name}) cannot be replayed: {reason}")]
    Input {
        /// Its sequence number.
        seq: u64,
        /// Its type name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The actor could not be spawned.
    #[error("the actor to replay could not be spawned: {0}")]
    Spawn(String),
    /// The journal has no record of the actor to replay (before a gap or a cut, where a
    /// replay stops).
    #[error("actor #{actor} is not in the journal ({})", listed(.recorded))]
    NoSuchActor {
        /// The number asked for.
        actor: u64,
        /// The actors the journal recorded (number and type), in the order they started.
        recorded: Vec<(u64, String)>,
    },
    /// The journal's oldest records were deleted (its retention limit,
    /// `JournalOptions::retain_bytes` or `retain_age`), and the actor to replay has no start
    /// in what it keeps: it started before them, and what it handled before them is gone.
    #[error(
        "actor #{actor} has no start in the journal, whose records before number {first_seq} \
         were deleted (by its retention limit, or by hand): it cannot be replayed from where \
         it began (keep more with retain_bytes or retain_age; actors started since: {})",
        listed(.recorded)
    )]
    StartDeleted {
        /// The number asked for.
        actor: u64,
        /// The number of the oldest record the journal keeps.
        first_seq: u64,
        /// The actors the journal records a start of (number and type), in the order they
        /// started.
        recorded: Vec<(u64, String)>,
    },
}

/// The actors a journal recorded, for an error's reader.
fn listed(recorded: &[(u64, String)]) -> String {
    if recorded.is_empty() {
        return "it records no actor".to_owned();
    }
    let actors: Vec<_> = recorded.iter().map(|(n, t)| format!("#{n} {t}")).collect();
    format!("it records {}", actors.join(", "))
}

/// The actors `records` show started on their own node (number and type), in the order
/// they first started.
pub(crate) fn started_actors<'a>(
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<(u64, String)> {
    let mut seen = std::collections::HashSet::new();
    records
        .into_iter()
        .filter(|r| r.kind == Kind::Started && r.actor.node == 0)
        .filter(|r| seen.insert(r.actor.id))
        .map(|r| (r.actor.id, r.name.clone()))
        .collect()
}

/// One difference between a recording and its replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The input's position among the actor's inputs (0 for its first).
    pub input: u64,
    /// The input's sequence number in the journal (`u64::MAX` for an input beyond the
    /// recorded ones, which a changed actor of a set handled: then `time_ns` is 0).
    pub seq: u64,
    /// Its bus time, nanoseconds.
    pub time_ns: u64,
    /// The input (type and payload).
    pub message: String,
    /// What was recorded after it.
    pub recorded: String,
    /// What the replay did after it.
    pub now: String,
    /// The inputs just before it, oldest first.
    pub before: Vec<String>,
    /// What was recorded after it, one output each (`recorded` joins them); empty for none.
    pub recorded_outputs: Vec<String>,
    /// What the replay did after it, one output each (`now` joins them); empty for none or
    /// for an input not handled.
    pub now_outputs: Vec<String>,
}

/// How many outputs a line of a report shows (the CSV has every one).
pub const SHOWN_OUTPUTS: usize = 8;

/// How many characters of one output, or of an input, a report shows.
pub const SHOWN_CHARS: usize = 400;

/// `text` cut to [`SHOWN_CHARS`] characters, saying how long it was.
fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    // One report line each: a line break inside (a failure's text) is shown as `\n`.
    let text: std::borrow::Cow<'_, str> = if text.contains(['\n', '\r']) {
        text.replace('\n', "\\n").replace('\r', "\\r").into()
    } else {
        text.into()
    };
    match text.char_indices().nth(SHOWN_CHARS) {
        None => text,
        Some((end, _)) => {
            format!("{}... ({} characters)", &text[..end], text.chars().count()).into()
        }
    }
}

/// A report line of `outputs` (else `whole`): the first [`SHOWN_OUTPUTS`], each shortened,
/// and how many more.
fn bounded(outputs: &[String], whole: &str) -> String {
    if outputs.is_empty() {
        return shorten(whole).into_owned();
    }
    let mut line = outputs
        .iter()
        .take(SHOWN_OUTPUTS)
        .map(|o| shorten(o))
        .collect::<Vec<_>>()
        .join("; ");
    if outputs.len() > SHOWN_OUTPUTS {
        line.push_str(&format!(
            "; ... and {} more ({} outputs; the CSV lists every one)",
            outputs.len() - SHOWN_OUTPUTS,
            outputs.len()
        ));
    }
    line
}

/// What a replay found.
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    /// The replayed actor's number on the recording bus.
    pub actor: u64,
    /// Inputs fed.
    pub inputs: u64,
    /// Differences, in input order (at most one under [`ReplayMode::StopAtFirst`]).
    pub differences: Vec<Difference>,
    /// What cut the recording short, when a crash did (`kill -9`: a cut record, a cut at the
    /// journal's end, or a journal its writer never closed): the replay ran to the last whole
    /// record, and the last input's outputs recorded before the cut are compared with the
    /// first ones it makes now.
    pub cut: Option<String>,
}

impl ReplayReport {
    /// The differences as CSV with a header row (`input,seq,time_ns,message,recorded,now,before`).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("input,seq,time_ns,message,recorded,now,before\n");
        for d in &self.differences {
            out.push_str(&d.csv_row());
            out.push('\n');
        }
        out
    }
}

impl Difference {
    /// The difference as the CSV columns `input,seq,time_ns,message,recorded,now,before` (no line
    /// end).
    pub(crate) fn csv_row(&self) -> String {
        format!(
            "{},{},{},{},{},{},{}",
            self.input,
            // Empty for an input beyond the recorded ones.
            if self.seq == NOT_RECORDED {
                String::new()
            } else {
                self.seq.to_string()
            },
            self.time_ns,
            csv(&self.message),
            csv(&self.recorded),
            csv(&self.now),
            csv(&self.before.join("; "))
        )
    }
}

pub(crate) fn csv(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cut) = &self.cut {
            writeln!(f, "the recording was cut short: {cut}")?;
        }
        if self.differences.is_empty() {
            return writeln!(
                f,
                "actor #{}: {} inputs replayed, every output as recorded",
                self.actor, self.inputs
            );
        }
        let n = self.differences.len();
        writeln!(
            f,
            "actor #{}: {} inputs replayed, {n} difference{}",
            self.actor,
            self.inputs,
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.differences {
            if d.seq == NOT_RECORDED {
                writeln!(
                    f,
                    "\ninput {} (beyond the recorded inputs): {}",
                    d.input,
                    shorten(&d.message)
                )?;
            } else {
                writeln!(
                    f,
                    "\ninput {} (record {}, bus time {}.{:09}s): {}",
                    d.input,
                    d.seq,
                    d.time_ns / 1_000_000_000,
                    d.time_ns % 1_000_000_000,
                    shorten(&d.message)
                )?;
            }
            for b in &d.before {
                writeln!(f, "    after  {}", shorten(b))?;
            }
            writeln!(
                f,
                "  - recorded: {}",
                bounded(&d.recorded_outputs, &d.recorded)
            )?;
            writeln!(f, "  + now:      {}", bounded(&d.now_outputs, &d.now))?;
        }
        Ok(())
    }
}

/// A type's name or a topic in an output: shared, so that the recording's hundred thousand
/// outputs of one type hold one copy of its name.
pub(crate) type Text = Arc<str>;

/// One copy of each type name and topic a replay reads from its journal.
#[derive(Default)]
pub(crate) struct Texts(std::collections::HashSet<Text>);

impl Texts {
    pub(crate) fn get(&mut self, text: &str) -> Text {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Text = Arc::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

/// An output of the actor after one input, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// The input itself came from the actor's timer number `timer` (regenerated in a
    /// replay by the actor's own timers on virtual time, not fed).
    Timer {
        name: Text,
        timer: u64,
        time_ns: u64,
    },
    Replied {
        name: Text,
        payload: Vec<u8>,
    },
    /// The input itself, sent by another replayed actor (regenerated, not fed); `payload`
    /// as for `Sent`.
    Received {
        name: Text,
        payload: Option<Vec<u8>>,
    },
    /// A tell or an ask (`how`) of another actor, or a publication on `topic`; `payload` is
    /// `None` when the replay has no codec for the type (then only the type is compared).
    Sent {
        how: &'static str,
        name: Text,
        topic: Text,
        payload: Option<Vec<u8>>,
    },
    Failed(String),
    /// The recording was cut here by a crash: what follows in a replay is not compared.
    CutShort,
    /// The incarnation ended, with this reason (`stopped for a restart by its supervisor`,
    /// `failed: it ...`).
    Stopped(String),
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Shown::default().output(self))
    }
}

/// Whether what was done now is what was recorded; a sent message that either side has no
/// codec for compares by its type and topic alone.
pub(crate) fn same(recorded: &[Output], now: &[Output]) -> bool {
    same_after(recorded, 0, now)
}

/// [`same`] of `recorded` and what was made: its first `matched` outputs the recorded ones
/// themselves (matched as they were made, not kept), then `kept`.
fn same_after(recorded: &[Output], matched: usize, kept: &[Output]) -> bool {
    let matched = matched.min(recorded.len());
    let made_len = matched + kept.len();
    let made_at = |j: usize| {
        if j < matched {
            &recorded[j]
        } else {
            &kept[j - matched]
        }
    };
    // The first `matched` are the recorded ones themselves: compared from there on.
    let rest_same = |to: usize| (matched..to).all(|j| same_output(&recorded[j], made_at(j)));
    // (A stop that ended the run from outside is no output on either side:
    // `lifecycle_output`, `Capture::lifecycle`.)
    match recorded.split_last() {
        // Cut short: what was recorded is compared with as much of what was made.
        Some((Output::CutShort, before)) => made_len >= before.len() && rest_same(before.len()),
        _ => made_len == recorded.len() && rest_same(recorded.len()),
    }
}

/// Whether output `now` is the recorded output `recorded`; a sent message or a received input
/// that either side has no codec for compares by its type (and topic) alone.
pub(crate) fn same_output(recorded: &Output, now: &Output) -> bool {
    match (recorded, now) {
        (
            Output::Sent {
                how,
                name,
                topic,
                payload,
            },
            Output::Sent {
                how: how_now,
                name: name_now,
                topic: topic_now,
                payload: payload_now,
            },
        ) => {
            how == how_now
                && name == name_now
                && topic == topic_now
                && (payload.is_none() || payload_now.is_none() || payload == payload_now)
        }
        (
            Output::Received { name, payload },
            Output::Received {
                name: name_now,
                payload: payload_now,
            },
        ) => {
            name == name_now
                && (payload.is_none() || payload_now.is_none() || payload == payload_now)
        }
        (r, n) => r == n,
    }
}

/// Whether a stop reason says the actor was ended from outside (the end of a run: a live
/// program's shutdown, a replay's draining), not by what it did.
fn ended_from_outside(reason: &str) -> bool {
    matches!(reason, "shut down" | "stopped normally" | "killed")
}

/// A `failed` or `stopped` record's output, if it is compared: not a stop that ended the
/// run from outside, which can come in the middle of what the last input made (a shutdown
/// while its handler runs) and which a replay, stopping the actor itself, does not make.
pub(crate) fn lifecycle_output(kind: Kind, reason: &[u8]) -> Option<Output> {
    let reason = String::from_utf8_lossy(reason).into_owned();
    match kind {
        Kind::Failed => Some(Output::Failed(reason)),
        _ if ended_from_outside(&reason) => None,
        _ => Some(Output::Stopped(reason)),
    }
}

/// Each output compared, as text.
/// What the replayed actor does, kept in memory: per input, its outputs.
pub(crate) struct Capture {
    pub(crate) encoders: std::sync::RwLock<HashMap<TypeId, Encode>>,
    /// Each input (other than a timer's) is an output too, for a set's regenerated inputs.
    pub(crate) received: bool,
    /// Per input, its outputs, but for those that matched the recording as they were made
    /// (where the replay follows it: `following`).
    pub(crate) outputs: Mutex<Vec<Vec<Output>>>,
    /// The recording, where the replay compares with it as the actor goes.
    pub(crate) following: Option<Following>,
    /// Which recorded input the actor handles, where the replay follows it.
    pub(crate) inputs: Option<Mutex<InputCursor>>,
    /// The clock readings recorded during each input (and, first, before any), served to
    /// the replayed actor in their order.
    pub(crate) readings: Mutex<Readings>,
    pub(crate) timers: Mutex<TimerTimes>,
    /// How many inputs the actor has begun to handle.
    pub(crate) handled: Arc<Handled>,
    /// Stops the actor after the input it begins when it has begun this many (a set's
    /// member whose recorded life ended in a chain of messages it told itself).
    pub(crate) halt_after: std::sync::OnceLock<(usize, Halt)>,
    /// A set's recorded timer firings, every member's: the order they fire in at one bus
    /// time (`None` for an actor replayed alone).
    pub(crate) firings: Option<Arc<Firings>>,
    /// A set's member: its recorded number and the record numbers of its inputs, in the
    /// order it handled them, for the firings it waits for before each
    /// ([`Recorder::input_turn`]).
    pub(crate) order: Option<SetOrder>,
    /// For a set's member: how many inputs each member (by its id on the replay's bus) has
    /// begun or has queued, set as the set runs.
    pub(crate) members: std::sync::OnceLock<Members>,
    /// For a set's member that the recording stopped from outside (a program's stop, a
    /// shutdown): the bus time of its last recorded input. The stop ended its timers at a
    /// moment the journal does not have, before they fired again: its replay's timers fire
    /// no more after that input.
    pub(crate) timers_end: Option<Duration>,
    /// The tells refused live, served again.
    pub(crate) refusals: Refusals,
    /// The instant of the replay's bus time zero, once it runs (a set's is its `firings`').
    pub(crate) epoch: std::sync::OnceLock<tokio::time::Instant>,
}

/// The tells a replayed actor's recording says were refused (`refused` records), each by
/// its input and its place among that input's tells, served again as the replay makes them
/// ([`Recorder::refusal`]): a tell refused live returns the same error in the replay.
///
/// A `tell_many` that met a stopped receiver is the refusal of its last tell, with how many
/// of its messages came back ([`many_refused_text`]).
#[derive(Default)]
pub(crate) struct Refusals {
    recorded: HashMap<(usize, usize), RecordedRefusal>,
    /// While built: the tells of the input read last.
    tells: usize,
    /// As the replay runs: the input the last tell was made in, how many tells it has made,
    /// and the refusal served for the last one.
    made: Mutex<(usize, usize, Option<RecordedRefusal>)>,
}

/// A recorded refusal, and for a `tell_many`'s, how many of its messages came back.
#[derive(Clone, Copy)]
struct RecordedRefusal {
    refusal: Refusal,
    handed_back: Option<usize>,
}

/// The text of a `refused` record for a `tell_many` of `count` messages whose last
/// `handed_back` came back: `stopped: 2 of 5 came back`.
pub(crate) fn many_refused_text(handed_back: usize, count: usize) -> String {
    format!(
        "{}: {handed_back} of {count} came back",
        Refusal::Stopped.as_str()
    )
}

/// A `refused` record's text: a tell's refusal (`full`, `stopped`) or a `tell_many`'s.
fn parse_refused(text: &str) -> Option<RecordedRefusal> {
    if let Some(refusal) = Refusal::parse(text) {
        return Some(RecordedRefusal {
            refusal,
            handed_back: None,
        });
    }
    let (refusal, rest) = text.split_once(": ")?;
    let (back, _) = rest.strip_suffix(" came back")?.split_once(" of ")?;
    Some(RecordedRefusal {
        refusal: Refusal::parse(refusal)?,
        handed_back: Some(back.parse().ok()?),
    })
}

impl Refusals {
    /// Reads the actor's next record, of `kind`, while building: `inputs` is how many inputs
    /// it has handled with this one (a `handled` record counts itself).
    pub(crate) fn see(&mut self, kind: Kind, asked: bool, payload: &[u8], inputs: usize) {
        match kind {
            Kind::Handled => self.tells = 0,
            Kind::Sent if !asked => self.tells += 1,
            Kind::Refused => {
                let refusal = std::str::from_utf8(payload).ok().and_then(parse_refused);
                if let (Some(refusal), Some(input), Some(tell)) =
                    (refusal, inputs.checked_sub(1), self.tells.checked_sub(1))
                {
                    self.recorded.insert((input, tell), refusal);
                }
            }
            _ => {}
        }
    }

    /// The replayed actor makes a tell (`tell`) or another send in its input numbered
    /// `input`: what [`Recorder::refusal`] then serves.
    fn made(&self, input: usize, tell: bool) {
        if self.recorded.is_empty() {
            return;
        }
        let Ok(mut made) = self.made.lock() else {
            return;
        };
        if made.0 != input {
            *made = (input, 0, None);
        }
        made.2 = None;
        if tell {
            made.2 = self.recorded.get(&(input, made.1)).copied();
            made.1 += 1;
        }
    }

    /// The recorded refusal of the tell made last, once.
    fn take_made(&self) -> Option<RecordedRefusal> {
        if self.recorded.is_empty() {
            return None;
        }
        self.made.lock().ok()?.2.take()
    }

    /// The refusal served for the tell made last, once.
    fn take(&self) -> Option<Refusal> {
        Some(self.take_made()?.refusal)
    }

    /// For a `tell_many` whose last tell was made last: how many of its messages came back
    /// when it was recorded, once.
    fn take_many(&self) -> Option<usize> {
        self.take_made()?.handed_back
    }
}

/// A set's member's recorded number and the record numbers of its inputs, in order.
pub(crate) struct SetOrder {
    pub(crate) member: u64,
    /// Each input's record number and the bus time it was begun at live.
    pub(crate) inputs: Arc<Vec<(u64, u64)>>,
}

/// What a set's member shows the others: how far it is, and its recorded inputs.
pub(crate) struct MemberView {
    pub(crate) handled: Arc<Handled>,
    pub(crate) inputs: Arc<Vec<(u64, u64)>>,
}

/// A set's members by their ids on the replay's bus.
pub(crate) type Members = Arc<HashMap<ActorId, MemberView>>;

/// Whether a member other than `me` has not yet begun an input it began live before record
/// `seq`.
fn others_behind(members: &Members, me: ActorId, seq: u64) -> bool {
    members.iter().any(|(id, m)| {
        *id != me
            && m.inputs
                .get(m.handled.count())
                .is_some_and(|&(next, _)| next < seq)
    })
}

/// The timer firings a set's members handled live, by bus time and record number, until
/// each is fired again: firings of one bus time fire in their recorded order across the
/// set's actors, as a live bus's timer driver fires every timer of its tick before any
/// handler runs. Otherwise a member whose firing waits for its own earlier inputs
/// ([`Recorder::timer_turn`]) lets another member's firing of that time go first, and the
/// message that one's handler sends overtakes the first one's.
///
/// A member's input waits, before it begins, for the other members' firings recorded before
/// it began live ([`Recorder::input_turn`]): live, such a firing's message was queued before
/// anything that input's handler sent its actor.
#[derive(Default)]
pub(crate) struct Firings {
    pending: Mutex<Pending>,
    /// The instant of the replay's bus time zero, once the set runs.
    pub(crate) epoch: std::sync::OnceLock<tokio::time::Instant>,
}

#[derive(Default)]
struct Pending {
    /// By the bus time it fired at and the record number of its handling.
    by_time: std::collections::BTreeSet<(u64, u64)>,
    /// By the record number of its firing: the member's and the bus time it fired at.
    by_record: std::collections::BTreeMap<u64, (u64, u64)>,
}

/// A recorded firing of a set's member's timer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SetFiring {
    /// The member.
    pub(crate) member: u64,
    /// The bus time it fired at (nanoseconds).
    pub(crate) fired_ns: u64,
    /// The record number of its firing (of its handling where the journal has none).
    pub(crate) fired_seq: u64,
    /// The record number of its handling.
    pub(crate) seq: u64,
}

impl Firings {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A recorded firing.
    pub(crate) fn add(&self, firing: SetFiring) {
        let mut pending = self.pending();
        pending.by_time.insert((firing.fired_ns, firing.seq));
        pending
            .by_record
            .insert(firing.fired_seq, (firing.member, firing.fired_ns));
    }

    /// Fired again, or never to be (its schedule changed).
    fn done(&self, firing: &RecordedFiring) {
        let mut pending = self.pending();
        pending.by_time.remove(&(nanos(firing.fired), firing.seq));
        pending.by_record.remove(&firing.fired_seq);
    }

    /// Lets the replay's other work run (`rounds` times at most, as [`Handled::until`]) until
    /// every firing recorded at `at` before record `seq` has fired again.
    async fn wait_before(&self, at: Duration, seq: u64, rounds: usize) {
        let at = nanos(at);
        for _ in 0..rounds {
            if self
                .pending()
                .by_time
                .range((at, 0)..(at, seq))
                .next()
                .is_none()
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// The first firing of a member other than `member` recorded before record `seq` and
    /// not fired again yet: its record number and the bus time it fired at.
    fn other_before(&self, seq: u64, member: u64) -> Option<(u64, u64)> {
        self.pending()
            .by_record
            .range(..seq)
            .find(|(_, (m, _))| *m != member)
            .map(|(&fired_seq, &(_, fired_ns))| (fired_seq, fired_ns))
    }

    /// Waits until every firing of another member than `member` recorded before record
    /// `seq` (a member's input) has fired again. What is due now runs first; then virtual
    /// time moves on to when each fired live, and a tick more. One that has not fired by
    /// then (a changed actor's schedule, or one that waits for this input) is given up:
    /// no input waits for it any more.
    async fn wait_others_before(&self, seq: u64, member: u64) {
        let Some(&epoch) = self.epoch.get() else {
            return;
        };
        while let Some((fired_seq, fired_ns)) = self.other_before(seq, member) {
            tokio::task::yield_now().await;
            if !self.pending().by_record.contains_key(&fired_seq) {
                continue;
            }
            let late = epoch + Duration::from_nanos(fired_ns) + TICK;
            let now = tokio::time::Instant::now();
            if now < late {
                tokio::time::sleep_until(late.min(now + TICK)).await;
                continue;
            }
            for _ in 0..TURN_ROUNDS {
                if !self.pending().by_record.contains_key(&fired_seq) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            self.pending().by_record.remove(&fired_seq);
        }
    }
}

fn nanos(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

/// Stops a replayed actor after the message it handles (the signal overtakes what is
/// queued).
pub type Halt = Box<dyn Fn() + Send + Sync>;

/// The recorded outputs of each input, compared with what the replayed actor makes as it makes
/// it: an input's outputs that match the recorded ones at their places, from its first, are
/// counted, not kept, so that an input of a hundred thousand outputs costs no copy of them.
/// Once one differs, it and the input's later outputs are kept for the comparison.
pub(crate) struct Following {
    recorded: Vec<Vec<Output>>,
    /// Per recorded input, how many of its first outputs matched (counted under the
    /// capture's lock of its outputs).
    matched: Vec<AtomicUsize>,
}

impl Following {
    pub(crate) fn new(recorded: Vec<Vec<Output>>) -> Self {
        let matched = recorded.iter().map(|_| AtomicUsize::new(0)).collect();
        Following { recorded, matched }
    }

    /// What input `i` made: the outputs that matched (as recorded) and those kept.
    pub(crate) fn made(&self, i: usize, kept: &[Output]) -> Vec<Output> {
        let matched = self.matched_of(i);
        let recorded = self
            .recorded
            .get(i)
            .map_or(&[][..], |r| &r[..matched.min(r.len())]);
        recorded.iter().chain(kept).cloned().collect()
    }

    fn matched_of(&self, i: usize) -> usize {
        self.matched.get(i).map_or(0, |m| m.load(Ordering::Relaxed))
    }

    /// Whether input `i` made what was recorded (`kept`: its outputs that did not match), as
    /// [`same`] says of the recorded outputs and [`made`](Self::made), without making them.
    pub(crate) fn same(&self, i: usize, kept: &[Output]) -> bool {
        let recorded = self.recorded.get(i).map_or(&[][..], Vec::as_slice);
        same_after(recorded, self.matched_of(i), kept)
    }
}

/// How many times a replayed timer's firing, or a fed input, lets the replay's other work run,
/// at most, for the inputs its actor handled before it live: a changed actor that no longer
/// makes one of those shows the difference instead of stalling the replay.
pub(crate) const TURN_ROUNDS: usize = 1_000;

/// How long (wall-clock) the end of a replay waits for an actor that has stopped making
/// progress towards its last recorded input ([`Handled::until_settled`]).
pub(crate) const SETTLE: Duration = Duration::from_millis(250);

/// How many inputs a replayed actor has begun to handle, and how many fewer than recorded it
/// was found to have handled the last time a wait for them gave up (a changed actor).
#[derive(Default)]
pub(crate) struct Handled {
    count: AtomicUsize,
    behind: AtomicUsize,
    /// Its timers' messages queued and not yet begun.
    queued_firings: AtomicUsize,
    /// Messages the set's other members told or asked it, queued and not yet begun.
    queued_messages: AtomicUsize,
    /// Inputs from outside a set's replay fed to it (queued) and not yet begun.
    queued_fed: AtomicUsize,
}

impl Handled {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// How many inputs the actor has begun to handle.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Lets the replay's other work run until the actor has begun to handle `count` inputs
    /// (fewer by as many as it was last found behind), for as long as it makes progress: it
    /// gives up once `rounds` turns in a row and [`TURN_WALL`] of wall-clock time have passed
    /// without one more input begun (an actor whose handlers run on another thread, a
    /// foreign one, may take longer than any count of turns). Virtual time stands still
    /// meanwhile: what is due now runs, nothing later. A wait that gives up notes how far
    /// behind the actor is, so that the next waits expect that much less instead of each
    /// giving up in turn.
    pub(crate) async fn until(&self, count: usize, rounds: usize) {
        let wanted = count.saturating_sub(self.behind.load(Ordering::Relaxed));
        let mut seen = self.count();
        let mut idle = 0;
        let mut stalled_since = None;
        loop {
            let now = self.count();
            if now >= wanted {
                return;
            }
            if now != seen {
                (seen, idle, stalled_since) = (now, 0, None);
            }
            idle += 1;
            if idle >= rounds {
                let since = *stalled_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= TURN_WALL {
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
        let now = self.count.load(Ordering::Relaxed);
        self.behind
            .store(count.saturating_sub(now), Ordering::Relaxed);
    }

    /// A timer's firing of the actor was queued (its message is in the mailbox).
    pub(crate) fn firing_queued(&self) {
        self.queued_firings.fetch_add(1, Ordering::Relaxed);
    }

    /// A timer's message is begun: it is no longer queued.
    fn firing_begun(&self) {
        let _ = self
            .queued_firings
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Another member of the set told or asked the actor a message (it is being queued).
    fn message_queued(&self) {
        self.queued_messages.fetch_add(1, Ordering::Relaxed);
    }

    /// A message from another member is begun.
    fn message_begun(&self) {
        let _ = self
            .queued_messages
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// An input from outside is about to be fed to the actor (queued).
    pub(crate) fn fed_queued(&self) {
        self.queued_fed.fetch_add(1, Ordering::Relaxed);
    }

    /// An input from outside was begun, or its feeding refused: it is no longer queued. (In
    /// a single actor's replay nothing is counted, and this leaves the count at 0.)
    pub(crate) fn fed_begun(&self) {
        let _ = self
            .queued_fed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Waits, for a timer's firing, until the inputs its actor handled before it live (the
    /// first `count`) are begun or queued (its own timers' messages, those from the set's
    /// other members, those the set fed from outside): its message then comes behind them,
    /// whatever the thread that runs the actor's handlers (a foreign actor's, on a loaded
    /// machine) takes to begin them. What is due now runs first; then virtual time runs for
    /// up to `within` (the replay feeds inputs at the times they were handled, which may be
    /// after this firing); then, as [`until`](Self::until), `rounds` turns at most.
    pub(crate) async fn until_within(&self, count: usize, rounds: usize, within: Duration) {
        let wanted = count.saturating_sub(self.behind.load(Ordering::Relaxed));
        let ahead = || {
            self.count()
                + self.queued_firings.load(Ordering::Relaxed)
                + self.queued_messages.load(Ordering::Relaxed)
                + self.queued_fed.load(Ordering::Relaxed)
        };
        let end = tokio::time::Instant::now() + within;
        // A sleep would move the clock a whole tick, past a periodic timer's next deadline.
        for _ in 0..HANDLED_NOW_ROUNDS {
            if ahead() >= wanted {
                return;
            }
            tokio::task::yield_now().await;
        }
        while ahead() < wanted && tokio::time::Instant::now() < end {
            tokio::time::sleep_until(end.min(tokio::time::Instant::now() + TICK)).await;
        }
        // Then `rounds` turns, and as many as a foreign actor's handler on its own thread
        // takes to send what is due now, up to a few milliseconds of wall-clock time.
        let started = std::time::Instant::now();
        let mut round = 0;
        while round < rounds || started.elapsed() < TURN_WALL {
            if ahead() >= wanted {
                return;
            }
            tokio::task::yield_now().await;
            round += 1;
        }
        self.behind
            .store(count.saturating_sub(ahead()), Ordering::Relaxed);
    }

    /// Lets the replay's other work run until the actor has begun to handle `count` inputs,
    /// for as long as it makes progress: it gives up once `rounds` in a row and `stall` of
    /// wall-clock time have passed without one more input begun. For the end of a replay,
    /// where an actor whose handlers run on another thread (a foreign actor, on a loaded
    /// machine) may take longer than any count of rounds to handle what it was sent, and
    /// stopping it early would leave its last inputs unhandled. Virtual time stands still
    /// meanwhile, as in [`until`](Self::until).
    pub(crate) async fn until_settled(&self, count: usize, rounds: usize, stall: Duration) {
        let mut seen = self.count.load(Ordering::Relaxed);
        let mut since = std::time::Instant::now();
        let mut idle = 0;
        while seen < count {
            tokio::task::yield_now().await;
            let now = self.count.load(Ordering::Relaxed);
            if now != seen {
                (seen, since, idle) = (now, std::time::Instant::now(), 0);
                continue;
            }
            idle += 1;
            if idle >= rounds && since.elapsed() >= stall {
                return;
            }
        }
    }
}

/// How long (wall-clock) a wait for a replayed actor's inputs (a timer's firing's, for those
/// it came after live; a fed input's, for those before it) goes on beyond its rounds without
/// one more begun: a foreign actor's handler runs on a thread of its own, which a loaded
/// machine (or a debug build) may keep from it for milliseconds.
const TURN_WALL: Duration = Duration::from_millis(50);

/// How many times a wait that may let virtual time run lets what is due now run first.
const HANDLED_NOW_ROUNDS: usize = 16;

/// A firing a replay does not make: its timer waits until it ends with its actor.
fn never(due: Duration) -> TimerDue {
    TimerDue {
        at: Duration::MAX,
        due,
    }
}

/// The tick of a replay's virtual clock: tokio's timers round a deadline up to a
/// millisecond.
const TICK: Duration = Duration::from_millis(1);

/// The input number of a handling the recording does not have (a timer firing on a changed
/// schedule, a message beyond the recorded ones).
pub(crate) const NOT_RECORDED: u64 = u64::MAX;

/// Which recorded input a replayed actor handles ([`Recorder::replaying_input`]): the fed
/// inputs are handled in the order they are fed, and a timer's firing is the recorded one
/// whose time it was served ([`TimerTimes`]).
pub(crate) struct InputCursor {
    /// The record numbers of the inputs the replay feeds (all but timers'), in order.
    pub(crate) fed: VecDeque<u64>,
    /// The one being handled ([`NOT_RECORDED`] for one the recording does not have).
    pub(crate) current: u64,
}

/// When each of the actor's timers fired live, served to the replayed actor's timers
/// (`Recorder::timer_due`): a timer's message is handled when it was handled live, not on a
/// schedule a live bus kept only to its wake-up latency.
#[derive(Default)]
pub(crate) struct TimerTimes {
    /// The replayed actor's current incarnation.
    incarnation: u32,
    /// By incarnation and timer number, the bus times its messages were handled live, with
    /// the sequence numbers of those handlings and the deadlines its schedule said.
    recorded: HashMap<(u32, u64), VecDeque<RecordedFiring>>,
    /// By incarnation and timer number, the firings whose messages are not handled yet, as
    /// the records are read: the deadline, the delay or period (where recorded), the bus
    /// time and the record number of each. A timer that fired has its key here.
    fired: HashMap<(u32, u64), VecDeque<Fired>>,
    /// By timer number, the recorded firing it was just served ([`Recorder::timer_turn`]).
    turns: HashMap<u64, RecordedFiring>,
    /// By timer number, the times served and not yet handled (the output's time), with the
    /// recorded handling's sequence number.
    served: HashMap<u64, VecDeque<(Duration, u64)>>,
    /// By timer number, the time of the last recorded firing it was served.
    last_fired: HashMap<u64, Duration>,
    /// By timer number, the deadline of the last recorded firing it was served, where the
    /// journal has it.
    last_due: HashMap<u64, Duration>,
    /// The bus times of the actor's inputs and starts (first or restart) read so far, each
    /// with whether it is a start.
    seen: Vec<(u64, bool)>,
    /// The last incarnation the records read so far are of.
    recorded_incarnation: u32,
    /// By timer number, how many firings of ended incarnations were queued and not handled
    /// when their incarnation ended: the restarted actor handles them first (its mailbox is
    /// kept), before any firing of its own timer of that number.
    left: HashMap<u64, usize>,
    /// The record numbers of those handlings: inputs a replay feeds, since the replayed
    /// incarnation that set their timer ends before they fire (its clock stands still while
    /// the failing handler runs).
    pub(crate) leftovers: std::collections::HashSet<u64>,
    /// By incarnation, the bus time it ended in the recording (its failure or stop).
    ended: HashMap<u32, Duration>,
    /// The incarnation of the records [`saw`](Self::saw) reads.
    saw_incarnation: u32,
    /// The bus time of the last record [`saw`](Self::saw) read.
    last_seen: Duration,
}

/// A `timer-fired` record, until the handling of its message is read.
#[derive(Clone, Copy)]
struct Fired {
    due: Duration,
    every: Option<Duration>,
    at: Duration,
    seq: u64,
    set: SetWindow,
}

/// For a timer's first firing: how much earlier and later than live a replay may set it. A
/// replay's clock stands still while a handler runs, and starts an actor when its start was
/// recorded: it sets a timer as much earlier as the live handler had run when it set it
/// (since its input's `handled` record), and as much later as a live start still ran after
/// setting it (until its `started` record).
#[derive(Clone, Copy, Default)]
struct SetWindow {
    earlier: Duration,
    later: Duration,
}

/// A live firing of a timer, as a replay serves it.
#[derive(Clone, Copy)]
struct RecordedFiring {
    /// When it fired: its message was queued then (the time of its `timer-fired` record, or
    /// of the handling where the journal has none).
    fired: Duration,
    /// The record number of its firing (of its handling where the journal has none).
    fired_seq: u64,
    /// When its message was handled.
    at: Duration,
    /// The record number of that handling.
    seq: u64,
    /// The deadline its schedule said (`None` where the journal has no `timer-fired` record
    /// before the handling).
    due: Option<Duration>,
    /// The timer's delay or period (`None` where the journal did not record it).
    every: Option<Duration>,
    /// For the timer's first firing, how far from its live time a replay may set it.
    set: SetWindow,
    /// Its place among the actor's inputs (from 0).
    index: usize,
}

impl TimerTimes {
    /// Notes the bus time of `record`, a record of the replayed actor (every one, in order),
    /// if it is the beginning of an input or a start: a replay's clock stands at it while the
    /// actor handles that input (or, for a start, from it on).
    pub(crate) fn saw(&mut self, record: &RecordRef<'_>) {
        self.last_seen = Duration::from_nanos(record.time_ns);
        match record.kind {
            Kind::Handled => self.seen.push((record.time_ns, false)),
            Kind::Started => self.seen.push((record.time_ns, true)),
            Kind::Failed | Kind::Stopped => {
                let at = Duration::from_nanos(record.time_ns);
                self.ended.entry(self.saw_incarnation).or_insert(at);
            }
            // A restart's `on_start` sets its timers before its record, as a first start's.
            Kind::Restarted => {
                self.seen.push((record.time_ns, true));
                self.saw_incarnation = self.saw_incarnation.saturating_add(1);
            }
            _ => {}
        }
    }

    /// The bus time incarnation `incarnation` ended at in the recording: its failure or
    /// stop, or for the last one without either, the journal's last record of the actor.
    fn ended_at(&self, incarnation: u32) -> Option<Duration> {
        let last = (incarnation == self.saw_incarnation).then_some(self.last_seen);
        self.ended.get(&incarnation).copied().or(last)
    }

    /// How far from bus time `set` (when a timer was set live) a replay may set it.
    fn set_window(&self, set: Duration) -> SetWindow {
        let set = nanos(set);
        let after = self.seen.partition_point(|&(t, _)| t <= set);
        let earlier = after
            .checked_sub(1)
            .map_or(0, |i| set.saturating_sub(self.seen[i].0));
        let later = self
            .seen
            .get(after)
            .filter(|(_, start)| *start)
            .map_or(0, |(t, _)| t.saturating_sub(set));
        SetWindow {
            earlier: Duration::from_nanos(earlier),
            later: Duration::from_nanos(later),
        }
    }

    /// Adds what `record`, of incarnation `incarnation` of the replayed actor, says of its
    /// timers: a firing, or the handling of a timer's message (the actor's input `index`),
    /// for which it returns the bus time the timer fired at (in nanoseconds) and the record
    /// number of its firing.
    pub(crate) fn add(
        &mut self,
        incarnation: u32,
        record: &RecordRef<'_>,
        index: usize,
    ) -> Option<(u64, u64)> {
        let Origin::Timer { id: timer } = record.origin else {
            return None;
        };
        let key = (incarnation, timer);
        if incarnation > self.recorded_incarnation {
            // The firings the ended incarnations queued and did not handle.
            for ((of, timer), fired) in &mut self.fired {
                if *of < incarnation {
                    *self.left.entry(*timer).or_default() += fired.len();
                    fired.clear();
                }
            }
        }
        self.recorded_incarnation = self.recorded_incarnation.max(incarnation);
        let time = Duration::from_nanos(record.time_ns);
        match record.kind {
            Kind::TimerFired => {
                // Its key stays once its firings are handled: the timer has fired.
                let pending = self.fired.entry(key).or_default();
                if let Some((due, every)) = record.timer_schedule() {
                    let (due, every) = (Duration::from_nanos(due), every.map(Duration::from_nanos));
                    let first = pending.is_empty() && !self.recorded.contains_key(&key);
                    let set = match every {
                        Some(every) if first => self.set_window(due.saturating_sub(every)),
                        _ => SetWindow::default(),
                    };
                    let firing = Fired {
                        due,
                        every,
                        at: time,
                        seq: record.seq,
                        set,
                    };
                    self.fired.entry(key).or_default().push_back(firing);
                }
                None
            }
            Kind::Handled => {
                if let Some(left) = self.left.get_mut(&timer).filter(|n| **n > 0) {
                    *left -= 1;
                    self.leftovers.insert(record.seq);
                    return None;
                }
                let firing = self.fired.get_mut(&key).and_then(VecDeque::pop_front);
                let fired = firing.map_or(time, |f| f.at.min(time));
                let fired_seq = firing.map_or(record.seq, |f| f.seq);
                self.recorded
                    .entry(key)
                    .or_default()
                    .push_back(RecordedFiring {
                        fired,
                        fired_seq,
                        at: time,
                        seq: record.seq,
                        due: firing.map(|f| f.due),
                        every: firing.and_then(|f| f.every),
                        set: firing.map(|f| f.set).unwrap_or_default(),
                        index,
                    });
                Some((nanos(fired), fired_seq))
            }
            _ => None,
        }
    }
}

#[derive(Default)]
pub(crate) struct Readings {
    pub(crate) before_any: VecDeque<Duration>,
    pub(crate) by_input: Vec<VecDeque<Duration>>,
    /// The seeding of its random numbers (once in an actor's life, kept across restarts).
    pub(crate) seed: Option<(u64, u64)>,
}

impl Readings {
    /// Adds what `record` of the replayed actor says it read: a clock reading or a seeding
    /// (its inputs' queues are added as the inputs are).
    pub(crate) fn add(&mut self, record: &RecordRef<'_>) {
        match record.kind {
            Kind::ClockRead => {
                let reading = Duration::from_nanos(record.payload_u64().unwrap_or(0));
                match self.by_input.last_mut() {
                    Some(queue) => queue.push_back(reading),
                    None => self.before_any.push_back(reading),
                }
            }
            Kind::Seeded => self.seed = self.seed.or(record.seeded()),
            _ => {}
        }
    }
}

impl Capture {
    /// True for the handling `seq` of a firing an ended incarnation left queued (fed).
    pub(crate) fn leftover(&self, seq: u64) -> bool {
        self.timers.lock().is_ok_and(|t| t.leftovers.contains(&seq))
    }

    /// When the replayed actor's timer numbered `timer`, whose schedule says `due`, `every`
    /// after it was set or last fired, fires: as the recording says ([`Recorder::timer_due`]).
    fn recorded_firing(&self, timer: u64, due: Duration, every: Duration) -> TimerDue {
        let on_schedule = TimerDue::on_time(due);
        let Ok(mut times) = self.timers.lock() else {
            return on_schedule;
        };
        let key = (times.incarnation, timer);
        times.turns.remove(&timer);
        let last = times.last_fired.get(&timer).copied();
        let last_due = times.last_due.get(&timer).copied();
        // The replay's clock runs in ticks of a millisecond: its deadlines are those of the
        // live run to within less than one. Near: as near as a timer set a little earlier or
        // later than live may be.
        let tick = TICK;
        let near = (every / 4).max(2 * tick);
        // Past its handled firings, one the recording has fired and never handled (its actor
        // stopped first), for this deadline: the replay does not deliver it either.
        // (A firing before a failure may be handled by the next incarnation: only the last
        // one's are never handled.)
        let unhandled = (key.0 == times.recorded_incarnation)
            .then(|| times.fired.get(&key).and_then(VecDeque::front))
            .flatten();
        let never_handled =
            unhandled.is_some_and(|f| f.every == Some(every) && f.due.abs_diff(due) <= near);
        let past_recorded = if never_handled {
            never(due)
        } else {
            on_schedule
        };
        // Past the handled firings of a timer the recording has: live, it did not fire again
        // before its incarnation ended (a failure, a stop) or the journal did (a crash cut
        // it), so the replay fires it no earlier: after the inputs before that end.
        let past_handled = match times.ended_at(key.0) {
            Some(end) if !never_handled && end + tick > due => TimerDue {
                at: end + tick,
                due,
            },
            _ => past_recorded,
        };
        let Some(recorded) = times.recorded.get_mut(&key) else {
            // A timer the recording has no firing of (a changed actor's new one) keeps its
            // schedule.
            return match times.fired.contains_key(&key) {
                true => past_handled,
                false => past_recorded,
            };
        };
        let on_grid = |recorded_due: Duration| {
            let apart = recorded_due.abs_diff(due).as_nanos() % every.as_nanos().max(1);
            apart < tick.as_nanos() || every.as_nanos() - apart < tick.as_nanos()
        };
        // A deadline the replay's schedule passed by only because it fired the last tick as
        // late as the live timer did, on a clock that then stood a tick later (or later
        // still, waiting for the inputs handled before that firing live): the live timer,
        // whose clock did not, kept it. Past the last deadline served, the recorded ones on
        // the same grid are the live timer's own, those it skipped falling behind left out.
        let kept_live = |recorded_due: Duration| {
            on_grid(recorded_due)
                && (last.is_some_and(|last| last + tick > recorded_due)
                    || last_due.is_some_and(|last_due| recorded_due > last_due))
        };
        // A timer's first firing in the replay is the recorded first firing of the timer of
        // its number when the timer has the recorded delay (or period) and was set about when
        // it was set live: within a quarter of that (two ticks at least), or the
        // [`SetWindow`] of how long the live handler had run, or the live start still ran,
        // as a replay's clock runs in ticks and stands still while a handler runs. Its later
        // deadlines follow the recorded one.
        let same_timer = last.is_none()
            && recorded.front().is_some_and(|f| {
                f.every == Some(every)
                    && f.due.is_some_and(|d| match d.checked_sub(due) {
                        Some(later_live) => later_live <= near.max(f.set.earlier + tick),
                        None => due - d <= near.max(f.set.later + tick),
                    })
            });
        // Firings the replay's schedule passed by (it changed, or one fired off it) are not
        // served any more.
        while !same_timer
            && recorded.front().is_some_and(|f| match f.due {
                Some(recorded_due) => recorded_due + tick <= due && !kept_live(recorded_due),
                None => f.at + tick < due,
            })
        {
            if let (Some(passed), Some(firings)) = (recorded.pop_front(), &self.firings) {
                firings.done(&passed);
            }
        }
        let Some(&firing) = recorded.front() else {
            return past_handled;
        };
        let RecordedFiring {
            fired,
            at,
            seq,
            due: recorded_due,
            ..
        } = firing;
        // The recorded firing is this schedule's when the deadline it was fired for is this
        // one, to within less than a tick, or one kept live as above; the live timer fired a
        // little after it (its wake-up latency), and the replay fires it then. A later
        // deadline on this timer's grid, once it follows the recorded schedule, is one a live
        // timer that fell behind came to after skipping those before (its message waited for
        // room, or its task for the CPU): the replay skips them too. Without the recorded
        // deadline: when it came no earlier than a tick before this deadline and within a
        // quarter of the timer's period (or delay) after it. Otherwise the schedule changed,
        // and the replayed actor's own timing shows it.
        let this_schedule = same_timer
            || match recorded_due {
                Some(recorded_due) => {
                    recorded_due < due + tick || (last.is_some() && on_grid(recorded_due))
                }
                None => at < due + (every / 4).max(tick),
            };
        if !this_schedule {
            return on_schedule;
        }
        recorded.pop_front();
        times.served.entry(timer).or_default().push_back((at, seq));
        times.turns.insert(timer, firing);
        times.last_fired.insert(timer, fired);
        match firing.due {
            Some(due) => times.last_due.insert(timer, due),
            None => times.last_due.remove(&timer),
        };
        // It fires when it fired live, so that its message is queued where it was among the
        // actor's mail (behind what came before, ahead of what came after, from the set's
        // other actors), and is handled after the inputs handled before it live
        // ([`Recorder::timer_turn`]).
        TimerDue {
            at: fired,
            due: recorded_due
                .filter(|d| same_timer || on_grid(*d))
                .unwrap_or(due),
        }
    }

    /// The recorded outputs of input `i`, where the replay follows the recording.
    pub(crate) fn recorded(&self, i: usize) -> &[Output] {
        self.following
            .as_ref()
            .and_then(|f| f.recorded.get(i))
            .map_or(&[], Vec::as_slice)
    }

    /// Adds `output` to what the input being handled made (`outputs`: the lock's guard):
    /// counted if it matches the recording at its place, kept otherwise.
    fn keep(&self, outputs: &mut [Vec<Output>], output: Output) {
        if !self.matched(outputs, |recorded| same_output(recorded, &output)) {
            if let Some(last) = outputs.last_mut() {
                last.push(output);
            }
        }
    }

    /// The codec chosen for `msg`'s type, if one was.
    fn encoder(&self, msg: &dyn Any) -> Option<Encode> {
        self.encoders.read().ok()?.get(&msg.type_id()).copied()
    }

    /// `msg` in the codec chosen for its type, if one was.
    fn encode(&self, msg: &dyn Any) -> Option<Vec<u8>> {
        let encode = self.encoder(msg)?;
        with_scratch(|out| encode(msg, out).then(|| out.to_vec()))
    }

    /// Whether `msg` in the codec chosen for its type is `payload`; true without a codec (or
    /// one that fails), as [`same_output`] compares a message without its payload.
    fn encodes_as(&self, msg: &dyn Any, payload: &[u8]) -> bool {
        let Some(encode) = self.encoder(msg) else {
            return true;
        };
        with_scratch(|out| !encode(msg, out) || out[..] == *payload)
    }

    /// Counts the next output of the input being handled as made, if the recording follows,
    /// every output of the input so far matched, and `matches` says the recorded one at its
    /// place is this one.
    fn matched(&self, outputs: &[Vec<Output>], matches: impl FnOnce(&Output) -> bool) -> bool {
        let (Some(following), Some(last)) = (&self.following, outputs.last()) else {
            return false;
        };
        if !last.is_empty() {
            return false;
        }
        let i = outputs.len() - 1;
        let (Some(recorded), Some(count)) = (following.recorded.get(i), following.matched.get(i))
        else {
            return false;
        };
        let at = count.load(Ordering::Relaxed);
        if recorded.get(at).is_some_and(matches) {
            count.store(at + 1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

impl Recorder for Capture {
    fn handled(
        &self,
        _: ActorId,
        time: Duration,
        delivery: Delivery,
        from: Source,
        type_name: &'static str,
        msg: &dyn Any,
    ) {
        let from_member = match (from, self.members.get()) {
            (Source::Actor(sender), Some(members)) => members.contains_key(&sender),
            _ => false,
        };
        if !matches!(delivery, Delivery::Timer { .. }) {
            // (Counted when the other member sent it, or the replay fed it.)
            if from_member {
                self.handled.message_begun();
            } else {
                self.handled.fed_begun();
            }
        }
        let mut input = None;
        let first: Option<Output> = match delivery {
            Delivery::Timer { timer } => {
                self.handled.firing_begun();
                // The time it was served to fire at: the clock's, rounded to its tick.
                let served = self
                    .timers
                    .lock()
                    .ok()
                    .and_then(|mut t| t.served.get_mut(&timer)?.pop_front());
                input = served.map(|(_, seq)| seq);
                let time = served.map_or(time, |(at, _)| at);
                Some(Output::Timer {
                    name: type_name.into(),
                    timer,
                    time_ns: u64::try_from(time.as_nanos()).unwrap_or(u64::MAX),
                })
            }
            Delivery::Tell | Delivery::Ask if self.received => Some(Output::Received {
                name: type_name.into(),
                payload: self.encode(msg),
            }),
            Delivery::Tell | Delivery::Ask => None,
        };
        self.handled.add();
        if let Some((after, halt)) = self.halt_after.get() {
            if self.handled.count() == *after {
                // Its last recorded input: what it tells itself in it is not handled, as it
                // was not live.
                halt();
            }
        }
        if let Some(cursor) = &self.inputs {
            let mut cursor = cursor.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(delivery, Delivery::Timer { .. }) {
                input = cursor.fed.pop_front();
            }
            cursor.current = input.unwrap_or(NOT_RECORDED);
        }
        if let Ok(mut o) = self.outputs.lock() {
            o.push(Vec::new());
            if let Some(first) = first {
                self.keep(&mut o, first);
            }
        }
    }

    fn sent(
        &self,
        _: ActorId,
        _: Duration,
        sent: Sent<'_>,
        type_name: &'static str,
        msg: &dyn Any,
    ) {
        if let (Sent::Tell { to } | Sent::Ask { to }, Some(members)) = (sent, self.members.get()) {
            if let Some(receiver) = members.get(&to) {
                receiver.handled.message_queued();
            }
        }
        let (kind, asked, topic) = match sent {
            Sent::Tell { .. } => (Kind::Sent, false, ""),
            Sent::Ask { .. } => (Kind::Sent, true, ""),
            Sent::Publish { topic } => (Kind::Published, false, topic),
        };
        let how = sent_how(kind, asked);
        let Ok(mut o) = self.outputs.lock() else {
            return;
        };
        self.refusals
            .made(o.len().saturating_sub(1), matches!(sent, Sent::Tell { .. }));
        // Compared where it is encoded: a matching output is neither copied nor kept.
        let matches = |recorded: &Output| match recorded {
            Output::Sent {
                how: recorded_how,
                name,
                topic: recorded_topic,
                payload,
            } => {
                *recorded_how == how
                    && &**name == type_name
                    && &**recorded_topic == topic
                    && payload.as_ref().is_none_or(|p| self.encodes_as(msg, p))
            }
            _ => false,
        };
        if self.matched(&o, matches) {
            return;
        }
        if let Some(last) = o.last_mut() {
            last.push(Output::Sent {
                how,
                name: type_name.into(),
                topic: topic.into(),
                payload: self.encode(msg),
            });
        }
    }

    fn refusal(&self, _: ActorId) -> Option<Refusal> {
        self.refusals.take()
    }

    fn refusal_many(&self, _: ActorId) -> Option<usize> {
        self.refusals.take_many()
    }

    fn timer_turn(&self, _: ActorId, timer: u64) -> Option<mycelium_actors::recording::Turn> {
        let firing = self.timers.lock().ok()?.turns.remove(&timer)?;
        let RecordedFiring {
            fired,
            at,
            seq,
            index,
            ..
        } = firing;
        let handled = Arc::clone(&self.handled);
        let firings = self.firings.clone();
        let epoch = (self.epoch.get())
            .or_else(|| self.firings.as_ref()?.epoch.get())
            .copied();
        Some(Box::pin(async move {
            // Its message was queued behind the inputs its actor handled before it: those
            // the replay feeds at the times they were handled, up to when it was handled
            // (a bus time the clock, which wakes a timer on its tick, may have passed).
            let within = match epoch {
                Some(epoch) => (epoch + at).saturating_duration_since(tokio::time::Instant::now()),
                None => at.saturating_sub(fired),
            };
            handled.until_within(index, TURN_ROUNDS, within).await;
            if let Some(firings) = firings {
                firings.wait_before(fired, seq, TURN_ROUNDS).await;
                // The timer sends its message as this returns, before its task yields.
                firings.done(&firing);
            }
            handled.firing_queued();
        }))
    }

    fn input_turn(&self, me: ActorId, ahead: usize) -> Option<mycelium_actors::recording::Turn> {
        let order = self.order.as_ref()?;
        let firings = self.firings.as_ref()?;
        let &(seq, at_ns) = order.inputs.get(self.handled.count() + ahead)?;
        // A set's member begins an input no earlier than it began it live (a message from
        // another member comes as soon as that one's handler sends it, while live it may
        // have waited for the receiver's thread): the actor sees the clock it saw live, sets
        // its timers from there, and what it sends comes no earlier than it came live.
        let begin = *firings.epoch.get()? + Duration::from_nanos(at_ns);
        let early = tokio::time::Instant::now() < begin;
        let members = self.members.get().cloned();
        let behind = members.as_ref().is_some_and(|m| others_behind(m, me, seq));
        if !early && !behind && firings.other_before(seq, order.member).is_none() {
            return None;
        }
        let (firings, member) = (Arc::clone(firings), order.member);
        Some(Box::pin(async move {
            if early {
                tokio::time::sleep_until(begin).await;
            }
            firings.wait_others_before(seq, member).await;
            // And after the inputs the other members began before it live: what their
            // handlers send this actor comes ahead of what this one's sends them, as live.
            if let Some(members) = members {
                for _ in 0..TURN_ROUNDS {
                    if !others_behind(&members, me, seq) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }))
    }

    fn rng_seeded(&self, _: ActorId, _: Duration, seed: u64, stream: u64) -> (u64, u64) {
        let recorded = self.readings.lock().ok().and_then(|r| r.seed);
        recorded.unwrap_or((seed, stream))
    }

    fn replaying_input(&self, _: ActorId) -> Option<u64> {
        let cursor = self.inputs.as_ref()?;
        Some(cursor.lock().unwrap_or_else(|e| e.into_inner()).current)
    }

    fn clock_read(&self, _: ActorId, reading: Duration) -> Duration {
        let input = self.outputs.lock().map_or(0, |o| o.len());
        let Ok(mut readings) = self.readings.lock() else {
            return reading;
        };
        let queue = match input.checked_sub(1) {
            None => &mut readings.before_any,
            Some(i) => match readings.by_input.get_mut(i) {
                Some(queue) => queue,
                None => return reading,
            },
        };
        queue.pop_front().unwrap_or(reading)
    }

    fn replied(&self, _: ActorId, _: Duration, type_name: &'static str, reply: &dyn Any) {
        let payload = self.encode(reply).unwrap_or_default();
        if let Ok(mut o) = self.outputs.lock() {
            let output = Output::Replied {
                name: type_name.into(),
                payload,
            };
            self.keep(&mut o, output);
        }
    }

    fn timer_due(&self, _: ActorId, timer: u64, due: Duration, every: Duration) -> TimerDue {
        let next = self.recorded_firing(timer, due, every);
        match self.timers_end {
            // The timer ends with its actor, which the set stops as recorded.
            Some(end) if next.at > end => never(next.due),
            _ => next,
        }
    }

    fn lifecycle(&self, _: ActorId, _: Duration, event: Lifecycle<'_>) {
        let output = match event {
            Lifecycle::Failed { reason } => Output::Failed(reason.to_owned()),
            Lifecycle::Stopped { reason } if ended_from_outside(reason) => return,
            Lifecycle::Stopped { reason } => Output::Stopped(reason.to_owned()),
            Lifecycle::Started { incarnation, .. } => {
                if let Ok(mut times) = self.timers.lock() {
                    times.incarnation = incarnation;
                    times.served.clear();
                    times.last_fired.clear();
                    times.last_due.clear();
                }
                return;
            }
        };
        if let Ok(mut o) = self.outputs.lock() {
            self.keep(&mut o, output);
        }
    }
}

/// Replays one actor of type `A`; see the module docs.
pub struct Replay<A: Actor> {
    args: A::Args,
    feeds: HashMap<String, Feed<A>>,
    encoders: HashMap<TypeId, Encode>,
}

/// The name a recording gives type `T`: its own name without its path, generic arguments
/// kept (`Published<mycelium_contracts::Quote>`).
pub(crate) fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.find('<').unwrap_or(full.len());
    let start = full[..base].rfind("::").map_or(0, |i| i + 2);
    &full[start..]
}

pub(crate) fn sent_how(kind: Kind, asked: bool) -> &'static str {
    match (kind, asked) {
        (Kind::Published, _) => "published",
        (_, true) => "asked",
        _ => "sent",
    }
}

pub(crate) fn encode_json<R: serde::Serialize + 'static>(msg: &dyn Any, out: &mut Vec<u8>) -> bool {
    msg.downcast_ref::<R>()
        .is_some_and(|msg| serde_json::to_writer(out, msg).is_ok())
}

pub(crate) fn encode_contract<R: WireMessage + 'static>(msg: &dyn Any, out: &mut Vec<u8>) -> bool {
    let Some(msg) = msg.downcast_ref::<R>() else {
        return false;
    };
    msg.encode_body(out);
    true
}

/// Runs `work` with a buffer this thread keeps (emptied), so that encoding an output costs
/// no allocation of its own.
fn with_scratch<T>(work: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            work(&mut out)
        }
        // An encoder that records a message of its own while encoding: a buffer of its own.
        Err(_) => work(&mut Vec::new()),
    })
}

pub(crate) fn decode_contract<M: WireMessage>(record: &Record) -> Result<M, String> {
    if record.encoding != Encoding::Contract || record.type_id != M::TYPE_ID {
        return Err(format!(
            "it was recorded as {} of type id {}, not as contract message {}",
            record.encoding.name(),
            record.type_id,
            M::TYPE_ID
        ));
    }
    M::decode_body(&record.payload).map_err(|e| e.to_string())
}

impl<A: Actor> Replay<A> {
    /// Replays an actor started with `args`, with no input type known yet.
    pub fn new(args: A::Args) -> Self {
        Replay {
            args,
            feeds: HashMap::new(),
            encoders: HashMap::new(),
        }
    }

    fn feed<M, D>(mut self, decode: D, encode_reply: Encode) -> Self
    where
        A: Handler<M>,
        M: Send + 'static,
        D: Fn(&Record) -> Result<M, String> + Send + Sync + 'static,
    {
        let feed: Feed<A> = Box::new(move |actor, _, record| {
            let msg = decode(record);
            Box::pin(async move {
                let msg = msg.map_err(Refused::Decode)?;
                if record.asked {
                    // A failed ask is an output (captured as `failed`), not an error here.
                    match actor.ask(msg).await {
                        Err(AskError::Closed(_) | AskError::Stopped(_)) => Err(Refused::Stopped),
                        _ => Ok(()),
                    }
                } else {
                    actor.tell(msg).await.map_err(|_| Refused::Stopped)
                }
            })
        });
        self.feeds.insert(short_name::<M>().to_owned(), feed);
        self.encoders
            .insert(TypeId::of::<<A as Handler<M>>::Reply>(), encode_reply);
        self
    }

    /// Inputs of type `M` recorded as JSON (`Recording::serde`); answers to them are compared
    /// as JSON.
    pub fn serde<M>(self) -> Self
    where
        A: Handler<M>,
        M: serde::de::DeserializeOwned + Send + 'static,
        <A as Handler<M>>::Reply: serde::Serialize,
    {
        self.feed::<M, _>(
            |record| {
                if record.encoding != Encoding::Json {
                    return Err(format!(
                        "it was recorded as {}, not JSON",
                        record.encoding.name()
                    ));
                }
                serde_json::from_slice(&record.payload).map_err(|e| e.to_string())
            },
            encode_json::<<A as Handler<M>>::Reply>,
        )
    }

    /// Inputs of type `M`, a contract message (`Recording::contract`); answers to them are
    /// compared as JSON.
    pub fn contract<M>(self) -> Self
    where
        A: Handler<M>,
        M: WireMessage + Send + 'static,
        <A as Handler<M>>::Reply: serde::Serialize,
    {
        self.feed::<M, _>(
            decode_contract::<M>,
            encode_json::<<A as Handler<M>>::Reply>,
        )
    }

    /// Messages of type `M` the actor sends, asks or publishes, recorded as JSON
    /// (`Recording::serde`): compared with the recorded ones byte for byte. A sent type with
    /// no codec chosen here is compared by its type (and topic) alone.
    pub fn sends_serde<M: serde::Serialize + 'static>(mut self) -> Self {
        self.encoders.insert(TypeId::of::<M>(), encode_json::<M>);
        self
    }

    /// Messages of type `M`, a contract message, that the actor sends, asks or publishes
    /// (`Recording::contract`): compared with the recorded ones byte for byte.
    pub fn sends_contract<M: WireMessage + 'static>(mut self) -> Self {
        self.encoders
            .insert(TypeId::of::<M>(), encode_contract::<M>);
        self
    }

    /// Inputs of type `M`, a contract message asked for a contract reply: the answers are
    /// compared in the contract codec (record the reply type with `Recording::contract`).
    pub fn contract_ask<M>(self) -> Self
    where
        A: Handler<M>,
        M: WireMessage + Send + 'static,
        <A as Handler<M>>::Reply: WireMessage,
    {
        self.feed::<M, _>(
            decode_contract::<M>,
            encode_contract::<<A as Handler<M>>::Reply>,
        )
    }

    /// Publications of `M`, a contract message, that the actor handled as a subscriber
    /// (`Published<M>`, recorded with `Recording::published`): each is published again on
    /// the replay's bus, on its recorded topic, where the replayed actor's own subscription
    /// (made in its `on_start`, as live) takes it.
    pub fn published<M>(mut self) -> Self
    where
        A: Handler<Published<M>>,
        M: WireMessage + Send + Sync + 'static,
    {
        let feed: Feed<A> = Box::new(move |actor, bus, record| {
            let msg = decode_contract::<M>(record);
            Box::pin(async move {
                let msg = msg.map_err(Refused::Decode)?;
                let report = bus
                    .publish(&record.topic, msg)
                    .await
                    .map_err(|e| Refused::Decode(e.to_string()))?;
                if report.delivered > 0 {
                    Ok(())
                } else if !actor.is_alive() {
                    Err(Refused::Stopped)
                } else {
                    Err(Refused::Decode(format!(
                        "no subscription of the replayed actor takes it on topic `{}`",
                        record.topic
                    )))
                }
            })
        });
        self.feeds
            .insert(short_name::<Published<M>>().to_owned(), feed);
        self
    }

    /// Replays actor number `actor` of `journal` on `bus` (a virtual-time bus on a paused
    /// current-thread runtime, so that recorded bus times are reached at once).
    pub async fn run(
        &self,
        journal: &JournalReader,
        actor: u64,
        bus: &Bus,
        mode: ReplayMode,
    ) -> Result<ReplayReport, ReplayError> {
        // The recording, grouped: each input and the outputs recorded after it.
        let mut inputs: Vec<(Record, Vec<Output>)> = Vec::new();
        let mut readings = Readings::default();
        let mut gap = None;
        let mut cut = None;
        let mut restarted = std::collections::VecDeque::new();
        let mut started_at = None;
        let mut timers = TimerTimes::default();
        let mut incarnation = 0u32;
        let mut texts = Texts::default();
        let mut recorded_here = false;
        let mut refusals = Refusals::default();
        let mut records = journal.records();
        while let Some(record) = records.next_ref() {
            let record = record?;
            let its_own = record.actor.id == actor && record.actor.node == 0;
            recorded_here |=
                its_own && !matches!(record.kind, Kind::Gap | Kind::Cut | Kind::Resumed);
            if its_own {
                timers.saw(&record);
                refusals.see(record.kind, record.asked, record.payload, inputs.len());
            }
            match record.kind {
                Kind::Gap => {
                    gap = record.gap();
                    break;
                }
                Kind::Cut => {
                    cut = cut_record(&record);
                    break;
                }
                // Another run: a replay covers the one before it.
                Kind::Resumed => break,
                _ if record.actor.id != actor || record.actor.node != 0 => {}
                Kind::TimerFired => {
                    timers.add(incarnation, &record, inputs.len());
                }
                Kind::Handled => {
                    timers.add(incarnation, &record, inputs.len());
                    let first = match record.origin {
                        Origin::Timer { .. } if timers.leftovers.contains(&record.seq) => {
                            Vec::new()
                        }
                        Origin::Timer { id } => vec![Output::Timer {
                            name: texts.get(record.name),
                            timer: id,
                            time_ns: record.time_ns,
                        }],
                        _ => Vec::new(),
                    };
                    inputs.push((record.to_record(), first));
                    readings.by_input.push(VecDeque::new());
                }
                Kind::Restarted => {
                    restarted.push_back(Duration::from_nanos(record.time_ns));
                    incarnation = incarnation.saturating_add(1);
                }
                Kind::Started => started_at = Some(Duration::from_nanos(record.time_ns)),
                Kind::ClockRead | Kind::Seeded => readings.add(&record),
                Kind::Replied => {
                    if let Some((_, outputs)) = inputs.last_mut() {
                        outputs.push(Output::Replied {
                            name: texts.get(record.name),
                            payload: record.payload.to_vec(),
                        });
                    }
                }
                Kind::Sent | Kind::Published => {
                    if let Some((_, outputs)) = inputs.last_mut() {
                        outputs.push(Output::Sent {
                            how: sent_how(record.kind, record.asked),
                            name: texts.get(record.name),
                            topic: texts.get(record.topic),
                            payload: (record.encoding != Encoding::Empty)
                                .then(|| record.payload.to_vec()),
                        });
                    }
                }
                Kind::Failed | Kind::Stopped => {
                    if let Some((_, outputs)) = inputs.last_mut() {
                        outputs.extend(lifecycle_output(record.kind, record.payload));
                    }
                }
                _ => {}
            }
        }
        let deleted = journal.deleted_before().filter(|_| started_at.is_none());
        if !recorded_here || deleted.is_some() {
            // An error's path: the records up to the gap or cut, read again.
            let read: Vec<Record> = journal
                .records()
                .map_while(Result::ok)
                .take_while(|r| !matches!(r.kind, Kind::Gap | Kind::Cut | Kind::Resumed))
                .collect();
            let recorded = started_actors(&read);
            return Err(match deleted {
                Some(first_seq) => ReplayError::StartDeleted {
                    actor,
                    first_seq,
                    recorded,
                },
                None => ReplayError::NoSuchActor { actor, recorded },
            });
        }
        let cut = cut_short(journal, cut, records.cut(), gap.is_some());
        if cut.is_some() {
            // What the last input made after the cut is lost: compare what was recorded.
            if let Some((_, outputs)) = inputs.last_mut() {
                outputs.push(Output::CutShort);
            }
        }
        // A firing an ended incarnation left queued is fed, as an input from outside.
        let leftovers = timers.leftovers.clone();
        let timed =
            |r: &Record| matches!(r.origin, Origin::Timer { .. }) && !leftovers.contains(&r.seq);
        let fed = inputs
            .iter()
            .filter(|(r, _)| !timed(r))
            .map(|(r, _)| r.seq)
            .collect();
        // The recorded outputs go to the capture, which compares as the actor goes.
        let recorded = inputs
            .iter_mut()
            .map(|(_, outputs)| std::mem::take(outputs))
            .collect();
        let capture = Arc::new(Capture {
            encoders: std::sync::RwLock::new(self.encoders.clone()),
            received: false,
            outputs: Mutex::new(Vec::new()),
            following: Some(Following::new(recorded)),
            inputs: Some(Mutex::new(InputCursor {
                fed,
                current: NOT_RECORDED,
            })),
            readings: Mutex::new(readings),
            timers: Mutex::new(timers),
            handled: Arc::default(),
            halt_after: std::sync::OnceLock::new(),
            firings: None,
            order: None,
            timers_end: None,
            members: std::sync::OnceLock::new(),
            refusals,
            epoch: std::sync::OnceLock::new(),
        });
        let (started, on_started) = tokio::sync::oneshot::channel();
        let restarts = crate::restarts::Restarts::new(restarted, bus.clock().now());
        let mut options = SpawnOptions::new()
            .record(capture.clone())
            .on_started(started);
        if let Some(restarts) = &restarts {
            options = options.supervised_by(restarts.clone());
        }
        if let Some(at) = started_at {
            // Started when it started live: its `on_start` timers then fire as recorded.
            options = options.start_at(at);
        }
        let replayed = bus
            .spawn_with::<A>(self.args.clone(), options)
            .map_err(|e| ReplayError::Spawn(e.to_string()))?;
        if let Some(restarts) = &restarts {
            restarts.attach(replayed.handle());
        }
        // Its subscriptions are made in `on_start`: a publication fed before would be lost.
        let _ = on_started.await;
        let mut report = ReplayReport {
            actor,
            cut,
            ..ReplayReport::default()
        };
        let start = tokio::time::Instant::now() - bus.clock().now();
        let _ = capture.epoch.set(start);
        let shown = Shown::of(journal);
        let describe = |r: &Record| shown.input(r);
        let mut compared = 0;
        // How many inputs come before the next fed one's last input the actor sent itself
        // (by a timer or a tell) before it.
        let mut timed_before = 0;
        for (i, (record, _)) in inputs.iter().enumerate() {
            let own = match record.origin {
                Origin::Timer { .. } => timed(record),
                Origin::Actor(from) => from.node == 0 && from.id == actor,
                _ => false,
            };
            if own {
                // The replayed actor's own timer, or its own handler, sends it again (on
                // virtual time), and that send is compared.
                tokio::time::sleep_until(start + Duration::from_nanos(record.time_ns)).await;
                report.inputs += 1;
                timed_before = i + 1;
                continue;
            }
            let Some(feed) = self.feeds.get(&record.name) else {
                return Err(ReplayError::Input {
                    seq: record.seq,
                    name: record.name.clone(),
                    reason: no_decoder(
                        leftovers.contains(&record.seq),
                        "Replay::serde or Replay::contract",
                    ),
                });
            };
            if record.encoding == Encoding::Empty {
                return Err(ReplayError::Input {
                    seq: record.seq,
                    name: record.name.clone(),
                    reason: "it was recorded without its payload (no codec was chosen for it)"
                        .to_owned(),
                });
            }
            tokio::time::sleep_until(start + Duration::from_nanos(record.time_ns)).await;
            // What it sent itself before it, due by now, comes first (the fed inputs before
            // it are in its mailbox already).
            capture.handled.until(timed_before, TURN_ROUNDS).await;
            match feed(&replayed, bus, record).await {
                Ok(()) => {}
                Err(Refused::Decode(reason)) => {
                    return Err(ReplayError::Input {
                        seq: record.seq,
                        name: record.name.clone(),
                        reason,
                    })
                }
                Err(Refused::Stopped) => {
                    // Everything before it compares first; then this input, never handled.
                    self.compare(&inputs, &capture, compared, i, &mut report, &shown);
                    let reason = replayed
                        .stop_reason()
                        .map_or_else(|| "stopped".to_owned(), |r| r.to_string());
                    report.differences.push(Difference {
                        input: i as u64,
                        seq: record.seq,
                        time_ns: record.time_ns,
                        message: describe(record),
                        recorded: shown.outputs(capture.recorded(i)),
                        now: format!("not handled: the replayed actor had stopped ({reason})"),
                        before: before(&inputs, i, &describe),
                        recorded_outputs: shown.lines(capture.recorded(i)),
                        now_outputs: Vec::new(),
                    });
                    report.inputs += 1;
                    if mode == ReplayMode::StopAtFirst {
                        report.differences.truncate(1);
                    }
                    return Ok(report);
                }
            }
            report.inputs += 1;
            if mode == ReplayMode::StopAtFirst {
                // The outputs of an input are all in once a later input is being handled:
                // the actor handles one message at a time, in order.
                let started = capture.outputs.lock().map_or(0, |o| o.len());
                let complete = started.saturating_sub(1).min(i);
                if complete > compared {
                    self.compare(&inputs, &capture, compared, complete, &mut report, &shown);
                    compared = complete;
                }
                if !report.differences.is_empty() {
                    replayed.kill();
                    return Ok(report);
                }
            }
        }
        // A timer due at the last input's time, woken with this task, sends its message
        // before the actor is stopped: every task ready now runs before this one again.
        if let Some((
            Record {
                origin: Origin::Timer { .. },
                ..
            },
            _,
        )) = inputs.last()
        {
            tokio::task::yield_now().await;
        }
        // Once it has begun its last recorded input it is stopped after that input (what it
        // told itself beyond the recording is not handled, as it was not live, and a chain of
        // such messages would never drain). One behind (changed) handles what it was fed.
        capture
            .handled
            .until_settled(inputs.len(), TURN_ROUNDS, SETTLE)
            .await;
        if capture.handled.count() >= inputs.len() {
            if let Some(restarts) = &restarts {
                // A restart the recording ended on (a killed run) is not made.
                restarts.finish();
            }
            replayed.stop();
        } else {
            replayed.drain_and_stop().await;
        }
        replayed.wait_for_stop().await;
        self.compare(
            &inputs,
            &capture,
            compared,
            inputs.len(),
            &mut report,
            &shown,
        );
        if mode == ReplayMode::StopAtFirst {
            report.differences.truncate(1);
        }
        if let Some(gap) = gap {
            if report.differences.is_empty() {
                return Err(ReplayError::Gap {
                    at: gap.source,
                    first: gap.first,
                    count: gap.count,
                    inputs: report.inputs,
                });
            }
        }
        Ok(report)
    }

    /// Compares the outputs of inputs `from..to` (what the capture did not match as the
    /// actor went).
    fn compare(
        &self,
        inputs: &[(Record, Vec<Output>)],
        capture: &Capture,
        from: usize,
        to: usize,
        report: &mut ReplayReport,
        shown: &Shown,
    ) {
        let describe = |r: &Record| shown.input(r);
        // Only the inputs compared now: a replay compares as it goes. Compared where they
        // are (an input may have made thousands of outputs), under the capture's lock, which
        // nothing here waits for anything while holding: an actor recording meanwhile (a
        // foreign one, on its host thread) waits for the comparison.
        let Some(following) = &capture.following else {
            return;
        };
        let captured = capture.outputs.lock().unwrap_or_else(|e| e.into_inner());
        let none = Vec::new();
        for i in from..to {
            let record = &inputs[i].0;
            let recorded = capture.recorded(i);
            let kept = captured.get(i).unwrap_or(&none);
            if !following.same(i, kept) {
                let now = following.made(i, kept);
                report.differences.push(Difference {
                    input: i as u64,
                    seq: record.seq,
                    time_ns: record.time_ns,
                    message: describe(record),
                    recorded: shown.outputs(recorded),
                    now: shown.outputs(&now),
                    before: before(inputs, i, &describe),
                    recorded_outputs: shown.lines(recorded),
                    now_outputs: shown.lines(&now),
                });
            }
        }
    }
}

/// Why an input cannot be fed: no decoder for its type (`choose`: the calls that choose
/// one); `leftover` for a timer's firing that a failed incarnation left queued.
pub(crate) fn no_decoder(leftover: bool, choose: &str) -> String {
    let why = if leftover {
        "it is a timer's message the incarnation before a restart left in the mailbox and the \
         restarted one handled, which the replay feeds (the replayed incarnation ends before \
         that timer fires); "
    } else {
        ""
    };
    format!("{why}no decoder was chosen for its type ({choose})")
}

/// What a cut record says, for a report.
pub(crate) fn cut_record(record: &RecordRef<'_>) -> Option<String> {
    record.cut().map(|c| format!("{c} (record {})", record.seq))
}

/// What cut a recording short, if anything did: a cut record met (`at_record`), a cut at the
/// journal's end, or a journal its writer never closed (not said after a gap, which a
/// replay does not cross anyway).
pub(crate) fn cut_short(
    journal: &JournalReader,
    at_record: Option<String>,
    at_end: Option<crate::record::Cut>,
    gap: bool,
) -> Option<String> {
    at_record
        .or_else(|| at_end.map(|c| format!("the journal ends in a crash's cut: {c}")))
        .or_else(|| {
            (!gap && !journal.closed()).then(|| {
                "the journal was not closed (its writer was killed, or still writes): what the \
                 last input made may be missing"
                    .to_owned()
            })
        })
}

/// The three inputs before input `i`, described.
pub(crate) fn before(
    inputs: &[(Record, Vec<Output>)],
    i: usize,
    describe: &dyn Fn(&Record) -> String,
) -> Vec<String> {
    inputs[i.saturating_sub(3)..i]
        .iter()
        .map(|(r, _)| format!("record {}: {}", r.seq, describe(r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Begins one more input every `every` yields, `inputs` times: an actor whose handlers
    /// run slower than the replay's rounds (a foreign actor on a loaded machine).
    async fn slow_actor(handled: Arc<Handled>, inputs: usize, every: usize) {
        for _ in 0..inputs {
            for _ in 0..every {
                tokio::task::yield_now().await;
            }
            handled.add();
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_wait_to_settle_goes_on_while_the_actor_makes_progress() {
        let handled = Arc::new(Handled::default());
        let actor = tokio::spawn(slow_actor(handled.clone(), 5, 50));
        // Ten rounds without progress, but never the stall: five inputs, fifty rounds apart.
        handled
            .until_settled(5, 10, Duration::from_secs(3600))
            .await;
        assert_eq!(handled.count(), 5);
        actor.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_wait_to_settle_gives_up_once_the_actor_stalls() {
        let handled = Arc::new(Handled::default());
        let actor = tokio::spawn(slow_actor(handled.clone(), 1, 5));
        // One input comes; the second never does: ten idle rounds past a stall of zero.
        handled.until_settled(2, 10, Duration::ZERO).await;
        assert_eq!(handled.count(), 1);
        actor.await.unwrap();
    }

    #[test]
    fn a_report_keeps_each_output_on_its_line() {
        let report = ReplayReport {
            actor: 3,
            inputs: 1,
            cut: None,
            differences: vec![Difference {
                input: 0,
                seq: 5,
                time_ns: 0,
                message: "Order".into(),
                recorded: "nothing".into(),
                now: "failed: order 5,\n qty 60".into(),
                before: Vec::new(),
                recorded_outputs: Vec::new(),
                now_outputs: vec!["failed: order 5,\n qty 60".into()],
            }],
        };
        let text = report.to_string();
        assert!(
            text.contains("+ now:      failed: order 5,\\n qty 60\n"),
            "{text}"
        );
        // The CSV keeps the text as it is.
        assert!(report.to_csv().contains("order 5,\n qty 60"));
    }

    /// A few outputs that match, differ, or match only without a payload; stops ended from
    /// outside or not; a cut.
    fn output() -> impl Strategy<Value = Output> {
        prop_oneof![
            (0u8..3, proptest::option::of(0u8..2)).prop_map(|(n, p)| Output::Sent {
                how: "sent",
                name: format!("M{n}").into(),
                topic: "".into(),
                payload: p.map(|p| vec![p]),
            }),
            prop_oneof![
                // Stops that ended the run from outside are no outputs.
                Just("failed: x"),
                Just("restarting")
            ]
            .prop_map(|r| Output::Stopped(r.to_owned())),
            Just(Output::Failed("boom".to_owned())),
        ]
    }

    /// The comparison of whole outputs, written plainly: what `same` and `Following::same`
    /// must agree with.
    fn whole(recorded: &[Output], now: &[Output]) -> bool {
        let (recorded, now) = match recorded.split_last() {
            Some((Output::CutShort, before)) => (before, &now[..now.len().min(before.len())]),
            _ => (recorded, now),
        };
        recorded.len() == now.len() && recorded.iter().zip(now).all(|(r, n)| same_output(r, n))
    }

    /// A capture that serves the firings of timer 0 recorded as `(due, fired, handled)`, in
    /// microseconds of bus time, each handled as the actor's next input.
    fn serving(firings: &[(u64, u64, u64)]) -> Capture {
        let mut timers = TimerTimes::default();
        for (i, &(due, fired, handled)) in firings.iter().enumerate() {
            let fired = timer_record(2 * i as u64, Kind::TimerFired, fired, schedule(due, 1_000));
            let handled = timer_record(2 * i as u64 + 1, Kind::Handled, handled, Vec::new());
            for r in [&fired, &handled] {
                timers.saw(&r.borrowed());
                timers.add(0, &r.borrowed(), i);
            }
        }
        bare(timers, None)
    }

    /// A record of the actor's timer 0 (or of its life, for kinds without an origin), at
    /// `at` microseconds of bus time.
    fn timer_record(seq: u64, kind: Kind, at: u64, payload: Vec<u8>) -> Record {
        Record {
            seq,
            kind,
            time_ns: at * 1_000,
            actor: crate::ActorAddr { node: 0, id: 1 },
            origin: Origin::Timer { id: 0 },
            cause: None,
            asked: false,
            type_id: 0,
            name: "Tick".into(),
            topic: String::new(),
            encoding: Encoding::Journal,
            payload,
        }
    }

    /// A `timer-fired` record's payload: deadline and period, in microseconds.
    fn schedule(due: u64, every: u64) -> Vec<u8> {
        [(due * 1_000).to_le_bytes(), (every * 1_000).to_le_bytes()].concat()
    }

    /// A `refused` record's text: a tell's refusal, or a `tell_many`'s with how many came
    /// back, as the recorder writes it; any other text is no refusal (not served).
    #[test]
    fn refused_texts_read_back_and_others_are_none() {
        let read = |t: &str| parse_refused(t).map(|r| (r.refusal, r.handed_back));
        assert_eq!(read("full"), Some((Refusal::Full, None)));
        assert_eq!(read("stopped"), Some((Refusal::Stopped, None)));
        assert_eq!(
            read(&many_refused_text(2, 5)),
            Some((Refusal::Stopped, Some(2)))
        );
        for other in [
            "",
            "gone",
            "stopped: 2",
            "stopped: x of 5 came back",
            "full: 2 of",
        ] {
            assert_eq!(read(other), None, "{other:?}");
        }
    }

    /// A restarted actor's `on_start` set a 3 ms timer at 4.5 ms and ran on until its
    /// `restarted` record at 8 ms (a Python start, slow). The replay restarts it at 8 ms, so
    /// its timer's first deadline is 11 ms, 3.5 ms after the recorded 7.5 ms: still the
    /// recorded firing, as for a first start whose `started` record came that late.
    #[test]
    fn a_timer_set_by_a_slow_restart_is_served_its_recorded_first_firing() {
        let us = Duration::from_micros;
        let mut timers = TimerTimes::default();
        let records = [
            (timer_record(0, Kind::Started, 0, Vec::new()), 0),
            (timer_record(1, Kind::Failed, 1_000, Vec::new()), 0),
            (timer_record(2, Kind::Stopped, 1_100, Vec::new()), 0),
            (timer_record(3, Kind::Restarted, 8_000, Vec::new()), 1),
            (
                timer_record(4, Kind::TimerFired, 7_600, schedule(7_500, 3_000)),
                1,
            ),
            (timer_record(5, Kind::Handled, 8_100, Vec::new()), 1),
        ];
        for (r, incarnation) in &records {
            timers.saw(&r.borrowed());
            timers.add(*incarnation, &r.borrowed(), 0);
        }
        timers.incarnation = 1;
        let capture = bare(timers, None);
        assert_eq!(
            capture.recorded_firing(0, us(11_000), Duration::from_millis(3)),
            TimerDue {
                at: us(7_600),
                due: us(7_500)
            }
        );
    }

    /// A capture of an actor replayed alone, with `timers` and `following`.
    fn bare(timers: TimerTimes, following: Option<Following>) -> Capture {
        Capture {
            encoders: std::sync::RwLock::new(HashMap::new()),
            received: false,
            outputs: Mutex::new(Vec::new()),
            following,
            inputs: None,
            readings: Mutex::new(Readings::default()),
            timers: Mutex::new(timers),
            handled: Arc::default(),
            halt_after: std::sync::OnceLock::new(),
            firings: None,
            order: None,
            timers_end: None,
            members: std::sync::OnceLock::new(),
            refusals: Refusals::default(),
            epoch: std::sync::OnceLock::new(),
        }
    }

    /// A live 1 ms timer fired its 2 ms deadline at 2.95 ms, and its tell of the message
    /// took it past 3 ms, so it skipped to 4 ms. The replay's clock stood at 4 ms or later
    /// after that firing (waiting for the inputs handled before it live), so its own
    /// schedule says 5 ms next: the recorded 4 ms firing is still the one it serves.
    #[test]
    fn a_timer_that_fell_behind_live_is_served_each_recorded_firing() {
        let us = Duration::from_micros;
        let every = Duration::from_millis(1);
        let capture = serving(&[
            (1_000, 1_100, 1_150),
            (2_000, 2_950, 3_000),
            (4_000, 4_100, 4_150),
        ]);
        let served = |due| capture.recorded_firing(0, us(due), every);
        assert_eq!(
            served(1_000),
            TimerDue {
                at: us(1_100),
                due: us(1_000)
            }
        );
        assert_eq!(
            served(2_000),
            TimerDue {
                at: us(2_950),
                due: us(2_000)
            }
        );
        assert_eq!(
            served(5_000),
            TimerDue {
                at: us(4_100),
                due: us(4_000)
            }
        );
    }

    proptest! {
        /// Comparing as the actor goes says what comparing the whole outputs at the end says:
        /// an input's outputs made one by one, matched or kept, then judged.
        #[test]
        fn comparing_as_the_actor_goes_agrees_with_comparing_at_the_end(
            recorded in proptest::collection::vec(output(), 0..6),
            cut in any::<bool>(),
            made in proptest::collection::vec(output(), 0..7),
        ) {
            let mut recorded = recorded;
            if cut {
                recorded.push(Output::CutShort);
            }
            let capture = bare(
                TimerTimes::default(),
                Some(Following::new(vec![recorded.clone()])),
            );
            capture.outputs.lock().unwrap().push(Vec::new());
            for output in made.clone() {
                let mut outputs = capture.outputs.lock().unwrap();
                capture.keep(&mut outputs, output);
            }
            let kept = capture.outputs.lock().unwrap()[0].clone();
            let following = capture.following.as_ref().unwrap();
            let expected = whole(&recorded, &made);
            prop_assert_eq!(same(&recorded, &made), expected);
            prop_assert_eq!(following.same(0, &kept), expected);
            // What a report shows as made: the same outputs, the matched ones as recorded.
            let shown = following.made(0, &kept);
            prop_assert_eq!(shown.len(), made.len());
            prop_assert!(shown.iter().zip(&made).all(|(s, m)| same_output(s, m)));
        }
    }
}

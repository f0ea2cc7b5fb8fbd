//! The flight recorder's journal: an append-only directory of checksummed segments that
//! records what actors handle and do, and reads it back, refusing anything damaged.
//!
//! ```
//! use mycelium_journal::{
//!     ActorAddr, Encoding, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter,
//!     Kind, Origin,
//! };
//!
//! let dir = tempfile::tempdir().unwrap();
//! let options = JournalOptions::new(JournalSchema::none()).node("gateway");
//! let journal = JournalWriter::open(dir.path(), options).unwrap();
//! let strategy = ActorAddr { node: 0, id: 3 };
//! journal
//!     .append(&Entry {
//!         origin: Origin::Actor(ActorAddr { node: 0, id: 1 }),
//!         name: "Tick",
//!         encoding: Encoding::Json,
//!         payload: br#"{"px":101.5}"#,
//!         ..Entry::new(Kind::Handled, 1_000_000, strategy)
//!     })
//!     .unwrap();
//! journal.close().unwrap();
//!
//! let reader = JournalReader::open(dir.path()).unwrap();
//! assert_eq!(reader.header().node, "gateway");
//! let records: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
//! assert_eq!(records[0].payload_text(), Some(r#"{"px":101.5}"#));
//! ```
//!
//! - A journal is a directory of **segments** (`00000000000000000001.journal`, ...), each a
//!   header (magic, version, numbering, node name, schema digest and canonical schema text)
//!   and records, with a side **index** (`.index`) of points for seeking by bus time.
//! - Each **record** has a frame head with its length and two CRC-32 checksums (of the head
//!   and of the body); the body holds its kind, sequence number, bus time, actor, origin,
//!   cause, type and topic names, and the payload.
//! - [`JournalWriter`] appends from any thread into a shared batch; its own thread writes
//!   whole batches, rotates segments by size or age and deletes old ones by total size or
//!   age. What happens when it falls behind is [`WhenBehind`].
//! - [`JournalReader`] returns records in order. A record that fails a check is never
//!   returned: the iteration ends with [`JournalError::Corrupt`] naming the segment and the
//!   byte offset. A journal cut by a crash (`kill -9`) reads back to its last whole record,
//!   and [`Records::cut`] says what was cut.
//!
//! - [`Recording`] records actors into a journal: hand it to `SpawnOptions::record` and each
//!   message the actor handles (with its origin), what it sends, asks, publishes and
//!   answers, the answers to its own asks, its timers' firings, its clock readings, and its
//!   starts and failures become records.
//! - [`Replay`] replays one recorded actor and [`ReplaySet`] several (or a whole bus) on a
//!   virtual-time bus, reporting the first difference or every one; [`RecordedAnswers`]
//!   serves a replayed actor the answers its asks got live; [`set_replayer`] names
//!   the program that `mycelium-journal replay` runs for a journal.
//!
//! The byte layout is specified in `docs/journal.md`.

#![warn(missing_docs)]

mod answers;
pub mod contract_json;
mod diff;
mod error;
mod frame;
mod header;
mod index;
mod reader;
mod record;
mod recording;
mod replay;
mod replay_set;
mod replayer;
mod restarts;
mod segment;
mod shown;
mod writer;

pub use answers::{AnswersByInput, NoAnswer, RecordedAnswers};
pub use diff::{diff, EventDifference, JournalDiff};
pub use error::JournalError;
pub use header::{JournalSchema, SegmentHeader, MAGIC, MAX_SCHEMA_TEXT, VERSION};
pub use index::IndexEntry;
pub use reader::{JournalReader, Records, RunInfo, RunStart, SegmentInfo};
pub use record::{ActorAddr, Cut, Encoding, Entry, Gap, Kind, Origin, Record, RecordRef};
pub use recording::{Described, Recorded, RecordedType, Recording, UnrecordedTypes};
pub use replay::{
    Difference, Halt, Replay, ReplayError, ReplayMode, ReplayReport, SHOWN_CHARS, SHOWN_OUTPUTS,
};
pub use replay_set::{
    queue_ask, FeedHosted, FeedRefused, Hosted, ReplayRecorder, ReplaySet, SetReport, StopHosted,
    StopWhen,
};
pub use replayer::{replayer, set_replayer, REPLAYER_FILE};
pub use segment::{index_path, segment_path, INDEX_EXT, SEGMENT_EXT};
pub use shown::ShowPayload;
pub use writer::{Appended, JournalOptions, JournalWriter, WhenBehind, WriterStats, WRITER_SOURCE};

/// The largest record (frame head and body) a journal holds: 16 MiB.
pub const MAX_RECORD: usize = 16 << 20;

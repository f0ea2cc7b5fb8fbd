//! The journal writer: callers append records into a shared batch; one thread of the
//! writer's own takes whole batches, checksums them and writes them to the current segment,
//! rotating segments and applying retention.
//!
//! A caller (an actor's thread) does the least it can: it encodes the record into the batch
//! under one short lock. Checksums, file writes, rotation and deletion happen on the writer
//! thread, which is woken rarely: by the first record after it went idle, then by the record
//! that brings the batch to 256 KiB, or by its own timer once the first record has
//! waited [`JournalOptions::linger`]; [`JournalWriter::flush`] and [`JournalWriter::close`]
//! wake it at once. A wake-up is a system call for the caller and a chance for the scheduler
//! to run another thread in its place, so a wake-up per few records would cost more than the
//! records' encoding.
//!
//! **When the writer falls behind** (the batch holds [`JournalOptions::buffer_bytes`]), the
//! policy decides ([`WhenBehind`]): `Block` makes the caller wait for room, so nothing is
//! lost and the recorded program slows to the disk's pace; `DropAndRecordGap` drops the
//! record at once and, before the next record that fits, writes a [`Kind::Gap`] record with
//! the range of sequence numbers lost, which replay refuses to cross.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::JournalError;
use crate::frame::{self, Frame};
use crate::header::{JournalSchema, SegmentHeader, MAX_SCHEMA_TEXT};
use crate::index::{IndexEntry, INDEX_MAGIC};
use crate::record::{self, ActorAddr, Cut, Encoding, Entry, Kind, Origin};
use crate::segment;

/// The name a gap record gives as its source when the writer dropped records.
pub const WRITER_SOURCE: &str = "journal writer";

/// What an append does when the writer has fallen behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenBehind {
    /// Wait for room: nothing is lost; the recorded program waits for the disk.
    #[default]
    Block,
    /// Drop the record and write a [`Kind::Gap`] record for the lost range before the next
    /// record that fits.
    DropAndRecordGap,
}

/// How a journal is written.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    schema: JournalSchema,
    node: String,
    segment_bytes: u64,
    segment_age: Option<Duration>,
    retain_bytes: Option<u64>,
    retain_age: Option<Duration>,
    buffer_bytes: usize,
    when_behind: WhenBehind,
    index_every: u64,
    sync: bool,
    linger: Duration,
}

/// The batch size at which an append wakes a writer thread that waits out its linger.
pub(crate) const WAKE_BYTES: usize = 256 << 10;

impl JournalOptions {
    /// Defaults: 64 MiB segments, no age limit, no retention limit, an 8 MiB batch, `Block`
    /// when behind, an index point every 64 KiB, no `fsync`, a linger of 1 ms.
    pub fn new(schema: JournalSchema) -> Self {
        JournalOptions {
            schema,
            node: String::new(),
            segment_bytes: 64 << 20,
            segment_age: None,
            retain_bytes: None,
            retain_age: None,
            buffer_bytes: 8 << 20,
            when_behind: WhenBehind::Block,
            index_every: 64 << 10,
            sync: false,
            linger: Duration::from_millis(1),
        }
    }

    /// How long the writer thread lets a record wait in the batch for others before it
    /// writes them, unless the batch reaches 256 KiB (or half of
    /// [`buffer_bytes`](Self::buffer_bytes), if smaller) first: the most a record stays in
    /// memory after its `append` while the writer keeps up, so the most a `kill -9` can take
    /// of what was appended (`flush` does not wait for it). Zero wakes the writer at every
    /// record that finds it idle.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The recording node's name, kept in every segment header.
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = name.into();
        self
    }

    /// Starts a new segment before one would grow past `bytes` (a segment holds at least
    /// one record, whatever its size).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1);
        self
    }

    /// Starts a new segment once the current one is `age` old (wall clock) and holds records.
    pub fn segment_age(mut self, age: Duration) -> Self {
        self.segment_age = Some(age);
        self
    }

    /// Deletes the oldest closed segments while the journal holds more than `bytes`.
    pub fn retain_bytes(mut self, bytes: u64) -> Self {
        self.retain_bytes = Some(bytes);
        self
    }

    /// Deletes closed segments created more than `age` ago (wall clock).
    pub fn retain_age(mut self, age: Duration) -> Self {
        self.retain_age = Some(age);
        self
    }

    /// How many bytes of records may wait for the writer thread before [`WhenBehind`]
    /// applies.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes.max(1);
        self
    }

    /// What an append does when the writer has fallen behind.
    pub fn when_behind(mut self, policy: WhenBehind) -> Self {
        self.when_behind = policy;
        self
    }

    /// Writes a time-index point at least every `bytes` bytes of a segment.
    pub fn index_every(mut self, bytes: u64) -> Self {
        self.index_every = bytes.max(1);
        self
    }

    /// `fsync`s each batch: the journal then survives a power loss up to its last batch, not
    /// only a crash of the process.
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }
}

/// What became of an appended record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Queued for the file with this sequence number.
    Queued(u64),
    /// Dropped under [`WhenBehind::DropAndRecordGap`]; a gap record will cover this number.
    Dropped(u64),
}

impl Appended {
    /// The record's sequence number.
    pub fn seq(self) -> u64 {
        match self {
            Appended::Queued(s) | Appended::Dropped(s) => s,
        }
    }
}

/// Counts of a writer's life, returned by [`JournalWriter::close`] and [`JournalWriter::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records written (gap and cut records included).
    pub records: u64,
    /// Records dropped under [`WhenBehind::DropAndRecordGap`].
    pub dropped: u64,
    /// Gap records written.
    pub gaps: u64,
    /// Bytes written to segments (headers included).
    pub bytes: u64,
    /// Segments created.
    pub segments: u64,
    /// Segments deleted by retention.
    pub deleted: u64,
    /// Times a caller waited for room under [`WhenBehind::Block`].
    pub waits: u64,
}

/// What the writer thread is doing, so that a caller wakes it only when it waits for them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Thread {
    /// Writing, or about to look at the batch: no wake-up needed.
    Busy,
    /// Waiting for a first record.
    Idle,
    /// Holding a small batch until it grows to the wake size or the linger ends.
    Lingering,
}

struct State {
    batch: Vec<u8>,
    thread: Thread,
    /// A `flush` waits: the writer thread writes what it holds without lingering.
    urgent: bool,
    /// Callers waiting on `room` (for room in the batch, or for their records' writing).
    room_waiters: usize,
    next_seq: u64,
    /// Sequence numbers below this are in the file (or reported lost).
    written: u64,
    lost: Option<(u64, u64, u64)>,
    closing: bool,
    failed: Option<String>,
    stats: WriterStats,
}

struct Shared {
    state: Mutex<State>,
    /// The writer thread waits here for records.
    work: Condvar,
    /// Callers wait here for room or for their records to be written.
    room: Condvar,
    buffer_bytes: usize,
    /// The batch size at which a lingering writer thread is woken.
    wake_bytes: usize,
    when_behind: WhenBehind,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held cannot leave the state half-changed: every update
        // under it is a push or a counter.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the writer thread busy and says whether it must be woken: it waits for records
    /// (idle), or lingers and `force` or a batch of the wake size calls it.
    fn must_wake(&self, state: &mut State, force: bool) -> bool {
        let wake = match state.thread {
            Thread::Busy => false,
            Thread::Idle => true,
            Thread::Lingering => force || state.batch.len() >= self.wake_bytes,
        };
        if wake {
            state.thread = Thread::Busy;
        }
        wake
    }

    /// Waits on `room`, counted so that the writer thread signals only when someone waits.
    fn wait_room<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        state.room_waiters += 1;
        let mut state = self.room.wait(state).unwrap_or_else(|p| p.into_inner());
        state.room_waiters -= 1;
        state
    }

    /// Wakes the callers waiting on `room`, if any (`state` is then released).
    fn release_room(&self, state: MutexGuard<'_, State>) {
        let waiters = state.room_waiters > 0;
        drop(state);
        if waiters {
            self.room.notify_all();
        }
    }
}

/// Appends records to a journal directory; cheap to clone, shared by every recording
/// thread. See the crate docs for an example.
#[derive(Clone)]
pub struct JournalWriter {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = close(&self.shared, &self.thread);
    }
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Opens the journal in `dir` for appending (creating the directory if needed) and starts
    /// its writer thread.
    ///
    /// An existing journal is continued in a new segment: its last segment is checked, and a
    /// tail that a crash cut inside a record is truncated and reported by a [`Kind::Cut`]
    /// record, the new segment's first; so is a journal whose writer never closed it (killed
    /// after a whole record), with no bytes cut. A journal of another node or schema, or a damaged
    /// last segment, is refused (nothing is changed).
    pub fn open(
        dir: impl AsRef<Path>,
        options: JournalOptions,
    ) -> Result<JournalWriter, JournalError> {
        let (writer, segments) = JournalWriter::prepare(dir.as_ref(), options)?;
        writer.start(segments)?;
        Ok(writer)
    }

    /// Opens the journal without starting the writer thread.
    fn prepare(
        dir: &Path,
        options: JournalOptions,
    ) -> Result<(JournalWriter, SegmentWriter), JournalError> {
        let dir = dir.to_owned();
        if options.node.len() > usize::from(u16::MAX) {
            return Err(JournalError::FieldTooLong {
                what: "node name",
                text: options.node.chars().take(40).collect(),
            });
        }
        if options.schema.canonical.len() > MAX_SCHEMA_TEXT {
            return Err(JournalError::RecordTooLarge {
                size: options.schema.canonical.len(),
                max: MAX_SCHEMA_TEXT,
            });
        }
        fs::create_dir_all(&dir).map_err(|e| JournalError::io("create", &dir, e))?;
        let resume = recover(&dir, &options)?;
        let mut file = SegmentFile::create(&dir, &options, resume.segment, resume.next_seq)?;
        let mut stats = WriterStats {
            segments: 1,
            bytes: file.len,
            ..WriterStats::default()
        };
        let mut next_seq = resume.next_seq;
        // A journal its writer closed, continued: a new run begins (a crash's cut says so
        // itself).
        let resumed = resume.cut.is_none() && resume.next_seq > 0;
        let cut = resume.cut.map(record::cut_payload);
        let first = match &cut {
            Some(payload) => Some(Entry {
                origin: Origin::Journal,
                encoding: Encoding::Journal,
                payload,
                ..Entry::new(Kind::Cut, 0, ActorAddr::default())
            }),
            None => resumed.then(|| Entry {
                origin: Origin::Journal,
                ..Entry::new(Kind::Resumed, 0, ActorAddr::default())
            }),
        };
        if let Some(entry) = first {
            let mut buf = Vec::new();
            push_frame(&mut buf, &entry, next_seq);
            next_seq += 1;
            let mut writer = SegmentWriter::new(dir.clone(), options.clone(), file);
            writer.write_batch(&mut buf, &mut stats)?;
            file = writer.file;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                batch: batch_buffer(options.buffer_bytes),
                // Until the thread starts: it looks at the batch before it first waits.
                thread: Thread::Busy,
                urgent: false,
                room_waiters: 0,
                next_seq,
                written: next_seq,
                lost: None,
                closing: false,
                failed: None,
                stats,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            buffer_bytes: options.buffer_bytes,
            wake_bytes: WAKE_BYTES.min(options.buffer_bytes / 2),
            when_behind: options.when_behind,
        });
        let writer = JournalWriter {
            inner: Arc::new(Inner {
                shared,
                thread: Mutex::new(None),
                dir: dir.clone(),
            }),
        };
        Ok((writer, SegmentWriter::new(dir, options, file)))
    }

    /// Starts the writer thread.
    fn start(&self, segments: SegmentWriter) -> Result<(), JournalError> {
        let shared = Arc::clone(&self.inner.shared);
        let thread = std::thread::Builder::new()
            .name("mycelium-journal".to_owned())
            .spawn(move || run(shared, segments))
            .map_err(|e| JournalError::io("start the writer thread for", &self.inner.dir, e))?;
        *self.inner.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(())
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Appends a record; returns its sequence number. Under [`WhenBehind::Block`] this waits
    /// while the writer is behind.
    pub fn append(&self, entry: &Entry<'_>) -> Result<Appended, JournalError> {
        record::check(entry)?;
        let size = frame::HEAD + record::body_len(entry);
        let shared = &self.inner.shared;
        let mut state = shared.lock();
        let mut waited = false;
        loop {
            if let Some(reason) = &state.failed {
                return Err(JournalError::WriterFailed(reason.clone()));
            }
            if state.closing {
                return Err(JournalError::Closed);
            }
            if state.batch.is_empty() || state.batch.len() + size <= shared.buffer_bytes {
                break;
            }
            match shared.when_behind {
                WhenBehind::Block => {
                    if !waited {
                        state.stats.waits += 1;
                        waited = true;
                    }
                    state.urgent = true;
                    if shared.must_wake(&mut state, true) {
                        shared.work.notify_one();
                    }
                    state = shared.wait_room(state);
                }
                WhenBehind::DropAndRecordGap => {
                    let seq = state.next_seq;
                    state.next_seq += 1;
                    state.stats.dropped += 1;
                    state.lost = Some(match state.lost {
                        Some((first, count, _)) => (first, count + 1, entry.time_ns),
                        None => (seq, 1, entry.time_ns),
                    });
                    return Ok(Appended::Dropped(seq));
                }
            }
        }
        push_lost(&mut state);
        let seq = state.next_seq;
        state.next_seq += 1;
        push_frame(&mut state.batch, entry, seq);
        let wake = shared.must_wake(&mut state, false);
        drop(state);
        if wake {
            shared.work.notify_one();
        }
        Ok(Appended::Queued(seq))
    }

    /// Waits until every record appended before the call is in the file (written with
    /// `write`, so it survives a crash of this process; with [`JournalOptions::sync`] also a
    /// power loss).
    pub fn flush(&self) -> Result<(), JournalError> {
        let shared = &self.inner.shared;
        let mut state = shared.lock();
        push_lost(&mut state);
        let target = state.next_seq;
        while state.written < target {
            if let Some(reason) = &state.failed {
                return Err(JournalError::WriterFailed(reason.clone()));
            }
            state.urgent = true;
            if shared.must_wake(&mut state, true) {
                shared.work.notify_one();
            }
            state = shared.wait_room(state);
        }
        Ok(())
    }

    /// The counts so far.
    pub fn stats(&self) -> WriterStats {
        self.inner.shared.lock().stats
    }

    /// Writes what is queued, closes the last segment (its index's closing entry) and stops
    /// the writer thread. Appends after this (from clones) fail with [`JournalError::Closed`].
    pub fn close(&self) -> Result<WriterStats, JournalError> {
        close(&self.inner.shared, &self.inner.thread)
    }
}

fn close(
    shared: &Shared,
    thread: &Mutex<Option<JoinHandle<()>>>,
) -> Result<WriterStats, JournalError> {
    {
        let mut state = shared.lock();
        push_lost(&mut state);
        state.closing = true;
        state.thread = Thread::Busy;
    }
    shared.work.notify_one();
    shared.room.notify_all();
    let handle = thread.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(handle) = handle {
        if handle.join().is_err() {
            let mut state = shared.lock();
            state
                .failed
                .get_or_insert_with(|| "the writer thread panicked".to_owned());
        }
    }
    let state = shared.lock();
    match &state.failed {
        Some(reason) => Err(JournalError::WriterFailed(reason.clone())),
        None => Ok(state.stats),
    }
}

/// Puts the gap record for records dropped so far into the batch.
fn push_lost(state: &mut State) {
    if let Some((first, count, time_ns)) = state.lost.take() {
        let payload = record::pair_payload(first, count);
        let entry = Entry {
            origin: Origin::Journal,
            name: WRITER_SOURCE,
            encoding: Encoding::Journal,
            payload: &payload,
            ..Entry::new(Kind::Gap, time_ns, ActorAddr::default())
        };
        // A gap record stands for the numbers it covers: it takes none of its own.
        push_frame(&mut state.batch, &entry, first);
        state.stats.gaps += 1;
    }
}

fn push_frame(buf: &mut Vec<u8>, entry: &Entry<'_>, seq: u64) {
    frame::open(buf, record::body_len(entry));
    record::encode_body(entry, seq, buf);
}

/// Where an opened journal continues.
struct Resume {
    segment: u64,
    next_seq: u64,
    cut: Option<Cut>,
}

/// Checks the last segment of an existing journal and truncates a tail cut by a crash.
fn recover(dir: &Path, options: &JournalOptions) -> Result<Resume, JournalError> {
    let numbers = segment::list(dir)?;
    let Some(&last) = numbers.last() else {
        return Ok(Resume {
            segment: 1,
            next_seq: 0,
            cut: None,
        });
    };
    let path = segment::segment_path(dir, last);
    let data = fs::read(&path).map_err(|e| JournalError::io("read", &path, e))?;
    let (header, header_len) = match SegmentHeader::decode(&path, &data) {
        Ok(h) => h,
        Err(JournalError::BadHeader { .. })
            if data.len() < crate::header::FIXED && numbers.len() > 1 =>
        {
            // Created, then cut before its header was whole: it holds no records. Continue
            // after the segment before it, which was closed whole before this one began.
            fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
            let _ = fs::remove_file(segment::index_path(dir, last));
            let mut resume = recover(dir, options)?;
            resume.cut = Some(Cut {
                segment: last,
                offset: 0,
                bytes: data.len() as u64,
            });
            return Ok(resume);
        }
        Err(e) => return Err(e),
    };
    if header.node != options.node || header.schema.digest != options.schema.digest {
        return Err(JournalError::Discontinuous {
            path,
            reason: format!(
                "it was written by node {:?} with schema {}; this writer is node {:?} with schema {} \
                 (write to another directory)",
                header.node,
                header.schema.digest_hex(),
                options.node,
                options.schema.digest_hex()
            ),
        });
    }
    let mut pos = header_len;
    let mut next_seq = header.first_seq;
    loop {
        match frame::read(&data[pos..]) {
            Frame::End => {
                // Ended at a whole record, but never closed: its writer was killed there, and
                // what its last input made may be cut short all the same.
                let closed =
                    crate::index::closes(&segment::index_path(dir, last), data.len() as u64);
                return Ok(Resume {
                    segment: last + 1,
                    next_seq,
                    cut: (!closed).then_some(Cut {
                        segment: last,
                        offset: pos as u64,
                        bytes: 0,
                    }),
                });
            }
            Frame::Torn => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| JournalError::io("open", &path, e))?;
                file.set_len(pos as u64)
                    .map_err(|e| JournalError::io("truncate", &path, e))?;
                return Ok(Resume {
                    segment: last + 1,
                    next_seq,
                    cut: Some(Cut {
                        segment: last,
                        offset: pos as u64,
                        bytes: (data.len() - pos) as u64,
                    }),
                });
            }
            Frame::Corrupt(reason) => {
                return Err(JournalError::Corrupt {
                    path,
                    offset: pos as u64,
                    reason: format!("{reason}; the journal is not continued over damage"),
                })
            }
            Frame::Record(body) => {
                let rec = record::decode_body(body).map_err(|reason| JournalError::Corrupt {
                    path: path.clone(),
                    offset: pos as u64,
                    reason,
                })?;
                next_seq = match rec.gap() {
                    Some(gap) => gap.first.saturating_add(gap.count),
                    None => rec.seq.saturating_add(1),
                };
                pos += frame::HEAD + body.len();
            }
        }
    }
}

/// The segment being written and its index.
struct SegmentFile {
    number: u64,
    data: File,
    index: File,
    path: PathBuf,
    index_path: PathBuf,
    opened: Instant,
    len: u64,
    records: u64,
    max_time: u64,
    last_index_at: Option<u64>,
}

impl SegmentFile {
    fn create(
        dir: &Path,
        options: &JournalOptions,
        number: u64,
        first_seq: u64,
    ) -> Result<SegmentFile, JournalError> {
        let created_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let header = SegmentHeader {
            segment: number,
            first_seq,
            created_unix_ns,
            node: options.node.clone(),
            schema: options.schema.clone(),
        };
        let path = segment::segment_path(dir, number);
        let index_path = segment::index_path(dir, number);
        let create = |p: &Path| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| JournalError::io("create", p, e))
        };
        let mut data = create(&path)?;
        let bytes = header.encode();
        data.write_all(&bytes)
            .map_err(|e| JournalError::io("write", &path, e))?;
        let mut index = create(&index_path)?;
        index
            .write_all(&INDEX_MAGIC)
            .map_err(|e| JournalError::io("write", &index_path, e))?;
        Ok(SegmentFile {
            number,
            data,
            index,
            path,
            index_path,
            opened: Instant::now(),
            len: bytes.len() as u64,
            records: 0,
            max_time: 0,
            last_index_at: None,
        })
    }
}

/// The writer thread's side: the current segment, rotation and retention.
struct SegmentWriter {
    dir: PathBuf,
    options: JournalOptions,
    file: SegmentFile,
    index_buf: Vec<u8>,
}

impl SegmentWriter {
    fn new(dir: PathBuf, options: JournalOptions, file: SegmentFile) -> Self {
        SegmentWriter {
            dir,
            options,
            file,
            index_buf: Vec::new(),
        }
    }

    fn aged(&self) -> bool {
        self.options
            .segment_age
            .is_some_and(|age| self.file.records > 0 && self.file.opened.elapsed() >= age)
    }

    /// Checksums and writes a batch of frames, rotating at record boundaries.
    fn write_batch(
        &mut self,
        batch: &mut [u8],
        stats: &mut WriterStats,
    ) -> Result<(), JournalError> {
        let mut run_start = 0;
        let mut pos = 0;
        while pos < batch.len() {
            let end = pos + frame::HEAD + frame::declared_len(&batch[pos..]);
            let size = (end - pos) as u64;
            if self.file.records > 0
                && (self.file.len + size > self.options.segment_bytes || self.aged())
            {
                self.write_run(&batch[run_start..pos])?;
                run_start = pos;
                self.rotate(seq_of(&batch[pos..end]), stats)?;
            }
            frame::seal(&mut batch[pos..end]);
            let due = self
                .file
                .last_index_at
                .is_none_or(|at| self.file.len - at >= self.options.index_every);
            if due {
                IndexEntry {
                    max_time_before: self.file.max_time,
                    seq: seq_of(&batch[pos..end]),
                    offset: self.file.len,
                    closing: false,
                }
                .encode(&mut self.index_buf);
                self.file.last_index_at = Some(self.file.len);
            }
            self.file.max_time = self.file.max_time.max(time_of(&batch[pos..end]));
            self.file.len += size;
            self.file.records += 1;
            stats.records += 1;
            stats.bytes += size;
            pos = end;
        }
        self.write_run(&batch[run_start..])?;
        if self.options.sync {
            self.file
                .data
                .sync_data()
                .map_err(|e| JournalError::io("sync", &self.file.path, e))?;
        }
        Ok(())
    }

    /// Writes data, then the index points that refer to it.
    fn write_run(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        self.file
            .data
            .write_all(bytes)
            .map_err(|e| JournalError::io("write", &self.file.path, e))?;
        if !self.index_buf.is_empty() {
            self.file
                .index
                .write_all(&self.index_buf)
                .map_err(|e| JournalError::io("write", &self.file.index_path, e))?;
            self.index_buf.clear();
        }
        Ok(())
    }

    /// Writes the closing index entry of the current segment.
    fn close_segment(&mut self, next_seq: u64) -> Result<(), JournalError> {
        IndexEntry {
            max_time_before: self.file.max_time,
            seq: next_seq,
            offset: self.file.len,
            closing: true,
        }
        .encode(&mut self.index_buf);
        self.write_run(&[])?;
        if self.options.sync {
            self.file
                .data
                .sync_data()
                .map_err(|e| JournalError::io("sync", &self.file.path, e))?;
        }
        Ok(())
    }

    fn rotate(&mut self, next_seq: u64, stats: &mut WriterStats) -> Result<(), JournalError> {
        self.close_segment(next_seq)?;
        let file = SegmentFile::create(&self.dir, &self.options, self.file.number + 1, next_seq)?;
        stats.bytes += file.len;
        stats.segments += 1;
        self.file = file;
        self.retain(stats)
    }

    /// Deletes the oldest closed segments beyond the retention limits.
    fn retain(&mut self, stats: &mut WriterStats) -> Result<(), JournalError> {
        if self.options.retain_bytes.is_none() && self.options.retain_age.is_none() {
            return Ok(());
        }
        let numbers = segment::list(&self.dir)?;
        let mut sizes = Vec::with_capacity(numbers.len());
        for &n in &numbers {
            let path = segment::segment_path(&self.dir, n);
            let meta = fs::metadata(&path).map_err(|e| JournalError::io("read", &path, e))?;
            sizes.push(meta.len());
        }
        let mut total: u64 = sizes.iter().sum();
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        for (i, &n) in numbers.iter().enumerate() {
            if n >= self.file.number {
                break;
            }
            let over_size = self.options.retain_bytes.is_some_and(|max| total > max);
            let too_old = match self.options.retain_age {
                Some(age) => {
                    let path = segment::segment_path(&self.dir, n);
                    match segment::read_header(&path) {
                        Ok((h, _, _)) => {
                            now_ns.saturating_sub(h.created_unix_ns) > age.as_nanos() as u64
                        }
                        Err(_) => false,
                    }
                }
                None => false,
            };
            if !over_size && !too_old {
                break;
            }
            let path = segment::segment_path(&self.dir, n);
            fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
            let _ = fs::remove_file(segment::index_path(&self.dir, n));
            total -= sizes[i];
            stats.deleted += 1;
        }
        Ok(())
    }
}

fn seq_of(frame: &[u8]) -> u64 {
    u64::from_le_bytes(
        frame[frame::HEAD + 4..frame::HEAD + 12]
            .try_into()
            .expect("8"),
    )
}

fn time_of(frame: &[u8]) -> u64 {
    u64::from_le_bytes(
        frame[frame::HEAD + 12..frame::HEAD + 20]
            .try_into()
            .expect("8"),
    )
}

/// The writer thread.
fn run(shared: Arc<Shared>, mut writer: SegmentWriter) {
    let mut spare = batch_buffer(writer.options.buffer_bytes);
    loop {
        let (mut batch, end_seq, closing) = {
            let mut state = shared.lock();
            // When the first record of the batch was seen waiting.
            let mut first_seen: Option<Instant> = None;
            loop {
                if state.closing || state.urgent || state.batch.len() >= shared.wake_bytes {
                    break;
                }
                if !state.batch.is_empty() {
                    let since = *first_seen.get_or_insert_with(Instant::now);
                    let left = writer.options.linger.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    state.thread = Thread::Lingering;
                    state = shared
                        .work
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    continue;
                }
                state.thread = Thread::Idle;
                match writer.options.segment_age {
                    Some(age) if writer.file.records > 0 => {
                        let left = age.saturating_sub(writer.file.opened.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        state = shared
                            .work
                            .wait_timeout(state, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    _ => state = shared.work.wait(state).unwrap_or_else(|p| p.into_inner()),
                }
            }
            state.thread = Thread::Busy;
            state.urgent = false;
            let batch = std::mem::replace(&mut state.batch, std::mem::take(&mut spare));
            let end_seq = state.lost.map_or(state.next_seq, |(first, _, _)| first);
            let closing = state.closing;
            // Room again for callers that wait under `Block`.
            shared.release_room(state);
            (batch, end_seq, closing)
        };
        let mut stats = WriterStats::default();
        let mut result = writer.write_batch(&mut batch, &mut stats);
        if result.is_ok() && batch.is_empty() && writer.aged() {
            result = writer.rotate(end_seq, &mut stats);
        }
        if result.is_ok() && closing {
            result = writer.close_segment(end_seq);
        }
        batch.clear();
        spare = batch;
        let mut state = shared.lock();
        add(&mut state.stats, stats);
        match result {
            Ok(()) => state.written = state.written.max(end_seq),
            Err(e) => {
                state.failed = Some(e.to_string());
                drop(state);
                shared.room.notify_all();
                return;
            }
        }
        let done = closing && state.batch.is_empty();
        shared.release_room(state);
        if done {
            return;
        }
    }
}

/// A batch buffer of the size a batch usually reaches, its pages touched now rather than by
/// the first records (a page fault each 4 KiB on the callers' threads).
fn batch_buffer(buffer_bytes: usize) -> Vec<u8> {
    let size = buffer_bytes.min(2 * WAKE_BYTES);
    let mut buffer = vec![0xff; size];
    buffer.clear();
    buffer
}

fn add(total: &mut WriterStats, more: WriterStats) {
    total.records += more.records;
    total.bytes += more.bytes;
    total.segments += more.segments;
    total.deleted += more.deleted;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::JournalReader;

    fn tick(time_ns: u64) -> Entry<'static> {
        Entry {
            name: "Tick",
            encoding: Encoding::Raw,
            payload: b"0123456789",
            ..Entry::new(Kind::Handled, time_ns, ActorAddr { node: 0, id: 7 })
        }
    }

    #[test]
    fn a_writer_behind_drops_and_records_the_gap_before_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::new(JournalSchema::none())
            .buffer_bytes(1)
            .when_behind(WhenBehind::DropAndRecordGap);
        // The thread is not running yet, so the batch stays full: the writer is behind.
        let (writer, segments) = JournalWriter::prepare(dir.path(), options).unwrap();
        assert_eq!(writer.append(&tick(1)).unwrap(), Appended::Queued(0));
        assert_eq!(writer.append(&tick(2)).unwrap(), Appended::Dropped(1));
        assert_eq!(writer.append(&tick(3)).unwrap(), Appended::Dropped(2));
        writer.start(segments).unwrap();
        writer.flush().unwrap();
        assert_eq!(writer.append(&tick(4)).unwrap(), Appended::Queued(3));
        let stats = writer.close().unwrap();
        assert_eq!((stats.dropped, stats.gaps, stats.records), (2, 1, 3));

        let journal = JournalReader::open(dir.path()).unwrap();
        let records: Vec<_> = journal.records().collect::<Result<_, _>>().unwrap();
        let seen: Vec<_> = records.iter().map(|r| (r.seq, r.kind)).collect();
        assert_eq!(
            seen,
            [(0, Kind::Handled), (1, Kind::Gap), (3, Kind::Handled)]
        );
        let gap = records[1].gap().unwrap();
        assert_eq!(
            (gap.source.as_str(), gap.first, gap.count),
            (WRITER_SOURCE, 1, 2)
        );
        assert_eq!(
            records[1].time_ns, 3,
            "the gap carries the last lost record's time"
        );
    }

    #[test]
    fn records_dropped_at_the_end_are_reported_when_the_journal_closes() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::new(JournalSchema::none())
            .buffer_bytes(1)
            .when_behind(WhenBehind::DropAndRecordGap);
        let (writer, segments) = JournalWriter::prepare(dir.path(), options).unwrap();
        writer.append(&tick(1)).unwrap();
        assert_eq!(writer.append(&tick(2)).unwrap(), Appended::Dropped(1));
        writer.start(segments).unwrap();
        writer.close().unwrap();
        let journal = JournalReader::open(dir.path()).unwrap();
        let gaps: Vec<_> = journal.records().filter_map(|r| r.unwrap().gap()).collect();
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].first, gaps[0].count), (1, 1));
    }

    #[test]
    fn flush_writes_what_a_lingering_writer_holds() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::new(JournalSchema::none()).linger(Duration::from_secs(3600));
        let writer = JournalWriter::open(dir.path(), options).unwrap();
        writer.append(&tick(1)).unwrap();
        writer.append(&tick(2)).unwrap();
        writer.flush().unwrap();
        assert_eq!(writer.stats().records, 2);
        // Read while the writer is open: the records are in the file, not in memory.
        let journal = JournalReader::open(dir.path()).unwrap();
        assert_eq!(journal.records().count(), 2);
        writer.close().unwrap();
    }

    #[test]
    fn a_batch_of_the_wake_size_is_written_without_waiting_for_the_linger() {
        let dir = tempfile::tempdir().unwrap();
        // 1 KiB of buffer: the writer is woken at 512 bytes, not after an hour. Records that
        // find the buffer full are dropped, so nothing but the wake size calls the writer.
        let options = JournalOptions::new(JournalSchema::none())
            .buffer_bytes(1024)
            .when_behind(WhenBehind::DropAndRecordGap)
            .linger(Duration::from_secs(3600));
        let writer = JournalWriter::open(dir.path(), options).unwrap();
        let header = writer.stats().bytes;
        let mut appended = 0;
        while writer.stats().bytes == header {
            writer.append(&tick(appended)).unwrap();
            appended += 1;
            assert!(
                appended < 1_000_000,
                "the writer thread never wrote a batch"
            );
            std::thread::yield_now();
        }
        assert!(writer.stats().records > 0);
        writer.close().unwrap();
    }

    #[test]
    fn a_writer_behind_makes_callers_wait_under_block_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::new(JournalSchema::none()).buffer_bytes(1);
        let (writer, segments) = JournalWriter::prepare(dir.path(), options).unwrap();
        writer.append(&tick(1)).unwrap();
        let blocked = {
            let writer = writer.clone();
            std::thread::spawn(move || writer.append(&tick(2)).unwrap())
        };
        // Wait (bounded by the other thread's progress, not by time) until it is blocked.
        while writer.stats().waits == 0 {
            std::thread::yield_now();
        }
        writer.start(segments).unwrap();
        assert_eq!(blocked.join().unwrap(), Appended::Queued(1));
        let stats = writer.close().unwrap();
        assert_eq!((stats.records, stats.dropped, stats.waits), (2, 0, 1));
    }
}

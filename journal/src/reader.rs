//! Reading a journal directory: its segments in order, every record checked.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::frame::{self, Frame};
use crate::header::SegmentHeader;
use crate::index::{self, IndexEntry};
use crate::record::{self, Cut, Kind, Record, RecordRef};
use crate::segment;

/// One segment of a journal, as its header and the file system describe it.
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    /// The segment's number.
    pub number: u64,
    /// Its file.
    pub path: PathBuf,
    /// Its header (`None` for a last segment that a crash cut inside its header).
    pub header: Option<SegmentHeader>,
    /// The header's length in bytes.
    pub header_len: usize,
    /// The file's length in bytes.
    pub file_len: u64,
}

/// A journal directory opened for reading.
///
/// ```
/// use mycelium_journal::{ActorAddr, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind};
///
/// let dir = tempfile::tempdir().unwrap();
/// let writer = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
/// writer.append(&Entry::new(Kind::Started, 0, ActorAddr { node: 0, id: 1 })).unwrap();
/// writer.close().unwrap();
///
/// let journal = JournalReader::open(dir.path()).unwrap();
/// let mut records = journal.records();
/// let first = records.next().unwrap().unwrap();
/// assert_eq!((first.seq, first.kind), (0, Kind::Started));
/// assert!(records.next().is_none());
/// assert_eq!(records.cut(), None);
/// ```
#[derive(Clone, Debug)]
pub struct JournalReader {
    dir: PathBuf,
    segments: Vec<SegmentInfo>,
    header: SegmentHeader,
    /// A view of one run after the first ([`JournalReader::run`]): its first segment begins
    /// with the record that ended the run before it (a cut or resumed record), which belongs
    /// to that run's story, not to this one's, and is not returned.
    after_marker: bool,
}

/// How a run of a journal began ([`JournalReader::runs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStart {
    /// With the journal's first record (or the oldest one its retention kept).
    First,
    /// A writer opened the journal again after the one before it closed it (a resumed
    /// record).
    Resumed,
    /// A writer opened the journal again after the one before it was killed or crashed (a
    /// cut record, whether or not the crash cut a record).
    AfterCrash,
}

/// One run of a journal: what one writer wrote, from its open to its close or its crash. A
/// replay covers one run; [`JournalReader::run`] picks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// Its number: 0 for the oldest run the journal keeps.
    pub index: usize,
    /// How it began.
    pub start: RunStart,
    /// Its first record's number (for a run after the first, the cut or resumed record that
    /// begins it).
    pub first_seq: u64,
    /// The numbers of its segments, first and last.
    pub segments: (u64, u64),
}

impl JournalReader {
    /// Whether the writer closed the journal: its last segment's index ends with the closing
    /// entry at the segment's end. `false` for a journal whose writer was killed (or still
    /// writes): its last records may stop inside what one input made, even where no record
    /// was cut.
    pub fn closed(&self) -> bool {
        let Some(last) = self.segments.last() else {
            return false;
        };
        index::closes(&segment::index_path(&self.dir, last.number), last.file_len)
    }

    /// Opens the journal in `dir`: lists its segments and checks that their headers belong
    /// to one journal (same node, same schema, numbers that follow each other).
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_owned();
        let numbers = segment::list(&dir)?;
        if numbers.is_empty() {
            return Err(JournalError::NoSegments { path: dir });
        }
        let mut segments = Vec::with_capacity(numbers.len());
        let last = numbers.len() - 1;
        for (i, &number) in numbers.iter().enumerate() {
            let path = segment::segment_path(&dir, number);
            match segment::read_header(&path) {
                Ok((header, header_len, file_len)) => {
                    if header.segment != number {
                        return Err(JournalError::Discontinuous {
                            path,
                            reason: format!(
                                "its header says it is segment {}, its name says {number}",
                                header.segment
                            ),
                        });
                    }
                    segments.push(SegmentInfo {
                        number,
                        path,
                        header: Some(header),
                        header_len,
                        file_len,
                    });
                }
                // A crash between creating the last segment and writing its header.
                Err(JournalError::BadHeader { .. })
                    if i == last && i > 0 && short_header(&path) =>
                {
                    let file_len = fs::metadata(&path).map_or(0, |m| m.len());
                    segments.push(SegmentInfo {
                        number,
                        path,
                        header: None,
                        header_len: 0,
                        file_len,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let header = segments[0]
            .header
            .clone()
            .expect("the first segment has a header");
        for pair in segments.windows(2) {
            let Some(h) = &pair[1].header else { continue };
            let reason = if h.node != header.node {
                Some(format!(
                    "it was written by node {:?}, the journal's first segment by node {:?}",
                    h.node, header.node
                ))
            } else if h.schema.digest != header.schema.digest {
                Some(format!(
                    "its schema digest is {}, the first segment's is {}",
                    h.schema.digest_hex(),
                    header.schema.digest_hex()
                ))
            } else if pair[1].number != pair[0].number + 1 {
                Some(format!(
                    "segment {} is missing before it",
                    pair[0].number + 1
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(JournalError::Discontinuous {
                    path: pair[1].path.clone(),
                    reason,
                });
            }
        }
        Ok(JournalReader {
            dir,
            segments,
            header,
            after_marker: false,
        })
    }

    /// The runs of the journal, oldest first: one for a journal written by one writer, and
    /// one more each time a writer opened it again ([`JournalWriter::open`] on an existing
    /// journal begins a new segment with a cut or resumed record). A replay of the whole
    /// journal covers its first run; [`JournalReader::run`] gives any other.
    ///
    /// [`JournalWriter::open`]: crate::JournalWriter::open
    pub fn runs(&self) -> Result<Vec<RunInfo>, JournalError> {
        let mut runs: Vec<RunInfo> = Vec::new();
        for (i, info) in self.segments.iter().enumerate() {
            // A last segment cut inside its header holds no record: it ends the run before it.
            let begins = match &info.header {
                None => None,
                Some(header) => match self.first_record(i)? {
                    Some(Kind::Resumed) => Some((RunStart::Resumed, header.first_seq)),
                    Some(Kind::Cut) => Some((RunStart::AfterCrash, header.first_seq)),
                    _ if i == 0 => Some((RunStart::First, header.first_seq)),
                    _ => None,
                },
            };
            match (begins, runs.last_mut()) {
                (Some((start, first_seq)), _) => runs.push(RunInfo {
                    index: runs.len(),
                    start,
                    first_seq,
                    segments: (info.number, info.number),
                }),
                (None, Some(run)) => run.segments.1 = info.number,
                (None, None) => {}
            }
        }
        Ok(runs)
    }

    /// The journal's run number `index` ([`JournalReader::runs`]) as a journal of its own:
    /// its records, from the first that run wrote (the cut or resumed record that began it is
    /// left out) to the last, as a replay reads them. [`JournalReader::closed`] says whether
    /// its writer closed it; [`JournalReader::deleted_before`] is the whole journal's.
    ///
    /// ```
    /// use mycelium_journal::{ActorAddr, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, RunStart};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// for id in [1, 2] {
    ///     // Each writer is a run; the second opens the journal its predecessor closed.
    ///     let writer = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    ///     writer.append(&Entry::new(Kind::Started, 0, ActorAddr { node: 0, id })).unwrap();
    ///     writer.close().unwrap();
    /// }
    /// let journal = JournalReader::open(dir.path()).unwrap();
    /// let runs = journal.runs().unwrap();
    /// assert_eq!(runs.iter().map(|r| r.start).collect::<Vec<_>>(), [RunStart::First, RunStart::Resumed]);
    /// let second = journal.run(1).unwrap();
    /// let records: Vec<_> = second.records().map(|r| r.unwrap()).collect();
    /// assert_eq!(records.iter().map(|r| (r.kind, r.actor.id)).collect::<Vec<_>>(), [(Kind::Started, 2)]);
    /// assert!(journal.run(2).is_err());
    /// ```
    pub fn run(&self, index: usize) -> Result<JournalReader, JournalError> {
        let runs = self.runs()?;
        let Some(run) = runs.get(index) else {
            return Err(JournalError::NoSuchRun {
                path: self.dir.clone(),
                run: index,
                runs: runs.len(),
            });
        };
        let segments: Vec<SegmentInfo> = self
            .segments
            .iter()
            .filter(|s| (run.segments.0..=run.segments.1).contains(&s.number))
            .cloned()
            .collect();
        Ok(JournalReader {
            dir: self.dir.clone(),
            segments,
            header: self.header.clone(),
            after_marker: run.start != RunStart::First,
        })
    }

    /// The kind of the first record of segment `i`, if it has one.
    fn first_record(&self, i: usize) -> Result<Option<Kind>, JournalError> {
        let one = JournalReader {
            dir: self.dir.clone(),
            segments: vec![self.segments[i].clone()],
            header: self.header.clone(),
            after_marker: false,
        };
        let mut records = one.records();
        let first = records.next_ref().transpose()?.map(|r| r.kind);
        Ok(first)
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first segment's header: the node and the schema of the whole journal.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The segments, oldest first (retention may have removed older ones).
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// `Some(n)` when the journal's oldest records were deleted (by its retention limit, or
    /// by hand) and what it keeps begins at record number `n`; `None` when it has every
    /// record from its first.
    pub fn deleted_before(&self) -> Option<u64> {
        (self.header.first_seq > 0).then_some(self.header.first_seq)
    }

    /// Every record, oldest first.
    pub fn records(&self) -> Records<'_> {
        Records::new(self, None)
    }

    /// The records of bus time `from_ns` and later, oldest first, starting from the time
    /// index where it allows (gap and cut records in that stretch are returned whatever
    /// their time).
    pub fn records_from(&self, from_ns: u64) -> Records<'_> {
        Records::new(self, Some(from_ns))
    }
}

/// Whether the file at `path` ends before a header's fixed part: a crash while it was created.
fn short_header(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.len() < crate::header::FIXED as u64)
}

/// Bytes read from a segment at a time.
const CHUNK: usize = 256 * 1024;

/// The records of a journal, each checked; see [`JournalReader::records`].
///
/// A damaged record ends the iteration with an error naming its segment and offset: it is
/// never returned. A last segment cut by a crash ends it normally, and [`Records::cut`]
/// says what was cut.
#[derive(Debug)]
pub struct Records<'a> {
    journal: &'a JournalReader,
    from_ns: Option<u64>,
    next_segment: usize,
    /// The segment being read; `None` once all of it is in `data`.
    file: Option<fs::File>,
    /// A window of the segment: its bytes from offset `window_at`, read a chunk at a time
    /// into the same buffer (a journal is not read into memory whole).
    data: Vec<u8>,
    window_at: u64,
    path: PathBuf,
    /// The next record's place in `data`.
    pos: usize,
    expected: Option<u64>,
    cut: Option<Cut>,
    done: bool,
    /// The next record is left out if it is a cut or resumed record (the first of a run's
    /// view, [`JournalReader::run`]).
    skip_marker: bool,
}

impl<'a> Records<'a> {
    fn new(journal: &'a JournalReader, from_ns: Option<u64>) -> Records<'a> {
        Records {
            journal,
            from_ns,
            next_segment: 0,
            file: None,
            data: Vec::new(),
            window_at: 0,
            path: PathBuf::new(),
            pos: 0,
            expected: None,
            cut: None,
            done: false,
            skip_marker: journal.after_marker,
        }
    }

    /// After the iteration ended: the cut at the end of the last segment, if a crash left
    /// one (the bytes after the last whole record).
    pub fn cut(&self) -> Option<Cut> {
        self.cut
    }

    /// Reads the next chunk of the segment into the window, after dropping the bytes already
    /// read from it; `Ok(false)` when the segment had no more bytes.
    fn refill(&mut self) -> Result<bool, JournalError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        self.data.drain(..self.pos);
        self.window_at += self.pos as u64;
        self.pos = 0;
        let before = self.data.len();
        let read = file
            .take(CHUNK as u64)
            .read_to_end(&mut self.data)
            .map_err(|e| JournalError::io("read", &self.path, e))?;
        if read < CHUNK {
            // A short read is the end of the file (as it is now: a writer may still append).
            self.file = None;
        }
        Ok(self.data.len() > before)
    }

    /// Loads the next segment; `Ok(false)` when there is none.
    fn load_next(&mut self) -> Result<bool, JournalError> {
        let Some(info) = self.journal.segments.get(self.next_segment) else {
            return Ok(false);
        };
        self.next_segment += 1;
        let Some(header) = &info.header else {
            self.cut = Some(Cut {
                segment: info.number,
                offset: 0,
                bytes: info.file_len,
            });
            self.data.clear();
            self.pos = 0;
            self.file = None;
            return Ok(true);
        };
        let mut file =
            fs::File::open(&info.path).map_err(|e| JournalError::io("read", &info.path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| JournalError::io("read", &info.path, e))?
            .len();
        match self.expected {
            Some(expected) if expected != header.first_seq => {
                return Err(JournalError::Discontinuous {
                    path: info.path.clone(),
                    reason: format!(
                        "it starts at record {}, but the segment before it ended before record {expected}",
                        header.first_seq
                    ),
                });
            }
            _ => self.expected = Some(header.first_seq),
        }
        let mut start = info.header_len as u64;
        if let Some(from) = self.from_ns {
            let entries = index::read(
                &segment::index_path(&self.journal.dir, info.number),
                file_len,
            );
            if let Some(IndexEntry { seq, offset, .. }) = index::start_for(&entries, from) {
                if offset >= start {
                    start = offset;
                    self.expected = Some(seq);
                }
            }
        }
        file.seek(SeekFrom::Start(start))
            .map_err(|e| JournalError::io("read", &info.path, e))?;
        self.file = Some(file);
        self.data.clear();
        self.window_at = start;
        self.pos = 0;
        self.path = info.path.clone();
        Ok(true)
    }

    fn fail<T>(&mut self, e: JournalError) -> Option<Result<T, JournalError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Records<'_> {
    /// The next record, borrowed from the reader's buffer (no copy of its text or payload):
    /// what [`Iterator::next`] returns, without the allocations. The borrow ends before the
    /// next call.
    ///
    /// ```
    /// use mycelium_journal::{ActorAddr, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let writer = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    /// for id in [1, 2] {
    ///     writer.append(&Entry { name: "Feed", ..Entry::new(Kind::Started, 0, ActorAddr { node: 0, id }) }).unwrap();
    /// }
    /// writer.close().unwrap();
    ///
    /// let journal = JournalReader::open(dir.path()).unwrap();
    /// let mut records = journal.records();
    /// let mut started = Vec::new();
    /// while let Some(record) = records.next_ref() {
    ///     let record = record.unwrap();
    ///     if record.kind == Kind::Started {
    ///         started.push((record.actor.id, record.name.to_owned()));
    ///     }
    /// }
    /// assert_eq!(started, [(1, "Feed".to_owned()), (2, "Feed".to_owned())]);
    /// ```
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, JournalError>> {
        let (at, len, offset) = match self.advance()? {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        // `advance` decoded these bytes already: this decoding does not fail.
        Some(
            record::decode_ref(&self.data[at..at + len]).map_err(|reason| JournalError::Corrupt {
                path: self.path.clone(),
                offset,
                reason,
            }),
        )
    }

    /// Moves to the next record to return, checking it: its body's place in `data`, its length
    /// and its offset in the segment.
    fn advance(&mut self) -> Option<Result<(usize, usize, u64), JournalError>> {
        loop {
            if self.done {
                return None;
            }
            let offset = self.window_at + self.pos as u64;
            let frame = frame::read(&self.data[self.pos.min(self.data.len())..]);
            if matches!(frame, Frame::End | Frame::Torn) && self.file.is_some() {
                // The window ends before the segment does.
                if let Err(e) = self.refill() {
                    return self.fail(e);
                }
                continue;
            }
            match frame {
                Frame::End => match self.load_next() {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => return self.fail(e),
                },
                Frame::Torn => {
                    let number = self.journal.segments[self.next_segment - 1].number;
                    let is_last = self.next_segment == self.journal.segments.len()
                        || (self.next_segment + 1 == self.journal.segments.len()
                            && self.journal.segments[self.next_segment].header.is_none());
                    let bytes = (self.data.len() - self.pos) as u64;
                    if !is_last {
                        let path = self.path.clone();
                        return self.fail(JournalError::Corrupt {
                            path,
                            offset,
                            reason: format!(
                                "the last {bytes} bytes are not a whole record, yet later segments follow"
                            ),
                        });
                    }
                    self.cut = Some(Cut {
                        segment: number,
                        offset,
                        bytes,
                    });
                    // A segment after it can only be one cut inside its header, which
                    // holds no records.
                    self.done = true;
                    return None;
                }
                Frame::Corrupt(reason) => {
                    let path = self.path.clone();
                    return self.fail(JournalError::Corrupt {
                        path,
                        offset,
                        reason,
                    });
                }
                Frame::Record(body) => {
                    let len = body.len();
                    let record = match record::decode_ref(body) {
                        Ok(r) => r,
                        Err(reason) => {
                            let path = self.path.clone();
                            return self.fail(JournalError::Corrupt {
                                path,
                                offset,
                                reason,
                            });
                        }
                    };
                    let expected = self.expected.unwrap_or(record.seq);
                    if record.seq != expected {
                        let path = self.path.clone();
                        return self.fail(JournalError::Discontinuous {
                            path,
                            reason: format!(
                                "the record at byte offset {offset} is number {}, expected {expected}",
                                record.seq
                            ),
                        });
                    }
                    let advance = match record.kind {
                        Kind::Gap => match record.gap() {
                            Some(gap) => gap.count,
                            None => {
                                let path = self.path.clone();
                                return self.fail(JournalError::Corrupt {
                                    path,
                                    offset,
                                    reason: "a gap record without its range".to_owned(),
                                });
                            }
                        },
                        _ => 1,
                    };
                    let marker = std::mem::take(&mut self.skip_marker)
                        && matches!(record.kind, Kind::Cut | Kind::Resumed);
                    let skip = marker
                        || self.from_ns.is_some_and(|from| {
                            record.time_ns < from
                                && !matches!(record.kind, Kind::Gap | Kind::Cut | Kind::Resumed)
                        });
                    let at = self.pos + frame::HEAD;
                    self.expected = Some(expected.saturating_add(advance));
                    self.pos += frame::HEAD + len;
                    if skip {
                        continue;
                    }
                    return Some(Ok((at, len, offset)));
                }
            }
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(|r| r.map(|r| r.to_record()))
    }
}

//! Recording foreign actors from C into a journal: a recorder (`myc_recorder_open`) that
//! `myc_actor_spawn_recorded` records an actor into, as `mycelium_foreign::recording`
//! describes (its messages as the contract messages of their type ids).

use std::ffi::c_char;
use std::sync::Arc;

use mycelium_foreign::{ForeignRecord, ForeignRecording};
use mycelium_journal::{JournalOptions, JournalSchema, JournalWriter, Recording};

use crate::error::{guard, optional_text, put, text, writable, Error, MycStatus};

/// A journal foreign actors are recorded into. Close with [`myc_recorder_close`], free with
/// [`myc_recorder_free`].
pub struct MycRecorder {
    journal: JournalWriter,
    recording: Arc<Recording>,
}

impl MycRecorder {
    /// How an actor of the type `actor_type` is recorded here.
    pub(crate) fn for_actor(&self, actor_type: &str) -> ForeignRecording {
        ForeignRecording::new(self.recording.clone(), actor_type)
    }
}

/// Opens (or continues) the journal in the directory `path` for the node `node` (an empty
/// string for a bus that is no node of a topology). A journal that cannot be opened gives
/// `InvalidArgument` with the reason.
///
/// # Safety
/// `path` and `node` are NUL-terminated strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_recorder_open(
    path: *const c_char,
    node: *const c_char,
    out: *mut *mut MycRecorder,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let (path, node) = unsafe { (text(path, "path")?, text(node, "node")?) };
        // SAFETY: per this function's contract.
        unsafe { open(path, node, JournalSchema::none(), out) }
    })
}

/// As [`myc_recorder_open`], for actors whose messages are those of the schema whose digest
/// is `schema_digest` (64 hex digits, as the generated modules hold it) and whose canonical
/// text is `schema_text` (the generated `schema_canonical`; null or empty for the digest
/// alone): the journal's header carries them, so that a reader decodes its contract
/// messages by their fields without the program. `InvalidArgument` for a digest that is not
/// 64 hex digits, or a text whose digest is not `schema_digest`.
///
/// # Safety
/// `path`, `node` and `schema_digest` are NUL-terminated strings, `schema_text` one or null;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_recorder_open_with_schema(
    path: *const c_char,
    node: *const c_char,
    schema_digest: *const c_char,
    schema_text: *const c_char,
    out: *mut *mut MycRecorder,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let (path, node, digest, canonical) = unsafe {
            (
                text(path, "path")?,
                text(node, "node")?,
                text(schema_digest, "schema_digest")?,
                optional_text(schema_text, "schema_text")?,
            )
        };
        let digest = crate::node::parse_digest(digest)?;
        let schema = match canonical.filter(|t| !t.is_empty()) {
            None => JournalSchema::from_digest(digest),
            Some(canonical) => {
                let schema = JournalSchema::from_generated(digest, canonical);
                if let Some(Err(reason)) = schema.schema() {
                    return Err(Error::invalid(format!(
                        "the schema text is not the one of digest {}: {reason}",
                        schema.digest_hex()
                    )));
                }
                schema
            }
        };
        // SAFETY: per this function's contract.
        unsafe { open(path, node, schema, out) }
    })
}

/// Opens the journal and puts its recorder in `*out`.
///
/// # Safety
/// `out` is writable.
unsafe fn open(
    path: &str,
    node: &str,
    schema: JournalSchema,
    out: *mut *mut MycRecorder,
) -> Result<(), Error> {
    writable(out, "out")?;
    let journal = JournalWriter::open(path, JournalOptions::new(schema).node(node))
        .map_err(|e| Error::invalid(format!("recording into {path}: {e}")))?;
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    let boxed = Box::into_raw(Box::new(MycRecorder { journal, recording }));
    // SAFETY: per this function's contract.
    unsafe { put(out, boxed, "out") }
}

/// Writes what was recorded and closes the journal; the actors recorded into it are no
/// longer recorded. The handle stays valid (free it with [`myc_recorder_free`]).
///
/// # Safety
/// `recorder` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn myc_recorder_close(recorder: *const MycRecorder) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let recorder = unsafe { crate::error::handle(recorder, "recorder")? };
        recorder
            .journal
            .close()
            .map(drop)
            .map_err(|e| Error::new(MycStatus::Failed, format!("closing the journal: {e}")))
    })
}

/// Closes the journal (as [`myc_recorder_close`]) and frees the handle. Null is ignored.
///
/// # Safety
/// `recorder` is null or a live handle, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn myc_recorder_free(recorder: *mut MycRecorder) -> MycStatus {
    guard(|| {
        if recorder.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let recorder = unsafe { Box::from_raw(recorder) };
        recorder
            .journal
            .close()
            .map(drop)
            .map_err(|e| Error::new(MycStatus::Failed, format!("closing the journal: {e}")))
    })
}

/// `mode` of [`myc_replay_actor`]: stop at the first input whose outputs differ.
pub const MYC_REPLAY_FIRST: u32 = 0;
/// `mode` of [`myc_replay_actor`]: run to the end and report every difference.
pub const MYC_REPLAY_COMPARE: u32 = 1;

/// What a replay found ([`myc_replay_actor`]). Free with [`myc_replay_report_free`]; the
/// strings it gives are valid until then.
pub struct MycReplayReport {
    inputs: u64,
    differences: Vec<Diff>,
    text: std::ffi::CString,
    csv: std::ffi::CString,
}

/// One difference, its texts kept for C.
struct Diff {
    input: u64,
    seq: u64,
    time_ns: u64,
    message: std::ffi::CString,
    recorded: std::ffi::CString,
    now: std::ffi::CString,
}

/// One input whose outputs differ ([`myc_replay_report_difference`]): its number among the
/// actor's inputs (from 0), its record number and bus time, the input, what was recorded
/// after it and what the replay did (its outputs joined by `; `). The strings belong to the
/// report.
#[repr(C)]
pub struct MycDifference {
    /// The input's number among the actor's inputs, from 0.
    pub input: u64,
    /// Its record's number in the journal.
    pub seq: u64,
    /// Its bus time, nanoseconds.
    pub time_ns: u64,
    /// The input: its type and payload.
    pub message: *const c_char,
    /// What was recorded after it.
    pub recorded: *const c_char,
    /// What the replay did after it.
    pub now: *const c_char,
}

fn c_text(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Replays the actor number `actor` recorded in run `run` of the journal in the directory
/// `journal` (0 for the first: a journal that later processes opened again holds one run per
/// process, each numbering its actors anew; `mycelium-journal ls` lists them): a fresh actor
/// of `callbacks` (started with `args`, recorded as `actor_type`) on `bus`, which
/// must be a virtual-time bus, is fed the recorded inputs at their recorded bus times, as
/// tells or asks as recorded, and its answers, sends, publications, failures and stops are
/// compared with the recorded ones (an actor its supervisor restarted live is replayed as a
/// supervised child restarted after each failure); `mode` is [`MYC_REPLAY_FIRST`] or
/// [`MYC_REPLAY_COMPARE`]. `*out` is the report. A journal that cannot be read, an input
/// that cannot be fed (recorded without its payload), a run it does not hold, or a real-time
/// bus gives `InvalidArgument` with the reason; an actor that cannot start, `StartFailed`. The
/// callbacks are the library's from this call on, as for `myc_actor_spawn`; the replayed
/// actor is stopped before this returns.
///
/// # Safety
/// As `myc_actor_spawn`; `journal` and `actor_type` are NUL-terminated strings; `out` is
/// writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn myc_replay_actor(
    bus: *const crate::MycBus,
    callbacks: *const crate::MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    journal: *const c_char,
    run: u32,
    actor: u64,
    actor_type: *const c_char,
    mode: u32,
    out: *mut *mut MycReplayReport,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let cb = unsafe { crate::error::handle(callbacks, "callbacks")? };
        // First: from here an error drops `foreign`, which releases `user_data`.
        let (foreign, released) = crate::actor::CForeign::new(cb)?;
        // SAFETY: per this function's contract.
        let (bus, args, journal, actor_type) = unsafe {
            (
                crate::error::handle(bus, "bus")?,
                crate::error::bytes(args, args_len, "args")?,
                text(journal, "journal")?,
                text(actor_type, "actor_type")?,
            )
        };
        foreign.name_as(actor_type);
        writable(out, "out")?;
        let mode = match mode {
            MYC_REPLAY_FIRST => mycelium_journal::ReplayMode::StopAtFirst,
            MYC_REPLAY_COMPARE => mycelium_journal::ReplayMode::Compare,
            other => {
                return Err(Error::invalid(format!(
                    "replay mode {other}: use MYC_REPLAY_FIRST (0) or MYC_REPLAY_COMPARE (1)"
                )))
            }
        };
        let hosted = bus.hosted.clone();
        if !hosted.bus().clock().is_virtual() {
            return Err(Error::invalid(
                "a replay runs on a virtual-time bus: make it with Bus.create ~virtual_time:true (OCaml) or myc_bus_new(true, ...) (C)",
            ));
        }
        let reader = mycelium_journal::JournalReader::open(journal)
            .and_then(|whole| whole.run(run as usize))
            .map_err(|e| Error::invalid(format!("replaying {journal}: {e}")))?;
        let args = crate::actor::CArgs(Arc::from(args));
        let task_bus = hosted.bus().clone();
        let actor_type = actor_type.to_owned();
        let task = hosted.handle().spawn(async move {
            let mut set = mycelium_journal::ReplaySet::new(&reader)?;
            let input = mycelium_foreign::recording::contract_input;
            mycelium_foreign::recording::spawn_replayed(
                &mut set,
                &task_bus,
                actor,
                foreign,
                args,
                &actor_type,
                input,
            )
            .await?;
            set.run(mode).await
        });
        let ran = hosted
            .block_on(task)
            .map_err(|e| Error::new(MycStatus::Failed, format!("the replay failed: {e}")))?;
        // The actor has let go of the callbacks once it stopped (or failed to start).
        let _ = hosted.block_on(released);
        let report = match ran {
            Ok(set) => set.actors.into_iter().next().unwrap_or_default(),
            Err(mycelium_journal::ReplayError::Spawn(e)) => {
                return Err(Error::new(MycStatus::StartFailed, e))
            }
            Err(e) => return Err(Error::invalid(format!("replaying {journal}: {e}"))),
        };
        let boxed = Box::into_raw(Box::new(MycReplayReport {
            inputs: report.inputs,
            text: c_text(&report.to_string()),
            csv: c_text(&report.to_csv()),
            differences: report
                .differences
                .iter()
                .map(|d| Diff {
                    input: d.input,
                    seq: d.seq,
                    time_ns: d.time_ns,
                    message: c_text(&d.message),
                    recorded: c_text(&d.recorded),
                    now: c_text(&d.now),
                })
                .collect(),
        }));
        // SAFETY: per contract.
        unsafe { put(out, boxed, "out") }
    })
}

/// The number of inputs replayed and of differences found.
///
/// # Safety
/// `report` is a live report; `inputs` and `differences` are writable.
#[no_mangle]
pub unsafe extern "C" fn myc_replay_report_counts(
    report: *const MycReplayReport,
    inputs: *mut u64,
    differences: *mut usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let r = unsafe { crate::error::handle(report, "report")? };
        // SAFETY: per contract.
        unsafe {
            put(inputs, r.inputs, "inputs")?;
            put(differences, r.differences.len(), "differences")
        }
    })
}

/// Difference number `i` (from 0) of the report; `InvalidArgument` past the last.
///
/// # Safety
/// `report` is a live report; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_replay_report_difference(
    report: *const MycReplayReport,
    i: usize,
    out: *mut MycDifference,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let r = unsafe { crate::error::handle(report, "report")? };
        let d = r.differences.get(i).ok_or_else(|| {
            Error::invalid(format!(
                "difference {i}: the report has {}",
                r.differences.len()
            ))
        })?;
        let diff = MycDifference {
            input: d.input,
            seq: d.seq,
            time_ns: d.time_ns,
            message: d.message.as_ptr(),
            recorded: d.recorded.as_ptr(),
            now: d.now.as_ptr(),
        };
        // SAFETY: per contract.
        unsafe { put(out, diff, "out") }
    })
}

/// The report as a person reads it (`text` true) or as CSV with a header row
/// (`input,seq,time_ns,message,recorded,now,before`); the string belongs to the report.
///
/// # Safety
/// `report` is a live report; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_replay_report_string(
    report: *const MycReplayReport,
    text: bool,
    out: *mut *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let r = unsafe { crate::error::handle(report, "report")? };
        let s = if text { &r.text } else { &r.csv };
        // SAFETY: per contract.
        unsafe { put(out, s.as_ptr(), "out") }
    })
}

/// Frees a report. Null is ignored.
///
/// # Safety
/// `report` is null or a live report, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn myc_replay_report_free(report: *mut MycReplayReport) -> MycStatus {
    guard(|| {
        if !report.is_null() {
            // SAFETY: per contract: a report of `myc_replay_actor`, freed once.
            drop(unsafe { Box::from_raw(report) });
        }
        Ok(())
    })
}

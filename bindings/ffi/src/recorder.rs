//! Recording foreign actors from C into a journal: a recorder (`myc_recorder_open`) that
//! `myc_actor_spawn_recorded` records an actor into, as `mycelium_foreign::recording`
//! describes (its messages as the contract messages of their type ids).

use std::ffi::c_char;
use std::sync::Arc;

use mycelium_foreign::{ForeignRecord, ForeignRecording};
use mycelium_journal::{JournalOptions, JournalSchema, JournalWriter, Recording};

use crate::error::{guard, put, text, writable, Error, MycStatus};

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
        writable(out, "out")?;
        let journal =
            JournalWriter::open(path, JournalOptions::new(JournalSchema::none()).node(node))
                .map_err(|e| Error::invalid(format!("recording into {path}: {e}")))?;
        let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
        let boxed = Box::into_raw(Box::new(MycRecorder { journal, recording }));
        // SAFETY: per contract.
        unsafe { put(out, boxed, "out") }
    })
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

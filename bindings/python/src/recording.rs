//! Recording Python actors into a journal (`mycelium.journal.Recorder`): the native recorder
//! a `record=` switch hands to a spawn, and how a Python actor's messages are written.
//!
//! A message of the bus's schema is written as the contract message of its type id, its
//! bytes as the native codec made them, named by its class. A plain object (between Python
//! actors) is written with `pickle`, named `pickle:module.QualName`, where the recorder
//! allows it (`pickle=True`); otherwise an actor class with handlers of plain objects is
//! refused when recording is switched on for it, and a plain object that reaches a recorded
//! actor anyway (a reply to its own ask) is written by name without its payload.

use std::sync::{Arc, Mutex};

use mycelium_actors::recording::Refusal;
use mycelium_foreign::recording::{static_name, Refusals};
use mycelium_foreign::{ForeignMessage, ForeignRecord, ForeignRecording};
use mycelium_journal::{Encoding, JournalOptions, JournalSchema, JournalWriter, Recording};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule};

use crate::callbacks;
use crate::host::{PyForeign, LOCAL_TYPE_ID};
use crate::schema::Schema;

/// The prefix of the type name of a pickled plain object.
pub(crate) const PICKLE: &str = "pickle:";

/// A journal that Python actors are recorded into: `Recorder(path, schema=None, node="",
/// pickle=False)`.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Recorder {
    journal: JournalWriter,
    recording: Arc<Recording>,
    pickle: bool,
    path: String,
    /// How each actor recorded into it is recorded (for the inputs it has handled).
    actors: Mutex<Vec<ForeignRecording>>,
    /// For a replay: the clock readings the next actor recorded into it reads, by input.
    readings: Mutex<Option<Vec<Vec<std::time::Duration>>>>,
    /// For a replay of one actor alone: its tells refused live, by input.
    refusals: Mutex<Option<Refusals>>,
}

#[pymethods]
impl Recorder {
    /// Opens (or continues) the journal in the directory `path`, for a bus speaking the
    /// generated module `schema` (its digest goes in the journal's header).
    #[new]
    #[pyo3(signature = (path, schema=None, node=String::new(), pickle=false))]
    fn new(
        path: String,
        schema: Option<&Bound<'_, PyModule>>,
        node: String,
        pickle: bool,
    ) -> PyResult<Self> {
        let journal_schema = match schema {
            Some(module) => Schema::of_module(module)?.for_journal()?,
            None => JournalSchema::none(),
        };
        let journal = JournalWriter::open(&path, JournalOptions::new(journal_schema).node(node))
            .map_err(|e| crate::journal::read_error(format!("recording into {path}: {e}")))?;
        let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
        Ok(Recorder {
            journal,
            recording,
            pickle,
            path,
            actors: Mutex::default(),
            readings: Mutex::default(),
            refusals: Mutex::default(),
        })
    }

    /// The journal's directory.
    #[getter]
    fn path(&self) -> String {
        self.path.clone()
    }

    /// True if plain objects are written with pickle.
    #[getter]
    fn pickle(&self) -> bool {
        self.pickle
    }

    /// Waits until what was recorded so far is written (releases the GIL).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.journal.flush())
            .map_err(|e| crate::journal::read_error(format!("flushing {}: {e}", self.path)))
    }

    /// Writes what is left and closes the journal; the actors recorded into it are no longer
    /// recorded (what they do is counted in `errors`).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.journal.close().map(drop))
            .map_err(|e| crate::journal::read_error(format!("closing {}: {e}", self.path)))
    }

    /// The message types recorded without their payload (a replay cannot feed them).
    fn unrecorded(&self) -> Vec<String> {
        self.recording.unrecorded()
    }

    /// Records that could not be written (the journal closed, its writer failed).
    fn errors(&self) -> u64 {
        self.recording.errors()
    }

    /// How many inputs the actors recorded into it have begun to handle.
    fn handled(&self) -> u64 {
        let actors = self.actors.lock().unwrap_or_else(|e| e.into_inner());
        actors.iter().map(ForeignRecording::inputs).sum()
    }

    /// Waits (without the GIL) until the actors recorded into it have begun to handle `count`
    /// inputs, or have gone `quiet_s` seconds without beginning one; how many they have.
    #[pyo3(signature = (count, quiet_s = 2.0))]
    fn wait_handled(&self, py: Python<'_>, count: u64, quiet_s: f64) -> u64 {
        let quiet = std::time::Duration::from_secs_f64(quiet_s.max(0.0));
        py.detach(|| {
            let mut seen = self.handled();
            let mut since = std::time::Instant::now();
            while seen < count && since.elapsed() < quiet {
                std::thread::sleep(std::time::Duration::from_micros(200));
                let now = self.handled();
                if now != seen {
                    (seen, since) = (now, std::time::Instant::now());
                }
            }
            seen
        })
    }

    /// For a replay of one actor alone: the actor recorded into it next reads, while handling
    /// its input `i`, the bus times `readings[i]` (nanoseconds) that the recorded actor read
    /// live, in order; and its timers send nothing, their recorded firings being fed.
    fn serve_readings(&self, readings: Vec<Vec<u64>>) {
        let readings = readings
            .into_iter()
            .map(|r| r.into_iter().map(std::time::Duration::from_nanos).collect())
            .collect();
        *self.readings.lock().unwrap_or_else(|e| e.into_inner()) = Some(readings);
    }

    /// For a replay of one actor alone: the tells the recorded actor made while handling its
    /// input `i` that were refused, `refusals[i]`, each as its place among that input's
    /// tells (from 0) and `"full"` or `"stopped"`, which the actor's tells return again.
    fn serve_refusals(&self, refusals: Vec<Vec<(usize, String)>>) -> PyResult<()> {
        let refusals = refusals
            .into_iter()
            .map(|tells| {
                tells
                    .into_iter()
                    .map(|(tell, why)| match Refusal::parse(&why) {
                        Some(refusal) => Ok((tell, refusal)),
                        None => Err(PyValueError::new_err(format!(
                            "serve_refusals: {why:?} is no refusal (\"full\" or \"stopped\")"
                        ))),
                    })
                    .collect::<PyResult<Vec<_>>>()
            })
            .collect::<PyResult<Vec<_>>>()?;
        *self.refusals.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusals);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("Recorder({:?}, pickle={})", self.path, self.pickle)
    }
}

impl Recorder {
    /// How an actor of the class `host` (a `mycelium._actor._Host`) is recorded: refused
    /// (`ValueError`, naming the handlers) if the class handles plain objects and this
    /// recorder may not pickle them.
    pub(crate) fn for_host(&self, host: &Bound<'_, PyAny>) -> PyResult<ForeignRecording> {
        let class_name = host
            .getattr("cls")?
            .getattr("__qualname__")?
            .extract::<String>()?;
        let plain = host.getattr("plain")?;
        let plain = plain.cast::<PyDict>()?;
        if !self.pickle && !plain.is_empty() {
            let mut handlers = Vec::new();
            for (cls, method) in plain.iter() {
                handlers.push(format!(
                    "{}.{} (of {})",
                    class_name,
                    method.extract::<String>()?,
                    cls.getattr("__qualname__")?.extract::<String>()?
                ));
            }
            return Err(PyValueError::new_err(format!(
                "{class_name} cannot be recorded: it handles plain objects ({}), which a journal \
                 holds only in Python's own serialization; make the recorder with \
                 journal.Recorder(path, pickle=True) to write them with pickle, or send it \
                 messages of the bus's schema",
                handlers.join(", ")
            )));
        }
        let mut recording = ForeignRecording::new(self.recording.clone(), &class_name)
            .own_serialization(self.pickle);
        let served = self
            .readings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(readings) = served {
            // A replay of the actor alone: its timers' firings are fed as its other inputs.
            recording = recording.serve_readings(readings).feed_timers();
        }
        let refusals = self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(refusals) = refusals {
            recording = recording.serve_refusals(refusals);
        }
        let mut actors = self.actors.lock().unwrap_or_else(|e| e.into_inner());
        actors.push(recording.clone());
        Ok(recording)
    }
}

/// A plain object this thread sends to another Python actor, held in the receiver's table
/// under `body`: the records of the send and of its answer (held there too) describe them,
/// which the sender's own table does not hold.
struct Sending {
    body: Vec<u8>,
    object: Py<PyAny>,
    receiver: Arc<PyForeign>,
}

thread_local! {
    static SENDING: std::cell::RefCell<Option<Sending>> = const { std::cell::RefCell::new(None) };
}

/// Runs `send`, which sends the plain object `object` to the actor of `receiver`, held there
/// under `body`: a recorded sender's records of the send and of its answer pickle them (where
/// the recorder allows pickle).
pub(crate) fn sending_object<R>(
    receiver: &Arc<PyForeign>,
    body: &[u8],
    object: &Bound<'_, PyAny>,
    send: impl FnOnce() -> R,
) -> R {
    // Nothing recorded in this process: no copy of the body, no reference to the object.
    if !mycelium_actors::recording::is_on() {
        return send();
    }
    let sending = Sending {
        body: body.to_vec(),
        object: object.clone().unbind(),
        receiver: receiver.clone(),
    };
    let outer = SENDING.with(|s| s.replace(Some(sending)));
    let result = send();
    SENDING.with(|s| s.replace(outer));
    result
}

/// The plain object carried by `body` that this thread is sending, or that answers it.
fn being_sent<'py>(py: Python<'py>, body: &[u8]) -> Option<Bound<'py, PyAny>> {
    SENDING.with(|s| {
        let s = s.borrow();
        let sending = s.as_ref()?;
        if sending.body == body {
            return Some(sending.object.bind(py).clone());
        }
        sending.receiver.peek(py, body)
    })
}

/// How the Python actor `foreign` writes `msg` (see the module doc).
pub(crate) fn describe(foreign: &PyForeign, msg: &ForeignMessage, pickle: bool) -> ForeignRecord {
    if msg.type_id != LOCAL_TYPE_ID {
        return ForeignRecord::contract(msg, static_name(&foreign.message_class(msg.type_id)));
    }
    let described = callbacks::attach(|py| -> PyResult<ForeignRecord> {
        let Some(object) = foreign
            .peek(py, &msg.body)
            .or_else(|| being_sent(py, &msg.body))
        else {
            // Held by another actor, and not sent by this thread: not readable here.
            return Ok(ForeignRecord::unrecordable("a plain object"));
        };
        let ty = object.get_type();
        let name = format!(
            "{}.{}",
            ty.getattr("__module__")?.extract::<String>()?,
            ty.getattr("__qualname__")?.extract::<String>()?
        );
        if !pickle {
            return Ok(ForeignRecord::unrecordable(static_name(&name)));
        }
        let pickled = match py.import("pickle")?.call_method1("dumps", (object,)) {
            Ok(pickled) => pickled.cast_into::<PyBytes>()?,
            // Recorded by name: a replay says why it cannot feed it.
            Err(_) => {
                return Ok(ForeignRecord::unrecordable(static_name(&format!(
                    "{UNPICKLABLE}{name}"
                ))))
            }
        };
        Ok(ForeignRecord {
            type_id: 0,
            name: static_name(&format!("{PICKLE}{name}")),
            encoding: Encoding::Raw,
            body: pickled.as_bytes().to_vec(),
        })
    });
    match described {
        Ok(Ok(record)) => record,
        // An object pickle refuses is recorded by name: a replay names it.
        Ok(Err(_)) | Err(_) => ForeignRecord::unrecordable("an object pickle refuses"),
    }
}

/// The type name prefix of a plain object pickle refused: recorded by name only.
const UNPICKLABLE: &str = "unpicklable:";

/// A pickled plain object of a report (`name` its recorded type, `pickle:module.QualName`)
/// as its `repr`; `None` for another payload, or one pickle cannot load here.
pub(crate) fn show_pickled(name: &str, payload: &[u8]) -> Option<String> {
    if !name.starts_with(PICKLE) {
        return None;
    }
    callbacks::attach(|py| -> PyResult<String> {
        let object = py
            .import("pickle")?
            .call_method1("loads", (PyBytes::new(py, payload),))?;
        Ok(object.repr()?.to_string())
    })
    .ok()?
    .ok()
}

/// A recorded input of the Python actor `foreign` as the message it was: a message of the
/// schema by its bytes, a pickled plain object unpickled (and held for the actor); anything
/// else refused with the reason.
pub(crate) fn replay_input(
    foreign: &PyForeign,
    record: &mycelium_journal::Record,
) -> Result<ForeignMessage, String> {
    if record.encoding != Encoding::Raw {
        return mycelium_foreign::recording::contract_input(record);
    }
    if !record.name.starts_with(PICKLE) {
        return Err(format!(
            "it was written as raw bytes named {}, not as a message a Python actor handles",
            record.name
        ));
    }
    let object = callbacks::attach(|py| -> Result<Py<PyAny>, String> {
        let bytes = PyBytes::new(py, &record.payload);
        let loaded = py
            .import("pickle")
            .and_then(|p| p.call_method1("loads", (bytes,)));
        loaded.map(Bound::unbind).map_err(|e| {
            // The text a replay in Python gives for the same record.
            let class = &record.name[PICKLE.len()..];
            py.import("mycelium._replay")
                .and_then(|m| m.call_method1("unpickle_failed", (class, e.value(py))))
                .and_then(|text| text.extract::<String>())
                .unwrap_or_else(|_| format!("pickle cannot load a {class} here: {e}"))
        })
    })
    .map_err(|_| "the Python interpreter is exiting".to_owned())??;
    Ok(foreign.hold(object))
}

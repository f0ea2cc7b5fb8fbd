//! Reading a flight-recorder journal from Python (`mycelium.journal`): its description and
//! its records as plain tuples, and the journal's errors as Python exceptions.
//!
//! The exceptions are made in module `mycelium.journal`, where the package exports them.

use mycelium_journal::{
    ActorAddr, Encoding, JournalError, JournalReader, Kind, Origin, Record, RunStart,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};
use pyo3::{create_exception, IntoPyObjectExt};

use crate::errors::MyceliumError;

create_exception!(
    mycelium.journal,
    JournalReadError,
    MyceliumError,
    "The journal cannot be read: no segment in the directory, a file the system refuses, a segment of another format version or journal."
);
create_exception!(
    mycelium.journal,
    JournalCorrupt,
    JournalReadError,
    "A record or header of the journal is damaged (a checksum or its layout fails): it is never returned as data. `path` and `offset` say where; `rows` holds the whole records before it."
);

/// `JournalReadError` with `text`.
pub(crate) fn read_error(text: String) -> PyErr {
    JournalReadError::new_err(text)
}

/// The Python exception for `e`; `rows`, the records read before it.
pub(crate) fn journal_error(
    py: Python<'_>,
    e: JournalError,
    rows: Option<Bound<'_, PyList>>,
) -> PyErr {
    let text = e.to_string();
    let (err, path, offset) = match &e {
        JournalError::Corrupt { path, offset, .. } => (
            JournalCorrupt::new_err(text),
            Some(path.display().to_string()),
            Some(*offset),
        ),
        JournalError::BadHeader { path, .. } | JournalError::Discontinuous { path, .. } => (
            JournalCorrupt::new_err(text),
            Some(path.display().to_string()),
            None,
        ),
        JournalError::Io { path, .. }
        | JournalError::NoSegments { path }
        | JournalError::NotAJournal { path }
        | JournalError::UnsupportedVersion { path, .. } => (
            JournalReadError::new_err(text),
            Some(path.display().to_string()),
            None,
        ),
        _ => (JournalReadError::new_err(text), None, None),
    };
    let value = err.value(py);
    let _ = value.setattr("path", path);
    let _ = value.setattr("offset", offset);
    let _ = value.setattr("rows", rows);
    err
}

fn origin<'py>(py: Python<'py>, o: Origin) -> PyResult<Bound<'py, PyAny>> {
    match o {
        Origin::None => Ok(py.None().into_bound(py)),
        Origin::Actor(ActorAddr { node, id }) => ("actor", node, id).into_bound_py_any(py),
        Origin::Remote { node } => ("remote", node).into_bound_py_any(py),
        Origin::Timer { id } => ("timer", id).into_bound_py_any(py),
        Origin::Outside => ("outside",).into_bound_py_any(py),
        Origin::Foreign { language } => {
            let name = match language {
                1 => "python",
                2 => "ocaml",
                3 => "c",
                _ => "foreign",
            };
            (name, language).into_bound_py_any(py)
        }
        Origin::Journal => ("journal",).into_bound_py_any(py),
    }
}

/// The payload as Python sees it: JSON text (parsed in Python), text, a number, the
/// journal's own records as a dict, bytes otherwise.
fn payload<'py>(py: Python<'py>, r: &Record) -> PyResult<Bound<'py, PyAny>> {
    if let Some(gap) = r.gap() {
        let d = PyDict::new(py);
        d.set_item("source", gap.source)?;
        d.set_item("first", gap.first)?;
        d.set_item("count", gap.count)?;
        return Ok(d.into_any());
    }
    if let Some(cut) = r.cut() {
        let d = PyDict::new(py);
        d.set_item("segment", cut.segment)?;
        d.set_item("offset", cut.offset)?;
        d.set_item("bytes", cut.bytes)?;
        return Ok(d.into_any());
    }
    if let Some((due, every)) = r.timer_schedule() {
        let d = PyDict::new(py);
        d.set_item("due", due)?;
        d.set_item("every", every)?;
        return Ok(d.into_any());
    }
    if let Some(n) = r.payload_u64() {
        return n.into_bound_py_any(py);
    }
    match r.encoding {
        Encoding::Empty => Ok(py.None().into_bound(py)),
        Encoding::Text | Encoding::Json => match r.payload_text() {
            Some(t) => t.into_bound_py_any(py),
            None => Ok(PyBytes::new(py, &r.payload).into_any()),
        },
        _ => Ok(PyBytes::new(py, &r.payload).into_any()),
    }
}

fn row<'py>(py: Python<'py>, r: &Record) -> PyResult<Bound<'py, PyTuple>> {
    let items: Vec<Bound<'py, PyAny>> = vec![
        r.seq.into_bound_py_any(py)?,
        r.time_ns.into_bound_py_any(py)?,
        r.kind.name().into_bound_py_any(py)?,
        r.actor.id.into_bound_py_any(py)?,
        r.actor.node.into_bound_py_any(py)?,
        origin(py, r.origin)?,
        r.cause.into_bound_py_any(py)?,
        r.asked.into_bound_py_any(py)?,
        r.type_id.into_bound_py_any(py)?,
        r.name.as_str().into_bound_py_any(py)?,
        r.topic.as_str().into_bound_py_any(py)?,
        r.encoding.name().into_bound_py_any(py)?,
        payload(py, r)?,
    ];
    PyTuple::new(py, items)
}

/// A segment as Python receives it: number, file, bytes, first sequence number.
type SegmentRow = (u64, String, u64, Option<u64>);

/// A run as Python receives it: index, how it began (`first`, `resumed`, `after-crash`),
/// first sequence number, first and last segment numbers.
type RunRow = (usize, &'static str, u64, u64, u64);

/// What `journal_describe` returns: node, schema digest (hex), schema text, segments, closed,
/// runs.
type Description = (String, String, String, Vec<SegmentRow>, bool, Vec<RunRow>);

/// The journal at `path`, or its run number `run`: a run the journal does not have is a
/// `ValueError`.
pub(crate) fn open_run(
    py: Python<'_>,
    path: &std::path::Path,
    run: Option<usize>,
) -> PyResult<JournalReader> {
    py.detach(|| {
        let reader = JournalReader::open(path)?;
        match run {
            None => Ok(reader),
            Some(n) => reader.run(n),
        }
    })
    .map_err(|e| match e {
        JournalError::NoSuchRun { .. } => PyValueError::new_err(e.to_string()),
        e => journal_error(py, e, None),
    })
}

/// `journal_describe(path, run=None) -> (node, schema_digest_hex, schema_text, segments,
/// closed, runs)`, each segment `(number, file, bytes, first_seq)` and each run of the whole
/// journal `(index, start, first_seq, first_segment, last_segment)`; `segments` and `closed`
/// are those of run `run` when it is given.
#[pyfunction]
#[pyo3(signature = (path, run=None))]
pub(crate) fn journal_describe(
    py: Python<'_>,
    path: std::path::PathBuf,
    run: Option<usize>,
) -> PyResult<Description> {
    let whole = JournalReader::open(&path).map_err(|e| journal_error(py, e, None))?;
    let runs = whole
        .runs()
        .map_err(|e| journal_error(py, e, None))?
        .into_iter()
        .map(|r| {
            let start = match r.start {
                RunStart::First => "first",
                RunStart::Resumed => "resumed",
                RunStart::AfterCrash => "after-crash",
            };
            (r.index, start, r.first_seq, r.segments.0, r.segments.1)
        })
        .collect();
    let reader = open_run(py, &path, run)?;
    let h = reader.header();
    let segments = reader
        .segments()
        .iter()
        .map(|s| {
            (
                s.number,
                s.path.display().to_string(),
                s.file_len,
                s.header.as_ref().map(|h| h.first_seq),
            )
        })
        .collect();
    Ok((
        h.node.clone(),
        h.schema.digest_hex(),
        h.schema.canonical.clone(),
        segments,
        reader.closed(),
        runs,
    ))
}

/// `journal_rows(path, actor, kinds, types, start_ns, end_ns) -> (rows, cut)`: the records
/// that pass the filters as tuples `(seq, time_ns, kind, actor, node, origin, cause, asked,
/// type_id, type, topic, encoding, payload)`, and the crash's cut at the end (a sentence) or
/// `None`. `actor` is `(node, id)`; `start_ns` inclusive, `end_ns` exclusive.
#[pyfunction]
#[pyo3(signature = (path, actor=None, kinds=None, types=None, start_ns=None, end_ns=None, run=None))]
#[allow(clippy::too_many_arguments)] // Python's keyword arguments, each optional
pub(crate) fn journal_rows<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    actor: Option<(u32, u64)>,
    kinds: Option<Vec<String>>,
    types: Option<Vec<String>>,
    start_ns: Option<u64>,
    end_ns: Option<u64>,
    run: Option<usize>,
) -> PyResult<(Bound<'py, PyList>, Option<String>)> {
    let kinds = match kinds {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    Kind::from_name(n).ok_or_else(|| {
                        let known: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                        PyValueError::new_err(format!(
                            "kind {n:?}: expected one of {}",
                            known.join(", ")
                        ))
                    })
                })
                .collect::<PyResult<Vec<Kind>>>()?,
        ),
    };
    let reader = open_run(py, &path, run)?;
    let rows = PyList::empty(py);
    let mut records = match start_ns {
        Some(t) => reader.records_from(t),
        None => reader.records(),
    };
    for record in records.by_ref() {
        let r = match record {
            Ok(r) => r,
            Err(e) => return Err(journal_error(py, e, Some(rows))),
        };
        if end_ns.is_some_and(|end| r.time_ns >= end)
            && !matches!(r.kind, Kind::Gap | Kind::Cut | Kind::Resumed)
        {
            continue;
        }
        if actor.is_some_and(|(node, id)| r.actor != ActorAddr { node, id }) {
            continue;
        }
        if kinds.as_ref().is_some_and(|k| !k.contains(&r.kind)) {
            continue;
        }
        if types.as_ref().is_some_and(|t| !t.contains(&r.name)) {
            continue;
        }
        rows.append(row(py, &r)?)?;
    }
    let cut = records.cut().map(|c| c.to_string());
    Ok((rows, cut))
}

/// Adds the functions and exceptions to the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(journal_describe, m)?)?;
    m.add_function(wrap_pyfunction!(journal_rows, m)?)?;
    m.add("JournalReadError", py.get_type::<JournalReadError>())?;
    m.add("JournalCorrupt", py.get_type::<JournalCorrupt>())?;
    Ok(())
}

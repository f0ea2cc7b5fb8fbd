//! The contract codec in the extension: encodes instances of the generated message classes
//! (`mycelium.trading`) to TLV bodies and builds instances back from bodies, byte for byte
//! and error for error what the generated pure-Python codec does, without running Python
//! bytecode per field.
//!
//! The codec is driven by the generated classes' own field tables (`_FIELDS`): the first use
//! of a class compiles its table into a [`Plan`] that is kept for the life of the process, so
//! the generated module stays the one description of the schema.
//!
//! This file holds the plans (compiled from `_FIELDS`, kept per class and per type id) and
//! the module's functions; `encoding.rs` writes an instance by its plan and `decoding.rs`
//! builds one back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyType};

mod decoding;
mod encoding;

use decoding::decode_error;

/// How deeply structs may nest inside one message (the generated module's `MAX_DEPTH`).
const MAX_DEPTH: u32 = 64;
const WIRE_NAMES: [&str; 5] = ["I8", "I16", "I32", "I64", "LEN"];
const WIRE_SKIP: [usize; 4] = [1, 2, 4, 8];

/// How one value is written.
enum Kind {
    Bool,
    Int {
        name: &'static str,
        width: usize,
        signed: bool,
    },
    F32,
    F64,
    Str,
    Bytes,
    Enum(Arc<EnumPlan>),
    Seq {
        elem: Box<Kind>,
        max_len: Option<u64>,
        exact: Option<u64>,
    },
    Struct(Arc<Plan>),
}

struct EnumPlan {
    name: String,
    members: HashMap<u32, Py<PyAny>>,
}

impl Kind {
    fn wire(&self) -> u8 {
        match self {
            Kind::Bool => 0,
            Kind::Int { width, .. } => match width {
                1 => 0,
                2 => 1,
                4 => 2,
                _ => 3,
            },
            Kind::F32 | Kind::Enum(_) => 2,
            Kind::F64 => 3,
            Kind::Str | Kind::Bytes | Kind::Seq { .. } | Kind::Struct(_) => 4,
        }
    }

    /// Bytes an element takes at least in a list.
    fn min_width(&self) -> usize {
        match self {
            Kind::Bool => 1,
            Kind::Int { width, .. } => *width,
            Kind::F32 | Kind::Enum(_) => 4,
            Kind::F64 => 8,
            _ => 4,
        }
    }
}

struct Field {
    tag: u16,
    name: Py<PyString>,
    name_text: String,
    kind: Kind,
    optional: bool,
    key: [u8; 2],
}

/// A generated struct or message class, compiled from its `_FIELDS` table.
pub(crate) struct Plan {
    cls: Py<PyType>,
    name: String,
    /// A message class's `TYPE_ID`, as a number and as the class's own int object (to look up
    /// in a set of accepted ids without making an int per message); `None` for a struct.
    type_id: Option<(u16, Py<PyAny>)>,
    /// Tag order (the encoding order).
    by_tag_order: Vec<Field>,
    /// Index into `by_tag_order` by tag.
    by_tag: HashMap<u16, usize>,
    /// Declaration order, as indices into `by_tag_order` (the missing-field check's order).
    declared: Vec<usize>,
    errors: Arc<Errors>,
}

/// The generated module's exception classes.
struct Errors {
    encode: Py<PyType>,
    decode: Py<PyType>,
}

static PLANS: Mutex<Option<HashMap<usize, Arc<Plan>>>> = Mutex::new(None);
static OBJECT_NEW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// The message classes of `mycelium.trading` by type id.
static REGISTRY: PyOnceLock<HashMap<u16, Arc<Plan>>> = PyOnceLock::new();

/// The plan of `cls`, compiled on first use.
pub(crate) fn plan(cls: &Bound<'_, PyType>) -> PyResult<Arc<Plan>> {
    let key = cls.as_ptr() as usize;
    // The last class this thread used, without the lock (a plan keeps its class alive, so
    // the address names the same class for as long as the plan is cached).
    if let Some(p) = LAST_PLAN.with_borrow(|last| {
        last.as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, p)| p.clone())
    }) {
        return Ok(p);
    }
    let found = plan_locked(cls, key)?;
    LAST_PLAN.with_borrow_mut(|last| *last = Some((key, found.clone())));
    Ok(found)
}

thread_local! {
    static LAST_PLAN: std::cell::RefCell<Option<(usize, Arc<Plan>)>> =
        const { std::cell::RefCell::new(None) };
}

fn plan_locked(cls: &Bound<'_, PyType>, key: usize) -> PyResult<Arc<Plan>> {
    if let Some(p) = PLANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Ok(p.clone());
    }
    if !cls.hasattr(pyo3::intern!(cls.py(), "_FIELDS"))? {
        return Err(not_generated(cls));
    }
    let module = cls.getattr("__module__")?;
    let module = cls.py().import(module.cast::<PyString>()?)?;
    let errors = Arc::new(Errors {
        encode: module
            .getattr("EncodeError")?
            .cast_into::<PyType>()?
            .unbind(),
        decode: module
            .getattr("DecodeError")?
            .cast_into::<PyType>()?
            .unbind(),
    });
    let built = Arc::new(compile(cls, &errors)?);
    PLANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, built.clone());
    Ok(built)
}

/// The error for a class that is not a generated contract class.
fn not_generated(cls: &Bound<'_, PyType>) -> PyErr {
    PyTypeError::new_err(format!(
        "{} is not a generated contract class (it has no _FIELDS table)",
        cls.name().map(|n| n.to_string()).unwrap_or_default()
    ))
}

fn compile(cls: &Bound<'_, PyType>, errors: &Arc<Errors>) -> PyResult<Plan> {
    let table = cls.getattr("_FIELDS").map_err(|_| not_generated(cls))?;
    let mut fields = Vec::new();
    for f in table.getattr("by_tag_order")?.try_iter()? {
        let f = f?;
        let tag: u16 = f.getattr("tag")?.extract()?;
        let name = f.getattr("name")?.cast_into::<PyString>()?;
        let optional: bool = f.getattr("optional")?.extract()?;
        let kind = kind_of(&f.getattr("codec")?, errors)?;
        let raw = (tag << 3) | u16::from(kind.wire());
        fields.push(Field {
            tag,
            name_text: name.to_str()?.to_string(),
            name: name.unbind(),
            kind,
            optional,
            key: raw.to_le_bytes(),
        });
    }
    let by_tag = fields.iter().enumerate().map(|(i, f)| (f.tag, i)).collect();
    let mut declared = Vec::new();
    for f in table.getattr("declared")?.try_iter()? {
        let tag: u16 = f?.getattr("tag")?.extract()?;
        if let Some(i) = fields.iter().position(|x| x.tag == tag) {
            declared.push(i);
        }
    }
    let type_id = match cls.getattr(pyo3::intern!(cls.py(), "TYPE_ID")) {
        Ok(id) => id.extract::<u16>().ok().map(|n| (n, id.unbind())),
        Err(_) => None,
    };
    Ok(Plan {
        cls: cls.clone().unbind(),
        name: cls.name()?.to_string(),
        type_id,
        by_tag_order: fields,
        by_tag,
        declared,
        errors: errors.clone(),
    })
}

fn kind_of(codec: &Bound<'_, PyAny>, errors: &Arc<Errors>) -> PyResult<Kind> {
    let class = codec.get_type().name()?.to_string();
    Ok(match class.as_str() {
        "_Bool" => Kind::Bool,
        "_Int" => {
            let name: String = codec.getattr("name")?.extract()?;
            let (name, width, signed) = match name.as_str() {
                "u8" => ("u8", 1, false),
                "u16" => ("u16", 2, false),
                "u32" => ("u32", 4, false),
                "u64" => ("u64", 8, false),
                "i8" => ("i8", 1, true),
                "i16" => ("i16", 2, true),
                "i32" => ("i32", 4, true),
                "i64" => ("i64", 8, true),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unknown integer codec `{other}` in a generated table"
                    )))
                }
            };
            Kind::Int {
                name,
                width,
                signed,
            }
        }
        "_F32" => Kind::F32,
        "_F64" => Kind::F64,
        "_Str" => Kind::Str,
        "_Bytes" => Kind::Bytes,
        "_Enum" => {
            let cls = codec.getattr("cls")?.cast_into::<PyType>()?;
            let mut members = HashMap::new();
            for m in cls.try_iter()? {
                let m = m?;
                let v: i64 = m.extract()?;
                if let Ok(v) = u32::try_from(v) {
                    members.insert(v, m.unbind());
                }
            }
            Kind::Enum(Arc::new(EnumPlan {
                name: cls.name()?.to_string(),
                members,
            }))
        }
        "_Seq" => Kind::Seq {
            elem: Box::new(kind_of(&codec.getattr("elem")?, errors)?),
            max_len: codec.getattr("max_len")?.extract()?,
            exact: codec.getattr("exact")?.extract()?,
        },
        "_StructRef" => {
            let cls = codec.getattr("cls")?.cast_into::<PyType>()?;
            // Structs cannot be recursive in a schema, so this terminates.
            Kind::Struct(Arc::new(compile(&cls, errors)?))
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "unknown codec `{other}` in a generated table"
            )))
        }
    })
}

// --- the module's functions ----------------------------------------------------------------

/// The contract message class of `message`'s type, checked.
pub(crate) fn message_plan(message: &Bound<'_, PyAny>) -> PyResult<Arc<Plan>> {
    plan(&message.get_type())
}

/// `mycelium.trading.Message`, the base of the generated message classes.
static MESSAGE_BASE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// True if `value` is an instance of a generated message class.
pub(crate) fn is_message(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = value.py();
    let base = MESSAGE_BASE.get_or_try_init(py, || {
        py.import("mycelium.trading")?
            .getattr("Message")?
            .cast_into::<PyType>()
            .map(Bound::unbind)
            .map_err(PyErr::from)
    })?;
    value.is_instance(base.bind(py))
}

impl Plan {
    /// The class's `TYPE_ID` (a number and the int object), for a message class.
    pub(crate) fn type_id(&self) -> Option<&(u16, Py<PyAny>)> {
        self.type_id.as_ref()
    }

    /// The type id of `message`, an instance of this plan's class: the class's, read with the
    /// plan, or (for a class whose `TYPE_ID` is not a u16) read from the instance, with its
    /// error.
    pub(crate) fn type_id_of(&self, message: &Bound<'_, PyAny>) -> PyResult<u16> {
        match &self.type_id {
            Some((type_id, _)) => Ok(*type_id),
            None => type_id_of(message),
        }
    }
}

/// The type id of a generated message instance.
pub(crate) fn type_id_of(message: &Bound<'_, PyAny>) -> PyResult<u16> {
    message
        .getattr(pyo3::intern!(message.py(), "TYPE_ID"))?
        .extract()
}

/// `encode(message) -> bytes`: the TLV body of a generated message or struct instance,
/// exactly as its `encode()` method writes it.
#[pyfunction]
pub(crate) fn encode<'py>(message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let body = message_plan(message)?.encode(message)?;
    Ok(PyBytes::new(message.py(), &body))
}

/// `decode(cls, body) -> instance`: a generated message or struct class's `decode(body)`.
#[pyfunction]
pub(crate) fn decode<'py>(
    cls: &Bound<'py, PyType>,
    body: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let plan = plan(cls)?;
    let py = cls.py();
    if let Ok(b) = body.cast::<PyBytes>() {
        return plan.decode(py, b.as_bytes());
    }
    let data: Vec<u8> = py
        .get_type::<PyBytes>()
        .call1((body,))?
        .cast_into::<PyBytes>()?
        .as_bytes()
        .to_vec();
    plan.decode(py, &data)
}

/// Decodes a body of the contract message `type_id` (`mycelium.trading.decode_message`).
pub(crate) fn decode_message<'py>(
    py: Python<'py>,
    type_id: u16,
    body: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    let registry = REGISTRY.get_or_try_init(py, || {
        let mut map = HashMap::new();
        let module = py.import("mycelium.trading")?;
        for (id, cls) in module
            .getattr("REGISTRY")?
            .cast::<pyo3::types::PyDict>()?
            .iter()
        {
            map.insert(id.extract::<u16>()?, plan(cls.cast::<PyType>()?)?);
        }
        Ok::<_, PyErr>(map)
    })?;
    match registry.get(&type_id) {
        Some(plan) => plan.decode(py, body),
        None => {
            let errors = registry
                .values()
                .next()
                .map(|p| p.errors.clone())
                .ok_or_else(|| PyTypeError::new_err("mycelium.trading has no messages"))?;
            Err(decode_error(
                py,
                &errors,
                "UnknownType",
                format!("type id {type_id} is not a message of this schema"),
            ))
        }
    }
}

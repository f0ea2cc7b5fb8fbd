//! The contract codec in the extension: encodes instances of the generated message classes
//! (`mycelium.trading`) to TLV bodies and builds instances back from bodies, byte for byte
//! and error for error what the generated pure-Python codec does, without running Python
//! bytecode per field.
//!
//! The codec is driven by the generated classes' own field tables (`_FIELDS`): the first use
//! of a class compiles its table into a [`Plan`] that is kept for the life of the process, so
//! the generated module stays the one description of the schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple, PyType,
};

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
    Ok(Plan {
        cls: cls.clone().unbind(),
        name: cls.name()?.to_string(),
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

// --- encoding --------------------------------------------------------------------------

fn encode_error(py: Python<'_>, errors: &Errors, text: String) -> PyErr {
    PyErr::from_type(errors.encode.bind(py).clone(), text)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

impl Plan {
    /// The TLV body of `value`, an instance of this plan's class.
    pub(crate) fn encode(&self, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        self.write_fields(&mut out, value, &self.name)?;
        Ok(out)
    }

    fn write_fields(
        &self,
        out: &mut Vec<u8>,
        value: &Bound<'_, PyAny>,
        what: &str,
    ) -> PyResult<()> {
        let py = value.py();
        for f in &self.by_tag_order {
            let item = value.getattr(f.name.bind(py))?;
            if item.is_none() {
                if f.optional {
                    continue;
                }
                return Err(encode_error(
                    py,
                    &self.errors,
                    format!("{what}.{}: required field is None", f.name_text),
                ));
            }
            out.extend_from_slice(&f.key);
            write(out, &f.kind, &item, &self.errors, &Lazy(what, &f.name_text))?;
        }
        Ok(())
    }
}

/// A field path built only when an error needs it.
struct Lazy<'a>(&'a str, &'a str);

impl Lazy<'_> {
    fn text(&self) -> String {
        format!("{}.{}", self.0, self.1)
    }
}

fn write_len(
    out: &mut Vec<u8>,
    n: usize,
    py: Python<'_>,
    errors: &Errors,
    what: &dyn Fn() -> String,
) -> PyResult<()> {
    let n = u32::try_from(n).map_err(|_| {
        encode_error(
            py,
            errors,
            format!("{}: {n} bytes do not fit a u32 length", what()),
        )
    })?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn write(
    out: &mut Vec<u8>,
    kind: &Kind,
    value: &Bound<'_, PyAny>,
    errors: &Errors,
    path: &Lazy<'_>,
) -> PyResult<()> {
    write_at(out, kind, value, errors, &|| path.text())
}

fn write_at(
    out: &mut Vec<u8>,
    kind: &Kind,
    value: &Bound<'_, PyAny>,
    errors: &Errors,
    what: &dyn Fn() -> String,
) -> PyResult<()> {
    let py = value.py();
    match kind {
        Kind::Int {
            name,
            width,
            signed,
        } => {
            if value.is_exact_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
                return Err(encode_error(
                    py,
                    errors,
                    format!(
                        "{}: expected an int ({name}), got {}",
                        what(),
                        type_name(value)
                    ),
                ));
            }
            let bits = 8 * *width as u32;
            let (lo, hi): (i128, i128) = if *signed {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            let v = value
                .extract::<i128>()
                .ok()
                .filter(|v| (lo..=hi).contains(v));
            let Some(v) = v else {
                return Err(encode_error(
                    py,
                    errors,
                    format!("{}: {} is out of range for {name}", what(), value.str()?),
                ));
            };
            out.extend_from_slice(&v.to_le_bytes()[..*width]);
        }
        Kind::Bool => {
            if !value.is_exact_instance_of::<PyBool>() {
                return Err(encode_error(
                    py,
                    errors,
                    format!("{}: expected a bool, got {}", what(), type_name(value)),
                ));
            }
            out.push(u8::from(value.is_truthy()?));
        }
        Kind::F64 => {
            let v = float_value(value, "f64", errors, what)?;
            out.extend_from_slice(&v.to_le_bytes());
        }
        Kind::F32 => {
            let v = float_value(value, "f32", errors, what)?;
            let bits = f32_bits_of_float(v).ok_or_else(|| {
                encode_error(
                    py,
                    errors,
                    format!(
                        "{}: {} does not fit in f32: float too large to pack with f format",
                        what(),
                        value.repr().map(|r| r.to_string()).unwrap_or_default()
                    ),
                )
            })?;
            out.extend_from_slice(&bits.to_le_bytes());
        }
        Kind::Str => {
            let Ok(s) = value.cast::<PyString>() else {
                return Err(encode_error(
                    py,
                    errors,
                    format!("{}: expected a str, got {}", what(), type_name(value)),
                ));
            };
            let text = match s.to_str() {
                Ok(t) => t,
                Err(_) => {
                    // Lone surrogates: let Python say why, as the generated codec does.
                    let e = match s.call_method1("encode", ("utf-8",)) {
                        Err(e) => e.value(py).str()?.to_string(),
                        Ok(_) => "invalid text".to_string(),
                    };
                    return Err(encode_error(
                        py,
                        errors,
                        format!("{}: not encodable as UTF-8: {e}", what()),
                    ));
                }
            };
            write_len(out, text.len(), py, errors, what)?;
            out.extend_from_slice(text.as_bytes());
        }
        Kind::Bytes => {
            if let Ok(b) = value.cast::<PyBytes>() {
                write_len(out, b.as_bytes().len(), py, errors, what)?;
                out.extend_from_slice(b.as_bytes());
            } else if let Ok(b) = value.cast::<PyByteArray>() {
                let data = b.to_vec();
                write_len(out, data.len(), py, errors, what)?;
                out.extend_from_slice(&data);
            } else if value.get_type().name()?.to_str()? == "memoryview" {
                let data: Vec<u8> = py
                    .get_type::<PyBytes>()
                    .call1((value,))?
                    .cast_into::<PyBytes>()?
                    .as_bytes()
                    .to_vec();
                write_len(out, data.len(), py, errors, what)?;
                out.extend_from_slice(&data);
            } else {
                return Err(encode_error(
                    py,
                    errors,
                    format!("{}: expected bytes, got {}", what(), type_name(value)),
                ));
            }
        }
        Kind::Enum(plan) => {
            if value.is_exact_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
                return Err(encode_error(
                    py,
                    errors,
                    format!(
                        "{}: expected a {}, got {}",
                        what(),
                        plan.name,
                        type_name(value)
                    ),
                ));
            }
            let v = value
                .extract::<i64>()
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| plan.members.contains_key(v));
            let Some(v) = v else {
                return Err(encode_error(
                    py,
                    errors,
                    format!("{}: {} is not a {} value", what(), value.str()?, plan.name),
                ));
            };
            out.extend_from_slice(&v.to_le_bytes());
        }
        Kind::Seq {
            elem,
            max_len,
            exact,
        } => {
            let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = value.cast::<PyList>() {
                l.iter().collect()
            } else if let Ok(t) = value.cast::<PyTuple>() {
                t.iter().collect()
            } else {
                return Err(encode_error(
                    py,
                    errors,
                    format!("{}: expected a list, got {}", what(), type_name(value)),
                ));
            };
            let count = items.len() as u64;
            if let Some(n) = exact {
                if count != *n {
                    return Err(encode_error(
                        py,
                        errors,
                        format!("{}: array needs exactly {n} elements, got {count}", what()),
                    ));
                }
            }
            if let Some(m) = max_len {
                if count > *m {
                    return Err(encode_error(
                        py,
                        errors,
                        format!("{}: {count} elements exceed max_len {m}", what()),
                    ));
                }
            }
            let mark = out.len();
            out.extend_from_slice(&[0; 4]);
            write_len(out, items.len(), py, errors, what)?;
            for (i, item) in items.iter().enumerate() {
                write_at(out, elem, item, errors, &|| format!("{}[{i}]", what()))?;
            }
            end_len(out, mark, py, errors, what)?;
        }
        Kind::Struct(plan) => {
            if !value.is_instance(plan.cls.bind(py))? {
                return Err(encode_error(
                    py,
                    errors,
                    format!(
                        "{}: expected a {}, got {}",
                        what(),
                        plan.name,
                        type_name(value)
                    ),
                ));
            }
            let mark = out.len();
            out.extend_from_slice(&[0; 4]);
            plan.write_fields(out, value, &what())?;
            end_len(out, mark, py, errors, what)?;
        }
    }
    Ok(())
}

fn end_len(
    out: &mut [u8],
    mark: usize,
    py: Python<'_>,
    errors: &Errors,
    what: &dyn Fn() -> String,
) -> PyResult<()> {
    let n = out.len() - mark - 4;
    let n = u32::try_from(n).map_err(|_| {
        encode_error(
            py,
            errors,
            format!("{}: {n} bytes do not fit a u32 length", what()),
        )
    })?;
    out[mark..mark + 4].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

fn float_value(
    value: &Bound<'_, PyAny>,
    name: &str,
    errors: &Errors,
    what: &dyn Fn() -> String,
) -> PyResult<f64> {
    let py = value.py();
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(f.value());
    }
    if value.is_exact_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(encode_error(
            py,
            errors,
            format!(
                "{}: expected a float ({name}), got {}",
                what(),
                type_name(value)
            ),
        ));
    }
    value.extract::<f64>().map_err(|e| {
        let text = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
        encode_error(
            py,
            errors,
            format!(
                "{}: {} does not fit in {name}: {text}",
                what(),
                value.repr().map(|r| r.to_string()).unwrap_or_default()
            ),
        )
    })
}

/// The f32 bits of `value` as the generated codec writes them: NaN payloads kept, rounding
/// to nearest, `None` for a finite value too large for f32.
fn f32_bits_of_float(value: f64) -> Option<u32> {
    if value.is_nan() {
        let wide = value.to_bits();
        let mantissa = ((wide >> 29) & 0x007F_FFFF) as u32;
        let sign = ((wide >> 32) & 0x8000_0000) as u32;
        return Some(sign | 0x7F80_0000 | if mantissa == 0 { 0x0040_0000 } else { mantissa });
    }
    let narrow = value as f32;
    if narrow.is_infinite() && value.is_finite() {
        return None;
    }
    Some(narrow.to_bits())
}

fn float_of_f32_bits(bits: u32) -> f64 {
    if bits & 0x7F80_0000 == 0x7F80_0000 && bits & 0x007F_FFFF != 0 {
        let wide = ((u64::from(bits) & 0x8000_0000) << 32)
            | 0x7FF0_0000_0000_0000
            | ((u64::from(bits) & 0x007F_FFFF) << 29);
        return f64::from_bits(wide);
    }
    f64::from(f32::from_bits(bits))
}

// --- decoding --------------------------------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    depth: u32,
}

fn decode_error(py: Python<'_>, errors: &Errors, kind: &str, detail: String) -> PyErr {
    match errors.decode.bind(py).call1((kind, detail)) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

impl<'a> Reader<'a> {
    fn need(
        &self,
        n: usize,
        py: Python<'_>,
        errors: &Errors,
        what: &dyn Fn() -> String,
    ) -> PyResult<()> {
        if n > self.end - self.pos {
            return Err(decode_error(
                py,
                errors,
                "Truncated",
                format!(
                    "{} needs {n} bytes but {} remain",
                    what(),
                    self.end - self.pos
                ),
            ));
        }
        Ok(())
    }

    fn take(
        &mut self,
        n: usize,
        py: Python<'_>,
        errors: &Errors,
        what: &dyn Fn() -> String,
    ) -> PyResult<&'a [u8]> {
        self.need(n, py, errors, what)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, py: Python<'_>, errors: &Errors, what: &dyn Fn() -> String) -> PyResult<u32> {
        let b = self.take(4, py, errors, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn sub(
        &mut self,
        py: Python<'_>,
        errors: &Errors,
        what: &dyn Fn() -> String,
    ) -> PyResult<Reader<'a>> {
        let n = self.u32(py, errors, what)? as usize;
        self.need(n, py, errors, what)?;
        let inner = Reader {
            buf: self.buf,
            pos: self.pos,
            end: self.pos + n,
            depth: self.depth,
        };
        self.pos += n;
        Ok(inner)
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..self.end];
        self.pos = self.end;
        s
    }
}

fn object_new(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    OBJECT_NEW
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.get_type::<pyo3::types::PyAny>()
                    .getattr("__new__")?
                    .unbind(),
            )
        })
        .map(|o| o.bind(py))
}

impl Plan {
    /// Builds an instance of this plan's class from a body written by `encode`; raises the
    /// generated module's `DecodeError` on any malformed input.
    pub(crate) fn decode<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let mut r = Reader {
            buf: body,
            pos: 0,
            end: body.len(),
            depth: 0,
        };
        self.read_fields(py, &mut r)
    }

    fn read_fields<'py>(&self, py: Python<'py>, r: &mut Reader<'_>) -> PyResult<Bound<'py, PyAny>> {
        let errors = &*self.errors;
        let name = &self.name;
        let mut values: Vec<Option<Bound<'py, PyAny>>> =
            Vec::with_capacity(self.by_tag_order.len());
        values.resize_with(self.by_tag_order.len(), || None);
        while r.pos < r.end {
            let k = r.take(2, py, errors, &|| format!("{name} field key"))?;
            let key = u16::from_le_bytes([k[0], k[1]]);
            let tag = key >> 3;
            let wire = (key & 7) as u8;
            if tag == 0 {
                return Err(decode_error(
                    py,
                    errors,
                    "InvalidTag",
                    format!("{name}: tag 0 is not a valid field tag"),
                ));
            }
            if wire > 4 {
                return Err(decode_error(
                    py,
                    errors,
                    "InvalidWireType",
                    format!("{name} tag {tag}: wire type {wire} is reserved"),
                ));
            }
            let Some(&i) = self.by_tag.get(&tag) else {
                let what = || format!("{name} unknown tag {tag}");
                if wire < 4 {
                    r.take(WIRE_SKIP[wire as usize], py, errors, &what)?;
                } else {
                    r.sub(py, errors, &what)?;
                }
                continue;
            };
            let f = &self.by_tag_order[i];
            let what = || format!("{name}.{}", f.name_text);
            let expected = f.kind.wire();
            if wire != expected {
                return Err(decode_error(
                    py,
                    errors,
                    "WrongWireType",
                    format!(
                        "{}: wire type {}, expected {}",
                        what(),
                        WIRE_NAMES[wire as usize],
                        WIRE_NAMES[expected as usize]
                    ),
                ));
            }
            if values[i].is_some() {
                return Err(decode_error(
                    py,
                    errors,
                    "DuplicateField",
                    format!("{}: tag {tag} appears twice", what()),
                ));
            }
            values[i] = Some(read(py, &f.kind, r, errors, &what)?);
        }
        for &i in &self.declared {
            if values[i].is_none() && !self.by_tag_order[i].optional {
                let f = &self.by_tag_order[i];
                return Err(decode_error(
                    py,
                    errors,
                    "MissingField",
                    format!("{name}.{} (tag {}) is required", f.name_text, f.tag),
                ));
            }
        }
        // The generated classes are slotted dataclasses whose `__init__` only assigns: build
        // the instance and assign the slots directly.
        let cls = self.cls.bind(py);
        let obj = object_new(py)?.call1((cls,))?;
        for &i in &self.declared {
            let f = &self.by_tag_order[i];
            match values[i].take() {
                Some(v) => obj.setattr(f.name.bind(py), v)?,
                None => obj.setattr(f.name.bind(py), py.None())?,
            }
        }
        Ok(obj)
    }
}

fn read<'py>(
    py: Python<'py>,
    kind: &Kind,
    r: &mut Reader<'_>,
    errors: &Errors,
    what: &dyn Fn() -> String,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match kind {
        Kind::Int { width, signed, .. } => {
            let b = r.take(*width, py, errors, what)?;
            let mut raw = [0u8; 8];
            raw[..*width].copy_from_slice(b);
            let u = u64::from_le_bytes(raw);
            if *signed {
                let shift = 64 - 8 * *width as u32;
                (((u << shift) as i64) >> shift)
                    .into_pyobject(py)?
                    .into_any()
            } else {
                u.into_pyobject(py)?.into_any()
            }
        }
        Kind::Bool => {
            let b = r.take(1, py, errors, what)?[0];
            if b > 1 {
                return Err(decode_error(
                    py,
                    errors,
                    "InvalidValue",
                    format!("{}: bool byte is {b}, not 0 or 1", what()),
                ));
            }
            PyBool::new(py, b == 1).to_owned().into_any()
        }
        Kind::F64 => {
            let b = r.take(8, py, errors, what)?;
            let mut raw = [0u8; 8];
            raw.copy_from_slice(b);
            PyFloat::new(py, f64::from_le_bytes(raw)).into_any()
        }
        Kind::F32 => {
            let bits = r.u32(py, errors, what)?;
            PyFloat::new(py, float_of_f32_bits(bits)).into_any()
        }
        Kind::Str => {
            let data = r.sub(py, errors, what)?.rest();
            match std::str::from_utf8(data) {
                Ok(s) => PyString::new(py, s).into_any(),
                Err(_) => {
                    // Let Python say why, in the generated codec's words.
                    let (reason, start) =
                        match PyBytes::new(py, data).call_method1("decode", ("utf-8",)) {
                            Err(e) => {
                                let v = e.value(py);
                                (
                                    v.getattr("reason")?.extract::<String>()?,
                                    v.getattr("start")?.extract::<usize>()?,
                                )
                            }
                            Ok(_) => ("invalid UTF-8".to_string(), 0),
                        };
                    return Err(decode_error(
                        py,
                        errors,
                        "InvalidUtf8",
                        format!("{}: {reason} at byte {start}", what()),
                    ));
                }
            }
        }
        Kind::Bytes => PyBytes::new(py, r.sub(py, errors, what)?.rest()).into_any(),
        Kind::Enum(plan) => {
            let raw = r.u32(py, errors, what)?;
            match plan.members.get(&raw) {
                Some(m) => m.bind(py).clone(),
                None => {
                    return Err(decode_error(
                        py,
                        errors,
                        "UnknownEnumValue",
                        format!("{}: {raw} is not a {} value", what(), plan.name),
                    ))
                }
            }
        }
        Kind::Seq {
            elem,
            max_len,
            exact,
        } => {
            let mut inner = r.sub(py, errors, what)?;
            let count = inner.u32(py, errors, &|| format!("{} count", what()))?;
            if let Some(n) = exact {
                if u64::from(count) != *n {
                    return Err(decode_error(
                        py,
                        errors,
                        "LengthMismatch",
                        format!("{}: array needs exactly {n} elements, got {count}", what()),
                    ));
                }
            }
            if let Some(m) = max_len {
                if u64::from(count) > *m {
                    return Err(decode_error(
                        py,
                        errors,
                        "LengthMismatch",
                        format!("{}: {count} elements exceed max_len {m}", what()),
                    ));
                }
            }
            let need = (count as usize).saturating_mul(elem.min_width());
            inner.need(need, py, errors, &|| {
                format!("{} ({count} elements)", what())
            })?;
            let list = PyList::empty(py);
            for i in 0..count {
                list.append(read(py, elem, &mut inner, errors, &|| {
                    format!("{}[{i}]", what())
                })?)?;
            }
            if inner.pos != inner.end {
                return Err(decode_error(
                    py,
                    errors,
                    "TrailingBytes",
                    format!(
                        "{}: {} bytes left after {count} elements",
                        what(),
                        inner.end - inner.pos
                    ),
                ));
            }
            list.into_any()
        }
        Kind::Struct(plan) => {
            let mut inner = r.sub(py, errors, what)?;
            inner.depth += 1;
            if inner.depth > MAX_DEPTH {
                return Err(decode_error(
                    py,
                    errors,
                    "TooDeep",
                    format!("{}: structs nest deeper than {MAX_DEPTH}", what()),
                ));
            }
            plan.read_fields(py, &mut inner)?
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

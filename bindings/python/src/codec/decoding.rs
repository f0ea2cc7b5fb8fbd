//! Decoding: a TLV body back into an instance of a generated message class, with the
//! generated codec's checks and error messages.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyList, PyString};

use super::{Errors, Kind, Plan, MAX_DEPTH, OBJECT_NEW, WIRE_NAMES, WIRE_SKIP};

fn float_of_f32_bits(bits: u32) -> f64 {
    if bits & 0x7F80_0000 == 0x7F80_0000 && bits & 0x007F_FFFF != 0 {
        let wide = ((u64::from(bits) & 0x8000_0000) << 32)
            | 0x7FF0_0000_0000_0000
            | ((u64::from(bits) & 0x007F_FFFF) << 29);
        return f64::from_bits(wide);
    }
    f64::from(f32::from_bits(bits))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    depth: u32,
}

pub(super) fn decode_error(py: Python<'_>, errors: &Errors, kind: &str, detail: String) -> PyErr {
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

//! Encoding: an instance of a generated message class, field by field into a TLV body, with
//! the generated codec's checks and error messages.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::{Errors, Kind, Plan};

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
            // Most ints fit an i64, which one call of the limited API reads; the exact value
            // of a larger one (a u64 above i64::MAX, or one out of every range) takes pyo3's
            // i128 path, several calls and objects under abi3 (about 200 instructions an int,
            // docs/perf/python.md).
            let v = match value.extract::<i64>() {
                Ok(v) => Some(i128::from(v)),
                Err(_) => value.extract::<i128>().ok(),
            }
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

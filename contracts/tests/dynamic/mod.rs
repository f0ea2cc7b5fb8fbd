//! A codec driven by a `Schema` at run time, written from docs/wire.md alone: what a peer
//! holding another version of the schema decodes. The tests cross-check it against the
//! generated Rust codec byte for byte, then use it to hold `compat::check` to what real
//! decoders do.

use std::collections::BTreeMap;

use mycelium_codegen::model::{Field, Schema, Type};

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Integers, bools and enums (as their wire value), floats as their bits.
    Bits(u64),
    /// `string` or `bytes`.
    Blob(Vec<u8>),
    /// A list or array.
    Seq(Vec<Value>),
    /// A struct or message: values by tag.
    Record(BTreeMap<u16, Value>),
}

/// Why the dynamic codec refused bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

fn width(t: &Type) -> Option<usize> {
    t.fixed_width()
}

/// Appends the field sequence of `fields` holding `v`.
pub fn encode_record(
    schema: &Schema,
    fields: &[Field],
    v: &BTreeMap<u16, Value>,
    out: &mut Vec<u8>,
) {
    let mut sorted: Vec<&Field> = fields.iter().collect();
    sorted.sort_by_key(|f| f.tag);
    for f in sorted {
        let Some(x) = v.get(&f.tag) else { continue };
        let wire = f.ty.wire_type() as u16;
        out.extend_from_slice(&((f.tag << 3) | wire).to_le_bytes());
        encode_value(schema, &f.ty, x, out);
    }
}

fn encode_value(schema: &Schema, t: &Type, v: &Value, out: &mut Vec<u8>) {
    match (t, v) {
        (_, Value::Bits(b)) => {
            let n = width(t).unwrap_or(8);
            out.extend_from_slice(&b.to_le_bytes()[..n]);
        }
        (_, Value::Blob(b)) => {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        (Type::Struct(name), Value::Record(r)) => {
            let s = schema.struct_named(name).expect("declared");
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            encode_record(schema, &s.fields, r, out);
            let n = (out.len() - start - 4) as u32;
            out[start..start + 4].copy_from_slice(&n.to_le_bytes());
        }
        (Type::Array(inner, _) | Type::List(inner, _), Value::Seq(items)) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for x in items {
                encode_value(schema, inner, x, out);
            }
            let n = (out.len() - start - 4) as u32;
            out[start..start + 4].copy_from_slice(&n.to_le_bytes());
        }
        _ => panic!("value {v:?} does not fit type {t:?}"),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Refused> {
        if n > self.b.len() {
            return refuse(format!("truncated: {n} needed, {} left", self.b.len()));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u32(&mut self) -> Result<usize, Refused> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// Reads a field sequence spanning all of `bytes`.
pub fn decode_record(
    schema: &Schema,
    fields: &[Field],
    bytes: &[u8],
    depth: u32,
) -> Result<BTreeMap<u16, Value>, Refused> {
    if depth > 64 {
        return refuse("too deep");
    }
    let mut c = Cursor { b: bytes };
    let mut out = BTreeMap::new();
    while !c.b.is_empty() {
        let k = c.take(2)?;
        let key = u16::from_le_bytes([k[0], k[1]]);
        let (tag, wire) = (key >> 3, key & 7);
        if tag == 0 {
            return refuse("tag 0");
        }
        let Some(f) = fields.iter().find(|f| f.tag == tag) else {
            let n = match wire {
                0 => 1,
                1 => 2,
                2 => 4,
                3 => 8,
                4 => c.u32()?,
                _ => return refuse(format!("wire type {wire}")),
            };
            c.take(n)?;
            continue;
        };
        if wire != f.ty.wire_type() as u16 {
            return refuse(format!("field {} has wire type {wire}", f.name));
        }
        if out.contains_key(&tag) {
            return refuse(format!("field {} twice", f.name));
        }
        let v = decode_value(schema, &f.ty, &mut c, depth)?;
        out.insert(tag, v);
    }
    for f in fields {
        if !f.optional && !out.contains_key(&f.tag) {
            return refuse(format!("missing required field {}", f.name));
        }
    }
    Ok(out)
}

fn decode_value(
    schema: &Schema,
    t: &Type,
    c: &mut Cursor<'_>,
    depth: u32,
) -> Result<Value, Refused> {
    if let Some(n) = width(t) {
        let b = c.take(n)?;
        let mut x = [0u8; 8];
        x[..n].copy_from_slice(b);
        let v = u64::from_le_bytes(x);
        match t {
            Type::Bool if v > 1 => return refuse("bool"),
            Type::Enum(name) => {
                let e = schema.enum_named(name).expect("declared");
                if !e.variants.iter().any(|(_, x)| u64::from(*x) == v) {
                    return refuse(format!("{v} is no variant of {name}"));
                }
            }
            _ => {}
        }
        return Ok(Value::Bits(v));
    }
    let n = c.u32()?;
    let body = c.take(n)?;
    match t {
        Type::String => match std::str::from_utf8(body) {
            Ok(_) => Ok(Value::Blob(body.to_vec())),
            Err(_) => refuse("utf-8"),
        },
        Type::Bytes => Ok(Value::Blob(body.to_vec())),
        Type::Struct(name) => {
            let s = schema.struct_named(name).expect("declared");
            Ok(Value::Record(decode_record(
                schema,
                &s.fields,
                body,
                depth + 1,
            )?))
        }
        Type::Array(inner, _) | Type::List(inner, _) => {
            let mut e = Cursor { b: body };
            let count = e.u32()?;
            match t {
                Type::Array(_, n) if count != *n => return refuse("array size"),
                Type::List(_, Some(m)) if count > *m as usize => return refuse("max_len"),
                _ => {}
            }
            if count.saturating_mul(width(inner).unwrap_or(4)) > e.b.len() {
                return refuse("count larger than the bytes");
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode_value(schema, inner, &mut e, depth)?);
            }
            if !e.b.is_empty() {
                return refuse("trailing bytes");
            }
            Ok(Value::Seq(items))
        }
        _ => unreachable!("fixed-width types are handled above"),
    }
}

/// A small deterministic generator, so that values depend only on a proptest seed.
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A random value of every field (optional ones present half of the time).
    pub fn record(
        &mut self,
        schema: &Schema,
        fields: &[Field],
        depth: u32,
    ) -> BTreeMap<u16, Value> {
        let mut out = BTreeMap::new();
        for f in fields {
            if f.optional && self.below(2) == 0 {
                continue;
            }
            out.insert(f.tag, self.value(schema, &f.ty, depth));
        }
        out
    }

    fn value(&mut self, schema: &Schema, t: &Type, depth: u32) -> Value {
        match t {
            Type::Bool => Value::Bits(self.below(2)),
            Type::Enum(name) => {
                let e = schema.enum_named(name).expect("declared");
                let i = self.below(e.variants.len() as u64) as usize;
                Value::Bits(u64::from(e.variants[i].1))
            }
            Type::String => Value::Blob(
                (0..self.below(6))
                    .map(|_| b'a' + self.below(26) as u8)
                    .collect(),
            ),
            Type::Bytes => Value::Blob((0..self.below(6)).map(|_| self.next() as u8).collect()),
            Type::Struct(name) => {
                let s = schema.struct_named(name).expect("declared");
                Value::Record(self.record(schema, &s.fields, depth + 1))
            }
            Type::Array(inner, n) => {
                Value::Seq((0..*n).map(|_| self.value(schema, inner, depth)).collect())
            }
            Type::List(inner, max) => {
                let hi = max.map_or(3, |m| u64::from(m).min(3));
                let n = if depth > 3 { 0 } else { self.below(hi + 1) };
                Value::Seq((0..n).map(|_| self.value(schema, inner, depth)).collect())
            }
            fixed => {
                let w = width(fixed).unwrap_or(8);
                let v = self.next();
                Value::Bits(if w == 8 {
                    v
                } else {
                    v & ((1u64 << (8 * w)) - 1)
                })
            }
        }
    }
}

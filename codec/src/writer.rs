//! Encoding primitives the generated code calls. Everything appends to a `Vec<u8>` and
//! never allocates once the vector has enough capacity.
//!
//! # Panics
//!
//! Functions writing a length panic if it exceeds `u32::MAX` (4 GiB), which no frame can
//! carry; the data comes from the program itself, never from a peer.

use crate::fixed::Fixed;
use crate::wire_type::WireType;
use crate::WireStruct;

#[inline(always)]
fn len_u32(n: usize) -> u32 {
    match u32::try_from(n) {
        Ok(n) => n,
        Err(_) => panic!("a wire value of {n} bytes or elements exceeds the u32 length limit"),
    }
}

/// Writes the 2-byte key for `tag`.
#[inline(always)]
pub fn key(out: &mut Vec<u8>, tag: u16, wire: WireType) {
    out.extend_from_slice(&wire.key(tag).to_le_bytes());
}

/// Writes a fixed-width field: key and value in one copy.
#[inline(always)]
pub fn field<T: Fixed>(out: &mut Vec<u8>, tag: u16, v: T) {
    key(out, tag, T::WIRE);
    v.put(out);
}

/// Writes an 8-byte field (`u64`, `i64`, `f64` bits) with a single copy of 10 bytes.
#[inline(always)]
pub fn field_u64_bits(out: &mut Vec<u8>, tag: u16, bits: u64) {
    let mut b = [0u8; 10];
    b[..2].copy_from_slice(&WireType::I64.key(tag).to_le_bytes());
    b[2..].copy_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(&b);
}

/// Writes a 4-byte field (`u32`, `i32`, `f32` bits, enums) with a single copy of 6 bytes.
#[inline(always)]
pub fn field_u32_bits(out: &mut Vec<u8>, tag: u16, bits: u32) {
    let mut b = [0u8; 6];
    b[..2].copy_from_slice(&WireType::I32.key(tag).to_le_bytes());
    b[2..].copy_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(&b);
}

/// Writes a `u32` length.
#[inline(always)]
pub fn len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&len_u32(n).to_le_bytes());
}

/// Writes a `string` value: length then UTF-8 bytes.
#[inline(always)]
pub fn str(out: &mut Vec<u8>, s: &str) {
    bytes(out, s.as_bytes());
}

/// Writes a `bytes` value: length then the bytes.
#[inline(always)]
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    len(out, b.len());
    out.extend_from_slice(b);
}

/// Starts a length-delimited value whose length is not known yet; pass the result to
/// [`end`].
#[inline(always)]
pub fn begin(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0u8; 4]);
    out.len()
}

/// Back-fills the length of a value started with [`begin`].
#[inline(always)]
pub fn end(out: &mut [u8], start: usize) {
    let n = len_u32(out.len() - start);
    out[start - 4..start].copy_from_slice(&n.to_le_bytes());
}

/// Writes a struct value: length then its field sequence.
#[inline]
pub fn nested<S: WireStruct>(out: &mut Vec<u8>, s: &S) {
    let start = begin(out);
    s.encode_fields(out);
    end(out, start);
}

/// Writes a list or array of fixed-width elements: length, count, packed elements.
#[inline]
pub fn packed<T: Fixed>(out: &mut Vec<u8>, items: &[T]) {
    len(out, 4 + items.len() * T::WIDTH);
    len(out, items.len());
    for &v in items {
        v.put(out);
    }
}

/// Writes a list or array of `u8`: length, count, then the bytes in one copy.
#[inline]
pub fn packed_u8(out: &mut Vec<u8>, items: &[u8]) {
    len(out, 4 + items.len());
    len(out, items.len());
    out.extend_from_slice(items);
}

/// Writes a list or array of length-delimited elements, each written by `each`.
#[inline]
pub fn list<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    let start = begin(out);
    len(out, items.len());
    for v in items {
        each(out, v);
    }
    end(out, start);
}

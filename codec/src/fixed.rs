//! Fixed-width values: written as their little-endian bytes, packed in lists and arrays.

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::wire_type::WireType;

/// A value with a fixed width on the wire: integers, floats, `bool` and generated enums.
///
/// Generated enums implement it too (4 bytes, checked against the declared variants).
pub trait Fixed: Copy {
    /// Bytes on the wire.
    const WIDTH: usize;
    /// The wire type of a field of this type.
    const WIRE: WireType;
    /// Any valid value, used to initialise arrays before they are filled.
    const PLACEHOLDER: Self;
    /// Appends the value's bytes.
    fn put(self, out: &mut Vec<u8>);
    /// Reads one value.
    fn take(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

macro_rules! fixed_num {
    ($($t:ty => $wire:ident, $n:literal);* $(;)?) => {$(
        impl Fixed for $t {
            const WIDTH: usize = $n;
            const WIRE: WireType = WireType::$wire;
            const PLACEHOLDER: Self = 0 as $t;
            #[inline(always)]
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline(always)]
            fn take(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(r.take_array::<$n>()?))
            }
        }
    )*};
}

fixed_num! {
    u8 => I8, 1; i8 => I8, 1;
    u16 => I16, 2; i16 => I16, 2;
    u32 => I32, 4; i32 => I32, 4; f32 => I32, 4;
    u64 => I64, 8; i64 => I64, 8; f64 => I64, 8;
}

impl Fixed for bool {
    const WIDTH: usize = 1;
    const WIRE: WireType = WireType::I8;
    const PLACEHOLDER: Self = false;
    #[inline(always)]
    fn put(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    #[inline(always)]
    fn take(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.take_array::<1>()?[0] {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::InvalidValue {
                what: "bool",
                value: u64::from(v),
            }),
        }
    }
}

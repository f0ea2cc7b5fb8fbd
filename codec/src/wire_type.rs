//! The 3-bit wire type in each field key, saying how long the value is.

/// How a value is framed (`docs/wire.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WireType {
    /// 1 byte: `bool`, `u8`, `i8`.
    I8 = 0,
    /// 2 bytes: `u16`, `i16`.
    I16 = 1,
    /// 4 bytes: `u32`, `i32`, `f32`, enums.
    I32 = 2,
    /// 8 bytes: `u64`, `i64`, `f64`.
    I64 = 3,
    /// `u32` length then that many bytes: strings, bytes, lists, arrays, structs.
    Len = 4,
}

impl WireType {
    /// The wire type for the low 3 bits of a key; `None` for the reserved 5-7.
    #[inline]
    pub fn from_bits(bits: u8) -> Option<WireType> {
        match bits {
            0 => Some(WireType::I8),
            1 => Some(WireType::I16),
            2 => Some(WireType::I32),
            3 => Some(WireType::I64),
            4 => Some(WireType::Len),
            _ => None,
        }
    }

    /// The key for `tag` with this wire type: `(tag << 3) | wire_type`.
    #[inline]
    pub const fn key(self, tag: u16) -> u16 {
        (tag << 3) | self as u16
    }
}
